"""Run-capture overhead against an empty task, measured in the same run.

* warm: the capture around the 2nd..Nth task of one process (p50 and p99), for a task
  whose code is in a clean git repository and in one with uncommitted changes;
* cold: a new interpreter running one captured task, against ``python -c pass``;
* import: ``import mv_orchestration`` in a new interpreter, against ``python -c pass``.

Budgets (issue 4): warm p50 <= 20 ms, cold <= 300 ms, import <= 150 ms. New interpreters
get a private bytecode cache (PYTHONPYCACHEPREFIX) filled by a first, unmeasured run, as
an installed package has compiled bytecode. ``--check`` exits 1 when a budget is missed.

    python benchmarks/bench_capture.py [--tasks 200] [--cold-runs 10] [--check]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from mv_orchestration.capture import RunContext, capture_run

WARM_P50_BUDGET_MS = 20.0
COLD_BUDGET_MS = 300.0
IMPORT_BUDGET_MS = 150.0

TASK_SOURCE = "def task(x):\n    return x + 1\n"
COLD_TASK = """
from mv_orchestration.capture import RunContext, capture_run
import task_module
capture_run(seed=1, code_of=task_module.task, context=RunContext(run_id="r", task_id="t"))
task_module.task(1)
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


def make_task_repo(root: Path, dirty: bool) -> Path:
    repo = root / ("dirty" if dirty else "clean")
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "task_module.py").write_text(TASK_SOURCE)
    (repo / "README.md").write_text("bench\n")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-q", "-m", "x")
    if dirty:
        (repo / "task_module.py").write_text(TASK_SOURCE + "\n# tuned\nLR = 0.01\n")
        (repo / "scratch.txt").write_text("notes\n")
    return repo


def load_task(repo: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"task_{repo.name}", repo / "task_module.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_tasks(run: Callable[[int], object], count: int) -> list[float]:
    run(-1)
    timings = []
    for i in range(count):
        start = time.perf_counter()
        run(i)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def warm(repo: Path, count: int) -> tuple[float, float, float]:
    """(empty p50, captured p50, captured p99) in ms for tasks whose code is in ``repo``."""
    module = load_task(repo)
    empty = time_tasks(module.task, count)

    def captured(i: int) -> object:
        context = RunContext(orchestrator="local", run_id=f"r{i}", task_id="t")
        capture_run(seed=abs(i), context=context, code_of=module.task)
        return module.task(i)

    timed = time_tasks(captured, count)
    return statistics.median(empty), statistics.median(timed), percentile(timed, 0.99)


def _children_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def interpreter_ms(code: str, cwd: Path, env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall and CPU time (ms) of ``python -c code`` in a new interpreter.

    One unmeasured run first fills the bytecode cache. CPU time (user + system) shows the
    work done whatever else the machine is running.
    """
    command = [sys.executable, "-c", code]
    subprocess.run(command, cwd=cwd, env=env, check=True, timeout=120)
    walls, cpus = [], []
    for _ in range(runs):
        cpu = _children_cpu_ms()
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, check=True, timeout=120)
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append(_children_cpu_ms() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--cold-runs", type=int, default=10)
    parser.add_argument("--check", action="store_true", help="exit 1 when a budget is missed")
    args, _ = parser.parse_known_args()  # `make bench` passes its arguments to every script

    missed = []
    with tempfile.TemporaryDirectory(prefix="mvo-bench-capture-") as tmp:
        root = Path(tmp)
        print(f"capture overhead per task, {args.tasks} tasks after one warm-up (ms)")
        for dirty in (False, True):
            repo = make_task_repo(root, dirty)
            empty, p50, p99 = warm(repo, args.tasks)
            overhead = p50 - empty
            label = "dirty repo" if dirty else "clean repo"
            print(
                f"  warm, {label}: empty task p50 {empty:.4f}; captured p50 {p50:.2f} "
                f"p99 {p99:.2f}; overhead p50 {overhead:.2f} (budget {WARM_P50_BUDGET_MS:.0f})"
            )
            if overhead > WARM_P50_BUDGET_MS:
                missed.append(f"warm p50 ({label})")

        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        clean = root / "clean"
        base_wall, base_cpu = interpreter_ms("pass", clean, env, args.cold_runs)
        print(f"new interpreter, median of {args.cold_runs} (ms, wall / CPU)")
        print(f"  python -c pass: {base_wall:.1f} / {base_cpu:.1f}")
        for label, code, budget in (
            ("one captured task", COLD_TASK, COLD_BUDGET_MS),
            ("import mv_orchestration", "import mv_orchestration", IMPORT_BUDGET_MS),
        ):
            wall, cpu = interpreter_ms(code, clean, env, args.cold_runs)
            print(
                f"  {label}: {wall:.1f} / {cpu:.1f}; overhead {wall - base_wall:.1f} / "
                f"{cpu - base_cpu:.1f} (budget {budget:.0f}); ratio {wall / base_wall:.1f}x"
            )
            if wall - base_wall > budget:
                missed.append(label)
    print("budgets missed: " + (", ".join(missed) if missed else "none"))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
