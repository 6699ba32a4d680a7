"""Role ports of registry content: the blob store driver and the metadata roles."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from moorage.domain.identity.ports import ProjectStore
from moorage.domain.kernel.model import BlobStatus, DriverState
from moorage.domain.kernel.ports import RegistryTx
from moorage.domain.policies.ports import PolicyTx
from moorage.oci.digest import Digest

if TYPE_CHECKING:
    from moorage.domain.kernel.model import (
        Artifact,
        ArtifactHead,
        ArtifactSummary,
        Blob,
        Image,
        ImageSummary,
        NewArtifact,
        Page,
        PageRequest,
        Referrer,
        Registry,
        Tag,
        UploadSession,
    )


class ImageStore(Protocol):
    """Images (repositories) inside registries, and the catalog."""

    def get_image(self, registry: str, name: str) -> Image | None: ...

    def ensure_image(self, registry: Registry, name: str, now: datetime) -> Image:
        """The image, created on first push."""

    def lock_image(self, image_id: int) -> None:
        """Serialise writers of one image until the transaction ends (tag moves)."""

    def catalog(self, last: str | None, limit: int, registries: set[str] | None) -> list[str]:
        """Repository names (`registry/image`) in lexical order after `last`, limited to
        `registries` unless that is None."""

    def delete_image_if_empty(self, image_id: int) -> bool: ...

    def list_images(self, registry_id: int, page: PageRequest) -> Page[ImageSummary]:
        """Images holding artifacts, with counts and latest push/pull; search on the name."""

    def image_artifact_ids(self, image_id: int) -> list[int]: ...


class BlobIndex(Protocol):
    """Which blobs exist, their state, and which image may read which blob."""

    def get_linked_blob(self, image_id: int, digest: str) -> Blob | None:
        """The blob if this image may read it (pushed or mounted here)."""

    def get_blob(self, digest: str) -> Blob | None:
        """The blob unless it is unknown, quarantined or being deleted."""

    def add_blob(self, digest: str, size: int, now: datetime) -> None:
        """Record a committed, verified blob: a no-op when it is already known and live; a
        quarantined or marked one becomes live again (its bytes were just replaced). One
        garbage collection is deleting raises BlobBeingCollected (nothing is recorded)."""

    def blob_status(self, digest: str) -> BlobStatus | None:
        """The blob's state, whatever it is; None when unknown."""

    def take_back(self, digests: Sequence[str]) -> set[str]:
        """Turn marked blobs among these back to live, by compare-and-set in the caller's
        transaction (one garbage collection started deleting stays so); returns the digests
        that are live now. Every path that makes a blob referenced or readable again calls
        it first, so the sweeper's compare-and-set and this one cannot both win."""

    def quarantine_blob(self, digest: str) -> bool:
        """Stop serving a blob whose stored bytes do not hash to its digest; False when it
        was not live."""

    def link_blob(self, image_id: int, digest: str, now: datetime) -> None:
        """Let the image read the blob; idempotent."""

    def unlink_blob(self, image_id: int, digest: str) -> bool: ...

    def linked_sizes(self, image_id: int, digests: Sequence[str]) -> dict[str, int]:
        """The size of each of these blobs the image may read (the others are absent)."""


class UploadStore(Protocol):
    """Upload sessions and the claim of their one writer."""

    def create_upload(self, session: UploadSession) -> None: ...

    def get_upload(self, upload_id: str) -> UploadSession | None: ...

    def get_upload_in(self, registry: str, image: str, upload_id: str) -> UploadSession | None:
        """The upload if it belongs to `registry/image` (one round trip on the push path)."""

    def claim_upload(
        self,
        upload_id: str,
        size: int,
        writer: str,
        now: datetime,
        stale_before: datetime,
        dead_writer: str | None = None,
    ) -> bool:
        """Make `writer` the upload's only writer, if it still holds `size` bytes and no
        other writer holds it (a claim not renewed since `stale_before` is abandoned, and
        so is one held by `dead_writer`)."""

    def renew_upload_claim(self, upload_id: str, writer: str, now: datetime) -> bool:
        """Keep `writer`'s claim alive; False when the claim was lost (or the upload gone)."""

    def release_upload(
        self,
        upload_id: str,
        writer: str,
        size: int | None,
        driver_state: DriverState | None,
        now: datetime,
    ) -> bool:
        """End `writer`'s claim, recording the new size and state unless `size` is None;
        False when the claim had been lost (nothing is recorded then)."""

    def delete_upload(self, upload_id: str, writer: str | None = None) -> bool:
        """Delete the upload (only while `writer` holds it, when given)."""

    def expired_uploads(self, before: datetime, limit: int) -> list[UploadSession]: ...


