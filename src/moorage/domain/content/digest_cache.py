"""Bytes kept in memory by their digest, least recently used first out.

A digest names immutable content, so an entry never goes stale: nothing invalidates it, and
every process (every node) keeps its own. Only bytes already verified against their digest go
in."""

from __future__ import annotations

import threading
from collections import OrderedDict


class DigestCache:
    """Up to `max_bytes` of bodies by digest; a body over a sixteenth of that is not kept (one
    large body would evict many small ones)."""

    def __init__(self, max_bytes: int) -> None:
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes
        self._lock = threading.Lock()  # services are called from worker threads too

    def get(self, digest: str) -> bytes | None:
        with self._lock:
            body = self._entries.get(digest)
            if body is not None:
                self._entries.move_to_end(digest)
            return body

    def put(self, digest: str, body: bytes) -> None:
        with self._lock:
            if digest in self._entries or len(body) > self._max // 16:
                return
            self._entries[digest] = body
            self._bytes += len(body)
            while self._bytes > self._max:
                _, old = self._entries.popitem(last=False)
                self._bytes -= len(old)

    @property
    def size(self) -> int:
        """The bytes held."""
        return self._bytes
