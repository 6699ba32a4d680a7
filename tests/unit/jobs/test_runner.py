"""The job runner and the scheduler against a real SQLite store, fake job kinds and a fake clock.

The clock decides claims, leases and back-off times; real time is only spent where the runner
itself sleeps (lease renewal, timeouts), with small values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from moorage.domain.jobs.specs import JobSpec
from moorage.domain.kernel.model import Schedule
from moorage.domain.policies.schedules import parse_cron
from moorage.domain.ports import Transaction
from moorage.jobs.catalog import Abandon, Handler, JobCatalog, JobKind
from moorage.jobs.runner import Runner
from moorage.jobs.scheduler import Scheduler
from moorage.metadata import tables as t
from moorage.metadata.schedules import SqlScheduleStore
from moorage.metadata.uow import SqlUnitOfWork
from tests.support.databases import MigratedDatabase, metadata_engine, migrated_database
from tests.unit.domain.test_services import FixedClock

T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)  # a Monday, on the hour
KIND = "test_job"
SCHEDULE_KIND = "test_schedule"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[MigratedDatabase]:
    with migrated_database("sqlite", tmp_path) as database:
        yield database


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def catalog_of(*kinds: JobKind) -> JobCatalog:
    catalog = JobCatalog()
    for kind in kinds:
        catalog.register(kind)
    return catalog


def make_runner(
    db: MigratedDatabase,
    clock: FixedClock,
    *kinds: JobKind,
    lease: timedelta = timedelta(seconds=60),
    concurrency: int = 2,
) -> Runner:
    return Runner(
        db.uow,
        catalog_of(*kinds),
        concurrency=concurrency,
        poll_seconds=0.02,
        lease=lease,
        clock=clock,
    )


def enqueue(
    db: MigratedDatabase,
    clock: FixedClock,
    kind: str = KIND,
    *,
    max_attempts: int = 5,
    **payload: Any,
) -> int:
    with db.uow(write=True) as store:
        job_id = store.jobs.enqueue_job(kind, payload, clock(), max_attempts=max_attempts)
    assert job_id is not None
    return job_id


def job_row(db: MigratedDatabase, job_id: int) -> Any:
    with db.engine.connect() as conn:
        return conn.execute(select(t.job).where(t.job.c.id == job_id)).one()


@dataclass
class Recorder:
    """Handlers that note their payloads, and fail the first `failures` calls if asked."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0

    async def ok(self, payload: dict[str, Any]) -> None:
        self.calls.append(payload)

    async def flaky(self, payload: dict[str, Any]) -> None:
        self.calls.append(payload)
        if len(self.calls) <= self.failures:
            raise RuntimeError(f"boom {len(self.calls)}")


def kind(handler: Handler, abandon: Abandon | None = None, **options: Any) -> JobKind:
    return JobKind(JobSpec(KIND, **options), handler, abandon=abandon)


# --- the runner ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_job_that_succeeds_is_done(db: MigratedDatabase, clock: FixedClock) -> None:
    recorder = Recorder()
    runner = make_runner(db, clock, kind(recorder.ok))
    job_id = enqueue(db, clock, execution_id=3)
    clock.advance(timedelta(seconds=1))
    assert await runner.run_until_idle() == 1
    assert recorder.calls == [{"execution_id": 3}]
    row = job_row(db, job_id)
    assert (row.state, row.attempts, row.finished_at, row.claimed_by) == (
        "done",
        1,
        T0 + timedelta(seconds=1),
        runner.worker,
    )
    assert await runner.run_until_idle() == 0


