"""Administration → Deployment: a system administrator reads the deployment's summary (a
definition list); anyone else is told the page is for system administrators, and the page
asks the API for nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.console.conftest import sign_in
from tests.support.server import ServerProcess

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e


def fact(page: Any, label: str) -> Any:
    """The value (dd) a label (dt) of the summary names."""
    return page.locator("dl.facts > div", has=page.locator("dt", has_text=label)).locator("dd")


def test_an_administrator_reads_the_deployment(console_server: ServerProcess, page: Any) -> None:
    sign_in(page, console_server, "/admin/users")
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Deployment"
    ).click()
    expect(page).to_have_url(f"{console_server.url}/admin/deployment")
    expect(page.get_by_role("heading", name="Deployment", level=1)).to_be_visible()
    expect(fact(page, "Region")).to_have_text("local")
    expect(fact(page, "Metadata backend")).to_have_text("SQLite")
    expect(fact(page, "Storage driver")).to_have_text("Filesystem")
    expect(fact(page, "Authentication")).to_have_text("On (tokens)")
    expect(fact(page, "Token lifetime")).to_have_text("60 minutes")
    expect(fact(page, "GC grace window")).to_have_text("2 hours")
    expect(fact(page, "Users")).to_have_text("1")
    expect(fact(page, "Background jobs")).to_have_text("Run in this server")
    link = page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Deployment"
    )
    expect(link).to_have_attribute("aria-current", "page")
    # Read-only: nothing to fill in, no button but refreshing (and signing out).
    expect(page.get_by_role("main").get_by_role("textbox")).to_have_count(0)
    expect(page.get_by_role("main").get_by_role("button")).to_have_count(1)


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
    page.goto(f"{console_server.url}/admin/deployment")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{console_server.url}/admin/deployment")
    expect(page.get_by_text("This page is for system administrators only.")).to_be_visible()
    expect(page.locator("dl.facts")).to_have_count(0)
    assert not [url for url in asked if url.endswith("/api/v1/deployment")], asked


def test_the_header_names_the_region(
    server_factory: type[ServerProcess], tmp_path: Any, page: Any
) -> None:
    """Every page's header says which region the deployment runs in (`serve --region`), for
    anyone signed in; the deployment summary says the same."""
    server = server_factory(tmp_path / "srv", auth=True, serve_args=["--region", "kr1"]).start()
    sign_in(page, server, "/admin/deployment")
    chip = page.locator("header .region-chip")
    expect(chip).to_have_text("Region kr1")
    expect(chip).to_have_attribute("title", "Region")
    expect(fact(page, "Region")).to_have_text("kr1")
