"""X-Forwarded-Proto/-Host/-For, believed only when a trusted reverse proxy sent them.

Behind nginx, moorage's peer is nginx: the request's scheme, host and client address as the
client used them arrive in headers that anyone can also send straight to moorage. So
`ForwardedHeaders` rewrites the ASGI scope from them only when the connection comes from an
address in `trusted_proxies`; from any other peer the headers are left unread, and the
scope says what the connection says. Everything downstream (the token realm, the session
cookie's Secure flag, the private-host check, the sign-in throttle, the logs) then reads the
scope and never the headers.

granian has a proxy-headers wrapper too, but it ignores X-Forwarded-Host and applies
X-Forwarded-Proto only together with X-Forwarded-For, so moorage keeps its own.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
# A host as it may stand in a URL authority: a name or IPv4 address, or a bracketed IPv6
# address, with an optional port. Nothing else reaches the realm or a URL (no quotes,
# slashes, spaces or commas from a misconfigured proxy).
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$"
)
# An X-Forwarded-For entry with a port, as some proxies write it: 192.0.2.1:4711 or
# [2001:db8::1]:4711.
_WITH_PORT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<v4>[0-9.]+))(?::\d{1,5})?$")


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Addresses and CIDRs (`10.0.0.0/8`, `::1`) as networks; ValueError names a bad one."""
    networks = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR: {text!r}") from None
    return tuple(networks)


def parse_address(text: str) -> IPAddress | None:
    """An address from a peer or an X-Forwarded-For entry (a port allowed), else None."""
    text = text.strip()
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    match = _WITH_PORT.match(text)
    if match is None:
        return None
    try:
        return ipaddress.ip_address(match["v6"] or match["v4"])
    except ValueError:
        return None


class TrustedProxies:
    """The networks whose connections may speak for the client."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks = parse_networks(entries)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: IPAddress) -> bool:
        # An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def client_of(self, hops: Sequence[str]) -> IPAddress | None:
        """The client in an X-Forwarded-For chain: the right-most address that is not a
        trusted proxy. Each proxy appends the address it was connected from, so the entries
        right of that one were written by proxies moorage trusts, and those left of it by
        someone it does not (they may be made up). None if an entry on the way cannot be
        read or every hop is trusted but none is an address."""
        first: IPAddress | None = None
        for entry in reversed(hops):
            address = parse_address(entry)
            if address is None:
                return None
            if address not in self:
                return address
            first = address
        return first  # every hop a trusted proxy: the one furthest away


def _header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """Every comma-separated element of every `name` header, in order, blanks dropped."""
    values = []
    for key, value in headers:
        if key == name:
            values += [v.strip() for v in value.decode("latin-1").split(",")]
    return [v for v in values if v]


class ForwardedHeaders:
    """Rewrites `scheme`, the `host` header, `server` and `client` of an HTTP scope from the
    X-Forwarded-* headers when the connection comes from a trusted proxy.

    - X-Forwarded-For: the client is the right-most address that is not a trusted proxy
      (`TrustedProxies.client_of`); the port is unknown, so 0.
    - X-Forwarded-Proto: `http` or `https`. With several values, the last counts: the one
      the nearest proxy, which moorage trusts, wrote.
    - X-Forwarded-Host: a host with an optional port, as the client addressed it; it becomes
      the `host` header, so the private-host check and URLs see the client's name. With
      several values, the last counts.

    A header missing or unreadable leaves that part of the scope as the connection made it.
    With no trusted proxies configured, the middleware does nothing at all.
    """

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted and self._from_trusted_peer(scope):
            scope = self._rewritten(scope)
        await self.app(scope, receive, send)

    def _from_trusted_peer(self, scope: Scope) -> bool:
        peer = scope.get("client")
        if not peer:
            return False
        address = parse_address(str(peer[0]))
        return address is not None and address in self.trusted

    def _rewritten(self, scope: Scope) -> Scope:
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        changed: Scope = {}
        hops = _header_values(headers, b"x-forwarded-for")
        if hops and (client := self.trusted.client_of(hops)) is not None:
            changed["client"] = (str(client), 0)
        protos = _header_values(headers, b"x-forwarded-proto")
        scheme = protos[-1].lower() if protos else ""
        if scheme in DEFAULT_PORTS:
            changed["scheme"] = scheme
        hosts = _header_values(headers, b"x-forwarded-host")
        if hosts and _valid_host(hosts[-1]):
            host = hosts[-1]
            changed["headers"] = [(k, v) for k, v in headers if k != b"host"]
            changed["headers"].append((b"host", host.encode("latin-1")))
            changed["server"] = _server(host, changed.get("scheme", scope.get("scheme", "http")))
        return {**scope, **changed} if changed else scope


def _valid_host(host: str) -> bool:
    if not _HOST.match(host):
        return False
    _, sep, port = host.rpartition(":")
    return not (sep and port.isdigit()) or 0 < int(port) < 65536


def _server(host: str, scheme: str) -> tuple[str, int]:
    """The (host, port) of a Host value (checked by `_valid_host`), the port defaulting to
    the scheme's."""
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():  # "[::1]" has no port ("1]" is no number), "[::1]:8" has
        return name.strip("[]"), int(port)
    return host.strip("[]"), DEFAULT_PORTS.get(scheme, 80)
