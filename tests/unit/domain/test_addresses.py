"""Outbound address rules: hosts normalised the way a resolver reads them, and the verdict on
an address the same however it is written — in any IPv4 form `inet_aton` accepts, or wrapped
in any IPv6 form that carries IPv4."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moorage.domain.kernel.addresses import (
    check_resolved,
    embedded_ipv4,
    literal_ip,
    normalise_host,
    parse_ipv4,
    refused_ip,
    refused_name,
)
from moorage.domain.kernel.errors import RefusedAddress
from moorage.domain.webhooks import subscriptions

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address

TEREDO_SERVER = V4("65.54.227.120")  # a global address


def refused_host(host: str) -> bool:
    """The verdict on a host that needs no resolver: a localhost name or an address."""
    try:
        name = normalise_host(host)
    except RefusedAddress:
        return True
    literal = literal_ip(name)
    assert literal is not None or refused_name(name), f"{host} needs a resolver"
    return literal is None or refused_ip(literal)


# normalising -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "normal"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),  # the root, written out
        ("bücher.example", "xn--bcher-kva.example"),  # IDNA
        ("ⓛocalhost", "localhost"),  # UTS 46 maps it as resolvers and browsers do
        ("ｌｏｃａｌｈｏｓｔ。", "localhost"),  # full width, ideographic full stop
        ("%6cocalhost", "localhost"),  # percent escapes
        ("my_service", "my_service"),  # ASCII names are not put through IDNA
        ("127.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.0.0.01", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("10.0x10203", "10.1.2.3"),
        ("１２７.０.０.１", "127.0.0.1"),
        ("[::1]", "::1"),
        ("[0:0:0:0:0:FFFF:7F00:1]", "::ffff:7f00:1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("1.2.3.4.5", "1.2.3.4.5"),  # five parts: a name to inet_aton too
        ("256.1", "256.1"),  # a part out of range: likewise
        ("08.1.2.3", "08.1.2.3"),  # 8 is no octal digit: likewise
    ],
)
def test_hosts_are_normalised_as_a_resolver_reads_them(host: str, normal: str) -> None:
    assert normalise_host(host) == normal


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("", "empty"),
        (".", "empty"),
        ("a..b", "label"),
        ("a b.example", "label"),
        ("a%00b.example", "label"),  # a NUL a resolver would choke on
        ("*.example.com", "label"),
        ("%2541.example", "label"),  # decoded once: "%41" is no name
        (".example.com", "label"),
        ("a" * 64 + ".example.com", "label"),
        ("a." * 127 + "com", "longer than 253"),
        ("[fe80::1%eth0]", "zone ids"),
        ("fe80::1%25eth0", "zone ids"),
        ("[::1::2]", "not an IPv6 address"),
        ("a\u200db.example", "not a valid host name"),  # a joiner IDNA does not allow here
    ],
)
def test_hosts_that_cannot_be_hosts_are_refused(host: str, why: str) -> None:
    with pytest.raises(RefusedAddress, match=why):
        normalise_host(host)


@pytest.mark.parametrize(
    "name", ["localhost", "LOCALHOST", "localhost.", "a.localhost", "x.y.localhost."]
)
def test_localhost_names_are_refused_before_any_resolver(name: str) -> None:
    assert refused_name(normalise_host(name))


@pytest.mark.parametrize("name", ["localhost.example.com", "mylocalhost", "example.com"])
def test_other_names_go_to_the_resolver(name: str) -> None:
    assert not refused_name(normalise_host(name))


def test_literal_ip_recognises_every_form_of_an_address() -> None:
    assert literal_ip("0x7f.1") == "127.0.0.1"
    assert literal_ip("[::ffff:0:127.0.0.1]") == "::ffff:0:7f00:1"
    assert literal_ip("localhost.") is None
    assert literal_ip("fe80::1%25eth0") is None


def test_the_webhooks_names_still_work() -> None:
    assert subscriptions.refused_ip is refused_ip
    assert subscriptions.literal_ip is literal_ip


# judging ---------------------------------------------------------------------------------------

REFUSED = [
    # reported: accepted as webhook targets before
    "localhost.",
    "[::127.0.0.1]",  # IPv4-compatible
    "[::ffff:0:127.0.0.1]",  # IPv4-translated
    "[64:ff9b:1::7f00:1]",  # local-use NAT64
    # IPv4 forms
    "127.1",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "2130706433",
    "0",  # 0.0.0.0
    # IPv6 wrappings
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:a9fe:a9fe]",  # mapped cloud metadata (169.254.169.254)
    "[64:ff9b::10.0.0.1]",  # NAT64, well-known prefix
    "[64:ff9b:1:7f00:1::]",  # local-use NAT64 laid out as a /48: refused whatever it holds
    "[2002:c0a8:101::1]",  # 6to4 of 192.168.1.1
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo, client 192.0.2.45
    "[2001:0:7f00:1:0:0:f5ff:fffe]",  # Teredo through a loopback server
    # the kinds of non-global addresses
    "127.0.0.1",
    "[::1]",
    "10.1.2.3",
    "172.31.255.255",
    "192.168.0.1",
    "169.254.169.254",
    "[fe80::1]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "[fec0::1]",  # site-local (deprecated)
    "0.0.0.0",
    "[::]",
    "224.0.0.1",
    "239.255.255.250",
    "[ff02::1]",
    "[ff0e::1]",  # global-scope multicast: still multicast
    "240.0.0.1",
    "255.255.255.255",
    "100.64.0.1",  # shared address space
    "198.18.0.1",  # benchmarking
    "192.0.0.8",  # IETF protocol assignments
    "192.0.2.1",  # documentation
    "198.51.100.1",
    "203.0.113.1",
    "[2001:db8::1]",
    "[3fff::1]",
    "[100::1]",  # discard-only
    "[2001:10::1]",  # ORCHID
    "[4000::1]",  # outside global unicast 2000::/3
]


@pytest.mark.parametrize("host", REFUSED)
def test_inside_and_special_addresses_are_refused(host: str) -> None:
    assert refused_host(host)


GLOBAL = [
    "8.8.8.8",
    "93.184.215.14",
    "0x5db8d70e",  # the same, in hexadecimal
    "[2606:4700:4700::1111]",
    "[2001:4860:4860::8888]",
    "[::ffff:8.8.8.8]",
    "[64:ff9b::8.8.8.8]",
    "[64:ff9b:1::8.8.8.8]",
    "[2002:808:808::1]",
]


@pytest.mark.parametrize("host", GLOBAL)
def test_global_unicast_passes(host: str) -> None:
    assert not refused_host(host)


def test_one_refused_address_refuses_the_host() -> None:
    assert check_resolved("hooks.example.com", ["8.8.8.8", "2606:4700::1"]) == "8.8.8.8"
    with pytest.raises(RefusedAddress, match=r"hooks.example.com \(10.0.0.1\).*ALLOW_PRIVATE"):
        check_resolved("hooks.example.com", ["8.8.8.8", "10.0.0.1"])
    with pytest.raises(RefusedAddress, match="no address"):
        check_resolved("hooks.example.com", [])


def test_a_zone_id_from_a_resolver_is_judged_without_it() -> None:
    assert refused_ip("fe80::1%eth0")


# the same verdict however an address is written ----------------------------------------------


def _octal(n: int) -> str:
    return f"0{n:o}"


def _hex(n: int, upper: bool) -> str:
    text = f"0x{n:x}"
    return text.upper() if upper else text


@st.composite
def ipv4_forms(draw: st.DrawFn, ip: V4) -> str:
    """The address in one of the forms `inet_aton` reads: 1 to 4 parts, each in decimal,
    octal or hexadecimal (the last part filling the bytes left)."""
    parts = draw(st.integers(1, 4))
    value, octets = int(ip), ip.packed
    numbers = [*octets[: parts - 1], value & ((1 << (8 * (5 - parts))) - 1)]
    writers: list[Callable[[int], str]] = [
        str,
        _octal,
        lambda n: _hex(n, upper=False),
        lambda n: _hex(n, upper=True),
    ]
    return ".".join(draw(st.sampled_from(writers))(n) for n in numbers)


def _teredo(ip: V4, flags: int, port: int) -> V6:
    obfuscated = (int(ip) ^ 0xFFFFFFFF) | (port ^ 0xFFFF) << 32
    return V6(0x2001_0000 << 96 | int(TEREDO_SERVER) << 64 | flags << 48 | obfuscated)


@st.composite
def ipv6_wrappings(draw: st.DrawFn, ip: V4) -> V6:
    """The address inside one of the IPv6 forms that carry IPv4."""
    low = int(ip)
    kind = draw(st.sampled_from(["mapped", "compatible", "translated", "nat64", "local", "6to4"]))
    if kind == "6to4":
        return V6(0x2002 << 112 | low << 80 | draw(st.integers(0, (1 << 80) - 1)))
    prefix = {
        "mapped": 0xFFFF << 32,
        "compatible": 0,
        "translated": 0xFFFF << 48,
        "nat64": 0x64_FF9B << 96,
        "local": (0x64_FF9B << 96) | (1 << 80),
    }[kind]
    return V6(prefix | low)


def _written(ip: V6, exploded: bool, upper: bool) -> str:
    text = ip.exploded if exploded else str(ip)
    return f"[{text.upper() if upper else text}]"


addresses = st.builds(V4, st.integers(0, 0xFFFFFFFF))
# Half of them from the blocks that matter, so refused and global verdicts both show up.
special = st.sampled_from(
    [
        ipaddress.IPv4Network(net)
        for net in ("127.0.0.0/8", "10.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10", "0.0.0.0/8")
    ]
).flatmap(lambda net: st.integers(0, net.num_addresses - 1).map(lambda i: net[i]))
any_ipv4 = st.one_of(addresses, special)


@given(any_ipv4, st.data())
def test_every_ipv4_form_gets_the_verdict_of_the_dotted_quad(ip: V4, data: st.DataObject) -> None:
    written = data.draw(ipv4_forms(ip))
    assert normalise_host(written) == str(ip)
    assert socket.inet_aton(written) == ip.packed  # the form is one the system reads so
    assert refused_host(written) == refused_ip(str(ip))


@given(any_ipv4, st.data(), st.booleans(), st.booleans())
def test_every_ipv6_wrapping_gets_the_verdict_of_the_ipv4_inside(
    ip: V4, data: st.DataObject, exploded: bool, upper: bool
) -> None:
    wrapped = data.draw(ipv6_wrappings(ip))
    assert embedded_ipv4(wrapped) == [ip]
    assert refused_host(_written(wrapped, exploded, upper)) == refused_ip(str(ip))


@given(any_ipv4, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_a_teredo_address_gets_the_verdict_of_its_client(ip: V4, flags: int, port: int) -> None:
    wrapped = _teredo(ip, flags, port)
    assert embedded_ipv4(wrapped) == [TEREDO_SERVER, ip]
    assert refused_ip(str(wrapped)) == refused_ip(str(ip))


@given(
    st.from_regex(
        r"\A(0[xX][0-9a-fA-F]{0,9}|[0-9]{1,11})(\.(0[xX][0-9a-fA-F]{0,3}|[0-9]{1,4})){0,3}\Z"
    )
)
def test_ipv4_parsing_agrees_with_inet_aton(text: str) -> None:
    try:
        expected: V4 | None = V4(socket.inet_aton(text))
    except OSError:
        expected = None
    assert parse_ipv4(text) == expected


@given(st.text())
def test_any_text_is_a_normal_host_or_refused(text: str) -> None:
    try:
        normal = normalise_host(text)
    except RefusedAddress:
        return
    assert normal.isascii()
    assert normalise_host(normal) == normal
