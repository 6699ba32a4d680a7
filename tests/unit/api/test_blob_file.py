"""A blob file as a response (moorage.api.oci.blob_file): exact bytes, bounded pieces."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import pytest

from moorage.api.oci import blob_file as blob_file_module
from moorage.api.oci.blob_file import PIECE_BYTES, BlobFileResponse

DIGEST = "sha256:" + "ab" * 32


def blob_file(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    content = os.urandom(size)
    path = tmp_path / "data"
    path.write_bytes(content)
    return path, content


def call(path: Path, *, method: str = "GET", headers: dict[str, str] | None = None) -> list[Any]:
    """The messages the response sends, for a request of `method` with `headers`; the server
    advertises pathsend, as granian does."""
    scope = {
        "type": "http",
        "method": method,
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "extensions": {"http.response.pathsend": {}},
        "asgi": {"version": "3.0", "spec_version": "2.3"},
    }
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)  # the client never disconnects
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    response = BlobFileResponse(
        path, headers={"Docker-Content-Digest": DIGEST, "ETag": f'"{DIGEST}"'}
    )
    asyncio.run(response(scope, receive, send))
    return sent


def start_headers(messages: list[Any]) -> dict[str, str]:
    assert messages[0]["type"] == "http.response.start"
    return {k.decode(): v.decode() for k, v in messages[0]["headers"]}


def body(messages: list[Any]) -> bytes:
    pieces = messages[1:]
    assert all(m["type"] == "http.response.body" for m in pieces)
    assert [m.get("more_body", False) for m in pieces] == [True] * (len(pieces) - 1) + [False]
    return b"".join(m["body"] for m in pieces)


@pytest.mark.parametrize("size", [0, 1, PIECE_BYTES - 1, PIECE_BYTES, 3 * PIECE_BYTES + 17])
def test_a_whole_get_sends_the_exact_bytes_in_pieces_of_at_most_one_piece_size(
    tmp_path: Path, size: int
) -> None:
    path, content = blob_file(tmp_path, size)
    messages = call(path)
    headers = start_headers(messages)
    assert messages[0]["status"] == 200
    assert headers["content-length"] == str(size)
    assert headers["docker-content-digest"] == DIGEST
    assert headers["etag"] == f'"{DIGEST}"'  # moorage's, not Starlette's stat-based one
    assert body(messages) == content
    # Memory is bounded by the piece: never the whole blob in one message.
    assert all(len(m["body"]) <= PIECE_BYTES for m in messages[1:])
    assert not any(m["type"] == "http.response.pathsend" for m in messages)


def test_a_ranged_get_sends_exactly_the_range(tmp_path: Path) -> None:
    path, content = blob_file(tmp_path, 2 * PIECE_BYTES + 5)
    start, end = PIECE_BYTES - 10, PIECE_BYTES + 9
    messages = call(path, headers={"Range": f"bytes={start}-{end}"})
    headers = start_headers(messages)
    assert messages[0]["status"] == 206
    assert headers["content-range"] == f"bytes {start}-{end}/{len(content)}"
    assert headers["content-length"] == "20"
    assert body(messages) == content[start : end + 1]


def test_a_range_past_the_end_is_not_satisfiable(tmp_path: Path) -> None:
    path, _ = blob_file(tmp_path, 100)
    messages = call(path, headers={"Range": "bytes=200-300"})
    assert messages[0]["status"] == 416
    assert start_headers(messages)["content-range"] == "bytes */100"


def test_head_sends_the_headers_and_no_body(tmp_path: Path) -> None:
    path, _ = blob_file(tmp_path, 1000)
    messages = call(path, method="HEAD")
    assert start_headers(messages)["content-length"] == "1000"
    assert b"".join(m.get("body", b"") for m in messages[1:]) == b""


def test_pieces_the_page_cache_holds_are_read_without_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, content = blob_file(tmp_path, 2 * PIECE_BYTES + 7)
    waited: list[int] = []
    read_waiting = blob_file_module._read_waiting

    async def counted(fd: int, length: int, offset: int) -> bytes:
        waited.append(offset)
        return await read_waiting(fd, length, offset)

    monkeypatch.setattr(blob_file_module, "_read_waiting", counted)
    assert body(call(path)) == content  # just written: every piece is in the page cache
    assert waited == []


@pytest.mark.parametrize(
    "refusal",
    [BlockingIOError(errno.EAGAIN, "would block"), OSError(errno.EOPNOTSUPP, "unsupported")],
)
def test_a_read_that_would_wait_goes_to_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: OSError
) -> None:
    path, content = blob_file(tmp_path, PIECE_BYTES + 3)

    def refuse(*args: object) -> int:
        raise refusal

    monkeypatch.setattr(blob_file_module.os, "preadv", refuse)
    monkeypatch.setattr(blob_file_module, "_NOWAIT_READS", True)
    assert body(call(path)) == content
    # A kernel or file system without RWF_NOWAIT is not asked again.
    assert blob_file_module._NOWAIT_READS is (refusal.errno == errno.EAGAIN)


def test_cached_reads_stop_short_at_the_end_of_the_file(tmp_path: Path) -> None:
    path, content = blob_file(tmp_path, 100)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert blob_file_module._read_cached(fd, 60, 50) == content[50:]
        assert blob_file_module._read_cached(fd, 10, 100) is None  # the thread's read tells
    finally:
        os.close(fd)
