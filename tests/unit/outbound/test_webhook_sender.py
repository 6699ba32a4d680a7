"""The httpx webhook sender against a receiver on loopback: what it sends, how it fails, and
the address guard (at creation and at delivery, where it connects to the address it checked)."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from moorage.domain.kernel import addresses
from moorage.domain.webhooks.errors import RefusedAddress
from moorage.domain.webhooks.ports import OutboundRequest
from moorage.outbound import guard
from moorage.outbound.guard import AddressGuard
from moorage.outbound.webhook_sender import HttpWebhookSender

pytestmark = pytest.mark.anyio


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int
    scheme: str = "http"
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    reply: bytes = b"ok"
    delay: float = 0.0

    def url(self, host: str = "127.0.0.1", path: str = "/hook") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


def _handler(receiver: Receiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
            time.sleep(receiver.delay)
            self.send_response(receiver.status)
            if receiver.status in (301, 302, 307):
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", str(len(receiver.reply)))
            self.end_headers()
            self.wfile.write(receiver.reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _serve(receiver: Receiver, context: ssl.SSLContext | None) -> Iterator[Receiver]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve(Receiver(0), None)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost` (and only that name)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_receiver(certificate: tuple[Path, Path]) -> Iterator[Receiver]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    yield from _serve(Receiver(0, scheme="https"), context)


def post(url: str, *, verify: bool = True, **headers: str) -> OutboundRequest:
    return OutboundRequest(url, b'{"type":"PUSH_ARTIFACT"}', dict(headers), verify)


@pytest.fixture
def trusting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the guard's resolve-check-connect path run against loopback (it refuses it)."""
    monkeypatch.setattr(addresses, "refused_ip", lambda ip: False)
    monkeypatch.setattr(guard, "refused_name", lambda name: False)


# the address guard --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://[::1]:8080/", "http://localhost/"])
def test_inside_addresses_are_refused_at_creation(url: str) -> None:
    with pytest.raises(RefusedAddress, match="MOORAGE_ALLOW_PRIVATE_TARGETS"):
        HttpWebhookSender().check_address(url)


def test_the_operator_may_allow_inside_addresses() -> None:
    HttpWebhookSender(allow_private_targets=True).check_address("http://127.0.0.1/")


async def test_inside_addresses_are_refused_at_delivery_without_a_request(
    receiver: Receiver,
) -> None:
    for host in ("127.0.0.1", "localhost"):
        response = await HttpWebhookSender().post(post(receiver.url(host)))
        assert response.refused
        assert response.status_code is None
        assert response.error is not None
        assert "private" in response.error
    assert receiver.requests == []


async def test_delivery_connects_to_the_checked_address_with_the_original_host(
    receiver: Receiver, trusting: None
) -> None:
    response = await HttpWebhookSender().post(post(receiver.url("localhost")))
    assert response.error is None
    assert receiver.requests[0].headers["Host"] == f"localhost:{receiver.port}"


LOOPBACK_SPELLINGS = ["127.1", "0x7f000001", "2130706433", "0177.1"]


@pytest.mark.parametrize(
    "host",
    [
        *LOOPBACK_SPELLINGS,
        "localhost.",
        "[::ffff:127.0.0.1]",
        "[::127.0.0.1]",
        "[::ffff:0:127.0.0.1]",
        "[64:ff9b:1::7f00:1]",
    ],
)
async def test_every_spelling_of_loopback_is_refused_at_delivery(
    receiver: Receiver, host: str
) -> None:
    response = await HttpWebhookSender().post(post(receiver.url(host)))
    assert response.refused, response.error
    assert receiver.requests == []


async def test_those_spellings_do_reach_loopback(receiver: Receiver) -> None:
    """What the refusals above prevent: each spelling is a way to the receiver."""
    sender = HttpWebhookSender(allow_private_targets=True)
    for host in LOOPBACK_SPELLINGS:
        response = await sender.post(post(receiver.url(host)))
        assert response.error is None, (host, response.error)
    assert len(receiver.requests) == len(LOOPBACK_SPELLINGS)


