"""Helm charts: an artifact keeps its chart's name, version and app version

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 09:00:00.000000

Read from the chart's config when its manifest is pushed. Artifacts pushed before stay
null: their configs are not read again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("helm_chart", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.drop_column("helm_chart")
