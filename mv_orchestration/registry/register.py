"""The registration transaction: the registry row is the commit point of a version.

Everything here runs inside one transaction on a :class:`Draft` that was validated and
whose bytes were uploaded before. In order: lock the model (PostgreSQL ``FOR UPDATE``;
SQLite holds the write lock from ``BEGIN IMMEDIATE``), return the existing version for a
known idempotency key or identical content, allocate the version, then insert the
record, version, tag and parameter index rows, lineage edges and the audit event. The
statements of this path run on the DBAPI cursor (:class:`.prepared.Prepared`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from mv_orchestration.canonical import canonical_json
from mv_orchestration.errors import VersionExistsError
from mv_orchestration.hashing.digest import digest_bytes
from mv_orchestration.registry import schema
from mv_orchestration.registry.audit import append_event
from mv_orchestration.registry.bump import Fingerprint, Latest, next_version
from mv_orchestration.registry.clock import utcnow
from mv_orchestration.registry.entities import ModelVersion
from mv_orchestration.registry.prepared import Prepared
from mv_orchestration.registry.record import BumpInfo, record_body
from mv_orchestration.registry.resolve import model_select
from mv_orchestration.registry.semver import SemVer


@dataclass(frozen=True)
class Draft:
    """A validated registration whose version is not chosen yet.

    ``fields_json`` holds every record field except ``capture`` and those in
    ``record.RUN_FIELDS``, in normalised JSON form; ``capture_json`` is the capture's
    canonical JSON. ``edges`` are (relation, dst_kind, dst) from the new version.
    """

    model: str
    version: SemVer | None
    bump: str
    idempotency_key: str | None
    content_digest: str
    artifact_digest: str
    fingerprint: Fingerprint
    fields_json: dict[str, Any]
    capture_json: bytes
    tags: Mapping[str, str]
    params: Mapping[str, Any]
    edges: tuple[tuple[str, str, str], ...]
    actor: str | None = None


_m, _v = schema.models, schema.versions
_MODEL_ID = select(_m.c.id).where(_m.c.name == bindparam("name"))
_MODEL_ID_LOCKED = _MODEL_ID.with_for_update()
_INSERT_MODEL = _m.insert().returning(_m.c.id)
_IN_MODEL = _v.c.model_id == bindparam("model_id")
_VERSION_ROW = model_select().where(_IN_MODEL, _v.c.id == bindparam("version_id"))
_BY_KEY = Prepared(select(_v.c.id).where(_IN_MODEL, _v.c.idempotency_key == bindparam("key")))
_BY_PRECEDENCE = Prepared(
    select(_v.c.id, _v.c.version, _v.c.content_digest).where(
        _IN_MODEL, _v.c.sort_key == bindparam("sort_key")
    )
)
# No ORDER BY: it would turn SQLite's planner from the content index to a sort_key scan.
_BY_CONTENT = Prepared(
    select(_v.c.id, _v.c.sort_key).where(
        _IN_MODEL, _v.c.content_digest == bindparam("content_digest"), _v.c.status == "active"
    )
)
_LATEST = Prepared(
    select(
        _v.c.version,
        _v.c.signature_digest,
        _v.c.datasets_digest,
        _v.c.params_digest,
        _v.c.features_digest,
    )
    .where(_IN_MODEL)
    .order_by(_v.c.sort_key.desc())
    .limit(1)
)
_INSERT_RECORD = Prepared(schema.records.insert(), ("record_id", "body", "created_at"))
_INSERT_VERSION = Prepared(
    _v.insert().returning(_v.c.id),
    (
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
        "status",
    ),
)
_INSERT_TAGS = Prepared(schema.version_tags.insert(), ("version_id", "key", "value", "lookup"))
_INSERT_PARAMS = Prepared(schema.version_params.insert(), ("lookup", "version_id"))
_INSERT_EDGES = Prepared(
    schema.lineage_edges.insert(), ("src_kind", "src", "relation", "dst_kind", "dst", "created_at")
)
_INSERT_OBJECTS = Prepared(
    schema.version_objects.insert(), ("version_id", "digest", "size", "kind")
)


def lock_model(
    conn: Connection,
    name: str,
    *,
    create: bool,
    now: datetime,
    known: dict[str, int] | None = None,
) -> int | None:
    """The model's id, row-locked on PostgreSQL; created when missing and ``create``.

    On SQLite (the write lock is already held) ids found in ``known`` skip the query;
    model rows never change, so an id read from committed data is cached there.
    """
    if conn.dialect.name == "postgresql":
        model_id = conn.execute(_MODEL_ID_LOCKED, {"name": name}).scalar()
    elif known is not None and name in known:
        return known[name]
    else:
        model_id = conn.execute(_MODEL_ID, {"name": name}).scalar()
        if model_id is not None and known is not None:
            known[name] = int(model_id)
    if model_id is None and create:
        model_id = conn.execute(_INSERT_MODEL, {"name": name, "created_at": now}).scalar_one()
    return None if model_id is None else int(model_id)


def _lock_parents(conn: Connection, draft: Draft) -> None:
    """On PostgreSQL, share-lock the versions this one derives from, so a retention batch
    deciding whether they go either sees this version or waits for it (SQLite's write lock
    already excludes every other writer)."""
    parents = sorted(dst for relation, kind, dst in draft.edges if relation == "derived_from")
    if parents and conn.dialect.name == "postgresql":
        query = select(_v.c.id).where(_v.c.record_id.in_(parents)).order_by(_v.c.id)
        query = query.with_for_update(read=True)
        conn.execute(query).all()


def find_by_key(conn: Connection, model: str, model_id: int, key: str) -> Any:
    """The version registered with idempotency ``key``, or None."""
    found = _BY_KEY.first(conn, {"model_id": model_id, "key": key})
    return None if found is None else _version_row(conn, model, model_id, found[0])


def find_existing(conn: Connection, model_id: int, draft: Draft) -> Any:
    """The version this draft already is: same idempotency key, same explicit version
    with the same content, or (for bumps) an active version with the same content."""
    if draft.idempotency_key is not None:
        row = find_by_key(conn, draft.model, model_id, draft.idempotency_key)
        if row is not None:
            return row
    if draft.version is not None:
        params = {"model_id": model_id, "sort_key": draft.version.sort_key()}
        found = _BY_PRECEDENCE.first(conn, params)
        if found is None:
            return None
        version_id, version, content = found
        if content != draft.content_digest:
            raise VersionExistsError(
                f"{draft.model}@{version} already exists with different content"
            )
        return _version_row(conn, draft.model, model_id, version_id)
    params = {"model_id": model_id, "content_digest": draft.content_digest}
    same = _BY_CONTENT.rows(conn, params)
    if not same:
        return None
    version_id, _ = max(same, key=lambda row: bytes(row[1]))
    return _version_row(conn, draft.model, model_id, version_id)


def _version_row(conn: Connection, model: str, model_id: int, version_id: int) -> Any:
    """The full version row (columns of ``resolve.model_select``) of a version id."""
    params = {"model_name": model, "model_id": model_id, "version_id": version_id}
    return conn.execute(_VERSION_ROW, params).one()


def latest_version(conn: Connection, model_id: int) -> Latest | None:
    """The model's highest version (any status) and its fingerprint."""
    row = _LATEST.first(conn, {"model_id": model_id})
    if row is None:
        return None
    version, signature, datasets, params, features = row
    return Latest(version, Fingerprint(signature, datasets, params, features))


