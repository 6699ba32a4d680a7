"""Table definitions: the schema's source of truth (Alembic migrations are generated from it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect

from moorage.domain.kernel.model import BlobStatus

# Stable constraint names so migrations behave the same on SQLite and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True, autoincrement=True)


def _fk(name: str, target: str, nullable: bool = False) -> Column[int]:
    return Column(name, Integer, ForeignKey(target, ondelete="CASCADE"), nullable=nullable)


DIGEST = String(200)


def _name(length: int) -> String:
    """Names listed in lexical (byte) order, as the protocol wants, on every backend."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


user = Table(
    "user_account",
    metadata,
    _id(),
    Column("username", _name(255), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("auth_generation", Integer, nullable=False, default=0),
)

# A console session lives while its row does: signing out deletes it (docs/security.md).
console_session = Table(
    "console_session",
    metadata,
    Column("id", String(64), primary_key=True),
    _fk("user_id", "user_account.id"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_console_session_user_id", "user_id"),
)

# Failed sign-ins per account ("account:<login>") and per client ("address:<ip>").
login_failure = Table(
    "login_failure",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failed_at", UTCDateTime, nullable=False),
    Index("ix_login_failure_last_failed_at", "last_failed_at"),
)

registry = Table(
    "registry",
    metadata,
    _id(),
    Column("name", _name(63), nullable=False, unique=True),
    Column("project_id", Integer, ForeignKey("project.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
)

image = Table(
    "image",
    metadata,
    _id(),
    _fk("registry_id", "registry.id"),
    Column("name", _name(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("registry_id", "name"),
)

blob = Table(
    "blob",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # "live", or "quarantined": its stored bytes were found not to hash to the digest, so it
    # is not served (BLOB_UNKNOWN) until a verified push of the same digest replaces them.
    # Garbage collection adds "marked" (no artifact referenced it at `marked_at`; still
    # served, and taken back to live by any push or mount that uses it) and "deleting" (its
    # object is being deleted; unknown to clients). See domain/gc.
    Column("status", String(16), nullable=False, server_default=BlobStatus.LIVE.value),
    Column("marked_at", UTCDateTime, nullable=True),
    Index("ix_blob_status", "status", "marked_at"),
)

image_blob = Table(
    "image_blob",
    metadata,
    _fk("image_id", "image.id"),
    Column("digest", DIGEST, ForeignKey("blob.digest"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("image_id", "digest"),
    Index("ix_image_blob_digest", "digest"),
)

upload = Table(
    "upload_session",
    metadata,
    Column("id", String(64), primary_key=True),
    _fk("image_id", "image.id"),
    Column("size", BigInteger, nullable=False),
    Column("driver_state", JSON, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, index=True),
    # The request writing to the upload right now (a claim token), or NULL. Claimed and
    # released by compare-and-set, so one upload has one writer at a time on every node;
    # the writer renews updated_at while it streams; a claim not renewed for the lease
    # period, or whose process is known to have died, is abandoned.
    Column("writer", String(64), nullable=True),
)

artifact = Table(
    "artifact",
    metadata,
    _id(),
    _fk("image_id", "image.id"),
    Column("digest", DIGEST, nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("artifact_type", String(255), nullable=True),
    Column("size", BigInteger, nullable=False),
    Column("manifest", LargeBinary, nullable=False),
    Column("subject_digest", DIGEST, nullable=True),
    Column("annotations", JSON, nullable=False),
    Column("platforms", JSON, nullable=False),
    # A Helm chart's {"name", "version", "app_version"} from its config; null for the rest.
    Column("helm_chart", JSON, nullable=True),
    Column("pushed_at", UTCDateTime, nullable=False),
    Column("pulled_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("image_id", "digest"),
    Index("ix_artifact_subject", "image_id", "subject_digest"),
)

# What an artifact references: blobs (config, layers) and, for an index, child manifests.
artifact_blob = Table(
    "artifact_blob",
    metadata,
    _fk("artifact_id", "artifact.id"),
    Column("digest", DIGEST, nullable=False),
    UniqueConstraint("artifact_id", "digest"),
    Index("ix_artifact_blob_digest", "digest"),
)

artifact_child = Table(
    "artifact_child",
    metadata,
    _fk("artifact_id", "artifact.id"),
    Column("digest", DIGEST, nullable=False),
    UniqueConstraint("artifact_id", "digest"),
    Index("ix_artifact_child_digest", "digest"),
)

tag = Table(
    "tag",
    metadata,
    _id(),
    _fk("image_id", "image.id"),
    Column("name", _name(128), nullable=False),
    _fk("artifact_id", "artifact.id"),
    Column("pushed_at", UTCDateTime, nullable=False),
    Column("pulled_at", UTCDateTime, nullable=True),
    UniqueConstraint("image_id", "name"),
    Index("ix_tag_artifact_pushed", "artifact_id", "pushed_at", "id"),
)

project = Table(
    "project",
    metadata,
    _id(),
    Column("name", _name(63), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

project_member = Table(
    "project_member",
    metadata,
    _fk("project_id", "project.id"),
    _fk("user_id", "user_account.id"),
    Column("role", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("project_id", "user_id"),
    Index("ix_project_member_user", "user_id"),
)

# Access key secrets are 240-bit random strings: a SHA-256 digest is as safe as a slow hash
# for them (nothing to brute-force) and cheap to check on every request.
access_key = Table(
    "access_key",
    metadata,
    _id(),
    _fk("user_id", "user_account.id"),
    Column("key_id", String(64), nullable=False, unique=True),
    Column("secret_hash", String(128), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Index("ix_access_key_user", "user_id"),
)

# Background work. A job is claimed by compare-and-swap on its state and lease (see
# jobs.py), so it runs on one node at a time; an expired lease makes it claimable again.
job = Table(
    "job",
    metadata,
    _id(),
    Column("kind", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),  # queued, running, done, failed
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("available_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("claimed_by", String(64), nullable=True),
    Column("dedupe_key", String(255), nullable=True, unique=True),
    # Whether the key still holds while the job runs (false: it lapses at the claim).
    Column("dedupe_running", Boolean, nullable=False, default=True, server_default=true()),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Index("ix_job_claim", "state", "available_at"),
)

# Cron schedules; `next_run_at` moves forward by compare-and-swap, so each due time fires once.
schedule = Table(
    "schedule",
    metadata,
    _id(),
    Column("kind", String(64), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("cron", String(255), nullable=False),
    Column("next_run_at", UTCDateTime, nullable=False, index=True),
    Column("last_run_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "subject"),
)

# A run of some background work (cleanup, replication, GC) and its tasks (Harbor's pkg/task).
execution = Table(
    "execution",
    metadata,
    _id(),
    Column("kind", String(64), nullable=False),
    _fk("registry_id", "registry.id", nullable=True),
    Column("trigger", String(16), nullable=False),  # manual, schedule, event
    Column("dry_run", Boolean, nullable=False),
    Column("status", String(16), nullable=False),  # queued, running, succeeded, failed, stopped
    Column("counts", JSON, nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    # A replication run's rule; deleting the rule deletes its history.
    _fk("rule_id", "replication_rule.id", nullable=True),
    Index("ix_execution_registry", "registry_id", "kind", "id"),
    Index("ix_execution_rule", "rule_id", "id"),
)

execution_task = Table(
    "execution_task",
    metadata,
    _id(),
    _fk("execution_id", "execution.id"),
    Column("subject", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("lines", JSON, nullable=False),
    Column("error", Text, nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Index("ix_execution_task_execution", "execution_id"),
)


def _policy_columns(*extra: Column[Any]) -> list[Column[Any]]:
    """A registry's policy: image selector, tag selector, what else the kind needs, state."""
    return [
        _id(),
        _fk("registry_id", "registry.id"),
        Column("image_pattern", String(255), nullable=False),
        Column("image_include", Boolean, nullable=False),
        Column("tag_pattern", String(255), nullable=False),
        Column("tag_include", Boolean, nullable=False),
        *extra,
        Column("enabled", Boolean, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
    ]


protection_policy = Table(
    "protection_policy",
    metadata,
    *_policy_columns(),
    Index("ix_protection_policy_registry", "registry_id"),
)

cleanup_policy = Table(
    "cleanup_policy",
    metadata,
    *_policy_columns(
        Column("untagged", Boolean, nullable=False),
        Column("rule_kind", String(32), nullable=False),
        Column("rule_value", Integer, nullable=True),
    ),
    Index("ix_cleanup_policy_registry", "registry_id"),
)

# Webhooks. (Not named `webhook`: the migration tests use that name for a scratch table.)
registry_webhook = Table(
    "registry_webhook",
    metadata,
    _id(),
    _fk("registry_id", "registry.id"),
    Column("name", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # http, slack
    Column("address", String(2048), nullable=False),
    Column("auth_header", Text, nullable=True),
    Column("skip_tls_verify", Boolean, nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("payload_format", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("registry_id", "name"),
)

# The outbox: an event is written in the transaction of the change that caused it, with a
# delivery per subscribed webhook and a job per delivery, so nothing is lost on a crash.
event = Table(
    "event",
    metadata,
    Column("id", String(36), primary_key=True),
    _fk("registry_id", "registry.id"),
    Column("type", String(32), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("operator", String(255), nullable=True),
    Column("data", JSON, nullable=False),
    Index("ix_event_registry", "registry_id"),
    Index("ix_event_occurred_at", "occurred_at"),
)

webhook_delivery = Table(
    "webhook_delivery",
    metadata,
    _id(),
    _fk("webhook_id", "registry_webhook.id"),
    Column("event_id", String(36), ForeignKey("event.id", ondelete="CASCADE"), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # pending, succeeded, failed, skipped
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("body", Text, nullable=True),
    Column("content_type", String(128), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    UniqueConstraint("webhook_id", "event_id"),  # one delivery per event and webhook
    Index("ix_webhook_delivery_event", "event_id"),
)

webhook_attempt = Table(
    "webhook_attempt",
    metadata,
    _id(),
    _fk("delivery_id", "webhook_delivery.id"),
    Column("number", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("succeeded", Boolean, nullable=False),
    Index("ix_webhook_attempt_delivery", "delivery_id"),
)

# Garbage-collection runs (SPEC §11): one row per run, its counts and a bounded log.
gc_run = Table(
    "gc_run",
    metadata,
    _id(),
    Column("trigger", String(16), nullable=False),  # manual, schedule
    Column("dry_run", Boolean, nullable=False),
    Column("delete_untagged", Boolean, nullable=False),
    Column("status", String(16), nullable=False),  # queued, running, succeeded, failed
    Column("blobs_deleted", Integer, nullable=False),
    Column("manifests_deleted", Integer, nullable=False),
    Column("bytes_freed", BigInteger, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("log", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    # Renewed as the run progresses: a queued or running run not updated for a while lost
    # its worker (see domain/gc/service.py).
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_gc_run_status", "status"),
)

# Replication rules (SPEC §10): the other side's password is stored sealed (AES-GCM with the
# deployment's secret key), never in the clear. Their runs are `execution` rows of kind
# "replication" that name the rule (`execution.rule_id`).
replication_rule = Table(
    "replication_rule",
    metadata,
    _id(),
    _fk("registry_id", "registry.id"),
    Column("name", String(63), nullable=False),
    Column("direction", String(8), nullable=False),  # push, pull
    Column("url", String(2048), nullable=False),
    Column("remote_registry", String(255), nullable=False),
    Column("username", String(255), nullable=True),
    Column("secret", LargeBinary, nullable=True),
    Column("verify_tls", Boolean, nullable=False),
    Column("image_pattern", String(255), nullable=False),
    Column("image_include", Boolean, nullable=False),
    Column("tag_pattern", String(255), nullable=False),
    Column("tag_include", Boolean, nullable=False),
    Column("trigger", String(16), nullable=False),  # event, schedule, manual
    Column("cron", String(255), nullable=True),
    Column("override", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("status", String(16), nullable=False),  # inactive, active
    Column("last_error", Text, nullable=True),
    Column("checked_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("registry_id", "name"),
    # every tagged push reads its registry's enabled event rules
    Index("ix_replication_rule_trigger", "registry_id", "trigger", "enabled"),
)

# Proxy caches (docs/proxy-cache.md): a registry with an upstream row is a proxy cache of it;
# the password is sealed like replication's. What the cache stored is ordinary content,
# marked: an artifact with where it came from, a tag with when upstream last confirmed it.
proxy_cache = Table(
    "proxy_cache",
    metadata,
    Column(
        "registry_id",
        Integer,
        ForeignKey("registry.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("url", String(2048), nullable=False),
    Column("namespace", String(255), nullable=False),
    Column("username", String(255), nullable=True),
    Column("secret", LargeBinary, nullable=True),
    Column("verify_tls", Boolean, nullable=False),
    Column("revalidate_seconds", Integer, nullable=True),  # NULL: the deployment's setting
    Column("created_at", UTCDateTime, nullable=False),
)

cached_artifact = Table(
    "cached_artifact",
    metadata,
    Column(
        "artifact_id",
        Integer,
        ForeignKey("artifact.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("upstream", String(2048), nullable=False),
    Column("cached_at", UTCDateTime, nullable=False),
    Column("revalidated_at", UTCDateTime, nullable=False),
)

cached_tag = Table(
    "cached_tag",
    metadata,
    Column("tag_id", Integer, ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True),
    Column("revalidated_at", UTCDateTime, nullable=False),
)

# The audit log (docs/audit.md): appended to, never updated; only the retention purge deletes.
# Listed newest first by id; the time index serves the purge and time filters.
audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("username", String(255), nullable=False),
    Column("access_key", String(64), nullable=True),
    Column("client", String(64), nullable=True),
    Column("operation", String(32), nullable=False),
    Column("resource_type", String(32), nullable=False),
    Column("resource", String(1024), nullable=False),
    Column("result", String(16), nullable=False),  # success, denied, failed
    Column("status", Integer, nullable=True),
    Column("request_id", String(128), nullable=True),
    Column("detail", Text, nullable=True),
    Index("ix_audit_log_occurred_at", "occurred_at"),
)
