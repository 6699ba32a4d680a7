"""Cleanup runs: test runs and real runs, by hand or on a schedule, with their history.

A run snapshots the registry's policies when it starts (a policy changed during a run applies
from the next one), evaluates them with the pure `cleanup.evaluate`, and, unless it is a test
run, deletes each doomed artifact in its own transaction — where protection is checked once
more, so a tag protected after the plan was made still wins. Index children and referrers
(signatures, SBOMs) are not judged on their own: they go with the artifact they belong to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moorage.domain.jobs.specs import JobSpec
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.errors import Conflict, DomainError
from moorage.domain.kernel.lookups import existing_registry
from moorage.domain.kernel.model import (
    CleanupCandidateRow,
    Execution,
    ExecutionTask,
    Page,
    Schedule,
)
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.policies import cleanup
from moorage.domain.policies.errors import ExecutionNotFound
from moorage.domain.policies.ports import ArtifactRemover, PolicyTx
from moorage.domain.policies.protection import ProtectionPolicy
from moorage.domain.policies.schedules import parse_cron
from moorage.domain.policies.service import cleanup_policy, protection_for
from moorage.domain.webhooks.events import record_cleanup_event

log = logging.getLogger("moorage.cleanup")
CLEANUP_SCHEDULE = "cleanup"
"""The schedule (and execution) kind of cleanup runs."""
KIND = CLEANUP_SCHEDULE
JOB_TIMEOUT_SECONDS = 6 * 3600
RUN_JOB = JobSpec(
    "cleanup_run",
    max_attempts=3,
    timeout_seconds=JOB_TIMEOUT_SECONDS,
    dedupe_on=("execution_id",),
)
"""A queued run (payload: execution_id); the handler is `CleanupRunService.run`."""
JOB_KIND = RUN_JOB.kind

Progress = Callable[[int, int, str], None]
"""(images done, images in all, current image) — for progress bars."""


@dataclass(frozen=True, slots=True)
class PolicyNames:
    """The run's policies by id, each described by what it selects (`images 'app/*', tags
    'v*'`): its lines name the policies that way, as they were when the run judged (a policy
    may be changed or deleted afterwards, and its id is global, not a number per registry)."""

    keeping: dict[int, str]
    protecting: dict[int, str]

    @classmethod
    def of(
        cls,
        policies: Iterable[cleanup.CleanupPolicy],
        protection: Iterable[ProtectionPolicy],
    ) -> PolicyNames:
        return cls({p.id: p.describe() for p in policies}, {p.id: p.describe() for p in protection})


@dataclass(frozen=True, slots=True)
class RunDetail:
    execution: Execution
    tasks: list[ExecutionTask]


def _stamp(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _line(
    verdict: cleanup.Verdict,
    outcome: str,
    names: PolicyNames,
    error: str | None = None,
    dependents: Iterable[tuple[str, str]] = (),
) -> dict[str, Any]:
    """A task record line; `dependents` (digest, "child" or "referrer") share its verdict:
    they were deleted with it, kept with it, or (failed) left as they were. `kept_by` and
    `protected_by` give the policies' ids, `kept_by_policies` and `protected_by_policy`
    describe them by their selectors."""
    candidate = verdict.candidate
    shield = verdict.protected_by
    return {
        "digest": candidate.digest,
        "tags": list(candidate.tags),
        "pushed_at": _stamp(candidate.pushed_at),
        "pulled_at": _stamp(candidate.pulled_at),
        "verdict": outcome,
        "kept_by": list(verdict.kept_by),
        "protected_by": shield,
        "kept_by_policies": [names.keeping.get(i, "") for i in verdict.kept_by],
        "protected_by_policy": names.protecting.get(shield) if shield is not None else None,
        "error": error,
        "dependents": [{"digest": digest, "kind": kind} for digest, kind in dependents],
    }


def _top_level(rows: Iterable[CleanupCandidateRow]) -> list[CleanupCandidateRow]:
    """Artifacts judged on their own: not an index's child, not a referrer in the image."""
    rows = list(rows)
    present = {(r.image_id, r.digest) for r in rows}
    return [
        r
        for r in rows
        if not r.child_of
        and (r.subject_digest is None or (r.image_id, r.subject_digest) not in present)
    ]


def _dependents(rows: list[CleanupCandidateRow], image: str, digest: str) -> list[tuple[str, str]]:
    """Children only this artifact lists, and referrers of it, recursively: they go with it.
    Each as (digest, "child" or "referrer"), for the run's record."""
    found: dict[str, str] = {}
    frontier = [digest]
    in_image = [r for r in rows if r.image == image]
    while frontier:
        parent = frontier.pop()
        for row in in_image:
            if row.digest in found or row.digest == digest:
                continue
            if row.child_of == (parent,):
                found[row.digest] = "child"
            elif row.subject_digest == parent:
                found[row.digest] = "referrer"
            else:
                continue
            frontier.append(row.digest)
    return list(found.items())


class CleanupRunService:
    def __init__(
        self, uow: UnitOfWork[PolicyTx], artifacts: ArtifactRemover, clock: Clock = utcnow
    ) -> None:
        self._uow = uow
        self._artifacts = artifacts
        self._clock = clock

    # starting -------------------------------------------------------------------------

    def start(self, registry: str, *, dry_run: bool, enqueue: bool = True) -> Execution:
        """Record a run and (unless the caller runs it itself) queue it, in one transaction.

        A real run is refused (Conflict) while another real run of the registry is queued or
        running: two would judge the same artifacts at once."""
        with self._uow(write=True) as store:
            found = existing_registry(store, registry)
            if not dry_run and (active := self._active_real_run(store, found.id)) is not None:
                raise Conflict(f"cleanup run {active.id} of {registry!r} is still {active.status}")
            return self._create(store, found.id, "manual", dry_run, enqueue)

    def _active_real_run(self, store: PolicyTx, registry_id: int) -> Execution | None:
        # A run older than the job's time limit is stale (its worker died for good).
        since = self._clock() - timedelta(seconds=JOB_TIMEOUT_SECONDS)
        recent, _ = store.executions.list_executions(KIND, registry_id, 0, 50)
        return next(
            (
                e
                for e in recent
                if not e.dry_run and e.status in ("queued", "running") and e.created_at > since
            ),
            None,
        )

    def _create(
        self, store: PolicyTx, registry_id: int, trigger: str, dry_run: bool, enqueue: bool
    ) -> Execution:
        now = self._clock()
        execution = store.executions.create_execution(KIND, registry_id, trigger, dry_run, now)
        if enqueue:
            RUN_JOB.enqueue(store.jobs, {"execution_id": execution.id}, now)
        return execution

    def fire_schedule(self, store: PolicyTx, schedule: Schedule, now: datetime) -> None:
        """The scheduler's trigger: a real run of the registry named by the schedule."""
        registry = store.registries.get_registry(schedule.subject)
        if registry is None:
            return
        active = self._active_real_run(store, registry.id)
        if active is not None:
            log.warning(
                "scheduled cleanup of %s skipped: run %d is still %s",
                schedule.subject,
                active.id,
                active.status,
            )
            return
        self._create(store, registry.id, "schedule", False, True)

    # running --------------------------------------------------------------------------

    def abandon(self, execution_id: int, reason: str) -> None:
        """Close as failed a run whose job was given up (its workers died, or it failed
        every attempt), so it does not show as running forever."""
        with self._uow(write=True) as store:
            execution = store.executions.get_execution(execution_id)
            if execution is None or execution.status in ("succeeded", "failed"):
                return
            store.executions.update_execution(
                execution_id, status="failed", error=reason, finished_at=self._clock()
            )

    def run(self, execution_id: int, progress: Progress | None = None) -> Execution:
        """Carry out a run (the job handler). Safe to repeat: it starts over."""
        now = self._clock()
        with self._uow(write=True) as store:
            execution = store.executions.get_execution(execution_id)
            if execution is None or execution.status in ("succeeded", "failed"):
                return execution or self._missing(execution_id)
            assert execution.registry_id is not None
            store.executions.clear_execution_tasks(execution_id)
            store.executions.update_execution(execution_id, status="running", started_at=now)
            registry_id = execution.registry_id
            policies = [cleanup_policy(r) for r in store.policies.cleanup_policies(registry_id)]
            protection = protection_for(store, registry_id)
            rows = store.policies.cleanup_candidates(registry_id)
            usage = store.registries.registry_usage(registry_id)
            registry = usage.registry.name if usage else None
        try:
            assert registry is not None
            counts = self._carry_out(execution, registry, rows, policies, protection, progress)
        except Exception as exc:
            log.exception("cleanup run %d failed", execution_id)
            self._finish(execution, registry, "failed", {}, f"{type(exc).__name__}: {exc}")
            raise
        self._finish(execution, registry, "succeeded", counts, None)
        with self._uow() as store:
            done = store.executions.get_execution(execution_id)
        assert done is not None
        return done

    @staticmethod
    def _missing(execution_id: int) -> Execution:
        raise ExecutionNotFound(execution_id)

    def _carry_out(
        self,
        execution: Execution,
        registry: str,
        rows: list[CleanupCandidateRow],
        policies: list[cleanup.CleanupPolicy],
        protection: list[ProtectionPolicy],
        progress: Progress | None,
    ) -> dict[str, int]:
        candidates = [
            cleanup.Candidate(r.image, r.digest, r.tags, r.pushed_at, r.pulled_at)
            for r in _top_level(rows)
        ]
        plan = cleanup.evaluate(candidates, policies, protection, self._clock())
        names = PolicyNames.of(policies, protection)
        counts = {
            "images": len(plan.images),
            "artifacts": 0,
            "deleted": 0,
            "kept": 0,
            "protected": 0,
            "failed": 0,
        }
        for done, image_plan in enumerate(plan.images):
            if progress:
                progress(done, len(plan.images), image_plan.image)
            started = self._clock()
            lines = [
                self._judge(execution, registry, rows, image_plan.image, verdict, names, counts)
                for verdict in image_plan.verdicts
            ]
            status = "failed" if any(x["verdict"] == "failed" for x in lines) else "succeeded"
            with self._uow(write=True) as store:
                store.executions.add_execution_task(
                    execution.id, image_plan.image, status, lines, None, started, self._clock()
                )
        if progress:
            progress(len(plan.images), len(plan.images), "")
        return counts

    def _judge(
        self,
        execution: Execution,
        registry: str,
        rows: list[CleanupCandidateRow],
        image: str,
        verdict: cleanup.Verdict,
        names: PolicyNames,
        counts: dict[str, int],
    ) -> dict[str, Any]:
        counts["artifacts"] += 1
        digest = verdict.candidate.digest
        dependents = _dependents(rows, image, digest)
        if verdict.outcome is cleanup.Outcome.KEPT:
            counts["kept"] += 1
            return _line(verdict, "kept", names, dependents=dependents)
        if verdict.outcome is cleanup.Outcome.KEPT_PROTECTED:
            counts["protected"] += 1
            return _line(verdict, "kept_protected", names, dependents=dependents)
        if execution.dry_run:
            counts["deleted"] += 1
            return _line(verdict, "deleted", names, dependents=dependents)
        try:
            self._artifacts.delete_artifacts(
                f"{registry}/{image}", [digest, *(d for d, _ in dependents)], "cleanup"
            )
        except DomainError as exc:
            counts["failed"] += 1
            return _line(verdict, "failed", names, str(exc), dependents)
        counts["deleted"] += 1
        return _line(verdict, "deleted", names, dependents=dependents)

    def _finish(
        self,
        execution: Execution,
        registry: str | None,
        status: str,
        counts: dict[str, int],
        error: str | None,
    ) -> None:
        """Close the run; a real run's end is an event for webhooks, in the same transaction."""
        now = self._clock()
        with self._uow(write=True) as store:
            store.executions.update_execution(
                execution.id, status=status, counts=counts, error=error, finished_at=now
            )
            if not execution.dry_run and registry is not None:
                record_cleanup_event(store, execution, registry, status, counts, now)

    # history and schedule ---------------------------------------------------------------

    def history(self, registry: str, page: int, page_size: int) -> Page[Execution]:
        with self._uow() as store:
            registry_id = existing_registry(store, registry).id
            items, total = store.executions.list_executions(
                KIND, registry_id, (page - 1) * page_size, page_size
            )
        return Page(items, total)

    def detail(self, registry: str, execution_id: int) -> RunDetail:
        with self._uow() as store:
            registry_id = existing_registry(store, registry).id
            execution = store.executions.get_execution(execution_id)
            if execution is None or execution.kind != KIND or execution.registry_id != registry_id:
                raise ExecutionNotFound(execution_id)
            return RunDetail(execution, store.executions.list_execution_tasks(execution_id))

    def schedule(self, registry: str) -> Schedule | None:
        with self._uow() as store:
            existing_registry(store, registry)
            return store.schedules.get_schedule(KIND, registry)

    def set_schedule(self, registry: str, cron: str | None) -> Schedule | None:
        """Set (validated 5-field cron) or remove (None) the registry's one schedule."""
        parsed = parse_cron(cron) if cron is not None else None
        now = self._clock()
        with self._uow(write=True) as store:
            existing_registry(store, registry)
            if parsed is None:
                store.schedules.delete_schedule(KIND, registry)
                return None
            return store.schedules.put_schedule(
                KIND, registry, str(parsed), parsed.next_after(now), now
            )
