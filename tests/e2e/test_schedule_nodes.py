"""Two `moorage serve` nodes on one PostgreSQL database: a cleanup schedule fires exactly once
per due time, whichever node's scheduler gets there first, and each run it starts is carried
out once.

Due times are forced by moving the schedule's `next_run_at` into the past in the database; the
schedule's own minute boundaries, when the test happens to cross one, are due times too and
are counted as such.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, update

from moorage.metadata import tables as t
from tests.e2e.test_cleanup_scenarios import new_registry, ok, rest_client, wait_for_run
from tests.support.databases import fresh_postgres_url, metadata_engine
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

TICK_SECONDS = 0.2
SETTLE_SECONDS = 4 * TICK_SECONDS  # several ticks of both schedulers: time for a duplicate
ROUNDS = 4
CLEANUP_SCHEDULE = "cleanup"
JOB_KIND = "cleanup_run"
FIRED_LOG = "schedule fired"


@dataclass
class Cluster:
    nodes: list[ServerProcess]
    apis: list[httpx.Client]
    engine: Engine
    registry: str

    def schedule_runs(self, node: int) -> list[dict[str, Any]]:
        page = ok(
            self.apis[node].get(
                f"/registries/{self.registry}/cleanup-runs", params={"page_size": 100}
            )
        )
        assert page["total"] <= 100
        return [run for run in page["items"] if run["trigger"] == "schedule"]

    def schedule_row(self) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                select(t.schedule).where(
                    t.schedule.c.kind == CLEANUP_SCHEDULE, t.schedule.c.subject == self.registry
                )
            ).one()

    def force_due(self) -> None:
        """Make the schedule due now, as if its time had come."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(t.schedule)
                .where(t.schedule.c.kind == CLEANUP_SCHEDULE, t.schedule.c.subject == self.registry)
                .values(next_run_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            assert changed.rowcount == 1

    def wait_for_runs(self, count: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        node = 0
        while len(self.schedule_runs(node)) < count:
            assert time.monotonic() < deadline, f"fewer than {count} scheduled runs appeared"
            node = 1 - node  # ask both nodes, in turn
            time.sleep(0.05)

    def fired_per_node(self) -> list[int]:
        return [node.log().count(FIRED_LOG) for node in self.nodes]


@pytest.fixture
def cluster(server_factory: type[ServerProcess], tmp_path: Path) -> Iterator[Cluster]:
    env = {
        "MOORAGE_TOKEN_KEY": base64.b64encode(os.urandom(32)).decode(),
        "MOORAGE_STORAGE_ROOT": str(tmp_path / "shared-blobs"),
        "MOORAGE_SCHEDULE_TICK_SECONDS": str(TICK_SECONDS),
        "MOORAGE_LOG_LEVEL": "info",  # each node logs the schedules it fires
    }
    with fresh_postgres_url() as url, metadata_engine(url) as engine:
        nodes = [
            server_factory(tmp_path / f"node{n}", url, extra_env=env, auth=True) for n in (1, 2)
        ]
        try:
            for node in nodes:  # the second migrates too: a no-op, under the migration lock
                node.start()
            apis = [rest_client(node) for node in nodes]
            try:
                yield Cluster(nodes, apis, engine, new_registry(apis[0], "s"))
            finally:
                for api in apis:
                    api.close()
        finally:
            for node in nodes:  # before the database is dropped under them
                node.stop()


def seconds_to_next_minute() -> float:
    now = datetime.now(UTC)
    return 60 - now.second - now.microsecond / 1e6


def test_a_schedule_fires_once_per_due_time_across_two_nodes(cluster: Cluster) -> None:
    c = cluster
    schedule = ok(
        c.apis[1].put(f"/registries/{c.registry}/cleanup-schedule", json={"cron": "* * * * *"})
    )
    assert schedule["cron"] == "* * * * *"
    due_times = 0
    for _ in range(ROUNDS):
        if seconds_to_next_minute() < 10:
            # The schedule's own next minute comes before this round would be over: let it
            # fire (a due time like any other), then force the next one.
            time.sleep(seconds_to_next_minute() + 0.1)
            due_times += 1
            c.wait_for_runs(due_times)
        c.force_due()
        due_times += 1
        c.wait_for_runs(due_times)
        time.sleep(SETTLE_SECONDS)
        listed = [len(c.schedule_runs(node)) for node in (0, 1)]
        assert listed == [due_times, due_times], f"duplicate runs (per node listing: {listed})"
        row = c.schedule_row()
        assert row.next_run_at > datetime.now(UTC), "the schedule moved on to its next time"
        assert row.last_run_at is not None

    c.apis[0].delete(f"/registries/{c.registry}/cleanup-schedule").raise_for_status()
    time.sleep(SETTLE_SECONDS)
    runs = c.schedule_runs(0)
    assert len(runs) == due_times
    assert sum(c.fired_per_node()) == due_times, f"fired per node: {c.fired_per_node()}"

    # Each run was carried out once, by one node or the other.
    for run in runs:
        done = wait_for_run(c.apis[1], c.registry, int(run["id"]))
        assert (done["status"], done["dry_run"], done["trigger"]) == (
            "succeeded",
            False,
            "schedule",
        )
    with c.engine.connect() as conn:
        jobs = conn.execute(
            select(t.job.c.state, t.job.c.attempts).where(t.job.c.kind == JOB_KIND)
        ).all()
    assert sorted(jobs) == [("done", 1)] * due_times
