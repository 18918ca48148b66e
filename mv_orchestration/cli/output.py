"""Output for every command: JSON with ``--json``, Rich tables otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mv_orchestration.cli.state import state

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]

console = Console(highlight=False, soft_wrap=True)


def to_jsonable(value: Any) -> Any:
    """Turn pydantic models and anything with a ``to_json`` (capture results, pins; and
    lists/dicts of them) into JSON-safe values."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if callable(getattr(value, "to_json", None)):
        return value.to_json()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def emit(ctx: typer.Context, json_flag: bool, data: Any, render: Callable[[Console], None]) -> None:
    """Print ``data`` as JSON when asked (per command or globally), else ``render`` it."""
    if json_flag or state(ctx).json_output:
        typer.echo(json.dumps(to_jsonable(data), indent=2, sort_keys=True, default=str))
    else:
        render(console)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A Rich table with plain string cells."""
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if cell is None else str(cell) for cell in row))
    return out


def short(digest: str | None, width: int = 19) -> str:
    """A digest shortened for tables (``blake3:1a2b3c4d5e6f``)."""
    return "" if not digest else digest[:width]
