"""Hostile connections cannot starve new clients: a live `moorage serve` under idle keep-alive
connections, slowloris headers and slow uploads keeps answering new clients within a second.

Also: a request body that goes silent is cut after `http_body_timeout_seconds` (a 400, never a
500), a slow but progressing upload is not, and a client that vanishes mid-upload is one info
line and one count at /metrics.

The hostile connections are raw asyncio sockets in a thread of their own; the probes are new
httpx clients in the test's main thread, so a busy hostile loop cannot slow the probes down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import resource
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from moorage.api.auth import TOKEN_PATH
from tests.support.oci_auth import DockerTokenAuth
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

IDLE_CONNECTIONS = 1000
SLOWLORIS_CONNECTIONS = 500
SLOW_UPLOADS = 100
HOLD_SECONDS = 25.0  # longer than the default header timeout (15 s): idle ones must be cut
OPEN_WAIT = 20.0  # seconds for all hostile connections to open (in well under one)
TRICKLE_SECONDS = 2.0
PROBE_LIMIT = 1.0  # seconds: what the spec demands of every probe, no tighter
PROBE_PAUSE = 0.2
PROBE_TIMEOUT = 5.0
REPOSITORY = "hostile/probe"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def raise_open_file_limit() -> None:
    """The test holds ~1,600 sockets at once: allow as many descriptors as the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def config_blob() -> bytes:
    """A valid image config of exactly 1 KiB, unique to each call."""
    doc = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    head = json.dumps({**doc, "pad": ""}).encode()
    pad = os.urandom(1024).hex()[: 1024 - len(head)]
    data = json.dumps({**doc, "pad": pad}).encode()
    assert len(data) == 1024
    return data


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the Prometheus exposition text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{{re.escape(wanted)}\}})? (\S+)$", re.M)
    found = pattern.search(text)
    return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with the default limits and timeouts, authentication on."""
    server = ServerProcess(tmp_path_factory.mktemp("hostile"), auth=True).start()
    try:
        server.create_registry(REPOSITORY.split("/")[0])
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def auth(hostile_server: ServerProcess) -> DockerTokenAuth:
    """The Docker token flow; the token it gets first is reused by every later client."""
    token_auth = DockerTokenAuth(hostile_server.username, hostile_server.password)
    with httpx.Client(base_url=hostile_server.url, auth=token_auth, timeout=30) as client:
        assert client.get(f"/v2/{REPOSITORY}/tags/list").status_code in (200, 404)
    return token_auth


def bearer_token(server: ServerProcess, auth: DockerTokenAuth) -> str:
    """A push token for REPOSITORY, for the raw-socket uploads (no challenge round trip)."""
    scope = f"repository:{REPOSITORY}:pull,push"
    return auth.fetch_token(f"{server.url}{TOKEN_PATH}", "moorage", scope)


# --- the hostile connections ------------------------------------------------------------------


class HostileLoad:
    """1,000 idle keep-alive connections, 500 slowloris, 100 slow chunked PATCHes, held open
    until `stop()`; records when the server closed each and how the uploads ended.

    Runs its own event loop in a thread (`run`); `ready` is set once every connection is open
    (or OPEN_WAIT passed: then `errors` says how many opened)."""

    def __init__(self, port: int, token: str, upload_paths: list[str]) -> None:
        self.port = port
        self.token = token
        self.upload_paths = upload_paths
        self.ready = threading.Event()
        self.opened_at = 0.0
        self.errors: list[str] = []
        self.idle_closed: list[float] = []
        self.slowloris_closed: list[float] = []
        self.upload_results: list[str] = []
        self._total = IDLE_CONNECTIONS + SLOWLORIS_CONNECTIONS + len(upload_paths)
        self._opened = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._all_open: asyncio.Event | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop, self._all_open = asyncio.Event(), asyncio.Event()
        holders = [
            *(asyncio.create_task(self._idle()) for _ in range(IDLE_CONNECTIONS)),
            *(asyncio.create_task(self._slowloris()) for _ in range(SLOWLORIS_CONNECTIONS)),
        ]
        uploads = [asyncio.create_task(self._slow_upload(p)) for p in self.upload_paths]
        try:
            await asyncio.wait_for(self._all_open.wait(), OPEN_WAIT)
        except TimeoutError:
            self.errors.append(f"only {self._opened} of {self._total} connections opened")
        self.opened_at = time.monotonic()
        self.ready.set()
        await self._stop.wait()
        # The uploads send their last chunk and read their answer; the rest just end.
        done, _ = await asyncio.wait(uploads, timeout=30)
        for task in holders + uploads:
            task.cancel()
        results = await asyncio.gather(*holders, *uploads, return_exceptions=True)
        self.errors += [
            repr(r)
            for r in results
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
        ]
        self.errors += [f"upload did not end: {t!r}" for t in uploads if t not in done]
        for writer in self._writers:
            writer.transport.abort()

    def _one_open(self) -> None:
        self._opened += 1
        if self._opened == self._total and self._all_open is not None:
            self._all_open.set()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._writers.append(writer)
        return reader, writer

    async def _wait_eof(self, reader: asyncio.StreamReader, seconds: float) -> bool:
        """True if the server closed the connection within `seconds` (data is not expected)."""
        try:
            return await asyncio.wait_for(reader.read(), seconds) == b""
        except TimeoutError:
            return False
        except OSError:
            return True

    async def _idle(self) -> None:
        """One complete request, then silence: only the server's idle timeout ends it."""
        assert self._stop is not None
        reader, writer = await self._connect()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = re.search(rb"content-length: (\d+)", head.lower())
        await reader.readexactly(int(length.group(1)) if length else 0)
        self._one_open()
        while not self._stop.is_set():
            if await self._wait_eof(reader, TRICKLE_SECONDS):
                self.idle_closed.append(time.monotonic())
                return

    async def _slowloris(self) -> None:
        """A request head that never ends: a byte of a header line every TRICKLE_SECONDS."""
        assert self._stop is not None
        reader, writer = await self._connect()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        await writer.drain()
        self._one_open()
        while not self._stop.is_set():
            if await self._wait_eof(reader, TRICKLE_SECONDS):
                self.slowloris_closed.append(time.monotonic())
                return
            try:
                writer.write(b"x")
                await writer.drain()
            except OSError:
                self.slowloris_closed.append(time.monotonic())
                return

    async def _slow_upload(self, path: str) -> None:
        """A chunked PATCH sending 8 bytes every TRICKLE_SECONDS: slow, but progressing."""
        assert self._stop is not None
        reader, writer = await self._connect()
        writer.write(
            f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.token}\r\n"
            "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        await writer.drain()
        self._one_open()
        sent = 0
        while not self._stop.is_set():
            piece = os.urandom(8)
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            sent += len(piece)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), TRICKLE_SECONDS)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        ranged = re.search(rb"\r\nrange: 0-(\d+)", head.lower())
        if head.startswith(b"HTTP/1.1 202") and ranged and int(ranged.group(1)) == sent - 1:
            self.upload_results.append("ok")
        else:
            self.upload_results.append(f"after {sent} bytes: {head!r}")


