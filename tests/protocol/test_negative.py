"""The protocol's failure paths, as one table (Quay's `Failures` style).

Each case makes one bad request and names the status and the error code the
`{"errors": [{"code", "message", "detail"}]}` body must carry (spec: "Error Codes"); none may
get a 5xx. Where it means something, the case then checks that nothing changed: no blob or
manifest appeared, and an upload hit by a bad chunk still resumes where it stood.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.protocol.conftest import (
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    MAX_MANIFEST_BYTES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    OCTET_STREAM,
    Blob,
    OciClient,
    Target,
    describe,
    descriptor,
    errors,
    expect_error,
    expect_status,
    go_json,
    image_config,
    image_index,
    image_manifest,
    location,
    random_blob,
    sha256,
    tag_list,
)

TAG_GRAMMAR = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


@dataclass
class Ctx:
    """What a case works with: a fresh repository in the suite's registry, and a fresh blob."""

    oci: OciClient
    target: Target
    registry: str
    new_repository: Callable[[str], str]
    payload: Blob = field(default_factory=lambda: random_blob(64))
    stash: dict[str, Any] = field(default_factory=dict)

    def repo(self, name: str) -> OciClient:
        return self.oci.for_repository(name)

    def existing(self) -> OciClient:
        """The case's repository, made to exist: it holds an image tagged `present`."""
        if "existing" not in self.stash:
            self.stash["existing"] = self.oci.push_image("present")
        return self.oci

    def missing_registry(self) -> str:
        return f"absent{uuid.uuid4().hex[:10]}"


Request = Callable[[Ctx], httpx.Response]
Check = Callable[[Ctx], None]


@dataclass(frozen=True)
class Failure:
    name: str
    request: Request
    status: int
    code: str
    unchanged: Check | None = None
    message: str = ""  # a word the error's message or detail must contain
    moorage_rule: bool = False  # a rule of moorage's own: skipped against a reference registry
    # Another (status, code) the spec leaves as good a choice, where there is one.
    alternative: tuple[int, str] | None = None


# --- requests ------------------------------------------------------------------------------


def put_upload(digest_of: Callable[[Blob], str | None]) -> Request:
    """POST, then PUT the payload with the digest `digest_of(payload)` (None: no digest)."""

    def run(ctx: Ctx) -> httpx.Response:
        started = expect_status(ctx.oci.start_upload(), 202)
        return ctx.oci.put_upload(location(started), digest_of(ctx.payload), ctx.payload.content)

    return run


def single_post_wrong_digest(ctx: Ctx) -> httpx.Response:
    wrong = sha256(ctx.payload.content + b"!")
    return ctx.oci.start_upload(
        {"digest": wrong}, content=ctx.payload.content, headers={"Content-Type": OCTET_STREAM}
    )


def chunked_then_wrong_digest(ctx: Ctx) -> httpx.Response:
    started = expect_status(ctx.oci.start_upload(), 202)
    end = ctx.payload.size - 1
    chunk = ctx.oci.patch_upload(location(started), ctx.payload.content, content_range=f"0-{end}")
    expect_status(chunk, 202)
    return ctx.oci.put_upload(location(chunk), sha256(b"something else"))


def get(path_of: Callable[[Ctx], str], method: str = "GET") -> Request:
    """`method` on `/v2/<path_of(ctx)>`, in a repository that exists."""

    def run(ctx: Ctx) -> httpx.Response:
        ctx.existing()
        return ctx.oci.send(method, f"/v2/{path_of(ctx)}")

    return run


def in_repo(tail: str, method: str = "GET") -> Request:
    return get(lambda ctx: f"{ctx.oci.name}/{tail}", method)


def after_first_chunk(content_range: str, size: int = 10) -> Request:
    """An upload holding bytes 0-9, then a PATCH of `size` bytes with `content_range`."""

    def run(ctx: Ctx) -> httpx.Response:
        started = expect_status(ctx.oci.start_upload(), 202)
        first = ctx.oci.patch_upload(
            location(started), ctx.payload.content[:10], content_range="0-9"
        )
        ctx.stash["upload"] = location(expect_status(first, 202))
        ctx.stash["offset"] = 10
        chunk = ctx.payload.content[10 : 10 + size]
        return ctx.oci.patch_upload(ctx.stash["upload"], chunk, content_range=content_range)

    return run


def first_chunk_not_at_zero(ctx: Ctx) -> httpx.Response:
    started = expect_status(ctx.oci.start_upload(), 202)
    ctx.stash["upload"], ctx.stash["offset"] = location(started), 0
    return ctx.oci.patch_upload(
        ctx.stash["upload"], ctx.payload.content[5:15], content_range="5-14"
    )


