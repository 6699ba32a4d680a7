"""Replication rules in the metadata store: `ReplicationStore`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from moorage.domain.kernel.errors import AlreadyExists
from moorage.domain.replication.errors import RuleNameTaken
from moorage.domain.replication.model import Filter, Remote, ReplicationRule, RuleStatus
from moorage.metadata import tables as t
from moorage.metadata.prepared import Prepared
from moorage.metadata.sql import insert_unique, new_id

_RULE = t.replication_rule
# Every column but the sealed secret, which only `rule_secret` reads.
_SHOWN = [c for c in _RULE.c if c.name != "secret"]


def _rule(row: Any) -> ReplicationRule:
    return ReplicationRule(
        id=row.id,
        registry_id=row.registry_id,
        registry=row.registry,
        name=row.name,
        direction=row.direction,
        remote=Remote(
            url=row.url,
            registry=row.remote_registry,
            username=row.username,
            has_password=bool(row.has_password),
            verify_tls=row.verify_tls,
        ),
        image_filter=Filter(row.image_pattern, row.image_include),
        tag_filter=Filter(row.tag_pattern, row.tag_include),
        trigger=row.trigger,
        cron=row.cron,
        override=row.override,
        enabled=row.enabled,
        status=row.status,
        last_error=row.last_error,
        checked_at=row.checked_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _rules() -> Any:
    """Rules with their registry's name and whether they hold a secret."""
    return select(
        *_SHOWN,
        t.registry.c.name.label("registry"),
        _RULE.c.secret.is_not(None).label("has_password"),
    ).join(t.registry, t.registry.c.id == _RULE.c.registry_id)


# Built once at import: every push by tag asks for its registry's event rules.
_EVENT_RULES = Prepared(
    _rules()
    .where(
        _RULE.c.registry_id == bindparam("registry_id"),
        _RULE.c.trigger == "event",
        _RULE.c.enabled.is_(True),
        _RULE.c.direction == "push",
    )
    .order_by(_RULE.c.id)
)


class SqlReplicationStore:
    """`ReplicationStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_rule(self, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        stmt = insert(_RULE).values(
            registry_id=registry_id,
            status="inactive",
            created_at=now,
            updated_at=now,
            **values,
        )
        try:
            return new_id(insert_unique(self.conn, stmt, "replication rule"))
        except AlreadyExists:
            raise RuleNameTaken(values["name"]) from None

    def get_rule(self, rule_id: int) -> ReplicationRule | None:
        row = self.conn.execute(_rules().where(_RULE.c.id == rule_id)).first()
        return _rule(row) if row else None

    def list_rules(
        self, registry_id: int, offset: int, limit: int
    ) -> tuple[list[ReplicationRule], int]:
        where = _RULE.c.registry_id == registry_id
        total = self.conn.execute(select(func.count()).select_from(_RULE).where(where))
        rows = self.conn.execute(
            _rules().where(where).order_by(_RULE.c.id).offset(offset).limit(limit)
        )
        return [_rule(r) for r in rows], int(total.scalar_one())

    def update_rule(self, rule_id: int, values: dict[str, Any], now: datetime) -> bool:
        stmt = update(_RULE).where(_RULE.c.id == rule_id).values(updated_at=now, **values)
        try:
            result = insert_unique(self.conn, stmt, "replication rule")
        except AlreadyExists:
            raise RuleNameTaken(str(values.get("name"))) from None
        return bool(result.rowcount == 1)

    def delete_rule(self, rule_id: int) -> bool:
        # Executions go by ON DELETE CASCADE (their tasks with them).
        return bool(self.conn.execute(delete(_RULE).where(_RULE.c.id == rule_id)).rowcount == 1)

    def rule_secret(self, rule_id: int) -> bytes | None:
        found = self.conn.execute(select(_RULE.c.secret).where(_RULE.c.id == rule_id)).scalar()
        return bytes(found) if found is not None else None

    def set_rule_status(
        self, rule_id: int, status: RuleStatus, last_error: str | None, checked_at: datetime
    ) -> bool:
        result = self.conn.execute(
            update(_RULE)
            .where(_RULE.c.id == rule_id)
            .values(status=status, last_error=last_error, checked_at=checked_at)
        )
        return bool(result.rowcount == 1)

    def event_rules(self, registry_id: int) -> list[ReplicationRule]:
        rows = _EVENT_RULES.rows(self.conn, {"registry_id": registry_id})
        return [_rule(r) for r in rows]
