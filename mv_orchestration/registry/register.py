"""The registration transaction: the registry row is the commit point of a version.

Everything here runs inside one transaction on a :class:`Draft` that was validated and
whose bytes were uploaded before. In order: lock the model (PostgreSQL ``FOR UPDATE``;
SQLite holds the write lock from ``BEGIN IMMEDIATE``), return the existing version for a
known idempotency key or identical content, allocate the version, then insert the
record, version, tag and parameter index rows, lineage edges and the audit event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
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
_BY_KEY = model_select().where(
    _v.c.model_id == bindparam("model_id"), _v.c.idempotency_key == bindparam("key")
)
_BY_PRECEDENCE = (
    model_select()
    .add_columns(_v.c.content_digest)
    .where(_v.c.model_id == bindparam("model_id"), _v.c.sort_key == bindparam("sort_key"))
)
_BY_CONTENT = (
    model_select()
    .add_columns(_v.c.sort_key)
    .where(
        _v.c.model_id == bindparam("model_id"),
        _v.c.content_digest == bindparam("content_digest"),
        _v.c.status == "active",
    )
)
_LATEST = (
    select(
        _v.c.version,
        _v.c.signature_digest,
        _v.c.datasets_digest,
        _v.c.params_digest,
        _v.c.features_digest,
    )
    .where(_v.c.model_id == bindparam("model_id"))
    .order_by(_v.c.sort_key.desc())
    .limit(1)
)
_INSERT_RECORD = schema.records.insert()
_INSERT_VERSION = _v.insert().returning(_v.c.id)
_INSERT_TAGS = schema.version_tags.insert()
_INSERT_PARAMS = schema.version_params.insert()
_INSERT_EDGES = schema.lineage_edges.insert()
_INSERT_OBJECTS = schema.version_objects.insert()


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


def find_by_key(conn: Connection, model: str, model_id: int, key: str) -> Any:
    """The version registered with idempotency ``key``, or None."""
    params = {"model_name": model, "model_id": model_id, "key": key}
    return conn.execute(_BY_KEY, params).first()


def find_existing(conn: Connection, model_id: int, draft: Draft) -> Any:
    """The version this draft already is: same idempotency key, same explicit version
    with the same content, or (for bumps) an active version with the same content."""
    if draft.idempotency_key is not None:
        row = find_by_key(conn, draft.model, model_id, draft.idempotency_key)
        if row is not None:
            return row
    if draft.version is not None:
        params = {
            "model_name": draft.model,
            "model_id": model_id,
            "sort_key": draft.version.sort_key(),
        }
        row = conn.execute(_BY_PRECEDENCE, params).first()
        if row is not None and row.content_digest != draft.content_digest:
            raise VersionExistsError(
                f"{draft.model}@{row.version} already exists with different content"
            )
        return row
    params = {
        "model_name": draft.model,
        "model_id": model_id,
        "content_digest": draft.content_digest,
    }
    same = conn.execute(_BY_CONTENT, params).all()
    return max(same, key=lambda row: row.sort_key, default=None)


def latest_version(conn: Connection, model_id: int) -> Latest | None:
    """The model's highest version (any status) and its fingerprint."""
    row = conn.execute(_LATEST, {"model_id": model_id}).first()
    if row is None:
        return None
    fingerprint = Fingerprint(
        row.signature_digest, row.datasets_digest, row.params_digest, row.features_digest
    )
    return Latest(row.version, fingerprint)


def register(
    conn: Connection, draft: Draft, known_models: dict[str, int] | None = None
) -> ModelVersion:
    """Run the registration inside ``conn``'s open transaction (``known_models``: see
    :func:`lock_model`)."""
    now = utcnow()
    model_id = lock_model(conn, draft.model, create=True, now=now, known=known_models)
    assert model_id is not None
    existing = find_existing(conn, model_id, draft)
    if existing is not None:
        return ModelVersion.from_row(existing, created=False)
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
    conn.execute(
        _INSERT_RECORD, {"record_id": record_id, "body": body.decode("utf-8"), "created_at": now}
    )
    version_id = conn.execute(
        _INSERT_VERSION,
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
    ).scalar_one()
    if draft.tags:
        conn.execute(
            _INSERT_TAGS,
            [
                {"version_id": version_id, "key": k, "value": val, "lookup": tag_lookup(k, val)}
                for k, val in draft.tags.items()
            ],
        )
    lookups = sorted({param_lookup(path, value) for path, value in flatten(draft.params)})
    if lookups:
        conn.execute(
            _INSERT_PARAMS, [{"lookup": lookup, "version_id": version_id} for lookup in lookups]
        )
    if draft.edges:
        conn.execute(
            _INSERT_EDGES,
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
        for digest, size, kind in body_objects(json.loads(body))
    ]
    if objects:
        conn.execute(_INSERT_OBJECTS, objects)
    payload = {
        "record_id": record_id,
        "version_id": version_id,
        "content_digest": draft.content_digest,
        "bump": bump.kind,
    }
    append_event(conn, "version.register", f"{draft.model}@{version}", payload, draft.actor)


def body_objects(body: Mapping[str, Any]) -> Iterator[tuple[str, int | None, str]]:
    """``(digest, size, kind)`` of every store object a record body references (the rows of
    ``version_objects``; migration 0002 backfills with the same rules)."""
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
