"""Alembic migrations on SQLite and PostgreSQL: they build, match the tables, and go back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, inspect

from moorage.metadata import tables
from moorage.metadata.migrate import alembic_config, current_revision, upgrade
from tests.support.databases import BACKENDS, empty_database_url, metadata_engine

ALEMBIC_TABLE = "alembic_version"


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database on each backend."""
    with empty_database_url(request.param, tmp_path) as url, metadata_engine(url) as engine:
        yield engine


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def schema_differences(engine: Engine, target: MetaData) -> list[Any]:
    """What `alembic revision --autogenerate` would write to make the database match."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, target))


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_to_head_from_an_empty_database(engine: Engine) -> None:
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert table_names(engine) == set(tables.metadata.tables) | {ALEMBIC_TABLE}
    upgrade(engine)  # at head already: nothing to do, nothing breaks
    assert current_revision(engine) == head_revision()


def test_migrated_schema_matches_the_tables(engine: Engine) -> None:
    upgrade(engine)
    assert schema_differences(engine, tables.metadata) == []


def test_a_table_change_without_a_migration_is_noticed(engine: Engine) -> None:
    """The comparison above is not vacuous: a column added to the tables shows up."""
    upgrade(engine)
    changed = MetaData(naming_convention=tables.metadata.naming_convention)
    for table in tables.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["registry"].append_column(Column("description", String(200), nullable=True))
    Table("webhook", changed, Column("id", Integer, primary_key=True))
    differences = schema_differences(engine, changed)
    assert {diff[0] for diff in differences} == {"add_column", "add_table"}


def test_downgrade_to_base_then_upgrade_again(engine: Engine) -> None:
    upgrade(engine)
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert table_names(engine) <= {ALEMBIC_TABLE}
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert schema_differences(engine, tables.metadata) == []
