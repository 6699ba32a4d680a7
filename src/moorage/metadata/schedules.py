"""Schedules that turn into jobs, advanced by compare-and-set: `ScheduleStore`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from moorage.domain.kernel.model import Schedule
from moorage.metadata import tables as t


def _schedule(row: Any) -> Schedule:
    return Schedule(row.id, row.kind, row.subject, row.cron, row.next_run_at, row.last_run_at)


class SqlScheduleStore:
    """`ScheduleStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get_schedule(self, kind: str, subject: str) -> Schedule | None:
        row = self.conn.execute(
            select(t.schedule).where(t.schedule.c.kind == kind, t.schedule.c.subject == subject)
        ).first()
        return _schedule(row) if row else None

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
        return [_schedule(r) for r in rows]

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
