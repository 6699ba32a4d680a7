"""Group commit on SQLite: a write is acknowledged once its commit is on disk, and the
commits made together share one fsync.

With `synchronous=NORMAL` SQLite appends a commit to its write-ahead log without syncing
it: the commit survives a crash of the process but not of the machine. `synchronous=FULL`
syncs the log inside every commit, holding the database's write lock (and, for a write run
on the event loop, the loop itself) through each fsync. With `sqlite_synchronous =
"group"` commits run as NORMAL and the log is synced after them, with the write lock
released:

- A commit on the event loop is not synced at once: the sync is scheduled for the end of
  the loop's current pass (`call_soon`), so every request that commits in the same pass
  shares it, and `Blocking.write` awaits it before the request goes on. One request alone
  pays one fsync, with no hand-over between threads.
- A commit in a worker thread (REST endpoints, jobs, a write that had to wait for the
  lock) syncs the log in that thread, unless a sync that began after it already covered it.

A sync covers every commit appended to the log before the sync began. A commit that a
checkpoint already copied into the database file is on disk too: in WAL mode SQLite syncs
the log before a checkpoint and the database file after it, and removes the log only after
that (then there is nothing left to sync).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from asyncio import events
from contextvars import ContextVar

from moorage.domain.kernel.errors import Busy

log = logging.getLogger(__name__)

# The syncs this task's commits on the event loop wait for, not yet awaited (`settle`).
_UNSETTLED: ContextVar[tuple[asyncio.Future[None], ...]] = ContextVar(
    "moorage_unsettled_commits", default=()
)


class WalSync:
    """The commits of one SQLite database, numbered, and the syncs of its log that cover
    them."""

    def __init__(self, database: str) -> None:
        self._log_path = database + "-wal"
        self._lock = threading.Lock()
        self._committed = 0  # commits noted so far
        self._synced = 0  # commits known to be on disk
        # The event loop's next sync, shared by the commits of one pass of the loop.
        self._next: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self.syncs = 0  # syncs done so far, a missing log counted (tests read it)

    def after_commit(self) -> None:
        """Called right after a write transaction committed, its locks released: in a
        worker thread, returns once the commit is on disk; on the event loop, joins the
        loop's next sync, for `settle` to await."""
        with self._lock:
            self._committed += 1
            number = self._committed
        loop = events._get_running_loop()
        if loop is None:
            self._sync_through(number)
            return
        _UNSETTLED.set((*_UNSETTLED.get(), self._next_sync(loop)))

    @staticmethod
    async def settle() -> None:
        """Wait until the commits this task made on the event loop are on disk (Busy if
        the log could not be synced)."""
        unsettled = _UNSETTLED.get()
        if not unsettled:
            return
        _UNSETTLED.set(())
        for sync in unsettled:
            # Shared by other requests: a cancelled one must not cancel it for them.
            await asyncio.shield(sync)

    def _next_sync(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        if self._next is not None and self._next[0] is loop and not self._next[1].done():
            return self._next[1]
        sync = loop.create_future()
        self._next = (loop, sync)
        loop.call_soon(self._sync_for_loop, sync)
        return sync

    def _sync_for_loop(self, sync: asyncio.Future[None]) -> None:
        if self._next is not None and self._next[1] is sync:
            self._next = None
        with self._lock:
            number = self._committed
        try:
            self._sync_through(number)
        except Busy as exc:
            if not sync.done():
                sync.set_exception(exc)
                sync.exception()  # retrieved here too: no "never retrieved" warning
            return
        if not sync.done():
            sync.set_result(None)

    def _sync_through(self, number: int) -> None:
        """Make sure commit `number` is on disk: nothing to do if a sync that began after
        it was noted is through; otherwise fsync the log (without the GIL)."""
        with self._lock:
            if self._synced >= number:
                return
            number = self._committed  # everything noted so far is in the log already
        try:
            fd = os.open(self._log_path, os.O_RDONLY)
        except FileNotFoundError:
            fd = None  # checkpointed into the (synced) database file and removed
        except OSError as exc:
            raise self._failed(exc) from exc
        if fd is not None:
            try:
                os.fsync(fd)
            except OSError as exc:
                raise self._failed(exc) from exc
            finally:
                os.close(fd)
        with self._lock:
            self.syncs += 1
            self._synced = max(self._synced, number)

    @staticmethod
    def _failed(exc: OSError) -> Busy:
        log.error("cannot sync the database's log: %s", exc)
        return Busy(f"the database's log could not be written to disk: {exc}")
