"""Replication records: rules with their remote side and filters (executions and their tasks
are the shared `Execution` / `ExecutionTask` of kind `replication`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Direction = Literal["push", "pull"]
Trigger = Literal["event", "schedule", "manual"]
RuleStatus = Literal["inactive", "active"]
RUN_STATUSES = ("pending", "running", "succeeded", "failed", "stopped")


@dataclass(frozen=True, slots=True)
class Remote:
    """The other side. The secret is never part of a record shown back: `has_password`."""

    url: str
    registry: str
    """The registry (moorage) or namespace (any OCI registry) there; "" for the root."""
    username: str | None
    has_password: bool
    verify_tls: bool = True


@dataclass(frozen=True, slots=True)
class Filter:
    """A doublestar pattern (the cleanup selectors' grammar) and whether it includes or
    excludes what it matches; pattern "**" with include selects everything."""

    pattern: str = "**"
    include: bool = True


@dataclass(frozen=True, slots=True)
class ReplicationRule:
    id: int
    registry_id: int
    registry: str
    name: str
    direction: Direction
    remote: Remote
    image_filter: Filter
    tag_filter: Filter
    trigger: Trigger
    cron: str | None
    override: bool
    enabled: bool
    status: RuleStatus
    last_error: str | None
    checked_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RuleDraft:
    """What a caller asks a rule to be (create, or a full update). `password` None on an
    update keeps the stored secret; "" clears it."""

    name: str
    direction: Direction
    url: str
    remote_registry: str
    username: str | None
    password: str | None
    verify_tls: bool
    image_filter: Filter
    tag_filter: Filter
    trigger: Trigger
    cron: str | None
    override: bool
    enabled: bool