def unknown_upload(method: str, upload_id: str | None = None) -> Request:
    def run(ctx: Ctx) -> httpx.Response:
        ctx.existing()
        url = ctx.oci.path(f"blobs/uploads/{upload_id or uuid.uuid4()}")
        params = {"digest": ctx.payload.digest} if method == "PUT" else None
        content = ctx.payload.content if method in ("PATCH", "PUT") else None
        return ctx.oci.send(method, url, params=params, content=content)

    return run


def upload_of_another_repository(ctx: Ctx) -> httpx.Response:
    """An upload started in another repository, addressed through the case's repository."""
    ctx.existing()
    owner = ctx.repo(ctx.new_repository("owner"))
    ctx.stash["client"], ctx.stash["offset"] = owner, 0
    ctx.stash["upload"] = location(expect_status(owner.start_upload(), 202))
    upload_id = ctx.stash["upload"].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    return ctx.oci.patch_upload(ctx.oci.path(f"blobs/uploads/{upload_id}"), b"stolen")


def finished_upload_reused(ctx: Ctx) -> httpx.Response:
    started = expect_status(ctx.oci.start_upload(), 202)
    url = location(started)
    expect_status(ctx.oci.put_upload(url, ctx.payload.digest, ctx.payload.content), 201)
    return ctx.oci.put_upload(url, sha256(b"more"), b"more")


def cancelled_upload_reused(ctx: Ctx) -> httpx.Response:
    started = expect_status(ctx.oci.start_upload(), 202)
    url = location(started)
    expect_status(ctx.oci.send("DELETE", url), 204)
    return ctx.oci.patch_upload(url, ctx.payload.content)


def post_upload(name_of: Callable[[Ctx], str]) -> Request:
    return lambda ctx: ctx.oci.send("POST", f"/v2/{name_of(ctx)}/blobs/uploads/")


def long_name(ctx: Ctx, total: int) -> str:
    """`<registry>/aaa…` whose reference `<host>/<name>` is `total` characters long."""
    prefix = f"{ctx.registry}/"
    return prefix + "a" * (total - len(ctx.target.host) - 1 - len(prefix))


def image_parts(ctx: Ctx) -> tuple[dict[str, object], list[dict[str, object]]]:
    """A config and a layer pushed to the case's repository, as descriptors."""
    config = ctx.oci.push_blob(image_config(uuid.uuid4().hex))
    layer = ctx.oci.push_blob(random_blob(40))
    return descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER_GZIP, layer)]


def put_manifest(
    build: Callable[[Ctx], Blob | bytes],
    content_type: str | None = OCI_MANIFEST,
    tag: str = "bad",
) -> Request:
    """PUT `build(ctx)` as `tag`; the body's digest is kept for the after-check."""

    def run(ctx: Ctx) -> httpx.Response:
        body = build(ctx)
        raw = body.content if isinstance(body, Blob) else body
        ctx.stash["manifest"], ctx.stash["tag"] = sha256(raw), tag
        return ctx.oci.put_manifest(tag, raw, content_type)

    return run


def manifest_doc(ctx: Ctx, **changes: object) -> bytes:
    """A valid image manifest over pushed blobs, with top-level fields changed or removed (None)."""
    config, layers = image_parts(ctx)
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": layers,
    }
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return go_json(doc)


def with_layer(ctx: Ctx, **layer: object) -> bytes:
    config, layers = image_parts(ctx)
    return manifest_doc(ctx, config=config, layers=[layers[0] | layer])


def oversized(ctx: Ctx) -> bytes:
    config, layers = image_parts(ctx)
    base = len(image_manifest(config, layers, annotations={"pad": ""}).content)
    padding = "x" * (MAX_MANIFEST_BYTES + 1 - base)
    body = image_manifest(config, layers, annotations={"pad": padding}).content
    assert len(body) == MAX_MANIFEST_BYTES + 1
    return body


def missing_layer(ctx: Ctx) -> Blob:
    config, _ = image_parts(ctx)
    return image_manifest(config, [descriptor(OCI_LAYER_GZIP, random_blob(30))])


def missing_config(ctx: Ctx) -> Blob:
    _, layers = image_parts(ctx)
    return image_manifest(descriptor(OCI_CONFIG, image_config("never pushed")), layers)


