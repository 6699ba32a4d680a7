"""The job queue, schedules and execution history, in memory (see `tests.fakes.memory`).

Rows as `moorage/metadata/tables.py` has them, by id: `job`, `schedule`, `execution`,
`execution_task`. Transactions are serialised, so a claim or a schedule's advance is a plain
compare-and-set on the rows: what the SQL store's conditional UPDATEs make atomic.
JSON columns hold what a JSON round trip gives back (tuples become lists, keys strings).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from moorage.domain.kernel.model import Execution, ExecutionTask, Job, Schedule
from tests.fakes.state import MemoryState, Row

if TYPE_CHECKING:
    from moorage.domain.jobs.ports import ExecutionStore, JobQueue, ScheduleStore

JOB = "job"
SCHEDULE = "schedule"
EXECUTION = "execution"
EXECUTION_TASK = "execution_task"
REGISTRY = "registry"

_ERROR_LIMIT = 4000  # last_error keeps this much of an error, as the SQL store does
_FINISHED = ("done", "failed")
_EXECUTION_COLUMNS = frozenset(
    {
        "kind",
        "registry_id",
        "trigger",
        "dry_run",
        "status",
        "counts",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    }
)
_EXECUTION_TIMES = frozenset({"created_at", "started_at", "finished_at"})


def _utc(value: datetime) -> datetime:
    """What a UTC column stores and gives back: the same instant, in UTC; naive is refused."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _json(value: Any) -> Any:
    """What a JSON column gives back for `value` (and a TypeError if it cannot hold it)."""
    return json.loads(json.dumps(value))


def _require(state: MemoryState, table: str, key: object) -> None:
    """A foreign key: the referenced row must exist (SQL raises an IntegrityError)."""
    if key not in state.table(table):
        raise ValueError(f"foreign key: no {table} row {key!r}")


# jobs -------------------------------------------------------------------------------------


def _claimable(row: Row, now: datetime) -> bool:
    if row["state"] == "queued":
        return bool(row["available_at"] <= now)
    return bool(row["state"] == "running" and row["lease_until"] < now)


