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
(`CREATE DATABASE … TEMPLATE`), made ahead of time by `PostgresCopies`; likewise SQLite
migrates one template file per session and copies it. Every test still starts from exactly
what the migrations build, never from `metadata.create_all`.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import URL, Engine, create_engine, make_url, text
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
    admin = _admin_engine(base)
    try:
        name = _create_database(admin, template=template, icu_locale=icu_locale, timezone=timezone)
    except PostgresUnavailable:
        admin.dispose()
        raise
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            _drop_database(admin, name)
        finally:
            admin.dispose()


def _admin_engine(base: URL) -> Engine:
    return create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def _create_database(
    admin: Engine,
    *,
    template: str | None = None,
    icu_locale: str | None = None,
    timezone: str | None = None,
) -> str:
    """Create a database `moorage_t_<random>` (see `fresh_postgres_url`); returns its name."""
    name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:16]}"
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
        shown = admin.url.render_as_string(hide_password=True)
        raise PostgresUnavailable(
            f"cannot create a test database on PostgreSQL at {shown}: {exc.orig}. "
            f"Start PostgreSQL there or point {POSTGRES_URL_ENV} at a server where this user "
            "may create databases."
        ) from exc
    return name


def _drop_database(admin: Engine, name: str) -> None:
    """Drop it, terminating the sessions still connected."""
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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


class PostgresCopies:
    """Copies of a migrated template database (see `migrated_postgres_template`), one per
    test, each made while the test before it runs.

    Copying a database costs PostgreSQL a few hundred milliseconds of file copying that the
    test process would otherwise sit waiting for: a background thread makes the next copy
    ahead of time and drops used ones. Every test still gets a database of its own, exactly
    as the migrations built it. `with PostgresCopies(template) as copies:`, then
    `with copies.database() as url:` per test.
    """

    def __init__(self, template: str, *, timezone: str | None = HOSTILE_TIMEZONE) -> None:
        self._base = make_url(postgres_base_url())
        self._template = template
        self._timezone = timezone
        self._admin = _admin_engine(self._base)
        # One worker: creations and drops run one at a time, in the order asked for.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-copies")
        self._next: Future[str] | None = None

    def __enter__(self) -> PostgresCopies:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _make_copy(self) -> str:
        return _create_database(self._admin, template=self._template, timezone=self._timezone)

    @contextmanager
    def database(self) -> Iterator[str]:
        """A fresh copy's URL; the copy is dropped after the block."""
        ready = self._next or self._worker.submit(self._make_copy)
        self._next = self._worker.submit(self._make_copy)
        name = ready.result()
        try:
            yield self._base.set(database=name).render_as_string(hide_password=False)
        finally:
            self._worker.submit(_drop_database, self._admin, name)

    def close(self) -> None:
        """Drop the copy made ahead of time and wait for every drop."""
        if self._next is not None:
            spare, self._next = self._next, None
            with suppress(PostgresUnavailable):
                self._worker.submit(_drop_database, self._admin, spare.result())
        self._worker.shutdown(wait=True)
        self._admin.dispose()


@contextmanager
def migrated_sqlite_template(directory: Path) -> Iterator[Path]:
    """A SQLite database file in `directory` migrated to head, to be copied (never used)."""
    url = sqlite_url(directory, "template.db")
    with metadata_engine(url) as engine:
        upgrade(engine)
    # The engine is disposed: the last connection closed, so the write-ahead log was folded
    # into the file and removed, and the file alone is the whole database.
    leftovers = [p.name for p in directory.iterdir() if p.name.startswith("template.db-")]
    assert not leftovers, f"SQLite left {leftovers} beside the template"
    yield directory / "template.db"


@dataclass(frozen=True, slots=True)
class MigratedDatabase:
    backend: Backend
    url: str
    engine: Engine
    uow: SqlUnitOfWork


@contextmanager
def migrated_database(
    backend: Backend,
    tmp_path: Path,
    *,
    postgres_template: str | None = None,
    postgres_copies: PostgresCopies | None = None,
    sqlite_template: Path | None = None,
) -> Iterator[MigratedDatabase]:
    """A database of its own on `backend`, at head of the Alembic migrations.

    Each backend is migrated in place, unless a migrated template is given: SQLite then
    copies the `sqlite_template` file (see `migrated_sqlite_template`), PostgreSQL takes a
    copy from `postgres_copies` or copies `postgres_template` (see
    `migrated_postgres_template`). In a fixture:
    `with migrated_database(request.param, tmp_path) as db: yield db`.
    """
    if backend == "sqlite" and sqlite_template is not None:
        shutil.copyfile(sqlite_template, tmp_path / "moorage.db")
        url = sqlite_url(tmp_path)
        with metadata_engine(url) as engine:
            yield MigratedDatabase(backend, url, engine, SqlUnitOfWork(engine))
        return
    if backend == "postgresql" and postgres_copies is not None:
        with postgres_copies.database() as url, metadata_engine(url) as engine:
            yield MigratedDatabase(backend, url, engine, SqlUnitOfWork(engine))
        return
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
