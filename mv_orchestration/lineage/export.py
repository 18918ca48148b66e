"""Export the registry for auditors and BI tools: Parquet or JSON Lines, written with pyarrow.

Four tables — ``versions`` (with each record's canonical JSON), ``alias_history``,
``lineage_edges`` and ``audit_events`` — are read page by page inside one read
transaction (a consistent snapshot) and streamed to ``<table>.parquet`` or
``<table>.jsonl``. ``export.json`` lists each file with its row count and digest.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from mv_orchestration.errors import UsageError
from mv_orchestration.registry import schema

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy import Connection, Select

    from mv_orchestration.registry import Registry

log = logging.getLogger(__name__)

Format = Literal["parquet", "jsonl"]
FORMATS: tuple[Format, ...] = ("parquet", "jsonl")
MANIFEST_FILE = "export.json"
PAGE = 1000


class ExportedTable(BaseModel):
    """One exported file."""

    model_config = ConfigDict(frozen=True)

    file: str
    rows: int
    digest: str


class ExportReport(BaseModel):
    """What :func:`export_registry` wrote (also saved as ``export.json``)."""

    model_config = ConfigDict(frozen=True)

    format: Format
    out_dir: str
    exported_at: datetime
    tables: dict[str, ExportedTable]


@dataclass(frozen=True)
class _Table:
    name: str
    key: str
    columns: list[tuple[str, str]]  # (name, "int" | "str" | "time")
    query: Callable[[], Select[Any]]


def _versions_query() -> Select[Any]:
    from sqlalchemy import select

    v, m, r = schema.versions, schema.models, schema.records
    return (
        select(
            v.c.id,
            m.c.name.label("model"),
            v.c.version,
            v.c.record_id,
            v.c.content_digest,
            v.c.artifact_digest,
            v.c.params_digest,
            v.c.features_digest,
            v.c.datasets_digest,
            v.c.signature_digest,
            v.c.idempotency_key,
            v.c.created_at,
            v.c.status,
            v.c.status_changed_at,
            v.c.status_reason,
            v.c.status_plan_id,
            r.c.body.label("record"),
        )
        .join(m, m.c.id == v.c.model_id)
        .join(r, r.c.record_id == v.c.record_id)
    )


def _alias_history_query() -> Select[Any]:
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    h, m = schema.alias_history, schema.models
    src, dst = aliased(schema.versions), aliased(schema.versions)
    return (
        select(
            h.c.id,
            m.c.name.label("model"),
            h.c.alias,
            h.c.action,
            src.c.version.label("from_version"),
            dst.c.version.label("to_version"),
            h.c.at,
            h.c.actor,
            h.c.reason,
            h.c.context,
        )
        .join(m, m.c.id == h.c.model_id)
        .outerjoin(src, src.c.id == h.c.from_version_id)
        .outerjoin(dst, dst.c.id == h.c.to_version_id)
    )


def _plain_query(table: Any) -> Callable[[], Select[Any]]:
    def query() -> Select[Any]:
        from sqlalchemy import select

        return select(table)

    return query


TABLES = (
    _Table(
        "versions",
        "id",
        [
            ("id", "int"),
            ("model", "str"),
            ("version", "str"),
            ("record_id", "str"),
            ("content_digest", "str"),
            ("artifact_digest", "str"),
            ("params_digest", "str"),
            ("features_digest", "str"),
            ("datasets_digest", "str"),
            ("signature_digest", "str"),
            ("idempotency_key", "str"),
            ("created_at", "time"),
            ("status", "str"),
            ("status_changed_at", "time"),
            ("status_reason", "str"),
            ("status_plan_id", "str"),
            ("record", "str"),
        ],
        _versions_query,
    ),
    _Table(
        "alias_history",
        "id",
        [
            ("id", "int"),
            ("model", "str"),
            ("alias", "str"),
            ("action", "str"),
            ("from_version", "str"),
            ("to_version", "str"),
            ("at", "time"),
            ("actor", "str"),
            ("reason", "str"),
            ("context", "str"),
        ],
        _alias_history_query,
    ),
    _Table(
        "lineage_edges",
        "id",
        [
            ("id", "int"),
            ("src_kind", "str"),
            ("src", "str"),
            ("relation", "str"),
            ("dst_kind", "str"),
            ("dst", "str"),
            ("created_at", "time"),
        ],
        _plain_query(schema.lineage_edges),
    ),
    _Table(
        "audit_events",
        "seq",
        [
            ("seq", "int"),
            ("at", "str"),
            ("actor", "str"),
            ("action", "str"),
            ("subject", "str"),
            ("payload", "str"),
            ("prev_digest", "str"),
            ("digest", "str"),
        ],
        _plain_query(schema.audit_events),
    ),
)


def arrow_schema(table: _Table) -> pa.Schema:
    """The Arrow schema of an exported table."""
    import pyarrow as pa

    types = {"int": pa.int64(), "str": pa.string(), "time": pa.timestamp("us", tz="UTC")}
    return pa.schema([pa.field(name, types[kind]) for name, kind in table.columns])


def _pages(conn: Connection, table: _Table) -> Iterator[list[dict[str, Any]]]:
    base = table.query().subquery()
    from sqlalchemy import select

    key = base.c[table.key]
    last: int | None = None
    while True:
        query = select(base).order_by(key).limit(PAGE)
        if last is not None:
            query = query.where(key > last)
        rows = [dict(row._mapping) for row in conn.execute(query)]
        if not rows:
            return
        yield rows
        last = rows[-1][table.key]


def export_registry(
    registry: Registry, out_dir: str | os.PathLike[str], fmt: str = "parquet"
) -> ExportReport:
    """Write the versions, alias histories, lineage edges and audit log to ``out_dir``."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    exported: dict[str, ExportedTable] = {}
    with _snapshot(registry) as conn:
        for table in TABLES:
            exported[table.name] = _export_table(conn, table, out, fmt)
    report = ExportReport(
        format=fmt,
        out_dir=str(out),
        exported_at=datetime.now(timezone.utc),
        tables=exported,
    )
    _replace(out / MANIFEST_FILE, lambda tmp: tmp.write_text(report.model_dump_json(indent=2)))
    log.info("exported %s to %s", ", ".join(f"{n}: {t.rows}" for n, t in exported.items()), out)
    return report


