"""The domain's records: plain frozen dataclasses, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


DriverState = dict[str, Any]
"""Opaque, JSON-serialisable state of an upload in a blob store; kept in the upload row."""


@dataclass(frozen=True, slots=True)
class Registry:
    id: int
    name: str
    created_at: datetime
    project: str = "default"


@dataclass(frozen=True, slots=True)
class RegistryUsage:
    registry: Registry
    image_count: int
    stored_bytes: int


@dataclass(frozen=True, slots=True)
class Image:
    id: int
    registry_id: int
    registry: str
    name: str  # without the registry prefix
    created_at: datetime

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.name}"


class BlobStatus(StrEnum):
    """Whether a known blob is served. Quarantined: its stored bytes were found not to hash to
    its digest, so it is unknown to clients until a verified push of the same digest replaces
    them (and it is live again)."""

    LIVE = "live"
    QUARANTINED = "quarantined"
    MARKED = "marked"
    """No artifact referenced it when garbage collection last looked; still served."""
    DELETING = "deleting"
    """Garbage collection is deleting its object: unknown to clients."""


@dataclass(frozen=True, slots=True)
class Blob:
    digest: str
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ArtifactHead:
    """What a manifest GET/HEAD needs: enough to answer without the body."""

    id: int
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class Artifact:
    id: int
    image_id: int
    digest: str
    media_type: str
    artifact_type: str | None
    size: int  # manifest size in bytes
    subject_digest: str | None
    pushed_at: datetime
    pulled_at: datetime | None
    created_at: datetime
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HelmChart:
    """What a Helm chart's config (its Chart.yaml, as JSON) says it is."""

    name: str
    version: str
    app_version: str | None

    def as_json(self) -> dict[str, str | None]:
        """As the artifact row keeps it."""
        return {"name": self.name, "version": self.version, "app_version": self.app_version}

    @staticmethod
    def from_json(value: Any) -> HelmChart | None:
        """From the artifact row (None: the artifact is no Helm chart)."""
        if not isinstance(value, dict):
            return None
        app_version = value.get("app_version")
        return HelmChart(
            str(value["name"]),
            str(value["version"]),
            str(app_version) if app_version is not None else None,
        )


@dataclass(frozen=True, slots=True)
class NewArtifact:
    """An artifact about to be stored, with what it references."""

    digest: str
    media_type: str
    artifact_type: str | None
    body: bytes
    subject_digest: str | None
    annotations: dict[str, str]
    blob_digests: tuple[str, ...]
    child_digests: tuple[str, ...]
    platforms: tuple[str, ...]
    helm_chart: HelmChart | None = None  # read from the config when the manifest is pushed


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    artifact_id: int
    digest: str
    pushed_at: datetime
    pulled_at: datetime | None
    protected: bool = False  # set by the browse service from the protection policies
    protected_by: str | None = None  # the protecting policy's selectors, when protected


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    annotations: dict[str, str]


@dataclass(frozen=True, slots=True)
class UploadSession:
    id: str
    image_id: int
    size: int
    driver_state: DriverState
    started_at: datetime
    updated_at: datetime
    writer: str | None = None
    """The claim token of the request writing to it now, or None."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    password_hash: str
    is_admin: bool
    created_at: datetime
    disabled: bool = False
    """A disabled user cannot sign in, and their sessions, tokens and access keys stop."""
    auth_generation: int = 0
    """Carried by every console session and bearer token issued to the user; raising it
    (password change, disabling, a role change, signing out everywhere) ends them all."""


class Role(StrEnum):
    """Roles bound per project (SPEC §5)."""

    PROJECT_ADMIN = "project_admin"
    PROJECT_MEMBER = "project_member"
    SERVICE_ADMIN = "service_admin"
    SERVICE_VIEWER = "service_viewer"


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    project: str
    username: str
    role: Role
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AccessKey:
    id: int
    user_id: int
    key_id: str
    secret_hash: str
    enabled: bool
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class ImageSummary:
    name: str  # without the registry prefix
    artifact_count: int  # top-level: not an index's child, not a referrer of another
    tag_count: int
    pushed_at: datetime | None
    pulled_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ArtifactSummary:
    id: int
    digest: str
    media_type: str
    artifact_type: str | None
    size: int  # manifest plus the blobs it references (an index: plus its children's)
    platforms: tuple[str, ...]
    pushed_at: datetime
    pulled_at: datetime | None
    tags: tuple[str, ...]  # the most recent few (by push time, newest first), not all
    tag_count: int  # all of its tags
    referrer_count: int  # artifacts of the image whose subject it is
    protected: bool = False  # set by the browse service from the protection policies
    helm_chart: HelmChart | None = None  # a Helm chart: its name and versions
    protected_by: str | None = None  # the protecting policy's selectors, when protected


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int = 1
    page_size: int = 25
    search: str | None = None
    sort: str | None = None  # a field name, "-" in front for descending

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int  # including the one just claimed
    max_attempts: int


@dataclass(frozen=True, slots=True)
class Schedule:
    id: int
    kind: str
    subject: str
    cron: str
    next_run_at: datetime
    last_run_at: datetime | None


@dataclass(frozen=True, slots=True)
class Execution:
    id: int
    kind: str
    registry_id: int | None
    trigger: str
    dry_run: bool
    status: str
    counts: dict[str, int]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rule_id: int | None = None
    """The replication rule a replication run belongs to."""


@dataclass(frozen=True, slots=True)
class ExecutionTask:
    id: int
    execution_id: int
    subject: str
    status: str
    lines: list[dict[str, Any]]
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """A stored policy of a registry: image and tag selectors and whether it is on."""

    id: int
    registry_id: int
    image_pattern: str
    image_include: bool
    tag_pattern: str
    tag_include: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ProtectionPolicyRecord(PolicyRecord):
    pass


@dataclass(frozen=True, slots=True)
class CleanupPolicyRecord(PolicyRecord):
    untagged: bool
    rule_kind: str
    rule_value: int | None


@dataclass(frozen=True, slots=True)
class CleanupCandidateRow:
    """An artifact as cleanup reads it: with its tags, parents and subject."""

    image_id: int
    image: str
    artifact_id: int
    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime  # the latest push of the artifact or any of its tags
    pulled_at: datetime | None
    subject_digest: str | None
    child_of: tuple[str, ...]  # digests of indexes in the image that list it


@dataclass(frozen=True, slots=True)
class Webhook:
    """A registry's webhook: where to send which events, and how."""

    id: int
    registry_id: int
    name: str
    kind: str  # http, slack
    address: str
    auth_header: str | None  # sent as `Authorization`; never shown back in full
    skip_tls_verify: bool
    event_types: tuple[str, ...]
    payload_format: str  # default, cloudevents
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in a registry, stored with the change that caused it."""

    id: str  # a UUID: the CloudEvents id and half of each delivery's idempotency key
    registry_id: int
    type: str
    occurred_at: datetime
    operator: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event on its way to one webhook."""

    id: int
    webhook_id: int
    event_id: str
    event_type: str
    status: str  # pending, succeeded, failed, skipped
    attempts: int
    max_attempts: int
    body: str | None  # frozen at the first attempt: every retry sends the same bytes
    content_type: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    succeeded: bool
