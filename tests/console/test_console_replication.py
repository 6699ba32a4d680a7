"""The console's Replication tab, end to end: a rule created in the dialog (a field's error
shown beside it), its status checked again, a run after its confirmation that really copies
an image to a second moorage, the history with each artifact's task and log, editing (the
password never shown) and deleting; a run held pending (no job runner) stopped from the
history; and a Service Viewer who sees rules and history with no control that changes them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import Layout, Skopeo, sign_in
from tests.console.test_console_roles import sign_in_as
from tests.support.server import ServerProcess, free_port

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e

REGISTRY = "harbour"
MIRROR = "mirror"
RULE = "to-remote"
RUN_TIMEOUT_MS = 30_000


def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/api/v1", auth=(server.username, server.password), timeout=30
    )


@pytest.fixture
def remote(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    """The other region: a moorage with authentication and an empty registry."""
    server = server_factory(tmp_path / "remote", auth=True).start()
    server.create_registry(MIRROR)
    return server


@pytest.fixture
def source(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    """This region: rules may name a loopback address (the remote's)."""
    env = {"MOORAGE_ALLOW_PRIVATE_TARGETS": "1"}
    server = server_factory(tmp_path / "source", auth=True, extra_env=env).start()
    server.create_registry(REGISTRY)
    return server


def dialog(page: Any) -> Any:
    return page.get_by_role("dialog")


def test_create_check_run_and_read_the_history(
    source: ServerProcess,
    remote: ServerProcess,
    page: Any,
    skopeo: Skopeo,
    oci_image: Layout,
    shots: Callable[[Any, str], Path],
) -> None:
    skopeo.push(source, oci_image, f"{REGISTRY}/app:v1")
    sign_in(page, source, f"/registries/{REGISTRY}/replication")
    expect(page.get_by_role("tab", name="Replication", selected=True)).to_be_visible()
    expect(page.get_by_text("No replication yet")).to_be_visible()

    # Create: a broken address is named beside its field, and the dialog stays open.
    page.get_by_role("button", name="Create replication").click()
    form = dialog(page)
    form.get_by_role("textbox", name="Name", exact=True).fill(RULE)
    form.get_by_label("Remote URL").fill("ftp://elsewhere.example")
    form.get_by_label("Remote registry").fill(MIRROR)
    form.get_by_label("User name or access key ID").fill(remote.username)
    form.get_by_label("Password or secret").fill(remote.password)
    form.get_by_role("button", name="Create replication").click()
    expect(form.get_by_label("Remote URL")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_text("http:// or https://")).to_be_visible()
    shots(page, "replication-dialog")
    form.get_by_label("Remote URL").fill(remote.url)
    form.get_by_role("button", name="Create replication").click()
    expect(dialog(page)).to_have_count(0)
    rules = page.get_by_role("table", name="Replication rules")
    row = rules.get_by_role("row", name=re.compile(RULE))
    expect(row).to_be_visible()
    expect(row.get_by_text(f"{remote.url}/{MIRROR}")).to_be_visible()

    # The status, checked again now.
    row.get_by_role("button", name=f"Check replication {RULE} again").click()
    expect(row.get_by_text("Active", exact=True)).to_be_visible()
    shots(page, "replication-rules")

    # Run, after the confirmation; the history shows the run and its artifact.
    row.get_by_role("button", name=f"Run replication {RULE}").click()
    confirm = dialog(page)
    expect(confirm.get_by_role("heading", name=f"Run replication {RULE}?")).to_be_visible()
    confirm.get_by_role("button", name="Run replication").click()
    expect(page.get_by_role("heading", name=f"Replication {RULE}")).to_be_visible()
    runs = page.get_by_role("table", name=f"Runs of replication {RULE}")
    expect(runs.get_by_text("Succeeded")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(runs.get_by_text("1 copied")).to_be_visible()
    runs.get_by_role("button", name=re.compile("^Details of run by hand")).click()
    details = dialog(page)
    tasks = details.get_by_role("table", name=re.compile("^Artifacts of run by hand"))
    task = tasks.get_by_role("row", name=re.compile("app:v1"))
    expect(task.get_by_text("Copied")).to_be_visible()
    task.get_by_text(re.compile(r"^Log \(\d+ lines?\)$")).click()
    expect(task.locator("pre")).to_contain_text(re.compile(r"\S"))
    shots(page, "replication-run")
    details.get_by_role("button", name="Done").click()
    with api(remote) as http:
        tags = http.get(f"/registries/{MIRROR}/images/app/tags")
        assert tags.status_code == 200, tags.text
        assert [t["name"] for t in tags.json()["items"]] == ["v1"]

    # Edit: the stored password is never shown, and an empty field keeps it.
    page.get_by_role("link", name="All replications").click()
    rules.get_by_role("button", name=f"Edit replication {RULE}").click()
    password = dialog(page).get_by_label("Password or secret")
    expect(password).to_have_value("")
    expect(password).to_have_attribute("placeholder", "set — leave empty to keep")
    dialog(page).get_by_label("Overwrite a tag that points to another artifact").uncheck()
    dialog(page).get_by_role("button", name="Save replication").click()
    expect(page.get_by_text(f"Replication {RULE} saved.")).to_be_visible()
    with api(source) as http:
        saved = http.get(f"/registries/{REGISTRY}/replications").json()["items"][0]
    assert saved["remote"]["has_password"] is True
    assert saved["override"] is False
    assert remote.password not in page.content()

    # Delete, after its confirmation.
    rules.get_by_role("button", name=f"Delete replication {RULE}").click()
    dialog(page).get_by_role("button", name="Delete replication").click()
    expect(page.get_by_text("No replication yet")).to_be_visible()


@pytest.fixture
def held(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    """No job runner: a run stays pending. A rule on a closed loopback port (never called)
    in registry `apps` of project `team`."""
    env = {"MOORAGE_RUN_JOBS": "false", "MOORAGE_ALLOW_PRIVATE_TARGETS": "1"}
    server = server_factory(tmp_path / "held", auth=True, extra_env=env).start()
    with api(server) as http:
        assert http.post("/projects", json={"name": "team"}).status_code == 201
        made = http.post("/registries", json={"name": "apps", "project": "team"})
        assert made.status_code == 201, made.text
        remote = {"url": f"http://127.0.0.1:{free_port()}"}
        rule = {"name": RULE, "direction": "push", "remote": remote}
        created = http.post("/registries/apps/replications", json=rule)
        assert created.status_code == 201, created.text
    return server


def test_a_pending_run_is_stopped_from_the_history(held: ServerProcess, page: Any) -> None:
    sign_in(page, held, "/registries/apps/replication")
    page.get_by_role("link", name=f"History of replication {RULE}").click()
    page.get_by_role("button", name="Run now").click()
    dialog(page).get_by_role("button", name="Run replication").click()
    runs = page.get_by_role("table", name=f"Runs of replication {RULE}")
    expect(runs.get_by_text("Pending")).to_be_visible()
    runs.get_by_role("button", name=re.compile("^Stop run by hand")).click()
    dialog(page).get_by_role("button", name="Stop run").click()
    expect(runs.get_by_text("Stopped")).to_be_visible()
    expect(runs.get_by_role("button", name=re.compile("^Stop "))).to_have_count(0)


def test_a_viewer_reads_rules_and_history_only(held: ServerProcess, page: Any) -> None:
    name, password = f"u{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with api(held) as http:
        assert http.post("/users", json={"username": name, "password": password}).is_success
        role = {"role": "service_viewer"}
        assert http.put(f"/projects/team/members/{name}", json=role).status_code == 200
    sign_in_as(page, held, (name, password), "/registries/apps/replication")
    rules = page.get_by_role("table", name="Replication rules")
    expect(rules.get_by_role("row")).to_have_count(2)
    expect(rules.get_by_role("cell", name="Enabled", exact=True)).to_be_visible()
    for control in (
        page.get_by_role("button", name="Create replication"),
        page.get_by_role("button", name=f"Run replication {RULE}"),
        page.get_by_role("button", name=f"Edit replication {RULE}"),
        page.get_by_role("button", name=f"Delete replication {RULE}"),
        page.get_by_role("button", name=f"Check replication {RULE} again"),
        page.get_by_role("switch"),
    ):
        expect(control).to_have_count(0)
    page.get_by_role("link", name=f"History of replication {RULE}").click()
    expect(page.get_by_role("heading", name=f"Replication {RULE}")).to_be_visible()
    expect(page.get_by_text("No runs yet")).to_be_visible()
    expect(page.get_by_role("button", name="Run now")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Check replication"))).to_have_count(0)
