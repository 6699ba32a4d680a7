"""Job kinds: a spec (attempts, timeout, back-off, lease, deduplication) bound to a handler,
and, for periodic work, when to queue it."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from moorage.domain.jobs.specs import JobSpec

# A handler that awaits (the network, the blob store) is async and runs on the event loop; a
# plain one (database work, CPU) is run in a worker thread by the runner's `Blocking`.
Handler = Callable[[dict[str, Any]], Awaitable[None]] | Callable[[dict[str, Any]], None]
Abandon = Callable[[dict[str, Any], str], None]
"""Called (in a worker thread) with the payload and the last error when the runner gives a
job up for good: a job that carries a run closes the run as failed, so it does not show as
running forever (and block the next one)."""


@dataclass(frozen=True, slots=True)
class JobKind:
    spec: JobSpec
    handler: Handler
    every: str | None = None
    """A cron expression for work moorage queues by itself (its system schedule, see
    `moorage.jobs.background`); None for work queued when something asks for it."""
    abandon: Abandon | None = None

    @property
    def name(self) -> str:
        return self.spec.kind

    @property
    def awaits(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)


class JobCatalog:
    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}

    def register(self, kind: JobKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"job kind {kind.name!r} registered twice")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> JobKind | None:
        return self._kinds.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._kinds)

    def __iter__(self) -> Iterator[JobKind]:
        return iter(self._kinds.values())
