"""A private endpoint in the console: private URIs that wrap only after a '/' (never inside
the host or its port), and push commands through the private host where one is set."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import DESKTOP, NARROW, sign_in
from tests.support.server import ServerProcess

expect = pytest.importorskip("playwright.sync_api", reason="pip install playwright").expect

pytestmark = pytest.mark.e2e

# Long, but narrower than a phone's screen: a part is never cut, so a host wider than the
# screen would make the page scroll sideways.
PRIVATE_HOST = "registry.build-cluster.corp.example:31443"
REGISTRY = "platform-team-release-candidates"
PRIVATE_URI = f"{PRIVATE_HOST}/{REGISTRY}"

# For every character of an element's text, the top of the line it is drawn on.
LINE_TOPS = """(el) => {
  const tops = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      tops.push([node.data[i], Math.round(range.getBoundingClientRect().top)]);
    }
  }
  return tops;
}"""


@pytest.fixture
def private_server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    env = {"MOORAGE_PRIVATE_HOST": PRIVATE_HOST}
    server = server_factory(tmp_path / "private", auth=True, extra_env=env).start()
    server.create_registry(REGISTRY)
    return server


def lines_of(code: Any) -> list[str]:
    """The text of `code` as the browser lays it out, one string per line."""
    lines: list[str] = []
    last_top = None
    for char, top in code.evaluate(LINE_TOPS):
        if last_top is None or top > last_top + 2:
            lines.append("")
        lines[-1] += char
        last_top = top
    return lines


def assert_wraps_only_at_slashes(code: Any, where: str) -> None:
    lines = lines_of(code)
    assert "".join(lines) == PRIVATE_URI, f"{where}: {lines}"
    assert len(lines) > 1, f"{where}: expected the long URI to wrap, got {lines}"
    for line in lines[:-1]:
        assert line.endswith("/"), f"{where}: a break not after '/': {lines}"
    assert lines[0] == f"{PRIVATE_HOST}/", f"{where}: the host or its port was cut: {lines}"


def test_private_uris_wrap_only_after_a_slash(private_server: ServerProcess, new_page: Any) -> None:
    server = private_server
    # The registry list at desktop width: the URI column is narrow, so the URI wraps.
    page = new_page(DESKTOP)
    sign_in(page, server, "/registries")
    row = page.get_by_role("table", name="Registries").get_by_role("row", name=re.compile(REGISTRY))
    code = row.locator(".copyable-uri code", has_text=PRIVATE_HOST)
    expect(code).to_be_visible()
    assert_wraps_only_at_slashes(code, "registry list")
    expect(row.get_by_role("button", name=f"Copy the private URI of {REGISTRY}")).to_be_visible()

    # The registry page on a narrow screen.
    narrow = new_page(NARROW)
    sign_in(narrow, server, f"/registries/{REGISTRY}")
    code = narrow.locator(".facts .copyable-uri code", has_text=PRIVATE_HOST)
    expect(code).to_be_visible()
    assert_wraps_only_at_slashes(code, "registry page")
    widths = narrow.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the registry page scrolls sideways ({widths})"


def test_push_commands_offer_the_private_host(private_server: ServerProcess, page: Any) -> None:
    server = private_server
    sign_in(page, server, f"/registries/{REGISTRY}")
    page.get_by_role("button", name="Push commands").click()
    dialog = page.get_by_role("dialog", name=f"Push to {REGISTRY}")
    public = dialog.get_by_role("region", name="Public endpoint")
    private = dialog.get_by_role("region", name="Private endpoint")
    expect(public).to_contain_text(f"docker login {server.host}")
    expect(private).to_contain_text(PRIVATE_URI)
    expect(private).to_contain_text(f"docker login {PRIVATE_HOST}")
    expect(private).to_contain_text(f"docker tag IMAGE {PRIVATE_URI}/IMAGE:TAG")
    expect(private).to_contain_text(f"docker push {PRIVATE_URI}/IMAGE:TAG")
    expect(private.get_by_text(server.host)).to_have_count(0)
    copy_login = f"Copy the docker login command for {REGISTRY} (private endpoint)"
    expect(private.get_by_role("button", name=copy_login)).to_be_visible()


def test_no_private_variant_without_a_private_host(
    console_server: ServerProcess, page: Any
) -> None:
    server = console_server
    server.create_registry(REGISTRY)
    sign_in(page, server, "/registries")
    table = page.get_by_role("table", name="Registries")
    expect(table.get_by_role("row", name=re.compile(REGISTRY))).to_contain_text("—")
    table.get_by_role("button", name=f"Push commands for {REGISTRY}").click()
    dialog = page.get_by_role("dialog", name=f"Push to {REGISTRY}")
    expect(dialog).to_contain_text(f"docker login {server.host}")
    expect(dialog).to_contain_text(f"docker push {server.host}/{REGISTRY}/IMAGE:TAG")
    expect(dialog.get_by_role("region", name="Private endpoint")).to_have_count(0)
    expect(dialog.get_by_text("private endpoint", exact=False)).to_have_count(0)
