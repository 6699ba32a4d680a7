"""X-Forwarded-* are believed from trusted proxies only (moorage.api.proxy)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest
from starlette.requests import Request

from moorage.api.auth import SignIn, TokenAuthorizer
from moorage.api.proxy import ForwardedHeaders, TrustedProxies, parse_address, parse_networks
from moorage.api.tokens import TokenSigner
from moorage.config import Settings
from moorage.domain.identity.access import Action

NGINX = "127.0.0.1"
LAN_PROXY = "10.1.2.3"
TRUSTED = [NGINX, "10.0.0.0/8"]


def scope_from(
    peer: str | None,
    headers: list[tuple[str, str]],
    *,
    scheme: str = "http",
    host: str = "127.0.0.1:5000",
) -> dict[str, Any]:
    raw = [(b"host", host.encode())] + [(k.lower().encode(), v.encode()) for k, v in headers]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": scheme,
        "path": "/v2/",
        "raw_path": b"/v2/",
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "server": ("127.0.0.1", 5000),
        "client": (peer, 40123) if peer else None,
    }


def seen_by_app(scope: dict[str, Any], trusted: list[str] = TRUSTED) -> Request:
    """The request the app behind the middleware is handed."""
    seen: list[Request] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(Request(scope))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    asyncio.run(ForwardedHeaders(app, TrustedProxies(trusted))(scope, receive, send))
    [request] = seen
    return request


def client_host(request: Request) -> str | None:
    return request.client.host if request.client else None


FORWARDED = [
    ("X-Forwarded-For", "203.0.113.7"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "reg.example.com"),
]


def test_a_trusted_proxy_speaks_for_the_client() -> None:
    request = seen_by_app(scope_from(NGINX, FORWARDED))
    assert request.url.scheme == "https"
    assert request.headers["host"] == "reg.example.com"
    assert str(request.base_url) == "https://reg.example.com/"
    assert client_host(request) == "203.0.113.7"
    assert request.scope["server"] == ("reg.example.com", 443)


def test_a_forwarded_host_keeps_its_port() -> None:
    request = seen_by_app(scope_from(NGINX, [*FORWARDED[:2], ("X-Forwarded-Host", "h:8443")]))
    assert str(request.base_url) == "https://h:8443/"
    assert request.scope["server"] == ("h", 8443)


@pytest.mark.parametrize("peer", ["198.51.100.9", "127.0.0.2", "11.0.0.1", "::1"])
def test_spoofed_headers_from_an_untrusted_peer_are_ignored(peer: str) -> None:
    request = seen_by_app(scope_from(peer, FORWARDED))
    assert request.url.scheme == "http"
    assert request.headers["host"] == "127.0.0.1:5000"
    assert client_host(request) == peer


def test_nobody_is_trusted_by_default() -> None:
    assert Settings().trusted_proxies == []
    request = seen_by_app(scope_from(NGINX, FORWARDED), trusted=Settings().trusted_proxies)
    assert (request.url.scheme, request.client) == ("http", (NGINX, 40123))


def test_no_peer_address_is_no_trusted_peer() -> None:
    request = seen_by_app(scope_from(None, FORWARDED))
    assert request.url.scheme == "http"
    assert request.client is None


def test_an_ipv4_mapped_peer_is_its_ipv4_address() -> None:
    request = seen_by_app(scope_from("::ffff:127.0.0.1", FORWARDED))
    assert client_host(request) == "203.0.113.7"


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        # the client made up the first two hops; nginx appended the address it saw
        ("1.1.1.1, 2.2.2.2, 203.0.113.7", "203.0.113.7"),
        # a trusted LAN proxy in front of nginx: the hop before it is the client
        ("1.1.1.1, 203.0.113.7, 10.1.2.3", "203.0.113.7"),
        ("203.0.113.7,10.9.9.9,  10.1.2.3", "203.0.113.7"),
        # every hop trusted: the one furthest away
        ("10.5.5.5, 10.1.2.3", "10.5.5.5"),
        ("[2001:db8::7]:4711, 10.1.2.3", "2001:db8::7"),
        ("203.0.113.7:4711", "203.0.113.7"),
    ],
)
def test_the_client_is_the_right_most_untrusted_hop(chain: str, client: str) -> None:
    request = seen_by_app(scope_from(NGINX, [("X-Forwarded-For", chain)]))
    assert client_host(request) == client


def test_repeated_x_forwarded_for_headers_are_one_chain() -> None:
    headers = [("X-Forwarded-For", "1.1.1.1, 203.0.113.7"), ("X-Forwarded-For", LAN_PROXY)]
    request = seen_by_app(scope_from(NGINX, headers))
    assert client_host(request) == "203.0.113.7"


def test_an_unreadable_hop_leaves_the_peer() -> None:
    request = seen_by_app(scope_from(NGINX, [("X-Forwarded-For", "1.1.1.1, unknown")]))
    assert client_host(request) == NGINX


@pytest.mark.parametrize("host", ['evil.com", error="x', "a b", "a/b", "h:99999", "", "h:", "[zz]"])
def test_an_unfit_forwarded_host_is_ignored(host: str) -> None:
    request = seen_by_app(scope_from(NGINX, [("X-Forwarded-Host", host)]))
    assert request.headers["host"] == "127.0.0.1:5000"
    assert request.scope["server"] == ("127.0.0.1", 5000)


def test_of_several_forwarded_hosts_the_nearest_proxy_counts() -> None:
    request = seen_by_app(scope_from(NGINX, [("X-Forwarded-Host", "made.up, reg.example.com")]))
    assert request.headers["host"] == "reg.example.com"


def test_an_ipv6_forwarded_host() -> None:
    request = seen_by_app(scope_from(NGINX, [("X-Forwarded-Host", "[2001:db8::1]:8443")]))
    assert request.headers["host"] == "[2001:db8::1]:8443"
    assert request.scope["server"] == ("2001:db8::1", 8443)


@pytest.mark.parametrize(("proto", "scheme"), [("HTTPS", "https"), ("http", "http")])
def test_the_forwarded_proto(proto: str, scheme: str) -> None:
    request = seen_by_app(scope_from(NGINX, [("X-Forwarded-Proto", proto)], scheme="https"))
    assert request.url.scheme == scheme


def test_an_unknown_proto_is_ignored_and_the_nearest_proxy_counts() -> None:
    assert seen_by_app(scope_from(NGINX, [("X-Forwarded-Proto", "ftp")])).url.scheme == "http"
    chained = [("X-Forwarded-Proto", "http, https")]
    assert seen_by_app(scope_from(NGINX, chained)).url.scheme == "https"


def test_other_scopes_pass_untouched() -> None:
    scope = {"type": "lifespan"}
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    asyncio.run(ForwardedHeaders(app, TrustedProxies(TRUSTED))(scope, None, None))  # type: ignore[arg-type]
    assert seen == [scope]


def _realm(request: Request) -> str:
    sign_in = cast(SignIn, SimpleNamespace(identities=None, blocking=None))
    authorizer = TokenAuthorizer(sign_in, TokenSigner(b"k" * 32, "moorage", 60))
    error = authorizer._challenge(request, "reg/app", frozenset({Action.PULL}), "")
    challenge = error.headers["WWW-Authenticate"]
    return challenge.split('realm="', 1)[1].split('"', 1)[0]


def test_the_token_realm_is_the_proxy_url_only_from_a_trusted_proxy() -> None:
    assert _realm(seen_by_app(scope_from(NGINX, FORWARDED))) == (
        "https://reg.example.com/auth/token"
    )
    spoofed = seen_by_app(scope_from("198.51.100.9", FORWARDED))
    assert _realm(spoofed) == "http://127.0.0.1:5000/auth/token"


def test_parsing_addresses_and_networks() -> None:
    assert parse_address(" 192.0.2.1 ") is not None
    assert parse_address("192.0.2.1:80") == parse_address("192.0.2.1")
    assert parse_address("[::1]:80") == parse_address("::1")
    assert parse_address("unknown") is None
    assert [str(n) for n in parse_networks(["10.1.2.3/8", " ", "::1"])] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError, match="nginx"):
        parse_networks(["nginx"])


def test_trusted_proxies_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOORAGE_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,,::1")
    assert Settings().trusted_proxies == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    monkeypatch.setenv("MOORAGE_TRUSTED_PROXIES", "nginx.internal")
    with pytest.raises(ValueError, match="not an address or CIDR"):
        Settings()
