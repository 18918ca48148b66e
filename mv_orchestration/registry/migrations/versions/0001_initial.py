"""Initial registry schema: tables, indexes and the immutability triggers.

Revision ID: 0001_initial
Revises:
Create Date: 2024-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mv_orchestration.registry.schema import UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DIGEST = 160

APPEND_ONLY = (
    "models",
    "records",
    "alias_history",
    "audit_events",
    "lineage_edges",
    "version_tags",
    "version_params",
)
VERSION_FIXED = (
    "id",
    "model_id",
    "version",
    "sort_key",
    "record_id",
    "content_digest",
    "artifact_digest",
    "params_digest",
    "features_digest",
    "datasets_digest",
    "signature_digest",
    "idempotency_key",
    "created_at",
)
HOLD_FIXED = ("id", "version_id", "reason", "actor", "created_at", "expires_at")
VERSION_TRANSITION = (
    "(OLD.status = 'active' AND NEW.status = 'tombstoned') "
    "OR (OLD.status = 'tombstoned' AND NEW.status = 'purged')"
)
HOLD_RELEASE = "OLD.released_at IS NULL AND NEW.released_at IS NOT NULL"


def upgrade() -> None:
    _create_tables()
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in ("mvo_refuse_change", "mvo_version_update", "mvo_hold_update"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}() CASCADE")
    for table in (
        "leases", "audit_events", "lineage_edges", "holds", "aliases", "alias_history",
        "version_params", "version_tags", "versions", "records", "models",
    ):  # fmt: skip
        op.drop_table(table)


def _create_tables() -> None:
    op.create_table(
        "models",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.UniqueConstraint("name", name="uq_models_name"),
    )
    op.create_table(
        "records",
        sa.Column("record_id", sa.String(DIGEST), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name="pk_records"),
    )
    op.create_table(
        "versions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("model_id", Id, nullable=False),
        sa.Column("version", sa.String(256), nullable=False),
        sa.Column("sort_key", sa.LargeBinary(), nullable=False),
        sa.Column("record_id", sa.String(DIGEST), nullable=False),
        sa.Column("content_digest", sa.String(DIGEST), nullable=False),
        sa.Column("artifact_digest", sa.String(DIGEST), nullable=False),
        sa.Column("params_digest", sa.String(DIGEST), nullable=False),
        sa.Column("features_digest", sa.String(DIGEST), nullable=False),
        sa.Column("datasets_digest", sa.String(DIGEST), nullable=False),
        sa.Column("signature_digest", sa.String(DIGEST), nullable=False),
        sa.Column("idempotency_key", sa.String(1024), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_changed_at", UTCDateTime(), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("status_plan_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_versions"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_versions_model_id_models"),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.record_id"], name="fk_versions_record_id_records"
        ),
        sa.UniqueConstraint("model_id", "version", name="uq_versions_model_id_version"),
        sa.UniqueConstraint("model_id", "sort_key", name="uq_versions_model_id_sort_key"),
        sa.UniqueConstraint(
            "model_id", "idempotency_key", name="uq_versions_model_id_idempotency_key"
        ),
        sa.UniqueConstraint("record_id", name="uq_versions_record_id"),
        sa.CheckConstraint(
            "status IN ('active', 'tombstoned', 'purged')", name="ck_versions_status"
        ),
    )
    op.create_index(
        "ix_versions_model_id_content_digest", "versions", ["model_id", "content_digest"]
    )
    op.create_index("ix_versions_model_id_created_at", "versions", ["model_id", "created_at"])
    op.create_table(
        "version_tags",
        sa.Column("version_id", Id, nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("lookup", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("version_id", "key", name="pk_version_tags"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name="fk_version_tags_version_id_versions"
        ),
    )
    op.create_index("ix_version_tags_lookup", "version_tags", ["lookup"])
    op.create_table(
        "version_params",
        sa.Column("lookup", sa.String(64), nullable=False),
        sa.Column("version_id", Id, nullable=False),
        sa.PrimaryKeyConstraint("lookup", "version_id", name="pk_version_params"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name="fk_version_params_version_id_versions"
        ),
    )
    op.create_table(
        "alias_history",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("model_id", Id, nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_version_id", Id, nullable=True),
        sa.Column("to_version_id", Id, nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("context", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alias_history"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_alias_history_model_id_models"
        ),
        sa.ForeignKeyConstraint(
            ["from_version_id"], ["versions.id"], name="fk_alias_history_from_version_id_versions"
        ),
        sa.ForeignKeyConstraint(
            ["to_version_id"], ["versions.id"], name="fk_alias_history_to_version_id_versions"
        ),
    )
    op.create_index(
        "ix_alias_history_model_id_alias_id", "alias_history", ["model_id", "alias", "id"]
    )
    op.create_table(
        "aliases",
        sa.Column("model_id", Id, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("history_id", Id, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "name", name="pk_aliases"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_aliases_model_id_models"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name="fk_aliases_version_id_versions"
        ),
        sa.ForeignKeyConstraint(
            ["history_id"], ["alias_history.id"], name="fk_aliases_history_id_alias_history"
        ),
    )
    op.create_index("ix_aliases_version_id", "aliases", ["version_id"])
    op.create_table(
        "holds",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("released_by", sa.String(256), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_holds"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name="fk_holds_version_id_versions"
        ),
    )
    op.create_index("ix_holds_version_id", "holds", ["version_id"])
    op.create_table(
        "lineage_edges",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("src_kind", sa.String(32), nullable=False),
        sa.Column("src", sa.String(512), nullable=False),
        sa.Column("relation", sa.String(32), nullable=False),
        sa.Column("dst_kind", sa.String(32), nullable=False),
        sa.Column("dst", sa.String(512), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_edges"),
        sa.UniqueConstraint(
            "src_kind",
            "src",
            "relation",
            "dst_kind",
            "dst",
            name="uq_lineage_edges_src_kind_src_relation_dst_kind_dst",
        ),
    )
    op.create_index("ix_lineage_edges_dst_kind_dst", "lineage_edges", ["dst_kind", "dst"])
    op.create_table(
        "audit_events",
        sa.Column("seq", Id, autoincrement=False, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_digest", sa.String(DIGEST), nullable=True),
        sa.Column("digest", sa.String(DIGEST), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
        sa.UniqueConstraint("digest", name="uq_audit_events_digest"),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def _changed(columns: tuple[str, ...], null_safe_ne: str) -> str:
    return " OR ".join(f"NEW.{c} {null_safe_ne} OLD.{c}" for c in columns)


def _sqlite_triggers() -> None:
    for table in APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'mvo: {verb} of {table} rows is refused: "
                "they are immutable'); END"
            )
    op.execute(
        "CREATE TRIGGER versions_no_delete BEFORE DELETE ON versions "
        "BEGIN SELECT RAISE(ABORT, 'mvo: DELETE of versions rows is refused'); END"
    )
    op.execute(
        "CREATE TRIGGER versions_status_only BEFORE UPDATE ON versions "
        f"WHEN {_changed(VERSION_FIXED, 'IS NOT')} OR NOT ({VERSION_TRANSITION}) "
        "BEGIN SELECT RAISE(ABORT, 'mvo: a version row may only advance its status "
        "(active -> tombstoned -> purged)'); END"
    )
    op.execute(
        "CREATE TRIGGER holds_no_delete BEFORE DELETE ON holds "
        "BEGIN SELECT RAISE(ABORT, 'mvo: DELETE of holds rows is refused'); END"
    )
    op.execute(
        "CREATE TRIGGER holds_release_only BEFORE UPDATE ON holds "
        f"WHEN {_changed(HOLD_FIXED, 'IS NOT')} OR NOT ({HOLD_RELEASE}) "
        "BEGIN SELECT RAISE(ABORT, 'mvo: a hold may only be released, once'); END"
    )


def _postgres_triggers() -> None:
    op.execute(
        "CREATE FUNCTION mvo_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'mvo: % of % rows is refused: they are immutable', "
        "TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation'; END $$"
    )
    op.execute(
        "CREATE FUNCTION mvo_version_update() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN IF {_changed(VERSION_FIXED, 'IS DISTINCT FROM')} "
        f"OR NOT ({VERSION_TRANSITION}) THEN "
        "RAISE EXCEPTION 'mvo: a version row may only advance its status "
        "(active -> tombstoned -> purged)' USING ERRCODE = 'restrict_violation'; "
        "END IF; RETURN NEW; END $$"
    )
    op.execute(
        "CREATE FUNCTION mvo_hold_update() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN IF {_changed(HOLD_FIXED, 'IS DISTINCT FROM')} OR NOT ({HOLD_RELEASE}) THEN "
        "RAISE EXCEPTION 'mvo: a hold may only be released, once' "
        "USING ERRCODE = 'restrict_violation'; END IF; RETURN NEW; END $$"
    )
    for table in (*APPEND_ONLY, "versions", "holds"):
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION mvo_refuse_change()"
        )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION mvo_refuse_change()"
        )
    op.execute(
        "CREATE TRIGGER versions_immutable BEFORE DELETE ON versions "
        "FOR EACH ROW EXECUTE FUNCTION mvo_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER versions_status_only BEFORE UPDATE ON versions "
        "FOR EACH ROW EXECUTE FUNCTION mvo_version_update()"
    )
    op.execute(
        "CREATE TRIGGER holds_immutable BEFORE DELETE ON holds "
        "FOR EACH ROW EXECUTE FUNCTION mvo_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER holds_release_only BEFORE UPDATE ON holds "
        "FOR EACH ROW EXECUTE FUNCTION mvo_hold_update()"
    )