@pytest.mark.anyio
async def test_a_failing_job_is_retried_with_exponential_backoff_then_fails(
    db: MigratedDatabase, clock: FixedClock
) -> None:
    recorder = Recorder(failures=10)
    runner = make_runner(db, clock, kind(recorder.flaky, backoff_base_seconds=5))
    job_id = enqueue(db, clock, max_attempts=3)

    assert await runner.run_until_idle() == 1
    row = job_row(db, job_id)
    assert (row.state, row.attempts, row.available_at, row.lease_until) == (
        "queued",
        1,
        T0 + timedelta(seconds=5),
        None,
    )
    assert row.last_error == "RuntimeError: boom 1"

    clock.advance(timedelta(seconds=4))
    assert await runner.run_until_idle() == 0, "not before its back-off is over"
    clock.advance(timedelta(seconds=1))
    assert await runner.run_until_idle() == 1
    row = job_row(db, job_id)
    assert (row.state, row.attempts, row.available_at) == (
        "queued",
        2,
        T0 + timedelta(seconds=5 + 10),
    )
    assert row.last_error == "RuntimeError: boom 2"

    clock.advance(timedelta(seconds=10))
    assert await runner.run_until_idle() == 1
    row = job_row(db, job_id)
    assert (row.state, row.attempts, row.finished_at) == ("failed", 3, clock())
    assert row.last_error == "RuntimeError: boom 3"
    clock.advance(timedelta(days=1))
    assert await runner.run_until_idle() == 0
    assert len(recorder.calls) == 3


@pytest.mark.anyio
async def test_a_job_that_fails_then_succeeds_is_done(
    db: MigratedDatabase, clock: FixedClock
) -> None:
    recorder = Recorder(failures=1)
    runner = make_runner(db, clock, kind(recorder.flaky, backoff_base_seconds=2))
    job_id = enqueue(db, clock)
    assert await runner.run_until_idle() == 1
    clock.advance(timedelta(seconds=2))
    assert await runner.run_until_idle() == 1
    row = job_row(db, job_id)
    assert (row.state, row.attempts) == ("done", 2)


