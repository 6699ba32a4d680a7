"""Job specs: how each kind of job is queued and run, declared once per kind.

Whoever enqueues a job (a domain service in its transaction, or the scheduler) takes its
attempts and its deduplication from the spec; the runner takes the timeout, back-off and
lease from it. The attempts are written into the job row, and the row is what the runner
obeys, so a job keeps the limit it was queued with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from moorage.domain.jobs.ports import JobQueue


@dataclass(frozen=True, slots=True)
class JobSpec:
    kind: str
    max_attempts: int = 5
    """Runs before the job is given up (written into the row when it is queued)."""
    timeout_seconds: float = 3600.0
    """A run taking longer fails (and is retried, attempts permitting)."""
    backoff_base_seconds: float = 5.0
    """Delay before the first retry; doubles with each failure up to `backoff_cap_seconds`."""
    backoff_cap_seconds: float = 3600.0
    lease_seconds: float | None = None
    """How long a claim lasts unless renewed (the runner renews it while the job runs);
    None: the runner's own lease. Another process takes over a job whose lease lapsed."""
    dedupe_on: tuple[str, ...] | None = None
    """Payload fields that name the work: while a job with the same kind and values is
    queued or running, queueing another does nothing. `()`: one job of the kind at a time;
    None: never deduplicated."""
    dedupe_while_running: bool = True
    """False: the key lapses when a job is claimed, so the same work can be queued again
    while it runs — for work that reads its input when it starts (a copy of a tag's newest
    state), where a change made during the run must not be lost."""

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after `attempts` failed ones (exponential)."""
        return float(min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** (attempts - 1)))

    def dedupe_key(self, payload: dict[str, Any]) -> str | None:
        if self.dedupe_on is None:
            return None
        return ":".join([self.kind, *(str(payload[field]) for field in self.dedupe_on)])

    def enqueue(
        self,
        queue: JobQueue,
        payload: dict[str, Any],
        now: datetime,
        *,
        max_attempts: int | None = None,
        available_at: datetime | None = None,
    ) -> int | None:
        """Queue a job of this kind in the caller's transaction; None when deduplicated.
        `max_attempts` overrides the spec's for this job (a delivery with fewer sends)."""
        return queue.enqueue_job(
            self.kind,
            payload,
            now,
            dedupe_key=self.dedupe_key(payload),
            max_attempts=self.max_attempts if max_attempts is None else max_attempts,
            available_at=available_at,
            dedupe_while_running=self.dedupe_while_running,
        )