def register(
    conn: Connection,
    draft: Draft,
    known_models: dict[str, int] | None = None,
    before_insert: Callable[[Connection], object] | None = None,
) -> ModelVersion:
    """Run the registration inside ``conn``'s open transaction (``known_models``: see
    :func:`lock_model`); ``before_insert`` runs once it is known to be a new version."""
    now = utcnow()
    model_id = lock_model(conn, draft.model, create=True, now=now, known=known_models)
    assert model_id is not None
    _lock_parents(conn, draft)
    existing = find_existing(conn, model_id, draft)
    if existing is not None:
        return ModelVersion.from_row(existing, created=False)
    if before_insert is not None:
        before_insert(conn)
    latest = latest_version(conn, model_id)
    if draft.version is not None:
        version = draft.version
        previous = latest.version if latest else None
        bump = BumpInfo(kind="explicit", reason="version given explicitly", previous=previous)
    else:
        version, bump = next_version(draft.bump, latest, draft.fingerprint)
    body = record_body(
        draft.fields_json,
        draft.capture_json,
        model=draft.model,
        version=str(version),
        created_at=now,
        bump=bump,
    )
    record_id = digest_bytes(body)
    _insert(conn, draft, model_id, version, bump, body, record_id, now)
    return ModelVersion(
        model=draft.model,
        version=str(version),
        record_id=record_id,
        created_at=now,
        status="active",
        artifact_digest=draft.artifact_digest,
        created=True,
    )