async def test_delivery_connects_to_the_address_the_guard_resolved(
    receiver: Receiver, trusting: None
) -> None:
    """The system's resolver knows no `hooks.invalid`: the connection goes to the address
    the guard resolved and checked, never to a second lookup's answer."""
    resolved = AddressGuard(allow_private=False, resolver=lambda host, port: ["127.0.0.1"])
    response = await HttpWebhookSender(guard=resolved).post(post(receiver.url("hooks.invalid")))
    assert response.error is None, response.error
    assert receiver.requests[0].headers["Host"] == f"hooks.invalid:{receiver.port}"


async def test_a_name_resolving_inside_at_delivery_is_refused(receiver: Receiver) -> None:
    rebound = AddressGuard(allow_private=False, resolver=lambda host, port: ["127.0.0.1"])
    response = await HttpWebhookSender(guard=rebound).post(post(receiver.url("hooks.invalid")))
    assert response.refused
    assert response.error is not None
    assert "hooks.invalid (127.0.0.1)" in response.error
    assert receiver.requests == []


# what is sent ----------------------------------------------------------------------------------


async def test_the_body_and_headers_arrive(receiver: Receiver) -> None:
    sender = HttpWebhookSender(allow_private_targets=True, user_agent="moorage/9.9")
    request = post(receiver.url(path="/hook?x=1"), Authorization="Bearer t", **{"X-Id": "7"})
    response = await sender.post(request)
    assert response.status_code == 200
    assert response.error is None
    assert response.duration_ms >= 0
    [got] = receiver.requests
    assert got.path == "/hook?x=1"
    assert got.body == request.body
    assert got.headers["Authorization"] == "Bearer t"
    assert got.headers["X-Id"] == "7"
    assert got.headers["User-Agent"] == "moorage/9.9"


# failures ------------------------------------------------------------------------------------


async def test_an_error_status_is_a_failure_with_the_start_of_the_body(
    receiver: Receiver,
) -> None:
    receiver.status, receiver.reply = 503, b"  down for\n maintenance " + b"x" * 2000
    response = await HttpWebhookSender(allow_private_targets=True).post(post(receiver.url()))
    assert response.status_code == 503
    assert response.error is not None
    assert response.error.startswith("HTTP 503: down for maintenance xxx")
    assert len(response.error) < 300
    assert not response.refused


async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.status = 302
    response = await HttpWebhookSender(allow_private_targets=True).post(post(receiver.url()))
    assert response.status_code == 302
    assert len(receiver.requests) == 1


async def test_a_closed_port_is_a_failure_without_a_status(receiver: Receiver) -> None:
    url = receiver.url().replace(str(receiver.port), "1")
    response = await HttpWebhookSender(allow_private_targets=True).post(post(url))
    assert response.status_code is None
    assert response.error
    assert not response.refused


async def test_a_slow_target_times_out(receiver: Receiver) -> None:
    receiver.delay = 2.0
    sender = HttpWebhookSender(allow_private_targets=True, total_timeout=0.5)
    started = time.monotonic()
    response = await sender.post(post(receiver.url()))
    assert time.monotonic() - started < 1.5
    assert response.status_code is None
    assert response.error == "no answer within 0.5 s"


# TLS -----------------------------------------------------------------------------------------


async def test_tls_is_verified_unless_skipped(tls_receiver: Receiver) -> None:
    sender = HttpWebhookSender(allow_private_targets=True)
    refused = await sender.post(post(tls_receiver.url("localhost")))
    assert refused.status_code is None
    assert refused.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in refused.error
    skipped = await sender.post(post(tls_receiver.url("localhost"), verify=False))
    assert skipped.error is None


async def test_tls_checks_the_name_while_connecting_to_the_checked_address(
    tls_receiver: Receiver,
    certificate: tuple[Path, Path],
    trusting: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    response = await HttpWebhookSender().post(post(tls_receiver.url("localhost")))
    assert response.error is None, response.error
    assert tls_receiver.requests[0].headers["Host"] == f"localhost:{tls_receiver.port}"
