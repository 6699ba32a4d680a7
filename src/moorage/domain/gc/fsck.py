"""Consistency checks of metadata against the blob store (`moorage fsck`).

Finds rows whose object is missing, objects no row knows, size mismatches, digest mismatches
(when asked to read every object), artifacts referring to blobs that are not served, and
dangling tags. With repair it fixes what is safe: orphan objects past the grace window are
deleted, blobs whose object is missing or wrong are quarantined (their manifests' pulls get
BLOB_UNKNOWN until a push brings the bytes back). Usage needs no recount: it is computed from
the references on every read (`metadata/registries.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from moorage.domain.content.ports import BlobStore
from moorage.domain.gc import rules
from moorage.domain.gc.model import BlobRow
from moorage.domain.gc.ports import GcTx
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.model import BlobStatus
from moorage.domain.kernel.ports import UnitOfWork
from moorage.oci.digest import Digest

PAGE = 1000


@dataclass(slots=True)
class Finding:
    kind: str  # missing_object, orphan_object, size_mismatch, digest_mismatch, ...
    subject: str
    detail: str
    repaired: bool = False


@dataclass(slots=True)
class FsckReport:
    findings: list[Finding] = field(default_factory=list)
    blobs_checked: int = 0
    objects_checked: int = 0

    @property
    def clean(self) -> bool:
        return not self.findings

    @property
    def unrepaired(self) -> list[Finding]:
        return [f for f in self.findings if not f.repaired]


class Fsck:
    def __init__(
        self,
        uow: UnitOfWork[GcTx],
        blobs: BlobStore,
        clock: Clock = utcnow,
        *,
        grace_seconds: float = 7200.0,
        blocking: Blocking | None = None,
    ) -> None:
        self._uow = uow
        self._blocking = blocking or Blocking()
        self._blobs = blobs
        self._clock = clock
        self._grace = grace_seconds

    async def check(
        self,
        *,
        repair: bool = False,
        verify_digests: bool = False,
        progress: Callable[[str, int], None] | None = None,
    ) -> FsckReport:
        report = FsckReport()
        await self._check_rows(report, repair, verify_digests, progress)
        await self._check_objects(report, repair, progress)
        await self._blocking.run(self._check_references, report)
        return report

    async def _check_rows(
        self,
        report: FsckReport,
        repair: bool,
        verify: bool,
        progress: Callable[[str, int], None] | None,
    ) -> None:
        after: str | None = None
        while True:
            page: list[BlobRow] = await self._blocking.run(self._page, after)
            if not page:
                return
            for row in page:
                report.blobs_checked += 1
                problem = await self._problem(row, verify)
                if problem is None:
                    continue
                finding = Finding(problem[0], row.digest, problem[1])
                if repair and row.status in (BlobStatus.LIVE, BlobStatus.MARKED):
                    finding.repaired = await self._blocking.run(self._quarantine, row.digest)
                report.findings.append(finding)
            after = page[-1].digest
            if progress:
                progress("blobs", report.blobs_checked)

    def _page(self, after: str | None) -> list[BlobRow]:
        with self._uow() as store:
            return store.gc.blob_rows(after, PAGE)

    def _quarantine(self, digest: str) -> bool:
        with self._uow(write=True) as store:
            return store.blobs.quarantine_blob(digest)

    async def _problem(self, row: BlobRow, verify: bool) -> tuple[str, str] | None:
        if row.status in (BlobStatus.QUARANTINED, BlobStatus.DELETING):
            return None  # not served: nothing to promise about its object
        parsed = Digest.parse(row.digest)
        key = self._blobs.key_for(parsed)
        info = await self._blobs.stat(key)
        if info is None:
            return "missing_object", f"no object at {key}"
        if info.size != row.size:
            return "size_mismatch", f"object holds {info.size} bytes, row says {row.size}"
        if verify:
            hasher = hashlib.new(parsed.algorithm)
            async for chunk in self._blobs.read(key, 0, info.size):
                hasher.update(chunk)
            if hasher.hexdigest() != parsed.hex:
                return "digest_mismatch", f"bytes hash to {parsed.algorithm}:{hasher.hexdigest()}"
        return None

    async def _check_objects(
        self, report: FsckReport, repair: bool, progress: Callable[[str, int], None] | None
    ) -> None:
        cutoff = rules.sweep_cutoff(self._clock(), self._grace)
        batch: list[tuple[str, str, bool]] = []
        async for obj in self._blobs.list_blobs():
            report.objects_checked += 1
            digest = self._blobs.digest_of(obj.key)
            if digest is None:
                report.findings.append(Finding("foreign_object", obj.key, "not a blob key"))
                continue
            batch.append((obj.key, str(digest), rules.is_old_enough(obj.modified, cutoff)))
            if len(batch) >= PAGE:
                await self._orphans(report, batch, repair)
                batch = []
                if progress:
                    progress("objects", report.objects_checked)
        await self._orphans(report, batch, repair)

    async def _orphans(
        self, report: FsckReport, batch: list[tuple[str, str, bool]], repair: bool
    ) -> None:
        if not batch:
            return
        digests = [d for _, d, _ in batch]
        known = await self._blocking.run(self._known, digests)
        orphans = [(key, old) for key, d, old in batch if d not in known]
        deletable = [key for key, old in orphans if old]
        failed = set(await self._blobs.delete_many(deletable)) if repair and deletable else set()
        for key, old in orphans:
            detail = "no blob row" + ("" if old else " (within the grace window: left alone)")
            done = repair and old and key not in failed
            report.findings.append(Finding("orphan_object", key, detail, repaired=done))

    def _known(self, digests: list[str]) -> set[str]:
        with self._uow() as store:
            return store.gc.known_digests(digests)

    def _check_references(self, report: FsckReport) -> None:
        with self._uow() as store:
            for ref in store.gc.missing_references(10_000):
                state = ref.blob_status.value if ref.blob_status else "unknown"
                report.findings.append(
                    Finding(
                        "missing_blob",
                        f"{ref.repository}@{ref.artifact_digest}",
                        f"refers to {ref.blob_digest}, which is {state} (pulls get BLOB_UNKNOWN)",
                    )
                )
            for tag in store.gc.dangling_tags(10_000):
                report.findings.append(
                    Finding(
                        "dangling_tag",
                        f"{tag.repository}:{tag.tag}",
                        f"points at {tag.artifact_digest} of another image",
                    )
                )
