"""A whole server on S3 storage: moto's S3 API on loopback, real clients, SQLite metadata.

Every test creates its own bucket and runs its own server with `MOORAGE_STORAGE_DRIVER=s3`
under a two-level key prefix, then checks what the clients see and what the bucket holds.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.conftest import (
    AMD64_TAG,
    INDEX_TAG,
    OCI_INDEX,
    OCI_MANIFEST,
    OciLayout,
    RegistryAccess,
    Skopeo,
    Tool,
    assert_same_image,
    client_env,
)
from tests.protocol.conftest import (
    OciClient,
    describe,
    expect_error,
    expect_status,
    location,
)
from tests.support.moto import MotoServer
from tests.support.oci_auth import DockerTokenAuth
from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
PREFIX = "moorage/e2e"
REGISTRY = "s3"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# Chunks of a ~20 MiB upload, then the bytes sent with the closing PUT: below, at and across
# the server's 8 MiB S3 part size, several under S3's 5 MiB minimum part size.
CHUNKS = [3 * MiB + 1, 1 * MiB, 4 * MiB - 1, 9 * MiB, 17]
CLOSING = 3 * MiB
# Where werkzeug (moto) logs a GET of a presigned blob URL: what a redirected client sends.
_PRESIGNED_GET = re.compile(r'"GET (/[^ ?]+)\?[^ ]*X-Amz-Signature=[^ ]* HTTP/1\.1" 200')


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    """A fresh, empty bucket, created before any server uses it."""
    name = f"moorage-{uuid.uuid4().hex[:12]}"
    moto.client().create_bucket(Bucket=name)
    return name


def s3_env(moto: MotoServer, bucket: str, **extra: str) -> dict[str, str]:
    return moto.storage_env(bucket, MOORAGE_S3_PREFIX=PREFIX, **extra)


def blob_object(digest: str) -> str:
    """The object a committed blob must be: under the prefix, at the blob store's key."""
    algorithm, hex_digest = digest.split(":", 1)
    return f"{PREFIX}/blobs/{algorithm}/{hex_digest[:2]}/{hex_digest}"


def bucket_objects(moto: MotoServer, bucket: str) -> dict[str, int]:
    """Every object in the bucket: key -> size."""
    pages = moto.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}


def object_bytes(moto: MotoServer, bucket: str, key: str) -> bytes:
    body: bytes = moto.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def assert_no_upload_leftovers(moto: MotoServer, bucket: str) -> None:
    """Finished uploads leave nothing behind: no staging objects, no open multipart uploads."""
    objects = bucket_objects(moto, bucket)
    assert all(key.startswith(f"{PREFIX}/blobs/") for key in objects), sorted(objects)
    multipart = moto.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert multipart == [], multipart


def layout_blobs(layout: OciLayout, tag: str) -> set[str]:
    """Configs and layers the tag reaches (manifests are metadata, not blobs in the store)."""
    top = layout.descriptor(tag)
    manifests = [top]
    if top["mediaType"] == OCI_INDEX:
        manifests = layout.json_blob(top["digest"])["manifests"]
    blobs: set[str] = set()
    for desc in manifests:
        assert desc["mediaType"] == OCI_MANIFEST, desc
        manifest = layout.json_blob(desc["digest"])
        blobs |= {d["digest"] for d in [manifest["config"], *manifest["layers"]]}
    return blobs


def access_to(server: ServerProcess, host: str | None = None) -> RegistryAccess:
    return RegistryAccess(host or server.host, server.username, server.password)


def skopeo_for(access: RegistryAccess, home: Path) -> Skopeo:
    return Skopeo(Tool(["skopeo"], client_env(home)), access)


def http_client(server: ServerProcess, host: str | None = None) -> httpx.Client:
    """Plain HTTP to the server as the administrator; `host` is sent as the Host header."""
    return httpx.Client(
        base_url=server.url,
        auth=DockerTokenAuth(server.username, server.password),
        headers={"Host": host} if host else None,
        timeout=TIMEOUT,
    )


def pull(skopeo: Skopeo, ref: str, into: Path, *options: str) -> OciLayout:
    pulled = OciLayout(into)
    skopeo.copy(ref, pulled.ref("pulled"), *options)
    return pulled


