"""The OCI client's blob download against a registry and a storage server on loopback: the
token flow (one token for several requests), a redirect to storage (pinned by the guard like
every hop, and never sent the registry's credentials), and a download broken midway that
goes on with a Range request from where it stopped."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import anyio
import pytest

from moorage.domain.kernel.errors import RefusedAddress
from moorage.domain.replication.endpoints import BlobRef, EndpointAuthError, EndpointError
from moorage.outbound.guard import AddressGuard
from moorage.outbound.oci_client import Backoff, OciRegistry
from tests.support.recording_guard import RecordingGuard

pytestmark = pytest.mark.anyio

DATA = bytes(range(256)) * 4096  # 1 MiB
DIGEST = f"sha256:{hashlib.sha256(DATA).hexdigest()}"
TOKEN = "a-token"


@dataclass
class Seen:
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    cut_next: bool = True  # the storage breaks its first answer halfway
    token_lifetime: int = 3600

    def paths(self, prefix: str) -> list[str]:
        return [path for _, path, _ in self.requests if path.startswith(prefix)]


def _handler(seen: Seen, storage_port: list[int]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: bytes = b"", **headers: str) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            seen.requests.append(("GET", self.path, dict(self.headers.items())))
            host = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path.startswith("/token"):
                self._token()
            elif self.path.startswith("/v2/"):
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    challenge = f'Bearer realm="{host}/token",service="test"'
                    self._answer(401, b"{}", WWW_Authenticate=challenge)
                else:
                    target = f"http://127.0.0.1:{storage_port[0]}/bucket/blob?signature=x"
                    self._answer(307, Location=target)
            else:
                self._storage()

        def _token(self) -> None:
            if self.headers.get("Authorization") != "Basic dXNlcjpwYXNz":  # user:pass
                self._answer(401)
                return
            body = json.dumps({"token": TOKEN, "expires_in": seen.token_lifetime}).encode()
            self._answer(200, body, Content_Type="application/json")

        def _storage(self) -> None:
            start = int(self.headers.get("Range", "bytes=0-")[6:].rstrip("-") or 0)
            part = DATA[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")
            self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            if seen.cut_next:
                seen.cut_next = False
                self.wfile.write(part[: len(part) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(part)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def seen() -> Iterator[tuple[Seen, int]]:
    seen = Seen()
    storage_port: list[int] = []
    handler = _handler(seen, storage_port)
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) for _ in range(2)]
    storage_port.append(servers[1].server_address[1])
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield seen, servers[0].server_address[1]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


async def _download(client: OciRegistry) -> bytes:
    opener = client.open_blob("app", BlobRef(DIGEST, len(DATA)))
    return b"".join([chunk async for chunk in opener(0)])


async def test_a_redirected_download_broken_midway_resumes_with_a_range(
    seen: tuple[Seen, int],
) -> None:
    record, port = seen
    guard = RecordingGuard()
    client = OciRegistry(
        f"http://127.0.0.1:{port}", "ns", "user", "pass", guard=guard, backoff=Backoff(first=0.01)
    )
    try:
        assert await _download(client) == DATA
        assert await _download(client) == DATA
    finally:
        await client.close()
    assert len(record.paths("/token")) == 1  # kept for the second download
    storage = [r for r in record.requests if r[1].startswith("/bucket/")]
    assert len(storage) == 3  # cut, resumed, the second download
    assert storage[1][2]["Range"] == f"bytes={len(DATA) // 2}-"
    assert not any("Authorization" in headers for _, _, headers in storage)
    # Every hop was pinned by the guard: registry and storage alike, each time.
    pinned = [str(url) for url in guard.pinned]
    assert sum("/bucket/" in url for url in pinned) == 3
    assert sum("/v2/ns/app/blobs/" in url for url in pinned) >= 3


async def test_wrong_credentials_for_the_token_are_an_auth_error(
    seen: tuple[Seen, int],
) -> None:
    _, port = seen
    client = OciRegistry(
        f"http://127.0.0.1:{port}", "ns", "user", "wrong", guard=AddressGuard(allow_private=True)
    )
    with pytest.raises(EndpointAuthError, match="refused the credentials"):
        await _download(client)
    await client.close()


def unresolvable(backoff: Backoff) -> OciRegistry:
    """A client of a registry whose name never resolves."""
    return OciRegistry(
        "http://registry.invalid",
        "",
        None,
        None,
        guard=AddressGuard(allow_private=False),
        backoff=backoff,
    )


async def test_a_name_that_does_not_resolve_is_unreachable_after_the_retries() -> None:
    client = unresolvable(Backoff(attempts=2, first=0.01))
    with pytest.raises(EndpointError, match=r"cannot be reached: .*does not resolve"):
        await client.check()
    await client.close()


async def test_a_private_address_is_refused_unless_allowed(seen: tuple[Seen, int]) -> None:
    _, port = seen
    client = OciRegistry(
        f"http://127.0.0.1:{port}", "", None, None, guard=AddressGuard(allow_private=False)
    )
    with pytest.raises(RefusedAddress):
        await client.check()
    await client.close()


async def test_a_token_is_asked_for_again_once_it_expires(seen: tuple[Seen, int]) -> None:
    record, port = seen
    record.cut_next = False
    record.token_lifetime = 1
    client = OciRegistry(
        f"http://127.0.0.1:{port}", "ns", "user", "pass", guard=AddressGuard(allow_private=True)
    )
    try:
        assert await _download(client) == DATA
        assert await _download(client) == DATA  # within the second: the same token
        await anyio.sleep(1.1)
        assert await _download(client) == DATA
    finally:
        await client.close()
    assert len(record.paths("/token")) == 2


async def test_a_check_of_a_silent_remote_answers_within_a_second() -> None:
    """A check has someone waiting (a rule's refresh): it retries once, whatever patience the
    client's copies have."""
    client = unresolvable(Backoff(attempts=6, first=2.0))
    started = time.monotonic()
    with pytest.raises(EndpointError, match="cannot be reached"):
        await client.check()
    assert time.monotonic() - started < 1.5
    await client.close()
