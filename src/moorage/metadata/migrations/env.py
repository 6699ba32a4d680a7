"""Alembic environment. The connection (or URL) is handed in by `moorage.metadata.migrate`."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection

from moorage.metadata.tables import UTCDateTime, metadata
from moorage.metadata.uow import create_metadata_engine


def _render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render moorage's column types as plain SQLAlchemy ones, so revisions stand alone."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # ALTER TABLE on SQLite goes through table copies
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "set sqlalchemy.url or hand in a connection"
    with create_metadata_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
