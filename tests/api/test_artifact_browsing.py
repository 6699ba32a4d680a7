"""Browsing big and nested artifacts over the REST API: a row carries its ten most recent
tags and counts the rest; an index with platform children and a signature counts as one
artifact in the image list and in the artifact list, its children under it and its
referrers in `…/referrers`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pytest

from tests.api.conftest import (
    expect,
    expect_json,
    expect_page,
    expect_problem,
    make_registry,
    push_image,
)
from tests.protocol.conftest import (
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    OciClient,
    descriptor,
    image_config,
    image_index,
    image_manifest,
    random_blob,
)

SIGNATURE_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
PLATFORMS = ("amd64", "arm64", "s390x")


@dataclass(frozen=True)
class PushedIndex:
    """`repository:multi`, an index of one image per platform, signed by one referrer."""

    repository: str
    index: str
    children: tuple[str, ...]
    signature: str
    signature_size: int

    @property
    def image_path(self) -> str:
        registry, image = self.repository.split("/", 1)
        return f"/registries/{registry}/images/{image.replace('/', '%2F')}"


def push_signed_index(http: httpx.Client, repository: str, tag: str = "multi") -> PushedIndex:
    """Three platform images by digest, their index as `tag`, then a signature of it."""
    oci = OciClient(http, repository)
    children = []
    for architecture in PLATFORMS:
        config = oci.push_blob(image_config(architecture=architecture))
        layer = oci.push_blob(random_blob(64))
        manifest = image_manifest(
            descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER_GZIP, layer)]
        )
        oci.push_manifest(manifest.digest, manifest)
        platform = {"os": "linux", "architecture": architecture}
        children.append((manifest, platform))
    index = image_index([descriptor(OCI_MANIFEST, m, platform=p) for m, p in children])
    oci.push_manifest(tag, index, OCI_INDEX)
    empty = oci.push_blob(b"{}")
    payload = oci.push_blob(random_blob(32))
    signature = image_manifest(
        descriptor(OCI_EMPTY, empty),
        [descriptor("application/vnd.dev.cosign.simplesigning.v1+json", payload)],
        artifact_type=SIGNATURE_TYPE,
        subject=descriptor(OCI_INDEX, index),
    )
    oci.push_manifest(signature.digest, signature)
    return PushedIndex(
        repository,
        index.digest,
        tuple(m.digest for m, _ in children),
        signature.digest,
        signature.size,
    )


@pytest.fixture
def signed_index(admin_api: httpx.Client, admin_v2: httpx.Client) -> PushedIndex:
    return push_signed_index(admin_v2, f"{make_registry(admin_api)}/multi")


def test_an_index_is_one_artifact_in_both_lists(
    admin_api: httpx.Client, signed_index: PushedIndex
) -> None:
    registry = signed_index.repository.split("/")[0]
    (image,) = expect_page(expect_json(admin_api.get(f"/registries/{registry}/images")), 1)
    assert image["artifact_count"] == 1
    artifacts = expect_json(admin_api.get(f"{signed_index.image_path}/artifacts"))
    (row,) = expect_page(artifacts, 1)
    assert row["digest"] == signed_index.index
    assert (row["tags"], row["tag_count"], row["referrer_count"]) == (["multi"], 1, 1)
    assert sorted(row["platforms"]) == sorted(f"linux/{p}" for p in PLATFORMS)
    detail = expect_json(admin_api.get(f"{signed_index.image_path}/artifacts/multi"))
    assert [c["digest"] for c in detail["children"]] == list(signed_index.children)
    assert detail["referrer_count"] == 1


def test_referrers_are_listed_under_their_subject(
    admin_api: httpx.Client, signed_index: PushedIndex
) -> None:
    base = f"{signed_index.image_path}/artifacts"
    for reference in (signed_index.index, "multi"):
        (referrer,) = expect_page(expect_json(admin_api.get(f"{base}/{reference}/referrers")), 1)
        assert referrer["digest"] == signed_index.signature
        assert referrer["artifact_type"] == SIGNATURE_TYPE
        assert referrer["size"] >= signed_index.signature_size
        assert (referrer["tags"], referrer["referrer_count"]) == ([], 0)
    child = signed_index.children[0]
    expect_page(expect_json(admin_api.get(f"{base}/{child}/referrers")), 0)
    signature = expect_json(admin_api.get(f"{base}/{signed_index.signature}"))
    assert signature["subject_digest"] == signed_index.index
    expect_problem(admin_api.get(f"{base}/nothing/referrers"), 404)
    expect_problem(admin_api.get(f"{base}/multi/referrers", params={"sort": "size"}), 400)
    expect_problem(admin_api.get(f"{base}/multi/referrers", params={"q": "x"}), 400)


def test_a_row_carries_the_ten_newest_tags_and_counts_them_all(
    admin_api: httpx.Client, admin_v2: httpx.Client
) -> None:
    registry = make_registry(admin_api)
    pushed = push_image(admin_v2, f"{registry}/app", "v1.0")
    tags_path = f"{pushed.image_path}/artifacts/{pushed.digest}/tags"
    added = [f"build-{n:02d}" for n in range(14)]
    for name in added:
        time.sleep(0.002)  # distinct push times
        expect(admin_api.post(tags_path, json={"name": name}), 201)
    newest = list(reversed(added))[:10]
    (row,) = expect_page(expect_json(admin_api.get(f"{pushed.image_path}/artifacts")), 1)
    assert (row["tags"], row["tag_count"], row["protected"]) == (newest, 15, False)
    detail = expect_json(admin_api.get(f"{pushed.image_path}/artifacts/{pushed.digest}"))
    assert (detail["tags"], detail["tag_count"]) == (newest, 15)
    assert expect_json(admin_api.get(tags_path, params={"page_size": 100}))["total"] == 15
    # the oldest tag, not among those carried, still protects the artifact
    policy = {"image": {"pattern": "**"}, "tag": {"pattern": "v1.*"}}
    expect(admin_api.post(f"/registries/{registry}/protection-policies", json=policy), 201)
    (row,) = expect_page(expect_json(admin_api.get(f"{pushed.image_path}/artifacts")), 1)
    assert row["protected"] is True
    assert row["tags"] == newest


@pytest.mark.parametrize(
    ("pattern", "include", "protected"),
    [
        ("v[0-9].0", True, True),  # a class: the store is asked for the digits it lists
        ("v[a-z].0", True, False),
        ("**/v1.0", True, True),  # zero components: v1.0
        ("{a,b}{c,d}{e,f}{g,h}{v,w}1.0", True, False),  # 32 globs: matched in Python instead
        ("{a,b}{c,d}{e,f}{g,h}{v,w}1.0,v1.0", True, True),
        ("{build,x}-*", False, True),  # excluding: v1.0 is not a build
        ("*", False, False),
        ("{v1.0,build-0[0-9]}", True, True),
    ],
)
def test_protection_is_found_among_tags_not_carried(
    admin_api: httpx.Client, admin_v2: httpx.Client, pattern: str, include: bool, protected: bool
) -> None:
    registry = make_registry(admin_api)
    pushed = push_image(admin_v2, f"{registry}/app", "v1.0")
    tags_path = f"{pushed.image_path}/artifacts/{pushed.digest}/tags"
    for n in range(11):
        time.sleep(0.002)
        expect(admin_api.post(tags_path, json={"name": f"build-{n:02d}"}), 201)
    policy = {"image": {"pattern": "**"}, "tag": {"pattern": pattern, "include": include}}
    expect(admin_api.post(f"/registries/{registry}/protection-policies", json=policy), 201)
    (row,) = expect_page(expect_json(admin_api.get(f"{pushed.image_path}/artifacts")), 1)
    assert "v1.0" not in row["tags"]
    assert row["protected"] is protected


def test_the_lowest_policy_names_the_protection_even_on_a_tag_not_carried(
    admin_api: httpx.Client, admin_v2: httpx.Client
) -> None:
    registry = make_registry(admin_api)
    pushed = push_image(admin_v2, f"{registry}/app", "v1.0")
    tags_path = f"{pushed.image_path}/artifacts/{pushed.digest}/tags"
    for n in range(11):
        time.sleep(0.002)
        expect(admin_api.post(tags_path, json={"name": f"build-{n:02d}"}), 201)
    policies = f"/registries/{registry}/protection-policies"
    for tag in ("v1.0", "build-*"):  # the first, lower id, protects the tag not carried
        policy = {"image": {"pattern": "**"}, "tag": {"pattern": tag}}
        expect(admin_api.post(policies, json=policy), 201)
    (row,) = expect_page(expect_json(admin_api.get(f"{pushed.image_path}/artifacts")), 1)
    assert row["protected"] is True
    assert "v1.0" in row["protected_by"]


def test_referrers_are_paged_in_push_order(
    admin_api: httpx.Client, admin_v2: httpx.Client, signed_index: PushedIndex
) -> None:
    oci = OciClient(admin_v2, signed_index.repository)
    empty = oci.push_blob(b"{}")
    subject = {"mediaType": OCI_INDEX, "digest": signed_index.index, "size": 1}
    more = []
    for note in ("sbom", "attestation"):
        doc = image_manifest(
            descriptor(OCI_EMPTY, empty),
            [descriptor(OCI_EMPTY, empty)],
            artifact_type=f"application/vnd.example.{note}",
            subject=subject,
        )
        oci.push_manifest(doc.digest, doc)
        more.append(doc.digest)
    path = f"{signed_index.image_path}/artifacts/multi/referrers"
    first = expect_json(admin_api.get(path, params={"page_size": 2}))
    second = expect_json(admin_api.get(path, params={"page_size": 2, "page": 2}))
    digests = [r["digest"] for r in expect_page(first, 3, 1, 2) + expect_page(second, 3, 2, 2)]
    assert digests == [signed_index.signature, *more]
    (row,) = expect_page(expect_json(admin_api.get(f"{signed_index.image_path}/artifacts")), 1)
    assert row["referrer_count"] == 3
