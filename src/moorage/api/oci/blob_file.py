"""A blob file on local disk as a response: a whole-body GET streams it in 1 MiB pieces.

granian (2.8) answers `http.response.pathsend` by reading the file in 128 KiB pieces on its
blocking threads and writing each on its one I/O thread, which then does all of the
transfer's per-piece work: one connection pulled about 1.8 GB/s over loopback here. Pieces of
1 MiB sent as `http.response.body` spread the work over more threads and pulled 2.7–2.9 GB/s
(docs/benchmarks.md, "Blob pulls"). A piece the page cache holds is read on the event loop
(`RWF_NOWAIT`: the read never waits for the disk), any other in a worker thread. Memory stays
bounded: one piece is read at a time, and granian's `send` returns only once its queue takes
the piece.

Everything but a whole-body GET (HEAD, `Range`) is Starlette's `FileResponse`, unchanged.
"""

from __future__ import annotations

import errno
import os

import anyio.to_thread
from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

PIECE_BYTES = 1024 * 1024
PIECED_AT_ONCE = 1
"""Whole-body GETs sent in pieces at the same time, per process. Each holds a few pieces
(the one read, the ones granian's queue holds), so twenty concurrent pulls of a large blob
held over 100 MiB more; the others are sent as before this module (granian's pathsend:
its 128 KiB reads, no Python memory). Pieces make one connection faster; with many
clients pulling, the machine's cores are busy anyway and memory is what matters."""
_RWF_NOWAIT = getattr(os, "RWF_NOWAIT", 0)
_NOWAIT_READS = _RWF_NOWAIT != 0 and hasattr(os, "preadv")  # False once the kernel refuses


class BlobFileResponse(FileResponse):
    """`FileResponse` whose whole-body GET is sent piece by piece (`send_pieces`)."""

    pieced = 0  # whole-body GETs being sent in pieces now (the event loop's thread only)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _whole_body_get(scope) or BlobFileResponse.pieced >= PIECED_AT_ONCE:
            await super().__call__(scope, receive, send)
            return
        BlobFileResponse.pieced += 1
        try:
            await self._send_pieced(send)
        finally:
            BlobFileResponse.pieced -= 1

    async def _send_pieced(self, send: Send) -> None:
        fd = await anyio.to_thread.run_sync(os.open, self.path, os.O_RDONLY)
        try:
            stat = os.fstat(fd)
            self.set_stat_headers(stat)
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await send_pieces(fd, stat.st_size, send)
        finally:
            os.close(fd)


def _read_cached(fd: int, length: int, offset: int) -> bytearray | None:
    """Up to `length` bytes at `offset` as far as the page cache holds them, or None when
    the first of them is not cached (or the kernel cannot tell): `RWF_NOWAIT` never waits
    for the disk. A 1 MiB copy from the cache costs the loop less than the thread hop it
    saves (one connection's pulls ~20% faster here, with less CPU)."""
    global _NOWAIT_READS  # learnt once per process
    if not _NOWAIT_READS:
        return None
    piece = bytearray(length)
    try:
        got = os.preadv(fd, [piece], offset, _RWF_NOWAIT)
    except BlockingIOError:
        return None
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        _NOWAIT_READS = False  # a kernel or file system without it: threads only
        return None
    if got == 0:
        return None  # the end of the file, or nothing cached: the thread's read tells
    del piece[got:]
    return piece


async def _read_waiting(fd: int, length: int, offset: int) -> bytes:
    return await anyio.to_thread.run_sync(os.pread, fd, length, offset)


def _whole_body_get(scope: Scope) -> bool:
    return scope["method"] == "GET" and not any(name == b"range" for name, _ in scope["headers"])


async def send_pieces(fd: int, size: int, send: Send) -> None:
    """Send `size` bytes of `fd` as body messages of at most `PIECE_BYTES`: read on the event
    loop while the page cache holds them, in a worker thread when the read would wait for
    the disk (which must not hold the event loop)."""
    offset = 0
    while True:
        length = min(PIECE_BYTES, size - offset)
        cached = _read_cached(fd, length, offset)
        piece = cached if cached is not None else await _read_waiting(fd, length, offset)
        offset += len(piece)
        if offset < size and not piece:
            raise OSError(f"blob file ended at {offset} of {size} bytes")
        await send({"type": "http.response.body", "body": piece, "more_body": offset < size})
        if offset >= size:
            return
