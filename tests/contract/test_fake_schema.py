"""The schema the in-memory fakes enforce (`tests/fakes/schema.py`, plain data) says exactly
what `moorage/metadata/tables.py` says, so the fakes' constraints cannot drift from the SQL
stores'.

When a table changes, rewrite the fakes' copy from `tables.py` and format it:

    .venv/bin/python -m tests.contract.test_fake_schema && .venv/bin/ruff format tests/fakes
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy import Table as SqlTable

from moorage.metadata import tables as t
from tests.fakes import schema
from tests.fakes.schema import ForeignKey, Table

SCHEMA_PY = Path(schema.__file__)
_TABLES_LINE = "TABLES: tuple[Table, ...] = ("
_PLAIN_TYPES = (String, Integer, Boolean)  # stored as given (Text, BigInteger among them)


def _type(table: SqlTable, column: Any) -> str:
    """How the fakes store the column's values: "utc", "json", "binary" or "plain"."""
    kind = column.type
    if isinstance(kind, t.UTCDateTime):
        return "utc"
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, LargeBinary):
        return "binary"
    if isinstance(kind, _PLAIN_TYPES):
        return "plain"
    raise AssertionError(f"the fakes cannot store {table.name}.{column.name}: {kind!r}")


def _default(table: SqlTable, column: Any) -> tuple[bool, Any]:
    """(whether an INSERT without the column fills it in, with what)."""
    where = f"{table.name}.{column.name}"
    if column.default is not None:
        assert column.default.is_scalar, f"the fakes know scalar defaults only: {where}"
        return True, column.default.arg
    if column.server_default is not None:
        arg = getattr(column.server_default, "arg", None)
        assert isinstance(arg, str), f"the fakes know literal server defaults only: {where}"
        return True, str(arg)
    return False, None


def _unique_keys(table: SqlTable) -> tuple[tuple[str, ...], ...]:
    keys = {
        tuple(c.name for c in u.columns)
        for u in table.constraints
        if isinstance(u, UniqueConstraint)
    }
    for index in table.indexes:
        if index.unique:
            columns = tuple(c.name for c in index.columns)
            assert len(columns) == len(index.expressions), f"unique expression: {index.name}"
            keys.add(columns)
    return tuple(sorted(keys - {tuple(c.name for c in table.primary_key.columns)}))


def describe(table: SqlTable) -> Table:
    """What `tests/fakes/schema.py` must say of this table."""
    columns = list(table.columns)
    types = {c.name: _type(table, c) for c in columns}
    defaults = {c.name: value for c in columns for given, value in [_default(table, c)] if given}
    autoincrement = table.autoincrement_column
    return Table(
        table.name,
        columns=tuple(c.name for c in columns),
        primary_key=tuple(c.name for c in table.primary_key.columns),
        autoincrement=None if autoincrement is None else autoincrement.name,
        unique=_unique_keys(table),
        required=tuple(c.name for c in columns if not c.nullable),
        utc=tuple(name for name, kind in types.items() if kind == "utc"),
        json=tuple(name for name, kind in types.items() if kind == "json"),
        binary=tuple(name for name, kind in types.items() if kind == "binary"),
        defaults=defaults,
        foreign_keys=tuple(
            sorted(
                (
                    ForeignKey(fk.parent.name, fk.column.table.name, fk.column.name, fk.ondelete)
                    for fk in table.foreign_keys
                ),
                key=lambda fk: (fk.column, fk.table, fk.referenced),
            )
        ),
    )


def _tables() -> dict[str, Table]:
    return {table.name: describe(table) for table in t.metadata.sorted_tables}


# --- the check -----------------------------------------------------------------------------


def test_the_fakes_know_every_table_and_no_other() -> None:
    assert sorted(table.name for table in schema.TABLES) == sorted(_tables())


@pytest.mark.parametrize("name", sorted(_tables()))
def test_the_fakes_schema_says_what_tables_py_says(name: str) -> None:
    ours = {table.name: table for table in schema.TABLES}
    assert ours.get(name) == _tables()[name]


def test_the_rewritten_copy_says_what_tables_py_says() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(render(), str(SCHEMA_PY), "exec"), namespace)
    rewritten = {table.name: asdict(table) for table in namespace["TABLES"]}
    assert rewritten == {name: asdict(table) for name, table in _tables().items()}


# --- rewriting tests/fakes/schema.py -------------------------------------------------------


def _py(value: Any) -> str:
    """Python source for plain data (strings in double quotes, as ruff writes them)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        items = [_py(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
    if isinstance(value, ForeignKey):
        cascade = "" if value.on_delete is None else f", {_py(value.on_delete)}"
        return (
            f"ForeignKey({_py(value.column)}, {_py(value.table)}, {_py(value.referenced)}{cascade})"
        )
    assert value is None or isinstance(value, bool | int), value
    return repr(value)


def _table_source(table: Table) -> str:
    fields = [_py(table.name)]
    for name in Table.__dataclass_fields__:
        value = getattr(table, name)
        if name != "name" and value not in ((), {}, None):
            fields.append(f"{name}={_py(value)}")
    return "    Table(\n" + "".join(f"        {f},\n" for f in fields) + "    ),\n"


def render() -> str:
    """`tests/fakes/schema.py` with its TABLES described anew from `tables.py`."""
    head = SCHEMA_PY.read_text().split(_TABLES_LINE)[0]
    body = "".join(_table_source(table) for table in _tables().values())
    return f"{head}{_TABLES_LINE}\n{body})\n"


if __name__ == "__main__":
    SCHEMA_PY.write_text(render())
