"""revocable sign-ins: a generation per user, console session rows, failed sign-in counters

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00.000000

Console sessions and bearer tokens carry their user's `auth_generation`; raising it ends
them. A console session is valid while its `console_session` row exists (cookies issued
before this revision have none: their users sign in again). `login_failure` counts failed
sign-ins per account and per client address, for every node.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auth_generation", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "console_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_console_session_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_session")),
    )
    op.create_index("ix_console_session_user_id", "console_session", ["user_id"], unique=False)
    op.create_table(
        "login_failure",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failure")),
    )
    op.create_index(
        "ix_login_failure_last_failed_at", "login_failure", ["last_failed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_login_failure_last_failed_at", table_name="login_failure")
    op.drop_table("login_failure")
    op.drop_index("ix_console_session_user_id", table_name="console_session")
    op.drop_table("console_session")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("auth_generation")
