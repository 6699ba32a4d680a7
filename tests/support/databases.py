"""Throwaway metadata databases for tests: SQLite files and PostgreSQL databases.

`fresh_postgres_url` creates a database of its own on the test PostgreSQL server (named by
`MOORAGE_TEST_POSTGRES_URL`) and drops it afterwards, so tests never touch other data; it is
a plain context manager, usable outside pytest (for example to start a server on it). When
the server cannot be reached it raises `PostgresUnavailable`: a test that needs PostgreSQL
fails, loudly, instead of being skipped.

`migrated_database` gives a pytest fixture an engine and a `SqlUnitOfWork` over a database
at head of the Alembic migrations, on either backend. Migrating costs a few hundred
milliseconds on PostgreSQL, so a suite with many tests migrates one template database per
session (`migrated_postgres_template`) and gives each test its own copy of it
(`CREATE DATABASE … TEMPLATE`): every test still starts from exactly what the migrations
build, never from `metadata.create_all`.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from moorage.metadata.migrate import upgrade
from moorage.metadata.uow import SqlUnitOfWork, create_metadata_engine

Backend = Literal["sqlite", "postgresql"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "postgresql")

POSTGRES_URL_ENV = "MOORAGE_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DATABASE_PREFIX = "moorage_t_"

# The contract suites run PostgreSQL with a default collation whose order is not byte order
# (ICU `en-US` sorts `a` before `A` and `_` before `-`) and a session time zone other than
# UTC: the store must not depend on either.
HOSTILE_ICU_LOCALE = "en-US"
HOSTILE_TIMEZONE = "Asia/Seoul"

_PLAIN = re.compile(r"^[A-Za-z0-9_./+-]+$")


class PostgresUnavailable(RuntimeError):
    """The test PostgreSQL server cannot be reached or refuses to create a database."""


def postgres_base_url() -> str:
    """The server to create test databases on (its database is only used to connect)."""
    return os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)


def sqlite_url(tmp_path: Path, name: str = "moorage.db") -> str:
    """A SQLite database file inside `tmp_path` (created on first connection)."""
    return f"sqlite:///{tmp_path / name}"


def _plain(word: str) -> str:
    """A name or setting spliced into DDL (which takes no bind parameters): no quotes."""
    if not _PLAIN.match(word):
        raise ValueError(f"refusing an unusual name in DDL: {word!r}")
    return word


def _supports_icu(admin: Engine) -> bool:
    """PostgreSQL 15+ built with ICU can make an ICU collation a database's default."""
    with admin.connect() as conn:
        version = int(conn.execute(text("SHOW server_version_num")).scalar_one())
        icu = conn.execute(text("SELECT count(*) FROM pg_collation WHERE collprovider = 'i'"))
        return version >= 150000 and int(icu.scalar_one()) > 0


@contextmanager
def fresh_postgres_url(
    base_url: str | None = None,
    *,
    template: str | None = None,
    icu_locale: str | None = None,
    timezone: str | None = None,
) -> Iterator[str]:
    """Create a database `moorage_t_<random>`, yield its URL, drop it on exit.

    The database is empty, or a copy of the database named `template` (which nobody may
    be connected to). `icu_locale` makes that ICU locale the default collation of an empty
    database when the server supports it (PostgreSQL 15+ with ICU; otherwise the server's
    default is kept); a copy has its template's. `timezone` sets the database's default
    session time zone. Sessions still connected at exit are terminated.
    """
    base = make_url(base_url or postgres_base_url())
    shown = base.render_as_string(hide_password=True)
    name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        create = f'CREATE DATABASE "{name}"'
        if template:
            create += f' TEMPLATE "{_plain(template)}"'
        elif icu_locale and _supports_icu(admin):
            create += f" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{_plain(icu_locale)}'"
        with admin.connect() as conn:
            conn.execute(text(create))
            if timezone:
                conn.execute(
                    text(f"ALTER DATABASE \"{name}\" SET timezone TO '{_plain(timezone)}'")
                )
    except DBAPIError as exc:
        admin.dispose()
        raise PostgresUnavailable(
            f"cannot create a test database on PostgreSQL at {shown}: {exc.orig}. "
            f"Start PostgreSQL there or point {POSTGRES_URL_ENV} at a server where this user "
            "may create databases."
        ) from exc
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


@contextmanager
def metadata_engine(url: str) -> Iterator[Engine]:
    """moorage's own engine for `url` (SQLite pragmas, pools), disposed on exit."""
    engine = create_metadata_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def empty_database_url(backend: Backend, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database on `backend`, gone after the block."""
    if backend == "sqlite":
        yield sqlite_url(tmp_path)
    elif backend == "postgresql":
        with fresh_postgres_url(icu_locale=HOSTILE_ICU_LOCALE, timezone=HOSTILE_TIMEZONE) as url:
            yield url
    else:
        raise ValueError(f"unknown metadata backend {backend!r}")


@contextmanager
def migrated_postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated to head, to be copied (never used): yields its name."""
    with empty_database_url("postgresql", Path()) as url:
        with metadata_engine(url) as engine:
            upgrade(engine)
        database = make_url(url).database
        assert database is not None
        yield database


@dataclass(frozen=True, slots=True)
class MigratedDatabase:
    backend: Backend
    url: str
    engine: Engine
    uow: SqlUnitOfWork


@contextmanager
def migrated_database(
    backend: Backend, tmp_path: Path, *, postgres_template: str | None = None
) -> Iterator[MigratedDatabase]:
    """A database of its own on `backend`, at head of the Alembic migrations.

    SQLite is migrated in place. PostgreSQL is migrated in place too, or copied from
    `postgres_template` (see `migrated_postgres_template`) when one is given. In a fixture:
    `with migrated_database(request.param, tmp_path) as db: yield db`.
    """
    if backend == "postgresql" and postgres_template is not None:
        with (
            fresh_postgres_url(template=postgres_template, timezone=HOSTILE_TIMEZONE) as url,
            metadata_engine(url) as engine,
        ):
            yield MigratedDatabase(backend, url, engine, SqlUnitOfWork(engine))
        return
    with empty_database_url(backend, tmp_path) as url, metadata_engine(url) as engine:
        upgrade(engine)
        yield MigratedDatabase(backend, url, engine, SqlUnitOfWork(engine))
