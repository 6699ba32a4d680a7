"""Helm charts pushed, listed and pulled with Helm's own code (helm-python-sdk: Helm 4's Go
SDK as a library, no helm binary), against the live server with authentication on.

Helm pushes a manifest with no top-level mediaType (the type comes from Content-Type), a
config of type `application/vnd.cncf.helm.config.v1+json` (the chart's Chart.yaml as JSON)
and one layer, the packaged chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from helm_python import chart as helm_chart
from helm_python import registry as helm_registry
from helm_python.errors import HelmRegistryError

from tests.e2e.conftest import RegistryAccess
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

CHART = "democ"
VERSION = "0.1.0"
APP_VERSION = "9.9.9"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"


@dataclass(frozen=True)
class PackagedChart:
    name: str
    version: str
    app_version: str
    archive: Path


@pytest.fixture
def packaged_chart(tmp_path: Path) -> PackagedChart:
    """A new chart (`helm create`'s scaffold), packaged as Helm packages it."""
    source = tmp_path / "source"
    source.mkdir()
    helm_chart.Chart.create(CHART, source).close()
    archive = helm_chart.package(
        source / CHART, destination=tmp_path, version=VERSION, app_version=APP_VERSION
    )
    return PackagedChart(CHART, VERSION, APP_VERSION, Path(archive))


def helm_client(tmp_path: Path) -> helm_registry.RegistryClient:
    """A client keeping its logins in the test's own directory, never in ~/.config/helm."""
    return helm_registry.RegistryClient(plain_http=True, credentials_file=tmp_path / "creds.json")


def helm_artifacts(server: ServerProcess, registry: str, image: str) -> dict[str, Any]:
    """The image's one artifact as the REST API lists it and details it."""
    base = f"{server.url}/api/v1/registries/{registry}/images/{quote(image, safe='')}/artifacts"
    auth = (server.username, server.password)
    listed = httpx.get(base, auth=auth, timeout=30)
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    detail = httpx.get(f"{base}/{item['digest']}", auth=auth, timeout=30)
    assert detail.status_code == 200, detail.text
    return {"list": item, "detail": detail.json()}


def test_push_list_and_pull_a_chart(
    live_server: ServerProcess,
    registry: str,
    access: RegistryAccess,
    packaged_chart: PackagedChart,
    tmp_path: Path,
) -> None:
    assert access.username, "the live server has authentication on"
    assert access.password
    client = helm_client(tmp_path)
    client.login(access.host, access.username, access.password, plain_http=True)
    client.push(packaged_chart.archive, f"oci://{access.host}/{registry}/charts", plain_http=True)

    chart_ref = f"oci://{access.host}/{registry}/charts/{packaged_chart.name}"
    assert client.tags(chart_ref) == [packaged_chart.version]
    resolved = client.resolve(f"{chart_ref}:{packaged_chart.version}")
    assert resolved["digest"].startswith("sha256:")

    shown = helm_artifacts(live_server, registry, f"charts/{packaged_chart.name}")
    assert shown["list"]["digest"] == resolved["digest"]
    assert shown["list"]["artifact_type"] == HELM_CONFIG
    expected = {
        "name": packaged_chart.name,
        "version": packaged_chart.version,
        "app_version": packaged_chart.app_version,
    }
    assert shown["list"]["helm"] == expected
    assert shown["detail"]["helm"] == expected
    assert shown["list"]["tags"] == [packaged_chart.version]

    pulled = tmp_path / "pulled"
    pulled.mkdir()
    client.pull(chart_ref, version=packaged_chart.version, destination=pulled, plain_http=True)
    archive = pulled / packaged_chart.archive.name
    assert archive.read_bytes() == packaged_chart.archive.read_bytes()


def test_a_wrong_password_is_refused(
    live_server: ServerProcess,
    registry: str,
    access: RegistryAccess,
    packaged_chart: PackagedChart,
    tmp_path: Path,
) -> None:
    assert access.username
    client = helm_client(tmp_path)
    with pytest.raises(HelmRegistryError, match=r"401|unauthorized"):
        client.login(access.host, access.username, "not-the-password", plain_http=True)
    # Nothing was saved by the refused login: a push is refused too.
    with pytest.raises(HelmRegistryError):
        client.push(
            packaged_chart.archive, f"oci://{access.host}/{registry}/charts", plain_http=True
        )
