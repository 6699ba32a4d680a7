"""The durable job queue, schedules and execution history in the metadata store.

Claims are compare-and-swap: a worker reads a few candidates, then moves one to `running`
with an UPDATE that repeats the candidate's condition and its attempt count. Only one
worker's UPDATE can match, on SQLite and PostgreSQL alike, without row locks held across
the job's run (Quay's WorkQueue). A worker that dies leaves a lease that expires, and the
job becomes claimable again: execution is at-least-once, so handlers are idempotent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from moorage.domain.kernel.errors import Conflict
from moorage.domain.kernel.model import Execution, ExecutionTask, Job, Schedule
from moorage.metadata import tables as t

_CLAIM_CANDIDATES = 8
_CLAIM_ROUNDS = 3


def _claimable(now: datetime) -> Any:
    return or_(
        and_(t.job.c.state == "queued", t.job.c.available_at <= now),
        and_(t.job.c.state == "running", t.job.c.lease_until < now),
    )


def _new_id(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


class QueueQueries:
    """Mixed into SqlMetadataStore, which provides the connection and `_insert_unique`."""

    conn: Connection
    _insert_unique: Callable[[Any, str], Any]

    # jobs -------------------------------------------------------------------------------

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
        values = {
            "kind": kind,
            "payload": payload,
            "state": "queued",
            "attempts": 0,
            "max_attempts": max_attempts,
            "available_at": available_at or now,
            "dedupe_key": dedupe_key,
            "created_at": now,
        }
        if dedupe_key is None:
            return _new_id(self.conn.execute(insert(t.job).values(**values)))
        with contextlib.suppress(Conflict):  # the same work is already queued
            result = self._insert_unique(insert(t.job).values(**values), "job")
            return _new_id(result)
        return None

    def claim_job(
        self, kinds: Sequence[str], worker: str, now: datetime, lease: timedelta
    ) -> Job | None:
        # Several rounds: under contention other workers may win every candidate of a round
        # while more work is queued behind them.
        for _ in range(_CLAIM_ROUNDS):
            candidates = self.conn.execute(
                select(t.job.c.id, t.job.c.attempts)
                .where(t.job.c.kind.in_(list(kinds)), _claimable(now))
                .order_by(t.job.c.available_at, t.job.c.id)
                .limit(_CLAIM_CANDIDATES)
            ).all()
            if not candidates:
                return None
            for candidate in candidates:
                job = self._try_claim(candidate.id, candidate.attempts, worker, now, lease)
                if job is not None:
                    return job
        return None

    def _try_claim(
        self, job_id: int, attempts: int, worker: str, now: datetime, lease: timedelta
    ) -> Job | None:
        claimed = self.conn.execute(
            update(t.job)
            .where(t.job.c.id == job_id, t.job.c.attempts == attempts, _claimable(now))
            .values(
                state="running",
                attempts=attempts + 1,
                lease_until=now + lease,
                claimed_by=worker,
            )
        )
        if claimed.rowcount != 1:
            return None
        row = self.conn.execute(select(t.job).where(t.job.c.id == job_id)).one()
        return Job(row.id, row.kind, dict(row.payload), row.attempts, row.max_attempts)

    def _owned(self, job_id: int, worker: str) -> Any:
        return and_(t.job.c.id == job_id, t.job.c.claimed_by == worker, t.job.c.state == "running")

    def finish_job(self, job_id: int, worker: str, now: datetime) -> bool:
        result = self.conn.execute(
            update(t.job)
            .where(self._owned(job_id, worker))
            .values(state="done", finished_at=now, lease_until=None, dedupe_key=None)
        )
        return result.rowcount == 1

    def retry_job(self, job_id: int, worker: str, error: str, available_at: datetime) -> bool:
        result = self.conn.execute(
            update(t.job)
            .where(self._owned(job_id, worker))
            .values(
                state="queued", available_at=available_at, lease_until=None, last_error=error[:4000]
            )
        )
        return result.rowcount == 1

    def fail_job(self, job_id: int, worker: str, error: str, now: datetime) -> bool:
        result = self.conn.execute(
            update(t.job)
            .where(self._owned(job_id, worker))
            .values(
                state="failed",
                finished_at=now,
                lease_until=None,
                last_error=error[:4000],
                dedupe_key=None,
            )
        )
        return result.rowcount == 1

    def extend_lease(self, job_id: int, worker: str, until: datetime) -> bool:
        result = self.conn.execute(
            update(t.job).where(self._owned(job_id, worker)).values(lease_until=until)
        )
        return result.rowcount == 1

    def job_counts(self) -> dict[str, int]:
        rows = self.conn.execute(select(t.job.c.state, func.count()).group_by(t.job.c.state))
        return {state: int(n) for state, n in rows}

    def purge_finished_jobs(self, before: datetime) -> int:
        result = self.conn.execute(
            delete(t.job).where(t.job.c.state.in_(["done", "failed"]), t.job.c.finished_at < before)
        )
        return int(result.rowcount)

    # schedules --------------------------------------------------------------------------

    @staticmethod
    def _schedule(row: Any) -> Schedule:
        return Schedule(row.id, row.kind, row.subject, row.cron, row.next_run_at, row.last_run_at)

    def get_schedule(self, kind: str, subject: str) -> Schedule | None:
        row = self.conn.execute(
            select(t.schedule).where(t.schedule.c.kind == kind, t.schedule.c.subject == subject)
        ).first()
        return self._schedule(row) if row else None

    def put_schedule(
        self, kind: str, subject: str, cron: str, next_run_at: datetime, now: datetime
    ) -> Schedule:
        changed = self.conn.execute(
            update(t.schedule)
            .where(t.schedule.c.kind == kind, t.schedule.c.subject == subject)
            .values(cron=cron, next_run_at=next_run_at)
        )
        if not changed.rowcount:
            self.conn.execute(
                insert(t.schedule).values(
                    kind=kind, subject=subject, cron=cron, next_run_at=next_run_at, created_at=now
                )
            )
        found = self.get_schedule(kind, subject)
        assert found is not None
        return found

    def delete_schedule(self, kind: str, subject: str) -> bool:
        result = self.conn.execute(
            delete(t.schedule).where(t.schedule.c.kind == kind, t.schedule.c.subject == subject)
        )
        return bool(result.rowcount)

    def due_schedules(self, now: datetime, limit: int) -> list[Schedule]:
        rows = self.conn.execute(
            select(t.schedule)
            .where(t.schedule.c.next_run_at <= now)
            .order_by(t.schedule.c.next_run_at)
            .limit(limit)
        )
        return [self._schedule(r) for r in rows]

    def advance_schedule(
        self, schedule_id: int, expected: datetime, following: datetime, now: datetime
    ) -> bool:
        """Move a due schedule to its next time; False when another node already did."""
        result = self.conn.execute(
            update(t.schedule)
            .where(t.schedule.c.id == schedule_id, t.schedule.c.next_run_at == expected)
            .values(next_run_at=following, last_run_at=now)
        )
        return result.rowcount == 1

    # executions -------------------------------------------------------------------------

    @staticmethod
    def _execution(row: Any) -> Execution:
        return Execution(
            id=row.id,
            kind=row.kind,
            registry_id=row.registry_id,
            trigger=row.trigger,
            dry_run=row.dry_run,
            status=row.status,
            counts=dict(row.counts or {}),
            error=row.error,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )

    def create_execution(
        self, kind: str, registry_id: int | None, trigger: str, dry_run: bool, now: datetime
    ) -> Execution:
        result = self.conn.execute(
            insert(t.execution).values(
                kind=kind,
                registry_id=registry_id,
                trigger=trigger,
                dry_run=dry_run,
                status="queued",
                counts={},
                created_at=now,
            )
        )
        found = self.get_execution(_new_id(result))
        assert found is not None
        return found

    def get_execution(self, execution_id: int) -> Execution | None:
        row = self.conn.execute(select(t.execution).where(t.execution.c.id == execution_id)).first()
        return self._execution(row) if row else None

    def list_executions(
        self, kind: str, registry_id: int | None, offset: int, limit: int
    ) -> tuple[list[Execution], int]:
        where = [t.execution.c.kind == kind]
        if registry_id is not None:
            where.append(t.execution.c.registry_id == registry_id)
        total = self.conn.execute(
            select(func.count()).select_from(t.execution).where(*where)
        ).scalar_one()
        rows = self.conn.execute(
            select(t.execution)
            .where(*where)
            .order_by(t.execution.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [self._execution(r) for r in rows], int(total)

    def update_execution(self, execution_id: int, **values: Any) -> None:
        self.conn.execute(
            update(t.execution).where(t.execution.c.id == execution_id).values(**values)
        )

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
        result = self.conn.execute(
            insert(t.execution_task).values(
                execution_id=execution_id,
                subject=subject,
                status=status,
                lines=lines,
                error=error,
                started_at=started_at,
                finished_at=finished_at,
            )
        )
        return _new_id(result)

    def clear_execution_tasks(self, execution_id: int) -> None:
        self.conn.execute(
            delete(t.execution_task).where(t.execution_task.c.execution_id == execution_id)
        )

    def list_execution_tasks(self, execution_id: int) -> list[ExecutionTask]:
        rows = self.conn.execute(
            select(t.execution_task)
            .where(t.execution_task.c.execution_id == execution_id)
            .order_by(t.execution_task.c.id)
        )
        return [
            ExecutionTask(
                r.id,
                r.execution_id,
                r.subject,
                r.status,
                list(r.lines or []),
                r.error,
                r.started_at,
                r.finished_at,
            )
            for r in rows
        ]
