"""Pins, the stored objects GC keeps outside model versions: ``mvo pin add|remove|list``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from mv_orchestration.cli.output import JsonFlag, emit, short, table
from mv_orchestration.cli.state import state

pin_app = typer.Typer(
    help="Pins: stored objects GC keeps outside model versions (such as Dagster asset values).",
    no_args_is_help=True,
)
Owner = Annotated[str, typer.Argument(help="Who pins it: 'dagster', or your own name.")]
Key = Annotated[str, typer.Argument(help="What the owner calls it (one digest per key).")]


@pin_app.command("add")
def pin_add(
    ctx: typer.Context,
    owner: Owner,
    key: Key,
    digest: Annotated[str, typer.Argument(help="The stored object (algo:hex).")],
    tree: Annotated[
        bool, typer.Option("--tree", help="The digest is a manifest: keep its files too.")
    ] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Keep a stored object live for GC under OWNER KEY (replacing what the key pinned)."""
    found = state(ctx).registry().pin(owner, key, digest, kind="tree" if tree else "object")
    emit(ctx, json_flag, found, lambda c: c.print(f"pinned {owner}:{key} -> {digest}"))


@pin_app.command("remove")
def pin_remove(ctx: typer.Context, owner: Owner, key: Key, json_flag: JsonFlag = False) -> None:
    """Remove a pin; GC may then delete its objects after the grace period."""
    found = state(ctx).registry().unpin(owner, key)
    emit(ctx, json_flag, found, lambda c: c.print(f"unpinned {owner}:{key} ({found.digest})"))


@pin_app.command("list")
def pin_list(
    ctx: typer.Context,
    owner: Annotated[str | None, typer.Option(help="Only this owner's pins.")] = None,
    json_flag: JsonFlag = False,
) -> None:
    """List current pins."""
    pins = state(ctx).registry().pins(owner)

    def render(c: Console) -> None:
        rows = [
            [
                p.owner,
                p.key,
                short(p.digest),
                p.kind,
                p.actor,
                p.pinned_at.isoformat("T", "seconds"),
            ]
            for p in pins
        ]
        c.print(table("Pins", ["owner", "key", "digest", "kind", "who", "since"], rows))

    emit(ctx, json_flag, pins, render)


def register(app: typer.Typer) -> None:
    app.add_typer(pin_app, name="pin")
