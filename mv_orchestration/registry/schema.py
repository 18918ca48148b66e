"""The registry's tables (SQLAlchemy Core). Other core parts read them directly.

Conventions:

* ``versions.sort_key`` is :func:`mv_orchestration.registry.semver.sort_key`: ``ORDER BY``
  it gives semver precedence. ``versions.status`` is ``active`` -> ``tombstoned`` ->
  ``purged``; only the ``status*`` columns of a version row may ever change.
* ``records.body`` is the canonical JSON of a :class:`VersionRecord`; ``record_id`` is
  its digest. Records, alias history, audit events and lineage edges are append-only.
  The migrations install triggers that refuse any other change.
* Lineage edges (``src_kind``, ``src``, ``relation``, ``dst_kind``, ``dst``) written at
  registration, all from ``("version", record_id)``: ``trained_on`` -> ``("dataset",
  digest)``, ``built_from`` -> ``("code", commit)``, ``configured_by`` -> ``("config",
  params_digest)``, ``produced_by`` -> ``("run", run id)``, ``derived_from`` ->
  ``("version", parent record_id)``.
* ``version_tags.lookup`` and ``version_params.lookup`` are :func:`lookup_key` digests
  of (key, value), so a tag or parameter value is found through a short index key.
* ``version_objects`` (append-only, written in the registration transaction) lists the
  store objects a version's record references, so retention need not parse bodies:
  ``kind`` is :data:`OBJECT_KINDS` — ``artifact`` (manifest entries, with their size),
  ``code_diff`` and ``snapshot_manifest`` (a dataset snapshot's manifest; the files it lists
  are read from the store). ``size`` is NULL where the record does not state it. A
  partial index finds the few ``snapshot_manifest`` rows.
* ``object_pins`` (mutable: one row per ``(owner, key)``, replaced or deleted; each change
  is an audit event) keeps store objects live for GC: ``kind`` is :data:`PIN_KINDS` —
  ``object`` (that object) or ``tree`` (a manifest object and every file it lists). See
  :mod:`mv_orchestration.registry.pins`.
* ``audit_events.at`` is the fixed-width ISO text that the event digest covers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from mv_orchestration.registry.clock import as_utc

STATUSES = ("active", "tombstoned", "purged")
OBJECT_KINDS = ("artifact", "code_diff", "snapshot_manifest")
PIN_KINDS = ("object", "tree")
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


Id = BigInteger().with_variant(Integer(), "sqlite")
DIGEST = 160

metadata = MetaData(naming_convention=NAMING)

models = Table(
    "models",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

records = Table(
    "records",
    metadata,
    Column("record_id", String(DIGEST), primary_key=True),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

versions = Table(
    "versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model_id", Id, ForeignKey("models.id"), nullable=False),
    Column("version", String(256), nullable=False),
    Column("sort_key", LargeBinary(), nullable=False),
    Column("record_id", String(DIGEST), ForeignKey("records.record_id"), nullable=False),
    Column("content_digest", String(DIGEST), nullable=False),
    Column("artifact_digest", String(DIGEST), nullable=False),
    Column("params_digest", String(DIGEST), nullable=False),
    Column("features_digest", String(DIGEST), nullable=False),
    Column("datasets_digest", String(DIGEST), nullable=False),
    Column("signature_digest", String(DIGEST), nullable=False),
    Column("idempotency_key", String(1024), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_changed_at", UTCDateTime(), nullable=True),
    Column("status_reason", Text, nullable=True),
    Column("status_plan_id", String(128), nullable=True),
    UniqueConstraint("model_id", "version"),
    UniqueConstraint("model_id", "sort_key"),
    UniqueConstraint("model_id", "idempotency_key"),
    UniqueConstraint("record_id"),
    CheckConstraint("status IN ('active', 'tombstoned', 'purged')", name="status"),
    Index(None, "model_id", "content_digest"),
    Index(None, "model_id", "created_at"),
)

version_tags = Table(
    "version_tags",
    metadata,
    Column("version_id", Id, ForeignKey("versions.id"), nullable=False),
    Column("key", String(128), nullable=False),
    Column("value", Text, nullable=False),
    Column("lookup", String(64), nullable=False),
    PrimaryKeyConstraint("version_id", "key"),
    Index(None, "lookup"),
)

version_params = Table(
    "version_params",
    metadata,
    Column("lookup", String(64), nullable=False),
    Column("version_id", Id, ForeignKey("versions.id"), nullable=False),
    PrimaryKeyConstraint("lookup", "version_id"),
)

version_objects = Table(
    "version_objects",
    metadata,
    Column("version_id", Id, ForeignKey("versions.id"), nullable=False),
    Column("digest", String(DIGEST), nullable=False),
    Column("size", BigInteger, nullable=True),
    Column("kind", String(32), nullable=False),
    CheckConstraint("kind IN ('artifact', 'code_diff', 'snapshot_manifest')", name="kind"),
    Index(None, "version_id"),
    Index(None, "digest"),
    Index(
        "ix_version_objects_snapshot_manifests",
        "version_id",
        "digest",
        sqlite_where=text("kind = 'snapshot_manifest'"),
        postgresql_where=text("kind = 'snapshot_manifest'"),
    ),
)

aliases = Table(
    "aliases",
    metadata,
    Column("model_id", Id, ForeignKey("models.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("version_id", Id, ForeignKey("versions.id"), nullable=False),
    Column("history_id", Id, ForeignKey("alias_history.id"), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("model_id", "name"),
    Index(None, "version_id"),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model_id", Id, ForeignKey("models.id"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("from_version_id", Id, ForeignKey("versions.id"), nullable=True),
    Column("to_version_id", Id, ForeignKey("versions.id"), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("reason", Text, nullable=True),
    Column("context", Text, nullable=True),
    Index(None, "model_id", "alias", "id"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("version_id", Id, ForeignKey("versions.id"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("released_at", UTCDateTime(), nullable=True),
    Column("released_by", String(256), nullable=True),
    Index(None, "version_id"),
)

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("src_kind", String(32), nullable=False),
    Column("src", String(512), nullable=False),
    Column("relation", String(32), nullable=False),
    Column("dst_kind", String(32), nullable=False),
    Column("dst", String(512), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("src_kind", "src", "relation", "dst_kind", "dst"),
    Index(None, "dst_kind", "dst"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=False),
    Column("at", String(32), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_digest", String(DIGEST), nullable=True),
    Column("digest", String(DIGEST), nullable=False),
    UniqueConstraint("digest"),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("holder", String(256), nullable=False),
    Column("acquired_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

object_pins = Table(
    "object_pins",
    metadata,
    Column("owner", String(64), nullable=False),
    Column("key", String(440), nullable=False),
    Column("digest", String(DIGEST), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("pinned_at", UTCDateTime(), nullable=False),
    Column("actor", String(256), nullable=False),
    PrimaryKeyConstraint("owner", "key"),
    CheckConstraint("kind IN ('object', 'tree')", name="kind"),
)


def lookup_key(key: str, value_json: bytes) -> str:
    """The index key of a tag or parameter: blake3 of the key and canonical value, hex."""
    from blake3 import blake3

    hasher = blake3(key.encode("utf-8"))
    hasher.update(b"\x00")
    hasher.update(value_json)
    return hasher.hexdigest()[:64]
