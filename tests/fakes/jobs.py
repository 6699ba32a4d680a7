"""The job queue, schedules and execution history, in memory (see `tests.fakes.memory`).

Rows as `moorage/metadata/tables.py` has them, by id: `job`, `schedule`, `execution`,
`execution_task`, written through `tests.fakes.rows` (so JSON columns hold what a JSON round
trip gives back: tuples become lists, keys strings). Transactions are serialised, so a claim
or a schedule's advance is a plain compare-and-set on the rows: what the SQL store's
conditional UPDATEs make atomic.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from moorage.domain.kernel.model import Execution, ExecutionTask, Job, Schedule
from tests.fakes.rows import (
    UniqueViolation,
    delete_rows,
    find_row,
    insert_row,
    select_rows,
    update_row,
    utc,
)
from tests.fakes.state import MemoryState, Row

if TYPE_CHECKING:
    from moorage.domain.jobs.ports import ExecutionStore, JobQueue, ScheduleStore

JOB = "job"
SCHEDULE = "schedule"
EXECUTION = "execution"
EXECUTION_TASK = "execution_task"

_ERROR_LIMIT = 4000  # last_error keeps this much of an error, as the SQL store does
_FINISHED = ("done", "failed")


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
        dedupe_while_running: bool = True,
    ) -> int | None:
        values: Row = {
            "kind": kind,
            "payload": payload,
            "state": "queued",
            "attempts": 0,
            "max_attempts": max_attempts,
            "available_at": available_at or now,
            "dedupe_key": dedupe_key,
            "dedupe_running": dedupe_while_running,
            "created_at": now,
        }
        try:
            row = insert_row(self.state, JOB, values)
        except UniqueViolation:
            if dedupe_key is None:
                raise
            return None  # the same work is already queued or running (the key is unique)
        return int(row["id"])

    def claim_job(
        self, kinds: Sequence[str], worker: str, now: datetime, lease: timedelta
    ) -> Job | None:
        now = utc(now)
        candidates = [
            r for r in self.state.table(JOB).values() if r["kind"] in kinds and _claimable(r, now)
        ]
        if not candidates:
            return None
        row = min(candidates, key=lambda r: (r["available_at"], r["id"]))
        update_row(
            self.state,
            JOB,
            row["id"],
            {
                "state": "running",
                "attempts": row["attempts"] + 1,
                "lease_until": now + lease,
                "claimed_by": worker,
                "dedupe_key": row["dedupe_key"] if row["dedupe_running"] else None,
            },
        )
        return Job(
            row["id"],
            row["kind"],
            copy.deepcopy(row["payload"]),
            row["attempts"],
            row["max_attempts"],
        )

    def _update_owned(self, job_id: int, worker: str, values: Row) -> bool:
        """UPDATE the job while `worker` holds it (running, claimed by it)."""
        row = self.state.table(JOB).get(job_id)
        if row is None or row["claimed_by"] != worker or row["state"] != "running":
            return False
        return update_row(self.state, JOB, job_id, values)

    def finish_job(self, job_id: int, worker: str, now: datetime) -> bool:
        return self._update_owned(
            job_id,
            worker,
            {"state": "done", "finished_at": now, "lease_until": None, "dedupe_key": None},
        )

    def retry_job(self, job_id: int, worker: str, error: str, available_at: datetime) -> bool:
        return self._update_owned(
            job_id,
            worker,
            {
                "state": "queued",
                "available_at": available_at,
                "lease_until": None,
                "last_error": error[:_ERROR_LIMIT],
            },
        )

    def fail_job(self, job_id: int, worker: str, error: str, now: datetime) -> bool:
        return self._update_owned(
            job_id,
            worker,
            {
                "state": "failed",
                "finished_at": now,
                "lease_until": None,
                "last_error": error[:_ERROR_LIMIT],
                "dedupe_key": None,
            },
        )

    def extend_lease(self, job_id: int, worker: str, until: datetime) -> bool:
        return self._update_owned(job_id, worker, {"lease_until": until})

    def job_counts(self) -> dict[str, int]:
        return dict(Counter(r["state"] for r in self.state.table(JOB).values()))

    def purge_finished_jobs(self, before: datetime) -> int:
        before = utc(before)
        gone = [
            job_id
            for job_id, r in self.state.table(JOB).items()
            if r["state"] in _FINISHED
            and r["finished_at"] is not None
            and r["finished_at"] < before
        ]
        return delete_rows(self.state, JOB, gone)


# schedules --------------------------------------------------------------------------------


def _schedule(row: Row) -> Schedule:
    return Schedule(
        row["id"], row["kind"], row["subject"], row["cron"], row["next_run_at"], row["last_run_at"]
    )


class MemoryScheduleStore:
    """`ScheduleStore` over the `schedule` rows (unique by kind and subject)."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def get_schedule(self, kind: str, subject: str) -> Schedule | None:
        row = find_row(self.state, SCHEDULE, kind=kind, subject=subject)
        return _schedule(row) if row else None

    def put_schedule(
        self, kind: str, subject: str, cron: str, next_run_at: datetime, now: datetime
    ) -> Schedule:
        row = find_row(self.state, SCHEDULE, kind=kind, subject=subject)
        if row is not None:
            update_row(self.state, SCHEDULE, row["id"], {"cron": cron, "next_run_at": next_run_at})
            return _schedule(row)
        values: Row = {
            "kind": kind,
            "subject": subject,
            "cron": cron,
            "next_run_at": next_run_at,
            "created_at": now,
        }
        return _schedule(insert_row(self.state, SCHEDULE, values))

    def delete_schedule(self, kind: str, subject: str) -> bool:
        row = find_row(self.state, SCHEDULE, kind=kind, subject=subject)
        return row is not None and bool(delete_rows(self.state, SCHEDULE, [row["id"]]))

    def due_schedules(self, now: datetime, limit: int) -> list[Schedule]:
        now = utc(now)
        due = [r for r in self.state.table(SCHEDULE).values() if r["next_run_at"] <= now]
        due.sort(key=lambda r: (r["next_run_at"], r["id"]))
        return [_schedule(r) for r in due[:limit]]

    def advance_schedule(
        self, schedule_id: int, expected: datetime, following: datetime, now: datetime
    ) -> bool:
        row = self.state.table(SCHEDULE).get(schedule_id)
        if row is None or row["next_run_at"] != utc(expected):
            return False
        return update_row(
            self.state, SCHEDULE, schedule_id, {"next_run_at": following, "last_run_at": now}
        )


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
        rule_id=row["rule_id"],
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
        self,
        kind: str,
        registry_id: int | None,
        trigger: str,
        dry_run: bool,
        now: datetime,
        *,
        rule_id: int | None = None,
        status: str = "queued",
    ) -> Execution:
        values: Row = {
            "kind": kind,
            "registry_id": registry_id,
            "trigger": trigger,
            "dry_run": dry_run,
            "status": status,
            "counts": {},
            "created_at": now,
            "rule_id": rule_id,
        }
        return _execution(insert_row(self.state, EXECUTION, values))

    def get_execution(self, execution_id: int) -> Execution | None:
        row = self.state.table(EXECUTION).get(execution_id)
        return _execution(row) if row else None

    def list_executions(
        self,
        kind: str,
        registry_id: int | None,
        offset: int,
        limit: int,
        *,
        rule_id: int | None = None,
    ) -> tuple[list[Execution], int]:
        rows = [
            r
            for r in self.state.table(EXECUTION).values()
            if r["kind"] == kind
            and (registry_id is None or r["registry_id"] == registry_id)
            and (rule_id is None or r["rule_id"] == rule_id)
        ]
        rows.sort(key=lambda r: r["id"], reverse=True)
        return [_execution(r) for r in rows[offset : offset + limit]], len(rows)

    def update_execution(self, execution_id: int, **values: Any) -> None:
        update_row(self.state, EXECUTION, execution_id, values)

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
        values: Row = {
            "execution_id": execution_id,
            "subject": subject,
            "status": status,
            "lines": lines,
            "error": error,
            "started_at": started_at,
            "finished_at": finished_at,
        }
        return int(insert_row(self.state, EXECUTION_TASK, values)["id"])

    def clear_execution_tasks(self, execution_id: int) -> None:
        tasks = select_rows(self.state, EXECUTION_TASK, execution_id=execution_id)
        delete_rows(self.state, EXECUTION_TASK, [task["id"] for task in tasks])

    def list_execution_tasks(
        self, execution_id: int, offset: int = 0, limit: int | None = None
    ) -> list[ExecutionTask]:
        rows = select_rows(self.state, EXECUTION_TASK, execution_id=execution_id)
        rows.sort(key=lambda r: r["id"])
        end = None if limit is None else offset + limit
        return [_task(r) for r in rows[offset:end]]

    def count_execution_tasks(self, execution_id: int) -> int:
        return len(select_rows(self.state, EXECUTION_TASK, execution_id=execution_id))


if TYPE_CHECKING:  # structurally the role ports (checked by mypy)
    _jobs: JobQueue = MemoryJobQueue(MemoryState())
    _schedules: ScheduleStore = MemoryScheduleStore(MemoryState())
    _executions: ExecutionStore = MemoryExecutionStore(MemoryState())