def _insert(
    conn: Connection,
    draft: Draft,
    model_id: int,
    version: SemVer,
    bump: BumpInfo,
    body: bytes,
    record_id: str,
    now: datetime,
) -> None:
    fp = draft.fingerprint
    _INSERT_RECORD.rows(
        conn, {"record_id": record_id, "body": body.decode("utf-8"), "created_at": now}
    )
    (version_id,) = _INSERT_VERSION.rows(
        conn,
        {
            "model_id": model_id,
            "version": str(version),
            "sort_key": version.sort_key(),
            "record_id": record_id,
            "content_digest": draft.content_digest,
            "artifact_digest": draft.artifact_digest,
            "params_digest": fp.params_digest,
            "features_digest": fp.features_digest,
            "datasets_digest": fp.datasets_digest,
            "signature_digest": fp.signature_digest,
            "idempotency_key": draft.idempotency_key,
            "created_at": now,
            "status": "active",
        },
    )[0]
    if draft.tags:
        _INSERT_TAGS.many(
            conn,
            [
                {"version_id": version_id, "key": k, "value": val, "lookup": tag_lookup(k, val)}
                for k, val in draft.tags.items()
            ],
        )
    lookups = sorted({param_lookup(path, value) for path, value in flatten(draft.params)})
    if lookups:
        _INSERT_PARAMS.many(
            conn, [{"lookup": lookup, "version_id": version_id} for lookup in lookups]
        )
    if draft.edges:
        _INSERT_EDGES.many(
            conn,
            [
                {
                    "src_kind": "version",
                    "src": record_id,
                    "relation": relation,
                    "dst_kind": kind,
                    "dst": dst,
                    "created_at": now,
                }
                for relation, kind, dst in draft.edges
            ],
        )
    objects = [
        {"version_id": version_id, "digest": digest, "size": size, "kind": kind}
        for digest, size, kind in body_objects(draft.fields_json)
    ]
    if objects:
        _INSERT_OBJECTS.many(conn, objects)
    payload = {
        "record_id": record_id,
        "version_id": version_id,
        "content_digest": draft.content_digest,
        "bump": bump.kind,
    }
    append_event(conn, "version.register", f"{draft.model}@{version}", payload, draft.actor)


def body_objects(body: Mapping[str, Any]) -> Iterator[tuple[str, int | None, str]]:
    """``(digest, size, kind)`` of every store object a record body references (the rows of
    ``version_objects``; migration 0002 backfills with the same rules). ``body`` may be a
    draft's ``fields_json``: it holds the record's ``artifacts``, ``code_diff_digest`` and
    ``datasets``."""
    for entry in body["artifacts"]["entries"]:
        yield entry["digest"], int(entry["size"]), "artifact"
    if body.get("code_diff_digest"):
        yield body["code_diff_digest"], None, "code_diff"
    for dataset in body.get("datasets") or ():
        if dataset.get("snapshot") and dataset.get("manifest_digest"):
            yield dataset["manifest_digest"], None, "snapshot_manifest"


def flatten(params: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaf (dotted path, value) pairs of nested params; lists are leaves."""
    for key, value in params.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from flatten(value, f"{path}.")
        else:
            yield path, value


def param_lookup(path: str, value: Any) -> str:
    """Index key of one parameter value."""
    return schema.lookup_key(f"param:{path}", canonical_json(value))


def tag_lookup(key: str, value: str) -> str:
    """Index key of one tag."""
    return schema.lookup_key(f"tag:{key}", canonical_json(value))
