"""Helpers for the protocol suite: a small OCI client on httpx, blob and manifest builders, the
conformance suite's test content, and assertions on the protocol's error bodies.

By default everything runs against the session's live moorage server, in one registry created
for the suite. Set `MOORAGE_PROTOCOL_REFERENCE_URL` (e.g. `http://127.0.0.1:5000`) to run the
same checks against a reference registry instead: cases that test moorage's own rules
(registries must exist, the 255-character limit counts the address) are then skipped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.oci_auth import DockerTokenAuth
from tests.support.server import ServerProcess

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCTET_STREAM = "application/octet-stream"
ACCEPT_ALL_MANIFESTS = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))

REFERENCE_URL_ENV = "MOORAGE_PROTOCOL_REFERENCE_URL"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024

T = TypeVar("T")


# --- content -------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def go_json(doc: object) -> bytes:
    """JSON laid out as the conformance suite's `json.MarshalIndent(v, "", "\\t")`."""
    return json.dumps(doc, indent="\t").encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True, slots=True)
class Blob:
    """Bytes addressed by their digest: a blob, or a manifest body."""

    content: bytes

    @property
    def digest(self) -> str:
        return sha256(self.content)

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def length(self) -> str:
        """The size as a Content-Length header value."""
        return str(len(self.content))


def random_blob(size: int, rng: random.Random | None = None) -> Blob:
    return Blob((rng or random.Random()).randbytes(size))


def descriptor(media_type: str, content: Blob, **fields: object) -> dict[str, object]:
    """A descriptor of `content`; extra fields (annotations, artifactType, ...) follow in order."""
    return {"mediaType": media_type, "digest": content.digest, "size": content.size, **fields}


def image_config(author: str | None = None, architecture: str = "amd64") -> Blob:
    """An image config in the shape of the suite's `image` struct."""
    doc: dict[str, object] = {"author": author} if author else {}
    doc.update(architecture=architecture, os="linux", rootfs={"type": "layers", "diff_ids": []})
    return Blob(go_json(doc))


