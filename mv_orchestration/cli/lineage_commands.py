"""Lineage: ``mvo lineage TARGET``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mv_orchestration.cli.output import JsonFlag, console
from mv_orchestration.cli.state import state
from mv_orchestration.errors import UsageError
from mv_orchestration.lineage.graph import Direction


def register(app: typer.Typer) -> None:
    @app.command("lineage")
    def lineage_cmd(
        ctx: typer.Context,
        target: Annotated[
            str, typer.Argument(help="A version reference, a dataset path or a dataset digest.")
        ],
        upstream: Annotated[bool, typer.Option("--upstream", help="What went into it.")] = False,
        downstream: Annotated[
            bool, typer.Option("--downstream", help="What was built from it.")
        ] = False,
        depth: Annotated[int | None, typer.Option(help="Levels to follow (default: all).")] = None,
        fmt: Annotated[
            str, typer.Option("--format", help="tree, mermaid, dot, json or html.")
        ] = "tree",
        out: Annotated[Path | None, typer.Option(help="Write to this file.")] = None,
        json_flag: JsonFlag = False,
    ) -> None:
        """Show the lineage graph of a version or a dataset."""
        from mv_orchestration.lineage.render import render
        from mv_orchestration.lineage.target import lineage

        if upstream and downstream:
            raise UsageError("choose --upstream or --downstream, not both")
        direction: Direction | None = (
            "upstream" if upstream else "downstream" if downstream else None
        )
        graph = lineage(state(ctx).registry(), target, direction, depth)
        if json_flag or state(ctx).json_output:
            fmt = "json"
        text = render(graph, fmt)
        if out is not None:
            out.write_text(text, encoding="utf-8")
            console.print(f"wrote {out}")
        elif fmt == "tree":
            console.print(text, markup=False)
        else:
            typer.echo(text)