def test_backoff_doubles_up_to_its_cap() -> None:
    job_kind = kind(Recorder().ok, backoff_base_seconds=5, backoff_cap_seconds=60)
    assert [job_kind.spec.backoff(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


@pytest.mark.parametrize(("in_spec", "in_row"), [(5, 1), (1, 3)])
@pytest.mark.anyio
async def test_the_attempts_are_the_job_rows(
    db: MigratedDatabase, clock: FixedClock, in_spec: int, in_row: int
) -> None:
    """A job runs as often as the row it was queued with says, whatever its kind's spec
    says now (a spec changed by an upgrade does not change queued jobs)."""
    recorder = Recorder(failures=10)
    runner = make_runner(db, clock, kind(recorder.flaky, max_attempts=in_spec))
    job_id = enqueue(db, clock, max_attempts=in_row)
    for _ in range(in_row):
        assert await runner.run_until_idle() == 1
        clock.advance(timedelta(hours=2))
    assert await runner.run_until_idle() == 0
    row = job_row(db, job_id)
    assert (row.state, row.attempts, len(recorder.calls)) == ("failed", in_row, in_row)


def test_a_spec_queues_with_its_attempts_and_dedupe_key(
    db: MigratedDatabase, clock: FixedClock
) -> None:
    spec = JobSpec(KIND, max_attempts=4, dedupe_on=("n",))
    with db.uow(write=True) as store:
        first = spec.enqueue(store.jobs, {"n": 7}, clock())
        again = spec.enqueue(store.jobs, {"n": 7}, clock())
        other = spec.enqueue(store.jobs, {"n": 8}, clock(), max_attempts=1)
    assert first is not None
    assert other is not None
    assert again is None
    assert (job_row(db, first).max_attempts, job_row(db, first).dedupe_key) == (4, "test_job:7")
    assert job_row(db, other).max_attempts == 1
    assert JobSpec(KIND, dedupe_on=()).dedupe_key({"n": 1}) == KIND
    assert JobSpec(KIND).dedupe_key({"n": 1}) is None


async def hangs(payload: dict[str, Any]) -> None:
    await anyio.sleep(30)


@pytest.mark.anyio
async def test_a_timeout_counts_as_a_failure(db: MigratedDatabase, clock: FixedClock) -> None:
    runner = make_runner(db, clock, kind(hangs, timeout_seconds=0.05, backoff_base_seconds=7))
    job_id = enqueue(db, clock, max_attempts=2)
    started = time.monotonic()
    assert await runner.run_until_idle() == 1
    assert time.monotonic() - started < 10
    row = job_row(db, job_id)
    assert (row.state, row.attempts, row.available_at) == (
        "queued",
        1,
        T0 + timedelta(seconds=7),
    )
    assert row.last_error.startswith("TimeoutError")

    clock.advance(timedelta(seconds=7))
    assert await runner.run_until_idle() == 1
    row = job_row(db, job_id)
    assert (row.state, row.attempts) == ("failed", 2)


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 5) -> None:
    with anyio.move_on_after(timeout):
        while not condition():
            await anyio.sleep(0.01)
        return
    pytest.fail(f"timed out waiting until {what}")


@pytest.mark.anyio
async def test_the_lease_is_renewed_while_a_long_job_runs(
    db: MigratedDatabase, clock: FixedClock
) -> None:
    lease = timedelta(seconds=0.3)  # renewed every 0.1 s of real time
    job_id = enqueue(db, clock)
    rounds: list[datetime] = []

    def renewed() -> bool:
        return bool(job_row(db, job_id).lease_until > clock())

    async def long_job(payload: dict[str, Any]) -> None:
        for _ in range(3):
            # Time moves past the lease the job was given; only a renewal keeps the job.
            clock.advance(lease * 2)
            assert job_row(db, job_id).lease_until <= clock()
            await eventually(renewed, "the runner renews the lease")
            with db.uow(write=True) as store:
                stolen = store.jobs.claim_job([KIND], "another-worker", clock(), lease)
            assert stolen is None, "another worker took a job whose lease was renewed"
            rounds.append(clock())

    runner = make_runner(db, clock, kind(long_job), lease=lease)
    assert await runner.run_until_idle() == 1
    assert len(rounds) == 3
    row = job_row(db, job_id)
    assert (row.state, row.attempts, row.claimed_by) == ("done", 1, runner.worker)


@pytest.mark.anyio
async def test_a_job_whose_workers_kept_dying_is_given_up(
    db: MigratedDatabase, clock: FixedClock
) -> None:
    recorder = Recorder()
    lease = timedelta(seconds=60)
    runner = make_runner(db, clock, kind(recorder.ok), lease=lease)
    job_id = enqueue(db, clock, max_attempts=2)
    for attempt in (1, 2):  # two workers claim it and die without a word
        with db.uow(write=True) as store:
            job = store.jobs.claim_job([KIND], f"dead-{attempt}", clock(), lease)
        assert job is not None
        assert job.attempts == attempt
        clock.advance(lease + timedelta(seconds=1))
    assert await runner.run_until_idle() == 1
    row = job_row(db, job_id)
    assert (row.state, row.attempts) == ("failed", 3)
    assert "too many attempts" in row.last_error
    assert recorder.calls == []


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["failing", "dying"])
async def test_a_job_given_up_closes_what_it_carried(
    db: MigratedDatabase, clock: FixedClock, how: str
) -> None:
    """A run's job given up for good (it failed every attempt, or its workers died during
    each) closes the run, which would otherwise show as running and hold back the next."""
    abandoned: list[tuple[dict[str, Any], str]] = []
    recorder = Recorder(failures=10)
    lease = timedelta(seconds=60)
    runner = make_runner(
        db,
        clock,
        kind(recorder.flaky, abandon=lambda p, reason: abandoned.append((p, reason))),
        lease=lease,
    )
    enqueue(db, clock, max_attempts=1, execution_id=7)
    if how == "dying":
        with db.uow(write=True) as store:
            assert store.jobs.claim_job([KIND], "dead", clock(), lease) is not None
        clock.advance(lease + timedelta(seconds=1))
    assert await runner.run_until_idle() == 1
    expected = "too many attempts" if how == "dying" else "RuntimeError: boom 1"
    assert len(abandoned) == 1
    assert abandoned[0][0] == {"execution_id": 7}
    assert expected in abandoned[0][1]


