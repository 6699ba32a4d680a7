"""`DigestCache`: bytes by digest (the manifest cache), least recently used out first,
within a byte bound."""

from __future__ import annotations

from moorage.domain.content.digest_cache import DigestCache


def test_the_digest_cache_keeps_the_latest_used_within_its_bytes() -> None:
    cache = DigestCache(max_bytes=1600)  # sixteen bodies of 100 bytes
    for number in range(17):
        cache.put(str(number), b"x" * 100)
    assert cache.get("0") is None  # the oldest went for the seventeenth
    assert cache.get("1") is not None  # now the latest used
    cache.put("17", b"x" * 100)
    assert cache.get("2") is None
    assert cache.get("1") is not None
    cache.put("large", b"x" * 101)  # over a sixteenth of the cache: it would evict many
    assert cache.get("large") is None
    assert cache.size == 1600