def image_manifest(
    config: Mapping[str, object],
    layers: list[dict[str, object]],
    *,
    media_type: str | None = OCI_MANIFEST,
    artifact_type: str | None = None,
    subject: Mapping[str, object] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Blob:
    """An image manifest with the suite's field order; `media_type=None` leaves it out."""
    doc: dict[str, object] = {"schemaVersion": 2}
    if media_type:
        doc["mediaType"] = media_type
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["config"] = dict(config)
    doc["layers"] = layers
    if subject:
        doc["subject"] = dict(subject)
    if annotations:
        doc["annotations"] = dict(annotations)
    return Blob(go_json(doc))


def image_index(
    manifests: list[dict[str, object]],
    *,
    media_type: str | None = OCI_INDEX,
    artifact_type: str | None = None,
    subject: Mapping[str, object] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Blob:
    doc: dict[str, object] = {"schemaVersion": 2}
    if media_type:
        doc["mediaType"] = media_type
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["manifests"] = manifests
    if subject:
        doc["subject"] = dict(subject)
    if annotations:
        doc["annotations"] = dict(annotations)
    return Blob(go_json(doc))


# --- responses -----------------------------------------------------------------------------


def describe(resp: httpx.Response) -> str:
    """One request and its answer, for assertion messages."""
    req = resp.request
    body = resp.content[:600].decode(errors="replace") if req.method != "HEAD" else ""
    headers = {
        k: v
        for k, v in resp.headers.items()
        if k.lower().startswith(("location", "range", "docker-", "oci-", "content-", "link"))
    }
    return f"{req.method} {req.url} -> {resp.status_code} {headers} {body}".rstrip()


def expect_status(resp: httpx.Response, *allowed: int) -> httpx.Response:
    assert resp.status_code in allowed, f"expected {' or '.join(map(str, allowed))}: " + describe(
        resp
    )
    return resp


def expect_2xx(resp: httpx.Response) -> httpx.Response:
    assert 200 <= resp.status_code < 300, "expected 2xx: " + describe(resp)
    return resp


def location(resp: httpx.Response) -> str:
    """The Location header made relative (path and query), as the suite's client uses it.

    The spec lets a registry answer with an absolute or a relative location.
    """
    value: str = resp.headers.get("Location", "")
    assert value, "no Location header: " + describe(resp)
    parts = urlsplit(value)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    code: str
    message: str
    detail: Any


def errors(resp: httpx.Response) -> list[ErrorEntry]:
    """The `{"errors": [{"code", "message", "detail"}]}` body (spec: Error Codes), validated."""
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError("error body is not JSON: " + describe(resp)) from None
    entries = body.get("errors") if isinstance(body, dict) else None
    assert isinstance(entries, list), "no errors array: " + describe(resp)
    assert entries, "empty errors array: " + describe(resp)
    result = []
    for entry in entries:
        assert isinstance(entry, dict), "error entry is not an object: " + describe(resp)
        code, message = entry.get("code"), entry.get("message", "")
        assert isinstance(code, str), "error code is not a string: " + describe(resp)
        assert re.fullmatch(r"[A-Z_]+", code), f"malformed error code {code!r}: " + describe(resp)
        assert isinstance(message, str), "error message is not a string: " + describe(resp)
        result.append(ErrorEntry(code, message, entry.get("detail")))
    return result


def expect_error(resp: httpx.Response, status: int, code: str) -> ErrorEntry:
    """`status` with `code` among the body's errors; returns that error."""
    assert resp.status_code < 500, "server error: " + describe(resp)
    assert resp.status_code == status, f"expected {status} {code}: " + describe(resp)
    for entry in errors(resp):
        if entry.code == code:
            return entry
    raise AssertionError(f"expected error code {code}: " + describe(resp))


def tag_list(resp: httpx.Response) -> list[str]:
    """The `tags` of a tag list body (the suite's getTagList: empty when it doesn't parse)."""
    try:
        tags = resp.json().get("tags")
    except (ValueError, AttributeError):
        return []
    return list(tags) if isinstance(tags, list) else []


def expect_2xx_or(resp: httpx.Response, *codes: int) -> httpx.Response:
    """The suite's teardown expectation: any 2xx, or one of `codes`."""
    ok = 200 <= resp.status_code < 300 or resp.status_code in codes
    assert ok, f"expected 2xx or {codes}: " + describe(resp)
    return resp


def need(value: T | None, what: str) -> T:
    """A value an earlier step of an ordered workflow should have left."""
    if value is None:
        pytest.fail(f"{what} is missing: an earlier step of this workflow failed or did not run")
    return value


# --- the client ----------------------------------------------------------------------------


class OciClient:
    """The registry protocol's requests, against one repository `<registry>/<image>`."""

    def __init__(self, http: httpx.Client, name: str, *, follow_redirects: bool = True) -> None:
        self.http = http
        self.name = name
        self.follow_redirects = follow_redirects

    def for_repository(self, name: str) -> OciClient:
        return OciClient(self.http, name, follow_redirects=self.follow_redirects)

    def without_redirects(self) -> OciClient:
        """The same client, answering redirects as they come instead of following them."""
        return OciClient(self.http, self.name, follow_redirects=False)

    def path(self, tail: str) -> str:
        return f"/v2/{self.name}/{tail}"

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request; `params` are added to any query the URL (an upload location) holds."""
        target = httpx.URL(url)
        if params:
            target = target.copy_merge_params(dict(params))
        return self.http.request(
            method,
            target,
            headers=headers,
            content=content,
            follow_redirects=self.follow_redirects,
        )

    # blobs (end-2, end-10)
    def head_blob(self, digest: str) -> httpx.Response:
        return self.send("HEAD", self.path(f"blobs/{digest}"))

    def get_blob(self, digest: str, headers: Mapping[str, str] | None = None) -> httpx.Response:
        return self.send("GET", self.path(f"blobs/{digest}"), headers=headers)

    def delete_blob(self, digest: str) -> httpx.Response:
        return self.send("DELETE", self.path(f"blobs/{digest}"))

    # uploads (end-4a, end-4b, end-5, end-6, end-11, end-13)
    def start_upload(
        self,
        params: Mapping[str, str] | None = None,
        *,
        content: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return self.send(
            "POST", self.path("blobs/uploads/"), params=params, headers=headers, content=content
        )

    def patch_upload(
        self, url: str, chunk: bytes, *, content_range: str | None = None
    ) -> httpx.Response:
        headers = {"Content-Type": OCTET_STREAM}
        if content_range is not None:
            headers["Content-Range"] = content_range
        return self.send("PATCH", url, headers=headers, content=chunk)

    def put_upload(
        self,
        url: str,
        digest: str | None,
        chunk: bytes = b"",
        *,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Close an upload (with an optional last chunk); `digest=None` leaves the digest out."""
        params = {"digest": digest} if digest is not None else None
        all_headers = {"Content-Type": OCTET_STREAM, **(headers or {})}
        return self.send("PUT", url, params=params, headers=all_headers, content=chunk)

    def upload_status(self, url: str) -> httpx.Response:
        return self.send("GET", url)

    def mount(self, digest: str, source: str | None) -> httpx.Response:
        params = {"mount": digest}
        if source is not None:
            params["from"] = source
        return self.start_upload(params)

    # manifests (end-3, end-7, end-9)
    def head_manifest(self, reference: str, accept: str = OCI_MANIFEST) -> httpx.Response:
        return self.send("HEAD", self.path(f"manifests/{reference}"), headers={"Accept": accept})

    def get_manifest(self, reference: str, accept: str = OCI_MANIFEST) -> httpx.Response:
        return self.send("GET", self.path(f"manifests/{reference}"), headers={"Accept": accept})

    def put_manifest(
        self, reference: str, manifest: Blob | bytes, content_type: str | None = OCI_MANIFEST
    ) -> httpx.Response:
        body = manifest.content if isinstance(manifest, Blob) else manifest
        headers = {"Content-Type": content_type} if content_type else {}
        return self.send("PUT", self.path(f"manifests/{reference}"), headers=headers, content=body)

    def delete_manifest(self, reference: str) -> httpx.Response:
        return self.send("DELETE", self.path(f"manifests/{reference}"))

    # discovery (end-8a, end-8b, end-12a, end-12b)
    def list_tags(self, n: int | str | None = None, last: str | None = None) -> httpx.Response:
        params = {}
        if n is not None:
            params["n"] = str(n)
        if last is not None:
            params["last"] = last
        return self.send("GET", self.path("tags/list"), params=params)

    def referrers(self, digest: str, artifact_type: str | None = None) -> httpx.Response:
        params = {"artifactType": artifact_type} if artifact_type else None
        return self.send("GET", self.path(f"referrers/{digest}"), params=params)

    # compound steps
    def push_blob(self, content: Blob | bytes) -> Blob:
        """POST then PUT (spec: "POST then PUT"); the blob must be stored with a 201."""
        blob = content if isinstance(content, Blob) else Blob(content)
        started = expect_status(self.start_upload(), 202)
        done = self.put_upload(location(started), blob.digest, blob.content)
        expect_status(done, 201)
        return blob

    def push_manifest(
        self, reference: str, manifest: Blob, content_type: str | None = OCI_MANIFEST
    ) -> httpx.Response:
        return expect_status(self.put_manifest(reference, manifest, content_type), 201)

    def push_image(self, reference: str, *, layers: int = 1, author: str = "") -> Blob:
        """A config, `layers` random layers and their manifest, tagged (or pushed by digest)."""
        config = self.push_blob(image_config(author or uuid.uuid4().hex))
        blobs = [self.push_blob(random_blob(64)) for _ in range(layers)]
        manifest = image_manifest(
            descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER_GZIP, b) for b in blobs]
        )
        self.push_manifest(reference, manifest)
        return manifest


