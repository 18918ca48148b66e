"""Content digests and integrity: ``mvo hash`` and ``mvo verify``."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mv_orchestration.cli.output import JsonFlag, emit
from mv_orchestration.cli.state import state
from mv_orchestration.errors import UsageError


def register(app: typer.Typer) -> None:
    @app.command("hash")
    def hash_cmd(
        ctx: typer.Context,
        path: Annotated[Path, typer.Argument(help="File, directory or table.", exists=True)],
        algo: Annotated[str, typer.Option(help="blake3 or sha256.")] = "blake3",
        tabular: Annotated[
            bool, typer.Option("--tabular", help="Logical digest of a Parquet/Feather/Arrow table.")
        ] = False,
        json_flag: JsonFlag = False,
    ) -> None:
        """Print the content digest of a file, a directory or a table."""
        from mv_orchestration.hashing.dataset import describe_dataset

        with console_status(ctx, f"hashing {path}"):
            ref = describe_dataset(path.name, path, algo=algo, tabular=tabular or None)
        emit(ctx, json_flag, ref, lambda c: c.print(ref.digest))

    @app.command("verify")
    def verify_cmd(
        ctx: typer.Context,
        ref: Annotated[str | None, typer.Argument(help="Version to verify.")] = None,
        all_versions: Annotated[bool, typer.Option("--all", help="Every stored version.")] = False,
        json_flag: JsonFlag = False,
    ) -> None:
        """Re-hash stored bytes; exit 1 on any mismatch or missing object."""
        if (ref is None) == (not all_versions):
            raise UsageError("give either a version reference or --all")
        with console_status(ctx, "verifying"):
            report = state(ctx).registry().verify(ref)

        def render(c: Console) -> None:
            c.print(
                f"verified {report.objects} objects of {report.versions} versions: "
                + ("[green]ok[/green]" if report.ok else "[red]FAILED[/red]")
            )

        emit(ctx, json_flag, report, render)
        if not report.ok:
            for problem in report.problems:
                typer.secho(f"  {problem}", err=True, fg="red")
            raise typer.Exit(1)


def console_status(ctx: typer.Context, message: str) -> AbstractContextManager[object]:
    """A spinner on standard error for long operations (silent with --json)."""
    if state(ctx).json_output:
        return nullcontext()
    return Console(stderr=True).status(message)
