"""The console's image protection and image cleanup tabs, end to end in a real browser."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.console.conftest import NARROW, Layout, Skopeo, run, sign_in
from tests.support.server import ServerProcess

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e

Shots = Callable[[Any, str], Path]
REGISTRY = "harbour"
RUN_TIMEOUT_MS = 15_000


def short(digest: str) -> str:
    return digest[: len("sha256:") + 12]


def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/api/v1/registries/{REGISTRY}",
        auth=(server.username, server.password),
        timeout=10,
    )


@pytest.fixture
def builds(oci_image: Layout, tmp_path: Path) -> Layout:
    """The busybox layout with three tags, v1 to v3, each a different manifest (its config)."""
    path = tmp_path / "builds"
    shutil.copytree(oci_image.path, path)
    for number in (2, 3):
        run(
            [
                "umoci",
                "--log",
                "error",
                "config",
                "--image",
                f"{path}:v1",
                f"--config.env=BUILD={number}",
                "--tag",
                f"v{number}",
            ]
        )
    return Layout(path)


def push(skopeo: Skopeo, server: ServerProcess, layout: Layout, tag: str, dest: str) -> None:
    run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"{server.username}:{server.password}",
            layout.ref(tag),
            f"docker://{server.host}/{dest}",
        ],
        env=skopeo.env,
    )


def without_toasts(page: Any) -> Any:
    """The page, its confirmations cleared from the corner (for a clean screenshot)."""
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    return page


def test_protection_and_cleanup(
    console_server: ServerProcess,
    new_page: Callable[..., Any],
    skopeo: Skopeo,
    builds: Layout,
    shots: Shots,
) -> None:
    server = console_server
    server.create_registry(REGISTRY)
    digests = {}
    for tag in ("v1", "v2", "v3"):  # pushed in this order: v3 is the newest
        push(skopeo, server, builds, tag, f"{REGISTRY}/app:{tag}")
        digests[tag] = builds.digest(tag)
    assert len(set(digests.values())) == 3

    # Image protection: explained, empty, then a policy for app:v1.
    page = new_page()
    sign_in(page, server, f"/registries/{REGISTRY}/protection")
    expect(page.get_by_role("tab", name="Image protection")).to_have_attribute(
        "aria-selected", "true"
    )
    expect(page.get_by_text("can't be overwritten with a different image")).to_be_visible()
    expect(page.get_by_text("No protection policies yet")).to_be_visible()
    expect(page.get_by_text("0 of 15 policies", exact=True)).to_be_visible()
    add = page.get_by_role("button", name="Add policy")
    add.click()
    dialog = page.get_by_role("dialog", name="Add protection policy")
    expect(dialog.get_by_label("Image pattern")).to_have_value("**")
    dialog.get_by_label("Image pattern").fill("app")
    dialog.get_by_label("Tag pattern").fill("v1")
    expect(dialog.get_by_text("tags matching v1 in images matching app")).to_be_visible()
    dialog.get_by_role("button", name="Add policy").click()
    expect(dialog).to_be_hidden()
    with api(server) as client:
        [protection] = client.get("/protection-policies").json()["items"]
    assert protection["image"] == {"pattern": "app", "include": True}
    assert protection["tag"] == {"pattern": "v1", "include": True}
    policies = page.get_by_role("table", name="Protection policies")
    expect(policies.get_by_role("row", name=re.compile("app"))).to_contain_text("matching")

    # The same selectors again: the 409 is shown in the dialog, which stays open.
    add.click()
    dialog.get_by_label("Image pattern").fill("app")
    dialog.get_by_label("Tag pattern").fill("v1")
    dialog.get_by_role("button", name="Add policy").click()
    expect(dialog.get_by_role("alert")).to_contain_text(
        "A protection policy with the same selectors exists already (on images 'app', tags 'v1')"
    )
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    # An excluding, disabled policy; the switch enables it.
    add.click()
    dialog.get_by_label("Images", exact=True).select_option("exclude")
    dialog.get_by_label("Image pattern").fill("tmp/**")
    dialog.get_by_label("Tag pattern").fill("release-*")
    dialog.get_by_label("Enabled").uncheck()
    expect(dialog.get_by_text("images not matching tmp/**")).to_be_visible()
    dialog.get_by_role("button", name="Add policy").click()
    expect(dialog).to_be_hidden()
    expect(policies.get_by_text("excluding")).to_be_visible()
    other = "protection policy on images excluding 'tmp/**', tags 'release-*'"
    switch = policies.get_by_role("switch", name=f"P{other[1:]} enabled")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()
    expect(page.get_by_text(f"P{other[1:]} enabled.")).to_be_visible()
    with api(server) as client:
        listed = {
            p["image"]["pattern"]: p for p in client.get("/protection-policies").json()["items"]
        }
        assert listed["tmp/**"]["enabled"] is True
        assert listed["tmp/**"]["image"] == {"pattern": "tmp/**", "include": False}
    expect(page.get_by_text("2 of 15 policies", exact=True)).to_be_visible()
    shots(without_toasts(page), "protection-tab")

    # The limit: at 15 the button is disabled and says why.
    with api(server) as client:
        extra = [
            client.post(
                "/protection-policies",
                json={"image": {"pattern": f"filler-{i}"}, "tag": {"pattern": "x"}},
            ).json()["id"]
            for i in range(13)
        ]
    page.reload()
    expect(page.get_by_text("15 of 15 policies", exact=True)).to_be_visible()
    expect(add).to_be_disabled()
    expect(page.get_by_text("the most a registry may have")).to_be_visible()
    with api(server) as client:
        for policy_id in extra:
            assert client.delete(f"/protection-policies/{policy_id}").status_code == 204
    page.get_by_role("button", name=f"Delete {other}").click()
    confirm = page.get_by_role("dialog", name=f"Delete the {other}?")
    confirm.get_by_role("button", name="Delete policy").click()
    expect(confirm).to_be_hidden()
    expect(page.get_by_text("1 of 15 policies", exact=True)).to_be_visible()
    expect(add).to_be_enabled()

    # The protected artifact and tag carry the badge; their delete controls are disabled with
    # the reason instead of failing after a confirmation.
    page.get_by_role("tab", name="Images").click()
    page.get_by_role("table", name=f"Images in {REGISTRY}").get_by_role("link", name="app").click()
    artifacts = page.get_by_role("table", name="Artifacts of app")
    v1_row = artifacts.get_by_role("row", name=re.compile(short(digests["v1"])))
    expect(v1_row.get_by_text("Protected")).to_be_visible()
    expect(v1_row.get_by_text("Protected")).to_have_attribute("title", re.compile("protected"))
    expect(artifacts.get_by_text("Protected", exact=True)).to_have_count(1)
    artifacts.get_by_role("link", name=short(digests["v1"])).click()
    tags = page.get_by_role("table", name="Tags")
    expect(tags.get_by_role("row", name=re.compile("v1")).get_by_text("Protected")).to_be_visible()
    delete_artifact = page.get_by_role("button", name="Delete artifact")
    expect(delete_artifact).to_be_disabled()
    on_v1 = re.escape("protected by the protection policy on images 'app', tags 'v1'")
    expect(delete_artifact).to_have_attribute("title", re.compile(on_v1))
    v1_delete = tags.get_by_role("button", name="Delete tag v1")
    expect(v1_delete).to_be_disabled()
    expect(v1_delete).to_have_attribute("title", re.compile(on_v1))

    # Image cleanup: the warning, an empty list, runs disabled until a policy is enabled.
    page.goto(f"{server.url}/registries/{REGISTRY}/cleanup")
    expect(page.get_by_text("every other artifact of that image is deleted")).to_be_visible()
    expect(page.get_by_text("No cleanup policies yet")).to_be_visible()
    expect(page.get_by_text("No runs yet")).to_be_visible()
    test_run = page.get_by_role("button", name="Test run")
    expect(test_run).to_be_disabled()
    page.get_by_role("button", name="Add policy").click()
    dialog = page.get_by_role("dialog", name="Add cleanup policy")
    expect(dialog.get_by_label("Days (N)")).to_be_hidden()
    dialog.get_by_label("Keep", exact=True).select_option("pushed_within")
    expect(dialog.get_by_label("Days (N)")).to_be_visible()
    expect(dialog.get_by_label("How many (N)")).to_be_hidden()
    dialog.get_by_label("Keep", exact=True).select_option("latest_pushed")
    dialog.get_by_label("How many (N)").fill("0")
    dialog.get_by_role("button", name="Add policy").click()
    expect(dialog.get_by_text("Enter a whole number from 1 to 10,000.")).to_be_visible()
    dialog.get_by_label("How many (N)").fill("1")
    expect(dialog.get_by_text("keep the most recently pushed")).to_be_visible()
    dialog.get_by_role("button", name="Add policy").click()
    expect(dialog).to_be_hidden()
    with api(server) as client:
        [cleanup] = client.get("/cleanup-policies").json()["items"]
    assert cleanup["rule"] == {"kind": "latest_pushed", "count": 1, "days": None}
    assert cleanup["tag"] == {"pattern": "**", "include": True, "untagged": False}
    cleanup_policies = page.get_by_role("table", name="Cleanup policies")
    row = cleanup_policies.get_by_role("row", name=re.compile("Keep the most recently pushed"))
    expect(row).to_contain_text("Keep the most recently pushed")
    expect(row).to_contain_text("tagged only")

    # A test run: it finishes by itself in the history, and its details give every verdict.
    expect(test_run).to_be_enabled()
    test_run.click()
    runs = page.get_by_role("table", name="Cleanup runs")
    first = runs.get_by_role("row", name=re.compile("Test run"))
    expect(first.get_by_text("Succeeded")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(first).to_contain_text("1 would be deleted")
    first.get_by_role("button", name=re.compile("Details of test run")).click()
    details = page.get_by_role("dialog", name=re.compile(r"^Test run by hand, started "))
    verdicts = details.get_by_role("table", name="Verdicts for app")
    expected = {
        "v3": "Kept by the cleanup policy on images '**', tags '**', tagged only: "
        "keep the 1 most recently pushed",
        "v2": "Would be deleted",
        "v1": "Kept: protected by the protection policy on images 'app', tags 'v1'",
    }
    for tag, verdict in expected.items():
        line = verdicts.get_by_role("row", name=re.compile(short(digests[tag])))
        expect(line).to_contain_text(tag)
        expect(line).to_contain_text(verdict)
    shots(without_toasts(page), "cleanup-run-details")
    details.get_by_role("button", name="Done").click()
    expect(details).to_be_hidden()
    with api(server) as client:
        found = client.get(f"/images/app/artifacts/{quote(digests['v2'])}")
        assert found.status_code == 200, "a test run deleted something"

    # The schedule: a bad field is named next to the input; a good one shows the next run.
    cron = page.get_by_label("Cron expression (UTC)")
    cron.fill("0 3 * * FUNDAY")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_text(re.compile(r"day of week: 'FUNDAY'", re.I))).to_be_visible()
    expect(cron).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".cron-part.is-invalid")).to_have_text("day of week")
    cron.fill("0 3 * * SUN")
    cron.press("Enter")
    next_run = page.locator(".schedule-next")
    expect(next_run).to_contain_text(re.compile(r"Next run\s*Sun.*03:00 UTC"))
    expect(cron).not_to_have_attribute("aria-invalid", "true")
    with api(server) as client:
        schedule = client.get("/cleanup-schedule").json()
    assert schedule["cron"] == "0 3 * * SUN"
    assert schedule["next_run_at"]

    # Run now asks first, then deletes what the test run said it would.
    page.get_by_role("button", name="Run now").click()
    confirm = page.get_by_role("dialog", name="Run cleanup now?")
    expect(confirm).to_contain_text("This cannot be undone.")
    confirm.get_by_role("button", name="Run cleanup").click()
    expect(confirm).to_be_hidden()
    real = runs.get_by_role("row", name=re.compile("Real run"))
    expect(real.get_by_text("Succeeded")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(real).to_contain_text("1 deleted")
    with api(server) as client:
        left = client.get("/images/app/artifacts").json()["items"]
    assert sorted(a["digest"] for a in left) == sorted([digests["v1"], digests["v3"]])
    tab_shot = shots(without_toasts(page), "cleanup-tab")
    page.screenshot(path=str(tab_shot.with_name("cleanup-tab-full.png")), full_page=True)

    real.get_by_role("button", name=re.compile("Details of run")).click()
    details = page.get_by_role("dialog", name=re.compile(r"^Run by hand, started "))
    line = details.get_by_role("row", name=re.compile(short(digests["v2"])))
    expect(line).to_contain_text("Deleted")
    details.get_by_role("button", name="Done").click()

    # Removing the schedule.
    page.get_by_role("button", name="Remove schedule").click()
    expect(page.get_by_text("No schedule: cleanup runs only when started here.")).to_be_visible()
    with api(server) as client:
        assert client.get("/cleanup-schedule").json()["cron"] is None

    # Both tabs fit a narrow window without sideways scrolling.
    narrow = new_page(NARROW)
    sign_in(narrow, server, f"/registries/{REGISTRY}/protection")
    for tab in ("protection", "cleanup"):
        narrow.goto(f"{server.url}/registries/{REGISTRY}/{tab}")
        expect(narrow.get_by_role("row").nth(1)).to_be_visible()
        widths = narrow.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"{tab}: the page scrolls sideways ({widths})"
        narrow.screenshot(path=str(tab_shot.with_name(f"narrow-{tab}.png")), full_page=True)