def blob_of_another_repository(ctx: Ctx) -> Blob:
    config, _ = image_parts(ctx)
    elsewhere = ctx.repo(ctx.new_repository("elsewhere")).push_blob(random_blob(30))
    return image_manifest(config, [descriptor(OCI_LAYER_GZIP, elsewhere)])


def index_missing_child(ctx: Ctx) -> Blob:
    config, layers = image_parts(ctx)
    present = image_manifest(config, layers)
    ctx.oci.push_manifest(present.digest, present)
    absent = image_manifest(config, [])
    return image_index([descriptor(OCI_MANIFEST, present), descriptor(OCI_MANIFEST, absent)])


def schema1(ctx: Ctx) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 1,
            "name": ctx.oci.name,
            "tag": "bad",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": ctx.payload.digest}],
            "history": [{"v1Compatibility": "{}"}],
            "signatures": [],
        }
    ).encode()


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    """JSON nested `depth` levels deep: arrays by default, `{"a":` objects when asked."""
    inner = b"1" if opener != b"[" else b""
    return opener * depth + inner + closer * depth


def with_annotation_value(ctx: Ctx, value: bytes) -> bytes:
    """A valid manifest over pushed blobs whose annotation `x` holds the raw JSON `value`."""
    body = manifest_doc(ctx, annotations={"x": "VALUE"})
    return body.replace(b'"VALUE"', value)


def with_config_size(raw: bytes) -> Callable[[Ctx], bytes]:
    """A valid manifest whose config descriptor's size is the raw JSON number `raw`."""

    def build(ctx: Ctx) -> bytes:
        config, layers = image_parts(ctx)
        body = manifest_doc(ctx, config=config | {"size": -424242}, layers=layers)
        return body.replace(b"-424242", raw)

    return build


def with_descriptor_size(shift: int, *, which: str) -> Callable[[Ctx], Blob]:
    """A manifest whose config or layer descriptor says a size `shift` bytes off the blob's."""

    def build(ctx: Ctx) -> Blob:
        config, layers = image_parts(ctx)
        if which == "config":
            config = config | {"size": int(str(config["size"])) + shift}
        else:
            layers = [layers[0] | {"size": int(str(layers[0]["size"])) + shift}]
        return image_manifest(config, layers)

    return build


def index_child_size_off(ctx: Ctx) -> Blob:
    config, layers = image_parts(ctx)
    child = image_manifest(config, layers)
    ctx.oci.push_manifest(child.digest, child)
    return image_index([descriptor(OCI_MANIFEST, child) | {"size": child.size + 1}])


def patch_with_header(name: bytes, value: bytes) -> Request:
    """An upload holding bytes 0-9, then a PATCH of the next ten bytes with a raw header."""

    def run(ctx: Ctx) -> httpx.Response:
        started = expect_status(ctx.oci.start_upload(), 202)
        first = ctx.oci.patch_upload(
            location(started), ctx.payload.content[:10], content_range="0-9"
        )
        ctx.stash["upload"] = location(expect_status(first, 202))
        ctx.stash["offset"] = 10
        return ctx.oci.http.request(
            "PATCH",
            ctx.stash["upload"],
            headers={b"Content-Type": OCTET_STREAM.encode(), name: value},
            content=ctx.payload.content[10:20],
        )

    return run


# --- checks that nothing changed -----------------------------------------------------------


def put_by_wrong_digest(ctx: Ctx) -> httpx.Response:
    """A manifest PUT under a digest reference that is not its own."""
    body = manifest_doc(ctx)
    ctx.stash["manifest"], ctx.stash["tag"] = sha256(body), sha256(b"another")
    return ctx.oci.put_manifest(ctx.stash["tag"], body)


def mount_from_the_case_repository(ctx: Ctx, name: str) -> httpx.Response:
    blob = ctx.existing().push_blob(ctx.payload)
    return ctx.repo(name).mount(blob.digest, ctx.oci.name)


def blob_absent(ctx: Ctx) -> None:
    """The payload was stored neither under its digest nor under the wrong one a case claimed."""
    expect_status(ctx.oci.head_blob(ctx.payload.digest), 404)
    expect_status(ctx.oci.head_blob(sha256(ctx.payload.content + b"!")), 404)


def manifest_absent(ctx: Ctx) -> None:
    """The refused manifest is neither stored nor tagged (a tag outside the grammar can only
    be looked for in the tag list)."""
    expect_status(ctx.oci.get_manifest(ctx.stash["manifest"]), 404)
    if TAG_GRAMMAR.fullmatch(ctx.stash["tag"]) or ctx.stash["tag"].startswith("sha256:"):
        expect_status(ctx.oci.get_manifest(ctx.stash["tag"]), 404)
    resp = ctx.oci.list_tags()
    assert resp.status_code in (200, 404), describe(resp)
    assert ctx.stash["tag"] not in tag_list(resp), describe(resp)