class MemoryJobQueue:
    """`JobQueue` over the `job` rows."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def enqueue_job(
        self,
        kind: str,
        payload: dict[str, Any],
        now: datetime,
        *,
        dedupe_key: str | None = None,
        max_attempts: int = 5,
        available_at: datetime | None = None,
    ) -> int | None:
        jobs = self.state.table(JOB)
        if dedupe_key is not None and any(r["dedupe_key"] == dedupe_key for r in jobs.values()):
            return None  # the same work is already queued or running (the key is unique)
        row: Row = {
            "id": self.state.next_id(JOB),
            "kind": kind,
            "payload": _json(payload),
            "state": "queued",
            "attempts": 0,
            "max_attempts": max_attempts,
            "available_at": _utc(available_at or now),
            "lease_until": None,
            "claimed_by": None,
            "dedupe_key": dedupe_key,
            "last_error": None,
            "created_at": _utc(now),
            "finished_at": None,
        }
        jobs[row["id"]] = row
        return int(row["id"])

    def claim_job(
        self, kinds: Sequence[str], worker: str, now: datetime, lease: timedelta
    ) -> Job | None:
        now = _utc(now)
        candidates = [
            r for r in self.state.table(JOB).values() if r["kind"] in kinds and _claimable(r, now)
        ]
        if not candidates:
            return None
        row = min(candidates, key=lambda r: (r["available_at"], r["id"]))
        row.update(
            state="running",
            attempts=row["attempts"] + 1,
            lease_until=now + lease,
            claimed_by=worker,
        )
        return Job(
            row["id"],
            row["kind"],
            copy.deepcopy(row["payload"]),
            row["attempts"],
            row["max_attempts"],
        )

    def _owned(self, job_id: int, worker: str) -> Row | None:
        row = self.state.table(JOB).get(job_id)
        if row is None or row["claimed_by"] != worker or row["state"] != "running":
            return None
        return row

    def finish_job(self, job_id: int, worker: str, now: datetime) -> bool:
        row = self._owned(job_id, worker)
        if row is None:
            return False
        row.update(state="done", finished_at=_utc(now), lease_until=None, dedupe_key=None)
        return True

    def retry_job(self, job_id: int, worker: str, error: str, available_at: datetime) -> bool:
        row = self._owned(job_id, worker)
        if row is None:
            return False
        row.update(
            state="queued",
            available_at=_utc(available_at),
            lease_until=None,
            last_error=error[:_ERROR_LIMIT],
        )
        return True

    def fail_job(self, job_id: int, worker: str, error: str, now: datetime) -> bool:
        row = self._owned(job_id, worker)
        if row is None:
            return False
        row.update(
            state="failed",
            finished_at=_utc(now),
            lease_until=None,
            last_error=error[:_ERROR_LIMIT],
            dedupe_key=None,
        )
        return True

    def extend_lease(self, job_id: int, worker: str, until: datetime) -> bool:
        row = self._owned(job_id, worker)
        if row is None:
            return False
        row["lease_until"] = _utc(until)
        return True

    def job_counts(self) -> dict[str, int]:
        return dict(Counter(r["state"] for r in self.state.table(JOB).values()))

    def purge_finished_jobs(self, before: datetime) -> int:
        before = _utc(before)
        jobs = self.state.table(JOB)
        gone = [
            job_id
            for job_id, r in jobs.items()
            if r["state"] in _FINISHED
            and r["finished_at"] is not None
            and r["finished_at"] < before
        ]
        for job_id in gone:
            del jobs[job_id]
        return len(gone)


# schedules --------------------------------------------------------------------------------


def _schedule(row: Row) -> Schedule:
    return Schedule(
        row["id"], row["kind"], row["subject"], row["cron"], row["next_run_at"], row["last_run_at"]
    )


class MemoryScheduleStore:
    """`ScheduleStore` over the `schedule` rows (unique by kind and subject)."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def _find(self, kind: str, subject: str) -> Row | None:
        rows = self.state.table(SCHEDULE).values()
        return next((r for r in rows if r["kind"] == kind and r["subject"] == subject), None)

    def get_schedule(self, kind: str, subject: str) -> Schedule | None:
        row = self._find(kind, subject)
        return _schedule(row) if row else None

    def put_schedule(
        self, kind: str, subject: str, cron: str, next_run_at: datetime, now: datetime
    ) -> Schedule:
        row = self._find(kind, subject)
        if row is not None:
            row.update(cron=cron, next_run_at=_utc(next_run_at))
            return _schedule(row)
        row = {
            "id": self.state.next_id(SCHEDULE),
            "kind": kind,
            "subject": subject,
            "cron": cron,
            "next_run_at": _utc(next_run_at),
            "last_run_at": None,
            "created_at": _utc(now),
        }
        self.state.table(SCHEDULE)[row["id"]] = row
        return _schedule(row)

    def delete_schedule(self, kind: str, subject: str) -> bool:
        row = self._find(kind, subject)
        if row is None:
            return False
        del self.state.table(SCHEDULE)[row["id"]]
        return True

    def due_schedules(self, now: datetime, limit: int) -> list[Schedule]:
        now = _utc(now)
        due = [r for r in self.state.table(SCHEDULE).values() if r["next_run_at"] <= now]
        due.sort(key=lambda r: (r["next_run_at"], r["id"]))
        return [_schedule(r) for r in due[:limit]]

    def advance_schedule(
        self, schedule_id: int, expected: datetime, following: datetime, now: datetime
    ) -> bool:
        row = self.state.table(SCHEDULE).get(schedule_id)
        if row is None or row["next_run_at"] != _utc(expected):
            return False
        row.update(next_run_at=_utc(following), last_run_at=_utc(now))
        return True


# executions -------------------------------------------------------------------------------


