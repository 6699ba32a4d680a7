"""The local filesystem driver.

Committed blobs live at `root/<key>` (see `layout`); unfinished uploads at
`root/uploads/<upload id>`, one file each. A blob only ever reaches its key by `rename(2)` of a
complete, fsynced upload file, so a crash (SIGKILL, power loss) at any point leaves either
the whole blob at its key or nothing there. `root/uploads` and the blobs must therefore be on
one filesystem (a cross-device rename fails with a StorageError).

Only one request writes to an upload at a time: the metadata store's claim says so across
nodes, and an exclusive `flock(2)` on the upload file, held while appending or sealing, makes
it impossible on this node even for a request whose claim lapsed (the lock dies with its
process, so a crash never leaves it held). A second writer gets UploadLocked.

A commit renames the upload over whatever the key holds: the caller commits only verified
bytes, so a crash's leftover or bytes found wrong are replaced, never kept.

Appends write through as they stream and do not fsync: a process crash loses nothing the
kernel has, and `commit` fsyncs before the rename. After a power loss an upload may be
shorter than its recorded size; the next append or commit then fails with a StorageError
rather than producing a blob with a hole. A large body is hashed and written in pieces of
about 1 MiB in worker threads while the event loop receives the next, never more than two
pieces ahead, whatever the blob's size.

Those pieces go around the page cache (`O_DIRECT`): an upload is written once and read, if
ever, after it is sealed, so the page cache's copy, its write-back and the memory it fills
cost more than they give (on a virtual machine the write-back path ran at a fifth of the
disk's direct rate: 420 against 1,900 MB/s, 8 x 64 MiB, each fsynced). Direct writes need
aligned buffers, offsets and lengths, so the chunks are copied into an aligned buffer and
written a buffer at a time; an append that ends mid-block writes its last block padded and
cuts the file back to the true size, and the next append reads that block back first. Where
the file system refuses `O_DIRECT` (tmpfs, some network and FUSE file systems) the same
pieces go through the page cache, each handed to the disk as it is written
(`sync_file_range`) so the fsync at commit has little left to wait for. A small body (under
INLINE_WRITE) is written through the page cache on the event loop.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import stat
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from functools import cache, partial
from pathlib import Path

import anyio
from anyio import to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from moorage.domain.content.ports import BlobInfo, Hasher, StoredObject, UploadLeftover
from moorage.domain.kernel.errors import UploadLocked
from moorage.domain.kernel.model import DriverState
from moorage.storage.driver import (
    CHUNK_SIZE,
    ContentAddressed,
    StorageError,
    UploadState,
    check_blob_key,
    check_keys,
    check_prefix,
    check_range,
    is_upload_id,
    new_upload_id,
    os_failure,
    utc_from_ns,
)
from moorage.storage.layout import BLOBS_DIR, UPLOADS_DIR

INLINE_WRITE = 256 * 1024
INLINE_READ = 256 * 1024
"""Smaller writes and whole reads run on the event loop: from the page cache they cost less
than a thread hop."""
PIECE_SIZE = CHUNK_SIZE
"""Appended chunks are coalesced into writes of about this size (one thread call each)."""
PIECE_BUFFERS = 256
"""At most this many chunks per write (well under IOV_MAX), however small the chunks."""
DIRECT_ALIGN = 4096
"""Direct writes start at, and are sized in, multiples of this from a buffer aligned to it:
the largest logical block size in common use (a device asking for more refuses with EINVAL,
and the upload falls back to the page cache)."""
STAGING_SIZE = PIECE_SIZE
"""The aligned buffer direct writes go through: one write each time it fills (1 MiB writes
ran faster here than 4 MiB ones)."""
STAGING_KEPT = 4
"""Staging buffers kept for the next uploads rather than unmapped (fresh pages cost a fault
each on first touch)."""
DELETE_CHUNK = 500
"""Files one worker thread unlinks per call in `delete_many`."""
DELETE_THREADS = 4
"""Worker threads `delete_many` keeps busy at once (more only queue on a local disk)."""


class FilesystemBlobStore(ContentAddressed):
    """Blobs as files under root; see the module docstring for the crash-safety rules."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root).absolute()
        self._uploads = self._root / UPLOADS_DIR
        # Construction happens once at startup, so blocking here is fine.
        self._uploads.mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        return self._root

    # -- committed blobs -------------------------------------------------------------------

    async def stat(self, key: str) -> BlobInfo | None:
        return await to_thread.run_sync(_stat_file, self._path(key))

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        check_range(offset, length)
        path = self._path(key)
        if length is not None and length <= INLINE_READ:
            # A small read (an image config a manifest push reads for its platform) costs
            # less than the two thread hops of the general path, as small writes do.
            if data := _read_small(path, key, offset, length):
                yield data
            return
        fd = await to_thread.run_sync(_open_regular, path)
        if fd is None:
            raise KeyError(key)
        try:
            async for chunk in _pread_chunks(fd, offset, length):
                yield chunk
        finally:
            os.close(fd)

    def local_path(self, key: str) -> str | None:
        """Where the blob's file is (or would be); the caller checks existence with `stat`."""
        return str(self._path(key))

    async def redirect_url(self, key: str, *, private: bool) -> str | None:
        check_blob_key(key)
        return None

    async def delete(self, key: str) -> None:
        await to_thread.run_sync(_unlink_quietly, self._path(key))

    async def delete_many(self, keys: Sequence[str]) -> list[str]:
        checked = check_keys(keys)
        failed: list[str] = []
        limit = anyio.Semaphore(DELETE_THREADS)

        async def unlink_chunk(chunk: list[str]) -> None:
            async with limit:
                paths = [self._root / key for key in chunk]
                failed_paths = await to_thread.run_sync(_unlink_all, paths)
            failed.extend(str(path.relative_to(self._root)) for path in failed_paths)

        async with anyio.create_task_group() as tasks:
            for start in range(0, len(checked), DELETE_CHUNK):
                tasks.start_soon(unlink_chunk, checked[start : start + DELETE_CHUNK])
        return failed

    async def list_blobs(self) -> AsyncIterator[StoredObject]:
        async for found in self._list_files(BLOBS_DIR):
            yield found

    async def walk(self, prefix: str) -> AsyncIterator[str]:
        check_prefix(prefix)
        start = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        async for key in self._walk_dir(start, prefix):
            yield key

    # -- uploads ---------------------------------------------------------------------------

    async def begin_upload(self) -> DriverState:
        """Nothing on disk yet: the upload's file is created by its first append (or by
        its commit, when it stays empty), so starting an upload costs no file system call."""
        return UploadState(new_upload_id(), 0).dump()

    async def append(
        self, state: DriverState, chunks: AsyncIterator[bytes], hasher: Hasher | None = None
    ) -> tuple[int, DriverState]:
        upload = UploadState.load(state)
        path = self._uploads / upload.upload_id
        fd = _open_upload_at(path, upload.size)  # open + truncate: microseconds, no thread
        try:
            size = await _write_chunks(fd, upload.size, chunks, hasher)
        except BaseException:
            # Keep the file equal to the recorded state; the next append would truncate
            # anyway, this just frees the space early.
            with suppress(OSError):
                os.ftruncate(fd, upload.size)
            raise
        finally:
            os.close(fd)
        return size, UploadState(upload.upload_id, size).dump()

    async def read_upload(self, state: DriverState) -> AsyncIterator[bytes]:
        upload = UploadState.load(state)
        fd = await to_thread.run_sync(_open_regular, self._uploads / upload.upload_id)
        if fd is None:
            if upload.size == 0:  # never written to: no file yet
                return
            raise StorageError(f"upload {upload.upload_id} does not exist")
        try:
            async for chunk in _pread_chunks(fd, 0, upload.size):
                yield chunk
        finally:
            os.close(fd)

    async def commit(self, state: DriverState, key: str) -> None:
        target = self._path(key)
        upload = UploadState.load(state)
        await to_thread.run_sync(self._commit_sync, upload, target)

    async def put(self, key: str, data: bytes) -> None:
        """Write, fsync and rename into place in one worker-thread call (a commit takes the
        same steps, after the appends and in more calls). A crash part way leaves at most a
        file under uploads/, discarded as a leftover."""
        target = self._path(key)
        await to_thread.run_sync(self._put_sync, data, target)

    async def abort(self, state: DriverState) -> None:
        upload = UploadState.load(state)
        path = self._uploads / upload.upload_id
        if upload.size <= INLINE_WRITE:  # unlinking a small file frees next to nothing
            _unlink_quietly(path)
            return
        await to_thread.run_sync(_unlink_quietly, path)

    async def upload_leftovers(self, started_before: datetime) -> AsyncIterator[UploadLeftover]:
        """Upload files not written since the cutoff; their ref is the file name."""
        files, _directories = await to_thread.run_sync(_scan_dir, self._uploads)
        for name, size, modified in files:
            if is_upload_id(name) and modified < started_before:
                yield UploadLeftover(ref=name, size=size, started=modified)

    async def discard_leftover(self, leftover: UploadLeftover) -> None:
        if not is_upload_id(leftover.ref):
            raise ValueError(f"not an upload leftover of this store: {leftover.ref[:80]!r}")
        await to_thread.run_sync(_unlink_if_idle, self._uploads / leftover.ref, leftover.started)

    # -- internals -------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self._root / check_blob_key(key)

    def _commit_sync(self, upload: UploadState, target: Path) -> None:
        source = self._uploads / upload.upload_id
        if upload.size and _stat_file(source) is None and _stat_file(target) is not None:
            return  # a retried commit that already succeeded
        try:
            _seal(source, upload)
            self._rename_into_place(source, target)
        except OSError as exc:
            raise os_failure(f"cannot commit upload {upload.upload_id}", exc) from exc

    def _put_sync(self, data: bytes, target: Path) -> None:
        source = self._uploads / new_upload_id()
        try:
            fd = os.open(source, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                _pwrite_all(fd, data, 0)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._rename_into_place(source, target)
        except OSError as exc:
            _unlink_quietly(source)
            raise os_failure(f"cannot store {target.name}", exc) from exc

    def _rename_into_place(self, source: Path, target: Path) -> None:
        """Rename a flushed file to target, the new directory entry flushed too."""
        self._make_dirs(target.parent)
        os.rename(source, target)
        _fsync_dir(target.parent)

    def _make_dirs(self, directory: Path) -> None:
        """mkdir -p, fsyncing each new directory's parent so the new entry survives a crash."""
        missing: list[Path] = []
        while directory != self._root and not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for path in reversed(missing):
            with suppress(FileExistsError):  # a concurrent commit made it first
                path.mkdir()
            _fsync_dir(path.parent)

    async def _list_files(self, relative: str) -> AsyncIterator[StoredObject]:
        """Every regular file under root/relative, one directory per worker-thread call."""
        files, directories = await to_thread.run_sync(_scan_dir, self._root / relative)
        for name, size, modified in files:
            yield StoredObject(f"{relative}/{name}", size, modified)
        for name in directories:
            async for found in self._list_files(f"{relative}/{name}"):
                yield found

    async def _walk_dir(self, relative: str, prefix: str) -> AsyncIterator[str]:
        entries = await to_thread.run_sync(_list_dir, self._root / relative)
        for name, is_dir in entries:
            if not relative and name == UPLOADS_DIR:
                continue
            child = f"{relative}/{name}" if relative else name
            if not is_dir:
                if child.startswith(prefix):
                    yield child
            elif prefix.startswith(f"{child}/") or f"{child}/".startswith(prefix):
                async for key in self._walk_dir(child, prefix):
                    yield key


class _Piece:
    """Chunks coalesced for one write: their bytes are never copied (`os.pwritev`)."""

    __slots__ = ("buffers", "size")

    def __init__(self) -> None:
        self.buffers: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.buffers.append(chunk)
        self.size += len(chunk)

    @property
    def full(self) -> bool:
        return self.size >= PIECE_SIZE or len(self.buffers) >= PIECE_BUFFERS


async def _pieces(chunks: AsyncIterator[bytes]) -> AsyncGenerator[_Piece, None]:
    """The chunks in pieces of at least PIECE_SIZE bytes (the last one may be smaller)."""
    piece = _Piece()
    async for chunk in chunks:
        piece.add(chunk)
        if piece.full:
            yield piece
            piece = _Piece()
    if piece.size:
        yield piece


async def _write_chunks(
    fd: int, offset: int, chunks: AsyncIterator[bytes], hasher: Hasher | None
) -> int:
    """Write every chunk at offset onward, fed to `hasher` in order; returns the new end.

    A body smaller than INLINE_WRITE is hashed and written on the event loop (a thread hop
    would cost more). A larger one is pipelined: a worker thread hashes and writes one
    piece (hashlib and pwritev let go of the GIL) while the event loop receives the next,
    so at most two pieces are held at once, whatever the body's size."""
    pieces = _pieces(chunks)
    try:
        first = await anext(pieces, None)
        if first is None:
            return offset
        if first.size < INLINE_WRITE:
            if hasher is not None:
                _hash_piece(hasher, first)
            offset = _write_piece(fd, first, offset)
            first = await anext(pieces, None)
            if first is None:
                return offset
        return await _write_pipelined(fd, offset, first, pieces, hasher)
    finally:
        await pieces.aclose()


async def _write_pipelined(
    fd: int, offset: int, first: _Piece, pieces: AsyncIterator[_Piece], hasher: Hasher | None
) -> int:
    """`first` and every further piece, written (and hashed, in another worker thread at the
    same time) while the caller's task receives the next one."""
    writer: _Writer | _DirectWriter
    writer = _DirectWriter(fd, offset) if _direct_writes(fd) else _Writer(fd, offset)
    try:
        workers: list[Callable[[_Piece], None]] = [writer]
        if hasher is not None:
            workers.append(partial(_hash_piece, hasher))
        await _pipeline(first, pieces, workers)
        await to_thread.run_sync(writer.finish)
    finally:
        writer.close()
    return writer.end


async def _pipeline(
    first: _Piece, pieces: AsyncIterator[_Piece], workers: list[Callable[[_Piece], None]]
) -> None:
    """Every piece to each worker in turn, each worker in a worker thread of its own, while
    this task receives the next piece: at most one piece per worker plus the one being
    received are held. Nothing runs when this returns or raises (a thread call is waited for
    even when cancelled), so the caller may close or truncate what the workers wrote to."""
    streams = [anyio.create_memory_object_stream[_Piece](0) for _ in workers]
    senders = [send for send, _receive in streams]
    try:
        with _one_error():
            async with anyio.create_task_group() as tasks:
                for (_send, receive), work in zip(streams, workers, strict=True):
                    tasks.start_soon(_work_through, receive, work)
                try:
                    await _hand_out(first, senders)
                    async for piece in pieces:
                        await _hand_out(piece, senders)
                finally:
                    for send in senders:
                        send.close()
    finally:
        for _send, receive in streams:  # only now: a failed worker's stays open till here
            receive.close()


async def _hand_out(piece: _Piece, senders: list[MemoryObjectSendStream[_Piece]]) -> None:
    for send in senders:
        await send.send(piece)


async def _work_through(
    receive: MemoryObjectReceiveStream[_Piece], work: Callable[[_Piece], None]
) -> None:
    async for piece in receive:  # until the sender is closed
        await to_thread.run_sync(work, piece)


class _Writer:
    """Writes pieces one after another from `end` on, through the page cache."""

    __slots__ = ("end", "fd")

    def __init__(self, fd: int, offset: int) -> None:
        self.fd = fd
        self.end = offset

    def __call__(self, piece: _Piece) -> None:
        start = self.end
        self.end = _write_piece(self.fd, piece, start)
        if start_writeback := _writeback():
            start_writeback(self.fd, start, self.end - start)

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


class _DirectWriter:
    """Writes pieces from `end` on around the page cache: the chunks are copied into an
    aligned staging buffer, written whole each time it fills. `finish` writes what is left
    (its last block padded, the file then cut back to `end`); `close` gives the buffer back.

    The buffer always holds the file's bytes from `base` (aligned) on: an append that starts
    mid-block first reads that block's written part back into it (in the worker thread, with
    the first piece: a read may wait for the disk)."""

    __slots__ = ("base", "buffer", "fd", "fill", "head_read", "view")

    def __init__(self, fd: int, offset: int) -> None:
        self.fd = fd
        self.base = offset - offset % DIRECT_ALIGN
        self.fill = offset - self.base
        self.head_read = not self.fill
        self.buffer = _take_staging()
        self.view = memoryview(self.buffer)

    @property
    def end(self) -> int:
        return self.base + self.fill

    def __call__(self, piece: _Piece) -> None:
        if not self.head_read:
            self._read_head()
        for chunk in piece.buffers:
            self._stage(memoryview(chunk))

    def finish(self) -> None:
        if not self.fill or not self.head_read:
            return
        padded = -(-self.fill // DIRECT_ALIGN) * DIRECT_ALIGN
        self.view[self.fill : padded] = bytes(padded - self.fill)
        _write_aligned(self.fd, self.view[:padded], self.base)
        try:
            os.ftruncate(self.fd, self.end)
        except OSError as exc:
            raise os_failure("cannot write upload", exc) from exc

    def close(self) -> None:
        self.view.release()
        _give_back_staging(self.buffer)

    def _stage(self, chunk: memoryview) -> None:
        size = len(self.buffer)
        while chunk:
            taken = min(size - self.fill, len(chunk))
            self.view[self.fill : self.fill + taken] = chunk[:taken]
            self.fill += taken
            chunk = chunk[taken:]
            if self.fill == size:
                _write_aligned(self.fd, self.view, self.base)
                self.base += size
                self.fill = 0

    def _read_head(self) -> None:
        """The block at `base`, as far as the file has it (`fill` bytes), into the buffer,
        so the block is rewritten whole."""
        block = [self.view[:DIRECT_ALIGN]]
        try:
            try:
                got = os.preadv(self.fd, block, self.base)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                _leave_direct(self.fd)
                got = os.preadv(self.fd, block, self.base)
        except OSError as exc:
            raise os_failure("cannot read upload", exc) from exc
        if got < self.fill:
            raise StorageError(f"upload holds {self.base + got} bytes, state says {self.end}")
        self.head_read = True


def _direct_writes(fd: int) -> bool:
    """Turn on O_DIRECT for fd; False where the file system refuses it (or has refused a
    direct write before)."""
    if not _DIRECT_WRITES:
        return False
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT)
    except OSError:
        return False
    return True


_DIRECT_WRITES = hasattr(os, "O_DIRECT")
"""Cleared once a direct read or write is refused (EINVAL: a device with larger blocks than
DIRECT_ALIGN, a file system without direct I/O): every later upload then goes through the
page cache."""


def _write_aligned(fd: int, view: memoryview, offset: int) -> None:
    """A direct write of an aligned buffer; where the file system refuses it (EINVAL), the
    descriptor leaves direct mode and the same bytes go through the page cache."""
    try:
        written = os.pwrite(fd, view, offset)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise os_failure("cannot write upload", exc) from exc
        _leave_direct(fd)
        written = 0
    if written < len(view):  # short (a signal, a file size limit) or refused: the rest,
        _buffered(fd)  # unaligned now, through the page cache
        _pwrite_all(fd, view[written:], offset + written)


def _leave_direct(fd: int) -> None:
    """After a refused direct read or write: this descriptor and every later upload go
    through the page cache."""
    global _DIRECT_WRITES
    _DIRECT_WRITES = False
    _buffered(fd)


def _buffered(fd: int) -> None:
    """This descriptor's reads and writes through the page cache from now on."""
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)


