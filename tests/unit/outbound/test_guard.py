"""The outbound address guard with a scripted resolver: the same refusals when an address is
configured (`check_url`) and when a connection is made (`pin`), and the pinning itself."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from moorage.domain.kernel.errors import RefusedAddress
from moorage.outbound.guard import AddressGuard

pytestmark = pytest.mark.anyio

GLOBAL_IP = "93.184.215.14"

# Hosts refused without asking a resolver: written-out addresses and localhost names.
REPORTED = [
    "http://localhost.:8080/",
    "http://[::127.0.0.1]:8080/",
    "http://[::ffff:0:127.0.0.1]:8080/",
    "http://[64:ff9b:1::7f00:1]:8080/",
]
FORMS = [
    "http://LOCALHOST/",
    "http://a.localhost/",
    "https://%6cocalhost/",
    "http://127.1/",
    "http://0x7f.0.0.1/",
    "http://0177.1/",
    "http://017700000001/",
    "http://2130706433/",
    "http://127.0.0.1./",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",  # mapped cloud metadata address
    "http://[64:ff9b::a00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo, client 192.0.2.45
    "http://[fe80::1%25eth0]/",  # a zone id
    "http://[::]/",
    "http://0/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://192.0.2.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[fc00::1]/",
    "http://[2001:db8::1]/",
]


class Resolver:
    """Answers from a script, one answer per call; records the names it was asked."""

    def __init__(self, *answers: list[str] | OSError) -> None:
        self._answers: Iterator[list[str] | OSError] = iter(answers)
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        answer = next(self._answers)
        if isinstance(answer, OSError):
            raise answer
        return answer


def guard(*answers: list[str] | OSError) -> tuple[AddressGuard, Resolver]:
    resolver = Resolver(*answers)
    return AddressGuard(allow_private=False, resolver=resolver), resolver


# refused, at configuration and at connection --------------------------------------------------


@pytest.mark.parametrize("url", REPORTED + FORMS)
def test_inside_addresses_are_refused_when_configured(url: str) -> None:
    checker, resolver = guard()
    with pytest.raises(RefusedAddress, match=r"MOORAGE_ALLOW_PRIVATE_TARGETS|not a valid host"):
        checker.check_url(url)
    assert resolver.asked == []


@pytest.mark.parametrize("url", REPORTED + FORMS)
async def test_inside_addresses_are_refused_when_connecting(url: str) -> None:
    checker, resolver = guard()
    with pytest.raises(RefusedAddress):
        await checker.pin(httpx.URL(url))
    assert resolver.asked == []


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["::1"], ["10.0.0.7"], ["::ffff:10.0.0.7"], [GLOBAL_IP, "192.168.1.1"]],
)
async def test_a_name_resolving_inside_is_refused_both_times(addresses: list[str]) -> None:
    checker, resolver = guard(addresses, addresses)
    with pytest.raises(RefusedAddress, match=r"hooks\.example\.com \("):
        checker.check_url("https://hooks.example.com/x")
    with pytest.raises(RefusedAddress):
        await checker.pin(httpx.URL("https://hooks.example.com/x"))
    assert resolver.asked == [("hooks.example.com", 443)] * 2


async def test_dns_rebinding_is_refused_at_connection() -> None:
    checker, _ = guard([GLOBAL_IP], ["127.0.0.1"])
    checker.check_url("http://rebind.example.com/")
    with pytest.raises(RefusedAddress, match=r"rebind\.example\.com \(127\.0\.0\.1\)"):
        await checker.pin(httpx.URL("http://rebind.example.com/"))


# passing, and pinned -------------------------------------------------------------------------


async def test_a_global_name_is_pinned_to_its_checked_address() -> None:
    checker, resolver = guard([GLOBAL_IP], [GLOBAL_IP, "2606:4700::1"])
    url = "https://Hooks.Example.com.:8443/x?y=1"
    checker.check_url(url)
    pinned, headers, extensions = await checker.pin(httpx.URL(url))
    assert str(pinned) == f"https://{GLOBAL_IP}:8443/x?y=1"
    assert headers == {"Host": "hooks.example.com.:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    assert resolver.asked == [("hooks.example.com", 8443)] * 2


async def test_an_ipv6_answer_is_pinned_in_brackets() -> None:
    checker, _ = guard(["2606:4700::1"])
    pinned, headers, extensions = await checker.pin(httpx.URL("http://hooks.example.com/"))
    assert str(pinned) == "http://[2606:4700::1]/"
    assert headers == {"Host": "hooks.example.com"}
    assert extensions == {}  # no TLS


async def test_an_international_name_is_resolved_and_named_in_ascii() -> None:
    checker, resolver = guard([GLOBAL_IP])
    _, _, extensions = await checker.pin(httpx.URL("https://bücher.example/"))
    assert resolver.asked == [("xn--bcher-kva.example", 443)]
    assert extensions == {"sni_hostname": "xn--bcher-kva.example"}


async def test_a_global_address_is_called_as_written() -> None:
    checker, resolver = guard()
    url = httpx.URL(f"https://{GLOBAL_IP}/hook")
    checker.check_url(str(url))
    assert await checker.pin(url) == (url, {}, {})
    assert resolver.asked == []


async def test_another_spelling_of_a_global_address_is_called_as_a_dotted_quad() -> None:
    checker, _ = guard()
    pinned, headers, extensions = await checker.pin(httpx.URL("https://0x5db8d70e/hook"))
    assert str(pinned) == f"https://{GLOBAL_IP}/hook"
    assert headers == {"Host": "0x5db8d70e"}
    assert extensions == {}  # an address is no TLS server name


async def test_a_name_that_does_not_resolve_passes_configuration_but_not_connection() -> None:
    missing = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    checker, _ = guard(missing, missing)
    checker.check_url("https://later.example.com/")
    with pytest.raises(socket.gaierror, match="not known"):
        await checker.pin(httpx.URL("https://later.example.com/"))


async def test_the_operator_may_allow_private_targets() -> None:
    resolver = Resolver()
    checker = AddressGuard(allow_private=True, resolver=resolver)
    for url in REPORTED + FORMS:
        checker.check_url(url)
    url = httpx.URL("http://127.1:8080/")
    assert await checker.pin(url) == (url, {}, {})
    assert resolver.asked == []


@given(st.text(), st.sampled_from(["http", "https"]))
def test_any_host_is_checked_or_refused_never_an_other_error(host: str, scheme: str) -> None:
    checker = AddressGuard(allow_private=False, resolver=lambda host, port: [GLOBAL_IP])
    with contextlib.suppress(RefusedAddress):
        checker.check_url(f"{scheme}://{host}/")


def test_a_url_that_does_not_parse_is_refused() -> None:
    with pytest.raises(RefusedAddress, match="not a valid URL"):
        guard()[0].check_url("http://[::1/")
