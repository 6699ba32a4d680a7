"""What a push reads of a Helm chart's config (moorage.domain.content.artifacts)."""

from __future__ import annotations

import json

import pytest

from moorage.domain.content.artifacts import ArtifactService, helm_chart_of_config, parse_manifest
from moorage.domain.kernel.model import HelmChart
from moorage.oci import mediatypes as mt
from moorage.oci.manifests import HELM_CONFIG, MAX_CONFIG_BYTES, helm_config

CHART_YAML = {"apiVersion": "v2", "name": "democ", "version": "0.1.0", "appVersion": "1.16.0"}
DIGEST = "sha256:" + "a" * 64


def helm_manifest(size: int = 200, media_type: str = HELM_CONFIG) -> bytes:
    """A chart's manifest as Helm pushes it: no top-level mediaType."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "config": {"mediaType": media_type, "digest": DIGEST, "size": size},
            "layers": [
                {
                    "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                    "digest": "sha256:" + "b" * 64,
                    "size": 3000,
                }
            ],
        }
    ).encode()


def test_a_chart_config_is_read() -> None:
    parsed = parse_manifest(helm_manifest(), mt.OCI_MANIFEST)
    assert helm_config(parsed) is not None
    assert ArtifactService.config_to_read(parsed) == DIGEST


def test_a_large_chart_config_is_not_read() -> None:
    parsed = parse_manifest(helm_manifest(size=MAX_CONFIG_BYTES + 1), mt.OCI_MANIFEST)
    assert helm_config(parsed) is None
    assert ArtifactService.config_to_read(parsed) is None


def test_other_configs_are_no_chart() -> None:
    parsed = parse_manifest(
        helm_manifest(media_type="application/vnd.example+json"), mt.OCI_MANIFEST
    )
    assert helm_config(parsed) is None


def test_name_version_and_app_version() -> None:
    assert helm_chart_of_config(json.dumps(CHART_YAML).encode()) == HelmChart(
        "democ", "0.1.0", "1.16.0"
    )
    without_app = {k: v for k, v in CHART_YAML.items() if k != "appVersion"}
    assert helm_chart_of_config(json.dumps(without_app).encode()) == HelmChart(
        "democ", "0.1.0", None
    )


@pytest.mark.parametrize(
    "config",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        json.dumps({"name": "x"}).encode(),
        json.dumps({"name": "x", "version": 1}).encode(),
        json.dumps({"name": "", "version": "1"}).encode(),
        json.dumps({"name": "x" * 256, "version": "1"}).encode(),
    ],
)
def test_a_config_that_names_no_chart_gives_nothing(config: bytes) -> None:
    assert helm_chart_of_config(config) is None


def test_an_odd_app_version_is_left_out() -> None:
    config = json.dumps({**CHART_YAML, "appVersion": 1.2}).encode()
    assert helm_chart_of_config(config) == HelmChart("democ", "0.1.0", None)


def test_the_row_form_round_trips() -> None:
    chart = HelmChart("democ", "0.1.0", None)
    assert HelmChart.from_json(chart.as_json()) == chart
    assert HelmChart.from_json(None) is None
