"""Legal and regulatory holds: ``mvo hold add|remove|list``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

from mv_orchestration.cli.output import JsonFlag, emit, table
from mv_orchestration.cli.state import state

hold_app = typer.Typer(help="Legal holds: a held version is never deleted.", no_args_is_help=True)


@hold_app.command("add")
def hold_add(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Version to hold.")],
    reason: Annotated[str, typer.Option(help="Why it is held.")],
    expires: Annotated[
        datetime | None, typer.Option(help="When the hold lapses (ISO 8601).")
    ] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Put a hold on a version."""
    hold = state(ctx).registry().hold(ref, reason, expires_at=expires)
    emit(ctx, json_flag, hold, lambda c: c.print(f"held {ref}: {reason}"))


@hold_app.command("remove")
def hold_remove(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Version to release.")],
    json_flag: JsonFlag = False,
) -> None:
    """Release a version's holds."""
    released = state(ctx).registry().release(ref)
    emit(ctx, json_flag, released, lambda c: c.print(f"released {ref}"))


@hold_app.command("list")
def hold_list(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """List active holds."""
    holds = state(ctx).registry().holds()

    def render(c: Console) -> None:
        rows = [
            [h.ref, h.reason, h.actor, h.created_at.isoformat(timespec="seconds"), h.expires_at]
            for h in holds
        ]
        c.print(table("Holds", ["version", "reason", "who", "since", "expires"], rows))

    emit(ctx, json_flag, holds, render)


def register(app: typer.Typer) -> None:
    app.add_typer(hold_app, name="hold")
