"""The ``object_pins`` table: named references that keep store objects live for GC.

One row per ``(owner, key)``; pinning a key again replaces its row and unpinning deletes
it, so the table has no immutability triggers (the audit log records every change).

Revision ID: 0004_object_pins
Revises: 0003_snapshot_manifest_index
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mv_orchestration.registry.schema import UTCDateTime

revision = "0004_object_pins"
down_revision = "0003_snapshot_manifest_index"
branch_labels = None
depends_on = None

DIGEST = 160
TABLE = "object_pins"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("key", sa.String(440), nullable=False),
        sa.Column("digest", sa.String(DIGEST), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("pinned_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("owner", "key", name="pk_object_pins"),
        sa.CheckConstraint("kind IN ('object', 'tree')", name="ck_object_pins_kind"),
    )


def downgrade() -> None:
    op.drop_table(TABLE)