# --- the probes -------------------------------------------------------------------------------


@dataclass
class Probes:
    """New clients, timed: every request's latency and status (0: no answer in PROBE_TIMEOUT)."""

    url: str
    auth: DockerTokenAuth
    results: list[tuple[str, float, int]] = field(default_factory=list)

    def _timed(
        self, what: str, client: httpx.Client, method: str, path: str, **kw: Any
    ) -> httpx.Response | None:
        start = time.monotonic()
        try:
            response = client.request(method, path, **kw)
        except httpx.TransportError:
            self.results.append((what, time.monotonic() - start, 0))
            return None
        self.results.append((what, time.monotonic() - start, response.status_code))
        return response

    def healthz(self) -> None:
        with httpx.Client(base_url=self.url, timeout=PROBE_TIMEOUT) as client:
            self._timed("GET /healthz", client, "GET", "/healthz")

    def push(self) -> None:
        """A new client pushes a 1 KiB config blob (POST, PUT ?digest=) and a tiny manifest."""
        blob = config_blob()
        digest = digest_of(blob)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": digest, "size": len(blob)},
                "layers": [],
            }
        ).encode()
        with httpx.Client(base_url=self.url, auth=self.auth, timeout=PROBE_TIMEOUT) as client:
            started = self._timed("POST upload", client, "POST", f"/v2/{REPOSITORY}/blobs/uploads/")
            if started is None or started.status_code != 202:
                return
            done = self._timed(
                "PUT blob",
                client,
                "PUT",
                started.headers["location"],
                params={"digest": digest},
                content=blob,
                headers={"Content-Type": "application/octet-stream"},
            )
            if done is None or done.status_code != 201:
                return
            self._timed(
                "PUT manifest",
                client,
                "PUT",
                f"/v2/{REPOSITORY}/manifests/p{time.monotonic_ns()}",
                content=manifest,
                headers={"Content-Type": OCI_MANIFEST},
            )

    def summary(self) -> str:
        lines = []
        for what in dict.fromkeys(what for what, _, _ in self.results):
            times = sorted(t for w, t, _ in self.results if w == what)
            lines.append(
                f"{what:>13}: {len(times)} probes, median {times[len(times) // 2] * 1000:.0f} ms,"
                f" p99 {times[min(len(times) - 1, len(times) * 99 // 100)] * 1000:.0f} ms,"
                f" max {times[-1] * 1000:.0f} ms"
            )
        return "\n".join(lines)


