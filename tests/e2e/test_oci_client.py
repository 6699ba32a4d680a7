"""The replication OCI client against real registries: moorage (token auth) and Debian's
docker-registry (no referrers API, no namespaces; Basic auth with htpasswd).

An image pushed with skopeo goes moorage → docker-registry → moorage byte for byte, with a
signature (a referrer) that crosses docker-registry through the referrers tag schema. A
large layer whose copy is cut halfway by a restart of the destination finishes without
sending again what the destination already held, in a copying process whose memory stays
flat (its peak RSS is measured).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from moorage.domain.replication.copy import BlobPlaces, CopyResult, copy_artifact
from moorage.domain.replication.endpoints import (
    BlobOpener,
    BlobRef,
    EndpointAuthError,
    EndpointError,
    ManifestBody,
)
from moorage.oci import mediatypes as mt
from moorage.outbound.guard import AddressGuard
from moorage.outbound.oci_client import OCTETS, Backoff, OciRegistry
from tests.e2e.conftest import (
    AMD64_TAG,
    INDEX_TAG,
    OciLayout,
    Skopeo,
    assert_same_image,
    sha256_digest,
)
from tests.e2e.test_tls import TlsServer
from tests.support.certificates import make_server_certificate
from tests.support.cutting_proxy import cutting_proxy
from tests.support.distribution import DockerRegistry
from tests.support.moto import MotoServer
from tests.support.recording_guard import RecordingGuard
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

MiB = 1024 * 1024
GiB = 1024 * MiB
LARGE_LAYER = int(os.environ.get("MOORAGE_TEST_REPLICATION_LAYER_MIB", "1024")) * MiB
RSS_LIMIT = 150 * MiB
SIGNATURE_TYPE = "application/vnd.example.signature.v1"
GUARD = AddressGuard(allow_private=True)  # every registry here is on loopback


@pytest.fixture
def docker_registry(tmp_path: Path) -> Iterator[DockerRegistry]:
    registry = DockerRegistry(tmp_path / "docker-registry").start()
    try:
        yield registry
    finally:
        registry.stop()


def remote(
    url: str, namespace: str, username: str | None = None, password: str | None = None
) -> OciRegistry:
    return OciRegistry(url, namespace, username, password, guard=GUARD)


def moorage(server: ServerProcess, registry: str, password: str | None = None) -> OciRegistry:
    return remote(server.url, registry, server.username, password or server.password)


async def copy(source: OciRegistry, destination: OciRegistry, tag: str) -> CopyResult:
    return await copy_artifact(
        source, destination, "app", "app", tag, override=True, log=lambda _: None
    )


async def push_signature(endpoint: OciRegistry, subject: ManifestBody) -> ManifestBody:
    """An OCI 1.1 signature whose subject is `subject`, pushed through the client."""
    blobs = {mt.OCI_EMPTY: b"{}", SIGNATURE_TYPE: f"signed {subject.digest}".encode()}
    for data in blobs.values():
        ref = BlobRef(sha256_digest(data), len(data))

        await endpoint.put_blob("app", ref, _opener(data), None)
    descriptor = {
        "mediaType": subject.media_type,
        "digest": subject.digest,
        "size": len(subject.body),
    }
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": SIGNATURE_TYPE,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": sha256_digest(b"{}"), "size": 2},
        "layers": [
            {
                "mediaType": SIGNATURE_TYPE,
                "digest": sha256_digest(blobs[SIGNATURE_TYPE]),
                "size": len(blobs[SIGNATURE_TYPE]),
            }
        ],
        "subject": descriptor,
    }
    body = json.dumps(doc).encode()
    signature = ManifestBody(sha256_digest(body), mt.OCI_MANIFEST, body)
    await endpoint.put_manifest("app", signature.digest, signature)
    return signature


def _opener(data: bytes) -> BlobOpener:
    async def opener(offset: int) -> AsyncIterator[bytes]:
        yield data[offset:]

    return opener


async def same_manifests(a: OciRegistry, b: OciRegistry, references: list[str]) -> None:
    for reference in references:
        left, right = await a.get_manifest("app", reference), await b.get_manifest("app", reference)
        assert left is not None, reference
        assert right == left, reference


async def test_an_image_goes_to_docker_registry_and_back_byte_for_byte(
    live_server: ServerProcess,
    registry: str,
    new_registry: Callable[[], str],
    skopeo: Skopeo,
    oci_layout: OciLayout,
    docker_registry: DockerRegistry,
    tmp_path: Path,
) -> None:
    skopeo.copy(
        oci_layout.ref(INDEX_TAG), skopeo.access.docker_ref(registry, "app", INDEX_TAG), "--all"
    )
    skopeo.copy(oci_layout.ref(AMD64_TAG), skopeo.access.docker_ref(registry, "app", AMD64_TAG))
    source = moorage(live_server, registry)
    mirror = remote(docker_registry.url, "mirror")
    back = moorage(live_server, new_registry())
    index = await source.get_manifest("app", INDEX_TAG)
    assert index is not None
    signature = await push_signature(source, index)
    tags = sorted([INDEX_TAG, AMD64_TAG])
    try:
        await source.check()
        await mirror.check()
        assert await source.list_repositories() == ["app"]
        assert await source.list_tags("app") == tags

        for tag in tags:
            assert (await copy(source, mirror, tag)).status == "copied"
        assert await mirror.list_repositories() == ["app"]
        # the referrers tag schema's index, tagged after the subject's digest
        assert await mirror.list_tags("app") == sorted([*tags, _tag_of(index)])
        children = [str(c["digest"]) for c in json.loads(index.body)["manifests"]]
        await same_manifests(source, mirror, [*tags, *children, signature.digest])
        # docker-registry has no referrers API: the referrers tag schema carries the signature.
        assert await mirror.referrers("app", index.digest) == [signature]

        for tag in tags:
            assert (await copy(mirror, back, tag)).status == "copied"
        await same_manifests(source, back, [*tags, *children, signature.digest])
        assert await back.referrers("app", index.digest) == [signature]

        again = [await copy(source, mirror, tag) for tag in tags]
        assert {(r.status, r.bytes_sent) for r in again} == {("skipped", 0)}
    finally:
        for endpoint in (source, mirror, back):
            await endpoint.close()

    pulled = OciLayout(tmp_path / "pulled")
    skopeo.tool(
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        f"docker://127.0.0.1:{docker_registry.port}/mirror/app:{AMD64_TAG}",
        pulled.ref(AMD64_TAG),
    )
    assert_same_image(oci_layout, AMD64_TAG, pulled, AMD64_TAG)


def _tag_of(subject: ManifestBody) -> str:
    return subject.digest.replace(":", "-")


async def test_blobs_copied_earlier_in_a_run_are_mounted(
    live_server: ServerProcess,
    registry: str,
    skopeo: Skopeo,
    oci_layout: OciLayout,
    docker_registry: DockerRegistry,
) -> None:
    skopeo.copy(oci_layout.ref(AMD64_TAG), skopeo.access.docker_ref(registry, "app", AMD64_TAG))
    source = moorage(live_server, registry)
    for destination in (remote(docker_registry.url, "mirror"), moorage(live_server, registry)):
        places = BlobPlaces()
        try:
            results = [
                await copy_artifact(
                    source,
                    destination,
                    "app",
                    repo,
                    AMD64_TAG,
                    override=True,
                    log=lambda _: None,
                    places=places,
                )
                for repo in ("one", "two")
            ]
        finally:
            await destination.close()
        manifest = await source.get_manifest("app", AMD64_TAG)
        assert manifest is not None
        assert results[0].bytes_sent > len(manifest.body)
        assert results[1].bytes_sent == len(manifest.body)  # every blob mounted
    await source.close()


async def test_refused_credentials_say_so(
    live_server: ServerProcess, registry: str, tmp_path: Path
) -> None:
    wrong = moorage(live_server, registry, password="not-the-password")
    with pytest.raises(EndpointAuthError, match="refused the credentials"):
        await wrong.check()
    await wrong.close()
    missing = moorage(live_server, "no-such-registry")
    with pytest.raises(EndpointError, match="registry no-such-registry does not exist"):
        await missing.check()
    await missing.close()

    basic = DockerRegistry(tmp_path / "basic", credentials=("replicator", "s3cret-pass")).start()
    try:
        good = remote(basic.url, "ns", "replicator", "s3cret-pass")
        await good.check()
        assert await good.list_repositories() == []
        await good.close()
        bad = remote(basic.url, "ns", "replicator", "wrong")
        with pytest.raises(EndpointAuthError, match="refused the credentials"):
            await bad.check()
        await bad.close()
        anonymous = remote(basic.url, "ns")
        with pytest.raises(EndpointAuthError, match="asks for a username"):
            await anonymous.check()
        await anonymous.close()
    finally:
        basic.stop()


async def test_tls_is_verified_unless_the_remote_says_not_to(tmp_path: Path) -> None:
    certificate = make_server_certificate(tmp_path / "tls")
    server = TlsServer(tmp_path / "tls-moorage", certificate, "127.0.0.1").start()
    try:
        verifying = OciRegistry(
            server.url,
            "",
            server.username,
            server.password,
            guard=GUARD,
            backoff=Backoff(attempts=1),
        )
        with pytest.raises(EndpointError, match="CERTIFICATE_VERIFY_FAILED"):
            await verifying.check()
        await verifying.close()
        trusting = OciRegistry(
            server.url, "", server.username, server.password, guard=GUARD, verify_tls=False
        )
        await trusting.check()
        assert await trusting.list_repositories() == []
        await trusting.close()
    finally:
        server.stop()


# --- object storage redirects -----------------------------------------------------------------


async def test_blobs_redirected_to_object_storage_are_followed_hop_by_hop(
    tmp_path: Path, docker_registry: DockerRegistry
) -> None:
    """moorage on S3 answers a blob GET with a redirect to a presigned URL: the client
    follows it, pinned by the guard like the registry itself."""
    moto = MotoServer(tmp_path / "moto.log").start()
    server = ServerProcess(tmp_path / "s3-moorage", extra_env=moto.storage_env("blobs"))
    try:
        server.start()
        server.create_registry("reg")
        guard = RecordingGuard()
        source = OciRegistry(server.url, "reg", None, None, guard=guard)
        mirror = remote(docker_registry.url, "mirror")
        layer = random.Random(3).randbytes(3 * MiB)
        await source.put_blob(
            "app", BlobRef(sha256_digest(layer), len(layer)), _opener(layer), None
        )
        await push_small(source, "app", ["v1"], layers=[layer])
        result = await copy(source, mirror, "v1")
        assert result.status == "copied"
        assert result.bytes_sent > len(layer)
        assert any(url.port == moto.port for url in guard.pinned)  # the presigned hop
        assert await mirror.has_blob("app", sha256_digest(layer))
        await source.close()
        await mirror.close()
    finally:
        server.stop()
        moto.stop()


# --- lists across pages ----------------------------------------------------------------------


async def push_small(
    endpoint: OciRegistry, repository: str, tags: list[str], layers: Sequence[bytes] = ()
) -> None:
    """A tiny image under each tag: its config and the given layers, already pushed."""
    config = f'{{"repository": "{repository}"}}'.encode()
    await endpoint.put_blob(
        repository, BlobRef(sha256_digest(config), len(config)), _opener(config), None
    )
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256_digest(config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": OCTETS, "digest": sha256_digest(data), "size": len(data)}
            for data in layers
        ],
    }
    body = json.dumps(doc).encode()
    for tag in tags:
        await endpoint.put_manifest(
            repository, tag, ManifestBody(sha256_digest(body), mt.OCI_MANIFEST, body)
        )


async def test_lists_follow_pages_and_keep_to_the_namespace(
    docker_registry: DockerRegistry, live_server: ServerProcess, registry: str
) -> None:
    root = OciRegistry(docker_registry.url, "", None, None, guard=GUARD, page_size=2)
    paged = OciRegistry(docker_registry.url, "ns", None, None, guard=GUARD, page_size=2)
    theirs = OciRegistry(
        live_server.url,
        registry,
        live_server.username,
        live_server.password,
        guard=GUARD,
        page_size=2,
    )
    tags = ["v1", "v2", "v3", "v4", "v5"]
    try:
        for name in ("a/x", "ns-1/y", "ns/app", "ns/db", "ns/web", "ns0/z", "zz"):
            await push_small(root, name, ["v1"])
        await push_small(paged, "app", tags)
        assert await paged.list_repositories() == ["app", "db", "web"]
        assert await root.list_repositories() == sorted(
            ["a/x", "ns-1/y", "ns/app", "ns/db", "ns/web", "ns0/z", "zz"]
        )
        assert await paged.list_tags("app") == tags
        for name in ("app", "db", "web/front"):
            await push_small(theirs, name, tags)
        assert await theirs.list_repositories() == ["app", "db", "web/front"]
        assert await theirs.list_tags("web/front") == tags
    finally:
        for endpoint in (root, paged, theirs):
            await endpoint.close()


# --- uploads broken midway ---------------------------------------------------------------------

CHUNK = 8 * MiB


async def put_through_cut(url: str, namespace: str, password: str | None = None) -> int:
    """Upload a 40 MiB blob in 8 MiB chunks while the connection breaks once, mid-chunk."""
    data = random.Random(7).randbytes(40 * MiB)
    blob = BlobRef(sha256_digest(data), len(data))
    port = int(url.rsplit(":", 1)[1])
    with cutting_proxy(port, cut_after=21 * MiB) as proxy:
        client = OciRegistry(
            f"http://127.0.0.1:{proxy.port}",
            namespace,
            "admin" if password else None,
            password,
            guard=GUARD,
            chunk_size=CHUNK,
            backoff=Backoff(first=0.2),  # the server notices the break within seconds
        )
        try:
            sent = await client.put_blob("app", blob, _pieces(data), None)
            assert await client.has_blob("app", blob.digest)
        finally:
            await client.close()
        assert proxy.cuts == 1
    return sent - len(data)


def _pieces(data: bytes) -> BlobOpener:
    async def opener(offset: int) -> AsyncIterator[bytes]:
        for start in range(offset, len(data), MiB):
            yield data[start : start + MiB]

    return opener


async def test_an_upload_broken_midway_resumes_where_moorage_stands(
    live_server: ServerProcess, registry: str
) -> None:
    again = await put_through_cut(live_server.url, registry, live_server.password)
    # moorage keeps every whole chunk: only the broken one goes again (and, should the
    # server not have noticed the break yet, a chunk it refuses while it still holds the
    # upload for the broken request)
    assert 0 < again < 2 * CHUNK, f"{again} bytes sent again"


async def test_an_upload_broken_midway_starts_again_on_docker_registry(
    docker_registry: DockerRegistry,
) -> None:
    # distribution 2.8 cancels an upload whose chunk broke halfway (its stored size no longer
    # matches the signed state in the upload's URL), so the client starts a new one.
    again = await put_through_cut(docker_registry.url, "mirror")
    assert again > 2 * CHUNK


# --- a large layer, cut halfway -------------------------------------------------------------


def write_layer(path: Path, size: int, seed: int = 20261205) -> str:
    """`size` incompressible bytes to `path` in 1 MiB pieces (slices of a 16 MiB random
    pool at seeded offsets, each numbered), hashed as written; returns the digest."""
    pool = random.Random(seed).randbytes(16 * MiB)
    rng = random.Random(seed + 1)
    hasher = hashlib.sha256()
    with path.open("wb") as out:
        for index in range(0, size, MiB):
            at = rng.randrange(len(pool) - MiB)
            piece = (index.to_bytes(8, "big") + pool[at : at + MiB - 8])[: size - index]
            hasher.update(piece)
            out.write(piece)
    return f"sha256:{hasher.hexdigest()}"


def push_image_around(source: DockerRegistry, layer: str, size: int) -> str:
    """Config and manifest (small) over HTTP, for a layer already placed in storage."""
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    config_digest = sha256_digest(config)
    with httpx.Client(base_url=source.url, timeout=30) as http:
        started = http.post("/v2/big/app/blobs/uploads/")
        location = httpx.URL(started.headers["location"])  # its query carries state
        put = http.put(location.copy_merge_params({"digest": config_digest}), content=config)
        assert put.status_code == 201, put.text
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": "application/octet-stream", "digest": layer, "size": size}
                ],
            }
        ).encode()
        put = http.put(
            "/v2/big/app/manifests/v1",
            content=manifest,
            headers={"Content-Type": mt.OCI_MANIFEST},
        )
        assert put.status_code == 201, put.text
    return sha256_digest(manifest)


def upload_bytes(server: ServerProcess) -> int:
    """What the server's unfinished uploads hold on disk."""
    uploads = server.data_dir / "blobs" / "uploads"
    return sum(p.stat().st_size for p in uploads.glob("*") if p.is_file())


