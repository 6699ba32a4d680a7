"""Replication runs: checking a rule's other side, and copying what it selects.

A run (manual or scheduled) lists what the rule selects at the source now, then copies it
artifact by artifact — a task per artifact with its log — and records the counts as it
goes; it stops between artifacts when asked. A run restarted after its worker died starts
over: its tasks are cleared, and what already reached the destination is skipped by the
copy. An event run copies one pushed tag as the source has it when the run starts, and
once more if the tag moved while it copied, so the newest state is the one left behind.
Every run's end is a REPLICATION event for webhooks, in the transaction that records it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moorage.domain.jobs.specs import JobSpec
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.errors import DomainError
from moorage.domain.kernel.model import Execution, Schedule
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.replication import rules
from moorage.domain.replication.endpoints import Endpoint, EndpointError
from moorage.domain.replication.model import ReplicationRule, RuleStatus
from moorage.domain.replication.ports import (
    Copier,
    CopyArtifact,
    EndpointFactory,
    ReplicationTx,
    SecretBox,
)
from moorage.domain.replication.triggers import EVENT_JOB
from moorage.domain.webhooks.events import record_event
from moorage.domain.webhooks.payloads import EventType

log = logging.getLogger("moorage.replication")

KIND = "replication"
"""The execution and schedule kind of replication runs (a schedule's subject: the rule id)."""
JOB_TIMEOUT_SECONDS = 6 * 3600
RUN_JOB = JobSpec(
    "replication_run",
    max_attempts=3,
    timeout_seconds=JOB_TIMEOUT_SECONDS,
    dedupe_on=("execution_id",),
)
"""A queued manual or scheduled run (payload: execution_id); the handler is
`ReplicationRunner.run`."""
CHECK_JOB = JobSpec(
    "replication_check",
    max_attempts=3,
    timeout_seconds=120,
    backoff_base_seconds=10,
    dedupe_on=("rule_id",),
    dedupe_while_running=False,  # a change during a check is checked again
)
"""A check of a rule's other side (payload: rule_id), queued when the rule is created or
its remote changes; the handler is `ReplicationRunner.check`."""
ACTIVE = ("pending", "running")
FINISHED = ("succeeded", "failed", "stopped")
EVENT_ROUNDS = 3  # copies of a moving tag in one event run; later pushes have their own
COUNT_KEYS = ("total", "succeeded", "failed", "skipped", "in_progress", "bytes")


def new_counts() -> dict[str, int]:
    return dict.fromkeys(COUNT_KEYS, 0)


def active_run(store: ReplicationTx, rule: ReplicationRule, now: datetime) -> Execution | None:
    """The rule's pending or running manual or scheduled run, unless stale (older than a
    run may take: its worker died for good). Copies of pushed tags run beside them: each
    copy is idempotent, and a push must never wait for a run."""
    since = now - timedelta(seconds=JOB_TIMEOUT_SECONDS)
    recent, _ = store.executions.list_executions(KIND, rule.registry_id, 0, 50, rule_id=rule.id)
    return next(
        (e for e in recent if e.status in ACTIVE and e.trigger != "event" and e.created_at > since),
        None,
    )


def queue_run(
    store: ReplicationTx, rule: ReplicationRule, trigger: str, now: datetime
) -> Execution:
    """A pending run of the rule and its job, in the caller's transaction."""
    execution = store.executions.create_execution(
        KIND, rule.registry_id, trigger, False, now, rule_id=rule.id, status="pending"
    )
    RUN_JOB.enqueue(store.jobs, {"execution_id": execution.id}, now)
    return execution


@dataclass(frozen=True, slots=True)
class _Loaded:
    rule: ReplicationRule
    secret: bytes | None


@dataclass(frozen=True, slots=True)
class _Sides:
    """The two endpoints of one run, and the copy it uses for each artifact."""

    source: Endpoint
    destination: Endpoint
    copy: CopyArtifact


def _load_in(store: ReplicationTx, rule_id: int) -> _Loaded | None:
    rule = store.replication.get_rule(rule_id)
    if rule is None:
        return None
    return _Loaded(rule, store.replication.rule_secret(rule_id))


class ReplicationRunner:
    """Carries out checks and runs (the job handlers), and fires rules' schedules."""

    def __init__(
        self,
        uow: UnitOfWork[ReplicationTx],
        endpoints: EndpointFactory,
        copier: Copier,
        box: SecretBox,
        blocking: Blocking,
        clock: Clock = utcnow,
    ) -> None:
        self._uow = uow
        self._endpoints = endpoints
        self._copier = copier
        self._box = box
        self._blocking = blocking
        self._clock = clock

    # the other side ---------------------------------------------------------------------

    def _load(self, rule_id: int) -> _Loaded | None:
        with self._uow() as store:
            return _load_in(store, rule_id)

    def _remote(self, loaded: _Loaded) -> Endpoint:
        password = None
        if loaded.secret is not None:
            try:
                password = self._box.open(loaded.secret)
            except ValueError:
                raise EndpointError(
                    "the stored password cannot be decrypted with this deployment's secret "
                    "key (was secret_key changed?); enter the password again"
                ) from None
        return self._endpoints.remote(loaded.rule.remote, password)

    @asynccontextmanager
    async def _sides(self, loaded: _Loaded) -> AsyncIterator[_Sides]:
        local = self._endpoints.local(loaded.rule.registry)
        remote = await self._blocking.run(self._remote, loaded)  # may resolve its name
        try:
            if loaded.rule.direction == "push":
                yield _Sides(local, remote, self._copier())
            else:
                yield _Sides(remote, local, self._copier())
        finally:
            await self._endpoints.release(remote)
            await self._endpoints.release(local)

    async def check(self, rule_id: int) -> None:
        """Ask the other side whether it answers with working credentials and has the
        registry; the rule becomes active, or inactive with the reason."""
        loaded = await self._blocking.read(self._load, rule_id)
        if loaded is None:
            return
        error: str | None = None
        try:
            remote = await self._blocking.run(self._remote, loaded)  # may resolve its name
            try:
                await remote.check()
            finally:
                await self._endpoints.release(remote)
        except (EndpointError, DomainError) as exc:
            error = str(exc) or type(exc).__name__
        await self._blocking.run(self._set_status, rule_id, error)

    def _set_status(self, rule_id: int, error: str | None) -> None:
        status: RuleStatus = "inactive" if error else "active"
        with self._uow(write=True) as store:
            store.replication.set_rule_status(rule_id, status, error, self._clock())

    # manual and scheduled runs ---------------------------------------------------------

    def fire_schedule(self, store: ReplicationTx, schedule: Schedule, now: datetime) -> None:
        """The scheduler's trigger: a run of the rule the schedule names, unless one is
        still under way."""
        rule = store.replication.get_rule(int(schedule.subject))
        if rule is None:  # deleted with its registry: the schedule goes too
            store.schedules.delete_schedule(KIND, schedule.subject)
            return
        if not rule.enabled or rule.trigger != "schedule":
            return
        active = active_run(store, rule, now)
        if active is not None:
            log.warning(
                "scheduled replication of rule %d skipped: run %d is still %s",
                rule.id,
                active.id,
                active.status,
            )
            return
        queue_run(store, rule, "schedule", now)

    def _start(self, execution_id: int) -> tuple[Execution, _Loaded] | None:
        with self._uow(write=True) as store:
            execution = store.executions.get_execution(execution_id)
            if execution is None or execution.status in FINISHED or execution.rule_id is None:
                return None
            loaded = _load_in(store, execution.rule_id)
            if loaded is None:
                return None
            store.executions.clear_execution_tasks(execution_id)
            store.executions.update_execution(
                execution_id, status="running", started_at=self._clock(), counts=new_counts()
            )
            return execution, loaded

    def abandon(self, execution_id: int, reason: str) -> None:
        """Close as failed a run whose job was given up (its workers died, or it failed
        every attempt), so it does not show as running and hold back the rule's next run."""
        with self._uow(write=True) as store:
            execution = store.executions.get_execution(execution_id)
            if execution is None or execution.status in FINISHED:
                return
            counts = {**execution.counts, "in_progress": 0}
            store.executions.update_execution(
                execution_id,
                status="failed",
                counts=counts,
                error=reason,
                finished_at=self._clock(),
            )

    async def run(self, execution_id: int) -> None:
        """Carry out a queued run (the job handler). Safe to repeat: it starts over."""
        started = await self._blocking.run(self._start, execution_id)
        if started is None:
            return
        execution, loaded = started
        counts = new_counts()
        try:
            async with self._sides(loaded) as sides:
                plan = await self._plan(loaded.rule, sides.source)
                counts["total"] = counts["in_progress"] = len(plan)
                await self._blocking.run(self._save_counts, execution.id, counts)
                for repository, tag in plan:
                    if await self._blocking.read(self._stopped, execution.id):
                        break
                    await self._copy_one(execution, loaded.rule, sides, repository, tag, counts)
        except (EndpointError, DomainError) as exc:
            await self._finish(execution, loaded.rule, counts, str(exc) or type(exc).__name__)
            return
        except Exception as exc:
            log.exception("replication run %d failed", execution_id)
            await self._finish(execution, loaded.rule, counts, f"{type(exc).__name__}: {exc}")
            raise
        await self._finish(execution, loaded.rule, counts, None)

    async def _plan(self, rule: ReplicationRule, source: Endpoint) -> list[tuple[str, str]]:
        """Every (image, tag) at the source the rule selects, in order."""
        plan: list[tuple[str, str]] = []
        for repository in await source.list_repositories():
            if rules.selects_image(rule, repository):
                tags = await source.list_tags(repository)
                plan.extend((repository, tag) for tag in tags if rules.selects_tag(rule, tag))
        return plan

    def _stopped(self, execution_id: int) -> bool:
        with self._uow() as store:
            found = store.executions.get_execution(execution_id)
        return found is None or found.status == "stopped"

    def _save_counts(self, execution_id: int, counts: dict[str, int]) -> None:
        with self._uow(write=True) as store:
            store.executions.update_execution(execution_id, counts=dict(counts))

    # one artifact ---------------------------------------------------------------------

    async def _copy_one(
        self,
        execution: Execution,
        rule: ReplicationRule,
        sides: _Sides,
        repository: str,
        reference: str,
        counts: dict[str, int],
    ) -> str | None:
        """Copy one artifact and record its task; returns the copy's status."""
        lines: list[dict[str, Any]] = []
        write = self._log_to(lines)
        started = self._clock()
        error: str | None = None
        try:
            result = await sides.copy(
                sides.source,
                sides.destination,
                repository,
                repository,
                reference,
                override=rule.override,
                log=write,
            )
            status = "succeeded" if result.status == "copied" else "skipped"
            counts["bytes"] += result.bytes_sent
        except Exception as exc:  # one artifact's failure does not end the run
            if not isinstance(exc, (EndpointError, DomainError)):
                log.exception("replication of %s:%s failed", repository, reference)
            status, error = "failed", str(exc) or type(exc).__name__
            write(f"failed: {error}")
        counts[status] += 1
        counts["in_progress"] = max(0, counts["in_progress"] - 1)
        subject = f"{repository}@{reference}" if ":" in reference else f"{repository}:{reference}"
        await self._blocking.run(
            self._record_task, execution.id, subject, status, lines, error, started, counts
        )
        return status

    def _log_to(self, lines: list[dict[str, Any]]) -> Callable[[str], None]:
        def write(message: str) -> None:
            lines.append({"time": self._clock().isoformat(), "message": message})

        return write

    def _record_task(
        self,
        execution_id: int,
        subject: str,
        status: str,
        lines: list[dict[str, Any]],
        error: str | None,
        started: datetime,
        counts: dict[str, int],
    ) -> None:
        with self._uow(write=True) as store:
            store.executions.add_execution_task(
                execution_id, subject, status, lines, error, started, self._clock()
            )
            store.executions.update_execution(execution_id, counts=dict(counts))

    # the end ---------------------------------------------------------------------------

    async def _finish(
        self,
        execution: Execution,
        rule: ReplicationRule,
        counts: dict[str, int],
        error: str | None,
    ) -> None:
        await self._blocking.run(self._close, execution, rule, counts, error)

    def _close(
        self,
        execution: Execution,
        rule: ReplicationRule,
        counts: dict[str, int],
        error: str | None,
    ) -> None:
        """Close the run (a stopped one stays stopped) and record its event, together."""
        now = self._clock()
        counts = {**counts, "in_progress": 0}
        with self._uow(write=True) as store:
            current = store.executions.get_execution(execution.id)
            if current is None:  # the rule was deleted while it ran
                return
            if current.status == "stopped":
                status = "stopped"
            else:
                status = "failed" if error or counts["failed"] else "succeeded"
            store.executions.update_execution(
                execution.id, status=status, counts=counts, error=error, finished_at=now
            )
            record_replication_event(store, current, rule, status, counts, now)

    # event runs ------------------------------------------------------------------------

    def _start_event(self, rule: ReplicationRule) -> Execution:
        now = self._clock()
        with self._uow(write=True) as store:
            self._close_dead_copies(store, rule, now)
            execution = store.executions.create_execution(
                KIND, rule.registry_id, "event", False, now, rule_id=rule.id, status="running"
            )
            store.executions.update_execution(execution.id, started_at=now, counts=new_counts())
            return execution

    @staticmethod
    def _close_dead_copies(store: ReplicationTx, rule: ReplicationRule, now: datetime) -> None:
        """An event copy still running after its job's time limit lost its worker (the job
        was retried as a copy of its own): it is closed as failed, not left running."""
        since = now - timedelta(seconds=EVENT_JOB.timeout_seconds)
        recent, _ = store.executions.list_executions(KIND, rule.registry_id, 0, 50, rule_id=rule.id)
        for dead in recent:
            if dead.trigger == "event" and dead.status == "running" and dead.created_at < since:
                store.executions.update_execution(
                    dead.id,
                    status="failed",
                    error="its worker stopped before the copy ended; the copy was retried",
                    finished_at=now,
                )

    async def _still_pushed(self, rule: ReplicationRule, repository: str, tag: str) -> bool:
        """Whether the tag is still here (deleted since the push: deletions are not copied)."""
        local = self._endpoints.local(rule.registry)
        try:
            return await local.manifest_digest(repository, tag) is not None
        finally:
            await self._endpoints.release(local)

    async def run_event(self, rule_id: int, repository: str, tag: str) -> None:
        """Copy a pushed tag as the source has it now (the job handler of pushes)."""
        loaded = await self._blocking.read(self._load, rule_id)
        if loaded is None:
            return
        rule = loaded.rule
        if not rule.enabled or rule.trigger != "event" or rule.direction != "push":
            return
        if not await self._still_pushed(rule, repository, tag):
            return
        execution = await self._blocking.run(self._start_event, rule)
        counts = new_counts()
        error: str | None = None
        try:
            async with self._sides(loaded) as sides:
                await self._copy_while_moving(execution, rule, sides, repository, tag, counts)
        except (EndpointError, DomainError) as exc:
            error = str(exc) or type(exc).__name__
        await self._finish(execution, rule, counts, error)

    async def _copy_while_moving(
        self,
        execution: Execution,
        rule: ReplicationRule,
        sides: _Sides,
        repository: str,
        tag: str,
        counts: dict[str, int],
    ) -> None:
        """Copy the tag; copy again while it moved during the copy, so that of two copies
        of one tag running at once, the one writing last leaves the newest state."""
        for _ in range(EVENT_ROUNDS):
            before = await sides.source.manifest_digest(repository, tag)
            if before is None:  # deleted meanwhile: deletions are not replicated
                return
            counts["total"] += 1
            counts["in_progress"] += 1
            status = await self._copy_one(execution, rule, sides, repository, tag, counts)
            if status == "failed":
                return
            if await sides.source.manifest_digest(repository, tag) == before:
                return


def record_replication_event(
    store: ReplicationTx,
    execution: Execution,
    rule: ReplicationRule,
    status: str,
    counts: dict[str, int],
    now: datetime,
) -> None:
    """A finished run as a REPLICATION event (Harbor's `replication` object, plus counts);
    Harbor names the trigger as the operator."""
    remote = {
        "registry_name": rule.remote.registry,
        "endpoint": rule.remote.url,
        "namespace": rule.remote.registry,
    }
    local = {"registry_name": rule.registry, "endpoint": "", "namespace": rule.registry}
    source, destination = (local, remote) if rule.direction == "push" else (remote, local)
    data = {
        "registry": rule.registry,
        "execution_id": execution.id,
        "status": status,
        "trigger": execution.trigger,
        "counts": dict(counts),
        "replication": {
            "execution_id": execution.id,
            "policy_name": rule.name,
            "policy_id": rule.id,
            "job_status": status,
            "trigger_type": execution.trigger.upper(),
            "override_mode": rule.override,
            "execution_timestamp": int(now.timestamp()),
            "src_resource": source,
            "dest_resource": destination,
            "counts": dict(counts),
        },
    }
    record_event(store, rule.registry_id, EventType.REPLICATION, execution.trigger, data, now)
