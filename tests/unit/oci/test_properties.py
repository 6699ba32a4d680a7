"""Properties of the protocol's parsers over generated input: nothing a client can send makes
them raise anything but their documented error, and valid input reads back as written.

Each property runs a modest number of examples (the suite's time budget is tight); failures
hypothesis finds are kept in its database and replayed first on the next run.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moorage.oci import mediatypes as mt
from moorage.oci import names
from moorage.oci.digest import Digest, DigestError
from moorage.oci.limits import MAX_DIGITS, JsonError, NumberError, load_json, parse_count
from moorage.oci.manifests import ManifestError, parse, platform_of_config
from moorage.oci.ranges import RangeError, parse_content_range, parse_range

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _json(bound: int) -> st.SearchStrategy[Any]:
    """JSON values as a client could write them, integers up to `bound` in magnitude."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-bound, max_value=bound)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )


json_values = _json(2**70)  # beyond the 64-bit bound too
bounded_json_values = _json(2**63 - 1)
content_types = st.sampled_from([*sorted(mt.MANIFESTS | mt.SCHEMA1), "", "text/plain"])
hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
sizes = st.integers(min_value=0, max_value=2**63 - 1)


def _descriptor(media_type: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda h, size: {"mediaType": media_type, "digest": f"sha256:{h}", "size": size},
        hex64,
        sizes,
    )


manifest_docs = st.builds(
    lambda config, layers, annotations: {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config,
        "layers": layers,
        "annotations": annotations,
    },
    _descriptor("application/vnd.oci.image.config.v1+json"),
    st.lists(_descriptor("application/vnd.oci.image.layer.v1.tar+gzip"), max_size=5),
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
)


@FAST
@given(st.binary(max_size=300), content_types)
def test_manifest_bytes_raise_only_manifest_errors(body: bytes, content_type: str) -> None:
    with contextlib.suppress(ManifestError):
        parse(body, content_type)


@FAST
@given(json_values, content_types)
def test_manifest_json_raises_only_manifest_errors(doc: Any, content_type: str) -> None:
    with contextlib.suppress(ManifestError):
        parse(json.dumps(doc).encode(), content_type)


@FAST
@given(manifest_docs)
def test_valid_manifests_read_back(doc: dict[str, Any]) -> None:
    parsed = parse(json.dumps(doc).encode(), mt.OCI_MANIFEST)
    assert parsed.media_type == mt.OCI_MANIFEST
    assert parsed.config is not None
    assert str(parsed.config.digest) == doc["config"]["digest"]
    assert parsed.config.size == doc["config"]["size"]
    assert [(str(d.digest), d.size) for d in parsed.layers] == [
        (layer["digest"], layer["size"]) for layer in doc["layers"]
    ]
    assert [d.where for d in parsed.layers] == [f"layers[{i}]" for i in range(len(doc["layers"]))]
    assert parsed.annotations == doc["annotations"]


index_docs = st.builds(
    lambda children, platforms: {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [c | {"platform": p} for c, p in zip(children, platforms, strict=False)],
    },
    st.lists(_descriptor(mt.OCI_MANIFEST), max_size=5),
    st.lists(
        st.fixed_dictionaries({"os": st.text(max_size=8), "architecture": st.text(max_size=8)}),
        min_size=5,
        max_size=5,
    ),
)


@FAST
@given(index_docs)
def test_valid_indexes_read_back(doc: dict[str, Any]) -> None:
    parsed = parse(json.dumps(doc).encode(), "")
    assert parsed.is_index
    assert parsed.config is None
    assert [(str(d.digest), d.size, d.platform) for d in parsed.children] == [
        (c["digest"], c["size"], c["platform"]) for c in doc["manifests"]
    ]
    assert [d.where for d in parsed.children] == [
        f"manifests[{i}]" for i in range(len(doc["manifests"]))
    ]


@FAST
@given(st.binary(max_size=200))
def test_configs_never_raise(data: bytes) -> None:
    platform_of_config(data)


@FAST
@given(st.text(max_size=300))
def test_json_raises_only_json_errors(text: str) -> None:
    with contextlib.suppress(JsonError):
        load_json(text)


@FAST
@given(bounded_json_values)
def test_json_within_the_bounds_reads_back(value: Any) -> None:
    assert load_json(json.dumps(value)) == value


@FAST
@given(st.text(max_size=30))
def test_counts_raise_only_number_errors(text: str) -> None:
    with contextlib.suppress(NumberError):
        assert 0 <= parse_count(text) < 10**MAX_DIGITS


@FAST
@given(st.integers(min_value=0, max_value=10**MAX_DIGITS - 1))
def test_counts_read_back(value: int) -> None:
    assert parse_count(str(value)) == value


@FAST
@given(st.text(max_size=100))
def test_names_raise_only_name_errors(text: str) -> None:
    for check in (names.check_repository_name, names.check_registry_name):
        with contextlib.suppress(names.InvalidNameError):
            assert check(text) == text
    with contextlib.suppress(names.InvalidTagError):
        assert names.check_tag(text) == text


@FAST
@given(st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z"))
def test_grammatical_tags_accepted(tag: str) -> None:
    assert names.check_tag(tag) == tag


@FAST
@given(st.from_regex(r"\A[a-z0-9]+(?:[._-][a-z0-9]+){0,3}(?:/[a-z0-9]+(?:__[a-z0-9]+)?){1,3}\Z"))
def test_grammatical_repositories_accepted(name: str) -> None:
    if len(name) <= names.MAX_REFERENCE_LENGTH:
        assert names.check_repository_name(name) == name
        registry, image = names.split_repository(name)
        assert f"{registry}/{image}" == name


@FAST
@given(st.text(max_size=200))
def test_digests_raise_only_digest_errors(text: str) -> None:
    with contextlib.suppress(DigestError):
        assert str(Digest.parse(text)) == text


@FAST
@given(st.sampled_from(["sha256", "sha512"]), st.binary(max_size=64))
def test_digests_read_back(algorithm: str, data: bytes) -> None:
    digest = Digest.of(data, algorithm)
    assert Digest.parse(str(digest)) == digest


@FAST
@given(st.text(max_size=60))
def test_content_ranges_raise_only_range_errors(header: str) -> None:
    with contextlib.suppress(RangeError):
        first, last = parse_content_range(header)
        assert 0 <= first <= last


@FAST
@given(st.integers(min_value=0, max_value=2**58), st.integers(min_value=0, max_value=2**58))
def test_content_ranges_read_back(first: int, length: int) -> None:
    last = first + length
    assert parse_content_range(f"{first}-{last}") == (first, last)
    assert parse_content_range(f"bytes {first}-{last}/{last + 1}") == (first, last)


@FAST
@given(st.text(max_size=60), st.integers(min_value=1, max_value=2**62))
def test_ranges_raise_only_range_errors(header: str, size: int) -> None:
    try:
        found = parse_range(header, size)
    except RangeError:
        return
    if found is not None:
        start, end = found
        assert 0 <= start <= end < size


@FAST
# Sizes moorage can hold: every byte count it takes has at most MAX_DIGITS digits.
@given(st.integers(min_value=1, max_value=10**MAX_DIGITS - 1), st.data())
def test_ranges_read_back(size: int, data: st.DataObject) -> None:
    start = data.draw(st.integers(min_value=0, max_value=size - 1))
    end = data.draw(st.integers(min_value=start, max_value=size - 1))
    assert parse_range(f"bytes={start}-{end}", size) == (start, end)
    assert parse_range(f"bytes={start}-", size) == (start, size - 1)
