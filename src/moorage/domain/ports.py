"""The ports the domain needs from the outside world. Adapters implement them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from moorage.oci.digest import Digest

if TYPE_CHECKING:
    from moorage.domain.kernel.model import (
        AccessKey,
        Artifact,
        ArtifactHead,
        ArtifactSummary,
        Blob,
        CleanupCandidateRow,
        CleanupPolicyRecord,
        DeliveryAttempt,
        Event,
        Execution,
        ExecutionTask,
        Image,
        ImageSummary,
        Job,
        Member,
        NewArtifact,
        Page,
        PageRequest,
        Project,
        ProtectionPolicyRecord,
        Referrer,
        Registry,
        RegistryUsage,
        Role,
        Schedule,
        Tag,
        UploadSession,
        User,
        Webhook,
        WebhookDelivery,
    )

BLOBS_DIR = "blobs"


def blob_key(digest: Digest) -> str:
    """The key of a committed blob: `blobs/<algorithm>/<first two hex>/<hex>`.

    The full key layout is documented in `moorage.storage.layout`.
    """
    return f"{BLOBS_DIR}/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"


DriverState = dict[str, Any]
"""Opaque, JSON-serialisable state of an upload in a blob store; kept in the upload row."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    size: int


class BlobStore(Protocol):
    """Bytes by key. Knows nothing about registries, images or tags.

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
        self, state: DriverState, chunks: AsyncIterator[bytes]
    ) -> tuple[int, DriverState]:
        """Append every chunk; return the new total size and state.

        On failure the upload stays as it was before this call (the caller may retry from
        the last recorded size).
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

    def walk(self, prefix: str) -> AsyncIterator[str]:
        """Every committed key under prefix (for reconcile and GC; never for listings)."""


