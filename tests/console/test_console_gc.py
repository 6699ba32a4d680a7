"""The console's garbage-collection page (Administration), end to end in a real browser."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.console.conftest import NARROW, Layout, Skopeo, sign_in
from tests.support.server import ServerProcess

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e

Shots = Callable[[Any, str], Path]
REGISTRY = "dock"
RUN_TIMEOUT_MS = 20_000
USER = {"username": "bob", "password": "bob-Passw0rd"}
UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]


def human(size: int) -> str:
    """A size as the console writes it (dom.js formatBytes)."""
    value, unit = float(size), 0
    while value >= 1024 and unit < len(UNITS) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{size} B"
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{digits}f} {UNITS[unit]}"


def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/api/v1", auth=(server.username, server.password), timeout=10
    )


@pytest.fixture
def gc_server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    """A server whose grace window is over at once, so what nothing refers to is collectable."""
    extra = {"MOORAGE_GC_GRACE_SECONDS": "0"}
    return server_factory(tmp_path / "srv", auth=True, extra_env=extra).start()


@pytest.fixture
def unreferenced(gc_server: ServerProcess, skopeo: Skopeo, oci_image: Layout) -> dict[str, int]:
    """An image pushed and its artifact deleted: its blobs are stored but referenced by nothing.
    Answers the storage figures."""
    gc_server.create_registry(REGISTRY)
    skopeo.push(gc_server, oci_image, f"{REGISTRY}/app:v1")
    with api(gc_server) as client:
        deleted = client.delete(
            f"/registries/{REGISTRY}/images/app/artifacts/{quote(oci_image.digest())}"
        )
        assert deleted.status_code == 204, deleted.text
        storage: dict[str, int] = client.get("/storage").json()
    assert storage["unreferenced_bytes"] > 0, storage
    return storage


def test_an_administrator_runs_and_schedules_garbage_collection(
    gc_server: ServerProcess,
    unreferenced: dict[str, int],
    page: Any,
    new_page: Callable[..., Any],
    shots: Shots,
) -> None:
    server = gc_server
    sign_in(page, server)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Administration").click()
    expect(page).to_have_url(f"{server.url}/admin/gc")
    expect(page.get_by_role("heading", name="Garbage collection", level=1)).to_be_focused()
    expect(nav.get_by_role("link", name="Administration")).to_have_attribute("aria-current", "page")
    # The Administration tabs, this one current, as on the other administration pages.
    tabs = page.get_by_role("navigation", name="Administration")
    expect(tabs.get_by_role("link", name="Garbage collection")).to_have_attribute(
        "aria-current", "page"
    )
    expect(tabs.get_by_role("link", name="Deployment")).to_be_visible()

    # The figures, in the sizes the console writes elsewhere.
    storage = page.get_by_role("region", name="Storage")
    expect(storage).to_contain_text(f"Stored{human(unreferenced['stored_bytes'])}")
    expect(storage).to_contain_text(f"Referenced{human(unreferenced['referenced_bytes'])}")
    expect(storage).to_contain_text(
        f"Garbage collection would free{human(unreferenced['unreferenced_bytes'])}"
    )

    # A queued or running run disables the control, with the reason, until it has finished.
    run_button = page.get_by_role("button", name="Run garbage collection")
    busy = {
        "id": 99,
        "trigger": "schedule",
        "dry_run": False,
        "delete_untagged": False,
        "status": "running",
        "blobs_deleted": 0,
        "manifests_deleted": 0,
        "bytes_freed": 0,
        "errors": 0,
        "created_at": "2024-05-01T03:00:00Z",
        "started_at": "2024-05-01T03:00:01Z",
        "finished_at": None,
    }
    newest = re.compile(r"/api/v1/gc-runs\?page=1&page_size=1$")
    page.route(
        newest,
        lambda route: route.fulfill(json={"items": [busy], "total": 1, "page": 1, "page_size": 1}),
    )
    page.reload()
    expect(run_button).to_be_disabled()
    expect(
        page.get_by_text("Run 99 is running: a new run can start once it has finished.")
    ).to_be_visible()
    page.unroute(newest)
    expect(run_button).to_be_enabled(timeout=5_000)  # the next check, ~2 s later
    expect(page.get_by_text("Run 99 is running")).to_be_hidden()

    # A real run asks first; cancelling starts nothing.
    dry = page.get_by_label("Dry run")
    expect(dry).to_be_checked()
    dry.uncheck()
    run_button.click()
    confirm = page.get_by_role("dialog", name="Run garbage collection now?")
    expect(confirm).to_contain_text("This cannot be undone.")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    with api(server) as client:
        assert client.get("/gc-runs").json()["total"] == 0

    # A dry run starts at once, finishes in the history, and its log opens from its row.
    dry.check()
    run_button.click()
    runs = page.get_by_role("table", name="Garbage-collection runs")
    row = runs.get_by_role("row", name=re.compile("Dry run"))
    expect(row.get_by_text("Succeeded")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(row).to_contain_text("By hand")
    expect(row).to_contain_text(human(unreferenced["unreferenced_bytes"]))
    expect(run_button).to_be_enabled()
    page_shot = shots(page, "gc-page")
    page.screenshot(path=str(page_shot.with_name("gc-page-full.png")), full_page=True)
    row.get_by_role("button", name="Details of dry run 1").click()
    details = page.get_by_role("dialog", name="Dry run 1 details")
    log = details.get_by_label("Log of dry run 1")
    expect(log).to_contain_text("would delete")
    expect(details).to_contain_text(
        f"Bytes freed (would be){human(unreferenced['unreferenced_bytes'])}"
    )
    shots(page, "gc-run-details")
    details.get_by_role("button", name="Done").click()
    expect(details).to_be_hidden()
    with api(server) as client:
        after = client.get("/storage").json()
    assert after == unreferenced, "a dry run deleted something"

    # The schedule: a bad part is named and marked, as on the cleanup tab; then saved, removed.
    cron = page.get_by_label("Cron expression (UTC)")
    cron.fill("0 3 * * FUNDAY")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_text(re.compile(r"day of week: 'FUNDAY'", re.I))).to_be_visible()
    expect(cron).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".cron-part.is-invalid")).to_have_text("day of week")
    cron.fill("0 3 * * SUN")
    cron.press("Enter")
    expect(page.locator(".schedule-next")).to_contain_text(re.compile(r"Next run\s*Sun.*03:00 UTC"))
    expect(cron).not_to_have_attribute("aria-invalid", "true")
    with api(server) as client:
        assert client.get("/gc-schedule").json()["cron"] == "0 3 * * SUN"
    page.get_by_role("button", name="Remove schedule").click()
    expect(
        page.get_by_text("No schedule: garbage collection runs only when started here.")
    ).to_be_visible()
    with api(server) as client:
        assert client.get("/gc-schedule").json()["cron"] is None

    # The page fits a narrow window without sideways scrolling.
    narrow = new_page(NARROW)
    sign_in(narrow, server, "/admin/gc")
    expect(narrow.get_by_role("table", name="Garbage-collection runs")).to_be_visible()
    widths = narrow.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways ({widths})"
    narrow.screenshot(path=str(page_shot.with_name("gc-narrow.png")), full_page=True)


def test_a_user_who_is_not_an_administrator_is_told_so(
    gc_server: ServerProcess, page: Any, shots: Shots
) -> None:
    server = gc_server
    with api(server) as client:
        client.post("/users", json=USER).raise_for_status()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(f"{server.url}/admin/gc")
    page.get_by_label("User name").fill(USER["username"])
    page.get_by_label("Password").fill(USER["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/admin/gc")
    expect(
        page.get_by_text("Only system administrators can manage garbage collection.")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="Garbage collection", level=1)).to_be_attached()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Registries")).to_be_visible()
    expect(nav.get_by_role("link", name="Administration")).to_have_count(0)
    expect(page.get_by_role("alert")).to_have_count(0)
    shots(page, "gc-forbidden")
    # The page asks the API for nothing it would be refused.
    assert not [url for url in asked if re.search(r"/api/v1/(gc-|storage)", url)], json.dumps(asked)
