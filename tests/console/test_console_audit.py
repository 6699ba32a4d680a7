"""Administration → Audit log: a system administrator reads every change, newest first, and
narrows it down by user, operation, resource type, resource, result and time; anyone else is
told the page is for system administrators, and the page asks the API for nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.console.conftest import sign_in
from tests.support.server import ServerProcess

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e


def rows(page: Any) -> Any:
    return page.get_by_role("table", name="Audit log").locator("tbody tr")


def test_an_administrator_reads_and_filters_the_audit_log(
    console_server: ServerProcess, page: Any
) -> None:
    admin = (console_server.username, console_server.password)
    other = f"u{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=f"{console_server.url}/api/v1", auth=admin) as http:
        for name in ("alpha", "beta"):
            assert http.post("/registries", json={"name": name}).status_code == 201
        created = http.post("/users", json={"username": other, "password": "pw-long-enough"})
        assert created.status_code == 201, created.text
    with httpx.Client(base_url=f"{console_server.url}/api/v1", auth=(other, "pw")) as http:
        assert http.delete("/registries/alpha").status_code == 401  # wrong password

    sign_in(page, console_server, "/admin/users")
    nav = page.get_by_role("navigation", name="Administration")
    nav.get_by_role("link", name="Audit log").click()
    expect(page).to_have_url(f"{console_server.url}/admin/audit")
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    expect(nav.get_by_role("link", name="Audit log")).to_have_attribute("aria-current", "page")

    # Newest first: the console sign-in just now, then the refused delete and its sign-in.
    expect(rows(page).first).to_contain_text("sign-in")
    expect(rows(page).first).to_contain_text(console_server.username)
    expect(page.get_by_role("table", name="Audit log")).to_contain_text("Denied 401")
    expect(page.get_by_role("table", name="Audit log")).to_contain_text("Success 201")

    page.get_by_label("Resource type").select_option("registry")
    page.get_by_role("button", name="Filter").click()
    expect(rows(page)).to_have_count(3)
    expect(rows(page).nth(0)).to_contain_text("delete")
    expect(rows(page).nth(0)).to_contain_text("alpha")
    expect(rows(page).nth(0)).to_contain_text("anonymous")
    expect(rows(page).nth(1)).to_contain_text("beta")
    expect(rows(page).nth(2)).to_contain_text("alpha")
    expect(rows(page).nth(2)).to_contain_text("127.0.0.1")

    page.get_by_label("Result").select_option("denied")
    page.get_by_role("button", name="Filter").click()
    expect(rows(page)).to_have_count(1)

    page.get_by_role("button", name="Clear").click()
    page.get_by_label("User", exact=True).fill(other)
    page.get_by_label("Operation").select_option("sign-in")
    page.get_by_role("button", name="Filter").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Failed 401")

    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Resource", exact=True).fill("bet")
    page.get_by_label("From").fill("2000-01-01T00:00")
    page.get_by_label("Before").fill("2000-01-02T00:00")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("table", name="Audit log")).to_have_count(0)
    page.get_by_label("Before").fill("")
    page.get_by_role("button", name="Filter").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("beta")


def test_anyone_else_is_told_it_is_for_administrators(
    console_server: ServerProcess, page: Any
) -> None:
    name, password = f"u{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    admin = (console_server.username, console_server.password)
    with httpx.Client(base_url=f"{console_server.url}/api/v1", auth=admin) as http:
        created = http.post("/users", json={"username": name, "password": password})
        assert created.status_code == 201, created.text
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(f"{console_server.url}/admin/audit")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{console_server.url}/admin/audit")
    expect(page.get_by_text("This page is for system administrators only.")).to_be_visible()
    assert not [url for url in asked if "/api/v1/audit-logs" in url], asked
