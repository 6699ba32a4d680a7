"""Where blocking work runs: the one place that decides it.

The domain's services are synchronous over the metadata store (one transaction per call);
the HTTP layer and the upload path are asynchronous. Every crossing goes through one
`Blocking`, built once by the composition root from the deployment's settings:

- `read`: a metadata read. With SQLite in WAL mode on a local disk a read never waits for
  writers and costs less than a thread hop (≈35% more manifest GETs/s measured), so it runs
  inline on the event loop; with a networked database it runs in a worker thread, at most
  `NETWORK_READ_THREADS` at once: 32 concurrent manifest GETs on PostgreSQL in 32 threads
  spent their CPU handing the GIL around (800 GETs/s on one node, 1,270 with four threads).
- `write`: a metadata write. With SQLite on a local disk it is first tried on the event loop
  without waiting: a short write costs less there than a thread hop, and a writer never
  contends for the GIL while it holds the database's write lock (32 clients pushing small
  blobs queued on that lock behind threads waiting for the GIL). If another writer holds
  the lock it runs in a worker thread, prepared to wait. With a networked database, always
  in a worker thread.
- `run`: anything else that may block — the network, the disk, waiting for a lock —
  always in a worker thread, so the event loop never waits.
- `compute`: CPU work over a body (parsing a manifest): inline when the body is small
  (`INLINE_COMPUTE_BYTES`: a 2 KiB manifest parses in tens of microseconds, less than a
  thread hop), in a worker thread when it is large enough to hold the loop up.

A REST request does not cross call by call: its whole endpoint runs in one worker thread as
one transaction (`moorage.api.rest.routing`). A job's handler is either async (it awaits the
network or the blob store) or plain, and the runner runs a plain one through `run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import ParamSpec, TypeVar

import anyio.to_thread

from moorage.domain.kernel.errors import WriteWouldWait

P = ParamSpec("P")
T = TypeVar("T")
INLINE_COMPUTE_BYTES = 64 * 1024
NETWORK_READ_THREADS = 4


class Blocking:
    def __init__(
        self,
        *,
        inline_reads: bool = False,
        inline_writes: bool = False,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.inline_reads = inline_reads
        self.inline_writes = inline_writes
        # Awaited after a write run inline: the store's own wait for the commit to be on
        # disk, when it commits first and syncs later (SQLite's group commit).
        self._settle = settle
        self._read_threads: tuple[object, anyio.CapacityLimiter] | None = None

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A metadata read: inline when reads cannot wait, in a thread otherwise."""
        if self.inline_reads:
            return fn(*args, **kwargs)
        call = partial(fn, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=self._read_limiter())

    def _read_limiter(self) -> anyio.CapacityLimiter:
        """The read threads' limiter of the running event loop (one per loop: a limiter
        belongs to the loop it was made in)."""
        loop = asyncio.get_running_loop()
        if self._read_threads is None or self._read_threads[0] is not loop:
            self._read_threads = (loop, anyio.CapacityLimiter(NETWORK_READ_THREADS))
        return self._read_threads[1]

    async def write(self, transact: Callable[[bool], T]) -> T:
        """A metadata write: `transact(wait)` runs it in a write transaction opened with
        `wait` (`UnitOfWork(write=True, wait=...)`). Inline without waiting when writes may
        run inline; in a worker thread, waiting, when not or when another writer holds the
        database (`WriteWouldWait` is raised before anything ran, so nothing runs twice)."""
        if self.inline_writes:
            try:
                done = transact(False)
            except WriteWouldWait:
                pass
            else:
                if self._settle is not None:
                    await self._settle()
                return done
        return await anyio.to_thread.run_sync(transact, True)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Work that may block (a write, the network, heavy CPU): in a worker thread."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

    async def compute(self, size: int, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """CPU work over `size` bytes: inline when small, in a worker thread otherwise."""
        if size <= INLINE_COMPUTE_BYTES:
            return fn(*args, **kwargs)
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))
