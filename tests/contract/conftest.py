"""Fixtures shared by the metadata contract suites: one database per test, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.backends import Database, MemoryDatabase
from tests.support.databases import BACKENDS, migrated_database, migrated_postgres_template


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    with migrated_postgres_template() as name:
        yield name


@pytest.fixture(params=(*BACKENDS, "memory"))
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "memory":
        yield MemoryDatabase()
        return
    template = None
    if request.param == "postgresql":
        template = request.getfixturevalue("postgres_template")
    with migrated_database(request.param, tmp_path, postgres_template=template) as database:
        yield database
