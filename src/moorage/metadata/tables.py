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
)
from sqlalchemy.engine import Dialect

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
    Index("ix_tag_artifact", "artifact_id"),
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
# queue.py), so it runs on one node at a time; an expired lease makes it claimable again.
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
    Index("ix_execution_registry", "registry_id", "kind", "id"),
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

protection_policy = Table(
    "protection_policy",
    metadata,
    _id(),
    _fk("registry_id", "registry.id"),
    Column("image_pattern", String(255), nullable=False),
    Column("image_include", Boolean, nullable=False),
    Column("tag_pattern", String(255), nullable=False),
    Column("tag_include", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_protection_policy_registry", "registry_id"),
)

cleanup_policy = Table(
    "cleanup_policy",
    metadata,
    _id(),
    _fk("registry_id", "registry.id"),
    Column("image_pattern", String(255), nullable=False),
    Column("image_include", Boolean, nullable=False),
    Column("tag_pattern", String(255), nullable=False),
    Column("tag_include", Boolean, nullable=False),
    Column("untagged", Boolean, nullable=False),
    Column("rule_kind", String(32), nullable=False),
    Column("rule_value", Integer, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_cleanup_policy_registry", "registry_id"),
)
