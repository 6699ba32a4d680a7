"""The composition root: the only module that names concrete adapters, and the only one that
builds domain services.

`build(settings)` makes one `Container`: every domain service built once (one manifest cache,
one pull buffer, one sign-in throttle per process), the few ports the entrypoints use
directly, and the settings it was built from. `serve`, `worker`, the HTTP app, the job
handlers and the CLI commands all receive it; `tests/unit/test_composition.py` fails when a
service is built anywhere else.
"""

from __future__ import annotations

import base64
import os
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine

from moorage import __version__
from moorage.config import Settings
from moorage.domain.audit.service import AuditService, RecordedRemover
from moorage.domain.content.artifacts import ArtifactService, PullRecorder
from moorage.domain.content.browse import BrowseService
from moorage.domain.content.ports import BlobStore, ContentTx
from moorage.domain.content.registries import RegistryService
from moorage.domain.content.uploads import UploadService
from moorage.domain.gc.fsck import Fsck
from moorage.domain.gc.service import GcService
from moorage.domain.identity.ports import PasswordHasher
from moorage.domain.identity.service import IdentityService
from moorage.domain.identity.throttle import LoginThrottle, ThrottleRules
from moorage.domain.identity.users import UserService
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.policies.runs import CleanupRunService
from moorage.domain.policies.service import PolicyService
from moorage.domain.ports import Transaction, UnitOfWorkFactory
from moorage.domain.proxycache.service import ProxyCacheService
from moorage.domain.replication.copy import BlobPlaces, CopyResult, copy_artifact
from moorage.domain.replication.endpoints import Endpoint
from moorage.domain.replication.ports import CopyArtifact, CopyLog
from moorage.domain.replication.runs import ReplicationRunner
from moorage.domain.replication.service import ReplicationService
from moorage.domain.replication.triggers import queue_pushed_tag
from moorage.domain.webhooks.subscriptions import WebhookService
from moorage.metadata import migrate
from moorage.metadata.secrets import AesGcmSecretBox
from moorage.metadata.uow import (
    SqlUnitOfWork,
    committed_version,
    create_metadata_engine,
    wal_checkpoints,
    wal_sync_for,
)
from moorage.outbound.guard import AddressGuard
from moorage.outbound.replication_endpoints import ReplicationEndpoints
from moorage.outbound.upstreams import ProxyUpstreams
from moorage.outbound.webhook_sender import HttpWebhookSender
from moorage.storage.drivers import build_blob_store

if TYPE_CHECKING:
    from argon2 import PasswordHasher as Argon2Hasher


class Argon2PasswordHasher:
    """Passwords and secrets are stored only as argon2id hashes. argon2 loads with the first
    password hashed or checked (a sign-in, a new user or key)."""

    def __init__(self) -> None:
        self._built: Argon2Hasher | None = None

    def _hasher(self) -> Argon2Hasher:
        if self._built is None:
            from argon2 import PasswordHasher

            # OWASP's argon2id settings (19 MiB, two passes, one lane) rather than argon2-cffi's
            # 64 MiB with four lanes: every sign-in that is not in the verified cache takes
            # that memory for its hash, so a burst of sign-ins to a registry would otherwise
            # cost 64 MiB each. A hash keeps the settings it was made with.
            self._built = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
        return self._built

    def hash(self, password: str) -> str:
        return self._hasher().hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return self._hasher().verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True, slots=True)
