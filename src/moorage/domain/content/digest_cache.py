"""Bytes kept in memory by their digest, least recently used first out.

A digest names immutable content, so an entry never goes stale: nothing invalidates it, and
every process (every node) keeps its own. Only bytes already verified against their digest go
in.

The bound is the memory the entries take, not just their bodies: a manifest of 400 bytes
costs about 630 in the process (its digest's 71 characters, the two objects' headers and the
ordered dict's slot), so a bound counting bodies alone let the cache take 1.6 times it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

ENTRY_OVERHEAD_BYTES = 192
"""What an entry costs beyond its key's and body's characters: the key's and the body's
object headers and the ordered dict's slot and link, with the room a dict keeps free after
growing (148–164 bytes an entry measured with tracemalloc on CPython 3.11 while filling
one; a full cache held up to 7% more than its bound at 176). `tests/unit/domain/
test_digest_cache.py` checks a full cache against its bound."""


def entry_bytes(digest: str, body: bytes) -> int:
    """The memory an entry takes, as the cache counts it."""
    return len(digest) + len(body) + ENTRY_OVERHEAD_BYTES


class DigestCache:
    """Entries by digest taking up to `max_bytes` of memory (`entry_bytes`); an entry over a
    sixteenth of that is not kept (one large body would evict many small ones). A cache of 0
    bytes keeps nothing."""

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
        weight = entry_bytes(digest, body)
        if weight > self._max // 16:
            return
        with self._lock:
            if digest in self._entries:
                return
            self._entries[digest] = body
            self._bytes += weight
            while self._bytes > self._max:
                old_digest, old = self._entries.popitem(last=False)
                self._bytes -= entry_bytes(old_digest, old)

    @property
    def size(self) -> int:
        """The memory held, as `entry_bytes` counts it."""
        return self._bytes
