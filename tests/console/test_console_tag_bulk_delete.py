"""The artifact page's tags can be deleted several at once: check boxes for users who may
delete (a protected tag's box disabled, saying why), a "Delete tags" action that lists the
tags before deleting them; a Service Viewer sees no boxes."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.console.conftest import Layout, Skopeo, sign_in
from tests.support.server import ServerProcess

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e


@pytest.fixture
def artifact_path(console_server: ServerProcess, skopeo: Skopeo, oci_image: Layout) -> str:
    """apps/web:v1 with the tags stable, v1.1 and keep (protected) on the same artifact."""
    with admin_api(console_server) as http:
        assert http.post("/registries", json={"name": "apps"}).status_code == 201
        skopeo.push(console_server, oci_image, "apps/web:v1")
        tags = f"/registries/apps/images/web/artifacts/{oci_image.digest()}/tags"
        for name in ("stable", "v1.1", "keep"):
            assert http.post(tags, json={"name": name}).status_code == 201
        policy = {"image": {"pattern": "web"}, "tag": {"pattern": "keep"}}
        created = http.post("/registries/apps/protection-policies", json=policy)
        assert created.status_code == 201, created.text
    return f"/registries/apps/images/web/artifacts/{oci_image.digest()}"


def admin_api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/api/v1", auth=(server.username, server.password), timeout=10
    )


def test_two_selected_tags_are_deleted_together(
    console_server: ServerProcess, artifact_path: str, page: Any
) -> None:
    sign_in(page, console_server, artifact_path)
    table = page.get_by_role("table", name="Tags")
    expect(table.get_by_role("row")).to_have_count(5)  # the head and four tags
    keep = table.get_by_role("checkbox", name="Select tag keep")
    expect(keep).to_be_disabled()
    expect(keep).to_have_attribute("title", re.compile("^Protected by .*images 'web', tags 'keep'"))

    table.get_by_role("checkbox", name="Select tag stable").check()
    table.get_by_role("checkbox", name="Select tag v1.1").check()
    page.get_by_role("button", name="Delete tags").click()
    dialog = page.get_by_role("dialog", name="Delete 2 tags?")
    expect(dialog.get_by_text("apps/web:stable")).to_be_visible()
    expect(dialog.get_by_text("apps/web:v1.1")).to_be_visible()
    dialog.get_by_role("button", name="Delete 2 tags").click()

    expect(page.get_by_text("2 tags deleted.")).to_be_visible()
    expect(table.get_by_role("row")).to_have_count(3)
    expect(table.get_by_text("stable", exact=True)).to_have_count(0)
    expect(table.get_by_text("v1.1", exact=True)).to_have_count(0)
    with admin_api(console_server) as http:
        left = http.get("/registries/apps/images/web/tags").json()["items"]
    assert sorted(t["name"] for t in left) == ["keep", "v1"]


def test_a_viewer_gets_no_check_boxes(
    console_server: ServerProcess, artifact_path: str, page: Any
) -> None:
    name, password = f"u{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with admin_api(console_server) as http:
        assert http.post("/users", json={"username": name, "password": password}).status_code == 201
        put = http.put(f"/projects/default/members/{name}", json={"role": "service_viewer"})
        assert put.status_code == 200, put.text
    page.goto(f"{console_server.url}{artifact_path}")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    table = page.get_by_role("table", name="Tags")
    expect(table.get_by_role("row")).to_have_count(5)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete tags")).to_have_count(0)
