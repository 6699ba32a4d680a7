"""Replication rules of a registry and their runs: what the REST API, the CLI and the
console call.

A rule is created inactive, and a check of its other side is queued with it; changing the
other side (address, registry there, user, password, TLS) makes it inactive again until
the queued check passes. `refresh` checks at once. The password is sealed before it is
stored and is never answered back. A scheduled rule has one schedule (kind `replication`,
the rule id as subject), kept in step with the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.errors import RefusedAddress
from moorage.domain.kernel.lookups import existing_registry
from moorage.domain.kernel.model import Execution, ExecutionTask, Page
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.policies.schedules import parse_cron
from moorage.domain.replication import rules
from moorage.domain.replication.errors import RuleNotFound, RunActive, RunNotFound
from moorage.domain.replication.model import ReplicationRule, RuleDraft
from moorage.domain.replication.ports import ReplicationTx, SecretBox
from moorage.domain.replication.runs import (
    ACTIVE,
    CHECK_JOB,
    KIND,
    ReplicationRunner,
    active_run,
    queue_run,
    record_replication_event,
)

AddressCheck = Callable[[str], None]
"""Raises `RefusedAddress` for a URL whose host moorage does not call (may resolve names)."""


class ReplicationService:
    def __init__(
        self,
        uow: UnitOfWork[ReplicationTx],
        runner: ReplicationRunner,
        box: SecretBox,
        blocking: Blocking,
        clock: Clock = utcnow,
        *,
        address_check: AddressCheck | None = None,
    ) -> None:
        self._uow = uow
        self._runner = runner
        self._box = box
        self._blocking = blocking
        self._clock = clock
        self._address_check = address_check

    # rules ---------------------------------------------------------------------------

    def list_rules(self, registry: str, offset: int, limit: int) -> Page[ReplicationRule]:
        with self._uow() as store:
            registry_id = existing_registry(store, registry).id
            items, total = store.replication.list_rules(registry_id, offset, limit)
        return Page(items, total)

    def get_rule(self, registry: str, rule_id: int) -> ReplicationRule:
        with self._uow() as store:
            return self._rule(store, registry, rule_id)

    @staticmethod
    def _rule(store: ReplicationTx, registry: str, rule_id: int) -> ReplicationRule:
        registry_id = existing_registry(store, registry).id
        rule = store.replication.get_rule(rule_id)
        if rule is None or rule.registry_id != registry_id:
            raise RuleNotFound(rule_id)
        return rule

    def _valid(self, draft: RuleDraft) -> dict[str, Any]:
        """The draft's columns; a remote at a refused address is refused here already (and
        checked again on every connection)."""
        values = rules.rule_values(draft)
        if self._address_check is not None:
            try:
                self._address_check(values["url"])
            except RefusedAddress as exc:
                raise RefusedAddress(str(exc), "remote.url") from None
        return values

    def _sealed(self, password: str | None) -> bytes | None:
        return self._box.seal(password) if password else None

    def create_rule(self, registry: str, draft: RuleDraft) -> ReplicationRule:
        """A new rule, inactive, with its check queued."""
        values = self._valid(draft)
        values["secret"] = self._sealed(draft.password)
        now = self._clock()
        with self._uow(write=True) as store:
            registry_id = existing_registry(store, registry).id
            rule_id = store.replication.add_rule(registry_id, values, now)
            rule = store.replication.get_rule(rule_id)
            assert rule is not None
            self._schedule(store, rule, now)
            CHECK_JOB.enqueue(store.jobs, {"rule_id": rule_id}, now)
            return rule

    def update_rule(self, registry: str, rule_id: int, draft: RuleDraft) -> ReplicationRule:
        """Replace the rule's fields; a password of None keeps the stored one, "" removes
        it. A changed other side makes the rule inactive until its queued check passes."""
        values = self._valid(draft)
        if draft.password is not None:
            values["secret"] = self._sealed(draft.password)
        now = self._clock()
        with self._uow(write=True) as store:
            before = self._rule(store, registry, rule_id)
            changed = rules.remote_changed(before, values, draft.password is not None)
            store.replication.update_rule(rule_id, values, now)
            if changed:
                store.replication.set_rule_status(rule_id, "inactive", None, now)
                CHECK_JOB.enqueue(store.jobs, {"rule_id": rule_id}, now)
            rule = store.replication.get_rule(rule_id)
            assert rule is not None
            self._schedule(store, rule, now)
            return rule

    def delete_rule(self, registry: str, rule_id: int) -> None:
        """Delete the rule with its history; refused while a run of it is under way."""
        now = self._clock()
        with self._uow(write=True) as store:
            rule = self._rule(store, registry, rule_id)
            active = active_run(store, rule, now)
            if active is not None:
                raise RunActive(active.id, active.status)
            store.schedules.delete_schedule(KIND, str(rule_id))
            store.replication.delete_rule(rule_id)

    @staticmethod
    def _schedule(store: ReplicationTx, rule: ReplicationRule, now: datetime) -> None:
        """Keep the rule's one schedule in step with it: there exactly while it is an
        enabled scheduled rule."""
        if rule.trigger == "schedule" and rule.enabled and rule.cron:
            cron = parse_cron(rule.cron)
            current = store.schedules.get_schedule(KIND, str(rule.id))
            if current is None or current.cron != str(cron):
                store.schedules.put_schedule(
                    KIND, str(rule.id), str(cron), cron.next_after(now), now
                )
        else:
            store.schedules.delete_schedule(KIND, str(rule.id))

    async def refresh(self, registry: str, rule_id: int) -> ReplicationRule:
        """Check the other side now; the rule with its new status and last error."""
        rule = await self._blocking.read(self.get_rule, registry, rule_id)
        await self._runner.check(rule.id)
        return await self._blocking.read(self.get_rule, registry, rule_id)

    # runs ----------------------------------------------------------------------------

    def start_run(self, registry: str, rule_id: int, operator: str | None) -> Execution:
        """A manual run of everything the rule selects now: pending, its job queued.
        Refused (Conflict) while another run of the rule is pending or running."""
        now = self._clock()
        with self._uow(write=True) as store:
            rule = self._rule(store, registry, rule_id)
            active = active_run(store, rule, now)
            if active is not None:
                raise RunActive(active.id, active.status)
            return queue_run(store, rule, "manual", now)

    def list_runs(self, registry: str, rule_id: int, offset: int, limit: int) -> Page[Execution]:
        with self._uow() as store:
            rule = self._rule(store, registry, rule_id)
            items, total = store.executions.list_executions(
                KIND, rule.registry_id, offset, limit, rule_id=rule.id
            )
        return Page(items, total)

    def get_run(self, registry: str, run_id: int) -> Execution:
        with self._uow() as store:
            return self._run(store, registry, run_id)

    @staticmethod
    def _run(store: ReplicationTx, registry: str, run_id: int) -> Execution:
        registry_id = existing_registry(store, registry).id
        found = store.executions.get_execution(run_id)
        if found is None or found.kind != KIND or found.registry_id != registry_id:
            raise RunNotFound(run_id)
        return found

    def list_tasks(
        self, registry: str, run_id: int, offset: int, limit: int
    ) -> Page[ExecutionTask]:
        with self._uow() as store:
            self._run(store, registry, run_id)
            items = store.executions.list_execution_tasks(run_id, offset, limit)
            total = store.executions.count_execution_tasks(run_id)
        return Page(items, total)

    def stop_run(self, registry: str, run_id: int) -> Execution:
        """Stop a run between artifacts (it is "stopped" at once; the artifact being copied
        finishes). A pending run never starts; a finished one is left as it is."""
        now = self._clock()
        with self._uow(write=True) as store:
            run = self._run(store, registry, run_id)
            if run.status not in ACTIVE:
                return run
            values: dict[str, Any] = {"status": "stopped", "finished_at": now}
            store.executions.update_execution(run_id, **values)
            if run.status == "pending" and run.rule_id is not None:
                # no run will close it: its end is recorded here
                rule = store.replication.get_rule(run.rule_id)
                if rule is not None:
                    record_replication_event(store, run, rule, "stopped", run.counts, now)
            stopped = store.executions.get_execution(run_id)
            assert stopped is not None
            return stopped