@pytest.mark.anyio
async def test_run_until_idle_runs_what_is_due_up_to_its_limit(
    db: MigratedDatabase, clock: FixedClock
) -> None:
    recorder = Recorder()
    runner = make_runner(db, clock, kind(recorder.ok))
    for n in range(4):
        enqueue(db, clock, n=n)
    with db.uow(write=True) as store:
        store.jobs.enqueue_job(KIND, {"n": "later"}, clock(), available_at=T0 + timedelta(hours=1))
        store.jobs.enqueue_job("unknown_kind", {"n": "other"}, clock())
    assert await runner.run_until_idle(limit=3) == 3
    assert await runner.run_until_idle() == 1
    assert [c["n"] for c in recorder.calls] == [0, 1, 2, 3], "in queue order"
    assert await runner.run_until_idle() == 0
    clock.advance(timedelta(hours=1))
    assert await runner.run_until_idle() == 1
    assert recorder.calls[-1] == {"n": "later"}
    with db.uow() as store:
        assert store.jobs.job_counts() == {"done": 5, "queued": 1}, "the unknown kind is left alone"


@pytest.mark.anyio
async def test_run_keeps_to_its_concurrency(db: MigratedDatabase, clock: FixedClock) -> None:
    active, most = 0, 0

    async def busy(payload: dict[str, Any]) -> None:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await anyio.sleep(0.1)
        active -= 1

    def all_done() -> bool:
        with db.uow() as store:
            return store.jobs.job_counts() == {"done": 5}

    runner = make_runner(db, clock, kind(busy), concurrency=2)
    for n in range(5):
        enqueue(db, clock, n=n)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(runner.run)
        runner.wake()
        await eventually(all_done, "every job is done", timeout=10)
        tasks.cancel_scope.cancel()
    assert most == 2


# --- the scheduler -------------------------------------------------------------------------


@dataclass
class Fired:
    """A trigger that enqueues work inside the scheduler's transaction, and notes each call."""

    calls: list[tuple[str, datetime]] = field(default_factory=list)
    fail: bool = False

    def __call__(self, store: Transaction, schedule: Schedule, now: datetime) -> None:
        store.jobs.enqueue_job(KIND, {"subject": schedule.subject}, now)
        if self.fail:
            raise RuntimeError("trigger failed")
        self.calls.append((schedule.subject, now))


def put_schedule(db: MigratedDatabase, cron: str, next_run_at: datetime) -> Schedule:
    with db.uow(write=True) as store:
        return store.schedules.put_schedule(SCHEDULE_KIND, "reg", cron, next_run_at, T0)


def schedule_now(db: MigratedDatabase) -> Schedule:
    with db.uow() as store:
        found = store.schedules.get_schedule(SCHEDULE_KIND, "reg")
    assert found is not None
    return found


def job_count(db: MigratedDatabase) -> int:
    with db.uow() as store:
        return sum(store.jobs.job_counts().values())


@contextmanager
def other_node(db: MigratedDatabase) -> Iterator[SqlUnitOfWork]:
    """Units of work of another process: an engine of its own on the same database."""
    with metadata_engine(db.url) as engine:
        yield SqlUnitOfWork(engine)


def test_a_due_schedule_fires_once_and_moves_to_the_next_cron_time(
    db: MigratedDatabase, clock: FixedClock
) -> None:
    put_schedule(db, "*/5 * * * *", T0)
    fired = Fired()
    clock.advance(timedelta(minutes=1, seconds=30))
    now = clock()
    assert Scheduler(db.uow, {SCHEDULE_KIND: fired}, clock=clock).fire_due() == 1
    assert fired.calls == [("reg", now)]
    found = schedule_now(db)
    assert (found.next_run_at, found.last_run_at) == (T0 + timedelta(minutes=5), now)
    assert found.next_run_at == parse_cron("*/5 * * * *").next_after(now)
    assert job_count(db) == 1, "the trigger's work was committed with the advance"

    with other_node(db) as uow:
        second = Fired()
        assert Scheduler(uow, {SCHEDULE_KIND: second}, clock=clock).fire_due() == 0
    assert second.calls == []
    assert Scheduler(db.uow, {SCHEDULE_KIND: fired}, clock=clock).fire_due() == 0
    assert len(fired.calls) == 1
    assert job_count(db) == 1


