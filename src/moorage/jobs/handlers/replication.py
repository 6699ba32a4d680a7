"""Replication's job kinds (specs beside the code that queues them): manual and scheduled
runs (`RUN_JOB`), copies of pushed tags (`EVENT_JOB`, queued in the pushing transaction),
and checks of a rule's other side (`CHECK_JOB`, queued when a rule is created or its remote
changes). All await the network, so they run on the event loop."""

from __future__ import annotations

from typing import Any

from moorage.domain.replication.runs import CHECK_JOB, RUN_JOB, ReplicationRunner
from moorage.domain.replication.triggers import EVENT_JOB
from moorage.jobs.catalog import JobKind


def run(runner: ReplicationRunner) -> JobKind:
    """Carry out a queued run; a run repeated after its worker died starts over, and what
    already reached the destination is skipped."""

    async def handle(payload: dict[str, Any]) -> None:
        await runner.run(int(payload["execution_id"]))

    def abandon(payload: dict[str, Any], reason: str) -> None:
        runner.abandon(int(payload["execution_id"]), reason)

    return JobKind(RUN_JOB, handle, abandon=abandon)


def event(runner: ReplicationRunner) -> JobKind:
    """Copy a pushed tag as the source has it when the job runs (a burst shares one)."""

    async def handle(payload: dict[str, Any]) -> None:
        await runner.run_event(
            int(payload["rule_id"]), str(payload["repository"]), str(payload["tag"])
        )

    return JobKind(EVENT_JOB, handle)


def check(runner: ReplicationRunner) -> JobKind:
    """Check a rule's other side; the rule becomes active or inactive with the reason."""

    async def handle(payload: dict[str, Any]) -> None:
        await runner.check(int(payload["rule_id"]))

    return JobKind(CHECK_JOB, handle)
