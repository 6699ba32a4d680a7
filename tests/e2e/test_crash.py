"""Crashes (SIGKILL of the whole server) and failed uploads leave consistent, usable state.

What the server records, and so what a restart finds:
- an upload session is written at POST with 0 bytes, and its size is updated only when a
  PATCH (or the body of a PUT) has been received completely; a PATCH cut off by a crash
  leaves the recorded size where it was, whatever part of the body reached the disk;
- a blob reaches its key only by renaming a complete, fsynced upload file at PUT;
- a manifest PUT answers 201 after its metadata transaction committed.

Every test runs its own server on its own data directory and restarts it there; the
digest-mismatch cases, which each leave the data directory empty, share one.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
OCTET = "application/octet-stream"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
REGISTRY = "crash"
REPOSITORY = f"{REGISTRY}/image"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


class Node:
    """A data directory and the server currently running on it (restarted on a new port)."""

    def __init__(self, factory: type[ServerProcess], data_dir: Path) -> None:
        self.factory = factory
        self.data_dir = data_dir
        self.server = factory(data_dir).start()
        self.server.create_registry(REGISTRY)
        self.client = httpx.Client(base_url=self.server.url, timeout=TIMEOUT)

    def crash_and_restart(self) -> None:
        self.server.kill()
        self.client.close()
        self.server = self.factory(self.data_dir).start()
        self.client = httpx.Client(base_url=self.server.url, timeout=TIMEOUT)

    def close(self) -> None:
        self.client.close()
        self.server.stop()

    # what is on disk -----------------------------------------------------------------------

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "blobs" / "uploads"

    def upload_files(self) -> list[Path]:
        return sorted(self.uploads_dir.iterdir())

    def blob_path(self, digest: str) -> Path:
        hex_digest = digest.removeprefix("sha256:")
        return self.data_dir / "blobs" / "blobs" / "sha256" / hex_digest[:2] / hex_digest

    def stored_blobs(self) -> list[Path]:
        return sorted(p for p in (self.data_dir / "blobs" / "blobs").rglob("*") if p.is_file())

    def recorded_uploads(self) -> int:
        """Upload sessions in the metadata database (SQLite, read-only)."""
        db = sqlite3.connect(f"file:{self.data_dir / 'moorage.db'}?mode=ro", uri=True)
        try:
            (count,) = db.execute("SELECT count(*) FROM upload_session").fetchone()
        finally:
            db.close()
        return int(count)

    # protocol ------------------------------------------------------------------------------

    def start_upload(self) -> str:
        response = self.client.post(f"/v2/{REPOSITORY}/blobs/uploads/")
        assert response.status_code == 202, response.text
        return response.headers["location"]

    def patch(self, location: str, data: bytes, start: int) -> str:
        response = self.client.patch(
            location,
            content=data,
            headers={"Content-Type": OCTET, "Content-Range": f"{start}-{start + len(data) - 1}"},
        )
        assert response.status_code == 202, response.text
        assert response.headers["range"] == f"0-{start + len(data) - 1}"
        return response.headers["location"]

    def finish(self, location: str, digest: str, data: bytes | None = None) -> httpx.Response:
        headers = {"Content-Type": OCTET} if data is not None else {}
        return self.client.put(location, params={"digest": digest}, content=data, headers=headers)

    def push_blob(self, data: bytes) -> str:
        digest = sha256(data)
        response = self.finish(self.start_upload(), digest, data)
        assert response.status_code == 201, response.text
        return digest

    def assert_blob(self, digest: str, size: int) -> None:
        """Readable by HEAD and GET, with exactly these bytes, and stored at its key."""
        head = self.client.head(f"/v2/{REPOSITORY}/blobs/{digest}")
        assert head.status_code == 200
        assert int(head.headers["content-length"]) == size
        response = self.client.get(f"/v2/{REPOSITORY}/blobs/{digest}")
        assert response.status_code == 200
        assert response.headers["docker-content-digest"] == digest
        assert len(response.content) == size
        assert sha256(response.content) == digest
        assert self.blob_path(digest).stat().st_size == size

    def assert_no_blob(self, digest: str) -> None:
        assert self.client.head(f"/v2/{REPOSITORY}/blobs/{digest}").status_code == 404
        assert not self.blob_path(digest).exists()


@pytest.fixture
def node(server_factory: type[ServerProcess], tmp_path: Path) -> Iterator[Node]:
    started = Node(server_factory, tmp_path / "data")
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="module")
def clean_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One node for the digest-mismatch cases: each must leave no blob, upload file or
    session behind (it asserts so), so each still starts from an empty data directory."""
    started = Node(ServerProcess, tmp_path_factory.mktemp("mismatch") / "data")
    try:
        yield started
    finally:
        started.close()


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


