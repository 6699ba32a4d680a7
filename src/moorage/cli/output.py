"""Printing data: a readable table for people, JSON (`--json`) for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    if as_json:
        json.dump([{k: _plain(v) for k, v in row.items()} for row in rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if not rows:
        print("(none)")
        return
    table = Table(*columns, box=None, header_style="bold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    Console().print(table)


def emit_one(row: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        json.dump({k: _plain(v) for k, v in row.items()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        print(f"{key.ljust(width)}  {_cell(value)}")


def done(message: str, row: dict[str, Any], *, as_json: bool) -> int:
    """A change made: `row` for scripts, `message` for people. The exit status (0)."""
    if as_json:
        emit_one(row, as_json=True)
    else:
        print(message)
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# Lists of the API's items ----------------------------------------------------------------
# Local and remote commands both hold the API's JSON: `--json` prints the items as they are
# (every page, one array); a table shows the columns chosen for 80-column terminals.

DIGEST_HEX_SHOWN = 12


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: the item's field, its header, how a value is shown."""

    key: str
    header: str = ""
    show: Callable[[Any], str] = lambda value: _cell(value)

    @property
    def title(self) -> str:
        return self.header or self.key


def emit_items(
    items: Sequence[dict[str, Any]], columns: Sequence[Column], *, as_json: bool
) -> None:
    from rich.console import Console
    from rich.table import Table

    if as_json:
        print_json(list(items))
        return
    if not items:
        print("(none)")
        return
    table = Table(*(c.title for c in columns), box=None, header_style="bold", pad_edge=False)
    for item in items:
        table.add_row(
            *(_cell(None) if item.get(c.key) is None else c.show(item[c.key]) for c in columns)
        )
    Console().print(table)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=_plain)
    sys.stdout.write("\n")


def short_digest(digest: str) -> str:
    """`sha256:` and the first 12 hex characters, then an ellipsis."""
    algorithm, _, hex_part = digest.partition(":")
    if len(hex_part) <= DIGEST_HEX_SHOWN:
        return digest
    return f"{algorithm}:{hex_part[:DIGEST_HEX_SHOWN]}…"


def size(value: Any) -> str:
    return human_bytes(int(value))


def when(value: Any) -> str:
    """An API timestamp (ISO 8601, UTC) to the minute."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.strftime("%Y-%m-%d %H:%M")


def yes_no(value: Any) -> str:
    return "yes" if value else "no"


def joined(value: Any) -> str:
    return ",".join(str(v) for v in value) if value else "-"
