"""Reproducibility: ``mvo diff``, ``mvo reproduce`` and ``mvo export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from mv_orchestration.cli.output import JsonFlag, emit, table
from mv_orchestration.cli.state import state

if TYPE_CHECKING:
    from mv_orchestration.lineage.diff import RecordDiff

_SECTION_TITLES = {
    "artifacts": "Artifacts",
    "params": "Params",
    "features": "Features",
    "metrics": "Metrics",
    "code": "Code",
    "environment": "Environment",
    "hardware": "Hardware",
    "seeds": "Seeds",
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return escape(value if isinstance(value, str) else json.dumps(value, sort_keys=True))


def render_diff(diff: RecordDiff, console: Console) -> None:
    """Print a record diff as Rich tables, one per section that changed."""
    console.print(f"[bold]{diff.a}[/bold] → [bold]{diff.b}[/bold]")
    if diff.same_content:
        console.print("same content digest: the two versions define the same model")
    if diff.empty:
        console.print("no differences")
        return
    for name in ("artifacts", "params", "features", "metrics"):
        _value_table(console, name, getattr(diff, name))
    if diff.datasets:
        rows = []
        for d in diff.datasets:
            notes = [
                f"{_cell(c.path)} {c.change}"
                + (f" ({_cell(c.old)} → {_cell(c.new)})" if c.change == "changed" else "")
                for c in d.columns
            ]
            if d.old_rows != d.new_rows:
                notes.append(f"rows {d.old_rows} → {d.new_rows}")
            if d.old_uri and d.new_uri and d.old_uri != d.new_uri:
                notes.append(f"moved {_cell(d.old_uri)} → {_cell(d.new_uri)}")
            rows.append([_cell(d.name), d.change, d.old_digest, d.new_digest, "; ".join(notes)])
        console.print(table("Datasets", ["name", "change", "old", "new", "details"], rows))
    if diff.packages:
        console.print(
            table(
                "Packages",
                ["package", "change", "old", "new"],
                [[p.name, p.change, _cell(p.old), _cell(p.new)] for p in diff.packages],
            )
        )
    for name in ("code", "environment", "hardware", "seeds"):
        _value_table(console, name, getattr(diff, name))


def _value_table(console: Console, name: str, changes: list[Any]) -> None:
    if changes:
        rows = [[_cell(c.path), c.change, _cell(c.old), _cell(c.new)] for c in changes]
        console.print(table(_SECTION_TITLES[name], ["key", "change", "old", "new"], rows))


def register(app: typer.Typer) -> None:
    @app.command("diff")
    def diff_cmd(
        ctx: typer.Context,
        ref_a: Annotated[str, typer.Argument(help="The old version.")],
        ref_b: Annotated[str, typer.Argument(help="The new version.")],
        json_flag: JsonFlag = False,
    ) -> None:
        """Show what differs between two versions: params, data, packages, code, hardware."""
        from mv_orchestration.lineage.diff import diff_records

        registry = state(ctx).registry()
        diff = diff_records(registry.record(ref_a), registry.record(ref_b))
        emit(ctx, json_flag, diff.to_json(), lambda c: render_diff(diff, c))

    @app.command("reproduce")
    def reproduce_cmd(
        ctx: typer.Context,
        ref: Annotated[str, typer.Argument(help="A version reference, or a bundle folder.")],
        out: Annotated[
            Path | None, typer.Option(help="Bundle folder (default: ./<model>-<version>-bundle).")
        ] = None,
        check: Annotated[
            bool,
            typer.Option(
                "--check",
                help="Compare this environment, work tree and data with the bundle; "
                "exit 1 listing every difference.",
            ),
        ] = False,
        json_flag: JsonFlag = False,
    ) -> None:
        """Write a rebuild bundle of a version; with --check, compare against it."""
        from mv_orchestration.lineage.bundle import is_bundle, load_bundle, write_bundle
        from mv_orchestration.lineage.bundle_check import check_bundle

        if is_bundle(ref) and out is None:
            folder = Path(ref)
        else:
            registry = state(ctx).registry()
            if out is None:
                mv = registry.resolve(ref)
                out = Path(f"{mv.model}-{mv.version}-bundle")
            folder = write_bundle(registry, ref, out)
        bundle = load_bundle(folder)
        result: dict[str, Any] = {"bundle": str(folder), "ref": f"{bundle.model}@{bundle.version}"}
        differences = check_bundle(folder) if check else []
        if check:
            result["differences"] = [d.model_dump(mode="json") for d in differences]

        def render(c: Console) -> None:
            c.print(f"rebuild bundle of [bold]{result['ref']}[/bold] in {escape(str(folder))}")
            if check and not differences:
                c.print("[green]matches[/green]: environment, code and data as recorded")
            for difference in differences:
                c.print(f"  [red]✗[/red] {escape(difference.message)}")

        emit(ctx, json_flag, result, render)
        if differences:
            raise typer.Exit(1)

    @app.command("export")
    def export_cmd(
        ctx: typer.Context,
        out: Annotated[Path, typer.Option(help="Folder to write into.")],
        fmt: Annotated[str, typer.Option("--format", help="parquet or jsonl.")] = "parquet",
        json_flag: JsonFlag = False,
    ) -> None:
        """Export versions, alias histories, lineage edges and the audit log."""
        from mv_orchestration.lineage.export import export_registry

        report = export_registry(state(ctx).registry(), out, fmt)
        emit(
            ctx,
            json_flag,
            report,
            lambda c: c.print(
                table(
                    f"exported to {escape(report.out_dir)}",
                    ["table", "file", "rows", "digest"],
                    [[n, t.file, t.rows, t.digest] for n, t in report.tables.items()],
                )
            ),
        )