def upload_resumes(ctx: Ctx) -> None:
    """The upload still stands where it stood, and finishes with the rest of the payload."""
    client: OciClient = ctx.stash.get("client", ctx.oci)
    url, offset = ctx.stash["upload"], ctx.stash["offset"]
    status = expect_status(client.upload_status(url), 204)
    if offset:
        assert status.headers.get("Range") == f"0-{offset - 1}", describe(status)
    rest = ctx.payload.content[offset:]
    chunk = client.patch_upload(
        location(status), rest, content_range=f"{offset}-{ctx.payload.size - 1}"
    )
    expect_status(chunk, 202)
    expect_status(client.put_upload(location(chunk), ctx.payload.digest), 201)
    pulled = expect_status(client.get_blob(ctx.payload.digest), 200)
    assert pulled.content == ctx.payload.content, describe(pulled)


def registry_still_missing(ctx: Ctx) -> None:
    resp = ctx.oci.send("GET", f"/v2/{ctx.stash['missing']}/img/tags/list")
    expect_error(resp, 404, NU)


def in_missing_registry(make: Callable[[Ctx, str], httpx.Response]) -> Request:
    def run(ctx: Ctx) -> httpx.Response:
        ctx.stash["missing"] = ctx.missing_registry()
        return make(ctx, f"{ctx.stash['missing']}/img")

    return run


def _md5(blob: Blob) -> str:
    return f"md5:{hashlib.md5(blob.content).hexdigest()}"


LONG_TAG = "t" * 129
D = "DIGEST_INVALID"
MI = "MANIFEST_INVALID"
MBU = "MANIFEST_BLOB_UNKNOWN"
NI = "NAME_INVALID"
NU = "NAME_UNKNOWN"
TI = "TAG_INVALID"
RI = "RANGE_INVALID"
BUU = "BLOB_UPLOAD_UNKNOWN"
BUI = "BLOB_UPLOAD_INVALID"
PN = "PAGINATION_NUMBER_INVALID"
# A malformed Content-Range may be refused as a bad request or as an unsatisfiable range. (The
# spec's form is `<start>-<end>`; RFC 9110's `bytes <start>-<end>/<size>` is not malformed.)
BAD_RANGE = (400, BUI)
BAD_ID = (400, BUI)


