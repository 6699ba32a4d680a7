"""Prometheus metrics at /metrics: one registry per app, no import-time singletons."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Literal, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

AbortReason = Literal["disconnect", "body_timeout"]
ABORT_REASONS: tuple[AbortReason, ...] = ("disconnect", "body_timeout")


class CacheCounters(Protocol):
    """Proxy caches' counts since the process started (`ProxyCacheService.counters`)."""

    @property
    def hits(self) -> int: ...

    @property
    def misses(self) -> int: ...

    @property
    def upstream_errors(self) -> int: ...

    @property
    def fetched_bytes(self) -> int: ...


class ProxyCacheCollector:
    """Proxy caches' counters, read when /metrics is scraped (the domain counts in plain
    integers; the names are Prometheus's business)."""

    def __init__(self, counters: CacheCounters) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        c = self._counters
        for name, doc, value in (
            ("hits", "Pulls from proxy caches answered from the cache", c.hits),
            ("misses", "Pulls from proxy caches that fetched from upstream", c.misses),
            ("upstream_errors", "Calls to proxy caches' upstreams that failed", c.upstream_errors),
            ("fetched_bytes", "Blob bytes proxy caches fetched from upstream", c.fetched_bytes),
        ):
            yield CounterMetricFamily(f"moorage_proxy_cache_{name}", doc, value=value)


class Metrics:
    def __init__(self, proxy_cache: CacheCounters | None = None) -> None:
        self.registry = CollectorRegistry()
        if proxy_cache is not None:
            self.registry.register(ProxyCacheCollector(proxy_cache))
        self.requests = Counter(
            "moorage_http_requests",
            "HTTP requests answered, by area, operation and status class",
            ["area", "operation", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "moorage_http_request_seconds",
            "Time to answer (headers sent; streamed bodies continue afterwards)",
            ["area", "operation"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self.client_aborts = Counter(
            "moorage_client_aborts",
            "Requests cut short by the client: it went away (disconnect) or its body sent "
            "nothing for http_body_timeout_seconds (body_timeout)",
            ["reason"],
            registry=self.registry,
        )
        for reason in ABORT_REASONS:
            self.client_aborts.labels(reason)  # shown at 0 before the first abort
        self._children: dict[tuple[str, str, int], tuple[Histogram, Counter]] = {}

    def client_aborted(self, reason: AbortReason) -> None:
        self.client_aborts.labels(reason).inc()

    async def observe(
        self, area: str, operation: str, call: Callable[[], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call()
        elapsed = time.perf_counter() - start
        key = (area, operation, response.status_code // 100)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds a key: once per combination
            children = (
                self.latency.labels(area, operation),
                self.requests.labels(area, operation, f"{key[2]}xx"),
            )
            self._children[key] = children
        children[0].observe(elapsed)
        children[1].inc()
        return response

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
