"""garbage collection: blob lifecycle (marked, deleting) and the history of runs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blob", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_blob_status", ["status", "marked_at"], unique=False)
    op.create_table(
        "gc_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("delete_untagged", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("blobs_deleted", sa.Integer(), nullable=False),
        sa.Column("manifests_deleted", sa.Integer(), nullable=False),
        sa.Column("bytes_freed", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("log", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gc_run")),
    )
    with op.batch_alter_table("gc_run", schema=None) as batch_op:
        batch_op.create_index("ix_gc_run_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gc_run", schema=None) as batch_op:
        batch_op.drop_index("ix_gc_run_status")
    op.drop_table("gc_run")
    with op.batch_alter_table("blob", schema=None) as batch_op:
        batch_op.drop_index("ix_blob_status")
        batch_op.drop_column("marked_at")
