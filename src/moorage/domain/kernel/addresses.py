"""Outbound addresses: how a host is written down, and which addresses moorage never calls.

Pure rules (no I/O) shared by everything that calls out — webhooks, replication endpoints,
proxy-cache upstreams. A host is normalised the way a resolver reads it, so one spelling
cannot slip past a check another spelling would fail: IDNA to ASCII, lower case, percent
escapes decoded, the trailing dot dropped, IPv4 in any form `inet_aton` accepts (`127.1`,
`0x7f.0.0.1`, `017700000001`, `2130706433`) as a dotted quad, IPv6 without brackets and
compressed. Only globally routable unicast addresses pass `refused_ip`; an IPv4 address
wrapped in IPv6 (mapped, compatible, translated, NAT64, 6to4, Teredo) is judged as the IPv4
address it reaches.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import unquote

import idna

from moorage.domain.kernel.errors import RefusedAddress

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_SWITCH = "MOORAGE_ALLOW_PRIVATE_TARGETS=1"
MAX_HOST = 253  # DNS's limits on a name, dots included, and on each of its labels
MAX_LABEL = 63

# RFC 6761: these names are loopback whatever a resolver says.
_LOCAL_NAME = re.compile(r"(?:.+\.)?localhost", re.ASCII)
_LABEL = re.compile(rf"[a-z0-9_-]{{1,{MAX_LABEL}}}", re.ASCII)
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*", re.ASCII)

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Blocks that are not global unicast, listed here rather than trusted to the running
# Python's `is_global` (its table changed between releases).
_REFUSED_V4 = tuple(
    _V4(net)
    for net in (
        "0.0.0.0/8",  # this network
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
    )
)
_GLOBAL_UNICAST_V6 = _V6("2000::/3")
_REFUSED_V6 = tuple(
    _V6(net)
    for net in (
        "2001::/23",  # IETF protocol assignments (Teredo is unwrapped before this)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4 (unwrapped before this)
        "3fff::/20",  # documentation
    )
)

# IPv6 forms that carry an IPv4 address in their last 32 bits.
_V4_IN_LOW_BITS = (
    _V6("::/96"),  # IPv4-compatible (deprecated); also :: and ::1
    _V6("::ffff:0:0/96"),  # IPv4-mapped
    _V6("::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
    _V6("64:ff9b::/96"),  # NAT64, the well-known prefix
)
_NAT64_LOCAL = _V6("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215), any prefix length
_NAT64_LOCAL_96 = 0xFFFFFFFFFFFF << 32  # bits 48-95: zero when the IPv4 address is at the end
_TEREDO = _V6("2001::/32")
_SIXTOFOUR = _V6("2002::/16")


def refusal(host: str, address: str | None = None) -> RefusedAddress:
    """The error for a host that is, or resolves to, an address moorage does not call."""
    shown = host if address in (None, host) else f"{host} ({address})"
    return RefusedAddress(
        f"{shown} is a loopback, link-local, private or otherwise non-global address: "
        f"moorage does not call those unless the operator sets {ALLOW_SWITCH}"
    )


def _invalid(host: str, why: str) -> RefusedAddress:
    return RefusedAddress(f"{host[:80]!r} is not a valid host name: {why}")


# normalising -----------------------------------------------------------------------------------


def parse_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address written in any form `inet_aton` accepts: one to four parts separated
    by dots, each decimal, octal (leading 0) or hexadecimal (0x), the last part filling the
    bytes left. None when the text is not such an address."""
    parts = text.split(".")
    if len(parts) > 4 or not all(_IPV4_PART.fullmatch(part) for part in parts):
        return None
    *head, last = [_ipv4_part(part) for part in parts]
    room = 4 - len(head)
    if any(value > 0xFF for value in head) or last >= 1 << (8 * room):
        return None
    value = 0
    for byte in head:
        value = value << 8 | byte
    return ipaddress.IPv4Address(value << (8 * room) | last)


def _ipv4_part(part: str) -> int:
    if part[:2] in ("0x", "0X"):
        return int(part[2:], 16)
    if part.startswith("0"):
        return int(part, 8)
    return int(part)


def _ascii_name(host: str, text: str) -> str:
    if text.isascii():
        return text.lower()
    try:  # UTS 46 maps what browsers and resolvers map: full-width letters, "。" dots …
        return idna.encode(text, uts46=True).decode("ascii")
    except UnicodeError as exc:  # idna.IDNAError among them
        raise _invalid(host, str(exc)) from None


