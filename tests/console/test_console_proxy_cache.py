"""The console's create dialog for a proxy-cache registry: the switch shows the upstream
fields, an upstream inside the network is refused beside its field, and the registry is
created with its upstream (the password never shown back) and marked in the list."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import sign_in
from tests.support.server import ServerProcess

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e

UPSTREAM = "https://mirror.example.invalid"  # never called: nothing is pulled here


def test_the_switch_shows_the_upstream_fields_and_creates_a_proxy_cache(
    console_server: ServerProcess, page: Any, shots: Callable[[Any, str], Path]
) -> None:
    sign_in(page, console_server, "/registries")
    page.get_by_role("button", name="Create registry").click()
    form = page.get_by_role("dialog")
    switch = form.get_by_role("switch", name="Proxy cache")
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(form.get_by_label("Upstream URL")).to_be_hidden()
    form.get_by_role("textbox", name="Name").fill("hub")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(form.get_by_label("Upstream URL")).to_be_visible()

    # Inside the network: refused beside the field, and the dialog stays open.
    form.get_by_label("Upstream URL").fill("http://127.0.0.1:5000")
    form.get_by_role("button", name="Create").click()
    expect(form.get_by_label("Upstream URL")).to_have_attribute("aria-invalid", "true")
    shots(page, "proxy-cache-dialog")

    form.get_by_label("Upstream URL").fill(UPSTREAM)
    form.get_by_label("Upstream prefix").fill("library")
    form.get_by_label("Upstream account").fill("robot")
    form.get_by_label("Password or token").fill("s3cret-token")
    form.get_by_label("Revalidate tags after (seconds)").fill("600")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    row = page.get_by_role("row", name=re.compile("hub"))
    expect(row.get_by_text("proxy cache")).to_be_visible()
    shots(page, "proxy-cache-list")
    row.get_by_role("link", name="hub").click()
    expect(page.get_by_text(f"Proxy cache of {UPSTREAM}/library")).to_be_visible()
    expect(page.get_by_text("tags revalidated after 600 s")).to_be_visible()

    auth = (console_server.username, console_server.password)
    got = httpx.get(f"{console_server.url}/api/v1/registries/hub", auth=auth, timeout=30)
    assert got.status_code == 200, got.text
    assert got.json()["kind"] == "proxy_cache"
    assert got.json()["upstream"] == {
        "url": UPSTREAM,
        "namespace": "library",
        "username": "robot",
        "has_password": True,
        "verify_tls": True,
        "revalidate_seconds": 600,
    }
    assert "s3cret-token" not in got.text


def test_without_the_switch_a_local_registry_is_created(
    console_server: ServerProcess, page: Any
) -> None:
    sign_in(page, console_server, "/registries")
    page.get_by_role("button", name="Create registry").click()
    form = page.get_by_role("dialog")
    form.get_by_role("textbox", name="Name").fill("plain")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    row = page.get_by_role("row", name=re.compile("plain"))
    expect(row).to_be_visible()
    expect(row.get_by_text("proxy cache")).to_have_count(0)
    auth = (console_server.username, console_server.password)
    got = httpx.get(f"{console_server.url}/api/v1/registries/plain", auth=auth, timeout=30)
    assert (got.json()["kind"], got.json()["upstream"]) == ("local", None)
