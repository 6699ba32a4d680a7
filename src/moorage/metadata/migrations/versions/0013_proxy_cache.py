"""Proxy caches: a registry's upstream, and the marks on cached artifacts and tags

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 10:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proxy_cache",
        sa.Column("registry_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("secret", sa.LargeBinary(), nullable=True),
        sa.Column("verify_tls", sa.Boolean(), nullable=False),
        sa.Column("revalidate_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registry.id"],
            name=op.f("fk_proxy_cache_registry_id_registry"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("registry_id", name=op.f("pk_proxy_cache")),
    )
    op.create_table(
        "cached_artifact",
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("upstream", sa.String(length=2048), nullable=False),
        sa.Column("cached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revalidated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifact.id"],
            name=op.f("fk_cached_artifact_artifact_id_artifact"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("artifact_id", name=op.f("pk_cached_artifact")),
    )
    op.create_table(
        "cached_tag",
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("revalidated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tag.id"], name=op.f("fk_cached_tag_tag_id_tag"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tag_id", name=op.f("pk_cached_tag")),
    )


def downgrade() -> None:
    op.drop_table("cached_tag")
    op.drop_table("cached_artifact")
    op.drop_table("proxy_cache")