def _ipv6(host: str, text: str) -> str:
    if "%" in text:  # only link-local addresses need one
        raise _invalid(host, "zone ids are not accepted")
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        raise _invalid(host, "not an IPv6 address") from None


def normalise_host(host: str) -> str:
    """The host as moorage resolves and judges it (see the module's docstring). Raises
    `RefusedAddress` for a host that cannot be one: empty, too long, a label with other
    than letters, digits, `-` and `_`, an IPv6 zone id, IDNA that does not encode."""
    text = unquote(host.strip())
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        return _ipv6(host, text)
    name = _ascii_name(host, text)
    if name.endswith("."):  # the root of DNS, written out: the same name
        name = name[:-1]
    if not name or len(name) > MAX_HOST:
        raise _invalid(host, f"empty or longer than {MAX_HOST} characters")
    if not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise _invalid(
            host,
            f"each label is 1 to {MAX_LABEL} letters, digits, '-' or '_'",
        )
    ipv4 = parse_ipv4(name)
    return str(ipv4) if ipv4 is not None else name


def parse_ip(text: str) -> IP:
    """An address as a resolver or a URL writes it (brackets, zone id and IPv4 forms
    allowed). Raises ValueError when the text is not an address."""
    bare = text.strip("[]").split("%", 1)[0]
    ipv4 = parse_ipv4(bare)
    return ipv4 if ipv4 is not None else ipaddress.ip_address(bare)


def literal_ip(host: str) -> str | None:
    """The host's address when the host is an IP address (in any accepted form), else None."""
    try:
        return str(parse_ip(normalise_host(host)))
    except (ValueError, RefusedAddress):
        return None


def refused_name(host: str) -> bool:
    """Whether a normalised name is refused before any resolver is asked (`localhost`)."""
    return _LOCAL_NAME.fullmatch(host) is not None


# judging ----------------------------------------------------------------------------------------


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address leads to, when it is one of the forms that wrap
    IPv4 (None otherwise). A local-use NAT64 address laid out other than with the IPv4
    address at its end leads to 0.0.0.0: refused, as its layout is the operator's."""
    value = int(ip)
    if any(ip in net for net in _V4_IN_LOW_BITS):
        return [ipaddress.IPv4Address(value & 0xFFFFFFFF)]
    if ip in _NAT64_LOCAL:
        inside = value & 0xFFFFFFFF if not value & _NAT64_LOCAL_96 else 0
        return [ipaddress.IPv4Address(inside)]
    if ip in _TEREDO and ip.teredo is not None:
        return list(ip.teredo)  # the server and the (de-obfuscated) client
    if ip in _SIXTOFOUR and ip.sixtofour is not None:
        return [ip.sixtofour]
    return None


def _refused_v4(ip: ipaddress.IPv4Address) -> bool:
    return any(ip in net for net in _REFUSED_V4) or not ip.is_global


def _refused_v6(ip: ipaddress.IPv6Address) -> bool:
    inside = embedded_ipv4(ip)
    if inside is not None:
        return any(_refused_v4(v4) for v4 in inside)
    if ip not in _GLOBAL_UNICAST_V6 or any(ip in net for net in _REFUSED_V6):
        return True
    return not ip.is_global


def refused_ip(text: str) -> bool:
    """Whether moorage refuses to call an address: anything but globally routable unicast —
    loopback, private, link-local, unspecified, multicast, reserved, shared (100.64/10),
    benchmarking, documentation — also when an IPv6 form wraps such an IPv4 address.
    Raises ValueError when the text is not an address."""
    ip = parse_ip(text)
    return _refused_v6(ip) if isinstance(ip, ipaddress.IPv6Address) else _refused_v4(ip)


def check_resolved(host: str, addresses: Iterable[str]) -> str:
    """The first of a host's addresses, when none of them is refused (any one refused
    refuses the host: a resolver may hand out any of them). Raises `RefusedAddress`."""
    chosen: str | None = None
    for address in addresses:
        if refused_ip(address):
            raise refusal(host, address)
        chosen = chosen or str(parse_ip(address))
    if chosen is None:
        raise RefusedAddress(f"{host} has no address")
    return chosen
