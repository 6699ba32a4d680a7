"""`AddressGuard`: the one check before moorage calls out (webhooks, replication endpoints,
proxy-cache upstreams), when an address is configured and again on every connection.

The host is normalised (`moorage.domain.kernel.addresses.normalise_host`), `localhost`
names are refused before any resolver is asked, and a name is resolved; when any of its
addresses is not globally routable unicast the host is refused, unless the operator allows
private targets. At connection time the caller connects to the address that was checked —
`pin` rewrites the URL to it and hands back the original name as `Host` and TLS server name
— so a DNS answer that changes between the check and the connection (DNS rebinding) cannot
lead inside. Callers must not let an HTTP proxy from the environment connect for them
(`trust_env=False`) and must `pin` every redirect hop again.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio.to_thread

from moorage.domain.kernel.addresses import (
    check_resolved,
    literal_ip,
    normalise_host,
    refusal,
    refused_name,
)
from moorage.domain.kernel.errors import RefusedAddress

if TYPE_CHECKING:
    import httpx

Resolver = Callable[[str, int], list[str]]  # (host, port) -> addresses; OSError when none


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for a host."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


def default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


class AddressGuard:
    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_private = allow_private
        self._resolver = resolver

    def address(self, host: str, port: int) -> str:
        """The one check, at configuration and at connection time: the address to connect
        to for a host, after normalising, resolving and judging it. Raises `RefusedAddress`;
        OSError when the name does not resolve."""
        name = normalise_host(host)
        if refused_name(name):
            raise refusal(name)
        literal = literal_ip(name)
        found = [literal] if literal is not None else self._resolver(name, port)
        return check_resolved(name, found)

    # configuration time ----------------------------------------------------------------------

    def check_url(self, url: str) -> None:
        """Raise `RefusedAddress` when the URL's host is, or resolves to, a refused address.
        A name that does not resolve now passes: every connection checks again."""
        if self.allow_private:
            return
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # an unclosed bracket, a port out of range
            raise RefusedAddress(f"{url[:80]!r} is not a valid URL") from None
        try:
            self.address(parts.hostname or "", port or default_port(parts.scheme))
        except OSError:
            return

    # connection time -------------------------------------------------------------------------

    async def pin(self, url: httpx.URL) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        """Resolve and check the URL's host; return the URL rewritten to the checked address,
        the headers (`Host`) and httpx request extensions (`sni_hostname`) to send it with.
        Raises `RefusedAddress`, or OSError when the name does not resolve."""
        if self.allow_private:
            return url, {}, {}
        host = url.raw_host.decode("ascii")
        port = url.port or default_port(url.scheme)
        address = await anyio.to_thread.run_sync(self.address, host, port)
        if address == host:
            return url, {}, {}
        extensions: dict[str, Any] = {}
        if url.scheme == "https" and literal_ip(host) is None:
            # certificates are checked for the name, not the address connected to
            extensions["sni_hostname"] = normalise_host(host)
        headers = {"Host": url.netloc.decode("ascii")}
        return url.copy_with(host=address), headers, extensions
