"""Garbage collection's roles in memory (see `tests.fakes.memory`): `GcStore` over `blob`,
`image_blob`, `artifact*`, `tag` and `upload_session` rows, `GcRunStore` over `gc_run` rows
(by id). Transactions are serialised, so each compare-and-set is trivially atomic here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

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
from moorage.domain.gc.rules import progress_values
from moorage.domain.kernel.model import BlobStatus, DriverState
from tests.fakes.rows import delete_rows, insert_row, update_row
from tests.fakes.state import MemoryState, Row

if TYPE_CHECKING:
    from moorage.domain.gc.ports import GcRunStore, GcStore

BLOB = "blob"
SERVED = (BlobStatus.LIVE, BlobStatus.MARKED)


class MemoryGcStore:
    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def _referenced(self) -> set[str]:
        return {row["digest"] for row in self.state.table("artifact_blob").values()}

    def _blobs(self) -> list[Row]:
        return sorted(self.state.table(BLOB).values(), key=lambda r: r["digest"])

    def mark_unreferenced(self, now: datetime) -> int:
        referenced = self._referenced()
        marked = 0
        for row in self._blobs():
            if row["status"] == BlobStatus.LIVE and row["digest"] not in referenced:
                update_row(
                    self.state, BLOB, row["digest"], {"status": BlobStatus.MARKED, "marked_at": now}
                )
                marked += 1
        return marked

    def start_deleting(self, cutoff: datetime, limit: int) -> list[CollectableBlob]:
        referenced = self._referenced()
        moved: list[CollectableBlob] = []
        for row in self._blobs():
            if len(moved) >= limit:
                break
            if (
                row["status"] == BlobStatus.MARKED
                and row["marked_at"] <= cutoff
                and row["digest"] not in referenced
            ):
                update_row(self.state, BLOB, row["digest"], {"status": BlobStatus.DELETING})
                moved.append(CollectableBlob(row["digest"], row["size"]))
        return moved

    def deleting_blobs(self, limit: int) -> list[CollectableBlob]:
        rows = [r for r in self._blobs() if r["status"] == BlobStatus.DELETING]
        return [CollectableBlob(r["digest"], r["size"]) for r in rows[:limit]]

    def forget_blobs(self, digests: Sequence[str]) -> int:
        blobs = self.state.table(BLOB)
        doomed = {d for d in digests if d in blobs and blobs[d]["status"] == BlobStatus.DELETING}
        links = [
            key for key, row in self.state.table("image_blob").items() if row["digest"] in doomed
        ]
        delete_rows(self.state, "image_blob", links)
        return delete_rows(self.state, BLOB, sorted(doomed))

    def unreferenced_blobs(self, after: str | None, limit: int) -> list[UnreferencedBlob]:
        referenced = self._referenced()
        rows = [
            r
            for r in self._blobs()
            if r["status"] in SERVED
            and r["digest"] not in referenced
            and (after is None or r["digest"] > after)
        ]
        return [
            UnreferencedBlob(r["digest"], r["size"], BlobStatus(r["status"]), r["marked_at"])
            for r in rows[:limit]
        ]

    def known_digests(self, digests: Sequence[str]) -> set[str]:
        blobs = self.state.table(BLOB)
        return {d for d in digests if d in blobs}

    def upload_states(self) -> list[DriverState]:
        return [row["driver_state"] for row in self.state.table("upload_session").values()]

    def _collectable_manifest(self, artifact: Row) -> bool:
        if any(tag["artifact_id"] == artifact["id"] for tag in self.state.table("tag").values()):
            return False
        artifacts = self.state.table("artifact")
        for child in self.state.table("artifact_child").values():
            parent = artifacts.get(child["artifact_id"])
            if (
                child["digest"] == artifact["digest"]
                and parent is not None
                and parent["image_id"] == artifact["image_id"]
            ):
                return False
        subject = artifact["subject_digest"]
        return subject is None or not any(
            a["image_id"] == artifact["image_id"] and a["digest"] == subject
            for a in artifacts.values()
        )

    def untagged_manifests(self, after_id: int, limit: int) -> list[UntaggedManifest]:
        found: list[Any] = []
        for artifact in sorted(self.state.table("artifact").values(), key=lambda r: r["id"]):
            if len(found) >= limit:
                break
            if artifact["id"] <= after_id or not self._collectable_manifest(artifact):
                continue
            image = self.state.table("image")[artifact["image_id"]]
            registry = self.state.table("registry")[image["registry_id"]]
            found.append(
                UntaggedManifest(
                    artifact["id"],
                    image["id"],
                    registry["id"],
                    f"{registry['name']}/{image['name']}",
                    artifact["digest"],
                )
            )
        return found

    def delete_untagged_manifest(self, artifact_id: int) -> bool:
        artifact = self.state.table("artifact").get(artifact_id)
        if artifact is None or not self._collectable_manifest(artifact):
            return False
        delete_rows(self.state, "artifact", [artifact_id])  # references cascade
        return True

    def storage_totals(self) -> StorageTotals:
        referenced = self._referenced()
        rows = self._blobs()
        unreferenced = [r for r in rows if r["status"] in SERVED and r["digest"] not in referenced]
        return StorageTotals(
            blobs=len(rows),
            stored_bytes=sum(r["size"] for r in rows),
            referenced_bytes=sum(r["size"] for r in rows if r["digest"] in referenced),
            unreferenced_blobs=len(unreferenced),
            unreferenced_bytes=sum(r["size"] for r in unreferenced),
        )

    def blob_rows(self, after: str | None, limit: int) -> list[BlobRow]:
        rows = [r for r in self._blobs() if after is None or r["digest"] > after]
        return [BlobRow(r["digest"], r["size"], BlobStatus(r["status"])) for r in rows[:limit]]

    def _repository(self, image_id: int) -> str:
        image = self.state.table("image")[image_id]
        registry = self.state.table("registry")[image["registry_id"]]
        return f"{registry['name']}/{image['name']}"

    def missing_references(self, limit: int) -> list[MissingReference]:
        blobs = self.state.table(BLOB)
        artifacts = self.state.table("artifact")
        found: list[Any] = []
        references = sorted(
            self.state.table("artifact_blob").values(),
            key=lambda r: (r["artifact_id"], r["digest"]),
        )
        for ref in references:
            blob = blobs.get(ref["digest"])
            if blob is not None and blob["status"] in SERVED:
                continue
            if blob is None and ref["artifact_id"] in self.state.table("cached_artifact"):
                continue  # a proxy cache fetches it when a client asks
            artifact = artifacts[ref["artifact_id"]]
            status = BlobStatus(blob["status"]) if blob is not None else None
            found.append(
                MissingReference(
                    self._repository(artifact["image_id"]),
                    artifact["digest"],
                    ref["digest"],
                    status,
                )
            )
        return found[:limit]

    def dangling_tags(self, limit: int) -> list[DanglingTag]:
        artifacts = self.state.table("artifact")
        found: list[Any] = []
        for tag in sorted(self.state.table("tag").values(), key=lambda r: r["id"]):
            artifact = artifacts[tag["artifact_id"]]
            if artifact["image_id"] != tag["image_id"]:
                found.append(
                    DanglingTag(self._repository(tag["image_id"]), tag["name"], artifact["digest"])
                )
        return found[:limit]


def _run(row: Row) -> GcRun:
    return GcRun(
        id=row["id"],
        trigger=row["trigger"],
        dry_run=row["dry_run"],
        delete_untagged=row["delete_untagged"],
        status=row["status"],
        counts=GcCounts(
            row["blobs_deleted"], row["manifests_deleted"], row["bytes_freed"], row["errors"]
        ),
        log=list(row["log"]),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        updated_at=row["updated_at"],
    )


ACTIVE = ("queued", "running")


class MemoryGcRunStore:
    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def create_run(
        self, trigger: str, dry_run: bool, delete_untagged: bool, now: datetime
    ) -> GcRun:
        row = insert_row(
            self.state,
            "gc_run",
            {
                "trigger": trigger,
                "dry_run": dry_run,
                "delete_untagged": delete_untagged,
                "status": "queued",
                "blobs_deleted": 0,
                "manifests_deleted": 0,
                "bytes_freed": 0,
                "errors": 0,
                "log": [],
                "created_at": now,
                "updated_at": now,
            },
        )
        return _run(row)

    def get_run(self, run_id: int) -> GcRun | None:
        row = self.state.table("gc_run").get(run_id)
        return _run(row) if row is not None else None

    def list_runs(self, offset: int, limit: int) -> tuple[list[GcRun], int]:
        rows = sorted(self.state.table("gc_run").values(), key=lambda r: -r["id"])
        return [_run(r) for r in rows[max(offset, 0) : max(offset, 0) + max(limit, 0)]], len(rows)

    def active_runs(self) -> list[GcRun]:
        rows = sorted(self.state.table("gc_run").values(), key=lambda r: r["id"])
        return [_run(r) for r in rows if r["status"] in ACTIVE]

    def start_run(self, run_id: int, now: datetime) -> GcRun | None:
        row = self.state.table("gc_run").get(run_id)
        if row is None or row["status"] not in ACTIVE:
            return None
        values: dict[str, Any] = {"status": "running", "updated_at": now}
        if row["started_at"] is None:
            values["started_at"] = now
        update_row(self.state, "gc_run", run_id, values)
        return self.get_run(run_id)

    def record_progress(
        self,
        run_id: int,
        counts: GcCounts,
        log: Sequence[str],
        now: datetime,
        status: str | None = None,
    ) -> None:
        values = progress_values(counts, log, now, status)
        update_row(self.state, "gc_run", run_id, values)


if TYPE_CHECKING:

    def _is_gc_store(state: MemoryState) -> GcStore:
        return MemoryGcStore(state)

    def _is_gc_run_store(state: MemoryState) -> GcRunStore:
        return MemoryGcRunStore(state)
