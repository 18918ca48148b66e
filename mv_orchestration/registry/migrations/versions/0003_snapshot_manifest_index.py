"""A partial index of the ``version_objects`` rows that reference dataset snapshots.

Retention reads which versions use which dataset snapshots; these rows are few, and the
index finds them without scanning every object row.

Revision ID: 0003_snapshot_manifest_index
Revises: 0002_version_objects
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_snapshot_manifest_index"
down_revision = "0002_version_objects"
branch_labels = None
depends_on = None

INDEX = "ix_version_objects_snapshot_manifests"
WHERE = sa.text("kind = 'snapshot_manifest'")


def upgrade() -> None:
    op.create_index(
        INDEX,
        "version_objects",
        ["version_id", "digest"],
        sqlite_where=WHERE,
        postgresql_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index(INDEX, "version_objects")
