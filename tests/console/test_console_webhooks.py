"""The console's webhooks tab, end to end: a live receiver, test deliveries, a real push, the
delivery log, editing and deleting."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import NARROW, Layout, Skopeo, sign_in
from tests.support.server import ServerProcess, free_port

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e

Shots = Callable[[Any, str], Path]
REGISTRY = "harbour"
SECRET = "Bearer console-test-0123456789"
DELIVERY_TIMEOUT_MS = 15_000


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny HTTP server on a loopback port that answers 200 and records every request."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/registry"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"the receiver got {len(self.requests)} requests, not {count}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received: list[Received] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with lock:
                received.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(server, received, lock)
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def webhook_server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    return server_factory(
        tmp_path / "srv",
        auth=True,
        extra_env={"MOORAGE_ALLOW_PRIVATE_TARGETS": "1", "MOORAGE_WEBHOOK_RETRY_BASE_SECONDS": "1"},
    ).start()


def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/api/v1/registries/{REGISTRY}",
        auth=(server.username, server.password),
        timeout=10,
    )


def without_toasts(page: Any) -> Any:
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    return page


def test_webhooks_tab(
    webhook_server: ServerProcess,
    receiver: Receiver,
    new_page: Callable[..., Any],
    skopeo: Skopeo,
    oci_image: Layout,
    shots: Shots,
) -> None:
    server = webhook_server
    server.create_registry(REGISTRY)
    page = new_page()
    sign_in(page, server, f"/registries/{REGISTRY}/webhooks")
    expect(page.get_by_role("tab", name="Webhooks")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_text("retried with backoff")).to_be_visible()
    expect(page.get_by_text("allow_private_targets")).to_be_visible()
    expect(page.get_by_text("No webhooks yet")).to_be_visible()

    # A bad address: the server's reason is shown under the field, and the dialog stays open.
    page.get_by_role("button", name="Add webhook").click()
    dialog = page.get_by_role("dialog", name="Add webhook")
    dialog.get_by_label("Name").fill("ci")
    address = dialog.get_by_label(re.compile("^Address"))
    address.fill("ftp://x")
    dialog.get_by_role("button", name="Add webhook").click()
    expect(dialog.get_by_text("only http:// and https:// addresses are accepted")).to_be_visible()
    expect(address).to_have_attribute("aria-invalid", "true")

    # The good one: an auth header, pushes and deletions; skipping TLS checks warns first.
    address.fill(receiver.url)
    dialog.get_by_label("Auth header", exact=True).fill(SECRET)
    expect(dialog.get_by_label("Auth header", exact=True)).to_have_attribute("type", "password")
    expect(dialog.get_by_label(re.compile("^Pushed"))).to_be_checked()
    expect(dialog.get_by_label(re.compile("^Deleted"))).to_be_checked()
    expect(dialog.get_by_label(re.compile("^Pulled"))).not_to_be_checked()
    tls = dialog.get_by_label("Skip TLS certificate verification")
    tls.check()
    expect(dialog.get_by_text("Certificates are not checked.")).to_be_visible()
    tls.uncheck()
    expect(dialog.get_by_text("Certificates are not checked.")).to_be_hidden()
    dialog.get_by_label("Kind").select_option("slack")
    expect(dialog.get_by_label("Payload format")).to_be_hidden()
    dialog.get_by_label("Kind").select_option("http")
    dialog.get_by_label("Payload format").select_option("default")
    dialog.get_by_role("button", name="Add webhook").click()
    expect(dialog).to_be_hidden()
    with api(server) as client:
        [created] = client.get("/webhooks").json()["items"]
    assert created["auth_header_set"] is True
    assert created["event_types"] == ["PUSH_ARTIFACT", "DELETE_ARTIFACT"]
    assert SECRET not in str(created)

    table = page.get_by_role("table", name="Webhooks")
    row = table.get_by_role("row", name=re.compile(r"\bci\b"))
    expect(row).to_contain_text(receiver.url)
    expect(row).to_contain_text(created["auth_header"])  # masked: "Bea…(29 chars)"
    expect(row).not_to_contain_text(SECRET)
    expect(row).to_contain_text("Pushed")
    expect(row.get_by_role("switch", name="Webhook ci enabled")).to_have_attribute(
        "aria-checked", "true"
    )
    expect(row.get_by_text("None yet")).to_be_visible()

    # A second webhook whose address answers nothing: its test fails, with the reason inline.
    with api(server) as client:
        dead = client.post(
            "/webhooks",
            json={
                "name": "chat",
                "kind": "slack",
                "address": f"https://127.0.0.1:{free_port()}/services/T0/B0/x",
                "skip_tls_verify": True,
                "event_types": ["CLEANUP"],
            },
        )
        assert dead.status_code == 201, dead.text
    page.reload()
    chat = table.get_by_role("row", name=re.compile(r"\bchat\b"))
    expect(chat.get_by_text("TLS not verified")).to_be_visible()
    chat.get_by_role("button", name="Send test to chat").click()
    expect(chat.get_by_text("Failed", exact=True)).to_be_visible()
    expect(chat).to_contain_text(re.compile("connect", re.I))

    # Send test: delivered, shown in the row, and the receiver got the auth header.
    row.get_by_role("button", name="Send test to ci").click()
    expect(row.get_by_text("Succeeded", exact=True)).to_be_visible()
    expect(row).to_contain_text("HTTP 200")
    [test_request] = receiver.wait_for(1)
    assert test_request.path == "/hooks/registry"
    assert test_request.headers["Authorization"] == SECRET
    assert test_request.headers["X-Moorage-Event"] == "PUSH_ARTIFACT"
    shots(without_toasts(page), "webhooks-tab")

    # A real push: a PUSH_ARTIFACT delivery that succeeds, in the delivery log.
    skopeo.push(server, oci_image, f"{REGISTRY}/app:v1")
    pushed = receiver.wait_for(2)[1]
    assert pushed.headers["X-Moorage-Event"] == "PUSH_ARTIFACT"
    assert b'"tag":"v1"' in pushed.body
    row.get_by_role("link", name="Delivery log of ci").click()
    expect(page).to_have_url(re.compile(rf"/registries/{REGISTRY}/webhooks\?webhook=\d+$"))
    expect(page.get_by_role("heading", name="Webhook ci")).to_be_visible()
    log = page.get_by_role("table", name="Deliveries of ci")
    with api(server) as client:
        deliveries = client.get(f"/webhooks/{created['id']}/deliveries").json()["items"]
    [real] = [d for d in deliveries if d["max_attempts"] > 1]
    assert real["event_type"] == "PUSH_ARTIFACT"
    # A delivery is named by its event and time (its id is global, so not shown).
    real_name = re.compile(r"^Attempts of the PUSH_ARTIFACT delivery of \w")
    toggle = page.get_by_role("button", name=real_name)
    line = log.get_by_role("row").filter(has=toggle)
    expect(line).to_contain_text("PUSH_ARTIFACT")
    expect(line.get_by_text("Succeeded", exact=True)).to_be_visible(timeout=DELIVERY_TIMEOUT_MS)
    expect(line).to_contain_text("200")
    expect(log.get_by_text("Test", exact=True)).to_have_count(1)  # the test delivery
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    attempts = page.get_by_role("table", name=real_name)
    expect(attempts.get_by_role("row")).to_have_count(2)
    expect(attempts).to_contain_text("Succeeded")
    body = page.get_by_label(re.compile(r"^Body of the PUSH_ARTIFACT delivery of "))
    expect(body).to_contain_text('"type": "PUSH_ARTIFACT"')
    expect(body).to_contain_text('"tag": "v1"')
    top = shots(without_toasts(page), "webhook-log-top")
    log_shot = top.with_name("webhook-delivery-log.png")
    page.get_by_role("heading", name="Delivery log").evaluate(
        "h => window.scrollTo(0, h.getBoundingClientRect().top + window.scrollY - 72)"
    )
    page.screenshot(path=str(log_shot))
    print(f"screenshot: {log_shot}")

    # The status filter and its empty state.
    page.get_by_label("Status", exact=True).select_option("failed")
    expect(page.get_by_text("No failed deliveries.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"status=failed"))
    page.get_by_role("button", name="Show all deliveries").click()
    expect(log.get_by_role("row")).to_have_count(3)
    expect(page.get_by_text("1–2 of 2 deliveries")).to_be_visible()

    # Send test from the log: the result inline, and a third delivery listed.
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_text("Test delivered.")).to_be_visible()
    expect(page.get_by_text("1–3 of 3 deliveries")).to_be_visible()

    # Edit: disable it. The auth header is kept (the field is left empty).
    page.get_by_role("button", name="Edit", exact=True).click()
    dialog = page.get_by_role("dialog", name="Edit webhook ci")
    auth = dialog.get_by_label("Auth header", exact=True)
    expect(auth).to_have_value("")
    expect(auth).to_have_attribute("placeholder", "set — leave empty to keep")
    dialog.get_by_label(re.compile("^Enabled")).uncheck()
    page.screenshot(path=str(top.with_name("webhook-edit-dialog.png")))
    dialog.get_by_role("button", name="Save webhook").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".webhook-summary").get_by_text("Disabled")).to_be_visible()
    with api(server) as client:
        edited = client.get(f"/webhooks/{created['id']}").json()
    assert edited["enabled"] is False
    assert edited["auth_header_set"] is True
    assert edited["auth_header"] == created["auth_header"]

    # Back to the list: the switch is off. Delete after confirming.
    page.get_by_role("link", name="All webhooks").click()
    row = table.get_by_role("row", name=re.compile(r"\bci\b"))
    expect(row.get_by_role("switch", name="Webhook ci enabled")).to_have_attribute(
        "aria-checked", "false"
    )
    row.get_by_role("button", name="Delete webhook ci").click()
    confirm = page.get_by_role("dialog", name="Delete webhook ci?")
    expect(confirm).to_contain_text(receiver.url)
    confirm.get_by_role("button", name="Delete webhook").click()
    expect(confirm).to_be_hidden()
    expect(row).to_have_count(0)
    with api(server) as client:
        assert [w["name"] for w in client.get("/webhooks").json()["items"]] == ["chat"]

    # The list and a delivery log fit a narrow window without sideways scrolling.
    narrow = new_page(NARROW)
    sign_in(narrow, server, f"/registries/{REGISTRY}/webhooks")
    chat_log = f"/registries/{REGISTRY}/webhooks?webhook={dead.json()['id']}"
    for name, path in (("list", f"/registries/{REGISTRY}/webhooks"), ("log", chat_log)):
        narrow.goto(f"{server.url}{path}")
        expect(narrow.get_by_role("row").nth(1)).to_be_visible()
        if name == "log":
            narrow.get_by_role("button", name=re.compile("^Attempts of the ")).click()
            expect(narrow.get_by_text("ConnectError").first).to_be_visible()
        widths = narrow.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"{name}: the page scrolls sideways ({widths})"
        narrow.screenshot(path=str(top.with_name(f"narrow-webhooks-{name}.png")), full_page=True)
