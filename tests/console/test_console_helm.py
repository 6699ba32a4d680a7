"""A Helm chart in the console, end to end: pushed with Helm's own code (helm-python-sdk),
its row on the image page says "Helm chart" with the chart's name, version and app version,
and its page shows them (instead of platforms) with a `helm pull` command."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import sign_in
from tests.support.server import ServerProcess

playwright_expect = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright"
).expect
helm_chart = pytest.importorskip("helm_python.chart", reason="pip install helm-python-sdk")
helm_registry = pytest.importorskip("helm_python.registry", reason="pip install helm-python-sdk")

pytestmark = pytest.mark.e2e

REGISTRY = "charts"
CHART, VERSION, APP_VERSION = "democ", "0.3.1", "1.16.0"


def push_chart(server: ServerProcess, workdir: Path) -> None:
    helm_chart.Chart.create(CHART, workdir).close()
    archive = helm_chart.package(
        workdir / CHART, destination=workdir, version=VERSION, app_version=APP_VERSION
    )
    client = helm_registry.RegistryClient(plain_http=True, credentials_file=workdir / "creds.json")
    client.login(server.host, server.username, server.password, plain_http=True)
    client.push(archive, f"oci://{server.host}/{REGISTRY}/helm", plain_http=True)


def test_a_chart_shows_its_name_and_versions(
    console_server: ServerProcess, page: Any, shots: Callable[[Any, str], Path], tmp_path: Path
) -> None:
    server = console_server
    server.create_registry(REGISTRY)
    push_chart(server, tmp_path)

    sign_in(page, server, f"/registries/{REGISTRY}")
    images = page.get_by_role("table", name=f"Images in {REGISTRY}")
    images.get_by_role("link", name=f"helm/{CHART}", exact=True).click()
    artifacts = page.get_by_role("table", name=f"Artifacts of helm/{CHART}")
    row = artifacts.get_by_role("row", name=re.compile(re.escape(VERSION)))
    playwright_expect(row).to_contain_text("Helm chart")
    playwright_expect(row).to_contain_text(CHART)
    playwright_expect(row).to_contain_text(f"app {APP_VERSION}")
    shots(page, "01-chart-row")

    row.get_by_role("link", name=re.compile(r"^sha256:")).click()
    summary = page.get_by_role("region", name="Summary")
    for label, value in (
        ("Type", "Helm chart"),
        ("Chart name", CHART),
        ("Chart version", VERSION),
        ("App version", APP_VERSION),
    ):
        playwright_expect(summary.locator(".fact", has_text=label).first).to_contain_text(value)
    playwright_expect(summary.locator(".fact", has_text="Platforms")).to_have_count(0)
    playwright_expect(summary).to_contain_text(
        f"helm pull oci://{server.host}/{REGISTRY}/helm/{CHART} --version {VERSION}"
    )
    shots(page, "02-chart-page")
