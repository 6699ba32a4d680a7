"""Role ports of background work: the queue, schedules and execution history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from moorage.domain.kernel.model import (
        Execution,
        ExecutionTask,
        Job,
        Schedule,
    )


class JobQueue(Protocol):
    """The job queue: an outbox written in the transaction that asks for the work."""

    def enqueue_job(
        self,
        kind: str,
        payload: dict[str, Any],
        now: datetime,
        *,
        dedupe_key: str | None = None,
        max_attempts: int = 5,
        available_at: datetime | None = None,
        dedupe_while_running: bool = True,
    ) -> int | None:
        """Queue a job; with a dedupe key already queued or running, do nothing (None).
        `dedupe_while_running=False`: this job's key lapses when it is claimed, so the same
        work may be queued again while it runs (work that reads its input when it starts)."""

    def claim_job(
        self, kinds: Sequence[str], worker: str, now: datetime, lease: timedelta
    ) -> Job | None:
        """Take the oldest due job (or one whose lease expired) by compare-and-swap."""

    def finish_job(self, job_id: int, worker: str, now: datetime) -> bool: ...

    def retry_job(self, job_id: int, worker: str, error: str, available_at: datetime) -> bool: ...

    def fail_job(self, job_id: int, worker: str, error: str, now: datetime) -> bool: ...

    def extend_lease(self, job_id: int, worker: str, until: datetime) -> bool: ...

    def job_counts(self) -> dict[str, int]: ...

    def purge_finished_jobs(self, before: datetime) -> int: ...


class ScheduleStore(Protocol):
    """Schedules that turn into jobs, advanced by compare-and-set."""

    def get_schedule(self, kind: str, subject: str) -> Schedule | None: ...

    def put_schedule(
        self, kind: str, subject: str, cron: str, next_run_at: datetime, now: datetime
    ) -> Schedule: ...

    def delete_schedule(self, kind: str, subject: str) -> bool: ...

    def due_schedules(self, now: datetime, limit: int) -> list[Schedule]: ...

    def advance_schedule(
        self, schedule_id: int, expected: datetime, following: datetime, now: datetime
    ) -> bool:
        """Compare-and-swap the next run time: True for exactly one caller per due time."""


class ExecutionStore(Protocol):
    """Executions (runs of background work) and their tasks: the history."""

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
        """A new run; `rule_id` links a replication run to its rule (deleted with it)."""

    def get_execution(self, execution_id: int) -> Execution | None: ...

    def list_executions(
        self,
        kind: str,
        registry_id: int | None,
        offset: int,
        limit: int,
        *,
        rule_id: int | None = None,
    ) -> tuple[list[Execution], int]:
        """Newest first; only the rule's runs when `rule_id` is given."""

    def update_execution(self, execution_id: int, **values: Any) -> None: ...

    def add_execution_task(
        self,
        execution_id: int,
        subject: str,
        status: str,
        lines: list[dict[str, Any]],
        error: str | None,
        started_at: datetime | None,
        finished_at: datetime | None,
    ) -> int: ...

    def clear_execution_tasks(self, execution_id: int) -> None:
        """Forget a run's tasks (a run re-started after its worker died starts over)."""

    def list_execution_tasks(
        self, execution_id: int, offset: int = 0, limit: int | None = None
    ) -> list[ExecutionTask]:
        """The run's tasks in the order they were added; a page of them with `limit`."""

    def count_execution_tasks(self, execution_id: int) -> int: ...


class JobsTx(Protocol):
    """The roles of background work's bookkeeping."""

    @property
    def jobs(self) -> JobQueue: ...

    @property
    def schedules(self) -> ScheduleStore: ...

    @property
    def executions(self) -> ExecutionStore: ...
