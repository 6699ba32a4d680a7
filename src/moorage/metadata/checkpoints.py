"""Checkpoints of SQLite's write-ahead log, off the request path.

In WAL mode every commit appends its pages to the log; a checkpoint copies them back into
the database file and syncs it. SQLite's own automatic checkpoint runs inside the commit
that crosses its threshold: every few dozen manifest pushes one of them also copied and
synced, a tenth of a push's server time on average and a latency spike for that client.
A server process checkpoints in a thread of its own instead (`WalCheckpoints`), a few times
a second when something was committed; a PASSIVE checkpoint never waits for, nor blocks,
a reader or a writer, and SQLite runs it without Python's GIL. Every connection keeps an
automatic checkpoint at a far higher threshold (`FALLBACK_AUTOCHECKPOINT_PAGES`), so the
log stays bounded in processes without the thread (admin commands) and should the thread
fall behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import NamedTuple

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_SECONDS = 0.25
# 40 MiB of 4 KiB pages: reached only when nothing checkpoints for a second or more of
# continuous pushes.
FALLBACK_AUTOCHECKPOINT_PAGES = 10_000


class Checkpoint(NamedTuple):
    """What `PRAGMA wal_checkpoint` reports: whether it could not finish (`busy`), the
    frames in the log and those copied into the database file."""

    busy: bool
    log_frames: int
    checkpointed_frames: int


class WalCheckpoints:
    """A thread that checkpoints the database's log after commits, until `stop`."""

    def __init__(self, database: str, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        self._interval = interval
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._last_version: int | None = None
        self._failing = False
        self.last: Checkpoint | None = None  # the thread's latest checkpoint

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="moorage-wal-checkpoints", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._conn.close()

    def checkpoint_if_committed(self) -> Checkpoint | None:
        """A PASSIVE checkpoint when anyone committed since the last call, else None."""
        # data_version changes when another connection commits; a checkpoint leaves it.
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._last_version:
            return None
        self._last_version = version
        busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return Checkpoint(bool(busy), frames, copied)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                done = self.checkpoint_if_committed()
            except sqlite3.Error as exc:
                # The commits' own fallback checkpoints keep the log bounded meanwhile.
                if not self._failing:
                    log.warning("cannot checkpoint the database's log: %s", exc)
                self._failing = True
            else:
                self._failing = False
                self.last = done or self.last
