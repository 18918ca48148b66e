"""Prefect artifacts: a markdown card per registered version, retention tables and notes.

Artifacts created inside a flow or task run are linked to that run by Prefect. Keys are
per model (``mv-model-<model>``) so the Artifacts page shows a model's versions as the
history of one artifact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from mv_orchestration.lineage.graph import LineageGraph
    from mv_orchestration.registry import AliasMove, ModelVersion, VersionRecord
    from mv_orchestration.retention.apply import ApplyReport
    from mv_orchestration.retention.plan import RetentionPlan

RETENTION_PLAN_KEY = "mv-retention-plan"
RETENTION_APPLY_KEY = "mv-retention-apply"
RETENTION_DRY_RUN_KEY = "mv-retention-dry-run"
_KEY_INVALID = re.compile(r"[^a-z0-9-]+")


def artifact_key(*parts: str) -> str:
    """A valid Prefect artifact key (lowercase letters, digits, dashes) built from ``parts``."""
    text = "-".join(parts).lower()
    return _KEY_INVALID.sub("-", text).strip("-")


def _cell(value: object) -> str:
    """One markdown table cell: pipes escaped, newlines flattened."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(rows: Iterable[tuple[str, object]]) -> list[str]:
    lines = ["| | |", "|---|---|"]
    lines.extend(f"| {_cell(name)} | {_cell(value)} |" for name, value in rows)
    return lines


def version_markdown(
    version: ModelVersion, record: VersionRecord, lineage: LineageGraph | None
) -> str:
    """The markdown card of one version: summary, metrics, datasets and a lineage diagram."""
    from mv_orchestration.lineage.render import to_mermaid

    capture = record.capture
    code = capture.get("code") or {}
    context = capture.get("context") or {}
    run = " ".join(
        str(part)
        for part in (context.get("orchestrator"), context.get("pipeline"), context.get("run_id"))
        if part
    )
    summary: list[tuple[str, object]] = [
        ("version", f"`{version.ref}`"),
        ("status", version.status),
        ("bump", f"{record.bump.kind} ({record.bump.reason})"),
        ("record id", f"`{version.record_id}`"),
        ("artifact digest", f"`{version.artifact_digest}`"),
        ("files", f"{len(record.artifacts.entries)} ({record.artifacts.total_size} bytes)"),
        ("params digest", f"`{record.params_digest}`"),
        (
            "code",
            f"`{code.get('commit') or 'no git commit'}`"
            + (" (dirty)" if code.get("dirty") else ""),
        ),
        ("seed", (capture.get("seeds") or {}).get("seed")),
        ("run", run),
        ("created", record.created_at.isoformat()),
    ]
    lines = [f"# {version.ref}", "", *_table(summary)]
    if record.metrics:
        lines += ["", "## Metrics", "", *_table(sorted(record.metrics.items()))]
    if record.datasets:
        lines += ["", "## Datasets", "", "| name | digest | rows | uri |", "|---|---|---|---|"]
        lines += [
            f"| {_cell(d.name)} | `{d.digest}` | {d.num_rows if d.num_rows is not None else ''} "
            f"| {_cell(d.uri)} |"
            for d in record.datasets
        ]
    if record.tags:
        lines += ["", "## Tags", "", *_table(sorted(record.tags.items()))]
    if lineage is not None and lineage.edges:
        lines += ["", "## Lineage", "", "```mermaid", to_mermaid(lineage), "```"]
    return "\n".join(lines) + "\n"


def create_version_artifact(
    version: ModelVersion, record: VersionRecord, lineage: LineageGraph | None
) -> UUID:
    """Create the markdown artifact of ``version`` (linked to the current run, if any)."""
    from prefect.artifacts import create_markdown_artifact

    return create_markdown_artifact(
        markdown=version_markdown(version, record, lineage),
        key=artifact_key("mv-model", version.model),
        description=f"Model version {version.ref}",
    )


def create_alias_artifact(move: AliasMove, *, rollback: bool) -> UUID:
    """Create a markdown artifact recording one alias move (promotion or rollback)."""
    from prefect.artifacts import create_markdown_artifact

    verb = "Rolled back" if rollback else "Moved"
    rows = [
        ("alias", move.alias),
        ("from", move.from_version or "(none)"),
        ("to", move.to_version or "(none)"),
        ("actor", move.actor),
        ("reason", move.reason or ""),
        ("at", move.at.isoformat()),
    ]
    markdown = "\n".join([f"# {verb} {move.model}@{move.alias}", "", *_table(rows)]) + "\n"
    return create_markdown_artifact(
        markdown=markdown,
        key=artifact_key("mv-alias", move.model, move.alias),
        description=f"{verb} {move.model}@{move.alias} to {move.to_version}",
    )


def plan_rows(plan: RetentionPlan) -> list[dict[str, Any]]:
    """One table row per version decision of ``plan``."""
    return [
        {
            "model": planned.model,
            "version": planned.version,
            "status": planned.status,
            "decision": planned.decision,
            "reason": planned.reason,
            "frees_bytes": planned.frees_bytes,
        }
        for planned in plan.versions
    ]


def create_plan_artifact(plan: RetentionPlan) -> UUID:
    """Create the table artifact of a retention plan's decisions."""
    from prefect.artifacts import create_table_artifact

    counts = ", ".join(f"{name} {count}" for name, count in plan.summary().items() if count)
    return create_table_artifact(
        table=plan_rows(plan),
        key=RETENTION_PLAN_KEY,
        description=f"Retention plan {plan.id}: {counts or 'no versions'}",
    )


def apply_rows(report: ApplyReport) -> list[dict[str, Any]]:
    """One table row per version that applying a plan changed, found done, or skipped."""
    rows = [{"version": ref, "outcome": "tombstoned", "reason": ""} for ref in report.tombstoned]
    rows += [{"version": ref, "outcome": "purged", "reason": ""} for ref in report.purged]
    rows += [
        {"version": ref, "outcome": "already done", "reason": ""} for ref in report.already_done
    ]
    rows += [
        {"version": s.ref, "outcome": f"skipped {s.action}", "reason": s.reason}
        for s in report.skipped
    ]
    return rows


def create_apply_artifact(report: ApplyReport) -> UUID:
    """Create the table artifact of what applying a plan did."""
    from prefect.artifacts import create_table_artifact

    counts = ", ".join(f"{name} {count}" for name, count in report.summary().items() if count)
    return create_table_artifact(
        table=apply_rows(report),
        key=RETENTION_APPLY_KEY,
        description=f"Applied retention plan {report.plan_id}: {counts or 'nothing to do'}",
    )


def create_dry_run_artifact(plan_id: str, note: str) -> UUID:
    """Create the markdown artifact of a retention dry run: nothing applied, how to apply."""
    from prefect.artifacts import create_markdown_artifact

    return create_markdown_artifact(
        markdown=f"# Retention dry run\n\n{note}\n",
        key=RETENTION_DRY_RUN_KEY,
        description=f"Dry run of retention plan {plan_id}: nothing was applied",
    )
