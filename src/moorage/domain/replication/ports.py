"""Role ports of replication: the rule store, the endpoints a run copies between, the copy
itself, and the box that seals remote passwords at rest.

Executions and their tasks are the shared `ExecutionStore`'s (kind `replication`, each linked
to its rule by `rule_id`); schedules the shared `ScheduleStore`'s (kind `replication`, the
rule id as subject).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from moorage.domain.jobs.ports import JobsTx
from moorage.domain.webhooks.ports import WebhookTx

if TYPE_CHECKING:
    from moorage.domain.replication.endpoints import Endpoint
    from moorage.domain.replication.model import Remote, ReplicationRule, RuleStatus


class ReplicationStore(Protocol):
    """Replication rules of registries, each with its sealed remote secret.

    `values` hold the columns of a rule as `rules.rule_values` makes them: name, direction,
    url, remote_registry, username, secret (sealed bytes or None), verify_tls,
    image_pattern, image_include, tag_pattern, tag_include, trigger, cron, override,
    enabled."""

    def add_rule(self, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        """Insert an inactive rule; `RuleNameTaken` when the registry has one so named."""

    def get_rule(self, rule_id: int) -> ReplicationRule | None: ...

    def list_rules(
        self, registry_id: int, offset: int, limit: int
    ) -> tuple[list[ReplicationRule], int]:
        """A page of the registry's rules by id, and how many there are in all."""

    def update_rule(self, rule_id: int, values: dict[str, Any], now: datetime) -> bool:
        """Change the given columns (and `updated_at`); `RuleNameTaken` on a name clash."""

    def delete_rule(self, rule_id: int) -> bool:
        """Delete the rule with its executions (their tasks go with them)."""

    def rule_secret(self, rule_id: int) -> bytes | None:
        """The sealed remote password, or None when the rule has none."""

    def set_rule_status(
        self, rule_id: int, status: RuleStatus, last_error: str | None, checked_at: datetime
    ) -> bool: ...

    def event_rules(self, registry_id: int) -> list[ReplicationRule]:
        """The registry's enabled push rules triggered by each push (read on every push)."""


class ReplicationRoles(Protocol):
    """Replication's own role, as the whole transaction offers it."""

    @property
    def replication(self) -> ReplicationStore: ...


class ReplicationTx(ReplicationRoles, WebhookTx, JobsTx, Protocol):
    """What replication uses: its rules, registries, the run history, the job queue and
    schedules, and webhook events."""


class EndpointFactory(Protocol):
    """Builds the two sides of a copy (the composition root knows the adapters)."""

    def local(self, registry: str) -> Endpoint:
        """This deployment's registry `registry`."""

    def remote(self, remote: Remote, password: str | None) -> Endpoint:
        """The rule's other side; refuses a private address unless the operator allows it."""

    async def release(self, endpoint: Endpoint) -> None:
        """Let go of what an endpoint holds (its connections) once a run is done with it."""


class Copied(Protocol):
    """What one copy did: "copied", "skipped" (the destination has it already) or "kept"
    (the tag there names another digest, and the rule does not override); bytes sent."""

    @property
    def status(self) -> str: ...

    @property
    def bytes_sent(self) -> int: ...


CopyLog = Callable[[str], None]
"""Where a copy writes its log lines (each becomes a line of the artifact's task)."""


class CopyArtifact(Protocol):
    """Copies one artifact (by tag or digest) with everything it names, tag written last."""

    async def __call__(
        self,
        source: Endpoint,
        destination: Endpoint,
        source_repo: str,
        destination_repo: str,
        reference: str,
        *,
        override: bool,
        log: CopyLog,
    ) -> Copied: ...


Copier = Callable[[], CopyArtifact]
"""Makes the copy one run uses for all its artifacts (so it may remember, across them,
where blobs already are at the destination and mount them instead of sending)."""


class SecretBox(Protocol):
    """Seals secrets stored at rest (remote passwords) with the deployment's key."""

    def seal(self, secret: str) -> bytes: ...

    def open(self, sealed: bytes) -> str:
        """The secret; raises `ValueError` when the key cannot open it (another key)."""
