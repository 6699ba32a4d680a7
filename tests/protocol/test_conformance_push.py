"""Conformance workflow 2, Push (conformance/02_push_test.go), check for check and in order.

The steps share one repository (and the cross-mount repository, the suite's
OCI_CROSSMOUNT_NAMESPACE, which in moorage must be `<registry>/<image>` too) and run in the
order written. Spec: "Workflow Categories / Push" of the OCI Distribution Spec v1.1.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.protocol.conftest import (
    ACCEPT_ALL_MANIFESTS,
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    EMPTY_LAYER_TAG,
    NONEXISTENT_MANIFEST,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    OCTET_STREAM,
    Blob,
    ConformanceData,
    OciClient,
    Target,
    describe,
    descriptor,
    expect_2xx_or,
    expect_status,
    image_config,
    image_index,
    image_manifest,
    location,
    need,
    random_blob,
)


@dataclass
class Chunked:
    """The suite's testBlobB and its two chunks (rebuilt if the registry asks bigger chunks)."""

    blob: Blob
    first: bytes
    second: bytes

    @classmethod
    def of(cls, blob: Blob) -> Chunked:
        cut = blob.size // 2 + 1
        return cls(blob, blob.content[:cut], blob.content[cut:])

    @property
    def first_range(self) -> str:
        return f"0-{len(self.first) - 1}"

    @property
    def second_range(self) -> str:
        return f"{len(self.first)}-{self.blob.size - 1}"


@dataclass
class PushState:
    """The suite's shared variables: lastResponse, prevResponse, emptyLayerManifestRef."""

    chunked: Chunked
    last: httpx.Response | None = None
    prev: httpx.Response | None = None
    mount: httpx.Response | None = None
    empty_layer_ref: str = ""


@pytest.fixture(scope="module")
def state(suite: ConformanceData) -> PushState:
    return PushState(Chunked(suite.blob_b, suite.blob_b_chunk1, suite.blob_b_chunk2))


@pytest.fixture(scope="module")
def crossmount(workflow: OciClient, new_repository: Callable[[str], str]) -> OciClient:
    return workflow.for_repository(new_repository("crossmount"))


# --- Blob Upload Streamed ------------------------------------------------------------------


def test_streamed_patch_request_with_blob_in_body_should_yield_202(
    workflow: OciClient, suite: ConformanceData, state: PushState
) -> None:
    """PATCH request with blob in body (no Content-Range) should yield 202 response.

    Spec: "Pushing a blob in chunks" (end-4a, end-5): a streamed upload is one PATCH.
    """
    started = workflow.start_upload()
    location(started)
    resp = workflow.send(
        "PATCH",
        location(started),
        headers={"Content-Type": OCTET_STREAM},
        content=suite.blob_a.content,
    )
    state.last = expect_status(resp, 202)


def test_streamed_put_request_to_session_url_with_digest_should_yield_201(
    workflow: OciClient, suite: ConformanceData, state: PushState
) -> None:
    """PUT request to session URL with digest should yield 201 response, with a Location.

    Spec: "Pushing a blob in chunks" — closing the session (end-6).
    """
    last = need(state.last, "the streamed PATCH response")
    resp = workflow.put_upload(location(last), suite.blob_a.digest)
    expect_status(resp, 201)
    location(resp)


# --- Blob Upload Monolithic ----------------------------------------------------------------


