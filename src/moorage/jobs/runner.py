"""poll → claim → run → done | retry with backoff | give up. One runner per process.

Claims go through the metadata store's compare-and-swap (see metadata/jobs.py), so any
number of processes on one database run each job once at a time; a lease, renewed while
the job runs, lets another process take over a job whose worker died.

How often a job may run is the job row's `max_attempts` (set from its kind's spec when it
was queued); timeout, back-off and lease come from the kind's spec.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import anyio

from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.clock import utcnow
from moorage.domain.kernel.model import Job
from moorage.domain.ports import Transaction, UnitOfWorkFactory
from moorage.jobs.catalog import JobCatalog, JobKind

log = logging.getLogger("moorage.jobs")
T = TypeVar("T")


def _extend(store: Transaction, *, job_id: int, worker: str, until: datetime) -> bool:
    return store.jobs.extend_lease(job_id, worker, until)


def _unwrap(exc: Exception) -> Exception:
    """The handler's own exception, not the task group's wrapper around it."""
    while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Runner:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        catalog: JobCatalog,
        *,
        concurrency: int = 2,
        poll_seconds: float = 0.5,
        lease: timedelta = timedelta(seconds=60),
        clock: Callable[[], datetime] = utcnow,
        blocking: Blocking | None = None,
    ) -> None:
        self._uow = uow
        self._blocking = blocking or Blocking()
        self._catalog = catalog
        self._concurrency = concurrency
        self._poll = poll_seconds
        self._lease = lease
        self._clock = clock
        self.worker = worker_id()
        self._wake = anyio.Event()

    def wake(self) -> None:
        """Look for work now (called after enqueueing in this process)."""
        self._wake.set()

    async def _db(self, fn: Callable[[Transaction], T]) -> T:
        def run() -> T:
            with self._uow(write=True) as store:
                return fn(store)

        return await self._blocking.run(run)

    async def _handle(self, kind: JobKind, payload: dict[str, Any]) -> None:
        if kind.awaits:
            await kind.handler(payload)  # type: ignore[misc]
        else:
            await self._blocking.run(kind.handler, payload)

    async def claim(self) -> Job | None:
        now = self._clock()
        return await self._db(
            lambda s: s.jobs.claim_job(self._catalog.names, self.worker, now, self._lease)
        )

    async def run(self) -> None:
        """Run jobs until cancelled."""
        limiter = anyio.Semaphore(self._concurrency)
        async with anyio.create_task_group() as tasks:
            while True:
                await limiter.acquire()
                try:
                    job = await self.claim()
                except Exception:
                    log.exception("claiming a job failed")
                    job = None
                if job is None:
                    limiter.release()
                    await self._idle()
                    continue
                tasks.start_soon(self._run_released, job, limiter)

    async def _idle(self) -> None:
        with anyio.move_on_after(self._poll):
            await self._wake.wait()
        self._wake = anyio.Event()

    async def _run_released(self, job: Job, limiter: anyio.Semaphore) -> None:
        try:
            await self.execute(job)
        finally:
            limiter.release()

    async def run_until_idle(self, limit: int = 1000) -> int:
        """Run due jobs one by one until none is left (for tests and `moorage worker --once`)."""
        done = 0
        while done < limit and (job := await self.claim()) is not None:
            await self.execute(job)
            done += 1
        return done

    async def execute(self, job: Job) -> None:
        kind = self._catalog.get(job.kind)
        if kind is None:  # claimed kinds are the catalog's, so only a renamed kind gets here
            now = self._clock()
            await self._db(lambda s: s.jobs.fail_job(job.id, self.worker, "unknown kind", now))
            return
        if job.attempts > job.max_attempts:
            await self._give_up(job, kind, "too many attempts (the worker died during each)")
            return
        try:
            with anyio.fail_after(kind.spec.timeout_seconds):
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(self._renew_lease, job, kind)
                    await self._handle(kind, job.payload)
                    tasks.cancel_scope.cancel()
        except Exception as exc:
            await self._failed(job, kind, _unwrap(exc))
            return
        now = self._clock()
        await self._db(lambda s: s.jobs.finish_job(job.id, self.worker, now))
        log.info("job done kind=%s id=%d attempt=%d", job.kind, job.id, job.attempts)

    async def _renew_lease(self, job: Job, kind: JobKind) -> None:
        seconds = kind.spec.lease_seconds
        lease = self._lease if seconds is None else timedelta(seconds=seconds)
        # The claim gave the runner's lease: the first renewal must come before it lapses.
        every = min(lease, self._lease).total_seconds() / 3
        while True:
            await anyio.sleep(every)
            until = self._clock() + lease
            await self._db(partial(_extend, job_id=job.id, worker=self.worker, until=until))

    async def _failed(self, job: Job, kind: JobKind, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if job.attempts >= job.max_attempts:
            await self._give_up(job, kind, error)
            return
        delay = kind.spec.backoff(job.attempts)
        retry_at = self._clock() + timedelta(seconds=delay)
        await self._db(lambda s: s.jobs.retry_job(job.id, self.worker, error, retry_at))
        log.warning(
            "job failed, will retry kind=%s id=%d attempt=%d in=%.0fs error=%s",
            job.kind,
            job.id,
            job.attempts,
            delay,
            error,
        )

    async def _give_up(self, job: Job, kind: JobKind, error: str) -> None:
        now = self._clock()
        if not await self._db(lambda s: s.jobs.fail_job(job.id, self.worker, error, now)):
            return  # another worker holds it now
        if kind.abandon is not None:
            try:
                await self._blocking.run(kind.abandon, job.payload, error)
            except Exception:
                log.exception("closing the run of job kind=%s id=%d failed", job.kind, job.id)
        log.error(
            "job failed for good kind=%s id=%d attempts=%d error=%s",
            job.kind,
            job.id,
            job.attempts,
            error,
        )
