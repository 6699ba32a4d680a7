"""one writer per upload session; blobs can be quarantined

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("upload_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("writer", sa.String(length=64), nullable=True))
    with op.batch_alter_table("blob", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="live", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("blob", schema=None) as batch_op:
        batch_op.drop_column("status")
    with op.batch_alter_table("upload_session", schema=None) as batch_op:
        batch_op.drop_column("writer")
