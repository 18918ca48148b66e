"""Retention plans are stored compressed: no table changes, a guard for older code.

A ``retention.plan`` audit event now names the stored object (``object``, zstd frames of
the plan's canonical JSON) beside the JSON digest. Code that predates this marks only the
JSON digest live, so its GC would delete every plan stored since; moving the schema to
this revision makes such code refuse the registry instead.

Revision ID: 0005_compressed_plans
Revises: 0004_object_pins
Create Date: 2026-11-27
"""

from __future__ import annotations

revision = "0005_compressed_plans"
down_revision = "0004_object_pins"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change in the tables."""


def downgrade() -> None:
    """Nothing to change in the tables."""
