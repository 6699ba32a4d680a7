"""Role ports of garbage collection: the blob lifecycle's queries and the runs' history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from moorage.domain.content.ports import ContentTx
from moorage.domain.kernel.model import DriverState

if TYPE_CHECKING:
    from moorage.domain.gc.model import (
        BlobRow,
        CollectableBlob,
        DanglingTag,
        GcCounts,
        GcRun,
        MissingReference,
        StorageTotals,
        UnreferencedBlob,
        UntaggedManifest,
    )


class GcStore(Protocol):
    """Marking, sweeping and the reference queries of garbage collection.

    A blob is referenced while an artifact lists it (`artifact_blob`); image links are the
    permission to read, not references."""

    def mark_unreferenced(self, now: datetime) -> int:
        """Mark every live blob no artifact references (marked_at = now); a marked blob keeps
        its marked_at. Returns how many were marked."""

    def start_deleting(self, cutoff: datetime, limit: int) -> list[CollectableBlob]:
        """Move up to `limit` blobs marked at or before `cutoff` and still unreferenced to
        deleting, by compare-and-set (one UPDATE); returns those it moved."""

    def deleting_blobs(self, limit: int) -> list[CollectableBlob]:
        """Blobs left deleting (a run that died before forgetting them)."""

    def forget_blobs(self, digests: Sequence[str]) -> int:
        """Delete the rows (and image links) of these blobs that are still deleting."""

    def unreferenced_blobs(self, after: str | None, limit: int) -> list[UnreferencedBlob]:
        """Live and marked blobs no artifact references, by digest after `after`."""

    def known_digests(self, digests: Sequence[str]) -> set[str]:
        """Which of these digests have a blob row, whatever its state."""

    def upload_states(self) -> list[DriverState]:
        """The driver state of every upload session (their leftovers are not orphans)."""

    def untagged_manifests(self, after_id: int, limit: int) -> list[UntaggedManifest]:
        """Untagged artifacts nothing refers to, by id after `after_id`."""

    def delete_untagged_manifest(self, artifact_id: int) -> bool:
        """Delete the artifact if it is still untagged and nothing refers to it (checked in
        the caller's transaction, after the image is locked)."""

    def storage_totals(self) -> StorageTotals: ...

    def blob_rows(self, after: str | None, limit: int) -> list[BlobRow]:
        """Every blob row, by digest after `after` (for fsck)."""

    def missing_references(self, limit: int) -> list[MissingReference]:
        """Artifacts' references to blobs that are unknown or not served. A proxy cache's
        artifact names blobs it fetches only when a client asks for them: one never fetched
        yet is not missing (one quarantined or being deleted is)."""

    def dangling_tags(self, limit: int) -> list[DanglingTag]: ...


class GcRunStore(Protocol):
    """Garbage-collection runs: the history, counts and a bounded log per run."""

    def create_run(
        self, trigger: str, dry_run: bool, delete_untagged: bool, now: datetime
    ) -> GcRun: ...

    def get_run(self, run_id: int) -> GcRun | None: ...

    def list_runs(self, offset: int, limit: int) -> tuple[list[GcRun], int]:
        """Newest first, with the total."""

    def active_runs(self) -> list[GcRun]:
        """Runs queued or running."""

    def start_run(self, run_id: int, now: datetime) -> GcRun | None:
        """Queued (or running: a resumed run) becomes running; None when it is finished."""

    def record_progress(
        self,
        run_id: int,
        counts: GcCounts,
        log: Sequence[str],
        now: datetime,
        status: str | None = None,
    ) -> None:
        """Replace the run's counts and log; with `status`, finish it (or change its state)."""


class GcRoles(Protocol):
    """Garbage collection's own roles on a transaction."""

    @property
    def gc(self) -> GcStore: ...

    @property
    def gc_runs(self) -> GcRunStore: ...


class GcTx(ContentTx, GcRoles, Protocol):
    """What garbage collection uses: registry content (it deletes untagged manifests with
    protection checked), its own roles, schedules and the job queue."""