@pytest.mark.slow
def test_a_large_layer_cut_halfway_by_a_restart_finishes_without_resending(
    tmp_path: Path,
) -> None:
    source = DockerRegistry(tmp_path / "source").start()
    destination = ServerProcess(tmp_path / "destination").start()
    copier: subprocess.Popen[str] | None = None
    try:
        destination.create_registry("mirror")
        layer_file = tmp_path / "source" / "layer"
        layer = write_layer(layer_file, LARGE_LAYER)
        source.place_blob("big/app", layer_file, layer)
        manifest = push_image_around(source, layer, LARGE_LAYER)
        options = {
            "source": {"url": source.url, "namespace": "big"},
            "destination": {"url": destination.url, "namespace": "mirror"},
            "source_repo": "app",
            "destination_repo": "app",
            "reference": "v1",
            "attempts": 8,  # the restart must fit in the backoff
        }
        started = time.monotonic()
        copier = subprocess.Popen(
            [sys.executable, "-m", "tests.support.replicate", json.dumps(options)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while upload_bytes(destination) < LARGE_LAYER // 2:
            assert copier.poll() is None, copier.communicate()
            assert time.monotonic() < deadline, "the copy did not get halfway"
            time.sleep(0.01)
        destination.kill()  # a crash in the middle of a chunk
        destination.start()
        out, err = copier.communicate(timeout=300)
        elapsed = time.monotonic() - started
        assert copier.returncode == 0, err
        result = json.loads(out)
        print(
            f"\n{LARGE_LAYER // MiB} MiB layer: {result['bytes_sent'] / MiB:.0f} MiB sent in "
            f"{elapsed:.1f} s, copying process peak RSS {result['peak_rss'] / MiB:.0f} MiB"
        )
        assert result["status"] == "copied"
        assert result["digest"] == manifest
        assert LARGE_LAYER < result["bytes_sent"] < 1.5 * LARGE_LAYER
        assert result["peak_rss"] < RSS_LIMIT
        with httpx.Client(base_url=destination.url, timeout=30) as http:
            head = http.head("/v2/mirror/app/manifests/v1", headers={"Accept": mt.OCI_MANIFEST})
            assert head.headers["docker-content-digest"] == manifest
            blob = http.head(f"/v2/mirror/app/blobs/{layer}")
            assert int(blob.headers["content-length"]) == LARGE_LAYER
    finally:
        if copier is not None and copier.poll() is None:
            copier.kill()
            copier.wait(10)
        destination.stop()
        source.stop()
