"""`Prepared` statements give what Core gives, on SQLite's cursor and through Core on
PostgreSQL: the same rows (types processed), errors, transaction and refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, StatementError

from moorage.metadata.prepared import Prepared
from moorage.metadata.sql import in_json_array
from moorage.metadata.tables import UTCDateTime
from moorage.metadata.uow import create_metadata_engine
from tests.support.databases import fresh_postgres_url

schema = MetaData()
thing = Table(
    "thing",
    schema,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), nullable=False, unique=True),
    Column("state", String(10), nullable=False),
    Column("seen_at", UTCDateTime, nullable=True),
    Column("labels", JSON, nullable=True),
)
ADD = Prepared(
    insert(thing)
    .values({c: bindparam(c) for c in ("name", "state", "seen_at", "labels")})
    .returning(thing.c.id)
)
BY_NAME = Prepared(select(thing).where(thing.c.name == bindparam("name")))
# A constant IN list and a constant comparison: values SQLAlchemy binds itself.
VISIBLE = Prepared(
    select(thing.c.name, thing.c.seen_at)
    .where(thing.c.state.in_(["live", "marked"]), thing.c.name != "hidden")
    .order_by(thing.c.name)
)
# The same beside a parameter the caller gives.
VISIBLE_NAMED = Prepared(
    select(thing.c.id).where(thing.c.state.in_(["live", "marked"]), thing.c.name == bindparam("n"))
)
RENAME = Prepared(
    update(thing).where(thing.c.name == bindparam("old")).values(name=bindparam("new"))
)
SEEN = datetime(2026, 12, 5, 10, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        created = create_metadata_engine(f"sqlite:///{tmp_path / 'm.db'}")
        schema.create_all(created)
        yield created
        created.dispose()
        return
    with fresh_postgres_url() as url:
        created = create_metadata_engine(url)
        schema.create_all(created)
        yield created
        created.dispose()


def test_rows_come_back_as_core_reads_them(engine: Engine) -> None:
    other_zone = SEEN.astimezone(timezone(timedelta(hours=9)))
    with engine.begin() as conn:
        added = ADD.first(
            conn, {"name": "a", "state": "live", "seen_at": other_zone, "labels": {"k": [1, 2]}}
        )
        assert added is not None
        row = BY_NAME.first(conn, {"name": "a"})
        core = conn.execute(select(thing).where(thing.c.name == "a")).one()
    assert row is not None
    assert tuple(row) == tuple(core)
    assert row.id == added.id
    assert row.seen_at == SEEN
    assert row.seen_at.tzinfo == UTC
    assert row.labels == {"k": [1, 2]}
    assert row._asdict()["state"] == "live"


def test_constant_values_are_bound_and_nulls_pass_through(engine: Engine) -> None:
    with engine.begin() as conn:
        for name, state in (("b", "marked"), ("a", "live"), ("c", "deleting"), ("hidden", "live")):
            seen = SEEN if name == "a" else None
            ADD.first(conn, {"name": name, "state": state, "seen_at": seen, "labels": None})
        assert [tuple(r) for r in VISIBLE.rows(conn, {})] == [("a", SEEN), ("b", None)]
        assert BY_NAME.first(conn, {"name": "nobody"}) is None
        assert VISIBLE_NAMED.first(conn, {"n": "b"}) is not None
        assert VISIBLE_NAMED.first(conn, {"n": "c"}) is None


def test_changes_count_and_belong_to_the_transaction(engine: Engine) -> None:
    with engine.begin() as conn:
        ADD.first(conn, {"name": "a", "state": "live", "seen_at": None, "labels": None})
    with engine.connect() as conn:
        transaction = conn.begin()
        assert RENAME.run(conn, {"old": "a", "new": "z"}) == 1
        assert RENAME.run(conn, {"old": "nobody", "new": "y"}) == 0
        transaction.rollback()
    with engine.connect() as conn:
        assert conn.execute(select(thing.c.name)).scalars().all() == ["a"]


def test_many_rows_in_one_call(engine: Engine) -> None:
    many = Prepared(insert(thing).values({c: bindparam(c) for c in ("name", "state")}))
    with engine.begin() as conn:
        many.run_many(conn, [{"name": f"n{i}", "state": "live"} for i in range(5)])
        many.run_many(conn, [])
        assert conn.execute(select(func.count()).select_from(thing)).scalar() == 5


def test_a_driver_error_is_sqlalchemys_and_spoils_nothing_else(engine: Engine) -> None:
    with engine.begin() as conn:
        ADD.first(conn, {"name": "a", "state": "live", "seen_at": None, "labels": None})
    with engine.begin() as conn, pytest.raises(IntegrityError):
        ADD.first(conn, {"name": "a", "state": "live", "seen_at": None, "labels": None})
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(thing)).scalar() == 1


def test_a_missing_parameter_is_an_error_not_a_null(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises((KeyError, StatementError)):
        BY_NAME.first(conn, {})


def test_statements_that_cannot_be_prepared_are_refused_when_first_run(tmp_path: Path) -> None:
    engine = create_metadata_engine(f"sqlite:///{tmp_path / 'm.db'}")
    schema.create_all(engine)
    expanding = Prepared(select(thing).where(thing.c.name.in_(bindparam("names", expanding=True))))
    computed = Prepared(select(thing).where(thing.c.name == bindparam("n", callable_=lambda: "a")))
    try:
        with engine.connect() as conn:
            with pytest.raises(ValueError, match="IN list given at execution"):
                expanding.rows(conn, {"names": ["a"]})
            with pytest.raises(ValueError, match="computed at execution"):
                computed.rows(conn, {})
    finally:
        engine.dispose()
    with pytest.raises(ValueError, match="distinct names"):
        Prepared(select(thing.c.id, thing.c.id.label("id")))


def test_a_json_array_stands_for_an_in_list_of_any_length(tmp_path: Path) -> None:
    """SQLite: `in_json_array` makes one fixed statement for any number of values."""
    engine = create_metadata_engine(f"sqlite:///{tmp_path / 'm.db'}")
    schema.create_all(engine)
    named = Prepared(
        select(thing.c.name)
        .where(in_json_array(thing.c.name, "names"), thing.c.state.in_(["live", "marked"]))
        .order_by(thing.c.name)
    )
    try:
        with engine.begin() as conn:
            for name, state in (("a", "live"), ("b", "marked"), ("c", "deleting"), ('q"x', "live")):
                ADD.first(conn, {"name": name, "state": state, "seen_at": None, "labels": None})
            for names, found in (
                ([], []),
                (["a"], ["a"]),
                (["c", "b", "a", "zz"], ["a", "b"]),
                (['q"x', "a"], ["a", 'q"x']),
            ):
                assert [row.name for row in named.rows(conn, {"names": names})] == found
    finally:
        engine.dispose()
