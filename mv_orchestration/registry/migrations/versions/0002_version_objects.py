"""The ``version_objects`` table: the store objects each version's record references.

Append-only like the other record tables, indexed by version and by digest, and backfilled
from the record bodies already stored (streamed, inserted in batches).

Revision ID: 0002_version_objects
Revises: 0001_initial
Create Date: 2025-01-20
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002_version_objects"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DIGEST = 160
BATCH = 5_000
TABLE = "version_objects"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("version_id", Id, nullable=False),
        sa.Column("digest", sa.String(DIGEST), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name="fk_version_objects_version_id_versions"
        ),
        sa.CheckConstraint(
            "kind IN ('artifact', 'code_diff', 'snapshot_manifest')",
            name="ck_version_objects_kind",
        ),
    )
    _backfill()
    op.create_index("ix_version_objects_version_id", TABLE, ["version_id"])
    op.create_index("ix_version_objects_digest", TABLE, ["digest"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION mvo_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_immutable BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION mvo_refuse_change()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, 'mvo: {verb} of {TABLE} rows is refused: "
                "they are immutable'); END"
            )


def downgrade() -> None:
    op.drop_table(TABLE)


def _body_objects(body: dict[str, Any]) -> Iterator[tuple[str, int | None, str]]:
    """``(digest, size, kind)`` of every store object a record body references."""
    for entry in body["artifacts"]["entries"]:
        yield entry["digest"], int(entry["size"]), "artifact"
    if body.get("code_diff_digest"):
        yield body["code_diff_digest"], None, "code_diff"
    for dataset in body.get("datasets") or ():
        if dataset.get("snapshot") and dataset.get("manifest_digest"):
            yield dataset["manifest_digest"], None, "snapshot_manifest"


def _backfill() -> None:
    bind = op.get_bind()
    table = sa.table(
        TABLE,
        sa.column("version_id"),
        sa.column("digest"),
        sa.column("size"),
        sa.column("kind"),
    )
    v = sa.table("versions", sa.column("id"), sa.column("record_id"))
    r = sa.table("records", sa.column("record_id"), sa.column("body"))
    query = sa.select(v.c.id, r.c.body).join(r, r.c.record_id == v.c.record_id).order_by(v.c.id)
    pending: list[dict[str, Any]] = []
    for version_id, body in bind.execute(query.execution_options(yield_per=BATCH)):
        for digest, size, kind in _body_objects(json.loads(body)):
            pending.append({"version_id": version_id, "digest": digest, "size": size, "kind": kind})
        if len(pending) >= BATCH:
            bind.execute(table.insert(), pending)
            pending = []
    if pending:
        bind.execute(table.insert(), pending)
