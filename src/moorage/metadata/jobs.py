"""The durable job queue in the metadata store: `JobQueue`.

Claims are compare-and-swap: a worker reads a few candidates, then moves one to `running`
with an UPDATE that repeats the candidate's condition and its attempt count. Only one
worker's UPDATE can match, on SQLite and PostgreSQL alike, without row locks held across
the job's run (Quay's WorkQueue). A worker that dies leaves a lease that expires, and the
job becomes claimable again: execution is at-least-once, so handlers are idempotent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, insert, or_, select, update

from moorage.domain.kernel.errors import Conflict
from moorage.domain.kernel.model import Job
from moorage.metadata import tables as t
from moorage.metadata.sql import insert_unique, new_id

_CLAIM_CANDIDATES = 8
_CLAIM_ROUNDS = 3


def _claimable(now: datetime) -> Any:
    return or_(
        and_(t.job.c.state == "queued", t.job.c.available_at <= now),
        and_(t.job.c.state == "running", t.job.c.lease_until < now),
    )


def _owned(job_id: int, worker: str) -> Any:
    return and_(t.job.c.id == job_id, t.job.c.claimed_by == worker, t.job.c.state == "running")


class SqlJobQueue:
    """`JobQueue` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

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
        values = {
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
        if dedupe_key is None:
            return new_id(self.conn.execute(insert(t.job).values(**values)))
        with contextlib.suppress(Conflict):  # the same work is already queued
            result = insert_unique(self.conn, insert(t.job).values(**values), "job")
            return new_id(result)
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
                # a key held only while queued lapses now: the same work may queue again
                dedupe_key=case((t.job.c.dedupe_running, t.job.c.dedupe_key), else_=None),
            )
        )
        if claimed.rowcount != 1:
            return None
        row = self.conn.execute(select(t.job).where(t.job.c.id == job_id)).one()
        return Job(row.id, row.kind, dict(row.payload), row.attempts, row.max_attempts)

    def finish_job(self, job_id: int, worker: str, now: datetime) -> bool:
        result = self.conn.execute(
            update(t.job)
            .where(_owned(job_id, worker))
            .values(state="done", finished_at=now, lease_until=None, dedupe_key=None)
        )
        return result.rowcount == 1

    def retry_job(self, job_id: int, worker: str, error: str, available_at: datetime) -> bool:
        result = self.conn.execute(
            update(t.job)
            .where(_owned(job_id, worker))
            .values(
                state="queued", available_at=available_at, lease_until=None, last_error=error[:4000]
            )
        )
        return result.rowcount == 1

    def fail_job(self, job_id: int, worker: str, error: str, now: datetime) -> bool:
        result = self.conn.execute(
            update(t.job)
            .where(_owned(job_id, worker))
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
            update(t.job).where(_owned(job_id, worker)).values(lease_until=until)
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
