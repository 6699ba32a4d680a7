"""Copy one artifact from one endpoint to another, so the destination is never half-tagged.

Order: an index's children (each child's blobs, then the child by digest), the artifact's
own config and layers, the artifact by digest when referrers follow it, its referrers (and
its children's) after their subject, by digest, and the tag last. Everything is asked about
first (a HEAD): what the destination holds is not sent again. A blob written to another
repository of the destination earlier in the run is mounted from there instead of sent.
Nothing is ever deleted at the destination.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from moorage.domain.replication.endpoints import (
    BlobRef,
    Endpoint,
    EndpointError,
    ManifestBody,
)
from moorage.oci import manifests

CopyStatus = Literal["copied", "skipped", "kept"]


@dataclass(frozen=True, slots=True)
class CopyResult:
    """`copied`; `skipped` (the tag already names the same digest there); `kept` (the tag
    names another digest there and the rule does not override)."""

    status: CopyStatus
    digest: str
    bytes_sent: int

    @property
    def bytes(self) -> int:
        return self.bytes_sent


@dataclass(slots=True)
class BlobPlaces:
    """Where blobs are known to be at the destination during one run (digest → repository):
    a blob another repository already holds is mounted from it rather than sent again."""

    known: dict[str, str] = field(default_factory=dict)

    def where(self, digest: str) -> str | None:
        return self.known.get(digest)

    def note(self, digest: str, repository: str) -> None:
        self.known[digest] = repository


def is_digest_reference(reference: str) -> bool:
    return ":" in reference


class _Copy:
    """One artifact's copy: the endpoints, the repositories and what was sent so far."""

    def __init__(
        self,
        source: Endpoint,
        destination: Endpoint,
        source_repo: str,
        destination_repo: str,
        places: BlobPlaces,
        log: Callable[[str], None],
    ) -> None:
        self.source = source
        self.destination = destination
        self.source_repo = source_repo
        self.destination_repo = destination_repo
        self.places = places
        self.log = log
        self.sent = 0
        self.done: set[str] = set()  # manifests known present at the destination
        self._referrers: dict[str, list[ManifestBody]] = {}

    async def tree(self, manifest: ManifestBody) -> None:
        """The manifest's children and blobs at the destination (not the manifest itself)."""
        parsed = _parse(manifest)
        for child in parsed.children:
            await self.manifest_by_digest(str(child.digest))
        for blob in parsed.blobs:
            await self.blob(BlobRef(str(blob.digest), blob.size))

    async def manifest_by_digest(self, digest: str) -> None:
        """An untagged manifest (index child or referrer) with everything it names."""
        if digest in self.done:
            return
        if await self.destination.manifest_digest(self.destination_repo, digest) is None:
            manifest = await self.source.get_manifest(self.source_repo, digest)
            if manifest is None:
                raise EndpointError(f"{self.source_repo}@{digest} is missing at the source")
            await self.tree(manifest)
            await self.put(digest, manifest)
        self.done.add(digest)

    async def put(self, reference: str, manifest: ManifestBody) -> None:
        await self.destination.put_manifest(self.destination_repo, reference, manifest)
        self.sent += len(manifest.body)
        self.log(f"manifest {manifest.digest} written as {reference}")

    async def blob(self, blob: BlobRef) -> None:
        known = self.places.where(blob.digest)
        if known == self.destination_repo:
            return
        if await self.destination.has_blob(self.destination_repo, blob.digest):
            self.places.note(blob.digest, self.destination_repo)
            return
        opener = self.source.open_blob(self.source_repo, blob)
        sent = await self.destination.put_blob(self.destination_repo, blob, opener, known)
        self.sent += sent
        how = "mounted from " + known if known and sent == 0 else f"sent ({sent} bytes)"
        self.log(f"blob {blob.digest} ({blob.size} bytes) {how}")
        self.places.note(blob.digest, self.destination_repo)

    async def referrers_at_source(self, subject: str) -> list[ManifestBody]:
        if subject not in self._referrers:
            found = await self.source.referrers(self.source_repo, subject)
            self._referrers[subject] = found
        return self._referrers[subject]

    async def referrers(self, subject: str) -> None:
        """The subject's referrers (signatures, SBOMs) and theirs, after the subject."""
        for referrer in await self.referrers_at_source(subject):
            if referrer.digest in self.done:
                continue
            await self.manifest_by_digest(referrer.digest)
            await self.referrers(referrer.digest)

    async def referrers_of_all(self, manifest: ManifestBody) -> None:
        """Referrers of the manifest and of its children (a signature of one platform)."""
        for subject in _subjects(manifest):
            await self.referrers(subject)

    async def any_referrers(self, manifest: ManifestBody) -> bool:
        """Whether the artifact or a child has referrers: they need their subject there
        first, so the artifact goes by digest before the tag moves."""
        for subject in _subjects(manifest):
            if await self.referrers_at_source(subject):
                return True
        return False


def _subjects(manifest: ManifestBody) -> list[str]:
    return [manifest.digest, *(str(c.digest) for c in _parse(manifest).children)]


def _parse(manifest: ManifestBody) -> manifests.ParsedManifest:
    try:
        return manifests.parse(manifest.body, manifest.media_type)
    except manifests.ManifestError as exc:
        raise EndpointError(f"manifest {manifest.digest} cannot be read: {exc}") from None


async def copy_artifact(
    source: Endpoint,
    destination: Endpoint,
    source_repo: str,
    destination_repo: str,
    reference: str,
    *,
    override: bool,
    log: Callable[[str], None],
    places: BlobPlaces | None = None,
) -> CopyResult:
    """Copy the artifact `reference` (a tag, or a digest for an untagged one) with its
    children, blobs and referrers; the tag is written last, once all of it is there.
    Raises `EndpointError` when either side fails: the destination's tag is then untouched.
    `places` is shared by the copies of one run (mounts across repositories)."""
    manifest = await source.get_manifest(source_repo, reference)
    if manifest is None:
        raise EndpointError(f"{source_repo}:{reference} is not at the source any more")
    tag = None if is_digest_reference(reference) else reference
    copy = _Copy(source, destination, source_repo, destination_repo, places or BlobPlaces(), log)
    current = await destination.manifest_digest(destination_repo, reference)
    if current == manifest.digest:
        log(f"{destination_repo}:{reference} is already {manifest.digest}")
        copy.done.add(manifest.digest)
        await copy.referrers_of_all(manifest)  # added at the source since the last copy
        return CopyResult("skipped", manifest.digest, copy.sent)
    if tag is not None and current is not None and not override:
        log(f"{destination_repo}:{tag} points to {current}: kept (override is off)")
        return CopyResult("kept", manifest.digest, 0)
    await copy.tree(manifest)
    if tag is None or await copy.any_referrers(manifest):
        await copy.put(manifest.digest, manifest)
        copy.done.add(manifest.digest)
        await copy.referrers_of_all(manifest)
    if tag is not None:
        await copy.put(tag, manifest)
    return CopyResult("copied", manifest.digest, copy.sent)
