"""Prometheus metrics at /metrics: one registry per app, no import-time singletons."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

AbortReason = Literal["disconnect", "body_timeout"]
ABORT_REASONS: tuple[AbortReason, ...] = ("disconnect", "body_timeout")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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

    def client_aborted(self, reason: AbortReason) -> None:
        self.client_aborts.labels(reason).inc()

    async def observe(
        self, area: str, operation: str, call: Callable[[], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call()
        self.latency.labels(area, operation).observe(time.perf_counter() - start)
        self.requests.labels(area, operation, f"{response.status_code // 100}xx").inc()
        return response

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
