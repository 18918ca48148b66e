"""Registry benchmark: registration latency/throughput beside MLflow, and queries at scale.

1. Registration on SQLite, the artifact already stored (upload excluded):
   * ``register``: ``run.register_model(path)`` inside one open run (the commit path;
     each version gets new params, logged outside the timed call);
   * ``run+register``: a run per registration (capture + params + version), the workload
     an MLflow user writes as ``start_run`` + ``log_params`` + ``create_model_version``.
   MLflow runs the same workload on its own SQLite backend, in a virtual environment that
   this script creates with uv (``--mlflow-venv``, reused between runs).
2. A registry with 1,000,000 versions (bulk-inserted with SQL): ``versions(model,
   limit=50)`` and resolving ``MODEL@production``.

Usage: ``python benchmarks/bench_registry.py [--scale 0.01] [--skip-mlflow] [--json]``.
``--scale`` multiplies every count for a quick run.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

UV = Path(__file__).resolve().parents[1] / ".tools" / "bin" / "uv"
DEFAULT_MLFLOW_VENV = Path(tempfile.gettempdir()) / "mvo-bench-mlflow-venv"
TARGET_P50_MS = 2.0
TARGET_LIST_MS = 50.0
TARGET_RESOLVE_MS = 5.0

MLFLOW_SCRIPT = r"""
import json, logging, sys, time, warnings
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import mlflow
from mlflow import MlflowClient

count, root = int(sys.argv[1]), sys.argv[2]
uri = f"sqlite:///{root}/mlflow.db"
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
client = MlflowClient()
client.create_registered_model("churn")
mlflow.set_experiment("bench")

def one(i):
    with mlflow.start_run() as run:
        mlflow.log_params({"lr": 0.1, "i": i})
        client.create_model_version(
            "churn", source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
        )

one(-1)
latencies = []
for i in range(count):
    start = time.perf_counter()
    one(i)
    latencies.append(time.perf_counter() - start)
print(json.dumps({"mlflow": mlflow.__version__, "latencies": latencies}))
"""


def summary(latencies: list[float]) -> dict[str, float]:
    """p50/p99 in milliseconds and throughput (operations per second, one process)."""
    ordered = sorted(latencies)
    return {
        "n": len(ordered),
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "per_s": len(ordered) / sum(ordered),
    }


def timed(
    call: Callable[[], Any], count: int, setup: Callable[[], Any] | None = None
) -> list[float]:
    """Wall-clock seconds of each of ``count`` calls (``setup`` runs untimed before each)."""
    out = []
    for _ in range(count):
        if setup is not None:
            setup()
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def bench_registration(root: Path, count: int) -> dict[str, Any]:
    """Our two registration figures on a fresh SQLite registry."""
    from mv_orchestration.registry import connect

    model = root / "model.bin"
    model.write_bytes(b"tiny model")
    registry = connect(f"sqlite:///{root / 'registry.db'}", (root / "store").as_uri())
    try:
        with registry.run("churn", seed=0) as run:
            run.register_model(model)
            counter = iter(range(10**9))

            def new_params() -> None:
                run.log_params({"lr": 0.1, "i": next(counter)})

            register_only = timed(lambda: run.register_model(model), count, new_params)

        def full() -> None:
            with registry.run("churn-runs", seed=0) as run:
                run.log_params({"lr": 0.1, "i": next(counter)})
                run.register_model(model)

        full()
        full_runs = timed(full, max(count // 4, 10))
    finally:
        registry.close()
    return {"register": summary(register_only), "run+register": summary(full_runs)}


def ensure_mlflow(venv: Path) -> Path:
    """The python of a virtual environment with MLflow (created with uv when missing)."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import mlflow"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    subprocess.run([str(UV), "venv", str(venv), "--python", "3.11", "-q"], check=True)
    subprocess.run([str(UV), "pip", "install", "--python", str(python), "-q", "mlflow"], check=True)
    return python


def bench_mlflow(root: Path, count: int, venv: Path) -> dict[str, Any]:
    """MLflow's run + params + model version, on SQLite, in its own environment."""
    python = ensure_mlflow(venv)
    script = root / "mlflow_bench.py"
    script.write_text(MLFLOW_SCRIPT)
    workdir = root / "mlflow"
    workdir.mkdir()
    out = subprocess.run(
        [str(python), str(script), str(count), str(workdir)],
        capture_output=True, text=True, check=True, cwd=workdir,
    )  # fmt: skip
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return {"version": data["mlflow"], **summary(data["latencies"])}


