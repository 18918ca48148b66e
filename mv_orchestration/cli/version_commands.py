"""Versions and aliases: register, models, versions, show, promote, rollback, history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.syntax import Syntax

from mv_orchestration.cli.output import JsonFlag, emit, short, table
from mv_orchestration.cli.state import state
from mv_orchestration.errors import UsageError


def parse_pairs(pairs: list[str] | None, what: str, *, json_values: bool = False) -> dict[str, Any]:
    """Parse repeated ``KEY=VALUE`` options; with ``json_values`` values are JSON if they parse."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} must look like KEY=VALUE, got {pair!r}")
        if json_values:
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
        else:
            out[key] = value
    return out


def version_rows(versions: list[Any]) -> list[list[Any]]:
    return [
        [v.ref, v.status, short(v.record_id), v.created_at.isoformat(timespec="seconds")]
        for v in versions
    ]


def register(app: typer.Typer) -> None:
    @app.command("register")
    def register_cmd(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="Model name.")],
        path: Annotated[Path, typer.Argument(help="Model file or directory.", exists=True)],
        version: Annotated[str | None, typer.Option(help="Explicit semantic version.")] = None,
        bump: Annotated[str, typer.Option(help="major, minor, patch or auto.")] = "auto",
        param: Annotated[list[str] | None, typer.Option(help="KEY=VALUE (JSON values).")] = None,
        data: Annotated[list[str] | None, typer.Option(help="NAME=PATH of a dataset.")] = None,
        tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE tag.")] = None,
        seed: Annotated[int | None, typer.Option(help="Seed to set and record.")] = None,
        json_flag: JsonFlag = False,
    ) -> None:
        """Register a file or directory produced outside an orchestrator, with capture."""
        from mv_orchestration.capture import RunContext

        params = parse_pairs(param, "--param", json_values=True)
        datasets = parse_pairs(data, "--data")
        tags = parse_pairs(tag, "--tag")
        mv = (
            state(ctx)
            .registry()
            .register(
                model,
                path,
                context=RunContext(orchestrator="cli"),
                params=params or None,
                datasets=datasets,
                seed=seed,
                bump=bump,
                version=version,
                tags=tags,
            )
        )
        emit(
            ctx,
            json_flag,
            mv.to_json(),
            lambda c: c.print(
                f"{'registered' if mv.created else 'already registered'} "
                f"[bold]{mv.ref}[/bold]  {mv.record_id}"
            ),
        )

    @app.command("models")
    def models_cmd(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
        """List models."""
        models = state(ctx).registry().models()

        def render(c: Console) -> None:
            rows = [[m.name, m.latest_version, m.version_count, m.aliases_text()] for m in models]
            c.print(table("Models", ["model", "latest", "versions", "aliases"], rows))

        emit(ctx, json_flag, models, render)

    @app.command("versions")
    def versions_cmd(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="Model name.")],
        limit: Annotated[int, typer.Option(help="Page size.")] = 50,
        offset: Annotated[int, typer.Option(help="Rows to skip.")] = 0,
        alias: Annotated[str | None, typer.Option(help="Only the target of this alias.")] = None,
        tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE tag filter.")] = None,
        status: Annotated[str | None, typer.Option(help="active, tombstoned or purged.")] = None,
        json_flag: JsonFlag = False,
    ) -> None:
        """List a model's versions, newest first by semver precedence."""
        versions = (
            state(ctx)
            .registry()
            .versions(
                model,
                limit=limit,
                offset=offset,
                alias=alias,
                tags=parse_pairs(tag, "--tag"),
                status=status,
            )
        )
        emit(
            ctx,
            json_flag,
            versions,
            lambda c: c.print(
                table(
                    f"{model}", ["version", "status", "record", "created"], version_rows(versions)
                )
            ),
        )

    @app.command("show")
    def show_cmd(
        ctx: typer.Context,
        ref: Annotated[
            str, typer.Argument(help="MODEL@VERSION, MODEL@ALIAS, MODEL@latest, digest.")
        ],
        json_flag: JsonFlag = False,
    ) -> None:
        """Show a version's full record."""
        record = state(ctx).registry().record(ref)
        body = record.model_dump(mode="json")

        def render(c: Console) -> None:
            c.print(f"[bold]{record.model}@{record.version}[/bold]  {record.record_id}")
            c.print(Syntax(json.dumps(body, indent=2, sort_keys=True), "json", word_wrap=True))

        emit(ctx, json_flag, {"record_id": record.record_id, "record": body}, render)

    @app.command("promote")
    def promote_cmd(
        ctx: typer.Context,
        ref: Annotated[str, typer.Argument(help="Version to promote.")],
        alias: Annotated[str, typer.Option(help="Alias to point at it.")] = "production",
        reason: Annotated[str | None, typer.Option(help="Why (kept in the history).")] = None,
        json_flag: JsonFlag = False,
    ) -> None:
        """Point an alias at a version."""
        move = state(ctx).registry().promote(ref, alias=alias, reason=reason)
        emit(ctx, json_flag, move, lambda c: c.print(describe_move(move)))

    @app.command("rollback")
    def rollback_cmd(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="Model name.")],
        alias: Annotated[str, typer.Option(help="Alias to move back.")] = "production",
        to: Annotated[str | None, typer.Option(help="Version to roll back to.")] = None,
        reason: Annotated[str | None, typer.Option(help="Why (kept in the history).")] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Only say what would happen.")
        ] = False,
        json_flag: JsonFlag = False,
    ) -> None:
        """Move an alias back to its previous target (or to --to), after verifying it."""
        move = (
            state(ctx)
            .registry()
            .rollback(model, alias=alias, to=to, reason=reason, dry_run=dry_run)
        )
        prefix = "would move" if dry_run else "rolled back"
        emit(ctx, json_flag, move, lambda c: c.print(f"{prefix}: {describe_move(move)}"))

    @app.command("history")
    def history_cmd(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="Model name.")],
        alias: Annotated[str | None, typer.Option(help="Only this alias.")] = None,
        json_flag: JsonFlag = False,
    ) -> None:
        """Show every move of a model's aliases, oldest first."""
        moves = state(ctx).registry().alias_history(model, alias=alias)

        def render(c: Console) -> None:
            rows = [
                [
                    m.at.isoformat(timespec="seconds"),
                    m.alias,
                    m.from_version or "-",
                    m.to_version or "(deleted)",
                    m.actor,
                    m.reason,
                ]
                for m in moves
            ]
            c.print(
                table(f"{model} alias history", ["when", "alias", "from", "to", "who", "why"], rows)
            )

        emit(ctx, json_flag, moves, render)


def describe_move(move: Any) -> str:
    """One line for an alias move."""
    return (
        f"{move.model}@{move.alias}: {move.from_version or '-'} -> "
        f"[bold]{move.to_version or '(deleted)'}[/bold]"
    )
