"""Integrity checks: record digests, and the stored bytes every version references.

For each version: the stored record body must hash to its ``record_id`` and describe
that very model and version; its manifest must hash to the version's
``artifact_digest``; every artifact file, the code diff and dataset snapshot manifests
and the files those manifests list must exist in the store and re-hash to their digests
(each object checked once).
Purged versions have no bytes left: only their records are checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from mv_orchestration.errors import IntegrityError, ValidationError
from mv_orchestration.hashing.digest import digest_bytes
from mv_orchestration.registry import schema
from mv_orchestration.registry.entities import VerifyReport
from mv_orchestration.registry.record import VersionRecord

if TYPE_CHECKING:
    from mv_orchestration.store.store import ArtifactStore


def load_record(conn: Connection, record_id: str) -> tuple[str, VersionRecord | None, str | None]:
    """(body, parsed record or None, problem or None) for one record id."""
    body = conn.execute(
        select(schema.records.c.body).where(schema.records.c.record_id == record_id)
    ).scalar()
    if body is None:
        return "", None, f"record {record_id} is missing"
    if digest_bytes(body.encode("utf-8")) != record_id:
        return body, None, f"record {record_id} does not match its digest (edited)"
    try:
        return body, VersionRecord.from_body(body), None
    except (ValueError, ValidationError) as exc:
        return body, None, f"record {record_id} does not parse: {exc}"


def record_objects(record: VersionRecord, store: ArtifactStore) -> tuple[list[str], list[str]]:
    """(digests of every store object the record references, problems). Dataset snapshot
    manifests are read (verified) to reach the files they list."""
    objects = [entry.digest for entry in record.artifacts.entries]
    if record.code_diff_digest:
        objects.append(record.code_diff_digest)
    problems = []
    for dataset in record.datasets:
        if not (dataset.snapshot and dataset.manifest_digest):
            continue
        objects.append(dataset.manifest_digest)
        try:
            manifest = store.get_manifest(dataset.manifest_digest)
        except (IntegrityError, ValueError, ValidationError) as exc:
            problems.append(f"dataset {dataset.name!r} snapshot manifest: {exc}")
            continue
        objects.extend(entry.digest for entry in manifest.entries)
    return objects, problems


def verify_versions(conn: Connection, store: ArtifactStore, rows: Iterable[Any]) -> VerifyReport:
    """Check every version row given (rows of :func:`version_select`)."""
    problems: list[str] = []
    checked: set[str] = set()
    count = 0
    for row in rows:
        count += 1
        ref = f"{row.model}@{row.version}"
        _, record, problem = load_record(conn, row.record_id)
        if record is None:
            problems.append(f"{ref}: {problem}")
            continue
        if (record.model, record.version) != (row.model, row.version):
            problems.append(f"{ref}: its record describes {record.model}@{record.version}")
        if record.artifacts.digest != row.artifact_digest:
            problems.append(f"{ref}: manifest digest differs from the version row")
        if row.status == "purged":
            continue
        objects, unreadable = record_objects(record, store)
        problems.extend(f"{ref}: {problem}" for problem in unreadable)
        for digest in objects:
            if digest in checked:
                continue
            checked.add(digest)
            try:
                store.verify(digest)
            except IntegrityError as exc:
                problems.append(f"{ref}: {exc}")
    return VerifyReport(ok=not problems, versions=count, objects=len(checked), problems=problems)
