"""Garbage collection, for system administrators: runs, their history and log, the
deployment's schedule, and the storage figures (what is stored, what GC would free)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Response
from pydantic import BaseModel, Field

from moorage.api.rest.deps import Paging, Services
from moorage.api.rest.routing import api_router
from moorage.api.rest.schemas import Body, PageOut, ScheduleIn, ScheduleOut, schedule_out
from moorage.api.rest.security import Caller, Security
from moorage.domain.gc.model import GcRun, StorageTotals

router = api_router(tags=["garbage collection"])
RunId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class GcRunIn(Body):
    dry_run: bool = Field(False, description="report what would be deleted; delete nothing")
    delete_untagged: bool = Field(
        False,
        description="first delete untagged manifests nothing refers to (never a protected "
        "one, an index's child or a referrer whose subject exists)",
    )


class GcRunOut(BaseModel):
    id: int
    trigger: str = Field(description="manual or schedule")
    dry_run: bool
    delete_untagged: bool
    status: str = Field(description="queued, running, succeeded or failed")
    blobs_deleted: int = Field(description="in a dry run: blobs that would be deleted")
    manifests_deleted: int
    bytes_freed: int = Field(description="in a dry run: bytes that would be freed")
    errors: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class GcRunDetailOut(GcRunOut):
    log: list[str]


class StorageOut(BaseModel):
    blobs: int = Field(description="blobs stored in the deployment")
    stored_bytes: int = Field(description="bytes of every stored blob")
    referenced_bytes: int = Field(description="bytes of the blobs artifacts reference")
    unreferenced_blobs: int
    unreferenced_bytes: int = Field(
        description="what garbage collection frees once the grace window has passed"
    )


def run_out(run: GcRun) -> GcRunOut:
    return GcRunOut(
        id=run.id,
        trigger=run.trigger,
        dry_run=run.dry_run,
        delete_untagged=run.delete_untagged,
        status=run.status,
        blobs_deleted=run.counts.blobs_deleted,
        manifests_deleted=run.counts.manifests_deleted,
        bytes_freed=run.counts.bytes_freed,
        errors=run.counts.errors,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def run_detail_out(run: GcRun) -> GcRunDetailOut:
    return GcRunDetailOut(**run_out(run).model_dump(), log=run.log)


def storage_out(totals: StorageTotals) -> StorageOut:
    return StorageOut(
        blobs=totals.blobs,
        stored_bytes=totals.stored_bytes,
        referenced_bytes=totals.referenced_bytes,
        unreferenced_blobs=totals.unreferenced_blobs,
        unreferenced_bytes=totals.unreferenced_bytes,
    )


@router.post("/gc-runs", name="start_gc_run", status_code=202, response_model=GcRunOut)
def start_gc_run(body: GcRunIn, services: Services, security: Security, caller: Caller) -> GcRunOut:
    """Queue a garbage-collection run; 409 while another is queued or running."""
    security.require_admin(caller)
    run = services.gc.start_run(dry_run=body.dry_run, delete_untagged=body.delete_untagged)
    return run_out(run)


@router.get("/gc-runs", name="list_gc_runs", response_model=PageOut[GcRunOut])
def list_gc_runs(
    services: Services, security: Security, caller: Caller, paging: Paging
) -> PageOut[GcRunOut]:
    """Runs, newest first."""
    security.require_admin(caller)
    page = services.gc.list_runs(paging)
    return PageOut(
        items=[run_out(r) for r in page.items],
        total=page.total,
        page=paging.page,
        page_size=paging.page_size,
    )


@router.get("/gc-runs/{run_id}", name="get_gc_run", response_model=GcRunDetailOut)
def get_gc_run(
    run_id: RunId, services: Services, security: Security, caller: Caller
) -> GcRunDetailOut:
    """One run with its log."""
    security.require_admin(caller)
    run = services.gc.get_run(run_id)
    return run_detail_out(run)


@router.get("/gc-schedule", name="get_gc_schedule", response_model=ScheduleOut)
def get_gc_schedule(services: Services, security: Security, caller: Caller) -> ScheduleOut:
    security.require_admin(caller)
    return schedule_out(services.gc.get_schedule())


@router.put("/gc-schedule", name="set_gc_schedule", response_model=ScheduleOut)
def set_gc_schedule(
    body: ScheduleIn, services: Services, security: Security, caller: Caller
) -> ScheduleOut:
    """One 5-field cron schedule for the deployment (UTC); a bad field is named in the error.
    Scheduled runs are real runs that keep untagged manifests."""
    security.require_admin(caller)
    return schedule_out(services.gc.set_schedule(body.cron))


@router.delete("/gc-schedule", name="delete_gc_schedule", status_code=204)
def delete_gc_schedule(services: Services, security: Security, caller: Caller) -> Response:
    security.require_admin(caller)
    services.gc.set_schedule(None)
    return Response(status_code=204)


@router.get("/storage", name="get_storage", response_model=StorageOut)
def get_storage(services: Services, security: Security, caller: Caller) -> StorageOut:
    """The deployment's stored bytes and what garbage collection would free."""
    security.require_admin(caller)
    return storage_out(services.gc.storage_totals())