# (a) ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("start_over", ["same-session", "new-session"])
def test_kill_during_streamed_patch(node: Node, start_over: str) -> None:
    """SIGKILL while the client is still sending a PATCH body; restart on the same data."""
    data = random_bytes(1, 64 * MiB)
    digest = sha256(data)
    cut_at = 16 * MiB
    location = node.start_upload()
    upload_id = location.rsplit("/", 1)[1]
    partway = threading.Event()
    killed = threading.Event()
    outcome: list[BaseException | httpx.Response] = []

    def body() -> Iterator[bytes]:
        for offset in range(0, len(data), MiB):
            if offset == cut_at:
                partway.set()
                killed.wait(60)  # hold the request open, mid-body, until the server is gone
            yield data[offset : offset + MiB]

    def send() -> None:
        try:
            outcome.append(
                node.client.patch(
                    location,
                    content=body(),
                    headers={"Content-Type": OCTET, "Content-Length": str(len(data))},
                )
            )
        except httpx.HTTPError as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send, name="patch-sender")
    sender.start()
    try:
        assert partway.wait(60), "the client never got partway through the body"
        # The server has been writing the body as it arrives: part of it is on disk.
        wait_until(
            lambda: any(p.stat().st_size >= 4 * MiB for p in node.upload_files()),
            "the server wrote part of the body to its upload file",
        )
        assert len(node.upload_files()) == 1
        node.server.kill()
    finally:
        killed.set()
        sender.join(60)
    assert not sender.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], httpx.TransportError), outcome[0]

    node.crash_and_restart()  # already dead: this only starts it again
    node.assert_no_blob(digest)
    status = node.client.get(location)
    # The session was recorded at POST (0 bytes); the cut-off PATCH never updated it.
    assert status.status_code == 204
    assert status.headers["range"] == "0-0"
    assert status.headers["docker-upload-uuid"] == upload_id
    assert status.headers["location"] == location
    assert status.content == b""

    if start_over == "same-session":
        # The recorded state says 0 bytes: send everything again from offset 0.
        location = node.patch(location, data, 0)
        done = node.finish(location, digest)
    else:
        done = node.finish(node.start_upload(), digest, data)
    assert done.status_code == 201, done.text
    assert done.headers["docker-content-digest"] == digest
    node.assert_blob(digest, len(data))
    if start_over == "same-session":
        assert node.upload_files() == []
        assert node.recorded_uploads() == 0


# (b) ------------------------------------------------------------------------------------------


def test_chunked_upload_resumes_after_restart(node: Node) -> None:
    """2 of 4 chunks, SIGKILL, restart: the status reports them and the upload completes."""
    chunk = 4 * MiB
    data = random_bytes(2, 4 * chunk)
    digest = sha256(data)
    location = node.start_upload()
    for start in (0, chunk):
        location = node.patch(location, data[start : start + chunk], start)

    node.crash_and_restart()
    status = node.client.get(location)
    assert status.status_code == 204
    assert status.headers["range"] == f"0-{2 * chunk - 1}"
    assert status.headers["location"] == location
    node.assert_no_blob(digest)
    # The sha256 state of the first chunks died with the process: the server must read the
    # upload back to verify the digest.
    for start in (2 * chunk, 3 * chunk):
        location = node.patch(location, data[start : start + chunk], start)
    done = node.finish(location, digest)
    assert done.status_code == 201, done.text
    assert done.headers["docker-content-digest"] == digest
    node.assert_blob(digest, len(data))
    assert node.upload_files() == []
    assert node.recorded_uploads() == 0


# (c) ------------------------------------------------------------------------------------------


def test_acknowledged_manifest_survives_kill(node: Node) -> None:
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    layer = random_bytes(3, 64 * 1024)
    config_digest, layer_digest = node.push_blob(config), node.push_blob(layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
        }
    ).encode()
    digest = sha256(manifest)
    put = node.client.put(
        f"/v2/{REPOSITORY}/manifests/v1",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 201, put.text
    node.server.kill()  # right after the acknowledgement, no graceful shutdown

    node.crash_and_restart()
    for reference in ("v1", digest):
        got = node.client.get(
            f"/v2/{REPOSITORY}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}
        )
        assert got.status_code == 200, got.text
        assert got.content == manifest
        assert got.headers["docker-content-digest"] == digest
    tags = node.client.get(f"/v2/{REPOSITORY}/tags/list")
    assert tags.status_code == 200
    assert tags.json()["tags"] == ["v1"]
    node.assert_blob(config_digest, len(config))
    node.assert_blob(layer_digest, len(layer))


# (d) ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "style", ["patch-then-put", "put-with-body", "post-with-digest", "put-after-restart"]
)
def test_digest_mismatch_leaves_nothing(clean_node: Node, style: str) -> None:
    """A digest that does not match the bytes: 400, and no blob, upload file or session left."""
    node = clean_node
    assert node.stored_blobs() == node.upload_files() == [], "not an empty data directory"
    assert node.recorded_uploads() == 0
    data = random_bytes(4, 3 * MiB + 17)
    actual = sha256(data)
    claimed = sha256(b"something else")
    location: str | None = None
    if style == "post-with-digest":
        response = node.client.post(
            f"/v2/{REPOSITORY}/blobs/uploads/",
            params={"digest": claimed},
            content=data,
            headers={"Content-Type": OCTET},
        )
    elif style == "put-with-body":
        location = node.start_upload()
        response = node.finish(location, claimed, data)
    else:
        location = node.patch(node.start_upload(), data, 0)
        if style == "put-after-restart":
            node.crash_and_restart()  # so the digest can only be checked by reading the bytes
        response = node.finish(location, claimed)

    assert response.status_code == 400, response.text
    assert error_code(response) == "DIGEST_INVALID"
    node.assert_no_blob(claimed)
    node.assert_no_blob(actual)
    assert node.stored_blobs() == []
    assert node.upload_files() == []
    assert node.recorded_uploads() == 0
    if location is not None:
        gone = node.client.get(location)
        assert gone.status_code == 404
        assert error_code(gone) == "BLOB_UPLOAD_UNKNOWN"
