"""The protection, cleanup and webhook tabs follow the user: a Service Viewer sees the
policies, runs and webhooks with no control that changes them (no create, edit, delete,
enable switch, run or schedule change), while a Project Admin sees every one of them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.test_console_roles import sign_in_as
from tests.support.server import ServerProcess, free_port

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e

REGISTRY = "apps"
PROTECTION = "protection policy on images 'app', tags 'v*'"
CLEANUP = "cleanup policy on images '**', tags '**', tagged only: keep the 3 most recently pushed"


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    # Webhooks to loopback addresses are allowed: the webhook here points at a closed port.
    env = {"MOORAGE_ALLOW_PRIVATE_TARGETS": "1"}
    started = server_factory(tmp_path / "srv", auth=True, extra_env=env).start()
    with httpx.Client(
        base_url=f"{started.url}/api/v1", auth=(started.username, started.password), timeout=10
    ) as http:
        assert http.post("/projects", json={"name": "team"}).status_code == 201
        made = http.post("/registries", json={"name": REGISTRY, "project": "team"})
        assert made.status_code == 201, made.text
        reg = f"/registries/{REGISTRY}"
        protect = {"image": {"pattern": "app"}, "tag": {"pattern": "v*"}}
        assert http.post(f"{reg}/protection-policies", json=protect).status_code == 201
        keep = {
            "image": {"pattern": "**"},
            "tag": {"pattern": "**"},
            "rule": {"kind": "latest_pushed", "count": 3},
        }
        assert http.post(f"{reg}/cleanup-policies", json=keep).status_code == 201
        assert http.put(f"{reg}/cleanup-schedule", json={"cron": "0 3 * * SUN"}).is_success
        hook = {
            "name": "ci",
            "kind": "http",
            "address": f"http://127.0.0.1:{free_port()}/hook",
            "event_types": ["PUSH_ARTIFACT"],
        }
        assert http.post(f"{reg}/webhooks", json=hook).status_code == 201
    return started


def member(server: ServerProcess, role: str) -> tuple[str, str]:
    name, password = f"u{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with httpx.Client(
        base_url=f"{server.url}/api/v1", auth=(server.username, server.password), timeout=10
    ) as http:
        assert http.post("/users", json={"username": name, "password": password}).is_success
        put = http.put(f"/projects/team/members/{name}", json={"role": role})
        assert put.status_code == 200, put.text
    return name, password


def controls(page: Any) -> dict[str, Any]:
    """Every control that changes a policy, a run, the schedule or a webhook, by tab."""
    return {
        "protection": [
            page.get_by_role("button", name="Add policy"),
            page.get_by_role("button", name=f"Edit {PROTECTION}"),
            page.get_by_role("button", name=f"Delete {PROTECTION}"),
            page.get_by_role("switch", name=re.compile("^Protection policy .* enabled$")),
        ],
        "cleanup": [
            page.get_by_role("button", name="Add policy"),
            page.get_by_role("button", name=f"Edit {CLEANUP}"),
            page.get_by_role("button", name=f"Delete {CLEANUP}"),
            page.get_by_role("switch", name=re.compile("^Cleanup policy .* enabled$")),
            page.get_by_role("button", name="Test run"),
            page.get_by_role("button", name="Run now"),
            page.get_by_role("button", name="Save schedule"),
            page.get_by_role("button", name="Remove schedule"),
        ],
        "webhooks": [
            page.get_by_role("button", name="Add webhook"),
            page.get_by_role("button", name="Send test to ci"),
            page.get_by_role("button", name="Edit webhook ci"),
            page.get_by_role("button", name="Delete webhook ci"),
            page.get_by_role("switch", name="Webhook ci enabled"),
        ],
        "webhook log": [
            page.get_by_role("button", name="Send test"),
            page.get_by_role("button", name="Edit"),
            page.get_by_role("button", name="Delete webhook ci"),
        ],
    }


def visit(page: Any, server: ServerProcess, tab: str) -> None:
    """Open the tab and wait for its list, so an absent control is absent, not loading."""
    if tab == "webhook log":
        page.goto(f"{server.url}/registries/{REGISTRY}/webhooks")
        page.get_by_role("link", name="Delivery log of ci").click()
        # The webhook's card (with its controls) and its log come together.
        expect(page.get_by_role("heading", name="Webhook ci")).to_be_visible()
        expect(page.get_by_role("region", name="Delivery log")).to_be_visible()
        return
    page.goto(f"{server.url}/registries/{REGISTRY}/{tab}")
    table = {"protection": "Protection policies", "cleanup": "Cleanup policies"}.get(
        tab, "Webhooks"
    )
    expect(page.get_by_role("table", name=table).get_by_role("row")).to_have_count(2)


Check = Callable[[Any], None]


@pytest.mark.parametrize(
    ("role", "check"),
    [
        ("service_viewer", lambda control: expect(control).to_have_count(0)),
        ("project_admin", lambda control: expect(control.first).to_be_visible()),
    ],
    ids=["viewer", "admin"],
)
def test_changing_controls_follow_the_role(
    server: ServerProcess, page: Any, role: str, check: Check
) -> None:
    sign_in_as(page, server, member(server, role), f"/registries/{REGISTRY}")
    for tab, found in controls(page).items():
        visit(page, server, tab)
        for control in found:
            check(control)
    if role == "service_viewer":
        # What they may see is there: the policies' state, the schedule, read-only.
        visit(page, server, "cleanup")
        expect(page.get_by_label("Cron expression (UTC)")).to_have_attribute("readonly", "")
        expect(page.get_by_text("Members who may push can start runs.")).to_be_visible()
        visit(page, server, "protection")
        policies = page.get_by_role("table", name="Protection policies")
        expect(policies.get_by_text("Enabled", exact=True)).to_be_visible()
