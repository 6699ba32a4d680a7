"""Turns due cron schedules into work, exactly once per due time across all processes.

Each due schedule's `next_run_at` is moved forward by compare-and-swap in the same
transaction that enqueues its work: of several processes seeing the same due time, one
UPDATE matches and that process alone enqueues.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import anyio

from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.clock import utcnow
from moorage.domain.kernel.model import Schedule
from moorage.domain.policies.schedules import parse_cron
from moorage.domain.ports import Transaction, UnitOfWorkFactory

log = logging.getLogger("moorage.jobs.scheduler")

Trigger = Callable[[Transaction, Schedule, datetime], None]
"""Enqueue a schedule's work inside the transaction that advanced it."""


class Scheduler:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        triggers: dict[str, Trigger],
        *,
        tick_seconds: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
        blocking: Blocking | None = None,
    ) -> None:
        self._uow = uow
        self._blocking = blocking or Blocking()
        self._triggers = triggers
        self._tick = tick_seconds
        self._clock = clock
        self._unknown: set[str] = set()

    def fire_due(self) -> int:
        """Fire every due schedule this process wins; returns how many it fired."""
        now = self._clock()
        fired = 0
        with self._uow(write=True) as store:
            for schedule in store.schedules.due_schedules(now, 100):
                trigger = self._triggers.get(schedule.kind)
                if trigger is None:
                    # Left due for a process that knows the kind (a newer version, while
                    # nodes are upgraded one by one): advancing it here would lose the run.
                    if schedule.kind not in self._unknown:
                        self._unknown.add(schedule.kind)
                        log.warning("no trigger for schedule kind=%s", schedule.kind)
                    continue
                following = parse_cron(schedule.cron).next_after(now)
                if not store.schedules.advance_schedule(
                    schedule.id, schedule.next_run_at, following, now
                ):
                    continue  # another process fired this due time
                trigger(store, schedule, now)
                fired += 1
                log.info(
                    "schedule fired kind=%s subject=%s next=%s",
                    schedule.kind,
                    schedule.subject,
                    following.isoformat(),
                )
        return fired

    async def run(self, on_fired: Callable[[], None] | None = None) -> None:
        while True:
            try:
                if await self._blocking.run(self.fire_due) and on_fired:
                    on_fired()
            except Exception:
                log.exception("firing schedules failed")
            await anyio.sleep(self._tick)