class Container:
    """What the entrypoints receive: the settings, the ports they use directly and every
    domain service, each built once. Entrypoints type it by what they use (`AppServices`,
    `JobServices`): a layer below the composition root cannot name this class."""

    settings: Settings
    engine: Engine
    uow: UnitOfWorkFactory
    blobs: BlobStore
    password_hasher: PasswordHasher
    token_key: bytes  # signs bearer tokens and console sessions; b"" with auth = "none"
    blocking: Blocking  # where blocking work runs: the one place that decides

    registries: RegistryService
    browse: BrowseService
    artifacts: ArtifactService
    uploads: UploadService
    pulls: PullRecorder
    identities: IdentityService
    users: UserService
    login_throttle: LoginThrottle
    policies: PolicyService
    cleanup_runs: CleanupRunService
    webhooks: WebhookService
    gc: GcService
    fsck: Fsck
    audit: AuditService
    replication: ReplicationService
    replication_runs: ReplicationRunner
    proxy_cache: ProxyCacheService

    @property
    def public_host(self) -> str | None:
        return self.settings.public_host

    @property
    def private_host(self) -> str | None:
        return self.settings.private_host

    @property
    def region(self) -> str:
        return self.settings.region

    def log_checkpoints(self) -> AbstractContextManager[object]:
        """While a server runs: SQLite's write-ahead log checkpointed in a thread of its
        own, off the request path (`moorage.metadata.checkpoints`)."""
        return wal_checkpoints(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def build_blobs(settings: Settings) -> BlobStore:
    options: dict[str, Any]
    if settings.storage_driver == "s3":
        options = settings.s3_options()
    else:
        settings.blob_root.mkdir(parents=True, exist_ok=True)
        options = {"root": settings.blob_root}
    return build_blob_store(settings.storage_driver, options)


def build_engine(settings: Settings) -> Engine:
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_metadata_engine(settings.effective_database_url, settings.sqlite_synchronous)


def token_key(settings: Settings) -> bytes:
    """The bearer-token signing key: configured, or generated once in the data directory."""
    if settings.token_key is not None:
        return base64.b64decode(settings.token_key.get_secret_value())
    return generated_key(settings, "token.key")


def secret_key(settings: Settings) -> bytes:
    """The key sealing secrets at rest: configured, or generated once in the data directory
    (several nodes must be given the same one)."""
    if settings.secret_key is not None:
        return base64.b64decode(settings.secret_key.get_secret_value())
    return generated_key(settings, "secret.key")


def generated_key(settings: Settings, name: str) -> bytes:
    """32 random bytes kept (base64, mode 0600) in the data directory's file `name`."""
    path = settings.data_dir / name
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(base64.b64encode(secrets.token_bytes(32)))
            out.flush()
            os.fsync(out.fileno())
    return base64.b64decode(path.read_bytes())


class ReplicationOnPush:
    """Content's push listener that queues replication's copies. The metadata store's
    transaction offers every role, replication's among them."""

    def tag_pushed(
        self,
        store: ContentTx,
        registry_id: int,
        repository: str,
        tag: str,
        digest: str,
        now: datetime,
    ) -> None:
        queue_pushed_tag(cast(Transaction, store), registry_id, repository, tag, now)


class ClosingEndpoints(ReplicationEndpoints):
    """The replication endpoints, each remote's connections closed when a run is done."""

    async def release(self, endpoint: Endpoint) -> None:
        from moorage.outbound.oci_client import OciRegistry  # loaded with the first remote

        if isinstance(endpoint, OciRegistry):
            await endpoint.close()


def run_copier() -> CopyArtifact:
    """The copy of one replication run: its copies share where blobs are at the
    destination, so a blob sent to one image is mounted into the next."""
    places = BlobPlaces()

    async def copy(
        source: Endpoint,
        destination: Endpoint,
        source_repo: str,
        destination_repo: str,
        reference: str,
        *,
        override: bool,
        log: CopyLog,
    ) -> CopyResult:
        return await copy_artifact(
            source,
            destination,
            source_repo,
            destination_repo,
            reference,
            override=override,
            log=log,
            places=places,
        )

    return copy


def throttle_rules(settings: Settings) -> ThrottleRules:
    return ThrottleRules(
        window_seconds=settings.login_failure_window_seconds,
        free_failures=settings.login_free_failures,
        backoff_cap_seconds=settings.login_backoff_cap_seconds,
        address_failures=settings.login_address_failures,
    )


def build(settings: Settings, *, migrate_schema: bool = True) -> Container:
    engine = build_engine(settings)
    if migrate_schema:
        migrate.upgrade(engine)
    wal_sync = wal_sync_for(engine, settings.sqlite_synchronous)
    uow = SqlUnitOfWork(engine, wal_sync)
    blobs = build_blobs(settings)
    hasher = Argon2PasswordHasher()
    local = engine.dialect.name == "sqlite"
    sender = HttpWebhookSender(
        allow_private_targets=settings.allow_private_targets,
        user_agent=f"moorage/{__version__}",
    )
    audit = AuditService(uow)
    artifacts = ArtifactService(
        uow,
        listeners=[ReplicationOnPush()],
        committed_version=committed_version(engine),
        manifest_cache_bytes=settings.manifest_cache_mib * 1024 * 1024,
    )
    blocking = Blocking(
        inline_reads=local,
        inline_writes=local,
        settle=wal_sync.settle if wal_sync is not None else None,
    )
    uploads = UploadService(uow, blobs, blocking=blocking)
    box = AesGcmSecretBox(secret_key(settings))
    guard = AddressGuard(allow_private=settings.allow_private_targets)
    endpoints = ClosingEndpoints(
        uploads=uploads,
        artifacts=artifacts,
        uow=uow,
        blocking=blocking,
        guard=guard,
    )
    replication_runs = ReplicationRunner(uow, endpoints, run_copier, box, blocking)
    return Container(
        settings=settings,
        engine=engine,
        uow=uow,
        blobs=blobs,
        password_hasher=hasher,
        token_key=token_key(settings) if settings.auth == "token" else b"",
        blocking=blocking,
        registries=RegistryService(uow),
        browse=BrowseService(uow),
        artifacts=artifacts,
        uploads=uploads,
        pulls=PullRecorder(uow),
        identities=IdentityService(uow, hasher),
        users=UserService(uow, hasher),
        login_throttle=LoginThrottle(uow, throttle_rules(settings)),
        policies=PolicyService(uow),
        cleanup_runs=CleanupRunService(uow, RecordedRemover(artifacts, audit)),
        webhooks=WebhookService(uow, sender, public_host=settings.public_host, blocking=blocking),
        gc=GcService(
            uow,
            blobs,
            uploads,
            grace_seconds=settings.gc_grace_seconds,
            upload_expiry=timedelta(hours=settings.upload_expiry_hours),
            blocking=blocking,
        ),
        fsck=Fsck(uow, blobs, grace_seconds=settings.gc_grace_seconds, blocking=blocking),
        audit=audit,
        replication=ReplicationService(
            uow, replication_runs, box, blocking, address_check=guard.check_url
        ),
        replication_runs=replication_runs,
        proxy_cache=ProxyCacheService(
            uow,
            artifacts,
            uploads,
            ProxyUpstreams(guard),
            box,
            blocking,
            revalidate_seconds=settings.proxy_cache_revalidate_seconds,
        ),
    )


def schema_is_current(settings: Settings) -> bool:
    """Whether the database is at the head revision: one query, no Alembic."""
    engine = build_engine(settings)
    try:
        return migrate.is_current(engine)
    finally:
        engine.dispose()


def migrate_database(settings: Settings) -> str | None:
    """Apply migrations; returns the revision the database is at afterwards."""
    engine = build_engine(settings)
    try:
        migrate.upgrade(engine)
        return migrate.current_revision(engine)
    finally:
        engine.dispose()
