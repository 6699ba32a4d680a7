"""Executions (runs of background work) and their tasks, the history: `ExecutionStore`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from moorage.domain.kernel.model import Execution, ExecutionTask
from moorage.metadata import tables as t
from moorage.metadata.sql import new_id


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
        rule_id=row.rule_id,
    )


class SqlExecutionStore:
    """`ExecutionStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

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
        result = self.conn.execute(
            insert(t.execution).values(
                kind=kind,
                registry_id=registry_id,
                trigger=trigger,
                dry_run=dry_run,
                status=status,
                counts={},
                created_at=now,
                rule_id=rule_id,
            )
        )
        found = self.get_execution(new_id(result))
        assert found is not None
        return found

    def get_execution(self, execution_id: int) -> Execution | None:
        row = self.conn.execute(select(t.execution).where(t.execution.c.id == execution_id)).first()
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
        where = [t.execution.c.kind == kind]
        if registry_id is not None:
            where.append(t.execution.c.registry_id == registry_id)
        if rule_id is not None:
            where.append(t.execution.c.rule_id == rule_id)
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
        return [_execution(r) for r in rows], int(total)

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
        return new_id(result)

    def clear_execution_tasks(self, execution_id: int) -> None:
        self.conn.execute(
            delete(t.execution_task).where(t.execution_task.c.execution_id == execution_id)
        )

    def list_execution_tasks(
        self, execution_id: int, offset: int = 0, limit: int | None = None
    ) -> list[ExecutionTask]:
        rows = self.conn.execute(
            select(t.execution_task)
            .where(t.execution_task.c.execution_id == execution_id)
            .order_by(t.execution_task.c.id)
            .offset(offset)
            .limit(limit)
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

    def count_execution_tasks(self, execution_id: int) -> int:
        query = (
            select(func.count())
            .select_from(t.execution_task)
            .where(t.execution_task.c.execution_id == execution_id)
        )
        return int(self.conn.execute(query).scalar_one())