def populate_blob(client: OciClient, blob: Blob) -> None:
    """The suite's "Populate registry with test blob": POST, then PUT with the digest: 2xx."""
    started = client.start_upload()
    expect_2xx(client.put_upload(location(started), blob.digest, blob.content))


def populate_manifest(
    client: OciClient, reference: str, manifest: Blob, content_type: str = OCI_MANIFEST
) -> httpx.Response:
    """The suite's "Populate registry with test manifest": PUT: 2xx."""
    return expect_2xx(client.put_manifest(reference, manifest, content_type))


# --- the conformance suite's content (conformance/setup.go) ---------------------------------

# A gzipped tarball holding one text file, exactly as in setup.go's layerBase64String.
LAYER_BASE64 = (
    "H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0"
    "WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qD"
    "jMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA"
)
TEST_TAG = "tagtest0"
EMPTY_LAYER_TAG = "emptylayer"
NONEXISTENT_MANIFEST = ".INVALID_MANIFEST_NAME"
INVALID_MANIFEST = b"blablabla"
ANNOTATION_KEY = "org.opencontainers.conformance.test"
REF_TYPE_A = "application/vnd.nhl.peanut.butter.bagel"
REF_TYPE_B = "application/vnd.nba.strawberry.jam.croissant"
REF_TYPE_INDEX = "application/vnd.food.stand"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
# The suite's error code list (setup.go errorCodes).
SUITE_ERROR_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "MANIFEST_UNVERIFIED",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "TAG_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
    }
)


