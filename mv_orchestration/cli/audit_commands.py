"""The audit log and the database schema: ``mvo audit [verify]``, ``mvo db upgrade``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from mv_orchestration.cli.output import JsonFlag, emit, short, table
from mv_orchestration.cli.state import state

audit_app = typer.Typer(help="The tamper-evident audit log.", invoke_without_command=True)
db_app = typer.Typer(help="The registry database.", no_args_is_help=True)


@audit_app.callback()
def audit_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Newest events to show.")] = 50,
    json_flag: JsonFlag = False,
) -> None:
    """Show the newest audit events."""
    if ctx.invoked_subcommand is not None:
        return
    events = state(ctx).registry().audit_events(limit=limit)

    def render(c: Console) -> None:
        rows = [
            [
                e.seq,
                e.at.isoformat(timespec="seconds"),
                e.actor,
                e.action,
                e.subject,
                short(e.digest),
            ]
            for e in events
        ]
        c.print(table("Audit log", ["#", "when", "who", "action", "subject", "digest"], rows))

    emit(ctx, json_flag, events, render)


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """Check the audit hash chain; exit 1 if an event was edited, removed or reordered."""
    report = state(ctx).registry().verify_audit()
    emit(
        ctx,
        json_flag,
        report,
        lambda c: c.print(
            f"audit log intact: {report.events} events" if report.ok else "audit log BROKEN"
        ),
    )
    if not report.ok:
        for problem in report.problems:
            typer.secho(f"  {problem}", err=True, fg="red")
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """Apply pending schema migrations."""
    revision = state(ctx).registry().upgrade()
    emit(ctx, json_flag, {"revision": revision}, lambda c: c.print(f"schema at {revision}"))


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
    app.add_typer(db_app, name="db")
