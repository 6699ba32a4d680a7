"""The console follows the user: page by page, the controls a Service Viewer, a Project
Member and a system administrator see are the ones the API lets them use."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.console.conftest import NARROW, Layout, Skopeo
from tests.support.server import ServerProcess

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e


def admin_api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/api/v1", auth=(server.username, server.password), timeout=10
    )


def account(http: httpx.Client, project: str, role: str) -> tuple[str, str]:
    name, password = f"u{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    assert http.post("/users", json={"username": name, "password": password}).status_code == 201
    put = http.put(f"/projects/{project}/members/{name}", json={"role": role})
    assert put.status_code == 200, put.text
    return name, password


def sign_in_as(page: Any, server: ServerProcess, who: tuple[str, str], path: str) -> None:
    page.goto(f"{server.url}{path}")
    page.get_by_label("User name").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


@pytest.fixture
def setup(console_server: ServerProcess, skopeo: Skopeo, oci_image: Layout) -> dict[str, Any]:
    server = console_server
    with admin_api(server) as http:
        assert http.post("/projects", json={"name": "team"}).status_code == 201
        assert http.post("/registries", json={"name": "apps", "project": "team"}).status_code == 201
        assert (
            http.post("/registries", json={"name": "secret", "project": "default"}).status_code
            == 201
        )
        viewer = account(http, "team", "service_viewer")
        member = account(http, "team", "project_member")
    skopeo.push(server, oci_image, "apps/web:v1")
    return {"server": server, "viewer": viewer, "member": member, "digest": oci_image.digest()}


def test_viewer_sees_no_changing_controls(setup: dict[str, Any], page: Any) -> None:
    server = setup["server"]
    sign_in_as(page, server, setup["viewer"], "/registries")
    table = page.get_by_role("table", name="Registries")
    expect(table.get_by_role("link", name="apps")).to_be_visible()
    expect(page.get_by_role("button", name="Create registry")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Delete registry"))).to_have_count(0)

    page.get_by_role("link", name="apps").click()
    expect(page.get_by_role("heading", name="apps", level=1)).to_be_visible()
    expect(page.get_by_text("Service viewer")).to_be_visible()
    expect(page.get_by_role("button", name="Delete registry")).to_have_count(0)
    images = page.get_by_role("table", name="Images in apps")
    expect(images.get_by_role("link", name="web")).to_be_visible()
    expect(page.get_by_role("checkbox")).to_have_count(0)

    images.get_by_role("link", name="web").click()
    artifacts = page.get_by_role("table", name="Artifacts of web")
    expect(artifacts.get_by_role("row")).to_have_count(2)
    expect(page.get_by_role("button", name="Delete image")).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)

    page.goto(f"{server.url}/registries/apps/images/web/artifacts/{setup['digest']}")
    expect(page.get_by_role("table", name="Tags").get_by_role("row")).to_have_count(2)
    expect(page.get_by_role("button", name="Add tag")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete artifact")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Delete tag"))).to_have_count(0)

    # A registry of another project: a clear forbidden page, not "Try again".
    page.goto(f"{server.url}/registries/secret")
    expect(page.get_by_text("You may not open secret.")).to_be_visible()
    expect(page.get_by_role("button", name="Try again")).to_have_count(0)
    # No Administration for them.
    expect(page.get_by_role("link", name="Administration")).to_have_count(0)


def test_member_may_change_but_not_manage_members(setup: dict[str, Any], page: Any) -> None:
    server = setup["server"]
    sign_in_as(page, server, setup["member"], "/registries")
    expect(page.get_by_role("button", name="Create registry")).to_be_visible()
    table = page.get_by_role("table", name="Registries")
    expect(table.get_by_role("button", name="Delete registry apps")).to_be_visible()
    page.get_by_role("link", name="apps").click()
    expect(page.get_by_text("Project member")).to_be_visible()
    expect(page.get_by_role("button", name="Delete registry")).to_be_visible()
    expect(page.get_by_role("checkbox", name="Select web")).to_be_visible()
    page.goto(f"{server.url}/registries/apps/members")
    expect(page.get_by_role("table", name="Members of project team")).to_be_visible()
    expect(page.get_by_role("button", name="Add member")).to_have_count(0)


def test_bugs_of_the_pages(setup: dict[str, Any], page: Any, new_page: Any) -> None:
    server = setup["server"]
    sign_in_as(page, server, (server.username, server.password), "/registries/apps/images/nothing")
    # A missing image: said so, with no Delete image and no pull command.
    expect(page.get_by_text("apps has no image nothing.")).to_be_visible()
    expect(page.get_by_role("button", name="Delete image")).to_have_count(0)
    expect(page.get_by_text("docker pull")).to_have_count(0)

    # The tag search is kept in the address.
    page.goto(f"{server.url}/registries/apps/images/web/artifacts/{setup['digest']}")
    page.get_by_label("Search tags").fill("v1")
    expect(page).to_have_url(re.compile(r"tags_q=v1"))

    # The access key's secret dialog is left only through its confirmation.
    page.goto(f"{server.url}/access-keys")
    page.get_by_role("button", name="Create access key").click()
    created = page.get_by_role("dialog", name="Access key created")
    expect(created).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    expect(created).to_be_visible()
    expect(created.get_by_role("button", name="Close")).to_have_count(0)
    created.get_by_role("button", name="I have copied the secret").click()
    expect(created).to_have_count(0)

    # Narrow screens keep a way to sort.
    narrow = new_page(NARROW)
    sign_in_as(narrow, server, (server.username, server.password), "/registries")
    expect(narrow.get_by_label("Sort by")).to_be_visible()
    narrow.get_by_label("Sort by").select_option("-created_at")
    expect(narrow).to_have_url(re.compile(r"sort=-created_at"))


def test_admin_pages(setup: dict[str, Any], page: Any) -> None:
    server = setup["server"]
    sign_in_as(page, server, (server.username, server.password), "/admin/users")
    users = page.get_by_role("table", name="Users")
    viewer = setup["viewer"][0]
    expect(users.get_by_role("row", name=re.compile(viewer))).to_be_visible()
    page.get_by_role("button", name=f"Reset the password of {viewer}").click()
    dialog = page.get_by_role("dialog", name=f"Reset the password of {viewer}")
    dialog.get_by_label("New password").fill("a-new-password-1")
    dialog.get_by_role("button", name="Reset password").click()
    expect(page.get_by_text(f"Password of {viewer} reset.")).to_be_visible()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Projects"
    ).click()
    projects = page.get_by_role("table", name="Projects")
    expect(projects.get_by_role("row", name=re.compile("team"))).to_contain_text(viewer)
