"""The web console, end to end: sign-in, registries, images, artifacts, tags, members, keys."""

from __future__ import annotations

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


def short(digest: str) -> str:
    return digest[: len("sha256:") + 12]


def dialog_has_focus(page: Any) -> bool:
    return bool(
        page.evaluate(
            "() => { const d = document.querySelector('dialog[open]');"
            " return !!d && d.contains(document.activeElement); }"
        )
    )


def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/api/v1", auth=(server.username, server.password), timeout=10
    )


def test_sign_in_errors_redirects_and_sign_out(console_server: ServerProcess, page: Any) -> None:
    server = console_server
    # A deep link while signed out leads to the sign-in page, and back after signing in.
    page.goto(f"{server.url}/access-keys")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Faccess-keys$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("User name")).to_be_focused()

    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter your user name.")

    page.get_by_label("User name").fill(server.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_label("Password").press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Sign-in failed")
    expect(alert).to_contain_text("Wrong user name or password")
    expect(page.get_by_label("Password")).to_be_focused()
    expect(page).to_have_url(re.compile(r"/sign-in"))

    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/access-keys")
    expect(page.get_by_role("heading", name="Access keys", level=1)).to_be_visible()
    banner = page.get_by_role("banner")
    expect(banner).to_contain_text(server.username)

    # The CSRF token survives a reload (it is kept for the tab), so changes still work.
    page.reload()
    page.get_by_role("button", name="Create access key").click()
    created = page.get_by_role("dialog", name="Access key created")
    expect(created).to_be_visible()
    created.get_by_role("button", name="I have copied the secret").click()
    expect(page.get_by_role("table", name="Access keys").get_by_role("row")).to_have_count(2)

    # A session that ends (cookie gone) sends the next request to the sign-in page.
    page.context.clear_cookies()
    page.get_by_role("link", name="Registries").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?"))
    expect(page.get_by_role("note")).to_contain_text("Your session has ended")
    sign_in(page, server)
    expect(page).to_have_url(f"{server.url}/registries")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?signed_out=1"))
    expect(page.get_by_role("note")).to_contain_text("You have signed out.")
    page.goto(f"{server.url}/registries")
    expect(page).to_have_url(re.compile(r"/sign-in"))


def test_registry_image_artifact_and_tags(
    console_server: ServerProcess,
    page: Any,
    skopeo: Skopeo,
    oci_image: Layout,
    shots: Shots,
) -> None:
    server = console_server
    sign_in(page, server)
    expect(page.get_by_role("heading", name="Registries", level=1)).to_be_visible()
    expect(page.get_by_text("No registries yet")).to_be_visible()

    # Create a registry with the keyboard only: focus stays in the dialog, Escape closes it.
    create = page.get_by_role("button", name="Create registry")
    create.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Create registry")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Name")).to_be_focused()
    expect(dialog.get_by_label("Project")).to_have_value("default")
    for _ in range(6):
        page.keyboard.press("Tab")
        assert dialog_has_focus(page)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(create).to_be_focused()

    create.click()
    dialog.get_by_label("Name").fill("Bad Name")
    dialog.get_by_label("Name").press("Enter")
    expect(dialog.get_by_text("Use lowercase letters and digits")).to_be_visible()
    dialog.get_by_label("Name").fill("shipyard")
    dialog.get_by_label("Name").press("Enter")
    expect(dialog).to_be_hidden()
    table = page.get_by_role("table", name="Registries")
    expect(table.get_by_role("link", name="shipyard")).to_be_visible()

    # A name that is taken is refused inside the dialog.
    create.click()
    dialog.get_by_label("Name").fill("shipyard")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.get_by_role("alert")).to_contain_text("shipyard")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    # Push commands, with a working copy button.
    page.get_by_role("button", name="Push commands for shipyard").click()
    push = page.get_by_role("dialog", name="Push to shipyard")
    expect(push).to_contain_text(f"docker login {server.host}")
    expect(push).to_contain_text(f"docker push {server.host}/shipyard/IMAGE:TAG")
    push.get_by_role("button", name="Copy the docker login command for shipyard").click()
    assert page.evaluate("navigator.clipboard.readText()") == f"docker login {server.host}"
    page.keyboard.press("Escape")
    expect(push).to_be_hidden()

    skopeo.push(server, oci_image, "shipyard/app:v1")
    skopeo.push(server, oci_image, "shipyard/tools/debug:1.0")
    digest = oci_image.digest()
    page.reload()
    row = table.get_by_role("row", name=re.compile("shipyard"))
    expect(row.get_by_role("cell", name="2", exact=True)).to_be_visible()
    shots(page, "01-registries")

    # Registry → images.
    table.get_by_role("link", name="shipyard").click()
    expect(page.get_by_role("heading", name="shipyard", level=1)).to_be_visible()
    expect(page.get_by_role("tab", name="Images")).to_have_attribute("aria-selected", "true")
    images = page.get_by_role("table", name="Images in shipyard")
    expect(images.get_by_role("link", name="app", exact=True)).to_be_visible()
    expect(images.get_by_role("link", name="tools/debug")).to_be_visible()
    page.get_by_label("Search images").fill("tools")
    expect(images.get_by_role("link", name="app", exact=True)).to_be_hidden()
    expect(page).to_have_url(re.compile(r"[?&]q=tools"))
    page.get_by_label("Search images").fill("")
    expect(images.get_by_role("link", name="app", exact=True)).to_be_visible()
    shots(page, "02-registry-images")

    # Image → artifacts (an image name with "/" is one encoded path segment).
    images.get_by_role("link", name="tools/debug").click()
    expect(page).to_have_url(f"{server.url}/registries/shipyard/images/tools%2Fdebug")
    expect(page.get_by_role("heading", name="tools/debug", level=1)).to_be_visible()
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="shipyard").click()
    images.get_by_role("link", name="app", exact=True).click()
    artifacts = page.get_by_role("table", name="Artifacts of app")
    artifact_row = artifacts.get_by_role("row", name=re.compile(short(digest)))
    expect(artifact_row).to_contain_text("v1")
    expect(artifact_row).to_contain_text("OCI image")
    shots(page, "03-image-artifacts")

    # Artifact detail: summary, pull command, layers, manifest; the deep link survives a reload.
    artifacts.get_by_role("link", name=short(digest)).click()
    expect(page.get_by_role("heading", name=short(digest), level=1)).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name=short(digest), level=1)).to_be_visible()
    pull = f"docker pull {server.host}/shipyard/app@{digest}"
    expect(page.get_by_text(pull)).to_be_visible()
    page.get_by_role("button", name="Copy the docker pull command").click()
    assert page.evaluate("navigator.clipboard.readText()") == pull
    expect(page.get_by_role("table", name="Layers").get_by_role("row")).to_have_count(3)
    page.get_by_text("Show the raw manifest").click()
    expect(page.get_by_label("Raw manifest", exact=True)).to_contain_text('"schemaVersion": 2')
    page.get_by_text("Show the raw manifest").click()
    shots(page, "04-artifact")

    # Add a tag (Enter submits), find it, then delete it after confirming.
    page.get_by_role("button", name="Add tag").click()
    tag_dialog = page.get_by_role("dialog", name="Add tag")
    tag_dialog.get_by_label("Tag name").fill("release-1")
    tag_dialog.get_by_label("Tag name").press("Enter")
    expect(tag_dialog).to_be_hidden()
    tags = page.get_by_role("table", name="Tags")
    expect(tags.get_by_text("release-1", exact=True)).to_be_visible()
    with api(server) as client:
        listed = client.get("/registries/shipyard/images/app/tags").json()
        assert sorted(t["name"] for t in listed["items"]) == ["release-1", "v1"]
    page.get_by_label("Search tags").fill("release")
    expect(tags.get_by_role("row")).to_have_count(2)
    page.get_by_role("button", name="Delete tag release-1").click()
    confirm = page.get_by_role("dialog", name="Delete tag release-1?")
    expect(confirm.get_by_role("button", name="Delete tag")).to_be_focused()
    confirm.get_by_role("button", name="Delete tag").click()
    expect(confirm).to_be_hidden()
    expect(page.get_by_text("No tags match “release”.")).to_be_visible()
    with api(server) as client:
        listed = client.get("/registries/shipyard/images/app/tags").json()
        assert [t["name"] for t in listed["items"]] == ["v1"]

    # Delete the artifact: cancelling keeps it, confirming removes it.
    page.get_by_role("button", name="Delete artifact").click()
    confirm = page.get_by_role("dialog", name="Delete this artifact?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    page.get_by_role("button", name="Delete artifact").click()
    confirm.get_by_role("button", name="Delete artifact").click()
    expect(page).to_have_url(f"{server.url}/registries/shipyard/images/app")
    expect(page.get_by_text("No artifacts in this image")).to_be_visible()
    with api(server) as client:
        found = client.get(f"/registries/shipyard/images/app/artifacts/{quote(digest)}")
        assert found.status_code == 404

    # Delete the registry that still holds an image: forcing needs an explicit tick.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Registries").click()
    page.get_by_role("button", name="Delete registry shipyard").click()
    confirm = page.get_by_role("dialog", name="Delete registry shipyard?")
    delete = confirm.get_by_role("button", name="Delete registry")
    expect(delete).to_be_disabled()
    confirm.get_by_label("Also delete its 1 image").check()
    delete.click()
    expect(confirm).to_be_hidden()
    expect(page.get_by_text("No registries yet")).to_be_visible()
    shots(page, "05-registries-empty")


def test_access_keys_and_members(
    console_server: ServerProcess, page: Any, skopeo: Skopeo, shots: Shots
) -> None:
    server = console_server
    server.create_registry("team")
    with api(server) as client:
        bob = {"username": "bob", "password": "bob-Passw0rd"}
        client.post("/users", json=bob).raise_for_status()
    sign_in(page, server)

    # Members of the registry's project: add, change the role, remove. Tabs work by keyboard.
    page.goto(f"{server.url}/registries/team")
    page.get_by_role("tab", name="Images").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Members")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/registries/team/members")
    expect(page.get_by_role("tab", name="Members")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_text("Project default has no members yet")).to_be_visible()
    page.get_by_role("button", name="Add member").click()
    dialog = page.get_by_role("dialog", name="Add a member to default")
    dialog.get_by_label("User name").fill("nobody")
    dialog.get_by_role("button", name="Add member").click()
    expect(dialog.get_by_role("alert")).to_be_visible()
    dialog.get_by_label("User name").fill("bob")
    dialog.get_by_label("Role").select_option("service_viewer")
    dialog.get_by_role("button", name="Add member").click()
    expect(dialog).to_be_hidden()
    members = page.get_by_role("table", name="Members of project default")
    expect(members.get_by_label("Role of bob")).to_have_value("service_viewer")
    members.get_by_label("Role of bob").select_option("project_member")
    expect(page.get_by_text("bob is now a project member")).to_be_visible()
    with api(server) as client:
        listed = client.get("/projects/default/members").json()["items"]
        assert [(m["username"], m["role"]) for m in listed] == [("bob", "project_member")]
    shots(page, "06-registry-members")
    page.get_by_role("button", name="Remove bob from default").click()
    remove = page.get_by_role("dialog", name="Remove bob?")
    remove.get_by_role("button", name="Remove member").click()
    expect(page.get_by_text("Project default has no members yet")).to_be_visible()

    # Access keys: the secret is shown once, and works with a registry client.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Access keys").click()
    expect(page.get_by_text("No access keys yet")).to_be_visible()
    page.get_by_role("button", name="Create access key").click()
    created = page.get_by_role("dialog", name="Access key created")
    expect(created).to_contain_text("This is the only time the secret is shown")
    key_id = created.get_by_label("Access key ID").input_value()
    secret = created.get_by_label("Secret access key").input_value()
    assert key_id
    assert len(secret) >= 20
    created.get_by_role("button", name="Copy secret").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shots(page, "07-access-key-created")
    created.get_by_role("button", name="I have copied the secret").click()
    expect(created).to_be_hidden()

    login = skopeo.login(server.host, key_id, secret)
    assert "Login Succeeded" in login.stdout, login.stdout + login.stderr

    keys = page.get_by_role("table", name="Access keys")
    expect(keys.get_by_text(key_id)).to_be_visible()
    expect(page.get_by_text("1 of 5 keys")).to_be_visible()
    switch = keys.get_by_role("switch", name=f"Key {key_id} enabled")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    assert "Login Succeeded" not in skopeo.login(server.host, key_id, secret).stdout
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(keys.get_by_text("Never used")).to_be_hidden()  # the login above used it
    shots(page, "08-access-keys")

    # The five-key limit: the button is disabled and says why.
    for _ in range(4):
        page.get_by_role("button", name="Create access key").click()
        page.get_by_role("dialog", name="Access key created").get_by_role(
            "button", name="I have copied the secret"
        ).click()
    expect(page.get_by_text("5 of 5 keys")).to_be_visible()
    expect(page.get_by_role("button", name="Create access key")).to_be_disabled()
    expect(page.get_by_text("the most one user may have")).to_be_visible()

    # Keys older than 90 days carry a warning (the server's answer is aged here).
    def aged(route: Any) -> None:
        body = route.fetch().json()
        for item in body["items"]:
            if item["key_id"] == key_id:
                item.update(age_days=120, rotation_due=True)
        route.fulfill(json=body)

    page.route(re.compile(r"/api/v1/users/me/access-keys(\?.*)?$"), aged)
    page.reload()
    old_row = keys.get_by_role("row", name=re.compile(key_id))
    expect(old_row.get_by_text("Rotate")).to_be_visible()
    expect(old_row).to_contain_text("120 days ago")
    assert keys.get_by_text("Rotate").count() == 1
    page.unroute(re.compile(r"/api/v1/users/me/access-keys(\?.*)?$"))

    page.get_by_role("button", name=f"Delete access key {key_id}").click()
    confirm = page.get_by_role("dialog", name="Delete this access key?")
    expect(confirm).to_contain_text(key_id)
    confirm.get_by_role("button", name="Delete key").click()
    expect(keys.get_by_text(key_id)).to_be_hidden()
    expect(page.get_by_role("button", name="Create access key")).to_be_enabled()
    assert "Login Succeeded" not in skopeo.login(server.host, key_id, secret).stdout