@contextmanager
def _snapshot(registry: Registry) -> Iterator[Connection]:
    """One read-only transaction seeing a single snapshot of the registry."""
    from mv_orchestration.registry.database import snapshot_connection

    with snapshot_connection(registry.engine) as conn, conn.begin() as transaction:
        yield conn
        transaction.rollback()


def _export_table(conn: Connection, table: _Table, out: Path, fmt: str) -> ExportedTable:
    from mv_orchestration.hashing.files import digest_file

    target = out / f"{table.name}.{fmt}"
    rows = 0

    def write(tmp: Path) -> None:
        nonlocal rows
        if fmt == "parquet":
            rows = _write_parquet(conn, table, tmp)
        else:
            rows = _write_jsonl(conn, table, tmp)

    _replace(target, write)
    return ExportedTable(file=target.name, rows=rows, digest=digest_file(target))


def _write_parquet(conn: Connection, table: _Table, path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema_ = arrow_schema(table)
    rows = 0
    with pq.ParquetWriter(path, schema_) as writer:
        for page in _pages(conn, table):
            writer.write_table(pa.Table.from_pylist(page, schema=schema_))
            rows += len(page)
        if rows == 0:
            writer.write_table(schema_.empty_table())
    return rows


def _write_jsonl(conn: Connection, table: _Table, path: Path) -> int:
    """JSON Lines through Arrow: each page becomes a typed table, then one object per row
    (timestamps as ISO 8601 UTC strings)."""
    import pyarrow as pa

    schema_ = arrow_schema(table)
    rows = 0
    with path.open("w", encoding="utf-8") as handle:
        for page in _pages(conn, table):
            for row in pa.Table.from_pylist(page, schema=schema_).to_pylist():
                handle.write(json.dumps(_jsonable(row), ensure_ascii=False, sort_keys=True))
                handle.write("\n")
            rows += len(page)
    return rows


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in row.items()
    }


def _replace(target: Path, write: Callable[[Path], Any]) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