def send_chunks(oci: OciClient, url: str, data: bytes, sizes: list[int], start: int = 0) -> str:
    """PATCH `data` in chunks of `sizes` from offset `start`; the upload's next location."""
    offset = start
    for size in sizes:
        chunk = data[offset : offset + size]
        assert len(chunk) == size
        patched = oci.patch_upload(url, chunk, content_range=f"{offset}-{offset + size - 1}")
        expect_status(patched, 202)
        offset += size
        assert patched.headers.get("Range") == f"0-{offset - 1}", describe(patched)
        url = location(patched)
    status = expect_status(oci.upload_status(url), 204)
    assert status.headers.get("Range") == f"0-{offset - 1}", describe(status)
    return url


def close_upload(oci: OciClient, url: str, data: bytes, offset: int) -> None:
    """PUT the rest of `data` (from `offset`) with the digest: the blob is created."""
    done = oci.put_upload(url, sha256(data), data[offset:])
    expect_status(done, 201)
    assert done.headers.get("Docker-Content-Digest") == sha256(data), describe(done)


def fetch(oci: OciClient, digest: str) -> bytes:
    """The blob's bytes, streamed by moorage or (redirects followed) from the object store."""
    got = expect_status(oci.get_blob(digest), 200)
    if not got.history:  # moorage answered itself; a presigned GET has no registry headers
        assert got.headers.get("Docker-Content-Digest") == digest, describe(got)
    assert sha256(got.content) == digest, describe(got)
    return got.content


# --- one server on S3 -----------------------------------------------------------------------


def test_server_on_s3_push_pull_upload_delete(
    server_factory: type[ServerProcess],
    moto: MotoServer,
    bucket: str,
    oci_layout: OciLayout,
    tmp_path: Path,
) -> None:
    # Redirects off: moorage streams every blob itself (ranges included), verifying it.
    env = s3_env(moto, bucket, MOORAGE_S3_REDIRECT="false")
    server = server_factory(tmp_path / "data", auth=True, extra_env=env).start()
    server.create_registry(REGISTRY)
    access = access_to(server)
    skopeo = skopeo_for(access, tmp_path / "skopeo")

    # skopeo: an image and a multi-arch index, pulled back byte for byte.
    image_ref = access.docker_ref(REGISTRY, "busybox", "v1")
    index_ref = access.docker_ref(REGISTRY, "multi", "latest")
    skopeo.copy(oci_layout.ref(AMD64_TAG), image_ref)
    skopeo.copy(oci_layout.ref(INDEX_TAG), index_ref, "--all")
    assert_same_image(oci_layout, AMD64_TAG, pull(skopeo, image_ref, tmp_path / "image"), "pulled")
    pulled_index = pull(skopeo, index_ref, tmp_path / "index", "--all")
    assert_same_image(oci_layout, INDEX_TAG, pulled_index, "pulled")

    # The image's blobs are objects under the prefix, holding the blobs' bytes; no blob is
    # a file in the data directory.
    assert not (server.data_dir / "blobs").exists()
    objects = bucket_objects(moto, bucket)
    image_blobs = layout_blobs(oci_layout, INDEX_TAG)
    assert len(image_blobs) == 3  # one layer, two configs
    for digest in image_blobs:
        key = blob_object(digest)
        assert objects.get(key) == len(oci_layout.blob(digest)), (key, sorted(objects))
        assert object_bytes(moto, bucket, key) == oci_layout.blob(digest)

    with http_client(server) as http:
        oci = OciClient(http, f"{REGISTRY}/data", follow_redirects=False)

        # A chunked upload of ~20 MiB: PATCHes under, at and across S3's part sizes.
        chunked = random_bytes(1, sum(CHUNKS) + CLOSING)
        started = expect_status(oci.start_upload(), 202)
        url = send_chunks(oci, location(started), chunked, CHUNKS)
        close_upload(oci, url, chunked, sum(CHUNKS))
        streamed = expect_status(oci.get_blob(sha256(chunked)), 200)
        assert streamed.headers.get("Docker-Content-Digest") == sha256(chunked)
        assert streamed.content == chunked
        # A range read goes to S3 as a ranged GET.
        ranged = oci.get_blob(sha256(chunked), headers={"Range": f"bytes={5 * MiB}-{11 * MiB}"})
        expect_status(ranged, 206)
        assert ranged.content == chunked[5 * MiB : 11 * MiB + 1]

        # Monolithic: POST then PUT with the whole body, and a single POST with the digest.
        put_whole = random_bytes(2, 6 * MiB + 5)
        started = expect_status(oci.start_upload(), 202)
        close_upload(oci, location(started), put_whole, 0)
        post_whole = random_bytes(3, 9 * MiB + 3)
        posted = oci.start_upload(
            {"digest": sha256(post_whole)},
            content=post_whole,
            headers={"Content-Type": "application/octet-stream"},
        )
        expect_status(posted, 201)
        for data in (put_whole, post_whole):
            assert fetch(oci, sha256(data)) == data

        objects = bucket_objects(moto, bucket)
        for data in (chunked, put_whole, post_whole):
            key = blob_object(sha256(data))
            assert objects.get(key) == len(data), (key, sorted(objects))
            assert object_bytes(moto, bucket, key) == data
        assert_no_upload_leftovers(moto, bucket)

        # skopeo delete: the manifest is gone, the other repository is untouched.
        skopeo("delete", image_ref)
        assert skopeo("inspect", "--raw", image_ref, check=False).returncode != 0
        gone = OciClient(http, f"{REGISTRY}/busybox").get_manifest("v1")
        expect_error(gone, 404, "MANIFEST_UNKNOWN")
    again = pull(skopeo, index_ref, tmp_path / "index-again", "--all")
    assert_same_image(oci_layout, INDEX_TAG, again, "pulled")