class StaleSchedules(SqlScheduleStore):
    """Schedules whose node read the due ones just before another node fired them."""

    stale: list[Schedule]

    def due_schedules(self, now: datetime, limit: int) -> list[Schedule]:
        return list(self.stale)


def test_a_node_that_read_a_due_time_another_node_fired_fires_nothing(
    db: MigratedDatabase, clock: FixedClock
) -> None:
    due = put_schedule(db, "0 * * * *", T0)
    clock.advance(timedelta(seconds=10))
    first, second = Fired(), Fired()
    assert Scheduler(db.uow, {SCHEDULE_KIND: first}, clock=clock).fire_due() == 1

    @contextmanager
    def stale_uow(*, write: bool = False) -> Iterator[Transaction]:
        with db.uow(write=write) as store:
            stale = StaleSchedules(store.conn)
            stale.stale = [due]
            store.schedules = stale  # this transaction's schedules role, replaced
            yield store

    assert Scheduler(stale_uow, {SCHEDULE_KIND: second}, clock=clock).fire_due() == 0
    assert (len(first.calls), second.calls) == (1, [])
    assert schedule_now(db).next_run_at == T0 + timedelta(hours=1)
    assert job_count(db) == 1


def test_a_late_scheduler_fires_a_missed_time_once(db: MigratedDatabase, clock: FixedClock) -> None:
    put_schedule(db, "*/5 * * * *", T0)
    fired = Fired()
    clock.advance(timedelta(minutes=17))
    assert Scheduler(db.uow, {SCHEDULE_KIND: fired}, clock=clock).fire_due() == 1
    assert len(fired.calls) == 1
    assert schedule_now(db).next_run_at == T0 + timedelta(minutes=20)


def test_nothing_fires_before_its_time(db: MigratedDatabase, clock: FixedClock) -> None:
    put_schedule(db, "*/5 * * * *", T0 + timedelta(minutes=5))
    fired = Fired()
    clock.advance(timedelta(minutes=4, seconds=59))
    assert Scheduler(db.uow, {SCHEDULE_KIND: fired}, clock=clock).fire_due() == 0
    assert fired.calls == []
    assert schedule_now(db).next_run_at == T0 + timedelta(minutes=5)


def test_a_failing_trigger_leaves_the_schedule_due(db: MigratedDatabase, clock: FixedClock) -> None:
    put_schedule(db, "*/5 * * * *", T0)
    fired = Fired(fail=True)
    scheduler = Scheduler(db.uow, {SCHEDULE_KIND: fired}, clock=clock)
    with pytest.raises(RuntimeError, match="trigger failed"):
        scheduler.fire_due()
    found = schedule_now(db)
    assert (found.next_run_at, found.last_run_at) == (T0, None), "the advance was rolled back"
    assert job_count(db) == 0, "and so was the trigger's work"
    fired.fail = False
    assert scheduler.fire_due() == 1
    assert job_count(db) == 1


@pytest.mark.anyio
async def test_run_fires_due_schedules_and_reports_them(
    db: MigratedDatabase, clock: FixedClock
) -> None:
    put_schedule(db, "*/5 * * * *", T0)
    fired = Fired()
    reported: list[int] = []
    scheduler = Scheduler(db.uow, {SCHEDULE_KIND: fired}, tick_seconds=0.01, clock=clock)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(scheduler.run, lambda: reported.append(1))
        await eventually(lambda: bool(reported), "the scheduler reports a firing")
        await anyio.sleep(0.05)  # more ticks at the same instant fire nothing more
        tasks.cancel_scope.cancel()
    assert (len(fired.calls), len(reported)) == (1, 1)
