"""Stream the store objects each version's record references, in one query.

SQLite extracts just the needed JSON paths in SQL (its C parser is far faster than
parsing whole bodies in Python); other backends parse the body in Python. With
``verify=True`` every body is also re-hashed against its ``record_id``, so an edited
record can never hide a reference.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, String, func, select, type_coerce

from mv_orchestration.errors import IntegrityError
from mv_orchestration.registry import schema
from mv_orchestration.registry.clock import as_utc

BATCH = 10_000
_PATHS = ("$.artifacts.entries", "$.code_diff_digest", "$.datasets")


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One version row with what its record references."""

    id: int
    model_id: int
    version: str
    sort_key: bytes
    created_at: datetime
    status: str
    status_changed_at: datetime | None
    objects: tuple[tuple[str, int], ...]
    snapshots: tuple[str, ...]


def to_utc(value: Any) -> datetime | None:
    """A stored time as aware UTC (SQLite's naive UTC text is parsed without SQLAlchemy's
    regex)."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    return as_utc(value)


def _parse(sqlite: bool, parts: str, row: Any) -> tuple[list[tuple[str, int]], list[str]]:
    """(objects, snapshot manifest digests) of one record."""
    try:
        if sqlite:
            entries, diff, datasets = json.loads(parts)
        else:
            body = json.loads(parts)
            entries = body["artifacts"]["entries"]
            diff, datasets = body.get("code_diff_digest"), body.get("datasets")
        objects = [(entry["digest"], int(entry["size"])) for entry in entries or ()]
        snapshots = [d["manifest_digest"] for d in datasets or () if d["snapshot"]]
        if not all(isinstance(digest, str) for digest in snapshots):
            raise ValueError("a dataset snapshot has no manifest digest")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise IntegrityError(f"the record of {_ref(row)} cannot be read: {exc}") from None
    if diff:
        objects.append((diff, 0))
    return objects, snapshots


def _ref(row: Any) -> str:
    return f"version #{row[0]} ({row[2]})"


def iter_version_rows(
    conn: Connection,
    *,
    after_id: int = 0,
    created_since: datetime | None = None,
    verify: bool = False,
) -> Iterator[VersionRow]:
    """Every version with ``id > after_id`` (and, if given, created at or after
    ``created_since``) in id order, with its referenced objects.

    Raises :class:`IntegrityError` for a record that cannot be read or (``verify``) that
    does not hash to its id.
    """
    from mv_orchestration.hashing.digest import digest_bytes

    v, r = schema.versions, schema.records
    sqlite = conn.dialect.name == "sqlite"
    columns = [
        v.c.id,
        v.c.model_id,
        v.c.version,
        v.c.sort_key,
        type_coerce(v.c.created_at, String),
        v.c.status,
        type_coerce(v.c.status_changed_at, String),
        func.json_extract(r.c.body, *_PATHS) if sqlite else r.c.body,
    ]
    if verify:
        columns += [r.c.record_id, r.c.body] if sqlite else [r.c.record_id]
    query = (
        select(*columns)
        .join(r, r.c.record_id == v.c.record_id)
        .where(v.c.id > after_id)
        .order_by(v.c.id)
    )
    if created_since is not None:
        query = query.where(v.c.created_at >= created_since)
    for row in conn.execute(query.execution_options(yield_per=BATCH)):
        if verify:
            body = row[9] if sqlite else row[7]
            if digest_bytes(body.encode("utf-8")) != row[8]:
                raise IntegrityError(f"the record of {_ref(row)} does not match its digest")
        objects, snapshots = _parse(sqlite, row[7], row)
        yield VersionRow(
            id=row[0],
            model_id=row[1],
            version=row[2],
            sort_key=bytes(row[3]),
            created_at=to_utc(row[4]),  # type: ignore[arg-type]
            status=row[5],
            status_changed_at=to_utc(row[6]),
            objects=tuple(objects),
            snapshots=tuple(snapshots),
        )