def _suite_descriptor(media_type: str, content: Blob, **fields: object) -> dict[str, object]:
    """The suite's descriptor: unknown field `newUnspecifiedField` always present (null)."""
    return descriptor(media_type, content, **fields) | {
        "newUnspecifiedField": fields.get("newUnspecifiedField")
    }


@dataclass(frozen=True)
class ConformanceData:
    """setup.go's fixtures: one config and manifest per workflow (indexes 0-4 are used)."""

    configs: tuple[Blob, ...]
    layer: Blob
    manifests: tuple[Blob, ...]
    empty_layer_manifest: Blob
    blob_a: Blob
    blob_b: Blob
    blob_b_chunk1: bytes
    blob_b_chunk2: bytes
    empty_json: Blob
    ref_blob_a: Blob
    ref_blob_b: Blob
    refs_a_config: Blob
    refs_b_config: Blob
    refs_a_layer: Blob
    refs_b_layer: Blob
    refs_c_layer: Blob
    refs_index: Blob
    annotations: dict[str, str] = field(default_factory=dict)
    dummy_digest: str = sha256(b"hello world")

    @property
    def blob_b_chunk1_range(self) -> str:
        return f"0-{len(self.blob_b_chunk1) - 1}"

    @property
    def blob_b_chunk2_range(self) -> str:
        return f"{len(self.blob_b_chunk1)}-{self.blob_b.size - 1}"

    @classmethod
    def build(cls, seed: int | None = None) -> ConformanceData:
        rng = random.Random(seed)
        configs = tuple(image_config(author=_random_author(rng)) for _ in range(5))
        layer = Blob(base64.b64decode(LAYER_BASE64))
        layers = [_suite_descriptor(OCI_LAYER_GZIP, layer)]

        def config_descriptor(config: Blob) -> dict[str, object]:
            return _suite_descriptor(
                OCI_CONFIG,
                config,
                data=b64(config.content),
                newUnspecifiedField=b64(b"hello world"),
            )

        manifests = tuple(image_manifest(config_descriptor(c), layers) for c in configs)
        empty_layer = image_manifest(config_descriptor(configs[1]), [], media_type=None)

        blob_b = random_blob(42, rng)
        empty_json = Blob(b"{}")
        empty_desc = _suite_descriptor(OCI_EMPTY, empty_json)
        ref_a = Blob(b"NHL Peanut Butter on my NHL bagel")
        ref_b = Blob(b"NBA Strawberry Jam on my NBA croissant")
        subject = _suite_descriptor(OCI_MANIFEST, manifests[4])
        annotations: dict[str, str] = {}

        def referrer(note: str | None, **kwargs: Any) -> Blob:
            manifest = image_manifest(
                annotations={ANNOTATION_KEY: note} if note else None, **kwargs
            )
            if note:
                annotations[manifest.digest] = note
            return manifest

        refs_a_config = referrer(
            "test config a",
            config=_suite_descriptor(REF_TYPE_A, ref_a),
            layers=[empty_desc],
            subject=subject,
        )
        refs_b_config = referrer(
            "test config b",
            config=_suite_descriptor(REF_TYPE_B, ref_b),
            layers=[empty_desc],
            subject=subject,
        )
        refs_a_layer = referrer(
            "test layer a",
            artifact_type=REF_TYPE_A,
            config=empty_desc,
            layers=[_suite_descriptor(REF_TYPE_A, ref_a)],
            subject=subject,
        )
        refs_b_layer = referrer(
            "test layer b",
            artifact_type=REF_TYPE_B,
            config=empty_desc,
            layers=[_suite_descriptor(REF_TYPE_B, ref_b)],
            subject=subject,
        )
        # Like B, but its subject (manifests[3]) has not been pushed.
        refs_c_layer = referrer(
            None,
            artifact_type=REF_TYPE_B,
            config=empty_desc,
            layers=[_suite_descriptor(REF_TYPE_B, ref_b)],
            subject=_suite_descriptor(OCI_MANIFEST, manifests[3]),
        )
        refs_index = image_index(
            [
                _suite_descriptor(OCI_MANIFEST, refs_a_config),
                _suite_descriptor(OCI_MANIFEST, refs_a_layer),
            ],
            artifact_type=REF_TYPE_INDEX,
            subject=subject,
            annotations={ANNOTATION_KEY: "test index"},
        )
        annotations[refs_index.digest] = "test index"
        return cls(
            configs=configs,
            layer=layer,
            manifests=manifests,
            empty_layer_manifest=empty_layer,
            blob_a=random_blob(42, rng),
            blob_b=blob_b,
            blob_b_chunk1=blob_b.content[:22],
            blob_b_chunk2=blob_b.content[22:],
            empty_json=empty_json,
            ref_blob_a=ref_a,
            ref_blob_b=ref_b,
            refs_a_config=refs_a_config,
            refs_b_config=refs_b_config,
            refs_a_layer=refs_a_layer,
            refs_b_layer=refs_b_layer,
            refs_c_layer=refs_c_layer,
            refs_index=refs_index,
            annotations=annotations,
        )


