"""Registry exports for auditors: every row, readable by pyarrow, verifiable on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from mv_orchestration.errors import UsageError
from mv_orchestration.hashing.digest import digest_bytes
from mv_orchestration.hashing.files import digest_file
from mv_orchestration.lineage import export
from mv_orchestration.lineage.export import export_registry
from mv_orchestration.registry import Registry, schema
from mv_orchestration.registry.audit import event_digest
from tests.core.lineage_helpers import train_version

pytest_plugins = ["tests.core.registry_fixtures"]


@pytest.fixture
def history(registry: Registry, tmp_path: Path) -> Registry:
    """Three versions of one model, two of another, alias moves, a rollback and a hold."""
    for i in range(3):
        train_version(
            registry, tmp_path / f"c{i}", seed=i, params={"lr": i}, rows=5 + i, content=f"c{i}"
        )
    for i in range(2):
        train_version(
            registry,
            tmp_path / f"f{i}",
            seed=i,
            params={"k": i},
            rows=3,
            content=f"f{i}",
            model="fraud",
        )
    registry.promote("churn@1.0.0", alias="production", reason="first")
    registry.promote("churn@1.2.0", alias="production", reason="better")
    registry.rollback("churn", alias="production", reason="regression")
    registry.hold("fraud@1.0.0", reason="legal request 42")
    return registry


def table_rows(registry: Registry, table: object) -> int:
    with registry.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("page", [1000, 2])
def test_parquet_export_is_complete_and_verifiable(
    history: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    monkeypatch.setattr(export, "PAGE", page)
    report = export_registry(history, tmp_path / "out", "parquet")
    out = tmp_path / "out"

    versions = pq.read_table(out / "versions.parquet")
    assert versions.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert sorted(
        zip(versions["model"].to_pylist(), versions["version"].to_pylist(), strict=True)
    ) == [
        ("churn", "1.0.0"),
        ("churn", "1.1.0"),
        ("churn", "1.2.0"),
        ("fraud", "1.0.0"),
        ("fraud", "1.1.0"),
    ]
    for body, record_id in zip(
        versions["record"].to_pylist(), versions["record_id"].to_pylist(), strict=True
    ):
        assert digest_bytes(body.encode()) == record_id  # each record checks against its id
        assert json.loads(body)["model"] in ("churn", "fraud")

    moves = pq.read_table(out / "alias_history.parquet").to_pylist()
    registry_moves = history.alias_history("churn")
    assert [(m["from_version"], m["to_version"], m["reason"]) for m in moves] == [
        (m.from_version, m.to_version, m.reason) for m in registry_moves
    ]

    edges = pq.read_table(out / "lineage_edges.parquet")
    assert edges.num_rows == table_rows(history, schema.lineage_edges)
    assert {"trained_on", "configured_by", "produced_by"} <= set(edges["relation"].to_pylist())

    audit = pq.read_table(out / "audit_events.parquet").to_pylist()
    assert len(audit) == table_rows(history, schema.audit_events)
    previous = None
    for event in audit:  # the hash chain verifies from the export alone
        assert event["prev_digest"] == previous
        payload = json.loads(event["payload"])
        assert event["digest"] == event_digest(
            previous,
            event["seq"],
            event["at"],
            event["actor"],
            event["action"],
            event["subject"],
            payload,
        )
        previous = event["digest"]
    assert {e["action"] for e in audit} == {
        "version.register",
        "alias.set",
        "alias.rollback",
        "hold.add",
    }

    manifest = json.loads((out / "export.json").read_text())
    assert manifest["format"] == "parquet"
    for name, entry in manifest["tables"].items():
        assert entry == report.tables[name].model_dump()
        assert digest_file(out / entry["file"]) == entry["digest"]
    assert {n: t.rows for n, t in report.tables.items()} == {
        "versions": 5,
        "alias_history": len(moves),
        "lineage_edges": edges.num_rows,
        "audit_events": len(audit),
    }


def test_jsonl_export_matches_parquet(history: Registry, tmp_path: Path) -> None:
    parquet = export_registry(history, tmp_path / "pq", "parquet")
    jsonl = export_registry(history, tmp_path / "jl", "jsonl")
    for name, table in jsonl.tables.items():
        lines = (tmp_path / "jl" / table.file).read_text().splitlines()
        rows = [json.loads(line) for line in lines]
        assert len(rows) == table.rows == parquet.tables[name].rows
        expected = pq.read_table(tmp_path / "pq" / f"{name}.parquet").to_pylist()
        for got, want in zip(rows, expected, strict=True):
            assert got == {
                k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in want.items()
            }


def test_empty_registry_and_bad_format(registry: Registry, tmp_path: Path) -> None:
    report = export_registry(registry, tmp_path / "out")
    assert {t.rows for t in report.tables.values()} == {0}
    assert pq.read_table(tmp_path / "out" / "versions.parquet").num_rows == 0
    with pytest.raises(UsageError, match="parquet, jsonl"):
        export_registry(registry, tmp_path / "csv", "csv")
    assert not (tmp_path / "csv").exists()