def bulk_versions(root: Path, count: int) -> Any:
    """A migrated registry whose model ``big`` has ``count`` versions, loaded with SQL."""
    from mv_orchestration.registry import connect
    from mv_orchestration.registry.clock import utcnow
    from mv_orchestration.registry.semver import sort_key

    path = root / "big.db"
    registry = connect(f"sqlite:///{path}", (root / "store").as_uri())
    registry.close()
    now = utcnow().replace(tzinfo=None).isoformat(sep=" ")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    db.execute("INSERT INTO models (id, name, created_at) VALUES (1, 'big', ?)", (now,))
    batch = 50_000
    for start in range(0, count, batch):
        rows = []
        for i in range(start, min(start + batch, count)):
            version = f"{i // 1_000_000}.{(i // 1000) % 1000}.{i % 1000}"
            record_id = f"blake3:{i:064x}"
            rows.append((i + 1, version, sort_key(version), record_id))
        db.executemany(
            "INSERT INTO records (record_id, body, created_at) VALUES (?, '{}', ?)",
            [(r[3], now) for r in rows],
        )
        db.executemany(
            "INSERT INTO versions (id, model_id, version, sort_key, record_id, content_digest,"
            " artifact_digest, params_digest, features_digest, datasets_digest,"
            " signature_digest, created_at, status)"
            " VALUES (?, 1, ?, ?, ?, ?, 'a', 'p', 'f', 'd', 's', ?, 'active')",
            [(*r, f"content-{r[0]}", now) for r in rows],
        )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()
    return connect(f"sqlite:///{path}", (root / "store").as_uri())


def bench_scale(root: Path, count: int, repeats: int) -> dict[str, Any]:
    start = time.perf_counter()
    registry = bulk_versions(root, count)
    load_s = time.perf_counter() - start
    try:
        middle = registry.versions("big", limit=1, offset=count // 2)[0]
        registry.promote(middle.ref, alias="production")
        newest = registry.versions("big", limit=50)
        assert len(newest) == min(50, count)
        assert registry.resolve("big@production").version == middle.version
        listing = timed(lambda: registry.versions("big", limit=50), repeats)
        resolving = timed(lambda: registry.resolve("big@production"), repeats)
    finally:
        registry.close()
    return {
        "versions": count,
        "load_s": load_s,
        "versions_limit_50": summary(listing),
        "resolve_alias": summary(resolving),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count")
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--mlflow-registrations", type=int, default=300)
    parser.add_argument("--versions", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--mlflow-venv", type=Path, default=DEFAULT_MLFLOW_VENV)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)

    def scaled(n: int) -> int:
        return max(int(n * args.scale), 10)

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mvo-bench-") as tmp:
        root = Path(tmp)
        os.chdir(root)
        (root / "ours").mkdir()
        results["ours"] = bench_registration(root / "ours", scaled(args.registrations))
        if not args.skip_mlflow:
            results["mlflow"] = bench_mlflow(
                root, scaled(args.mlflow_registrations), args.mlflow_venv
            )
        (root / "scale").mkdir()
        results["scale"] = bench_scale(root / "scale", scaled(args.versions), args.repeats)
    if "mlflow" in results:
        mlflow, ours = results["mlflow"], results["ours"]
        results["ratios"] = {
            "run+register throughput vs mlflow": ours["run+register"]["per_s"] / mlflow["per_s"],
            "register throughput vs mlflow": ours["register"]["per_s"] / mlflow["per_s"],
            "mlflow p50 / register p50": mlflow["p50_ms"] / ours["register"]["p50_ms"],
        }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        report(results)
    return 0


def report(results: dict[str, Any]) -> None:
    def line(name: str, s: dict[str, float], target: str = "") -> None:
        print(
            f"  {name:<28} p50 {s['p50_ms']:8.3f} ms  p99 {s['p99_ms']:8.3f} ms  "
            f"{s['per_s']:9.1f}/s  (n={s['n']}){target}"
        )

    ours = results["ours"]
    print("Registration on SQLite (artifact already stored)")
    line("mvo register", ours["register"], f"  target p50 <= {TARGET_P50_MS} ms")
    line("mvo run + register", ours["run+register"])
    if "mlflow" in results:
        line(f"mlflow {results['mlflow']['version']} run+version", results["mlflow"])
        for name, ratio in results["ratios"].items():
            print(f"  ratio {name:<40} {ratio:7.2f}x")
    scale = results["scale"]
    print(f"Queries with {scale['versions']:,} versions (loaded in {scale['load_s']:.1f} s)")
    line(
        "versions(model, limit=50)", scale["versions_limit_50"], f"  target <= {TARGET_LIST_MS} ms"
    )
    line("resolve MODEL@production", scale["resolve_alias"], f"  target <= {TARGET_RESOLVE_MS} ms")


if __name__ == "__main__":
    sys.exit(main())