def _random_author(rng: random.Random) -> str:
    letters = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-"
    return "".join(rng.choice(letters) for _ in range(16))


# --- fixtures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The server under test: moorage (registries created through its CLI) or a reference."""

    url: str
    create_registry: Callable[[str], None] | None
    credentials: tuple[str, str] | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def is_moorage(self) -> bool:
        return self.create_registry is not None

    def new_registry(self) -> str:
        name = f"p{uuid.uuid4().hex[:10]}"
        if self.create_registry is not None:
            self.create_registry(name)
        return name

    def require_moorage(self) -> None:
        if not self.is_moorage:
            pytest.skip("checks a rule of moorage's, not of the protocol")


@pytest.fixture(scope="session")
def protocol_target(live_server: ServerProcess) -> Target:
    reference = os.environ.get(REFERENCE_URL_ENV)
    if reference:
        return Target(reference.rstrip("/"), None)
    server = live_server
    credentials = (server.username, server.password) if server.auth else None
    return Target(server.url, server.create_registry_with_cli, credentials)


@pytest.fixture(scope="session")
def protocol_http(protocol_target: Target) -> Iterator[httpx.Client]:
    auth = DockerTokenAuth(*protocol_target.credentials) if protocol_target.credentials else None
    with httpx.Client(
        base_url=protocol_target.url,
        timeout=30,
        follow_redirects=True,
        headers={"User-Agent": "moorage-protocol-tests"},
        auth=auth,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def protocol_registry(protocol_target: Target) -> str:
    """The registry (namespace) the suite's repositories live in."""
    return protocol_target.new_registry()


@pytest.fixture(scope="session")
def new_repository(protocol_registry: str) -> Callable[[str], str]:
    """`label` → a fresh repository name `<registry>/<label>-<random>`."""

    def make(label: str) -> str:
        return f"{protocol_registry}/{label}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def oci(protocol_http: httpx.Client, new_repository: Callable[[str], str]) -> OciClient:
    """A client on a fresh repository of its own."""
    return OciClient(protocol_http, new_repository("image"))


@pytest.fixture(scope="module")
def workflow(
    request: pytest.FixtureRequest,
    protocol_http: httpx.Client,
    new_repository: Callable[[str], str],
) -> OciClient:
    """The repository one workflow module runs in (the suite's OCI_NAMESPACE)."""
    label = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    return OciClient(protocol_http, new_repository(label))


@pytest.fixture(scope="session")
def suite() -> ConformanceData:
    return ConformanceData.build()
