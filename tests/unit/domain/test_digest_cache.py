"""`DigestCache`: bytes by digest (the manifest cache), least recently used out first,
within a bound on the memory its entries take."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest

from moorage.domain.content.digest_cache import DigestCache, entry_bytes

BODY = b"x" * 100


def key(number: int) -> str:
    return f"k{number:02d}"


def test_the_digest_cache_keeps_the_latest_used_within_its_bytes() -> None:
    sixteen = 16 * entry_bytes(key(0), BODY)
    cache = DigestCache(max_bytes=sixteen)
    for number in range(17):
        cache.put(key(number), BODY)
    assert cache.get(key(0)) is None  # the oldest went for the seventeenth
    assert cache.get(key(1)) is not None  # now the latest used
    cache.put(key(17), BODY)
    assert cache.get(key(2)) is None
    assert cache.get(key(1)) is not None
    cache.put("large", b"x" * (sixteen // 16))  # over a sixteenth of the cache with its key
    assert cache.get("large") is None
    assert cache.size == sixteen


def test_a_cache_of_no_bytes_keeps_nothing() -> None:
    cache = DigestCache(max_bytes=0)
    cache.put("sha256:" + "0" * 64, b"{}")
    assert cache.get("sha256:" + "0" * 64) is None
    assert cache.size == 0


@pytest.mark.parametrize("body_size", [200, 400, 4000])
def test_a_full_cache_takes_about_its_bound_in_memory(body_size: int) -> None:
    """What the process holds for the cache (the entries' keys and bodies, which only the
    cache references, and its dict) against the bound: a bound counting bodies alone let
    400-byte manifests take 1.6 times it."""
    bound = 1024 * 1024
    count = 3 * bound // body_size  # far more than fit
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cache = DigestCache(max_bytes=bound)
        for number in range(count):
            digest = "sha256:" + hashlib.sha256(number.to_bytes(4, "big")).hexdigest()
            cache.put(digest, os.urandom(body_size))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert cache.size <= bound
    assert 0.85 * bound <= held <= 1.08 * bound, f"{held} bytes held for a bound of {bound}"
