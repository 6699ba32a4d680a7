"""Webhooks end to end: a live server delivers to a receiver on loopback.

Pushes, pulls and deletes made with skopeo arrive once each, in Harbor's JSON, as
CloudEvents and as Slack Block Kit, with the auth header; a receiver that is down gets its
deliveries when it comes back; an event survives the server being SIGKILLed right after the
push; a burst of 1,000 pushes gives 1,000 deliveries, none lost and none twice; and bad
addresses are refused when a webhook is created.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import AMD64_TAG, OciLayout, RegistryAccess, Skopeo, Tool, client_env
from tests.support.oci_auth import DockerTokenAuth, parse_challenge
from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.e2e

ALLOW_PRIVATE = {"MOORAGE_ALLOW_PRIVATE_TARGETS": "1"}
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
SECRET = "Bearer e2e-webhook-secret-0123456789"


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


# --- a receiver on loopback -------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A threaded HTTP server recording every POST; it can be started late and stopped."""

    def __init__(self) -> None:
        self.port = free_port()
        self._requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver._requests.append(Received(self.path, dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 20) -> None:
        wait_until(
            lambda: len(self.received(path)) >= count, timeout, f"{count} requests at {path}"
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.stop()


# --- the server and its APIs ------------------------------------------------------------------

# Fast retries (for the receiver that is down) and many delivery workers (for the burst).
SHARED_ENV = {
    **ALLOW_PRIVATE,
    "MOORAGE_WEBHOOK_RETRY_BASE_SECONDS": "0.3",
    "MOORAGE_JOB_CONCURRENCY": "8",
}


@pytest.fixture(scope="module")
def hooks_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests that neither restart nor reconfigure it: each has a registry
    and a receiver of its own."""
    server = ServerProcess(tmp_path_factory.mktemp("hooks"), auth=True, extra_env=SHARED_ENV)
    try:
        yield server.start()
    finally:
        server.stop()


def admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/api/v1", auth=(server.username, server.password), timeout=30
    )


def create_registry(api: httpx.Client, name: str) -> None:
    assert api.post("/registries", json={"name": name}).status_code == 201


def create_webhook(api: httpx.Client, registry: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/registries/{registry}/webhooks", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def deliveries(api: httpx.Client, registry: str, webhook_id: int, **params: Any) -> Any:
    response = api.get(f"/registries/{registry}/webhooks/{webhook_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def bearer_token(server: ServerProcess, repository: str) -> str:
    challenge = httpx.get(f"{server.url}/v2/", timeout=10).headers["www-authenticate"]
    _, params = parse_challenge(challenge)
    auth = DockerTokenAuth(server.username, server.password)
    return auth.fetch_token(params["realm"], params["service"], f"repository:{repository}:*")


def manifest(marker: str) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(CONFIG), "size": len(CONFIG)},
        "layers": [],
        "annotations": {"marker": marker},
    }
    return json.dumps(doc).encode()


class Pusher:
    """Manifest PUTs over plain HTTP, the way a client pushes, with a bearer token."""

    def __init__(self, server: ServerProcess, repository: str) -> None:
        self.url = f"{server.url}/v2/{repository}"
        self.headers = {"Authorization": f"Bearer {bearer_token(server, repository)}"}
        response = httpx.post(
            f"{self.url}/blobs/uploads/",
            params={"digest": sha256(CONFIG)},
            content=CONFIG,
            headers={**self.headers, "Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 201, response.text

    def push(self, tag: str) -> str:
        response = httpx.put(
            f"{self.url}/manifests/{tag}",
            content=manifest(tag),
            headers={**self.headers, "Content-Type": OCI_MANIFEST},
        )
        assert response.status_code == 201, response.text
        return response.headers["Docker-Content-Digest"]

    async def burst(self, tags: list[str], concurrency: int) -> None:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(headers=self.headers, limits=limits, timeout=60) as client:
            gate = asyncio.Semaphore(concurrency)

            async def put(tag: str) -> None:
                async with gate:
                    response = await client.put(
                        f"{self.url}/manifests/{tag}",
                        content=manifest(tag),
                        headers={"Content-Type": OCI_MANIFEST},
                    )
                assert response.status_code == 201, response.text

            await asyncio.gather(*(put(tag) for tag in tags))


# --- tests --------------------------------------------------------------------------------------


def check_block_kit(message: dict[str, Any]) -> None:
    assert message["text"]
    assert 1 <= len(message["blocks"]) <= 50
    for block in message["blocks"]:
        assert block["type"] in ("header", "section", "context")
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            texts = [block["text"]] if "text" in block else block["fields"]
            assert all(t["type"] == "mrkdwn" and len(t["text"]) <= 3000 for t in texts)


def test_push_pull_and_delete_with_skopeo_arrive_once_each(
    hooks_server: ServerProcess,
    receiver: Receiver,
    oci_layout: OciLayout,
    tmp_path: Path,
) -> None:
    server = hooks_server
    receiver.start()
    api = admin(server)
    create_registry(api, "hooks")
    artifact_events = ["PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"]
    harbor = create_webhook(
        api, "hooks", name="harbor", address=receiver.url("/harbor"),
        auth_header=SECRET, event_types=artifact_events,
    )  # fmt: skip
    create_webhook(
        api, "hooks", name="cloudevents", address=receiver.url("/ce"),
        event_types=artifact_events, payload_format="cloudevents",
    )  # fmt: skip
    create_webhook(
        api, "hooks", name="slack", kind="slack", address=receiver.url("/slack"),
        event_types=["PUSH_ARTIFACT"],
    )  # fmt: skip
    assert harbor["auth_header"] == f"{SECRET[:3]}…({len(SECRET)} chars)"
    assert harbor["auth_header_set"] is True

    access = RegistryAccess(server.host, server.username, server.password)
    skopeo = Skopeo(Tool(["skopeo"], client_env(tmp_path / "skopeo")), access)
    ref = access.docker_ref("hooks", "busybox", "v1")
    digest = oci_layout.descriptor(AMD64_TAG)["digest"]

    def types(path: str) -> Counter[str]:
        return Counter(r.json()["type"] for r in receiver.received(path))

    skopeo.copy(oci_layout.ref(AMD64_TAG), ref)
    receiver.wait_for(3)
    skopeo.copy(ref, OciLayout(tmp_path / "pulled").ref("pulled"))
    receiver.wait_for(2, "/harbor")
    skopeo("delete", ref)
    # skopeo reads the manifest (a pull) to learn the digest it deletes.
    wait_until(lambda: types("/harbor")["DELETE_ARTIFACT"] == 1, 20, "the delete")
    time.sleep(2.0)  # anything extra would have arrived by now

    assert types("/harbor") == {"PUSH_ARTIFACT": 1, "PULL_ARTIFACT": 2, "DELETE_ARTIFACT": 1}
    assert types("/ce") == {
        "harbor.artifact.pushed": 1,
        "harbor.artifact.pulled": 2,
        "harbor.artifact.deleted": 1,
    }
    assert len(receiver.received("/slack")) == 1

    push, pull = receiver.received("/harbor")[:2]
    delete = receiver.received("/harbor")[-1]
    for request in receiver.received("/harbor"):
        assert request.headers["Authorization"] == SECRET
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"].startswith("moorage/")
    assert push.json()["operator"] == server.username
    repository = {"name": "busybox", "namespace": "hooks", "repo_full_name": "hooks/busybox"}
    for request in (push, pull, delete):
        resource = request.json()["event_data"]["resources"][0]
        assert (resource["digest"], resource["tag"]) == (digest, "v1")
        assert request.json()["event_data"]["repository"].items() >= repository.items()
    keys = [r.headers["Idempotency-Key"] for r in receiver.received()]
    assert len(set(keys)) == len(keys)

    cloud = receiver.received("/ce")[0]
    assert cloud.headers["Content-Type"] == "application/cloudevents+json"
    assert "Authorization" not in cloud.headers
    envelope = cloud.json()
    assert envelope["specversion"] == "1.0"
    assert envelope["data"]["resources"][0]["digest"] == digest
    assert (
        cloud.headers["Idempotency-Key"]
        == f"{envelope['id']}-{envelope['source'].rsplit('/', 1)[1]}"
    )

    slack = receiver.received("/slack")[0].json()
    check_block_kit(slack)
    assert "hooks/busybox:v1" in slack["text"]
    assert server.username in slack["text"]

    history = deliveries(api, "hooks", harbor["id"])
    assert history["total"] == 4
    assert {d["status"] for d in history["items"]} == {"succeeded"}
    assert all(d["history"][0]["status_code"] == 204 for d in history["items"])


def test_a_receiver_that_is_down_gets_its_deliveries_when_it_comes_back(
    hooks_server: ServerProcess, receiver: Receiver
) -> None:
    server = hooks_server
    api = admin(server)
    create_registry(api, "down")
    hook = create_webhook(
        api, "down", name="later", address=receiver.url("/hook"), event_types=["PUSH_ARTIFACT"]
    )
    Pusher(server, "down/app").push("v1")

    def failed_attempts() -> int:
        items = deliveries(api, "down", hook["id"])["items"]
        return len([a for a in items[0]["history"] if not a["succeeded"]]) if items else 0

    wait_until(lambda: failed_attempts() >= 2, 20, "two failed attempts")
    receiver.start()
    receiver.wait_for(1)
    wait_until(
        lambda: deliveries(api, "down", hook["id"])["items"][0]["status"] == "succeeded",
        10,
        "the delivery to succeed",
    )
    [delivery] = deliveries(api, "down", hook["id"])["items"]
    attempts = delivery["history"]
    assert [a["succeeded"] for a in attempts] == [False] * (len(attempts) - 1) + [True]
    assert attempts[0]["status_code"] is None
    assert attempts[0]["error"]
    assert delivery["attempts"] == len(attempts)
    assert len(receiver.received()) == 1


def test_an_event_survives_a_crash_right_after_the_push(
    server_factory: type[ServerProcess], receiver: Receiver, tmp_path: Path
) -> None:
    # The first life runs no background jobs, so nothing can be delivered before the kill.
    data = tmp_path / "data"
    first = server_factory(data, auth=True, extra_env={**ALLOW_PRIVATE, "MOORAGE_RUN_JOBS": "0"})
    first.start()
    receiver.start()
    api = admin(first)
    create_registry(api, "crash")
    create_webhook(
        api, "crash", name="durable", address=receiver.url("/hook"), event_types=["PUSH_ARTIFACT"]
    )
    digest = Pusher(first, "crash/app").push("v1")
    first.kill()

    server_factory(data, auth=True, extra_env=ALLOW_PRIVATE, port=first.port).start()
    receiver.wait_for(1)
    time.sleep(1.0)
    [request] = receiver.received()
    assert request.json()["event_data"]["resources"][0]["digest"] == digest


def test_a_burst_of_pushes_is_delivered_exactly_once_each(
    hooks_server: ServerProcess, receiver: Receiver
) -> None:
    server = hooks_server
    receiver.start()
    api = admin(server)
    create_registry(api, "burst")
    hook = create_webhook(
        api, "burst", name="all", address=receiver.url("/hook"), event_types=["PUSH_ARTIFACT"]
    )
    tags = [f"t{n:04d}" for n in range(1000)]
    pusher = Pusher(server, "burst/app")
    started = time.monotonic()
    asyncio.run(pusher.burst(tags, concurrency=32))
    pushed = time.monotonic() - started

    receiver.wait_for(1000, timeout=60)
    time.sleep(1.0)
    received = receiver.received()
    keys = [r.headers["Idempotency-Key"] for r in received]
    assert len(received) == 1000, f"{len(received)} deliveries"
    assert len(set(keys)) == 1000, "a delivery arrived twice"
    tags_seen = sorted(r.json()["event_data"]["resources"][0]["tag"] for r in received)
    assert tags_seen == tags
    done = deliveries(api, "burst", hook["id"], status="succeeded", page_size=1)
    assert done["total"] == 1000
    print(f"1000 pushes in {pushed:.1f} s, delivered {time.monotonic() - started:.1f} s after")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("ftp://files.example.com/hook", "only http:// and https://"),
        ("http://", "no host"),
        ("https://user:secret@ci.example.com/hook", "credentials"),
        ("http://127.0.0.1:9/hook", "MOORAGE_ALLOW_PRIVATE_TARGETS"),
        ("http://localhost:9/hook", "MOORAGE_ALLOW_PRIVATE_TARGETS"),
        ("http://[::1]:9/hook", "MOORAGE_ALLOW_PRIVATE_TARGETS"),
        ("http://169.254.169.254/latest/meta-data", "MOORAGE_ALLOW_PRIVATE_TARGETS"),
    ],
)
def test_bad_addresses_are_refused_at_creation(
    strict_server: ServerProcess, address: str, reason: str
) -> None:
    api = admin(strict_server)
    body = {"name": "bad", "address": address, "event_types": ["PUSH_ARTIFACT"]}
    response = api.post("/registries/strict/webhooks", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert reason in problem["detail"]
    assert api.get("/registries/strict/webhooks").json()["items"] == []


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that refuses private targets (the default)."""
    server = ServerProcess(tmp_path_factory.mktemp("strict"), auth=True).start()
    try:
        create_registry(admin(server), "strict")
        yield server
    finally:
        server.stop()
