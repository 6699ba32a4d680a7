"""The composition root: the only module that names concrete adapters."""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine

from moorage import __version__
from moorage.config import Settings
from moorage.domain.ports import BlobStore, Services
from moorage.metadata import migrate
from moorage.metadata.uow import SqlUnitOfWork, create_metadata_engine
from moorage.outbound.webhook_sender import HttpWebhookSender
from moorage.storage.drivers import build_blob_store


class Argon2PasswordHasher:
    """Passwords and secrets are stored only as argon2id hashes."""

    def __init__(self) -> None:
        self._hasher = Argon2Hasher()

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True, slots=True)
class Built:
    services: Services
    engine: Engine
    password_hasher: Argon2PasswordHasher


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
    path = settings.data_dir / "token.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(base64.b64encode(secrets.token_bytes(32)))
            out.flush()
            os.fsync(out.fileno())
    return base64.b64decode(path.read_bytes())


def build(settings: Settings, *, migrate_schema: bool = True) -> Built:
    engine = build_engine(settings)
    if migrate_schema:
        migrate.upgrade(engine)
    hasher = Argon2PasswordHasher()
    services = Services(
        uow=SqlUnitOfWork(engine),
        blobs=build_blobs(settings),
        password_hasher=hasher,
        webhook_sender=HttpWebhookSender(
            allow_private_targets=settings.allow_private_targets,
            user_agent=f"moorage/{__version__}",
        ),
        token_key=token_key(settings) if settings.auth == "token" else b"",
        public_host=settings.public_host,
        private_host=settings.private_host,
        local_metadata=engine.dialect.name == "sqlite",
        webhook_retry_base_seconds=settings.webhook_retry_base_seconds,
    )
    return Built(services, engine, hasher)


def migrate_database(settings: Settings) -> str | None:
    """Apply migrations; returns the revision the database is at afterwards."""
    engine = build_engine(settings)
    try:
        migrate.upgrade(engine)
        return migrate.current_revision(engine)
    finally:
        engine.dispose()