_staging_kept: list[mmap.mmap] = []
_staging_lock = threading.Lock()


def _take_staging() -> mmap.mmap:
    with _staging_lock:
        if _staging_kept:
            return _staging_kept.pop()
    return mmap.mmap(-1, STAGING_SIZE)  # anonymous: page-aligned, as direct writes need


def _give_back_staging(buffer: mmap.mmap) -> None:
    with _staging_lock:
        if len(_staging_kept) < STAGING_KEPT:
            _staging_kept.append(buffer)
            return
    with suppress(BufferError):  # a view still held (by a traceback): unmapped with it
        buffer.close()


@cache
def _writeback() -> Callable[[int, int, int], object] | None:
    """`sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE)` where the C library has
    it: starts writing the range to disk without waiting, so the fsync that seals the upload
    finds little left to write (it took about 20 ms for 64 MiB written without it, 1 to
    2 ms with). Only a hint: its result is ignored, and the fsync still makes it durable."""
    try:
        import ctypes  # here: only once an append is large enough to pipeline

        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return partial(_call_writeback, function)


_SYNC_FILE_RANGE_WRITE = 2


def _call_writeback(function: Callable[..., int], fd: int, offset: int, length: int) -> int:
    return function(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def _hash_piece(hasher: Hasher, piece: _Piece) -> None:
    for buffer in piece.buffers:
        hasher.update(buffer)


@contextmanager
def _one_error() -> Iterator[None]:
    """A task group's lone error raised as itself (the callers' callers expect
    StorageError, ClientDisconnect, ... rather than an exception group)."""
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


def _write_piece(fd: int, piece: _Piece, offset: int) -> int:
    """Write one piece at offset; returns the offset after it."""
    buffers = piece.buffers
    if len(buffers) == 1:  # nothing to gather
        return _pwrite_all(fd, buffers[0], offset)
    try:
        written = os.pwritev(fd, buffers, offset)
    except OSError as exc:
        raise os_failure("cannot write upload", exc) from exc
    if written < piece.size:  # short (a file size limit, a signal): the rest one by one
        return _pwrite_all(fd, b"".join(buffers)[written:], offset + written)
    return offset + written


async def _pread_chunks(fd: int, offset: int, length: int | None) -> AsyncIterator[bytes]:
    remaining = length
    while remaining is None or remaining > 0:
        size = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
        chunk = await to_thread.run_sync(os.pread, fd, size, offset)
        if not chunk:
            return
        offset += len(chunk)
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _read_small(path: Path, key: str, offset: int, length: int) -> bytes:
    """Up to `length` bytes at `offset` of a small blob, read on the caller's thread."""
    fd = _open_regular(path)
    if fd is None:
        raise KeyError(key)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> int:
    try:
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view = view[written:]
            offset += written
    except OSError as exc:
        raise os_failure("cannot write upload", exc) from exc
    return offset


def _open_upload_at(path: Path, size: int) -> int:
    """Open an upload for writing, cut back to its recorded size (retries are idempotent);
    an upload that holds nothing yet may have no file: it is created."""
    try:
        fd = os.open(path, _write_flags(size), 0o644)
    except FileNotFoundError:
        raise StorageError(f"upload {path.name} does not exist") from None
    except OSError as exc:
        raise os_failure(f"cannot open upload {path.name}", exc) from exc
    try:
        _lock(fd, path.name)
        actual = os.fstat(fd).st_size
        if actual < size:
            raise StorageError(f"upload {path.name} holds {actual} bytes, state says {size}")
        os.ftruncate(fd, size)
    except BaseException as exc:
        os.close(fd)
        if isinstance(exc, OSError):
            raise os_failure(f"cannot truncate upload {path.name}", exc) from exc
        raise
    return fd


def _seal(path: Path, upload: UploadState) -> None:
    """Cut an upload to its recorded size and flush it to disk before it becomes a blob."""
    try:
        fd = os.open(path, _write_flags(upload.size), 0o644)
    except FileNotFoundError:
        raise StorageError(f"upload {upload.upload_id} does not exist") from None
    try:
        _lock(fd, upload.upload_id)
        actual = os.fstat(fd).st_size
        if actual < upload.size:
            raise StorageError(
                f"upload {upload.upload_id} holds {actual} bytes, state says {upload.size}"
            )
        os.ftruncate(fd, upload.size)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_flags(size: int) -> int:
    """Open flags for an upload recorded at `size`: only an empty one may lack its file.
    Read too: a direct append that starts mid-block reads the block's start back."""
    return os.O_RDWR | os.O_CREAT if size == 0 else os.O_RDWR


def _lock(fd: int, upload_id: str) -> None:
    """Hold the upload exclusively until `fd` is closed; UploadLocked if another writer does."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UploadLocked(f"upload {upload_id} is being written by another request") from None


def _open_regular(path: Path) -> int | None:
    """A read-only descriptor for a regular file, or None when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _stat_file(path: Path) -> BlobInfo | None:
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return BlobInfo(size=info.st_size) if stat.S_ISREG(info.st_mode) else None


def _unlink_quietly(path: Path) -> None:
    with suppress(FileNotFoundError, NotADirectoryError):
        path.unlink()


def _unlink_all(paths: list[Path]) -> list[Path]:
    """Unlink every path that exists; the paths that could not be unlinked."""
    failed: list[Path] = []
    for path in paths:
        try:
            _unlink_quietly(path)
        except OSError:
            failed.append(path)
    return failed


def _unlink_if_idle(path: Path, listed_mtime: datetime) -> None:
    """Unlink an upload file unless a writer holds it or wrote it after `listed_mtime`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # being appended to or sealed right now
        if utc_from_ns(os.fstat(fd).st_mtime_ns) > listed_mtime:
            return
        _unlink_quietly(path)
    except OSError as exc:
        raise StorageError(f"cannot discard upload {path.name}: {exc}") from exc
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _scan_dir(path: Path) -> tuple[list[tuple[str, int, datetime]], list[str]]:
    """(name, size, modification time) of each regular file in path, and the names of its
    subdirectories, both sorted; symlinks are neither followed nor listed."""
    files: list[tuple[str, int, datetime]] = []
    directories: list[str] = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    directories.append(entry.name)
                elif entry.is_file(follow_symlinks=False):
                    with suppress(FileNotFoundError):  # unlinked while we looked
                        info = entry.stat(follow_symlinks=False)
                        files.append((entry.name, info.st_size, utc_from_ns(info.st_mtime_ns)))
    except (FileNotFoundError, NotADirectoryError):
        return [], []
    return sorted(files), sorted(directories)


def _list_dir(path: Path) -> list[tuple[str, bool]]:
    """(name, is directory) of each entry, sorted; symlinks are neither followed nor listed."""
    try:
        with os.scandir(path) as entries:
            found = [
                (entry.name, entry.is_dir(follow_symlinks=False))
                for entry in entries
                if entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False)
            ]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(found)
