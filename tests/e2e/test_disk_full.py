"""A full disk under moorage, for real: the data directory (SQLite database and blobs) on a
small tmpfs, filled to the last byte by a file the test writes, then emptied again.

While the disk is full every write answers 503 with a retry hint and says the storage is
full — manifest PUTs and REST writes (SQLite: "database or disk is full") as well as blob
pushes (ENOSPC) — and nothing is left half written; once space returns the same requests
pass, without a restart. A small write may still fit in the space SQLite's log already
holds (its log is checkpointed and reused while the database file need not grow): it is
kept, and the writes after it fail once neither can grow.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.protocol.conftest import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    Blob,
    OciClient,
    describe,
    descriptor,
    errors,
    expect_status,
    image_config,
    image_manifest,
    location,
    random_blob,
)
from tests.support.server import ServerProcess

TMPFS_SIZE = "64m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs of the test's own, unmounted afterwards."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=False)


@contextlib.contextmanager
def disk_filled(disk: Path) -> Iterator[None]:
    """Fill the disk to the last byte; give the space back on leaving."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as out:
        for size in (len(chunk), 4096, 1):
            with pytest.raises(OSError, match="No space left"):  # noqa: PT012 - the loop's end
                while True:
                    out.write(chunk[:size])
    try:
        yield
    finally:
        os.unlink(filler)


@pytest.fixture
def server(small_disk: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(small_disk / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


def expect_full(resp: httpx.Response, store: str) -> None:
    """503, a retry hint, and a body saying `store` is full (protocol or REST form)."""
    assert resp.status_code == 503, describe(resp)
    assert int(resp.headers.get("Retry-After", "0")) > 0, describe(resp)
    if resp.request.url.path.startswith("/v2/"):
        text = " ".join(e.message for e in errors(resp) if e.code == "UNAVAILABLE")
    else:
        assert resp.headers["content-type"].startswith("application/problem+json")
        text = resp.json()["detail"]
    assert f"{store} is full" in text, describe(resp)


def registries_until_full(http: httpx.Client, prefix: str) -> tuple[list[str], str]:
    """Registries created until the database is full: those created, and the refused one."""
    created: list[str] = []
    for number in range(500):
        name = f"{prefix}-{number}"
        resp = http.post("/api/v1/registries", json={"name": name})
        if resp.status_code != 201:
            expect_full(resp, "database")
            return created, name
        created.append(name)
    pytest.fail("500 registries created on a full disk")


def test_a_full_disk_answers_503_and_recovers(server: ServerProcess, small_disk: Path) -> None:
    registry = f"full{uuid.uuid4().hex[:8]}"
    server.create_registry(registry)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        oci = OciClient(http, f"{registry}/app")
        config = oci.push_blob(image_config("disk full"))
        layer = oci.push_blob(random_blob(1024))
        parts = (descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER_GZIP, layer)])
        manifest = image_manifest(*parts, annotations={"pad": "x" * (1 << 20)})
        payload = Blob(os.urandom(256 * 1024))

        started = expect_status(oci.start_upload(), 202)

        with disk_filled(small_disk):
            expect_full(oci.put_manifest("v1", manifest), "database")
            created, refused = registries_until_full(http, f"{registry}-b")
            upload = oci.put_upload(location(started), payload.digest, payload.content)
            expect_full(upload, "blob storage")
            # Nothing was half written.
            expect_status(oci.get_manifest("v1"), 404)
            expect_status(oci.get_manifest(manifest.digest), 404)
            expect_status(oci.head_blob(payload.digest), 404)
            expect_status(http.get(f"/api/v1/registries/{refused}"), 404)
            for name in created:
                expect_status(http.get(f"/api/v1/registries/{name}"), 200)

        # Space is back: the same requests pass, with no restart.
        expect_status(oci.put_manifest("v1", manifest), 201)
        assert expect_status(oci.get_manifest("v1"), 200).content == manifest.content
        expect_status(http.post("/api/v1/registries", json={"name": refused}), 201)
        oci.push_blob(payload)
    assert "Traceback" not in server.log()
