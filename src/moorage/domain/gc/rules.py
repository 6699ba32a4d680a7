"""Garbage collection's pure rules: the grace window and what a run may delete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from moorage.domain.gc.model import GcCounts, GcRun, RunStatus, UnreferencedBlob

STALE_AFTER = timedelta(minutes=10)
"""A queued or running run whose record has not moved for this long lost its worker: it no
longer keeps another run from starting (a running run records progress far more often)."""


def sweep_cutoff(now: datetime, grace_seconds: float) -> datetime:
    """Blobs marked at or before this moment may be deleted."""
    return now - timedelta(seconds=grace_seconds)


def would_collect(blob: UnreferencedBlob, mark_time: datetime, cutoff: datetime) -> bool:
    """Whether a real run marking at `mark_time` and sweeping with `cutoff` deletes the
    blob (what a dry run reports): a marked blob keeps its marked_at, a live one would be
    marked now."""
    marked_at = blob.marked_at if blob.marked_at is not None else mark_time
    return marked_at <= cutoff


def is_stale(run: GcRun, now: datetime) -> bool:
    return (
        run.status in (RunStatus.QUEUED, RunStatus.RUNNING) and run.updated_at < now - STALE_AFTER
    )


def is_old_enough(modified: datetime, cutoff: datetime) -> bool:
    """An object (or upload leftover) last written before the cutoff: no push in flight
    within the grace window can still be writing or about to record it."""
    return modified <= cutoff


def progress_values(
    counts: GcCounts, log: Sequence[str], now: datetime, status: str | None
) -> dict[str, Any]:
    """The fields of a run's history row that a progress report sets (every store alike):
    the counts, the log, the heartbeat, and on a status change the status (a finished run
    also gets its end time)."""
    values: dict[str, Any] = {
        "blobs_deleted": counts.blobs_deleted,
        "manifests_deleted": counts.manifests_deleted,
        "bytes_freed": counts.bytes_freed,
        "errors": counts.errors,
        "log": list(log),
        "updated_at": now,
    }
    if status is not None:
        values["status"] = status
        if status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            values["finished_at"] = now
    return values
