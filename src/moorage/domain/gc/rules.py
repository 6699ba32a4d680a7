"""Garbage collection's pure rules: the grace window and what a run may delete."""

from __future__ import annotations

from datetime import datetime, timedelta

from moorage.domain.gc.model import GcRun, RunStatus, UnreferencedBlob

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