FAILURES = [
    # digests
    Failure("put-digest-malformed", put_upload(lambda b: "sha256:nothex"), 400, D, blob_absent),
    Failure("put-digest-unsupported-algorithm", put_upload(_md5), 400, D, blob_absent),
    Failure("put-digest-wrong-length", put_upload(lambda b: b.digest[:-1]), 400, D, blob_absent),
    Failure(
        "put-digest-uppercase-hex", put_upload(lambda b: b.digest.upper()), 400, D, blob_absent
    ),
    Failure("put-digest-missing", put_upload(lambda b: None), 400, D, blob_absent),
    Failure(
        "put-digest-mismatch",
        put_upload(lambda b: sha256(b.content + b"!")),
        400,
        D,
        blob_absent,
    ),
    Failure("single-post-digest-mismatch", single_post_wrong_digest, 400, D, blob_absent),
    Failure("chunked-put-digest-mismatch", chunked_then_wrong_digest, 400, D, blob_absent),
    Failure("blob-get-digest-malformed", in_repo("blobs/sha256:totallywrong"), 400, D),
    Failure("blob-get-digest-unknown-algorithm", in_repo(f"blobs/md5:{'0' * 32}"), 400, D),
    Failure("blob-delete-digest-malformed", in_repo("blobs/notadigest", "DELETE"), 400, D),
    Failure("manifest-get-digest-malformed", in_repo("manifests/sha256:totallywrong"), 400, D),
    Failure("referrers-digest-malformed", in_repo("referrers/sha256:abc"), 400, D),
    Failure("manifest-put-by-digest-mismatch", put_by_wrong_digest, 400, D, manifest_absent),
    # ranges
    Failure("patch-range-gap", after_first_chunk("20-29"), 416, RI, upload_resumes),
    Failure("patch-range-repeats-first-chunk", after_first_chunk("0-9"), 416, RI, upload_resumes),
    Failure("patch-range-overlaps", after_first_chunk("5-14"), 416, RI, upload_resumes),
    Failure("patch-first-chunk-not-at-zero", first_chunk_not_at_zero, 416, RI, upload_resumes),
    Failure(
        "patch-range-end-before-start",
        after_first_chunk("19-10"),
        416,
        RI,
        upload_resumes,
        alternative=BAD_RANGE,
    ),
    Failure(
        "patch-range-malformed-no-end",
        after_first_chunk("10-"),
        416,
        RI,
        upload_resumes,
        alternative=BAD_RANGE,
    ),
    Failure(
        "patch-range-malformed-words",
        after_first_chunk("ten-nineteen"),
        416,
        RI,
        upload_resumes,
        alternative=BAD_RANGE,
    ),
    # upload sessions
    Failure("upload-unknown-patch", unknown_upload("PATCH"), 404, BUU, blob_absent),
    Failure("upload-unknown-put", unknown_upload("PUT"), 404, BUU, blob_absent),
    Failure("upload-unknown-get", unknown_upload("GET"), 404, BUU),
    Failure("upload-unknown-delete", unknown_upload("DELETE"), 404, BUU),
    Failure(
        "upload-id-traversal-patch",
        unknown_upload("PATCH", "..%2F..%2F..%2Fetc%2Fpasswd"),
        404,
        BUU,
        blob_absent,
        alternative=BAD_ID,
    ),
    Failure(
        "upload-id-traversal-put",
        unknown_upload("PUT", "..%2F..%2Fblobs"),
        404,
        BUU,
        blob_absent,
        alternative=BAD_ID,
    ),
    Failure("upload-id-dotdot-get", unknown_upload("GET", "%2E%2E"), 404, BUU, alternative=BAD_ID),
    Failure(
        "upload-of-another-repository",
        upload_of_another_repository,
        404,
        BUU,
        upload_resumes,
    ),
    Failure("upload-reused-after-finish", finished_upload_reused, 404, BUU),
    Failure("upload-reused-after-cancel", cancelled_upload_reused, 404, BUU, blob_absent),
    # names
    Failure("name-uppercase", post_upload(lambda ctx: f"{ctx.registry}/Upper"), 400, NI),
    Failure("name-dotdot-component", post_upload(lambda c: f"{c.registry}/%2E%2E/img"), 400, NI),
    Failure("name-double-dot", post_upload(lambda ctx: f"{ctx.registry}/img..x"), 400, NI),
    Failure("name-trailing-separator", post_upload(lambda ctx: f"{ctx.registry}/img-"), 400, NI),
    Failure("name-leading-separator", post_upload(lambda ctx: f"{ctx.registry}/_img"), 400, NI),
    Failure("name-trailing-slash", post_upload(lambda ctx: f"{ctx.registry}/img/"), 400, NI),
    Failure("name-empty-component", post_upload(lambda ctx: f"{ctx.registry}//img"), 400, NI),
    Failure(
        "name-256-with-address",
        post_upload(lambda ctx: long_name(ctx, 256)),
        400,
        NI,
        message="255",
        moorage_rule=True,
    ),
    Failure(
        "name-uppercase-manifest-put",
        lambda ctx: ctx.oci.send(
            "PUT",
            f"/v2/{ctx.registry}/Upper/manifests/x",
            headers={"Content-Type": OCI_MANIFEST},
            content=manifest_doc(ctx),
        ),
        400,
        NI,
    ),
    Failure("name-uppercase-tags-list", get(lambda c: f"{c.registry}/Upper/tags/list"), 400, NI),
    Failure(
        "name-without-image-unknown-registry",
        get(lambda ctx: "onlyregistry/manifests/x"),
        400,
        NI,
        message="image",
        moorage_rule=True,
    ),
    Failure(
        "name-without-image-manifest-put",
        lambda ctx: ctx.oci.send(
            "PUT",
            f"/v2/{ctx.registry}/manifests/x",
            headers={"Content-Type": OCI_MANIFEST},
            content=manifest_doc(ctx),
        ),
        400,
        NI,
        message="image",
        moorage_rule=True,
    ),
    Failure(
        "name-without-image-upload",
        post_upload(lambda ctx: ctx.registry),
        400,
        NI,
        message="image",
        moorage_rule=True,
    ),
    Failure(
        "name-without-image-tags-list",
        get(lambda ctx: f"{ctx.registry}/tags/list"),
        400,
        NI,
        message="image",
        moorage_rule=True,
    ),
    # registries that do not exist, images that do not exist
    Failure(
        "registry-missing-upload",
        in_missing_registry(lambda ctx, name: ctx.oci.send("POST", f"/v2/{name}/blobs/uploads/")),
        404,
        NU,
        registry_still_missing,
        message="create",
        moorage_rule=True,
    ),
    Failure(
        "registry-missing-single-post",
        in_missing_registry(
            lambda ctx, name: ctx.oci.send(
                "POST",
                f"/v2/{name}/blobs/uploads/",
                params={"digest": ctx.payload.digest},
                headers={"Content-Type": OCTET_STREAM},
                content=ctx.payload.content,
            )
        ),
        404,
        NU,
        registry_still_missing,
        message="create",
        moorage_rule=True,
    ),
    Failure(
        "registry-missing-mount",
        in_missing_registry(mount_from_the_case_repository),
        404,
        NU,
        registry_still_missing,
        message="create",
        moorage_rule=True,
    ),
    Failure(
        "registry-missing-manifest-put",
        in_missing_registry(
            lambda ctx, name: ctx.repo(name).put_manifest("latest", manifest_doc(ctx))
        ),
        404,
        NU,
        registry_still_missing,
        message="create",
        moorage_rule=True,
    ),
    Failure(
        "registry-missing-tags-list",
        in_missing_registry(lambda ctx, name: ctx.repo(name).list_tags()),
        404,
        NU,
        moorage_rule=True,
    ),
    Failure(
        "image-missing-tags-list",
        lambda ctx: ctx.repo(ctx.new_repository("never-pushed")).list_tags(),
        404,
        NU,
    ),
    # tags
    Failure("tag-129-chars", put_manifest(manifest_doc, tag=LONG_TAG), 400, TI, manifest_absent),
    Failure("tag-leading-dot", put_manifest(manifest_doc, tag=".hidden"), 400, TI, manifest_absent),
    Failure("tag-leading-dash", put_manifest(manifest_doc, tag="-dash"), 400, TI, manifest_absent),
    Failure("tag-plus-sign", put_manifest(manifest_doc, tag="a+b"), 400, TI, manifest_absent),
    # manifests
    Failure("manifest-over-4mib", put_manifest(oversized), 413, "SIZE_INVALID", manifest_absent),
    Failure("manifest-layer-missing", put_manifest(missing_layer), 400, MBU, manifest_absent),
    Failure("manifest-config-missing", put_manifest(missing_config), 400, MBU, manifest_absent),
    Failure(
        "manifest-blob-only-in-another-repository",
        put_manifest(blob_of_another_repository),
        400,
        MBU,
        manifest_absent,
    ),
    Failure(
        "index-child-missing",
        put_manifest(index_missing_child, OCI_INDEX),
        400,
        MBU,
        manifest_absent,
    ),
    Failure(
        "manifest-schema1-signed",
        put_manifest(schema1, DOCKER_SCHEMA1_SIGNED),
        400,
        MI,
        manifest_absent,
        message="schema 1",
    ),
    Failure("manifest-schema1", put_manifest(schema1, DOCKER_SCHEMA1), 400, MI, manifest_absent),
    Failure("manifest-schema1-body-oci-type", put_manifest(schema1), 400, MI, manifest_absent),
    Failure(
        "manifest-invalid-json",
        put_manifest(lambda ctx: b"blablabla"),
        400,
        MI,
        manifest_absent,
    ),
    Failure("manifest-json-array", put_manifest(lambda ctx: b"[]"), 400, MI, manifest_absent),
    Failure(
        "manifest-unknown-media-type",
        put_manifest(lambda ctx: manifest_doc(ctx, mediaType="application/vnd.example+json")),
        400,
        MI,
        manifest_absent,
    ),
    Failure(
        "manifest-layer-media-type-as-manifest-type",
        put_manifest(lambda ctx: manifest_doc(ctx, mediaType=OCI_LAYER_GZIP)),
        400,
        MI,
        manifest_absent,
    ),
    Failure(
        "manifest-media-type-disagrees-with-content-type",
        put_manifest(manifest_doc, DOCKER_MANIFEST),
        400,
        MI,
        manifest_absent,
    ),
    Failure(
        "index-media-type-disagrees-with-content-type",
        put_manifest(lambda ctx: image_index([]).content, OCI_MANIFEST),
        400,
        MI,
        manifest_absent,
    ),
    Failure(
        "manifest-untyped-unknown-shape",
        put_manifest(lambda ctx: b'{"schemaVersion": 2}', "application/vnd.example+json"),
        400,
        MI,
        manifest_absent,
    ),
    Failure(
        "manifest-schema-version-3",
        put_manifest(lambda ctx: manifest_doc(ctx, schemaVersion=3)),
        400,
        MI,
        manifest_absent,
    ),
    Failure(
        "manifest-without-config",
        put_manifest(lambda ctx: manifest_doc(ctx, config=None)),
        400,
        MI,
        manifest_absent,
    ),
    Failure(
        "manifest-descriptor-digest-malformed",
        put_manifest(lambda ctx: with_layer(ctx, digest="sha256:nothex")),
        400,
        MI,
        manifest_absent,
    ),
    Failure(
        "manifest-descriptor-size-negative",
        put_manifest(lambda ctx: with_layer(ctx, size=-1)),
        400,
        MI,
        manifest_absent,
    ),
    Failure(
        "index-manifests-not-a-list",
        put_manifest(lambda ctx: b'{"schemaVersion": 2, "manifests": {}}', OCI_INDEX),
        400,
        MI,
        manifest_absent,
    ),
    # unknown content and bad pagination
    Failure("manifest-unknown-tag", in_repo("manifests/no-such-tag"), 404, "MANIFEST_UNKNOWN"),
    Failure(
        "manifest-unknown-digest", in_repo(f"manifests/{sha256(b'none')}"), 404, "MANIFEST_UNKNOWN"
    ),
    Failure(
        "manifest-delete-unknown-digest",
        in_repo(f"manifests/{sha256(b'none')}", "DELETE"),
        404,
        "MANIFEST_UNKNOWN",
    ),
    Failure(
        "manifest-delete-unknown-tag",
        in_repo("manifests/no-such-tag", "DELETE"),
        404,
        "MANIFEST_UNKNOWN",
    ),
    Failure("blob-unknown", in_repo(f"blobs/{sha256(b'none')}"), 404, "BLOB_UNKNOWN"),
    Failure(
        "blob-delete-unknown", in_repo(f"blobs/{sha256(b'none')}", "DELETE"), 404, "BLOB_UNKNOWN"
    ),
    Failure("tags-list-n-negative", in_repo("tags/list?n=-1"), 400, "PAGINATION_NUMBER_INVALID"),
    Failure(
        "tags-list-n-not-a-number", in_repo("tags/list?n=ten"), 400, "PAGINATION_NUMBER_INVALID"
    ),
    # hostile input: deep nesting, huge numbers, digits other than ASCII's
    Failure("manifest-arrays-nested-100k", put_manifest(lambda c: nested(100_000)), 400, MI),
    Failure(
        "manifest-objects-nested-100k",
        put_manifest(lambda c: nested(100_000, b'{"a":', b"}")),
        400,
        MI,
        message="deep",
    ),
    Failure(
        "manifest-annotation-nested-1000",
        put_manifest(lambda c: with_annotation_value(c, nested(1000))),
        400,
        MI,
        manifest_absent,
        message="deep",
    ),
    Failure("manifest-size-1e400", put_manifest(with_config_size(b"1e400")), 400, MI),
    Failure(
        "manifest-size-5000-digits",
        put_manifest(with_config_size(b"9" * 5000)),
        400,
        MI,
        manifest_absent,
    ),
    Failure(
        "manifest-size-beyond-64-bits",
        put_manifest(with_config_size(str(2**64).encode())),
        400,
        MI,
        manifest_absent,
    ),
    Failure("tags-list-n-superscript", in_repo("tags/list?n=%C2%B2"), 400, PN),
    Failure("tags-list-n-arabic-digit", in_repo("tags/list?n=%D9%A3"), 400, PN),
    Failure("tags-list-n-5000-digits", in_repo(f"tags/list?n={'9' * 5000}"), 400, PN),
    Failure("catalog-n-superscript", get(lambda ctx: "_catalog?n=%C2%B2"), 400, PN),
    Failure("catalog-n-5000-digits", get(lambda ctx: f"_catalog?n={'9' * 5000}"), 400, PN),
    Failure(
        "patch-range-5000-digits",
        patch_with_header(b"Content-Range", b"10-" + b"9" * 5000),
        416,
        RI,
        upload_resumes,
        alternative=BAD_RANGE,
    ),
    Failure(
        "patch-range-total-5000-digits",
        patch_with_header(b"Content-Range", b"10-19/" + b"9" * 5000),
        416,
        RI,
        upload_resumes,
        alternative=BAD_RANGE,
    ),
    Failure(
        "patch-range-superscript",
        patch_with_header(b"Content-Range", b"10-1\xb9"),
        416,
        RI,
        upload_resumes,
        alternative=BAD_RANGE,
    ),
    # the sizes a manifest's descriptors state must be the stored ones (clients verify them)
    Failure(
        "manifest-config-size-differs",
        put_manifest(with_descriptor_size(1, which="config")),
        400,
        MI,
        manifest_absent,
        message="config",
        moorage_rule=True,
    ),
    Failure(
        "manifest-layer-size-differs",
        put_manifest(with_descriptor_size(-1, which="layer")),
        400,
        MI,
        manifest_absent,
        message="layers[0]",
        moorage_rule=True,
    ),
    Failure(
        "index-child-size-differs",
        put_manifest(index_child_size_off, OCI_INDEX),
        400,
        MI,
        manifest_absent,
        message="manifests[0]",
        moorage_rule=True,
    ),
]


