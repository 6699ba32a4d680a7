"""Apply Alembic migrations to a database (the only way moorage's schema is created).

Alembic (with Mako and Pygments behind it, about 11 MiB) is imported only when the schema
is behind: a node starting on a current schema reads the version table with one query
and compares it with the head revision named by the migration files themselves.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x6D6F6F72  # "moor"
_VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps
_REVISION = re.compile(r'^revision\s*=\s*["\']([^"\']+)["\']', re.MULTILINE)
_DOWN = re.compile(r'^down_revision\s*=\s*["\']([^"\']+)["\']', re.MULTILINE)


def alembic_config(engine: Engine | None = None, url: str | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    config.attributes["engine"] = engine
    return config


@cache
def head_revision() -> str | None:
    """The one revision no other migration builds on, as the files say; None when the
    files do not name exactly one (Alembic then decides, as it always did)."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text()
        revisions.update(_REVISION.findall(source))
        downs.update(_DOWN.findall(source))
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


def is_current(engine: Engine) -> bool:
    """Whether the database is at the head revision (a read, no Alembic)."""
    head = head_revision()
    if head is None:
        return False
    with engine.connect() as conn:
        if not inspect(conn).has_table(_VERSION_TABLE):
            return False
        found = conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalars().all()
    return found == [head]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`, in one transaction."""
    if revision == "head" and is_current(engine):
        return
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several nodes may start at once: one migrates, the others wait, then see head.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
