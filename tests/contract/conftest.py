"""Fixtures shared by the metadata contract suites: one database per test, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.backends import Database, MemoryDatabase
from tests.support.databases import (
    BACKENDS,
    PostgresCopies,
    migrated_database,
    migrated_postgres_template,
    migrated_sqlite_template,
)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    with migrated_postgres_template() as name:
        yield name


@pytest.fixture(scope="session")
def postgres_copies(postgres_template: str) -> Iterator[PostgresCopies]:
    """A copy of the template per test, each made while the test before it runs."""
    with PostgresCopies(postgres_template) as copies:
        yield copies


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template")) as path:
        yield path


@pytest.fixture(params=(*BACKENDS, "memory"))
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database of the test's own, at head of the migrations: copied from a template
    migrated once per session (SQLite, PostgreSQL), or the in-memory fakes."""
    if request.param == "memory":
        yield MemoryDatabase()
        return
    if request.param == "postgresql":
        copies = request.getfixturevalue("postgres_copies")
        with migrated_database("postgresql", tmp_path, postgres_copies=copies) as database:
            yield database
        return
    template = request.getfixturevalue("sqlite_template")
    with migrated_database("sqlite", tmp_path, sqlite_template=template) as database:
        yield database