def test_new_clients_are_served_under_hostile_connections(
    hostile_server: ServerProcess, auth: DockerTokenAuth
) -> None:
    raise_open_file_limit()
    probes = Probes(hostile_server.url, auth)
    probes.push()  # warm: the token is cached, the code paths are loaded
    assert [status for _, _, status in probes.results] == [202, 201, 201], probes.results
    probes.results.clear()
    token = bearer_token(hostile_server, auth)
    with httpx.Client(base_url=hostile_server.url, auth=auth, timeout=30) as client:
        uploads = []
        for _ in range(SLOW_UPLOADS):
            response = client.post(f"/v2/{REPOSITORY}/blobs/uploads/")
            assert response.status_code == 202, response.text
            uploads.append(response.headers["location"])

    load = HostileLoad(hostile_server.port, token, uploads)
    thread = threading.Thread(target=load.run, name="hostile-load", daemon=True)
    thread.start()
    try:
        assert load.ready.wait(OPEN_WAIT + 30), "the hostile load did not start"
        # Probe even if not every hostile connection got in: the probes show the damage.
        deadline = load.opened_at + HOLD_SECONDS
        while time.monotonic() < deadline:
            probes.healthz()
            probes.push()
            time.sleep(PROBE_PAUSE)
    finally:
        load.stop()
        thread.join(60)
    assert not thread.is_alive(), "the hostile connections did not close"

    slow = [
        (what, round(latency, 3), status)
        for what, latency, status in probes.results
        if latency >= PROBE_LIMIT
    ]
    print(f"\nprobes under hostile load:\n{probes.summary()}")
    assert len(probes.results) >= 20, "too few probes ran during the hold"
    failed = [r for r in probes.results if not 200 <= r[2] < 300]
    assert not failed, f"probes that failed (status 0: no answer in {PROBE_TIMEOUT}s): {failed}"
    assert not slow, f"probes slower than {PROBE_LIMIT}s: {slow}"
    assert not load.errors, load.errors[:5]
    # The header timeout (15 s by default) cut every idle and every slowloris connection...
    assert len(load.idle_closed) == IDLE_CONNECTIONS, len(load.idle_closed)
    assert len(load.slowloris_closed) == SLOWLORIS_CONNECTIONS, len(load.slowloris_closed)
    # ...while every slow but progressing upload went on and completed.
    assert load.upload_results == ["ok"] * SLOW_UPLOADS, load.upload_results[:5]
    assert "Traceback" not in hostile_server.log()


# --- body inactivity and client aborts --------------------------------------------------------

BODY_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def short_timeout_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"MOORAGE_HTTP_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT), "MOORAGE_LOG_LEVEL": "info"}
    server = ServerProcess(tmp_path_factory.mktemp("short"), extra_env=env).start()
    try:
        server.create_registry(REPOSITORY.split("/")[0])
        yield server
    finally:
        server.stop()


def start_upload(server: ServerProcess) -> str:
    response = httpx.post(f"{server.url}/v2/{REPOSITORY}/blobs/uploads/", timeout=10)
    assert response.status_code == 202, response.text
    return str(response.headers["location"])


def metrics_text(server: ServerProcess) -> str:
    return httpx.get(f"{server.url}/metrics", timeout=10).text