def test_monolithic_get_nonexistent_blob_should_result_in_404(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Pulling blobs" — 404 for a blob not in the repository (end-2)."""
    expect_status(workflow.get_blob(suite.dummy_digest), 404)


def test_monolithic_post_request_with_digest_and_blob_should_yield_201_or_202(
    workflow: OciClient, suite: ConformanceData, state: PushState
) -> None:
    """POST request with digest and blob should yield a 201 or 202, with a Location.

    Spec: "Single POST" (end-4b).
    """
    config = suite.configs[1]
    resp = workflow.start_upload(
        {"digest": config.digest}, content=config.content, headers={"Content-Type": OCTET_STREAM}
    )
    location(resp)
    state.last = expect_status(resp, 201, 202)


def test_monolithic_get_request_to_blob_url_from_prior_request_should_yield_200_or_404(
    workflow: OciClient, suite: ConformanceData, state: PushState
) -> None:
    """GET request to blob URL from prior request should yield 200 or 404 based on response code.

    Spec: "Single POST" — a 202 means the registry started a session instead.
    """
    last = need(state.last, "the single POST response")
    resp = workflow.get_blob(suite.configs[1].digest)
    expect_status(resp, 404 if last.status_code == 202 else 200)


def test_monolithic_post_request_should_yield_a_session_id(
    workflow: OciClient, state: PushState
) -> None:
    """Spec: "POST then PUT" — POST: 202 Accepted with the session's Location (end-4a)."""
    state.last = expect_status(workflow.start_upload(), 202)


def test_monolithic_put_upload_of_a_blob_should_yield_a_201_response(
    workflow: OciClient, suite: ConformanceData, state: PushState
) -> None:
    """Spec: "POST then PUT" — PUT <location>?digest=: 201 Created with Location (end-6)."""
    last = need(state.last, "the POST response")
    config = suite.configs[1]
    resp = workflow.put_upload(location(last), config.digest, config.content)
    location(resp)
    expect_status(resp, 201)


def test_monolithic_get_request_to_existing_blob_should_yield_200(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Pulling blobs" (end-2)."""
    expect_status(workflow.get_blob(suite.configs[1].digest), 200)


def test_monolithic_put_upload_of_a_layer_blob_should_yield_a_201_response(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "POST then PUT" (end-4a, end-6)."""
    started = workflow.start_upload()
    resp = workflow.put_upload(location(started), suite.layer.digest, suite.layer.content)
    location(resp)
    expect_status(resp, 201)


def test_monolithic_get_request_to_existing_layer_should_yield_200(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Pulling blobs" (end-2)."""
    expect_status(workflow.get_blob(suite.layer.digest), 200)


# --- Blob Upload Chunked -------------------------------------------------------------------


def test_chunked_out_of_order_blob_upload_should_return_416(
    workflow: OciClient, state: PushState
) -> None:
    """Out-of-order blob upload should return 416.

    Spec: "Pushing a blob in chunks" — POST with Content-Length: 0 (honouring
    OCI-Chunk-Min-Length), then a chunk that does not start at 0: 416 (end-5).
    """
    started = workflow.start_upload()
    location(started)
    if min_length := started.headers.get("OCI-Chunk-Min-Length"):
        size = int(min_length)
        if size > len(state.chunked.first):
            state.chunked = Chunked.of(random_blob(size * 2 - 2))
    chunked = state.chunked
    resp = workflow.patch_upload(
        location(started), chunked.second, content_range=chunked.second_range
    )
    expect_status(resp, 416)


def test_chunked_patch_request_with_first_chunk_should_return_202(
    workflow: OciClient, state: PushState
) -> None:
    """Spec: "Pushing a blob in chunks" — 202 with `Range: 0-<end>` (end-5)."""
    started = workflow.start_upload()
    location(started)
    state.prev = started
    chunked = state.chunked
    resp = workflow.patch_upload(
        location(started), chunked.first, content_range=chunked.first_range
    )
    expect_status(resp, 202)
    assert resp.headers.get("Range") == chunked.first_range, describe(resp)
    state.last = resp


def test_chunked_retry_previous_blob_chunk_should_return_416(
    workflow: OciClient, state: PushState
) -> None:
    """Spec: "Pushing a blob in chunks" — the first chunk again, at the POST's location: 416."""
    prev = need(state.prev, "the POST response")
    chunked = state.chunked
    resp = workflow.patch_upload(location(prev), chunked.first, content_range=chunked.first_range)
    expect_status(resp, 416)


def test_chunked_get_on_stale_blob_upload_should_return_204_with_a_range_and_location(
    workflow: OciClient, state: PushState
) -> None:
    """Spec: "Pushing a blob in chunks" — GET <location> after a 416: 204 with Location and
    `Range: 0-<end>` (end-13)."""
    prev = need(state.prev, "the POST response")
    resp = expect_status(workflow.upload_status(location(prev)), 204)
    location(resp)
    assert resp.headers.get("Range") == state.chunked.first_range, describe(resp)
    state.last = resp


def test_chunked_patch_request_with_second_chunk_should_return_202(
    workflow: OciClient, state: PushState
) -> None:
    """Spec: "Pushing a blob in chunks" — the next chunk at the status' Location: 202 (end-5)."""
    last = need(state.last, "the upload status response")
    chunked = state.chunked
    resp = workflow.patch_upload(location(last), chunked.second, content_range=chunked.second_range)
    location(resp)
    state.last = expect_status(resp, 202)


def test_chunked_put_request_with_digest_should_return_201(
    workflow: OciClient, state: PushState
) -> None:
    """Spec: "Pushing a blob in chunks" — closing PUT with the whole blob's digest: 201 (end-6)."""
    last = need(state.last, "the second chunk's response")
    resp = workflow.put_upload(location(last), state.chunked.blob.digest)
    expect_status(resp, 201)
    location(resp)


# --- Cross-Repository Blob Mount -----------------------------------------------------------


def test_mount_of_a_blob_without_the_from_argument_should_yield_session_id(
    crossmount: OciClient, suite: ConformanceData
) -> None:
    """Cross-mounting of a blob (unknown digest) without the from argument should yield a
    session id. Spec: "Mounting a blob from another repository" — 202 (end-11)."""
    resp = expect_status(crossmount.mount(suite.dummy_digest, None), 202)
    location(resp)


def test_mount_post_request_to_mount_another_repositorys_blob_should_return_201_or_202(
    workflow: OciClient, crossmount: OciClient, suite: ConformanceData, state: PushState
) -> None:
    """Spec: "Mounting a blob from another repository" — 201, or 202 if not mounted (end-11)."""
    state.mount = expect_status(crossmount.mount(suite.blob_a.digest, workflow.name), 201, 202)


def test_mount_get_request_to_test_digest_within_cross_mount_namespace_should_return_200(
    crossmount: OciClient, suite: ConformanceData, state: PushState
) -> None:
    """Spec: "Mounting a blob from another repository" — Location is the blob's URL."""
    mount = need(state.mount, "the mount response")
    if mount.status_code != 201:
        pytest.skip("the mount answered 202 (the suite runs this only after a 201)")
    assert location(mount) == crossmount.path(f"blobs/{suite.blob_a.digest}"), describe(mount)
    expect_status(crossmount.send("GET", location(mount)), 200)


def test_mount_cross_mounting_of_nonexistent_blob_should_yield_session_id(
    crossmount: OciClient, state: PushState
) -> None:
    """Spec: "Mounting a blob from another repository" — a 202 starts an upload session."""
    mount = need(state.mount, "the mount response")
    if mount.status_code != 202:
        pytest.skip("the mount answered 201 (the suite runs this only after a 202)")
    assert location(mount).startswith(crossmount.path("blobs/uploads/")), describe(mount)


def test_mount_cross_mounting_without_from_after_a_mount(
    crossmount: OciClient, suite: ConformanceData, state: PushState
) -> None:
    """Cross-mounting without from: 201 with automatic content discovery, else 202.

    The suite runs this with OCI_AUTOMATIC_CROSSMOUNT; both answers are conforming here.
    Spec: "The registry MAY treat the `from` parameter as optional".
    """
    mount = need(state.mount, "the mount response")
    if mount.status_code != 201:
        pytest.skip("the suite runs this only after a 201")
    resp = expect_status(crossmount.mount(suite.blob_a.digest, None), 201, 202)
    if resp.status_code == 202:
        assert location(resp).startswith(crossmount.path("blobs/uploads/")), describe(resp)


# --- Manifest Upload -----------------------------------------------------------------------


def test_manifest_get_nonexistent_manifest_should_return_404(workflow: OciClient) -> None:
    """Spec: "Pulling manifests" (end-3)."""
    expect_status(workflow.get_manifest(NONEXISTENT_MANIFEST), 404)


def test_manifest_put_should_accept_a_manifest_upload(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """PUT manifests[1] as test0..test3: 201 with a Location each. Spec: "Pushing Manifests"."""
    for i in range(4):
        resp = workflow.put_manifest(f"test{i}", suite.manifests[1])
        location(resp)
        expect_status(resp, 201)


def test_manifest_registry_should_accept_a_manifest_upload_with_no_layers(
    workflow: OciClient, suite: ConformanceData, state: PushState
) -> None:
    """A manifest without layers (and without `mediaType`): 201 with Location (the suite only
    warns otherwise; required below). Spec: "Pushing Manifests" — the list of blobs MAY be empty."""
    resp = workflow.put_manifest(EMPTY_LAYER_TAG, suite.empty_layer_manifest)
    if resp.status_code == 201:
        state.empty_layer_ref = location(resp)


def test_manifest_get_request_to_manifest_url_digest_should_yield_200(
    workflow: OciClient, suite: ConformanceData
) -> None:
    """Spec: "Pulling manifests" (end-3)."""
    expect_status(workflow.get_manifest(suite.manifests[1].digest), 200)


# --- Beyond the suite: what the suite leaves optional, required of moorage -----------------


def test_extra_manifest_with_no_layers_is_accepted(
    workflow: OciClient, suite: ConformanceData, state: PushState
) -> None:
    """Spec: "Pushing Manifests" — the list of blobs MAY be empty; the media type comes from
    Content-Type when the body has no `mediaType`."""
    assert state.empty_layer_ref, "the manifest without layers was refused"
    resp = expect_status(workflow.get_manifest(EMPTY_LAYER_TAG), 200)
    assert resp.content == suite.empty_layer_manifest.content, describe(resp)
    assert resp.headers.get("Content-Type") == OCI_MANIFEST, describe(resp)


def test_extra_streamed_and_chunked_blobs_hold_their_bytes(
    workflow: OciClient, suite: ConformanceData, state: PushState
) -> None:
    """Spec: "Pulling blobs" — the blobs pushed streamed and in chunks read back whole."""
    for blob in (suite.blob_a, state.chunked.blob):
        resp = expect_status(workflow.get_blob(blob.digest), 200)
        assert resp.content == blob.content, describe(resp)


def test_extra_single_post_stores_the_blob(workflow: OciClient) -> None:
    """Spec: "Single POST" — 201 Created, and the Location is a pullable blob URL (end-4b)."""
    blob = random_blob(100)
    resp = workflow.start_upload(
        {"digest": blob.digest}, content=blob.content, headers={"Content-Type": OCTET_STREAM}
    )
    expect_status(resp, 201)
    pulled = expect_status(workflow.send("GET", location(resp)), 200)
    assert pulled.content == blob.content, describe(pulled)


def test_extra_last_chunk_in_the_closing_put(workflow: OciClient) -> None:
    """Spec: "Pushing a blob in chunks" — the final chunk MAY come with the closing PUT, and
    GET on the session reports the offset (end-13)."""
    blob = random_blob(300)
    started = expect_status(workflow.start_upload(), 202)
    first = expect_status(
        workflow.patch_upload(location(started), blob.content[:100], content_range="0-99"), 202
    )
    assert first.headers.get("Range") == "0-99", describe(first)
    status = expect_status(workflow.upload_status(location(first)), 204)
    assert status.headers.get("Range") == "0-99", describe(status)
    done = workflow.put_upload(
        location(status),
        blob.digest,
        blob.content[100:],
        headers={"Content-Range": f"100-{blob.size - 1}"},
    )
    expect_status(done, 201)
    assert done.headers.get("Docker-Content-Digest") in (None, blob.digest), describe(done)
    pulled = expect_status(workflow.get_blob(blob.digest), 200)
    assert pulled.content == blob.content, describe(pulled)


def test_extra_empty_blob(workflow: OciClient) -> None:
    """Spec: "POST then PUT" — a zero-length blob is a blob like any other."""
    blob = workflow.push_blob(b"")
    resp = expect_status(workflow.get_blob(blob.digest), 200)
    assert resp.content == b"", describe(resp)


def test_extra_mount_from_a_repository_that_holds_the_blob_is_201(
    workflow: OciClient, new_repository: Callable[[str], str], suite: ConformanceData
) -> None:
    """Spec: "Mounting a blob from another repository" — 201 with the blob's Location; the blob
    is readable in the target only after the mount."""
    target = workflow.for_repository(new_repository("mount-target"))
    expect_status(target.get_blob(suite.blob_a.digest), 404)
    resp = expect_status(target.mount(suite.blob_a.digest, workflow.name), 201)
    assert location(resp) == target.path(f"blobs/{suite.blob_a.digest}"), describe(resp)
    assert resp.headers.get("Docker-Content-Digest") in (None, suite.blob_a.digest)
    pulled = expect_status(target.get_blob(suite.blob_a.digest), 200)
    assert pulled.content == suite.blob_a.content, describe(pulled)


def test_extra_mount_from_another_registry_is_201(
    workflow: OciClient, protocol_target: Target, suite: ConformanceData
) -> None:
    """Spec: "Mounting a blob from another repository" — across registries (namespaces) too,
    for a caller that may read the source (anonymous, while there is no auth)."""
    target = workflow.for_repository(f"{protocol_target.new_registry()}/mounted")
    resp = expect_status(target.mount(suite.blob_a.digest, workflow.name), 201)
    assert location(resp) == target.path(f"blobs/{suite.blob_a.digest}"), describe(resp)
    expect_status(target.get_blob(suite.blob_a.digest), 200)


@pytest.mark.parametrize("source", ["lacks-the-blob", "does-not-exist"])
def test_extra_mount_that_cannot_be_done_falls_back_to_an_upload(
    workflow: OciClient, new_repository: Callable[[str], str], source: str
) -> None:
    """Spec: "Mounting a blob from another repository" — unable to mount: 202, an upload
    session the client may complete."""
    holder = workflow.for_repository(new_repository("holder"))
    holder.push_blob(random_blob(32))  # the source repository exists, without our blob
    target = workflow.for_repository(new_repository("fallback"))
    blob = random_blob(48)
    source_name = holder.name if source == "lacks-the-blob" else new_repository("absent")
    resp = expect_status(target.mount(blob.digest, source_name), 202)
    session = location(resp)
    assert session.startswith(target.path("blobs/uploads/")), describe(resp)
    expect_status(target.put_upload(session, blob.digest, blob.content), 201)
    expect_status(target.get_blob(blob.digest), 200)


def test_extra_manifest_put_answers_location_and_digest(workflow: OciClient) -> None:
    """Spec: "Pushing Manifests" — 201, Location a pullable manifest URL, Docker-Content-Digest
    the manifest's digest; pushing by digest works too (end-7)."""
    manifest = workflow.push_image("by-tag")
    resp = workflow.push_manifest(manifest.digest, manifest)
    assert resp.headers.get("Docker-Content-Digest") == manifest.digest, describe(resp)
    pulled = workflow.send("GET", location(resp), headers={"Accept": ACCEPT_ALL_MANIFESTS})
    assert expect_status(pulled, 200).content == manifest.content, describe(pulled)


def test_extra_retag_moves_the_tag(workflow: OciClient) -> None:
    """Spec: "Pushing Manifests" — PUT by tag points the tag at the new manifest."""
    first = workflow.push_image("moving")
    second = workflow.push_image("moving")
    resp = expect_status(workflow.get_manifest("moving"), 200)
    assert resp.headers.get("Docker-Content-Digest") == second.digest != first.digest
    expect_status(workflow.get_manifest(first.digest), 200)  # still there, untagged


def test_extra_docker_schema2_manifest_and_manifest_list(workflow: OciClient) -> None:
    """Docker image manifest v2 schema 2 and manifest list are stored and served with their own
    Content-Type. Spec: "Pulling manifests" — Content-Type matches what was pushed."""
    config = workflow.push_blob(image_config("docker"))
    layer = workflow.push_blob(random_blob(80))
    manifest = image_manifest(
        descriptor(DOCKER_CONFIG, config),
        [descriptor(DOCKER_LAYER, layer)],
        media_type=DOCKER_MANIFEST,
    )
    workflow.push_manifest("docker", manifest, DOCKER_MANIFEST)
    listed = image_index(
        [descriptor(DOCKER_MANIFEST, manifest, platform={"architecture": "amd64", "os": "linux"})],
        media_type=DOCKER_MANIFEST_LIST,
    )
    workflow.push_manifest("docker-list", listed, DOCKER_MANIFEST_LIST)
    for reference, body, media_type in (
        ("docker", manifest, DOCKER_MANIFEST),
        ("docker-list", listed, DOCKER_MANIFEST_LIST),
    ):
        resp = expect_status(workflow.get_manifest(reference, accept=media_type), 200)
        assert resp.content == body.content, describe(resp)
        assert resp.headers.get("Content-Type") == media_type, describe(resp)


def test_extra_oci_index_of_two_platforms(workflow: OciClient) -> None:
    """An OCI image index over two manifests (children pushed first by digest) is stored.

    Spec: "Pushing Manifests" (end-7).
    """
    children = [workflow.push_image(f"arch-{arch}") for arch in ("amd64", "arm64")]
    index = image_index(
        [
            descriptor(OCI_MANIFEST, child, platform={"architecture": arch, "os": "linux"})
            for child, arch in zip(children, ("amd64", "arm64"), strict=True)
        ]
    )
    workflow.push_manifest("multi", index, OCI_INDEX)
    resp = expect_status(workflow.get_manifest("multi", accept=OCI_INDEX), 200)
    assert resp.headers.get("Content-Type") == OCI_INDEX, describe(resp)
    assert resp.content == index.content, describe(resp)


def test_extra_index_without_media_type_takes_it_from_content_type(workflow: OciClient) -> None:
    """No `mediaType` in the body: the Content-Type header says what the manifest is."""
    child = workflow.push_image("child")
    index = image_index([descriptor(OCI_MANIFEST, child)], media_type=None)
    workflow.push_manifest("untyped-index", index, OCI_INDEX)
    resp = expect_status(workflow.get_manifest("untyped-index", accept=OCI_INDEX), 200)
    assert resp.headers.get("Content-Type") == OCI_INDEX, describe(resp)


def test_extra_content_type_parameters_are_ignored(workflow: OciClient) -> None:
    """Spec: "Pushing Manifests" — the registry SHOULD ignore parameters on Content-Type; and
    "Pulling manifests" — it SHOULD NOT send any back."""
    child = workflow.push_image("with-params")
    index = image_index([descriptor(OCI_MANIFEST, child)])
    workflow.push_manifest("params", index, f"{OCI_INDEX}; charset=utf-8")
    resp = expect_status(workflow.get_manifest("params", accept=OCI_INDEX), 200)
    assert resp.headers.get("Content-Type") == OCI_INDEX, describe(resp)


def test_extra_artifact_with_its_own_artifact_type(workflow: OciClient) -> None:
    """An OCI 1.1 artifact (artifactType, empty config, any layer type) is an ordinary push."""
    empty = workflow.push_blob(b"{}")
    payload = workflow.push_blob(random.Random(7).randbytes(200))
    artifact = image_manifest(
        descriptor(OCI_EMPTY, empty),
        [descriptor("application/vnd.example.chart.v1.tar+gzip", payload)],
        artifact_type="application/vnd.example.chart.v1",
    )
    workflow.push_manifest("chart", artifact)
    resp = expect_status(workflow.get_manifest("chart"), 200)
    assert resp.content == artifact.content, describe(resp)


def test_extra_same_manifest_pushed_twice_is_201_both_times(workflow: OciClient) -> None:
    """Spec: "Pushing Manifests" — re-pushing identical content is a success, not a conflict."""
    manifest = workflow.push_image("again")
    resp = workflow.push_manifest("again", manifest)
    assert resp.headers.get("Docker-Content-Digest") == manifest.digest, describe(resp)


def test_extra_layer_media_types_are_not_checked(workflow: OciClient) -> None:
    """A registry stores layers whatever their media type (here a plain config media type)."""
    config = workflow.push_blob(image_config("plain"))
    manifest = image_manifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER_GZIP, config)])
    workflow.push_manifest("config-as-layer", manifest)


# --- Teardown (the suite's default: manifests before blobs) --------------------------------


def test_teardown_delete_manifest_created_in_tests(
    workflow: OciClient, suite: ConformanceData, state: PushState
) -> None:
    """Teardown: manifests[1] (and the layerless one if pushed): 2xx or 405.

    Spec: "Deleting Manifests" (end-9).
    """
    expect_2xx_or(workflow.delete_manifest(suite.manifests[1].digest), 405)
    if state.empty_layer_ref:
        expect_2xx_or(workflow.delete_manifest(suite.empty_layer_manifest.digest), 405)


@pytest.mark.parametrize("which", ["config", "layer"])
def test_teardown_delete_blob_created_in_tests(
    workflow: OciClient, suite: ConformanceData, which: str
) -> None:
    """Teardown: Delete config and layer blobs: 2xx, 404 or 405. Spec: "Deleting Blobs"."""
    blob = suite.configs[1] if which == "config" else suite.layer
    expect_2xx_or(workflow.delete_blob(blob.digest), 404, 405)