def test_narrow_window_has_no_horizontal_scroll(
    console_server: ServerProcess,
    new_page: Callable[..., Any],
    skopeo: Skopeo,
    oci_image: Layout,
    shots: Shots,
) -> None:
    server = console_server
    registry = "narrow-registry-with-a-long-name"
    server.create_registry(registry)
    skopeo.push(server, oci_image, f"{registry}/some/deeply/nested/app:v1")
    digest = oci_image.digest()
    page = new_page(NARROW)
    sign_in(page, server)
    image = f"/registries/{registry}/images/some%2Fdeeply%2Fnested%2Fapp"
    paths = {
        "registries": ("/registries", "Registries"),
        "registry": (f"/registries/{registry}", registry),
        "image": (image, "some/deeply/nested/app"),
        "artifact": (f"{image}/artifacts/{quote(digest)}", short(digest)),
        "access-keys": ("/access-keys", "Access keys"),
    }
    for name, (path, heading) in paths.items():
        page.goto(f"{server.url}{path}")
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        page.wait_for_load_state("networkidle")
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"{name}: the page scrolls sideways ({widths})"
        shots(page, f"narrow-{name}")
    # Dialogs fit too.
    page.goto(f"{server.url}/registries")
    page.get_by_role("button", name=f"Push commands for {registry}").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    box = page.get_by_role("dialog").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= NARROW["width"]
