"""`ProxyUpstreams`: the upstream registries of proxy caches
(`moorage.domain.proxycache.ports.UpstreamFactory`), each behind the outbound address guard.
The client (`moorage.outbound.proxy_upstream`, on httpx) loads with the first upstream
opened."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moorage import __version__
from moorage.domain.proxycache.model import Upstream

if TYPE_CHECKING:
    from moorage.outbound.oci_client import Guard
    from moorage.outbound.proxy_upstream import ProxyUpstream


class ProxyUpstreams:
    """`UpstreamFactory`: every upstream behind the outbound address guard."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    def check_url(self, url: str) -> None:
        self._guard.check_url(url)

    def open(self, upstream: Upstream, password: str | None) -> ProxyUpstream:
        from moorage.outbound.proxy_upstream import (
            UPSTREAM_BACKOFF,
            UPSTREAM_TIMEOUT,
            ProxyUpstream,
        )

        return ProxyUpstream(
            upstream.url,
            upstream.namespace,
            upstream.username,
            password,
            guard=self._guard,
            verify_tls=upstream.verify_tls,
            backoff=UPSTREAM_BACKOFF,
            timeout=UPSTREAM_TIMEOUT,
            user_agent=f"moorage/{__version__} proxy-cache",
        )
