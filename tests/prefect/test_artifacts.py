"""Markdown and table content of the artifacts (rendered without a server)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect_blocks import ModelRegistry
from prefect_blocks.artifacts import artifact_key, plan_rows, version_markdown


def test_artifact_keys_are_valid() -> None:
    assert artifact_key("mv-model", "Fraud_Model.v2") == "mv-model-fraud-model-v2"
    assert artifact_key("mv-alias", "churn", "production") == "mv-alias-churn-production"


def test_version_markdown_has_summary_metrics_datasets_and_mermaid_lineage(
    registry_block: ModelRegistry, tmp_path: Path, captured_events: Callable[[], list[Any]]
) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,2\n")
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    version = registry_block.register(
        "churn",
        model,
        params={"lr": 0.1},
        datasets={"train": data},
        metrics={"accuracy": 0.93},
        tags={"owner": "a|b"},
    )
    with registry_block.connection() as registry:
        record = registry.record(version.ref)
        lineage = registry.lineage(version.ref, direction="upstream")
    text = version_markdown(version, record, lineage)
    assert text.startswith(f"# {version.ref}\n")
    assert f"`{version.record_id}`" in text
    assert "| accuracy | 0.93 |" in text
    assert "| train |" in text and record.datasets[0].digest in text
    assert "a\\|b" in text
    mermaid = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert mermaid.startswith("graph LR")
    assert "trained_on" in mermaid and "configured_by" in mermaid


def test_plan_rows_list_every_decision(
    registry_block: ModelRegistry, tmp_path: Path, captured_events: Callable[[], list[Any]]
) -> None:
    for content in (b"one", b"two", b"three"):
        path = tmp_path / f"{content.decode()}.bin"
        path.write_bytes(content)
        registry_block.register("churn", path)
    plan = registry_block.retention_plan({"rules": [{"models": "churn", "keep_last": 1}]})
    rows = plan_rows(plan)
    assert [row["decision"] for row in rows].count("tombstone") == 2
    assert {tuple(row) for row in rows} == {
        ("model", "version", "status", "decision", "reason", "frees_bytes")
    }