class ArtifactStore(Protocol):
    """Artifacts (manifests) of images, what they reference and who refers to them."""

    def resolve_artifact(
        self, registry: str, image: str, reference: str, by_digest: bool
    ) -> tuple[int, ArtifactHead] | None:
        """(image id, artifact) for a tag or digest of `registry/image`, in one round trip."""

    def manifest_body(self, artifact_id: int) -> bytes: ...

    def get_artifact(self, image_id: int, digest: str) -> Artifact | None: ...

    def artifact_digests_present(self, image_id: int, digests: Sequence[str]) -> set[str]: ...

    def insert_artifact(self, image_id: int, artifact: NewArtifact, now: datetime) -> int:
        """Store a new artifact with its blob and child references; returns its id.
        AlreadyExists (and nothing changed) when the image has the digest already."""

    def touch_artifact_push(self, artifact_id: int, now: datetime) -> None: ...

    def delete_artifact(self, artifact_id: int) -> None:
        """Delete an artifact, its tags and references."""

    def artifact_parents(self, image_id: int, digest: str) -> list[str]:
        """Digests of indexes in the image that list this artifact as a child."""

    def referrers(
        self, image_id: int, subject_digest: str, artifact_type: str | None
    ) -> list[Referrer]: ...

    def list_artifacts(self, image_id: int, page: PageRequest) -> Page[ArtifactSummary]:
        """Top-level artifacts of an image (neither an index's child nor a referrer of an
        artifact in the image: those are shown under it); search matches a digest or a tag."""

    def artifact_summaries(self, image_id: int, ids: Sequence[int]) -> list[ArtifactSummary]:
        """Summaries of these artifacts: sizes, their `RECENT_TAGS` most recent tags (newest
        first, by push time then id) with a count of all, and how many referrers they have.
        Never reads every tag of an artifact."""

    def record_pulls(self, pulls: Sequence[PullRecord]) -> None:
        """Set last-pull times of artifacts (and tags pulled by name)."""


class TagStore(Protocol):
    """Tags: the names that point at artifacts."""

    def get_tag(self, image_id: int, name: str) -> Tag | None: ...

    def put_tag(self, image_id: int, name: str, artifact_id: int, now: datetime) -> None:
        """Point the tag at the artifact (creating or moving it) and record the push time."""

    def delete_tag(self, image_id: int, name: str) -> bool: ...

    def artifact_tags(self, artifact_id: int) -> list[str]: ...

    def artifact_has_tag_like(self, artifact_id: int, globs: Sequence[str], matching: bool) -> bool:
        """Whether a tag of the artifact matches one of `globs` (`matching`), or matches
        none of them (not `matching`). A glob is a simple glob (`tag_globs`): `*` any run,
        `?` one character, `[…]` one of the characters listed, any other character itself;
        case-sensitive."""

    def artifact_tag_batch(
        self, artifact_id: int, after: TagCursor | None, limit: int
    ) -> tuple[list[str], TagCursor | None]:
        """Up to `limit` tag names of the artifact, newest first, from past `after`; and
        where the next batch starts (None once there is no more)."""

    def list_tags(self, image_id: int, last: str | None, limit: int | None) -> list[str]: ...

    def list_tag_page(self, image_id: int, artifact_id: int | None, page: PageRequest) -> Page[Tag]:
        """Tags of an image (or of one artifact), searched and sorted."""


RECENT_TAGS = 10  # tags an artifact summary carries; the rest are paged through


@dataclass(frozen=True, slots=True)
class TagCursor:
    """Where a newest-first walk over an artifact's tags stopped: the last tag's push time
    and id (push times tie when tags are written in one transaction)."""

    pushed_at: datetime
    tag_id: int


@dataclass(frozen=True, slots=True)
class BlobInfo:
    size: int


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object a blob store holds under `blobs/`, as its listing reports it."""

    key: str
    size: int
    modified: datetime
    """When it was last written (UTC-aware)."""


@dataclass(frozen=True, slots=True)
class UploadLeftover:
    """Something an unfinished upload left in a blob store: an upload file, a staging object,
    an S3 multipart upload. Upload sessions name theirs by `BlobStore.upload_ref`."""

    ref: str
    """The same string `upload_ref` gives for the upload's driver state."""
    size: int | None
    """Bytes it holds, when the store can tell cheaply."""
    started: datetime
    """When it was last written (UTC-aware); where the store cannot tell, when it began."""
    detail: tuple[str, ...] = ()
    """What the driver needs to discard it; opaque to callers."""


