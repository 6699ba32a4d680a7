"""users can be disabled

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 08:00:00.000000

A disabled user keeps their memberships and access keys but can no longer sign in or use
them. Existing users start enabled (the server default fills their rows).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("disabled")
