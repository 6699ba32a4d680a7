"""Large blobs stream through the server: pushed and pulled without the server's memory growing.

The test never holds a blob either: bytes come from a deterministic generator that hashes them
as it produces them, and pulls are hashed as they arrive. A sampler thread reads the server's
VmRSS (summed over the process and its children) from /proc every 50 ms throughout.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from tests.support.server import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
RSS_LIMIT = 150 * 1000 * 1000  # bytes: "150 MB"
# Growth over the idle server: what streaming is about, whatever the server's own footprint.
GROWTH_LIMIT = 64 * 1000 * 1000
SAMPLE_INTERVAL = 0.05
PIECE = 1 * MiB
POOL_SIZE = 16 * MiB
TIMEOUT = httpx.Timeout(300.0, connect=10.0)


class PatternSource:
    """`size` deterministic pseudo-random bytes in 1 MiB pieces, hashed as they are produced.

    Each piece is a slice of a 16 MiB random pool at a seeded random offset, prefixed by its
    index, so no two pieces are equal and producing them costs a memory copy, not a PRNG run.
    """

    def __init__(self, seed: int, size: int, pool: bytes) -> None:
        self.seed = seed
        self.size = size
        self._pool = pool
        self._hasher = hashlib.sha256()
        self.produced = 0

    def pieces(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes [start, end) of the stream; hashing assumes the pieces are asked in order."""
        end = self.size if end is None else end
        assert start == self.produced, "ranges must be produced in order"
        offset = start
        while offset < end:
            index, skip = divmod(offset, PIECE)
            piece = self._piece(index)[skip : skip + end - offset]
            self._hasher.update(piece)
            self.produced += len(piece)
            offset += len(piece)
            yield piece

    def _piece(self, index: int) -> bytes:
        rng = random.Random(self.seed * 1_000_003 + index)
        at = rng.randrange(len(self._pool) - PIECE)
        length = min(PIECE, self.size - index * PIECE)
        return (index.to_bytes(8, "big") + self._pool[at : at + PIECE - 8])[:length]

    @property
    def digest(self) -> str:
        assert self.produced == self.size, "the digest is known once every byte was produced"
        return f"sha256:{self._hasher.hexdigest()}"


@pytest.fixture(scope="module")
def pool() -> bytes:
    return random.Random(20240601).randbytes(POOL_SIZE)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, from the parent ids in /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, stack = [], [pid]
    while stack:
        current = stack.pop()
        tree.append(current)
        stack.extend(children.get(current, []))
    return tree


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1]) * KiB
                        break
        except OSError:
            pass  # the process ended between listing and reading
    return total


class RssSampler:
    """Peak summed VmRSS of a process tree, sampled every 50 ms while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = 0
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        self.peak = max(self.peak, rss_bytes(process_tree(self.pid)))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._sample()
        self.start = self.peak
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def check(self, what: str) -> None:
        summary = (
            f"{what}: server RSS {self.start / 1e6:.1f} MB at the start, peak "
            f"{self.peak / 1e6:.1f} MB over {self.samples} samples"
        )
        print(summary)
        assert self.samples >= 4, f"{what}: too few RSS samples ({self.samples})"
        assert self.peak < RSS_LIMIT, f"{summary}: not under {RSS_LIMIT / 1e6:.0f} MB"
        assert self.peak - self.start < GROWTH_LIMIT, (
            f"{summary}: grew by {GROWTH_LIMIT / 1e6:.0f} MB or more"
        )


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own (so no other test's work shows in its RSS), wiped afterwards."""
    data_dir = tmp_path / "data"
    started = server_factory(data_dir).start()
    try:
        yield started
    finally:
        started.stop()
        shutil.rmtree(data_dir / "blobs", ignore_errors=True)  # gigabytes: do not keep them


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
        yield http


@pytest.fixture
def repository(server: ServerProcess) -> str:
    server.create_registry("large")
    return "large/blobs"


