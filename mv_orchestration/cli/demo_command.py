"""``mvo demo``: the digits model under Airflow, Prefect and Dagster, one registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mv_orchestration.cli.output import console
from mv_orchestration.cli.version_commands import parse_pairs


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        workdir: Annotated[
            Path | None, typer.Option(help="Directory to use (default: a fresh temporary one).")
        ] = None,
        orchestrator_python: Annotated[
            list[str] | None,
            typer.Option(help="NAME=PYTHON: the interpreter of an orchestrator's environment."),
        ] = None,
    ) -> None:
        """Train, register, promote, roll back, plan retention and trace lineage."""
        from mv_orchestration.cli.app import main
        from mv_orchestration.demo.runner import run_demo

        pythons = parse_pairs(orchestrator_python, "--orchestrator-python")
        run_demo(workdir, pythons, console.print, main)
