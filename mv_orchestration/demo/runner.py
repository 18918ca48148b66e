"""``mvo demo``: the product's main job, end to end, on the embedded default.

One fresh directory holds a SQLite registry and a local artifact store. The digits model
is trained as an Airflow DAG, a Prefect flow and Dagster assets, each in its own Python
environment, all registering into that one registry. Then, step by step through the
``mvo`` CLI: list, show, promote, register and promote a newer version, roll back, show
the alias history, plan retention (dry run) and show the production version's lineage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape

from mv_orchestration.errors import MVOError

ORCHESTRATORS = {
    "airflow": "airflow_provider.demo",
    "prefect": "prefect_blocks.demo",
    "dagster": "dagster_resources.demo",
}
PIPELINE_KIND = {
    "airflow": "an Airflow DAG",
    "prefect": "a Prefect flow",
    "dagster": "Dagster assets",
}
RESULT_PREFIX = "MVO_DEMO_RESULT "
MODEL = "digits"


class DemoError(MVOError):
    """A demo step failed."""

    exit_code = 1


@dataclass(frozen=True)
class DemoResult:
    """What one orchestrator's pipeline registered."""

    orchestrator: str
    version: str
    record_id: str


def run_demo(
    workdir: Path | None,
    pythons: Mapping[str, str],
    say: Callable[[str], None],
    cli: Callable[[list[str]], int],
) -> Path:
    """Run every step; raise :class:`DemoError` on the first failure. Return the workdir."""
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="mvo-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    registry_url = f"sqlite:///{root / 'registry.db'}"
    store_url = (root / "store").as_uri()
    say(f"[bold]Demo directory:[/bold] {root}")
    say(f"  registry  {registry_url}\n  store     {store_url}")
    env = {**os.environ, "MVO_REGISTRY_URL": registry_url, "MVO_STORE_URL": store_url}
    env.pop("MVO_HOME", None)

    results = []
    for number, (name, module) in enumerate(ORCHESTRATORS.items(), start=1):
        say(f"\n[bold cyan]Step {number}: train {MODEL} as {PIPELINE_KIND[name]}[/bold cyan]")
        python = pythons.get(name, sys.executable)
        results.append(_run_pipeline(name, module, python, root / name, env, say))
        say(f"  -> {name} registered {MODEL}@{results[-1].version}")

    def step(title: str | None, *args: str) -> None:
        if title:
            say(f"\n[bold cyan]{title}[/bold cyan]")
        say(f"$ mvo {' '.join(args)}")
        code = cli(["--registry", registry_url, "--store", store_url, *args])
        if code != 0:
            raise DemoError(f"`mvo {' '.join(args)}` exited {code}")

    first = results[0]
    step("Step 4: list the versions", "versions", MODEL)
    step("Step 5: show one record in full", "show", f"{MODEL}@{first.version}")
    step(
        "Step 6: promote it to production",
        "promote",
        f"{MODEL}@{first.version}",
        "--alias",
        "production",
        "--reason",
        "first model through review",
    )
    say("\n[bold cyan]Step 7: train a newer version (more trees) and promote it[/bold cyan]")
    newer = _run_pipeline(
        "prefect",
        ORCHESTRATORS["prefect"],
        pythons.get("prefect", sys.executable),
        root / "prefect-newer",
        {**env, "MVO_DEMO_PARAMS": json.dumps({"n_estimators": 120})},
        say,
    )
    say(f"  -> registered {MODEL}@{newer.version}")
    step(
        None,
        "promote",
        f"{MODEL}@{newer.version}",
        "--alias",
        "production",
        "--reason",
        "more trees",
    )
    step(
        "Step 8: roll production back",
        "rollback",
        MODEL,
        "--alias",
        "production",
        "--reason",
        "demo rollback",
    )
    step("Step 9: the alias history", "history", MODEL)
    step("Step 10: retention dry run (nothing is deleted)", "retention", "plan")
    step("Step 11: lineage of the production version", "lineage", f"{MODEL}@production")
    say(f"\n[bold green]Demo complete.[/bold green] Everything is in {root}")
    return root


def _run_pipeline(
    name: str,
    module: str,
    python: str,
    workdir: Path,
    env: Mapping[str, str],
    say: Callable[[str], None],
) -> DemoResult:
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"$ {python} -m {module}")
    proc = subprocess.Popen(
        [python, "-m", module],
        env={**env, "MVO_DEMO_WORKDIR": str(workdir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    result_line = None
    log = workdir / "pipeline.log"
    with log.open("w") as out:
        for line in proc.stdout:
            out.write(line)
            if line.startswith(RESULT_PREFIX):
                result_line = line[len(RESULT_PREFIX) :]
            elif _worth_showing(line):
                say(f"  [dim]{name}[/dim] {escape(line.rstrip())}")
    if proc.wait() != 0 or result_line is None:
        raise DemoError(f"the {name} pipeline failed (exit {proc.returncode}); log: {log}")
    data = json.loads(result_line)
    return DemoResult(name, data["version"], data["record_id"])


def _worth_showing(line: str) -> bool:
    """Keep the pipeline's own progress lines, drop orchestrator log noise."""
    return line.startswith("[mvo]")