@pytest.fixture
def ctx(
    oci: OciClient,
    protocol_target: Target,
    protocol_registry: str,
    new_repository: Callable[[str], str],
) -> Ctx:
    return Ctx(oci.without_redirects(), protocol_target, protocol_registry, new_repository)


def test_case_names_are_unique() -> None:
    names = [case.name for case in FAILURES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", FAILURES, ids=lambda case: case.name)
def test_failure(case: Failure, ctx: Ctx) -> None:
    """Spec: "Error Codes" — the status and code of each failure; never a 5xx."""
    if case.moorage_rule:
        ctx.target.require_moorage()
    resp = case.request(ctx)
    assert resp.status_code < 500, "server error: " + describe(resp)
    expected = [(case.status, case.code)] + ([case.alternative] if case.alternative else [])
    entries = errors(resp) if 400 <= resp.status_code < 500 else []
    got = {(resp.status_code, entry.code) for entry in entries}
    assert got & set(expected), f"expected {' or '.join(map(str, expected))}: " + describe(resp)
    if case.message:
        text = " ".join(f"{e.message} {json.dumps(e.detail)}" for e in entries).lower()
        assert case.message.lower() in text, f"message lacks {case.message!r}: " + describe(resp)
    if case.unchanged is not None:
        case.unchanged(ctx)


# --- the limits themselves are allowed -----------------------------------------------------


def test_name_of_255_characters_with_address_is_allowed(ctx: Ctx) -> None:
    """The 255-character limit counts `<host>/<name>`, and 255 itself is allowed (SPEC §3;
    spec "Pulling manifests", implementers note)."""
    ctx.target.require_moorage()
    name = long_name(ctx, 255)
    assert len(f"{ctx.target.host}/{name}") == 255
    expect_status(ctx.oci.send("POST", f"/v2/{name}/blobs/uploads/"), 202)


def test_tag_of_128_characters_is_allowed(ctx: Ctx) -> None:
    """Spec: "Pulling manifests" — a tag is at most 128 characters: 128 is allowed."""
    tag = "T" * 128
    ctx.oci.push_image(tag)
    expect_status(ctx.oci.get_manifest(tag), 200)
    assert tag in tag_list(ctx.oci.list_tags())


def test_manifest_of_exactly_4_mib_is_allowed(ctx: Ctx) -> None:
    """Spec: "Pushing Manifests" — registries SHOULD accept manifests of at least 4 megabytes."""
    config, layers = image_parts(ctx)
    base = len(image_manifest(config, layers, annotations={"pad": ""}).content)
    body = image_manifest(config, layers, annotations={"pad": "x" * (MAX_MANIFEST_BYTES - base)})
    assert body.size == MAX_MANIFEST_BYTES
    ctx.oci.push_manifest("big", body)
    resp = expect_status(ctx.oci.get_manifest("big"), 200)
    assert resp.content == body.content


# --- what a pushed config holds never refuses the manifest ---------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"os":"linux","architecture":"amd64","x":' + nested(1000) + b"}",
        b'{"os":"linux","architecture":"amd64","x":' + b"9" * 5000 + b"}",
        b'{"os":"linux","architecture":"amd64","x":1e400}',
    ],
    ids=["nested-1000", "number-5000-digits", "number-1e400"],
)
def test_hostile_config_is_stored_without_a_platform(ctx: Ctx, content: bytes) -> None:
    """The registry reads an image's config only for what lists show: one it cannot read
    within its limits records nothing, and the push goes through."""
    config = ctx.oci.push_blob(Blob(content))
    _, layers = image_parts(ctx)
    manifest = image_manifest(descriptor(OCI_CONFIG, config), layers)
    ctx.oci.push_manifest("hostile-config", manifest)
    pulled = expect_status(ctx.oci.get_manifest("hostile-config"), 200)
    assert pulled.content == manifest.content
