"""Garbage collection's records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from moorage.domain.kernel.model import BlobStatus


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class GcCounts:
    """What a run deleted (or, in a dry run, would delete)."""

    blobs_deleted: int = 0
    manifests_deleted: int = 0
    bytes_freed: int = 0
    errors: int = 0

    def plus(self, other: GcCounts) -> GcCounts:
        return GcCounts(
            self.blobs_deleted + other.blobs_deleted,
            self.manifests_deleted + other.manifests_deleted,
            self.bytes_freed + other.bytes_freed,
            self.errors + other.errors,
        )


@dataclass(frozen=True, slots=True)
class GcRun:
    id: int
    trigger: str  # manual, schedule
    dry_run: bool
    delete_untagged: bool
    status: str  # a RunStatus
    counts: GcCounts
    log: list[str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CollectableBlob:
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class UnreferencedBlob:
    """A live or marked blob no artifact references."""

    digest: str
    size: int
    status: BlobStatus
    marked_at: datetime | None


@dataclass(frozen=True, slots=True)
class UntaggedManifest:
    """An artifact without tags that no index lists and that refers to no artifact of its
    image (a referrer whose subject is gone is collectable)."""

    artifact_id: int
    image_id: int
    registry_id: int
    repository: str
    digest: str


@dataclass(frozen=True, slots=True)
class BlobRow:
    digest: str
    size: int
    status: BlobStatus


@dataclass(frozen=True, slots=True)
class MissingReference:
    """An artifact referring to a blob that is unknown, quarantined or being deleted."""

    repository: str
    artifact_digest: str
    blob_digest: str
    blob_status: BlobStatus | None


@dataclass(frozen=True, slots=True)
class DanglingTag:
    """A tag whose artifact belongs to another image."""

    repository: str
    tag: str
    artifact_digest: str


@dataclass(frozen=True, slots=True)
class StorageTotals:
    """The deployment's blob bytes: all rows, those artifacts reference, the rest (what
    garbage collection would free once their grace window passed)."""

    blobs: int
    stored_bytes: int
    referenced_bytes: int
    unreferenced_blobs: int
    unreferenced_bytes: int


@dataclass(slots=True)
class RunLog:
    """Lines of a run's log, bounded: beyond `limit` only the count of dropped lines grows."""

    lines: list[str] = field(default_factory=list)
    limit: int = 500
    dropped: int = 0

    def add(self, line: str) -> None:
        if len(self.lines) < self.limit:
            self.lines.append(line)
        else:
            self.dropped += 1
