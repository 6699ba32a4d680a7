"""A table's head and its rows have the same columns, also when whether rows may be selected
is learned while the page loads (the user's permissions arrive after the first render)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.console.conftest import sign_in
from tests.protocol.conftest import OciClient
from tests.support.server import ServerProcess

playwright_expect = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright"
).expect

pytestmark = pytest.mark.e2e


def test_the_artifact_table_head_lines_up_with_its_rows(
    console_server: ServerProcess, page: Any
) -> None:
    server = console_server
    server.create_registry("lined")
    with httpx.Client(base_url=server.url, auth=(server.username, server.password)) as v2:
        OciClient(v2, "lined/app").push_image("v1")
    sign_in(page, server, "/registries/lined/images/app")
    table = page.get_by_role("table", name="Artifacts of app")
    first_row = table.locator("tbody tr").first
    playwright_expect(first_row.get_by_role("checkbox")).to_be_visible()  # an admin selects
    heads = table.locator("thead th").count()
    cells = first_row.locator("td").count()
    assert heads == cells, f"{heads} head cells over {cells} cells"
