"""Policy, run and delivery ids are global across registries, so the console never shows
them as if they counted within a registry ("#7", "policy 7", "Run 12"): a policy is named
by what it selects, a run by its trigger and start, a delivery by its event and time."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import Layout, Skopeo, sign_in
from tests.support.server import ServerProcess, free_port

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e

REGISTRY = "harbour"
RUN_TIMEOUT_MS = 15_000
ON_APP_V1 = "images 'app', tags 'v1'"
KEEP_WEB = "images 'web', tags '**', tagged only: keep all"
# "#12", or a number right after a word that names a global thing.
ID_SHOWN = re.compile(r"#\d+|\b(?:[Pp]olicy|[Pp]olicies|[Rr]un|[Dd]elivery|[Ww]ebhook) \d+")


def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/api/v1/registries/{REGISTRY}",
        auth=(server.username, server.password),
        timeout=10,
    )


def assert_no_ids(page: Any, where: str) -> None:
    """Neither the visible text nor the accessible names of controls show an id."""
    texts: list[str] = page.evaluate(
        """() => [document.body.innerText,
          ...[...document.querySelectorAll('[aria-label], [title]')].flatMap(
            (el) => [el.getAttribute('aria-label') || '', el.getAttribute('title') || ''])]"""
    )
    shown = [m.group(0) for text in texts for m in ID_SHOWN.finditer(text)]
    assert not shown, f"{where}: ids shown as numbers: {shown}"


@pytest.fixture
def setup(
    server_factory: type[ServerProcess], tmp_path: Path, skopeo: Skopeo, oci_image: Layout
) -> ServerProcess:
    # Webhooks to loopback addresses are allowed, for a test delivery that fails at once.
    private_targets = {"MOORAGE_ALLOW_PRIVATE_TARGETS": "1"}
    server = server_factory(tmp_path / "srv", auth=True, extra_env=private_targets).start()
    server.create_registry(REGISTRY)
    skopeo.push(server, oci_image, f"{REGISTRY}/app:v1")
    skopeo.push(server, oci_image, f"{REGISTRY}/web:v1")
    with api(server) as client:
        protect = {"image": {"pattern": "app"}, "tag": {"pattern": "v1"}}
        assert client.post("/protection-policies", json=protect).status_code == 201
        # Selects app (whose only tag no policy keeps: it would go, but it is protected)
        # and web (kept by the second policy).
        for image, rule in (("app", {"kind": "latest_pushed", "count": 1}), ("web", None)):
            policy = {
                "image": {"pattern": image},
                "tag": {"pattern": "nothing-*" if rule else "**"},
                "rule": rule or {"kind": "always"},
            }
            assert client.post("/cleanup-policies", json=policy).status_code == 201
    return server


def test_policies_are_named_by_their_selectors(setup: ServerProcess, page: Any) -> None:
    server = setup
    sign_in(page, server, f"/registries/{REGISTRY}/protection")
    policies = page.get_by_role("table", name="Protection policies")
    expect(policies.get_by_role("columnheader", name="Policy")).to_have_count(0)
    switch = policies.get_by_role("switch", name=f"Protection policy on {ON_APP_V1} enabled")
    expect(switch).to_be_visible()
    expect(
        policies.get_by_role("button", name=f"Delete protection policy on {ON_APP_V1}")
    ).to_be_visible()
    assert_no_ids(page, "protection tab")
    policies.get_by_role("button", name=f"Edit protection policy on {ON_APP_V1}").click()
    dialog = page.get_by_role("dialog", name=f"Edit the protection policy on {ON_APP_V1}")
    expect(dialog).to_be_visible()
    assert_no_ids(page, "protection policy dialog")
    dialog.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text(f"Protection policy on {ON_APP_V1} saved.")).to_be_visible()

    page.goto(f"{server.url}/registries/{REGISTRY}/cleanup")
    cleanup = page.get_by_role("table", name="Cleanup policies")
    delete = cleanup.get_by_role("button", name=f"Delete cleanup policy on {KEEP_WEB}")
    expect(delete).to_be_visible()
    delete.click()
    confirm = page.get_by_role("dialog", name=f"Delete the cleanup policy on {KEEP_WEB}?")
    expect(confirm).to_be_visible()
    assert_no_ids(page, "cleanup tab")
    confirm.get_by_role("button", name="Cancel").click()


def test_runs_are_named_by_trigger_and_start(setup: ServerProcess, page: Any) -> None:
    server = setup
    sign_in(page, server, f"/registries/{REGISTRY}/cleanup")
    page.get_by_role("button", name="Test run").click()
    runs = page.get_by_role("table", name="Cleanup runs")
    row = runs.get_by_role("row", name=re.compile("Test run"))
    expect(row.get_by_text("Succeeded")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(runs.get_by_role("columnheader", name="Run", exact=True)).to_have_count(0)
    details = row.get_by_role("button", name=re.compile(r"^Details of test run by hand, started "))
    assert_no_ids(page, "run history")
    details.click()
    dialog = page.get_by_role("dialog", name=re.compile(r"^Test run by hand, started \w"))
    app = dialog.get_by_role("table", name="Verdicts for app")
    expect(app).to_contain_text(f"Kept: protected by the protection policy on {ON_APP_V1}")
    web = dialog.get_by_role("table", name="Verdicts for web")
    expect(web).to_contain_text(f"Kept by the cleanup policy on {KEEP_WEB}")
    assert_no_ids(page, "run details")


def test_deliveries_are_named_by_event_and_time(setup: ServerProcess, page: Any) -> None:
    server = setup
    with api(server) as client:
        made = client.post(
            "/webhooks",
            json={
                "name": "ci",
                "kind": "http",
                "address": f"http://127.0.0.1:{free_port()}/hook",
                "event_types": ["PUSH_ARTIFACT"],
            },
        )
        assert made.status_code == 201, made.text
        webhook = made.json()["id"]
        assert client.post(f"/webhooks/{webhook}/test").status_code in (200, 201)
    sign_in(page, server, f"/registries/{REGISTRY}/webhooks?webhook={webhook}")
    log = page.get_by_role("table", name="Deliveries of ci")
    expect(log.get_by_role("columnheader", name="Delivery")).to_have_count(0)
    toggle = log.get_by_role(
        "button", name=re.compile(r"^Attempts of the test PUSH_ARTIFACT delivery of \w")
    )
    expect(toggle).to_be_visible()
    toggle.click()
    expect(
        page.get_by_role("table", name=re.compile("^Attempts of the test PUSH_ARTIFACT delivery"))
    ).to_be_visible()
    assert_no_ids(page, "delivery log")
    # A webhook that is not there: said without its id.
    page.goto(f"{server.url}/registries/{REGISTRY}/webhooks?webhook=987654")
    expect(page.get_by_text(f"This webhook is not in {REGISTRY}.")).to_be_visible()
