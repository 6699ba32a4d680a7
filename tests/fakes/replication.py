"""Replication in memory: the rule store over `replication_rule` rows, a factory of
endpoints over registries in memory (`tests.fakes.endpoints.MemoryEndpoint`), and a box
that "seals" secrets recognisably, for tests of rules, checks and runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from moorage.domain.replication.endpoints import EndpointAuthError, EndpointError
from moorage.domain.replication.errors import RuleNameTaken
from moorage.domain.replication.model import Filter, Remote, ReplicationRule
from tests.fakes.endpoints import MemoryEndpoint
from tests.fakes.rows import UniqueViolation, delete_rows, insert_row, select_rows, update_row
from tests.fakes.state import MemoryState, Row

if TYPE_CHECKING:
    from moorage.domain.replication.endpoints import Endpoint
    from moorage.domain.replication.ports import ReplicationStore

RULE = "replication_rule"
REGISTRY = "registry"


def _rule(state: MemoryState, row: Row) -> ReplicationRule:
    return ReplicationRule(
        id=row["id"],
        registry_id=row["registry_id"],
        registry=state.table(REGISTRY)[row["registry_id"]]["name"],
        name=row["name"],
        direction=row["direction"],
        remote=Remote(
            url=row["url"],
            registry=row["remote_registry"],
            username=row["username"],
            has_password=row["secret"] is not None,
            verify_tls=row["verify_tls"],
        ),
        image_filter=Filter(row["image_pattern"], row["image_include"]),
        tag_filter=Filter(row["tag_pattern"], row["tag_include"]),
        trigger=row["trigger"],
        cron=row["cron"],
        override=row["override"],
        enabled=row["enabled"],
        status=row["status"],
        last_error=row["last_error"],
        checked_at=row["checked_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class MemoryReplicationStore:
    """`ReplicationStore` over the `replication_rule` rows."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def _sorted(self, rows: list[Row]) -> list[ReplicationRule]:
        return [_rule(self.state, r) for r in sorted(rows, key=lambda r: r["id"])]

    def add_rule(self, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        row: Row = {
            **values,
            "registry_id": registry_id,
            "status": "inactive",
            "created_at": now,
            "updated_at": now,
        }
        try:
            return int(insert_row(self.state, RULE, row)["id"])
        except UniqueViolation:
            raise RuleNameTaken(values["name"]) from None

    def get_rule(self, rule_id: int) -> ReplicationRule | None:
        row = self.state.table(RULE).get(rule_id)
        return _rule(self.state, row) if row else None

    def list_rules(
        self, registry_id: int, offset: int, limit: int
    ) -> tuple[list[ReplicationRule], int]:
        rules = self._sorted(select_rows(self.state, RULE, registry_id=registry_id))
        return rules[offset : offset + limit], len(rules)

    def update_rule(self, rule_id: int, values: dict[str, Any], now: datetime) -> bool:
        try:
            return update_row(self.state, RULE, rule_id, {**values, "updated_at": now})
        except UniqueViolation:
            raise RuleNameTaken(str(values.get("name"))) from None

    def delete_rule(self, rule_id: int) -> bool:
        return bool(delete_rows(self.state, RULE, [rule_id]))

    def rule_secret(self, rule_id: int) -> bytes | None:
        row = self.state.table(RULE).get(rule_id)
        return None if row is None or row["secret"] is None else bytes(row["secret"])

    def set_rule_status(
        self, rule_id: int, status: str, last_error: str | None, checked_at: datetime
    ) -> bool:
        values: Row = {"status": status, "last_error": last_error, "checked_at": checked_at}
        return update_row(self.state, RULE, rule_id, values)

    def event_rules(self, registry_id: int) -> list[ReplicationRule]:
        rows = select_rows(self.state, RULE, registry_id=registry_id, trigger="event", enabled=True)
        return self._sorted([r for r in rows if r["direction"] == "push"])


# endpoints ------------------------------------------------------------------------------------


class RefusingEndpoint(MemoryEndpoint):
    """A remote that refuses the credentials it was given, on every call."""

    def _refuse(self) -> EndpointAuthError:
        return EndpointAuthError("unauthorized: the credentials were refused")

    async def check(self) -> None:
        raise self._refuse()

    async def list_repositories(self) -> list[str]:
        raise self._refuse()

    async def manifest_digest(self, repository: str, reference: str) -> str | None:
        raise self._refuse()


@dataclass
class MemoryEndpoints:
    """`EndpointFactory` over registries in memory (`tests.fakes.endpoints`): this
    deployment's by name (`local_registries`), others by URL (`remotes`; an unknown URL
    fails as an unreachable host does). A URL in `auth` wants that password; with another
    the remote refuses. `passwords` records what each remote was built with."""

    local_registries: dict[str, MemoryEndpoint] = field(default_factory=dict)
    remotes: dict[str, MemoryEndpoint] = field(default_factory=dict)
    auth: dict[str, str] = field(default_factory=dict)
    passwords: list[str | None] = field(default_factory=list)
    released: int = 0

    def local(self, registry: str) -> MemoryEndpoint:
        return self.local_registries.setdefault(registry, MemoryEndpoint())

    def remote(self, remote: Remote, password: str | None) -> MemoryEndpoint:
        self.passwords.append(password)
        found = self.remotes.get(remote.url)
        if found is None:
            raise EndpointError(f"cannot connect to {remote.url}: connection refused")
        wanted = self.auth.get(remote.url)
        if wanted is not None and password != wanted:
            return RefusingEndpoint()
        return found

    async def release(self, endpoint: Endpoint) -> None:
        self.released += 1


class PlainSecretBox:
    """`SecretBox` that only marks and reverses: enough to tell sealed from plain."""

    def seal(self, secret: str) -> bytes:
        return b"sealed:" + secret.encode()[::-1]

    def open(self, sealed: bytes) -> str:
        if not sealed.startswith(b"sealed:"):
            raise ValueError("not sealed with this key")
        return sealed.removeprefix(b"sealed:")[::-1].decode()


if TYPE_CHECKING:  # structurally the role ports (checked by mypy)
    from moorage.domain.replication.ports import EndpointFactory, SecretBox

    _rules: ReplicationStore = MemoryReplicationStore(MemoryState())
    _factory: EndpointFactory = MemoryEndpoints()
    _box: SecretBox = PlainSecretBox()
