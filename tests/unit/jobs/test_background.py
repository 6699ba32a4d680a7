"""Periodic work on the job queue: system schedules created once, each due time queued once
across processes, and the job kinds' handlers working on the composition root's services.

The container is the real one (`wiring.build`) on a SQLite file; a second process is a second
engine on the same file. Times are a fixed clock's, except where the upload service compares
an upload's age with the wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from moorage import wiring
from moorage.config import Settings
from moorage.domain.content.registries import DEFAULT_PROJECT
from moorage.jobs.background import (
    SYSTEM_SCHEDULE,
    build_scheduler,
    ensure_system_schedules,
    periodic,
    system_trigger,
)
from moorage.jobs.handlers import build_catalog
from moorage.jobs.runner import Runner
from moorage.jobs.scheduler import Scheduler
from moorage.metadata import tables as t
from moorage.metadata.uow import SqlUnitOfWork, create_metadata_engine
from tests.unit.domain.test_services import FixedClock

T0 = datetime(2026, 3, 2, 12, 10, 0, tzinfo=UTC)
PERIODIC = {
    "upload_expiry": "0 * * * *",
    "webhook_log_purge": "30 * * * *",
    "audit_log_purge": "15 3 * * *",
}


@pytest.fixture
def container(tmp_path: Path) -> Iterator[wiring.Container]:
    built = wiring.build(Settings(data_dir=tmp_path, auth="none", upload_expiry_hours=0.5 / 3600))
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def other_process(container: wiring.Container) -> Iterator[SqlUnitOfWork]:
    engine = create_metadata_engine(container.settings.effective_database_url)
    try:
        yield SqlUnitOfWork(engine)
    finally:
        engine.dispose()


def schedule_rows(container: wiring.Container) -> dict[str, Any]:
    with container.engine.connect() as conn:
        rows = conn.execute(select(t.schedule).where(t.schedule.c.kind == SYSTEM_SCHEDULE))
        return {row.subject: row for row in rows}


def job_rows(container: wiring.Container, kind: str) -> list[Any]:
    with container.engine.connect() as conn:
        return list(conn.execute(select(t.job).where(t.job.c.kind == kind).order_by(t.job.c.id)))


def test_every_kind_has_one_spec_and_the_periodic_ones_a_cron(
    container: wiring.Container,
) -> None:
    catalog = build_catalog(container)
    assert catalog.names == [
        "audit_log_purge",
        "cleanup_run",
        "gc_run",
        "replication_check",
        "replication_event",
        "replication_run",
        "upload_expiry",
        "webhook_delivery",
        "webhook_log_purge",
    ]
    assert {k.name: k.every for k in periodic(catalog)} == PERIODIC
    delivery = catalog.get("webhook_delivery")
    assert delivery is not None
    assert delivery.spec.backoff_base_seconds == container.settings.webhook_retry_base_seconds


def test_system_schedules_are_created_once_and_follow_a_changed_cron(
    container: wiring.Container, other_process: SqlUnitOfWork
) -> None:
    kinds = periodic(build_catalog(container))
    assert ensure_system_schedules(container.uow, kinds, T0) == 3
    first = schedule_rows(container)
    assert {s: r.cron for s, r in first.items()} == PERIODIC
    assert first["upload_expiry"].next_run_at == datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    assert first["webhook_log_purge"].next_run_at == datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    assert first["audit_log_purge"].next_run_at == datetime(2026, 3, 3, 3, 15, tzinfo=UTC)

    # Every process does it at start: nothing changes, the next run times included.
    later = T0 + timedelta(minutes=5)
    assert ensure_system_schedules(other_process, kinds, later) == 0
    assert ensure_system_schedules(container.uow, kinds, later) == 0
    assert schedule_rows(container) == first

    changed = [replace(kinds[0], every="*/10 * * * *"), kinds[1]]
    assert ensure_system_schedules(container.uow, changed, later) == 1
    row = schedule_rows(container)[kinds[0].name]
    assert (row.cron, row.next_run_at) == ("*/10 * * * *", datetime(2026, 3, 2, 12, 20, tzinfo=UTC))


def test_a_due_system_schedule_queues_one_job_across_processes(
    container: wiring.Container, other_process: SqlUnitOfWork
) -> None:
    catalog = build_catalog(container)
    ensure_system_schedules(container.uow, periodic(catalog), T0)
    clock = FixedClock(T0 + timedelta(minutes=21))  # the log purge (:30) is due, expiry not
    schedulers = [
        Scheduler(uow, {SYSTEM_SCHEDULE: system_trigger(catalog)}, clock=clock)
        for uow in (container.uow, other_process, container.uow)
    ]
    clock.advance(timedelta(minutes=10))
    assert [s.fire_due() for s in schedulers] == [1, 0, 0]
    [job] = job_rows(container, "webhook_log_purge")
    assert (job.state, job.max_attempts, job.dedupe_key) == ("queued", 3, "webhook_log_purge")
    assert job_rows(container, "upload_expiry") == []

    # The next due time while that job still waits: the schedule moves on, no second job.
    clock.advance(timedelta(hours=1))
    assert sum(s.fire_due() for s in schedulers) == 2  # both kinds are due
    assert len(job_rows(container, "webhook_log_purge")) == 1
    assert len(job_rows(container, "upload_expiry")) == 1
    rows = schedule_rows(container)
    assert rows["webhook_log_purge"].next_run_at > clock()
    assert rows["upload_expiry"].next_run_at > clock()


def test_the_scheduler_leaves_a_kind_it_does_not_know_due(container: wiring.Container) -> None:
    catalog = build_catalog(container)
    ensure_system_schedules(container.uow, periodic(catalog), T0)
    clock = FixedClock(T0 + timedelta(days=1))  # the hourly kinds and the daily one are due
    assert Scheduler(container.uow, {}, clock=clock).fire_due() == 0
    assert all(r.next_run_at <= clock() for r in schedule_rows(container).values())
    assert (
        Scheduler(container.uow, {SYSTEM_SCHEDULE: system_trigger(catalog)}, clock=clock).fire_due()
        == 3
    )


@pytest.mark.anyio
async def test_the_upload_expiry_job_purges_expired_uploads(container: wiring.Container) -> None:
    container.registries.create("reg", DEFAULT_PROJECT)
    old = await container.uploads.start("reg/app")
    time.sleep(0.6)  # older than upload_expiry_hours (half a second)
    fresh = await container.uploads.start("reg/app")

    catalog = build_catalog(container)
    scheduler = build_scheduler(container, catalog)
    hourly = [k for k in periodic(catalog) if k.name != "audit_log_purge"]  # due by the hour
    ensure_system_schedules(container.uow, hourly, datetime.now(UTC) - timedelta(hours=2))
    assert scheduler.fire_due() == 2
    runner = Runner(container.uow, catalog)
    assert await runner.run_until_idle() == 2
    assert [j.state for j in job_rows(container, "upload_expiry")] == ["done"]
    with container.uow() as store:
        assert store.uploads.get_upload(old.id) is None
        assert store.uploads.get_upload(fresh.id) is not None
