"""tags by artifact and push time: an artifact's most recent tags without reading them all

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 07:30:00.000000

The index on tag (artifact_id) becomes (artifact_id, pushed_at, id): it still serves every
lookup by artifact, and an artifact's ten most recent tags (or a page of them, newest first)
are read from its end instead of sorting an artifact's 100,000 tags.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tag_artifact_pushed", "tag", ["artifact_id", "pushed_at", "id"])
    op.drop_index("ix_tag_artifact", table_name="tag")


def downgrade() -> None:
    op.create_index("ix_tag_artifact", "tag", ["artifact_id"])
    op.drop_index("ix_tag_artifact_pushed", table_name="tag")