def start_upload(client: httpx.Client, repository: str) -> str:
    response = client.post(f"/v2/{repository}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return response.headers["location"]


def pull_digest(client: httpx.Client, repository: str, digest: str, size: int) -> str:
    """GET the blob, streaming; returns the digest of what arrived (after checking its size)."""
    hasher = hashlib.sha256()
    received = 0
    with client.stream("GET", f"/v2/{repository}/blobs/{digest}") as response:
        assert response.status_code == 200, response.read()
        assert response.headers["docker-content-digest"] == digest
        assert int(response.headers["content-length"]) == size
        for chunk in response.iter_raw(PIECE):
            hasher.update(chunk)
            received += len(chunk)
    assert received == size
    return f"sha256:{hasher.hexdigest()}"


def check_stored(
    client: httpx.Client, server: ServerProcess, repository: str, digest: str, size: int
) -> None:
    head = client.head(f"/v2/{repository}/blobs/{digest}")
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == size
    hex_digest = digest.removeprefix("sha256:")
    path = server.data_dir / "blobs" / "blobs" / "sha256" / hex_digest[:2] / hex_digest
    assert path.stat().st_size == size
    assert list((server.data_dir / "blobs" / "uploads").iterdir()) == []


def measured(server: ServerProcess, what: str, action: Callable[[], None]) -> None:
    with RssSampler(server.pid) as sampler:
        action()
    sampler.check(what)


def test_two_gib_blob_streams_through(
    server: ServerProcess, client: httpx.Client, repository: str, pool: bytes
) -> None:
    """One streamed PATCH of 2 GiB, then a streamed GET, digest checked both ways."""
    size = 2 * GiB
    source = PatternSource(1, size, pool)
    pushed: dict[str, str] = {}

    def push() -> None:
        location = start_upload(client, repository)
        patch = client.patch(
            location,
            content=source.pieces(),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
        assert patch.status_code == 202, patch.text
        assert patch.headers["range"] == f"0-{size - 1}"
        done = client.put(patch.headers["location"], params={"digest": source.digest})
        assert done.status_code == 201, done.text
        assert done.headers["docker-content-digest"] == source.digest
        pushed["digest"] = source.digest

    measured(server, "2 GiB push", push)
    check_stored(client, server, repository, pushed["digest"], size)
    pulled: dict[str, str] = {}
    measured(
        server,
        "2 GiB pull",
        lambda: pulled.update(digest=pull_digest(client, repository, pushed["digest"], size)),
    )
    assert pulled["digest"] == pushed["digest"]


def test_monolithic_put_streams(
    server: ServerProcess, client: httpx.Client, repository: str, pool: bytes
) -> None:
    """POST, then the whole blob as the body of PUT ?digest= (chunked transfer encoding).

    The digest must be in the URL before the body is sent, so the bytes are produced twice:
    once to learn the digest (hashing only), once to send them.
    """
    size = 384 * MiB
    probe = PatternSource(2, size, pool)
    for _ in probe.pieces():
        pass
    source = PatternSource(2, size, pool)

    def push() -> None:
        location = start_upload(client, repository)
        done = client.put(
            location,
            params={"digest": probe.digest},
            content=source.pieces(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
        assert done.headers["docker-content-digest"] == probe.digest

    measured(server, f"{size // MiB} MiB monolithic PUT", push)
    assert source.digest == probe.digest
    check_stored(client, server, repository, probe.digest, size)
    assert pull_digest(client, repository, probe.digest, size) == probe.digest


def test_chunked_upload_streams(
    server: ServerProcess, client: httpx.Client, repository: str, pool: bytes
) -> None:
    """POST, several PATCHes with Content-Range, then PUT ?digest= without a body."""
    size = 384 * MiB
    chunk = 100 * MiB  # the last chunk is shorter
    source = PatternSource(3, size, pool)

    def push() -> None:
        location = start_upload(client, repository)
        for start in range(0, size, chunk):
            end = min(start + chunk, size)
            patch = client.patch(
                location,
                content=source.pieces(start, end),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(end - start),
                    "Content-Range": f"{start}-{end - 1}",
                },
            )
            assert patch.status_code == 202, patch.text
            assert patch.headers["range"] == f"0-{end - 1}"
            location = patch.headers["location"]
        done = client.put(location, params={"digest": source.digest})
        assert done.status_code == 201, done.text
        assert done.headers["docker-content-digest"] == source.digest

    measured(server, f"{size // MiB} MiB chunked upload", push)
    check_stored(client, server, repository, source.digest, size)
    assert pull_digest(client, repository, source.digest, size) == source.digest