def _execution(row: Row) -> Execution:
    return Execution(
        id=row["id"],
        kind=row["kind"],
        registry_id=row["registry_id"],
        trigger=row["trigger"],
        dry_run=row["dry_run"],
        status=row["status"],
        counts=copy.deepcopy(row["counts"] or {}),
        error=row["error"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def _task(row: Row) -> ExecutionTask:
    return ExecutionTask(
        row["id"],
        row["execution_id"],
        row["subject"],
        row["status"],
        copy.deepcopy(row["lines"] or []),
        row["error"],
        row["started_at"],
        row["finished_at"],
    )


class MemoryExecutionStore:
    """`ExecutionStore` over the `execution` and `execution_task` rows."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def create_execution(
        self, kind: str, registry_id: int | None, trigger: str, dry_run: bool, now: datetime
    ) -> Execution:
        if registry_id is not None:
            _require(self.state, REGISTRY, registry_id)
        row: Row = {
            "id": self.state.next_id(EXECUTION),
            "kind": kind,
            "registry_id": registry_id,
            "trigger": trigger,
            "dry_run": dry_run,
            "status": "queued",
            "counts": {},
            "error": None,
            "created_at": _utc(now),
            "started_at": None,
            "finished_at": None,
        }
        self.state.table(EXECUTION)[row["id"]] = row
        return _execution(row)

    def get_execution(self, execution_id: int) -> Execution | None:
        row = self.state.table(EXECUTION).get(execution_id)
        return _execution(row) if row else None

    def list_executions(
        self, kind: str, registry_id: int | None, offset: int, limit: int
    ) -> tuple[list[Execution], int]:
        rows = [
            r
            for r in self.state.table(EXECUTION).values()
            if r["kind"] == kind and (registry_id is None or r["registry_id"] == registry_id)
        ]
        rows.sort(key=lambda r: r["id"], reverse=True)
        return [_execution(r) for r in rows[offset : offset + limit]], len(rows)

    def update_execution(self, execution_id: int, **values: Any) -> None:
        unknown = set(values) - _EXECUTION_COLUMNS
        if unknown:
            raise TypeError(f"no such execution columns: {sorted(unknown)}")
        changes = dict(values)
        for name in _EXECUTION_TIMES & set(changes):
            changes[name] = _utc_or_none(changes[name])
        if "counts" in changes:
            changes["counts"] = _json(changes["counts"])
        if changes.get("registry_id") is not None:
            _require(self.state, REGISTRY, changes["registry_id"])
        row = self.state.table(EXECUTION).get(execution_id)
        if row is not None:
            row.update(changes)

    def add_execution_task(
        self,
        execution_id: int,
        subject: str,
        status: str,
        lines: list[dict[str, Any]],
        error: str | None,
        started_at: datetime | None,
        finished_at: datetime | None,
    ) -> int:
        _require(self.state, EXECUTION, execution_id)
        row: Row = {
            "id": self.state.next_id(EXECUTION_TASK),
            "execution_id": execution_id,
            "subject": subject,
            "status": status,
            "lines": _json(lines),
            "error": error,
            "started_at": _utc_or_none(started_at),
            "finished_at": _utc_or_none(finished_at),
        }
        self.state.table(EXECUTION_TASK)[row["id"]] = row
        return int(row["id"])

    def clear_execution_tasks(self, execution_id: int) -> None:
        tasks = self.state.table(EXECUTION_TASK)
        for task_id in [k for k, r in tasks.items() if r["execution_id"] == execution_id]:
            del tasks[task_id]

    def list_execution_tasks(self, execution_id: int) -> list[ExecutionTask]:
        rows = [
            r
            for r in self.state.table(EXECUTION_TASK).values()
            if r["execution_id"] == execution_id
        ]
        return [_task(r) for r in sorted(rows, key=lambda r: r["id"])]


if TYPE_CHECKING:  # structurally the role ports (checked by mypy)
    _jobs: JobQueue = MemoryJobQueue(MemoryState())
    _schedules: ScheduleStore = MemoryScheduleStore(MemoryState())
    _executions: ExecutionStore = MemoryExecutionStore(MemoryState())
