"""moorage's periodic work runs on the job queue: one `moorage serve` with `run_jobs` off and
two `moorage worker` processes on one PostgreSQL database.

Each due time of a system schedule (upload expiry, webhook log purge) is queued once and run
once, whichever worker's scheduler gets there first; and the workers alone, without any
serving process running jobs, throw expired uploads away. Due times are forced by moving the
schedules' `next_run_at` into the past, as in test_schedule_nodes.py.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select, update

from moorage.metadata import tables as t
from tests.support.databases import fresh_postgres_url, metadata_engine
from tests.support.server import ServerProcess, moorage_command

pytestmark = pytest.mark.e2e

TICK_SECONDS = 0.2
SETTLE_SECONDS = 4 * TICK_SECONDS  # several ticks of both schedulers: time for a duplicate
ROUNDS = 3
SYSTEM = "system"
KINDS = ("upload_expiry", "webhook_log_purge", "audit_log_purge")  # the last one at 03:15
EXPIRY_HOURS = 1.0 / 3600  # one second
STARTED_LOG = "background work started"


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


class WorkerProcess:
    """One `moorage worker`: background work only, no HTTP."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.env = env
        self.log_path = data_dir / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*moorage_command(), "worker", "--data-dir", str(self.data_dir)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_started(self) -> None:
        def started() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"moorage worker exited early:\n{self.log()}")
            return STARTED_LOG in self.log()

        wait_until(started, "the worker started its background work", timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Cluster:
    server: ServerProcess
    workers: list[WorkerProcess]
    engine: Engine
    blobs: Path

    def force_due(self, kind: str | None = None) -> None:
        """Make the system schedules (or one of them) due now."""
        where = [t.schedule.c.kind == SYSTEM]
        if kind is not None:
            where.append(t.schedule.c.subject == kind)
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(t.schedule)
                .where(*where)
                .values(next_run_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            assert changed.rowcount == (1 if kind else len(KINDS))

    def jobs(self, kind: str) -> list[tuple[str, int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.job.c.state, t.job.c.attempts)
                .where(t.job.c.kind == kind)
                .order_by(t.job.c.id)
            )
            return [(row.state, row.attempts) for row in rows]

    def all_done(self, kind: str, count: int) -> bool:
        return self.jobs(kind) == [("done", 1)] * count

    def settled(self) -> bool:
        """No job of a system kind is queued or running, and each ran once."""
        return all(job == ("done", 1) for kind in KINDS for job in self.jobs(kind))

    def fired(self) -> Counter[str]:
        """`schedule fired` lines per system job kind, over every process's log."""
        lines = [
            line
            for log in [self.server.log(), *(w.log() for w in self.workers)]
            for line in log.splitlines()
            if "schedule fired" in line and f"kind={SYSTEM} " in line
        ]
        return Counter(kind for kind in KINDS for line in lines if f"subject={kind} " in line)


def kind_due_next() -> str:
    """The system job whose own schedule comes due at the next :00 (upload expiry) or :30
    (webhook log purge)."""
    return KINDS[0] if datetime.now(UTC).minute >= 30 else KINDS[1]


def seconds_to_half_hour() -> float:
    """Until the system schedules' own next due time (at :00 or :30)."""
    now = datetime.now(UTC)
    return (30 - now.minute % 30) * 60 - now.second - now.microsecond / 1e6


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("system-jobs")
    blobs = tmp / "shared-blobs"
    env = {
        "MOORAGE_STORAGE_ROOT": str(blobs),
        "MOORAGE_SCHEDULE_TICK_SECONDS": str(TICK_SECONDS),
        "MOORAGE_UPLOAD_EXPIRY_HOURS": str(EXPIRY_HOURS),
        "MOORAGE_LOG_LEVEL": "info",  # each process logs the schedules it fires
    }
    with fresh_postgres_url() as url, metadata_engine(url) as engine:
        server = ServerProcess(tmp / "serve", url, extra_env={**env, "MOORAGE_RUN_JOBS": "0"})
        worker_env = {**server.env, **env}
        workers = [WorkerProcess(tmp / f"worker{n}", worker_env) for n in (1, 2)]
        try:
            # All at once: they migrate under the migration lock, and both workers create
            # the system schedules at the same moment.
            for worker in workers:
                worker.start()
            server.start()
            for worker in workers:
                worker.wait_started()
            yield Cluster(server, workers, engine, blobs)
        finally:
            for worker in workers:
                worker.stop()
            server.stop()


def test_each_due_time_of_a_system_schedule_runs_once_across_two_workers(
    cluster: Cluster,
) -> None:
    c = cluster
    if seconds_to_half_hour() < 30:  # let the schedules' own due time pass first
        due = kind_due_next()
        time.sleep(seconds_to_half_hour() + 1)
        wait_until(lambda: bool(c.jobs(due)) and c.settled(), f"{due}'s natural run is done")
    before = {kind: len(c.jobs(kind)) for kind in KINDS}
    for n in range(1, ROUNDS + 1):
        c.force_due()
        wait_until(
            lambda n=n: all(c.all_done(kind, before[kind] + n) for kind in KINDS),
            f"round {n}'s jobs are done",
        )
        time.sleep(SETTLE_SECONDS)
        counts = {kind: len(c.jobs(kind)) - before[kind] for kind in KINDS}
        assert counts == dict.fromkeys(KINDS, n), f"duplicate jobs in round {n}: {counts}"
    assert c.fired() == Counter({kind: before[kind] + ROUNDS for kind in KINDS})
    assert "schedule fired" not in c.server.log(), "run_jobs = off: the server fires nothing"
    with c.engine.connect() as conn:
        rows = conn.execute(select(t.schedule).where(t.schedule.c.kind == SYSTEM)).all()
    assert sorted(r.subject for r in rows) == sorted(KINDS), "one system schedule per kind"
    assert all(r.next_run_at > datetime.now(UTC) for r in rows)


def test_workers_alone_throw_expired_uploads_away(cluster: Cluster) -> None:
    c = cluster
    http = httpx.Client(base_url=c.server.url, timeout=30)
    registry = f"u{os.urandom(5).hex()}"
    http.post("/api/v1/registries", json={"name": registry}).raise_for_status()
    started = http.post(f"/v2/{registry}/app/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    http.patch(
        location, content=b"x" * 1000, headers={"content-type": "application/octet-stream"}
    ).raise_for_status()
    assert http.get(location).status_code == 204
    uploads_dir = c.blobs / "uploads"
    assert len(list(uploads_dir.iterdir())) == 1

    time.sleep(EXPIRY_HOURS * 3600 + 0.5)  # expired, but only a due schedule purges it
    assert http.get(location).status_code == 204
    purged_before = sum(w.log().count("expired uploads purged") for w in c.workers)
    c.force_due("upload_expiry")
    wait_until(lambda: http.get(location).status_code == 404, "the upload is thrown away")
    assert list(uploads_dir.iterdir()) == [], "and its bytes with it"
    assert sum(w.log().count("expired uploads purged") for w in c.workers) == purged_before + 1
    http.close()