# --- redirects to presigned URLs ------------------------------------------------------------


def _presigned(
    response: httpx.Response, endpoint: str, bucket: str, digest: str, expires: int = 1200
) -> str:
    """The 307's Location: a presigned GET of the blob's object on `endpoint`."""
    expect_status(response, 307)
    target = response.headers["Location"]
    parts = urlsplit(target)
    assert f"{parts.scheme}://{parts.netloc}" == endpoint, describe(response)
    assert parts.path == f"/{bucket}/{blob_object(digest)}", describe(response)
    query = parse_qs(parts.query)
    assert "X-Amz-Signature" in query, describe(response)
    assert query.get("X-Amz-Expires") == [str(expires)], describe(response)
    return target


def _download(url: str) -> bytes:
    got = httpx.get(url, timeout=TIMEOUT)
    assert got.status_code == 200, f"GET {url} -> {got.status_code} {got.text[:300]}"
    return got.content


def test_redirects_to_public_and_private_endpoints(
    server_factory: type[ServerProcess],
    moto: MotoServer,
    bucket: str,
    oci_layout: OciLayout,
    tmp_path: Path,
) -> None:
    public_endpoint = f"http://127.0.0.1:{moto.port}"
    private_endpoint = f"http://localhost:{moto.port}"
    port = free_port()
    private_host = f"localhost:{port}"
    env = s3_env(  # redirects are on by default
        moto,
        bucket,
        MOORAGE_S3_PUBLIC_ENDPOINT_URL=public_endpoint,
        MOORAGE_S3_PRIVATE_ENDPOINT_URL=private_endpoint,
        MOORAGE_PRIVATE_HOST=private_host,
    )
    server = server_factory(tmp_path / "data", auth=True, extra_env=env, port=port).start()
    server.create_registry(REGISTRY)
    access = access_to(server)
    skopeo = skopeo_for(access, tmp_path / "skopeo")
    image_ref = access.docker_ref(REGISTRY, "busybox", "v1")
    skopeo.copy(oci_layout.ref(AMD64_TAG), image_ref)

    data = random_bytes(4, 7 * MiB + 11)
    digest = sha256(data)
    repository = f"{REGISTRY}/busybox"
    with http_client(server) as public, http_client(server, host=private_host) as private:
        OciClient(public, repository).push_blob(data)
        for http, endpoint in ((public, public_endpoint), (private, private_endpoint)):
            oci = OciClient(http, repository, follow_redirects=False)
            target = _presigned(oci.get_blob(digest), endpoint, bucket, digest)
            assert sha256(_download(target)) == digest
            # HEAD answers itself: size and digest, no redirect.
            head = expect_status(oci.head_blob(digest), 200)
            assert head.headers.get("Content-Length") == str(len(data)), describe(head)
            for layer in layout_blobs(oci_layout, AMD64_TAG):
                target = _presigned(oci.get_blob(layer), endpoint, bucket, layer)
                assert _download(target) == oci_layout.blob(layer)

    # skopeo follows the redirects: its blob GETs reach moto as presigned URLs.
    logged_before = len(moto.log())
    pulled = pull(skopeo, image_ref, tmp_path / "pulled")
    assert_same_image(oci_layout, AMD64_TAG, pulled, "pulled")
    expected = {f"/{bucket}/{blob_object(d)}" for d in layout_blobs(oci_layout, AMD64_TAG)}
    # moto logs a request once it has answered it: give the last line a moment.
    deadline = time.monotonic() + 5
    while True:
        fetched = set(_PRESIGNED_GET.findall(moto.log()[logged_before:]))
        if expected <= fetched or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert expected <= fetched, (sorted(expected), sorted(fetched))


