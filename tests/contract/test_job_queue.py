"""The durable job queue, schedules and execution history, on SQLite, PostgreSQL and the
in-memory fakes (`tests.fakes`).

Every test gets a database of its own at head of the migrations (PostgreSQL: a copy of one
migrated per session, with a time zone that is not UTC), or a fresh in-memory unit of work
holding what the migrations seed. Times are explicit `now` values, so leases and availability
are decided by the test, never by the wall clock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from moorage.domain.content.registries import DEFAULT_PROJECT
from moorage.domain.kernel.model import Job, Registry, Schedule
from moorage.domain.ports import Transaction, UnitOfWorkFactory
from moorage.metadata import tables as t
from tests.contract.backends import Database, MemoryDatabase

V = TypeVar("V")
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
KST = timezone(timedelta(hours=9))
LEASE = timedelta(seconds=60)
KIND = "test_job"
KINDS = [KIND]


@pytest.fixture
def uow(db: Database) -> UnitOfWorkFactory:
    return db.uow


# --- helpers -------------------------------------------------------------------------------


def write(uow: UnitOfWorkFactory, fn: Callable[[Transaction], V]) -> V:
    """`fn` in a write transaction of its own, committed."""
    with uow(write=True) as store:
        return fn(store)


def enqueue_unless_queued(uow: UnitOfWorkFactory, dedupe_key: str) -> int | None:
    """A job with a dedupe key: None when the same work is already queued or running."""
    return write(uow, lambda s: s.jobs.enqueue_job(KIND, {"n": 1}, T0, dedupe_key=dedupe_key))


def enqueue(uow: UnitOfWorkFactory, now: datetime = T0, **options: Any) -> int:
    job_id = write(uow, lambda s: s.jobs.enqueue_job(KIND, {"n": 1}, now, **options))
    assert job_id is not None
    return job_id


def claim(
    uow: UnitOfWorkFactory, worker: str, now: datetime, lease: timedelta = LEASE
) -> Job | None:
    return write(uow, lambda s: s.jobs.claim_job(KINDS, worker, now, lease))


def claimed(uow: UnitOfWorkFactory, worker: str, now: datetime, lease: timedelta = LEASE) -> Job:
    job = claim(uow, worker, now, lease)
    assert job is not None, f"{worker} found nothing to claim at {now}"
    return job


def job_row(db: Database, job_id: int) -> Any:
    """The job's row as stored (SQL: read past the store; memory: the state's row)."""
    if isinstance(db, MemoryDatabase):
        with db.uow() as store:
            return SimpleNamespace(**store.state.table("job")[job_id])
    with db.engine.connect() as conn:
        return conn.execute(select(t.job).where(t.job.c.id == job_id)).one()


def new_registry(uow: UnitOfWorkFactory, name: str) -> Registry:
    def create(store: Transaction) -> Registry:
        project = store.projects.get_project(DEFAULT_PROJECT)
        assert project is not None
        return store.registries.create_registry(name, project, T0)

    return write(uow, create)


# --- jobs ----------------------------------------------------------------------------------


def test_enqueue_claim_and_finish(uow: UnitOfWorkFactory, db: Database) -> None:
    job_id = write(
        uow,
        lambda s: s.jobs.enqueue_job(KIND, {"execution_id": 7, "x": [1, "a"]}, T0, max_attempts=3),
    )
    assert job_id is not None
    row = job_row(db, job_id)
    assert (row.state, row.attempts, row.available_at, row.created_at) == ("queued", 0, T0, T0)

    job = claimed(uow, "w1", T0)
    assert job == Job(job_id, KIND, {"execution_id": 7, "x": [1, "a"]}, 1, 3)
    row = job_row(db, job_id)
    assert (row.state, row.claimed_by, row.lease_until) == ("running", "w1", T0 + LEASE)
    with uow() as store:
        assert store.jobs.job_counts() == {"running": 1}

    assert write(uow, lambda s: s.jobs.finish_job(job_id, "w1", T0 + timedelta(seconds=5)))
    row = job_row(db, job_id)
    assert (row.state, row.finished_at, row.lease_until) == (
        "done",
        T0 + timedelta(seconds=5),
        None,
    )
    assert claim(uow, "w2", T0 + timedelta(days=1)) is None, "a finished job is never claimed"
    with uow() as store:
        assert store.jobs.job_counts() == {"done": 1}


def test_claim_takes_only_the_kinds_asked_for(uow: UnitOfWorkFactory) -> None:
    write(uow, lambda s: s.jobs.enqueue_job("other_kind", {}, T0))
    assert claim(uow, "w1", T0) is None
    with uow(write=True) as store:
        found = store.jobs.claim_job(["other_kind", KIND], "w1", T0, LEASE)
    assert found is not None
    assert found.kind == "other_kind"


def test_a_job_is_not_claimed_before_it_is_available(uow: UnitOfWorkFactory) -> None:
    later = T0 + timedelta(minutes=10)
    job_id = enqueue(uow, available_at=later)
    assert claim(uow, "w1", later - timedelta(microseconds=1)) is None
    assert claimed(uow, "w1", later).id == job_id


def test_dedupe_key_queues_the_same_work_once_until_it_ends(
    uow: UnitOfWorkFactory, db: Database
) -> None:
    first = enqueue_unless_queued(uow, "run:1")
    assert first is not None
    assert enqueue_unless_queued(uow, "run:1") is None, "queued: a duplicate is dropped"
    other = enqueue_unless_queued(uow, "run:2")
    assert other is not None

    claimed(uow, "w1", T0)
    assert enqueue_unless_queued(uow, "run:1") is None, "running: a duplicate is dropped"
    assert write(uow, lambda s: s.jobs.finish_job(first, "w1", T0))
    again = enqueue_unless_queued(uow, "run:1")
    assert again is not None, "a finished job frees its key"
    assert again not in (first, other)

    assert claimed(uow, "w1", T0).id == other
    assert write(uow, lambda s: s.jobs.fail_job(other, "w1", "boom", T0))
    assert enqueue_unless_queued(uow, "run:2") is not None, "a failed job frees its key"
    assert enqueue(uow) != enqueue(uow), "no key: never deduplicated"
    with uow() as store:
        assert store.jobs.job_counts() == {"done": 1, "failed": 1, "queued": 4}
    assert job_row(db, first).dedupe_key is None


def test_claims_go_in_order_of_availability_then_id(uow: UnitOfWorkFactory) -> None:
    late = enqueue(uow, available_at=T0 + timedelta(seconds=2))
    early_a = enqueue(uow, available_at=T0)
    early_b = enqueue(uow, available_at=T0)
    # Written in another zone: the store compares instants, not wall-clock text.
    middle = enqueue(uow, available_at=(T0 + timedelta(seconds=1)).astimezone(KST))
    future = enqueue(uow, available_at=T0 + timedelta(hours=1))
    now, day = T0 + timedelta(minutes=1), timedelta(days=1)
    order = [claimed(uow, "w1", now, day).id for _ in range(4)]
    assert order == [early_a, early_b, middle, late]
    assert claim(uow, "w1", now, day) is None
    assert claimed(uow, "w1", T0 + timedelta(hours=1), day).id == future


def test_a_claimed_job_is_not_claimed_again_until_its_lease_expires(
    uow: UnitOfWorkFactory, db: Database
) -> None:
    job_id = enqueue(uow, max_attempts=5)
    first = claimed(uow, "w1", T0)
    assert first.attempts == 1
    for moment in (T0, T0 + timedelta(seconds=30), T0 + LEASE):
        assert claim(uow, "w2", moment) is None, f"leased until {T0 + LEASE}, asked at {moment}"

    expired = T0 + LEASE + timedelta(microseconds=1)
    second = claimed(uow, "w2", expired)
    assert (second.id, second.attempts) == (job_id, 2), "re-claimed with one more attempt"
    row = job_row(db, job_id)
    assert (row.claimed_by, row.lease_until) == ("w2", expired + LEASE)
    assert claim(uow, "w3", expired) is None

    # The worker that lost the lease can no longer settle the job, in any way.
    assert not write(uow, lambda s: s.jobs.finish_job(job_id, "w1", expired))
    assert not write(uow, lambda s: s.jobs.retry_job(job_id, "w1", "late", expired))
    assert not write(uow, lambda s: s.jobs.fail_job(job_id, "w1", "late", expired))
    assert not write(uow, lambda s: s.jobs.extend_lease(job_id, "w1", expired + LEASE * 10))
    assert job_row(db, job_id).state == "running"
    assert write(uow, lambda s: s.jobs.finish_job(job_id, "w2", expired))
    assert job_row(db, job_id).state == "done"


def test_an_extended_lease_holds_the_job_longer(uow: UnitOfWorkFactory) -> None:
    job_id = enqueue(uow)
    claimed(uow, "w1", T0)
    until = T0 + timedelta(minutes=10)
    assert write(uow, lambda s: s.jobs.extend_lease(job_id, "w1", until))
    assert claim(uow, "w2", T0 + LEASE + timedelta(seconds=1)) is None
    assert claim(uow, "w2", until) is None
    assert claimed(uow, "w2", until + timedelta(seconds=1)).id == job_id


def test_retry_job_makes_the_job_available_later(uow: UnitOfWorkFactory, db: Database) -> None:
    job_id = enqueue(uow)
    claimed(uow, "w1", T0)
    retry_at = T0 + timedelta(seconds=40)
    assert write(uow, lambda s: s.jobs.retry_job(job_id, "w1", "RuntimeError: boom", retry_at))
    row = job_row(db, job_id)
    assert (row.state, row.available_at, row.lease_until, row.last_error) == (
        "queued",
        retry_at,
        None,
        "RuntimeError: boom",
    )
    assert claim(uow, "w2", T0 + timedelta(seconds=39)) is None
    again = claimed(uow, "w2", retry_at)
    assert (again.id, again.attempts) == (job_id, 2)


def test_fail_job_ends_the_job_with_its_error(uow: UnitOfWorkFactory, db: Database) -> None:
    job_id = enqueue(uow)
    claimed(uow, "w1", T0)
    error = "x" * 5000
    assert write(uow, lambda s: s.jobs.fail_job(job_id, "w1", error, T0 + timedelta(seconds=3)))
    row = job_row(db, job_id)
    assert (row.state, row.finished_at, row.lease_until) == (
        "failed",
        T0 + timedelta(seconds=3),
        None,
    )
    assert row.last_error == error[:4000]
    assert claim(uow, "w1", T0 + timedelta(days=365)) is None
    assert not write(uow, lambda s: s.jobs.finish_job(job_id, "w1", T0)), "failed stays failed"


def test_only_the_claiming_worker_settles_a_job(uow: UnitOfWorkFactory, db: Database) -> None:
    job_id = enqueue(uow)
    claimed(uow, "w1", T0)
    assert not write(uow, lambda s: s.jobs.finish_job(job_id, "w2", T0))
    assert not write(uow, lambda s: s.jobs.retry_job(job_id, "w2", "no", T0))
    assert not write(uow, lambda s: s.jobs.fail_job(job_id, "w2", "no", T0))
    assert not write(uow, lambda s: s.jobs.extend_lease(job_id, "w2", T0 + LEASE * 2))
    row = job_row(db, job_id)
    assert (row.state, row.claimed_by, row.lease_until) == ("running", "w1", T0 + LEASE)
    assert not write(uow, lambda s: s.jobs.finish_job(job_id + 1000, "w1", T0)), "no such job"


def test_purge_finished_jobs_removes_only_old_finished_ones(uow: UnitOfWorkFactory) -> None:
    for _ in range(4):
        enqueue(uow)
    done_id, failed_id, _running = (claimed(uow, "w1", T0).id for _ in range(3))
    write(uow, lambda s: s.jobs.finish_job(done_id, "w1", T0))
    write(uow, lambda s: s.jobs.fail_job(failed_id, "w1", "boom", T0 + timedelta(hours=2)))
    assert write(uow, lambda s: s.jobs.purge_finished_jobs(T0 + timedelta(hours=1))) == 1
    with uow() as store:
        assert store.jobs.job_counts() == {"failed": 1, "queued": 1, "running": 1}


def test_concurrent_claims_never_hand_out_a_job_twice(uow: UnitOfWorkFactory) -> None:
    jobs, workers = 200, 4
    ids = [enqueue(uow) for _ in range(jobs)]
    claims: list[tuple[str, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(workers)
    deadline = time.monotonic() + 60
    errors: list[BaseException] = []

    def work(worker: str) -> None:
        try:
            start.wait()
            while time.monotonic() < deadline:
                with lock:
                    if len(claims) >= jobs:
                        return
                # A claim can come back empty while others hold the candidates it read:
                # keep asking until every job is out (or the deadline says something hangs).
                job = claim(uow, worker, T0 + timedelta(seconds=1))
                if job is not None:
                    with lock:
                        claims.append((worker, job.id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not errors, errors
    counts = Counter(job_id for _, job_id in claims)
    assert sorted(counts) == sorted(ids), "every job claimed"
    assert [job_id for job_id, n in counts.items() if n > 1] == [], "claimed more than once"
    assert claim(uow, "late", T0 + timedelta(seconds=1)) is None
    with uow() as store:
        assert store.jobs.job_counts() == {"running": jobs}


# --- schedules -----------------------------------------------------------------------------


def test_schedules_put_get_update_and_delete(uow: UnitOfWorkFactory) -> None:
    with uow() as store:
        assert store.schedules.get_schedule("cleanup", "reg") is None
    made = write(uow, lambda s: s.schedules.put_schedule("cleanup", "reg", "0 3 * * *", T0, T0))
    assert made == Schedule(made.id, "cleanup", "reg", "0 3 * * *", T0, None)
    later = (T0 + timedelta(hours=1)).astimezone(KST)
    changed = write(
        uow, lambda s: s.schedules.put_schedule("cleanup", "reg", "0 4 * * *", later, T0)
    )
    assert changed == Schedule(made.id, "cleanup", "reg", "0 4 * * *", later, None)
    assert changed.next_run_at.tzinfo is not None
    other = write(uow, lambda s: s.schedules.put_schedule("cleanup", "other", "* * * * *", T0, T0))
    assert other.id != made.id
    with uow() as store:
        assert store.schedules.get_schedule("cleanup", "reg") == changed
        assert store.schedules.get_schedule("replication", "reg") is None
    assert write(uow, lambda s: s.schedules.delete_schedule("cleanup", "reg"))
    assert not write(uow, lambda s: s.schedules.delete_schedule("cleanup", "reg"))
    with uow() as store:
        assert store.schedules.get_schedule("cleanup", "reg") is None
        assert store.schedules.get_schedule("cleanup", "other") == other


def test_due_schedules_are_those_at_or_before_now_earliest_first(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        store.schedules.put_schedule("k", "late", "* * * * *", T0 + timedelta(minutes=2), T0)
        store.schedules.put_schedule("k", "early", "* * * * *", T0, T0)
        store.schedules.put_schedule("k", "middle", "* * * * *", T0 + timedelta(minutes=1), T0)
        store.schedules.put_schedule("k", "future", "* * * * *", T0 + timedelta(minutes=3), T0)
    now = T0 + timedelta(minutes=2)
    with uow() as store:
        assert [s.subject for s in store.schedules.due_schedules(now, 10)] == [
            "early",
            "middle",
            "late",
        ]
        assert [s.subject for s in store.schedules.due_schedules(now, 2)] == ["early", "middle"]
        assert store.schedules.due_schedules(T0 - timedelta(seconds=1), 10) == []


def test_advance_schedule_succeeds_once_per_expected_time(
    uow: UnitOfWorkFactory, db: Database
) -> None:
    schedule = write(uow, lambda s: s.schedules.put_schedule("k", "reg", "* * * * *", T0, T0))
    following, now = T0 + timedelta(minutes=1), T0 + timedelta(seconds=2)
    nodes = 4
    results: list[bool] = []
    start = threading.Barrier(nodes)

    def fire() -> None:
        # Each node read the same due time; each tries its CAS in a transaction of its own.
        start.wait()
        advanced = write(
            db.uow, lambda s: s.schedules.advance_schedule(schedule.id, T0, following, now)
        )
        results.append(advanced)

    threads = [threading.Thread(target=fire) for _ in range(nodes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == [False] * (nodes - 1) + [True]
    with uow() as store:
        found = store.schedules.get_schedule("k", "reg")
    assert found == Schedule(schedule.id, "k", "reg", "* * * * *", following, now)
    # The next due time is the new expectation; the old one never matches again.
    assert not write(uow, lambda s: s.schedules.advance_schedule(schedule.id, T0, following, now))
    later = following + timedelta(minutes=1)
    assert write(
        uow, lambda s: s.schedules.advance_schedule(schedule.id, following, later, following)
    )


def test_advance_schedule_from_two_open_connections(uow: UnitOfWorkFactory) -> None:
    """Two nodes read the schedule before either writes: the second CAS finds it moved."""
    schedule = write(uow, lambda s: s.schedules.put_schedule("k", "reg", "* * * * *", T0, T0))
    with uow() as first_read, uow() as second_read:
        seen = [store.schedules.due_schedules(T0, 10) for store in (first_read, second_read)]
    assert seen == [[schedule], [schedule]]
    following = T0 + timedelta(minutes=1)

    def advance(due: Schedule) -> bool:
        return write(
            uow, lambda s: s.schedules.advance_schedule(due.id, due.next_run_at, following, T0)
        )

    outcomes = [advance(due[0]) for due in seen]
    assert outcomes == [True, False]


# --- executions and their tasks ------------------------------------------------------------


def test_executions_are_created_read_listed_and_updated(uow: UnitOfWorkFactory) -> None:
    one, two = new_registry(uow, "one"), new_registry(uow, "two")
    with uow(write=True) as store:
        first = store.executions.create_execution("cleanup", one.id, "manual", True, T0)
        second = store.executions.create_execution("cleanup", one.id, "schedule", False, T0)
        elsewhere = store.executions.create_execution("cleanup", two.id, "manual", False, T0)
        other_kind = store.executions.create_execution("replication", one.id, "event", False, T0)
        global_one = store.executions.create_execution("cleanup", None, "manual", False, T0)
    assert (first.kind, first.registry_id, first.trigger, first.dry_run) == (
        "cleanup",
        one.id,
        "manual",
        True,
    )
    assert (first.status, first.counts, first.error, first.created_at) == ("queued", {}, None, T0)
    assert (first.started_at, first.finished_at) == (None, None)

    with uow() as store:
        assert store.executions.get_execution(second.id) == second
        assert store.executions.get_execution(global_one.id + 1000) is None
        items, total = store.executions.list_executions("cleanup", one.id, 0, 10)
        assert ([e.id for e in items], total) == ([second.id, first.id], 2), "newest first"
        items, total = store.executions.list_executions("cleanup", one.id, 1, 1)
        assert ([e.id for e in items], total) == ([first.id], 2)
        items, total = store.executions.list_executions("cleanup", None, 0, 10)
        expected = [global_one.id, elsewhere.id, second.id, first.id]
        assert ([e.id for e in items], total) == (expected, 4)
        items, total = store.executions.list_executions("replication", two.id, 0, 10)
        assert (items, total) == ([], 0)
        assert store.executions.get_execution(other_kind.id) == other_kind

    started, finished = T0 + timedelta(seconds=1), (T0 + timedelta(seconds=9)).astimezone(KST)
    with uow(write=True) as store:
        store.executions.update_execution(first.id, status="running", started_at=started)
        store.executions.update_execution(
            first.id,
            status="succeeded",
            counts={"deleted": 2, "kept": 3},
            error=None,
            finished_at=finished,
        )
        store.executions.update_execution(second.id, status="failed", error="RuntimeError: boom")
    with uow() as store:
        done = store.executions.get_execution(first.id)
        failed = store.executions.get_execution(second.id)
    assert done is not None
    assert failed is not None
    assert (done.status, done.counts, done.started_at, done.finished_at) == (
        "succeeded",
        {"deleted": 2, "kept": 3},
        started,
        finished,
    )
    assert (failed.status, failed.error) == ("failed", "RuntimeError: boom")


def test_execution_tasks_are_added_listed_in_order_and_cleared(uow: UnitOfWorkFactory) -> None:
    registry = new_registry(uow, "one")
    with uow(write=True) as store:
        execution = store.executions.create_execution("cleanup", registry.id, "manual", False, T0)
        other = store.executions.create_execution("cleanup", registry.id, "manual", False, T0)
    lines: list[dict[str, Any]] = [
        {"digest": "sha256:" + "a" * 64, "tags": ["v1"], "verdict": "deleted", "kept_by": []},
        {"digest": "sha256:" + "b" * 64, "tags": [], "verdict": "kept", "kept_by": [1, 2]},
    ]
    end = T0 + timedelta(seconds=1)
    with uow(write=True) as store:
        web = store.executions.add_execution_task(
            execution.id, "app/web", "succeeded", lines, None, T0, end
        )
        api = store.executions.add_execution_task(
            execution.id, "app/api", "failed", [], "boom", None, None
        )
        store.executions.add_execution_task(other.id, "tools", "succeeded", [], None, T0, end)
    with uow() as store:
        tasks = store.executions.list_execution_tasks(execution.id)
    assert [(x.id, x.subject, x.status) for x in tasks] == [
        (web, "app/web", "succeeded"),
        (api, "app/api", "failed"),
    ]
    assert (tasks[0].lines, tasks[0].error, tasks[0].started_at, tasks[0].finished_at) == (
        lines,
        None,
        T0,
        end,
    )
    assert (tasks[1].lines, tasks[1].error, tasks[1].started_at) == ([], "boom", None)
    assert all(x.execution_id == execution.id for x in tasks)

    with uow(write=True) as store:
        store.executions.clear_execution_tasks(execution.id)
    with uow() as store:
        assert store.executions.list_execution_tasks(execution.id) == []
        assert [x.subject for x in store.executions.list_execution_tasks(other.id)] == ["tools"]


def test_a_key_held_only_while_queued_lets_the_same_work_queue_again_once_it_runs(
    uow: UnitOfWorkFactory,
) -> None:
    """Work that reads its input when it starts (a copy of a tag's newest state): a change
    made while it runs must queue another job, not be folded into the running one."""

    def coalesced() -> int | None:
        return write(
            uow,
            lambda s: s.jobs.enqueue_job(
                KIND, {"n": 1}, T0, dedupe_key="copy:1", dedupe_while_running=False
            ),
        )

    first = coalesced()
    assert first is not None
    assert coalesced() is None, "queued: a burst shares it"
    assert claimed(uow, "w1", T0).id == first
    second = coalesced()
    assert second is not None, "running: the next change queues its own job"
    assert coalesced() is None, "and later ones share that"
    assert claimed(uow, "w2", T0).id == second
    assert write(uow, lambda s: s.jobs.finish_job(first, "w1", T0))
    held = enqueue_unless_queued(uow, "held")
    assert held is not None
    assert claimed(uow, "w3", T0).id == held
    assert enqueue_unless_queued(uow, "held") is None, "other keys still hold while running"
