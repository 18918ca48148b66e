"""The ``mvo`` Typer application: global options, error mapping and entry point.

Exit codes: 0 ok; 1 integrity failure; 2 usage error; 3 not found; 4 conflict or refused
by policy. A user error prints one line on standard error, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from mv_orchestration._version import __version__
from mv_orchestration.cli.state import CliState
from mv_orchestration.errors import MVOError

app = typer.Typer(
    name="mvo",
    help="Model versioning for Airflow, Prefect and Dagster pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mvo {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry", envvar="MVO_REGISTRY_URL", help="Registry database URL.", show_envvar=True
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store", envvar="MVO_STORE_URL", help="Artifact store URL.", show_envvar=True
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of tables (every command).")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Version, promote, roll back, retain and trace ML models."""
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = CliState(registry_url=registry, store_url=store, json_output=json_output)


def _register_commands() -> None:
    from mv_orchestration.cli import (
        audit_commands,
        data_commands,
        demo_command,
        hold_commands,
        lineage_commands,
        pin_commands,
        repro_commands,
        retention_commands,
        version_commands,
    )

    for module in (
        version_commands,
        hold_commands,
        pin_commands,
        audit_commands,
        data_commands,
        retention_commands,
        lineage_commands,
        repro_commands,
        demo_command,
    ):
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Run ``mvo``; map product errors to exit codes and one-line messages."""
    try:
        # Without standalone mode, click returns the code of a typer.Exit instead of raising.
        result = app(args=argv, prog_name="mvo", standalone_mode=False)
    except MVOError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.secho("aborted", err=True)
        return 130
    except typer.TyperException as exc:  # usage errors: bad options, missing arguments
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            typer.secho(f"error: {exc}", err=True)
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an internal error: keep the traceback for bug reports
        if os.environ.get("MVO_DEBUG"):
            raise
        typer.secho(
            f"internal error: {type(exc).__name__}: {exc} (set MVO_DEBUG=1 for a traceback)",
            err=True,
            fg="red",
        )
        return 70
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
