"""replication: rules (the remote password sealed), runs linked to their rule, and job keys
that may lapse when a job starts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:00:00.000000

`replication_rule` holds each rule with its sealed secret; a replication run is an
`execution` row that names its rule (`rule_id`, deleted with it). `job.dedupe_running`
says whether a job's dedupe key still holds while it runs (true for every job queued so
far; false for copies of a pushed tag, so a push during a copy queues another).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replication_rule",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("remote_registry", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("secret", sa.LargeBinary(), nullable=True),
        sa.Column("verify_tls", sa.Boolean(), nullable=False),
        sa.Column("image_pattern", sa.String(length=255), nullable=False),
        sa.Column("image_include", sa.Boolean(), nullable=False),
        sa.Column("tag_pattern", sa.String(length=255), nullable=False),
        sa.Column("tag_include", sa.Boolean(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("cron", sa.String(length=255), nullable=True),
        sa.Column("override", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registry.id"],
            name=op.f("fk_replication_rule_registry_id_registry"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replication_rule")),
        sa.UniqueConstraint("registry_id", "name", name=op.f("uq_replication_rule_registry_id")),
    )
    with op.batch_alter_table("replication_rule", schema=None) as batch_op:
        batch_op.create_index(
            "ix_replication_rule_trigger", ["registry_id", "trigger", "enabled"], unique=False
        )
    with op.batch_alter_table("execution", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rule_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_execution_rule_id_replication_rule"),
            "replication_rule",
            ["rule_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_execution_rule", ["rule_id", "id"], unique=False)
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dedupe_running", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_column("dedupe_running")
    with op.batch_alter_table("execution", schema=None) as batch_op:
        batch_op.drop_index("ix_execution_rule")
        batch_op.drop_constraint("fk_execution_rule_id_replication_rule", type_="foreignkey")
        batch_op.drop_column("rule_id")
    with op.batch_alter_table("replication_rule", schema=None) as batch_op:
        batch_op.drop_index("ix_replication_rule_trigger")
    op.drop_table("replication_rule")
