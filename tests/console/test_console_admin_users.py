"""Administration > Users: a system administrator disables a user after a confirmation (the
row says so, and the user's open console session stops at once) and enables them again; the
administrator's own row has no Disable."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.console.test_console_roles import admin_api, sign_in_as
from tests.support.server import ServerProcess

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e


def test_disable_and_enable_a_user(console_server: ServerProcess, page: Any, new_page: Any) -> None:
    server = console_server
    who = (f"u{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}")
    with admin_api(server) as http:
        created = http.post("/users", json={"username": who[0], "password": who[1]})
        assert created.status_code == 201, created.text
    theirs = new_page()
    sign_in_as(theirs, server, who, "/registries")

    sign_in_as(page, server, (server.username, server.password), "/admin/users")
    users = page.get_by_role("table", name="Users")
    row = users.get_by_role("row", name=re.compile(who[0]))
    expect(row).to_contain_text("Active")
    own = users.get_by_role("row", name=re.compile(f"^{server.username}\\b"))
    expect(own.get_by_role("button", name=re.compile("^(Disable|Enable) user"))).to_have_count(0)

    page.get_by_role("button", name=f"Disable user {who[0]}").click()
    dialog = page.get_by_role("dialog", name=f"Disable user {who[0]}?")
    expect(dialog).to_contain_text("can no longer sign in")
    dialog.get_by_role("button", name="Disable user").click()
    expect(page.get_by_text(f"User {who[0]} disabled.")).to_be_visible()
    expect(row).to_contain_text("Disabled")
    expect(page.get_by_role("button", name=f"Enable user {who[0]}")).to_be_visible()

    # Their open session stops: the next page asks them to sign in.
    theirs.reload()
    expect(theirs.get_by_role("button", name="Sign in")).to_be_visible()
    theirs.get_by_label("User name").fill(who[0])
    theirs.get_by_label("Password").fill(who[1])
    theirs.get_by_role("button", name="Sign in").click()
    expect(theirs.get_by_text(re.compile("wrong user name or password", re.I))).to_be_visible()

    page.get_by_role("button", name=f"Enable user {who[0]}").click()
    page.get_by_role("dialog", name=f"Enable user {who[0]}?").get_by_role(
        "button", name="Enable user"
    ).click()
    expect(page.get_by_text(f"User {who[0]} enabled.")).to_be_visible()
    expect(row).to_contain_text("Active")
    theirs.get_by_label("Password").fill(who[1])
    theirs.get_by_role("button", name="Sign in").click()
    theirs.get_by_role("button", name="Sign out").wait_for()
