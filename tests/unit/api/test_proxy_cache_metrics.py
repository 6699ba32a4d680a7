"""Proxy caches' counters at /metrics: Prometheus counters named as docs/proxy-cache.md says,
read from the service's plain integers when scraped."""

from __future__ import annotations

from prometheus_client import generate_latest

from moorage.api.metrics import Metrics
from moorage.domain.proxycache.service import Counters


def test_the_counters_are_read_when_scraped() -> None:
    counters = Counters()
    metrics = Metrics(counters)
    counters.hits, counters.misses, counters.upstream_errors = 7, 3, 1
    counters.fetched_bytes = 209_715_200
    text = generate_latest(metrics.registry).decode()
    for line in (
        "moorage_proxy_cache_hits_total 7.0",
        "moorage_proxy_cache_misses_total 3.0",
        "moorage_proxy_cache_upstream_errors_total 1.0",
        "moorage_proxy_cache_fetched_bytes_total 2.097152e+08",
    ):
        assert line in text.splitlines(), text
    counters.hits += 1
    assert "moorage_proxy_cache_hits_total 8.0" in generate_latest(metrics.registry).decode()