class MetadataStore(Protocol):
    """Queries and writes of one unit of work (one transaction). Returns domain records.

    Every method runs inside the transaction opened by `UnitOfWorkFactory`; nothing is
    visible to others until it commits, and everything is rolled back on an exception.
    """

    # registries
    def create_registry(self, name: str, project: Project, now: datetime) -> Registry:
        """Insert a registry; raises Conflict when the name is taken."""

    def get_registry(self, name: str) -> Registry | None: ...

    def list_registries(self) -> list[RegistryUsage]:
        """Every registry with its image count and stored bytes (distinct blobs linked)."""

    def registry_usage(self, registry_id: int) -> RegistryUsage | None:
        """One registry with its image count and stored bytes."""

    def delete_registry(self, registry_id: int) -> None:
        """Delete a registry with its images, artifacts, tags, links and uploads."""

    def registry_image_count(self, registry_id: int) -> int: ...

    # images
    def get_image(self, registry: str, name: str) -> Image | None: ...

    def ensure_image(self, registry: Registry, name: str, now: datetime) -> Image:
        """The image, created on first push."""

    def lock_image(self, image_id: int) -> None:
        """Serialise writers of one image until the transaction ends (tag moves)."""

    def catalog(self, last: str | None, limit: int, registries: set[str] | None) -> list[str]:
        """Repository names (`registry/image`) in lexical order after `last`, limited to
        `registries` unless that is None."""

    def delete_image_if_empty(self, image_id: int) -> bool: ...

    # blobs
    def get_linked_blob(self, image_id: int, digest: str) -> Blob | None:
        """The blob if this image may read it (pushed or mounted here)."""

    def get_blob(self, digest: str) -> Blob | None:
        """The blob unless it is unknown or quarantined."""

    def add_blob(self, digest: str, size: int, now: datetime) -> None:
        """Record a committed, verified blob: a no-op when it is already known and live; a
        quarantined one becomes live again (its bytes were just replaced)."""

    def quarantine_blob(self, digest: str) -> bool:
        """Stop serving a blob whose stored bytes do not hash to its digest; False when it
        was not live."""

    def link_blob(self, image_id: int, digest: str, now: datetime) -> None:
        """Let the image read the blob; idempotent."""

    def unlink_blob(self, image_id: int, digest: str) -> bool: ...

    def linked_digests(self, image_id: int, digests: Sequence[str]) -> set[str]:
        """Which of these digests the image may read."""

    # uploads
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

    # artifacts and tags
    def resolve_artifact(
        self, registry: str, image: str, reference: str, by_digest: bool
    ) -> tuple[int, ArtifactHead] | None:
        """(image id, artifact) for a tag or digest of `registry/image`, in one round trip."""

    def manifest_body(self, artifact_id: int) -> bytes: ...

    def get_artifact(self, image_id: int, digest: str) -> Artifact | None: ...

    def artifact_digests_present(self, image_id: int, digests: Sequence[str]) -> set[str]: ...

    def insert_artifact(self, image_id: int, artifact: NewArtifact, now: datetime) -> int:
        """Store a new artifact with its blob and child references; returns its id."""

    def touch_artifact_push(self, artifact_id: int, now: datetime) -> None: ...

    def get_tag(self, image_id: int, name: str) -> Tag | None: ...

    def put_tag(self, image_id: int, name: str, artifact_id: int, now: datetime) -> None:
        """Point the tag at the artifact (creating or moving it) and record the push time."""

    def delete_tag(self, image_id: int, name: str) -> bool: ...

    def delete_artifact(self, artifact_id: int) -> None:
        """Delete an artifact, its tags and references."""

    def artifact_tags(self, artifact_id: int) -> list[str]: ...

    def registry_tags(self, registry_id: int) -> list[tuple[str, str]]:
        """(image name, tag) for every tag in the registry."""

    def artifact_parents(self, image_id: int, digest: str) -> list[str]:
        """Digests of indexes in the image that list this artifact as a child."""

    def list_tags(self, image_id: int, last: str | None, limit: int | None) -> list[str]: ...

    def referrers(
        self, image_id: int, subject_digest: str, artifact_type: str | None
    ) -> list[Referrer]: ...

    def list_images(self, registry_id: int, page: PageRequest) -> Page[ImageSummary]:
        """Images holding artifacts, with counts and latest push/pull; search on the name."""

    def list_artifacts(self, image_id: int, page: PageRequest) -> Page[ArtifactSummary]:
        """Artifacts of an image; search matches a digest or a tag."""

    def artifact_summaries(self, image_id: int, ids: Sequence[int]) -> list[ArtifactSummary]: ...

    def list_tag_page(self, image_id: int, artifact_id: int | None, page: PageRequest) -> Page[Tag]:
        """Tags of an image (or of one artifact), searched and sorted."""

    def image_artifact_ids(self, image_id: int) -> list[int]: ...

    # protection and cleanup policies
    def protection_policies(self, registry_id: int) -> list[ProtectionPolicyRecord]: ...

    def add_protection_policy(
        self, registry_id: int, values: dict[str, Any], now: datetime
    ) -> int: ...

    def update_protection_policy(
        self, policy_id: int, values: dict[str, Any], now: datetime
    ) -> bool: ...

    def delete_protection_policy(self, policy_id: int) -> bool: ...

    def cleanup_policies(self, registry_id: int) -> list[CleanupPolicyRecord]: ...

    def add_cleanup_policy(
        self, registry_id: int, values: dict[str, Any], now: datetime
    ) -> int: ...

    def update_cleanup_policy(
        self, policy_id: int, values: dict[str, Any], now: datetime
    ) -> bool: ...

    def delete_cleanup_policy(self, policy_id: int) -> bool: ...

    def cleanup_candidates(self, registry_id: int) -> list[CleanupCandidateRow]:
        """Every artifact of the registry's images, as cleanup evaluates them."""

    # background jobs (an outbox: enqueue in the transaction that makes the change)
    def enqueue_job(
        self,
        kind: str,
        payload: dict[str, Any],
        now: datetime,
        *,
        dedupe_key: str | None = None,
        max_attempts: int = 5,
        available_at: datetime | None = None,
    ) -> int | None:
        """Queue a job; with a dedupe key already queued or running, do nothing (None)."""

    def claim_job(
        self, kinds: Sequence[str], worker: str, now: datetime, lease: timedelta
    ) -> Job | None:
        """Take the oldest due job (or one whose lease expired) by compare-and-swap."""

    def finish_job(self, job_id: int, worker: str, now: datetime) -> bool: ...

    def retry_job(self, job_id: int, worker: str, error: str, available_at: datetime) -> bool: ...

    def fail_job(self, job_id: int, worker: str, error: str, now: datetime) -> bool: ...

    def extend_lease(self, job_id: int, worker: str, until: datetime) -> bool: ...

    def job_counts(self) -> dict[str, int]: ...

    def purge_finished_jobs(self, before: datetime) -> int: ...

    # schedules
    def get_schedule(self, kind: str, subject: str) -> Schedule | None: ...

    def put_schedule(
        self, kind: str, subject: str, cron: str, next_run_at: datetime, now: datetime
    ) -> Schedule: ...

    def delete_schedule(self, kind: str, subject: str) -> bool: ...

    def due_schedules(self, now: datetime, limit: int) -> list[Schedule]: ...

    def advance_schedule(
        self, schedule_id: int, expected: datetime, following: datetime, now: datetime
    ) -> bool:
        """Compare-and-swap the next run time: True for exactly one caller per due time."""

    # executions and their tasks
    def create_execution(
        self, kind: str, registry_id: int | None, trigger: str, dry_run: bool, now: datetime
    ) -> Execution: ...

    def get_execution(self, execution_id: int) -> Execution | None: ...

    def list_executions(
        self, kind: str, registry_id: int | None, offset: int, limit: int
    ) -> tuple[list[Execution], int]: ...

    def update_execution(self, execution_id: int, **values: Any) -> None: ...

    def add_execution_task(
        self,
        execution_id: int,
        subject: str,
        status: str,
        lines: list[dict[str, Any]],
        error: str | None,
        started_at: datetime | None,
        finished_at: datetime | None,
    ) -> int: ...

    def clear_execution_tasks(self, execution_id: int) -> None:
        """Forget a run's tasks (a run re-started after its worker died starts over)."""

    def list_execution_tasks(self, execution_id: int) -> list[ExecutionTask]: ...

    def record_pulls(self, pulls: Sequence[PullRecord]) -> None:
        """Set last-pull times of artifacts (and tags pulled by name)."""

    # webhooks, the events they are sent and their deliveries
    def webhooks(self, registry_id: int) -> list[Webhook]:
        """The registry's webhooks, enabled or not, oldest first."""

    def get_webhook(self, webhook_id: int) -> Webhook | None: ...

    def add_webhook(self, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        """Insert a webhook; raises Conflict when the registry has one of that name."""

    def update_webhook(self, webhook_id: int, values: dict[str, Any], now: datetime) -> bool:
        """Change a webhook; raises Conflict when another one of its registry has the name."""

    def delete_webhook(self, webhook_id: int) -> bool:
        """Delete a webhook with its deliveries and their attempts."""

    def add_event(self, event: Event) -> None: ...

    def get_event(self, event_id: str) -> Event | None: ...

    def add_delivery(self, webhook_id: int, event: Event, max_attempts: int, now: datetime) -> int:
        """A pending delivery of the event to the webhook; returns its id."""

    def get_delivery(self, delivery_id: int) -> WebhookDelivery | None: ...

    def set_delivery_body(self, delivery_id: int, body: str, content_type: str) -> None:
        """Freeze what the delivery sends; a no-op once a body is set (retries resend it)."""

    def record_delivery_attempt(
        self, delivery_id: int, attempt: DeliveryAttempt | None, status: str, error: str | None
    ) -> bool:
        """Add an attempt (if any) and set the status, only while the delivery is pending.

        False when it is not pending any more (another worker finished it): nothing changes.
        """

    def list_deliveries(
        self, webhook_id: int, status: str | None, offset: int, limit: int
    ) -> tuple[list[WebhookDelivery], int]:
        """A webhook's deliveries, newest first, and how many there are in all."""

    def delivery_attempts(self, delivery_ids: Sequence[int]) -> dict[int, list[DeliveryAttempt]]:
        """The attempts of each delivery, in order."""

    def purge_events(self, before: datetime) -> int:
        """Delete events older than `before` (with their deliveries) that nothing still
        waits to deliver; returns how many went."""

    # users
    def get_user(self, username: str) -> User | None: ...

    def create_user(self, username: str, password_hash: str, is_admin: bool, now: datetime) -> User:
        """Insert a user; raises Conflict when the name is taken."""

    def count_users(self) -> int: ...

    def list_users(self) -> list[User]: ...

    def get_user_by_id(self, user_id: int) -> User | None: ...

    def delete_user(self, user_id: int) -> None:
        """Delete a user with its memberships and access keys."""

    def set_password(self, user_id: int, password_hash: str) -> None: ...

    # projects and members
    def create_project(self, name: str, now: datetime) -> Project:
        """Insert a project; raises Conflict when the name is taken."""

    def get_project(self, name: str) -> Project | None: ...

    def list_projects(self) -> list[Project]: ...

    def set_member(self, project_id: int, user_id: int, role: Role, now: datetime) -> None:
        """Give the user this role in the project (adding or changing the membership)."""

    def remove_member(self, project_id: int, user_id: int) -> bool: ...

    def list_members(self, project_id: int) -> list[Member]: ...

    def role_in_registry(self, user_id: int, registry: str) -> Role | None:
        """The user's role in the project owning the registry; None when not a member."""

    def role_in_project(self, user_id: int, project_id: int) -> Role | None: ...

    def memberships(self, user_id: int) -> list[tuple[str, Role]]:
        """(project, role) for every project the user is a member of."""

    def readable_registries(self, user_id: int) -> set[str]:
        """Names of the registries in every project the user is a member of."""

    # access keys
    def create_access_key(
        self, user_id: int, key_id: str, secret_hash: str, now: datetime
    ) -> AccessKey: ...

    def get_access_key(self, key_id: str) -> AccessKey | None: ...

    def list_access_keys(self, user_id: int) -> list[AccessKey]: ...

    def set_access_key_enabled(self, key_id: str, enabled: bool) -> bool: ...

    def delete_access_key(self, key_id: str) -> bool: ...

    def touch_access_key(self, key_id: str, now: datetime) -> None:
        """Record the key's last use."""


@dataclass(frozen=True, slots=True)
class PullRecord:
    artifact_id: int
    tag: str | None
    image_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """One webhook POST."""

    url: str
    body: bytes
    headers: dict[str, str]
    verify_tls: bool = True


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    status_code: int | None  # None: no HTTP answer (refused, unresolvable, timeout, TLS)
    error: str | None  # None when the target answered 2xx
    duration_ms: int
    refused: bool = False  # the address is not allowed: retrying cannot help


class WebhookSender(Protocol):
    """Calls webhook targets, refusing addresses inside the deployment's network.

    Loopback, link-local, private and other non-global addresses are refused unless the
    operator allowed them: when a webhook is created (`check_address`) and again on every
    delivery, after resolving the name, so DNS cannot be used to reach inside.
    """

    def check_address(self, url: str) -> None:
        """Raise `moorage.domain.webhooks.RefusedAddress` when the URL's host is, or
        resolves to, a refused address. A name that does not resolve now passes (each
        delivery checks again)."""

    async def post(self, request: OutboundRequest) -> OutboundResponse:
        """POST once, following no redirects, within the sender's timeouts. Failures
        (refused, network, timeout, non-2xx) are reported in the response, never raised."""


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = False) -> AbstractContextManager[MetadataStore]:
        """Open a transaction; `write=True` takes the write lock up front (SQLite)."""


class PasswordHasher(Protocol):
    """Slow, salted hashing of user passwords (argon2id)."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Services:
    """What the composition root builds and the entrypoints receive."""

    uow: UnitOfWorkFactory
    blobs: BlobStore
    password_hasher: PasswordHasher
    webhook_sender: WebhookSender
    token_key: bytes
    public_host: str | None
    private_host: str | None
    local_metadata: bool = False  # reads never wait on the network or on writers (SQLite WAL)
    webhook_retry_base_seconds: float = 5.0  # first retry delay; doubles on each failure