def raw_patch(server: ServerProcess, path: str, headers: str = "") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(
        f"PATCH {path} HTTP/1.1\r\nHost: {server.host}\r\n"
        f"Content-Type: application/octet-stream\r\n{headers}\r\n".encode()
    )
    return sock


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def assert_clean_log(server: ServerProcess) -> None:
    log = server.log()
    assert "Traceback" not in log, log[-4000:]
    assert "unexpected error" not in log, log[-4000:]
    assert " ERROR " not in log, log[-4000:]
    assert "[ERROR]" not in log, log[-4000:]


def test_silent_body_is_cut_without_a_500(short_timeout_server: ServerProcess) -> None:
    server = short_timeout_server
    before = metric(metrics_text(server), "moorage_client_aborts_total", reason="body_timeout")
    path = start_upload(server)
    with contextlib.closing(raw_patch(server, path, "Transfer-Encoding: chunked\r\n")) as sock:
        sock.sendall(b"5\r\nhello\r\n")  # then nothing
        start = time.monotonic()
        answer = read_all(sock)  # the server answers and closes the connection
        waited = time.monotonic() - start
    status = answer.split(b" ", 2)[1]
    assert status == b"400", answer
    assert b"connection: close" in answer.lower()
    assert BODY_TIMEOUT - 0.5 <= waited < BODY_TIMEOUT + 10, waited
    text = metrics_text(server)
    assert metric(text, "moorage_client_aborts_total", reason="body_timeout") == before + 1
    assert 'status="5xx"' not in text
    assert_clean_log(server)
    lines, logged = about(server, path)
    assert len(lines) == 1, lines
    assert len(logged) == 1, logged  # and the request, once, in the access log
    assert " INFO " in lines[0], lines
    assert "sent nothing" in lines[0], lines


def about(server: ServerProcess, path: str) -> tuple[list[str], list[str]]:
    """The server's log lines naming `path`: what moorage said about the request, and the
    access log's line for it."""
    naming = [line for line in server.log().splitlines() if path in line]
    access = [line for line in naming if " moorage.access " in line]
    return [line for line in naming if line not in access], access


def test_slow_progressing_upload_completes(short_timeout_server: ServerProcess) -> None:
    """A chunk every second for five seconds, with the inactivity timeout at two."""
    server = short_timeout_server
    before = metric(metrics_text(server), "moorage_client_aborts_total", reason="body_timeout")
    path = start_upload(server)
    sent = 0
    with contextlib.closing(raw_patch(server, path, "Transfer-Encoding: chunked\r\n")) as sock:
        for _ in range(6):
            piece = os.urandom(100)
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
            time.sleep(1.0)
        sock.sendall(b"0\r\n\r\n")
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 202"), head
    assert f"range: 0-{sent - 1}\r\n".encode() in head.lower(), head
    after = metric(metrics_text(server), "moorage_client_aborts_total", reason="body_timeout")
    assert after == before
    assert_clean_log(server)


def test_vanished_client_is_one_info_line_and_a_count(short_timeout_server: ServerProcess) -> None:
    server = short_timeout_server
    before = metric(metrics_text(server), "moorage_client_aborts_total", reason="disconnect")
    path = start_upload(server)
    sock = raw_patch(server, path, "Content-Length: 1000000\r\n")
    sock.sendall(os.urandom(50_000))
    time.sleep(0.3)
    # Vanish: a reset, as when a client process is killed mid-upload.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = metrics_text(server)
        if metric(text, "moorage_client_aborts_total", reason="disconnect") > before:
            break
        time.sleep(0.1)
    assert metric(text, "moorage_client_aborts_total", reason="disconnect") == before + 1
    assert 'status="5xx"' not in text
    time.sleep(0.5)  # anything else the server would log about it
    lines, logged = about(server, path)
    assert len(lines) == 1, lines
    assert len(logged) == 1, logged  # and the request, once, in the access log
    assert " INFO " in lines[0], lines
    assert "went away" in lines[0], lines
    assert_clean_log(server)
    # The upload is still there for the client to resume or restart.
    status = httpx.get(f"{server.url}{path}", timeout=10)
    assert status.status_code == 204, status.text


def test_limits_in_force_are_logged(short_timeout_server: ServerProcess) -> None:
    """The limits in force are in the log at start-up, for operators."""
    assert re.search(r"http: up to \d+ connections", short_timeout_server.log())