def test_redirects_fall_back_to_the_endpoint_and_honour_the_expiry(
    server_factory: type[ServerProcess],
    moto: MotoServer,
    bucket: str,
    tmp_path: Path,
) -> None:
    env = s3_env(moto, bucket, MOORAGE_S3_REDIRECT_EXPIRY_SECONDS="300")
    server = server_factory(tmp_path / "data", auth=True, extra_env=env).start()
    server.create_registry(REGISTRY)
    data = random_bytes(7, 3 * MiB + 1)
    digest = sha256(data)
    with http_client(server) as http:
        OciClient(http, f"{REGISTRY}/data").push_blob(data)
        oci = OciClient(http, f"{REGISTRY}/data", follow_redirects=False)
        # No public endpoint configured: the URL is on the one moorage itself uses.
        target = _presigned(oci.get_blob(digest), moto.endpoint, bucket, digest, expires=300)
        assert _download(target) == data
        # A range request is redirected too: the object store serves the range.
        ranged = oci.get_blob(digest, headers={"Range": "bytes=10-19"})
        target = _presigned(ranged, moto.endpoint, bucket, digest, expires=300)
        part = httpx.get(target, headers={"Range": "bytes=10-19"}, timeout=TIMEOUT)
        assert part.status_code == 206
        assert part.content == data[10:20]
        # What the image may not read is refused by moorage, never redirected.
        expect_error(oci.get_blob(sha256(b"never pushed")), 404, "BLOB_UNKNOWN")
        other = OciClient(http, f"{REGISTRY}/other", follow_redirects=False)
        other.push_blob(b"makes the image exist")
        expect_error(other.get_blob(digest), 404, "BLOB_UNKNOWN")


# --- a restart on the same bucket and data directory ----------------------------------------


def test_restart_on_same_bucket_and_data_dir(
    server_factory: type[ServerProcess],
    moto: MotoServer,
    bucket: str,
    oci_layout: OciLayout,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = s3_env(moto, bucket)
    first = server_factory(data_dir, auth=True, extra_env=env).start()
    first.create_registry(REGISTRY)
    access = access_to(first)
    skopeo = skopeo_for(access, tmp_path / "skopeo")
    index_ref = access.docker_ref(REGISTRY, "multi", "latest")
    skopeo.copy(oci_layout.ref(INDEX_TAG), index_ref, "--all")

    whole = random_bytes(5, 6 * MiB)
    unfinished = random_bytes(6, 17 * MiB + 9)
    before = [6 * MiB, 9 * MiB]  # a tail, then a part uploaded and a tail again
    with http_client(first) as http:
        oci = OciClient(http, f"{REGISTRY}/data")
        oci.push_blob(whole)
        started = expect_status(oci.start_upload(), 202)
        url = send_chunks(oci, location(started), unfinished, before)
    first.stop()

    second = server_factory(data_dir, auth=True, extra_env=env, port=first.port).start()
    assert_same_image(
        oci_layout, INDEX_TAG, pull(skopeo, index_ref, tmp_path / "pulled", "--all"), "pulled"
    )
    with http_client(second) as http:
        oci = OciClient(http, f"{REGISTRY}/data")
        assert fetch(oci, sha256(whole)) == whole
        # The upload begun before the restart goes on where it stood.
        url = send_chunks(oci, url, unfinished, [1 * MiB], start=sum(before))
        close_upload(oci, url, unfinished, sum(before) + 1 * MiB)
        assert fetch(oci, sha256(unfinished)) == unfinished
    objects = bucket_objects(moto, bucket)
    assert objects.get(blob_object(sha256(unfinished))) == len(unfinished)
    assert_no_upload_leftovers(moto, bucket)
