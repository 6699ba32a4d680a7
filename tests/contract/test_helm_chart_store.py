"""A Helm chart's name and versions, kept with its artifact, read back alike on SQLite,
PostgreSQL and the fakes; other artifacts carry none."""

from __future__ import annotations

from dataclasses import replace

import pytest

from moorage.domain.kernel.model import HelmChart, PageRequest
from moorage.domain.ports import UnitOfWorkFactory
from tests.contract.backends import Database
from tests.contract.test_metadata import manifest, new_image, push

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"


@pytest.fixture
def uow(db: Database) -> UnitOfWorkFactory:
    return db.uow


@pytest.mark.parametrize("app_version", ["1.16.0", None])
def test_a_chart_keeps_its_name_and_versions(
    uow: UnitOfWorkFactory, app_version: str | None
) -> None:
    chart = HelmChart("démo-chart", "0.1.0+build.7", app_version)
    helm = replace(manifest("chart"), artifact_type=HELM_CONFIG, helm_chart=chart)
    with uow(write=True) as store:
        image = new_image(store)
        chart_id = push(store, image, helm, "0.1.0")
        image_id = push(store, image, manifest("image"), "latest")
    with uow() as store:
        listed = {s.id: s for s in store.artifacts.list_artifacts(image.id, PageRequest()).items}
        (summary,) = store.artifacts.artifact_summaries(image.id, [chart_id])
    assert listed[chart_id].helm_chart == chart
    assert summary.helm_chart == chart
    assert listed[image_id].helm_chart is None
