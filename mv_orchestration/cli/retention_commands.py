"""Retention: ``mvo retention plan|show|apply|gc``. Dry run is the default everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from mv_orchestration.cli.output import JsonFlag, emit, table
from mv_orchestration.cli.state import state

retention_app = typer.Typer(
    help="Retention policies: plan (dry run), apply a plan, collect garbage.",
    no_args_is_help=True,
)

PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        envvar="MVO_RETENTION_POLICY",
        help="Policy file (YAML, TOML or JSON); default: the built-in policy.",
        show_envvar=True,
    ),
]


def _render_plan(plan: Any) -> Any:
    def render(c: Console) -> None:
        rows = [[v.ref, v.status, v.decision, v.reason, v.frees_bytes] for v in plan.versions]
        c.print(
            table(
                f"Retention plan {plan.id}",
                ["version", "status", "decision", "why", "frees bytes"],
                rows,
            )
        )
        summary = plan.summary()
        c.print(
            f"{summary['tombstone']} to tombstone, {summary['purge']} to purge, "
            f"{summary['keep']} kept; frees {summary['bytes_freed_now']} bytes now, "
            f"{summary['bytes_freed_later']} after purge."
        )
        c.print(f"Nothing was deleted. To carry it out: mvo retention apply {plan.id}")

    return render


@retention_app.command("plan")
def plan_cmd(ctx: typer.Context, policy: PolicyOption = None, json_flag: JsonFlag = False) -> None:
    """Decide, for every version, whether it stays or goes and why; store the plan."""
    from mv_orchestration.retention import plan_retention
    from mv_orchestration.retention.policy import DEFAULT_POLICY

    plan = plan_retention(state(ctx).registry(), policy if policy is not None else DEFAULT_POLICY)
    emit(ctx, json_flag, plan.to_json(), _render_plan(plan))


@retention_app.command("show")
def show_cmd(
    ctx: typer.Context,
    plan_id: Annotated[str, typer.Argument(help="A stored plan's id.")],
    json_flag: JsonFlag = False,
) -> None:
    """Show a stored plan."""
    from mv_orchestration.retention import load_plan

    plan = load_plan(state(ctx).registry(), plan_id)
    emit(ctx, json_flag, plan.to_json(), _render_plan(plan))


@retention_app.command("apply")
def apply_cmd(
    ctx: typer.Context,
    plan_id: Annotated[str, typer.Argument(help="The plan to carry out.")],
    json_flag: JsonFlag = False,
) -> None:
    """Carry out exactly one stored plan, re-checking each version first."""
    from mv_orchestration.retention import apply_plan

    report = apply_plan(state(ctx).registry(), plan_id)

    def render(c: Console) -> None:
        s = report.summary()
        c.print(
            f"tombstoned {s['tombstoned']}, purged {s['purged']}, skipped {s['skipped']}, "
            f"freed {s['bytes_freed']} bytes"
        )
        for skipped in report.skipped:
            c.print(f"  skipped {skipped.ref} ({skipped.action}): {skipped.reason}")

    emit(ctx, json_flag, report.to_json(), render)


@retention_app.command("gc")
def gc_cmd(
    ctx: typer.Context,
    delete: Annotated[
        bool, typer.Option("--delete", help="Really delete (default: dry run).")
    ] = False,
    grace: Annotated[str, typer.Option(help="Spare objects younger than this.")] = "24h",
    json_flag: JsonFlag = False,
) -> None:
    """Mark and sweep the artifact store: delete objects no version references."""
    from mv_orchestration.retention import collect_garbage
    from mv_orchestration.retention.durations import parse_duration

    report = collect_garbage(
        state(ctx).registry(), dry_run=not delete, grace_period=parse_duration(grace)
    )

    def render(c: Console) -> None:
        data = report.to_json()
        verb = "deleted" if delete else "would delete"
        c.print(
            f"scanned {data['scanned_objects']} objects, {data['live_objects']} live; "
            f"{verb} {len(data['deleted'] if delete else data['candidates'])} "
            f"({data['candidate_bytes']} bytes)"
        )

    emit(ctx, json_flag, report.to_json(), render)


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