class BlobHousekeeping(Protocol):
    """What garbage collection and the consistency check need of a blob store: every blob
    it holds, bulk deletes, and what unfinished uploads left behind."""

    def key_for(self, digest: Digest) -> str:
        """The key a committed blob with this digest has (the layout is the store's own)."""

    async def delete_many(self, keys: Sequence[str]) -> list[str]:
        """Remove committed blobs in bulk; missing keys are not errors.

        Returns the keys that could not be deleted (the caller may retry them later). Every
        key is checked before anything is deleted: a bad one raises ValueError."""

    def list_blobs(self) -> AsyncIterator[StoredObject]:
        """Every object under `blobs/` with its size and modification time, page by page
        (never all in memory); objects that are not well-formed blob keys are listed too
        (`digest_of` tells them apart)."""

    def digest_of(self, key: str) -> Digest | None:
        """The digest whose blob `key_for` puts at key, or None when key is no blob key."""

    def upload_ref(self, state: DriverState) -> str:
        """The `ref` that leftovers of the upload with this driver state carry."""

    def upload_leftovers(self, started_before: datetime) -> AsyncIterator[UploadLeftover]:
        """What unfinished uploads left behind and nobody has written since `started_before`
        (UTC-aware), page by page; one upload may leave several leftovers with one ref."""

    async def discard_leftover(self, leftover: UploadLeftover) -> None:
        """Delete one leftover `upload_leftovers` yielded; idempotent. Where the store can
        tell (files, multipart uploads), one written again since it was listed is kept."""


class Hasher(Protocol):
    """A running digest (a `hashlib` object) that an upload's bytes are fed to."""

    def update(self, data: bytes, /) -> None: ...


class BlobStore(BlobHousekeeping, Protocol):
    """Bytes by key, and the housekeeping above. Knows nothing about registries, images or
    tags.

    Keys are produced by `moorage.storage.layout` (content-addressed paths); a driver must
    refuse a key that could escape its root.
    """

    async def stat(self, key: str) -> BlobInfo | None:
        """Size of a committed blob, or None when it does not exist."""

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream a committed blob (or a byte range of it); raises KeyError when missing."""

    def local_path(self, key: str) -> str | None:
        """A filesystem path the web server may send directly (zero-copy), or None."""

    async def redirect_url(self, key: str, *, private: bool) -> str | None:
        """A short-lived URL a client may download from directly, or None (SPEC §9)."""

    async def delete(self, key: str) -> None:
        """Remove a committed blob; deleting a missing key is not an error."""

    async def begin_upload(self) -> DriverState:
        """Start an empty upload; the state is stored by the caller between requests."""

    async def append(
        self, state: DriverState, chunks: AsyncIterator[bytes], hasher: Hasher | None = None
    ) -> tuple[int, DriverState]:
        """Append every chunk; return the new total size and state.

        `hasher`, when given, is fed every appended byte in order, possibly from a worker
        thread (where a driver writes). On failure the upload stays as it was before this
        call (the caller may retry from the last recorded size) and what the hasher was fed
        is undefined.
        """

    def read_upload(self, state: DriverState) -> AsyncIterator[bytes]:
        """Stream what an upload holds so far (to verify its digest at finish).

        A driver may seal the upload to read it (S3 completes its multipart upload), so after
        `read_upload` only `commit` or `abort` may follow, never another `append`.
        """

    async def commit(self, state: DriverState, key: str) -> None:
        """Make the upload visible under key, atomically: readers see all of it or nothing.

        The caller commits verified bytes only, so they replace whatever the key held (a
        crash's leftover, or bytes found not to match their digest). A retried commit of an
        upload that already succeeded succeeds too."""

    async def abort(self, state: DriverState) -> None:
        """Throw an unfinished upload away; idempotent."""

    async def put(self, key: str, data: bytes) -> None:
        """Store a small blob's verified bytes under key in one step, as an upload's
        `commit` would: atomically, replacing what the key holds, durably."""

    def walk(self, prefix: str) -> AsyncIterator[str]:
        """Every committed key under prefix (never for listings; `list_blobs` gives sizes
        and times too)."""


@dataclass(frozen=True, slots=True)
class PullRecord:
    artifact_id: int
    tag: str | None
    image_id: int
    at: datetime


class ImageTx(RegistryTx, Protocol):
    @property
    def images(self) -> ImageStore: ...


class UploadTx(ImageTx, Protocol):
    """What uploads use: images, the blob index and upload sessions."""

    @property
    def blobs(self) -> BlobIndex: ...

    @property
    def uploads(self) -> UploadStore: ...


class ContentTx(UploadTx, PolicyTx, Protocol):
    """What registry content's services use: content roles, the policies that protect it,
    the webhook events it records, the projects that own registries."""

    @property
    def artifacts(self) -> ArtifactStore: ...

    @property
    def tags(self) -> TagStore: ...

    @property
    def projects(self) -> ProjectStore: ...


class PushListener(Protocol):
    """Told of every tag a push points at an artifact, inside the pushing transaction
    (replication queues its copies there); it must not fail the push for its own reasons."""

    def tag_pushed(
        self,
        store: ContentTx,
        registry_id: int,
        repository: str,
        tag: str,
        digest: str,
        now: datetime,
    ) -> None:
        """`repository` is the image's name inside its registry (`app/web`)."""
