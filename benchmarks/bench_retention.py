"""Retention at scale on SQLite and local disk, each against a baseline from the same run.

* plan: read 1,000,000 versions, decide them under the issue's example policy and store
  the plan, <= 10 s (the median of three runs); baseline: a bare ``SELECT`` of the same
  version rows (the median of three, each just before a run);
* apply: tombstone 50,000 versions, >= 10,000 per second; baseline: one bulk ``UPDATE``
  of their status (no checks, no audit events);
* gc: mark and sweep a store of 100,000 objects (half of them garbage), <= 10 s;
  baseline: listing the store's files.

The registries are filled with bulk SQL (realistic record bodies, aliases with history,
holds, tags; not timed); the plan and GC registries are then checkpointed and flushed to
disk, the GC store's files with them.
``--scale 0.01`` runs everything at 1 %. ``--check`` exits 1 when a budget is missed.

    python benchmarks/bench_retention.py [--scale 1.0] [--check] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from blake3 import blake3

from mv_orchestration.registry import Registry, connect
from mv_orchestration.registry.semver import sort_key
from mv_orchestration.retention import apply_plan, collect_garbage, plan_retention

PLAN_BUDGET_S = 10.0
PLAN_RUNS = 3  # the median counts: one run on a shared machine can be far off
APPLY_BUDGET_PER_S = 10_000
GC_BUDGET_S = 10.0
ISSUE_POLICY = {
    "rules": [
        {
            "models": "*",
            "keep_last": 5,
            "keep_within": "30d",
            "keep_alias_history": 3,
            "min_retention_after_production": "7y",
        }
    ],
    "grace_period": "24h",
}
NOW = datetime.now(timezone.utc)
CAPTURE = {  # a record's run capture, about 1 KiB like a small real one
    "environment": {"python": "3.11.7", "packages": [f"pkg{i}==1.{i}.0" for i in range(40)]},
    "hardware": {"cpu": "x86_64", "cores": 16, "memory_gb": 64},
    "seeds": {"python": 42, "numpy": 42},
}


def sql_time(moment: datetime) -> str:
    """SQLAlchemy's SQLite text form of a naive UTC time."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


def object_digest(label: str) -> str:
    return "blake3:" + blake3(label.encode()).hexdigest()


def fill(
    registry: Registry,
    versions: int,
    *,
    per_model: int,
    objects_of=None,
    aliases: bool = True,
    lifecycle: bool = True,
) -> None:
    """Insert ``versions`` versions (records, their ``version_objects`` rows, tags, aliases
    with history, holds) in bulk;
    with ``lifecycle`` about 8 % are tombstoned and 2 % purged."""
    rnd = random.Random(7)
    raw = registry.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN IMMEDIATE")
        models = (versions + per_model - 1) // per_model
        created = sql_time(NOW - timedelta(days=900))
        cur.executemany(
            "INSERT INTO models (id, name, created_at) VALUES (?, ?, ?)",
            [(m + 1, f"model-{m:05d}", created) for m in range(models)],
        )
        records, rows, tags, objects = [], [], [], []
        for i in range(versions):
            model, number = divmod(i, per_model)
            version = f"1.{number // 1000}.{number % 1000}"
            entries = objects_of(i) if objects_of else [
                {"digest": object_digest(f"w{i}"), "path": "model.bin", "size": 4096 + i % 512},
                {"digest": object_digest(f"cfg{model}"), "path": "config.json", "size": 300},
            ]  # fmt: skip
            body = json.dumps(
                {
                    "artifacts": {"algo": "blake3", "entries": entries},
                    "capture": CAPTURE,
                    "code_diff_digest": None,
                    "datasets": [],
                    "model": f"model-{model:05d}",
                    "params": {"lr": 0.01, "depth": i % 9},
                    "version": version,
                },
                sort_keys=True,
                separators=(",", ":"),
            )
            record_id = "blake3:" + blake3(body.encode()).hexdigest()
            at = NOW - timedelta(days=400 * (per_model - number) / per_model)
            status, changed = "active", None
            roll = rnd.random() if lifecycle else 1.0
            if roll < 0.02:
                status, changed = "purged", sql_time(at + timedelta(days=1))
            elif roll < 0.10:
                status, changed = "tombstoned", sql_time(at + timedelta(days=1))
            records.append((record_id, body, sql_time(at)))
            objects.extend((i + 1, e["digest"], e["size"], "artifact") for e in entries)
            rows.append(
                (i + 1, model + 1, version, sort_key(version), record_id, record_id, "a", "p",
                 "f", "d", "s", sql_time(at), status, changed)
            )  # fmt: skip
            if i % 10 == 0:
                tags.append((i + 1, "stage", rnd.choice(["dev", "prod"]), f"{i:064x}"[:64]))
        cur.executemany("INSERT INTO records VALUES (?, ?, ?)", records)
        cur.executemany(
            "INSERT INTO versions (id, model_id, version, sort_key, record_id, content_digest, "
            "artifact_digest, params_digest, features_digest, datasets_digest, "
            "signature_digest, created_at, status, status_changed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        cur.executemany(
            "INSERT INTO version_objects (version_id, digest, size, kind) VALUES (?, ?, ?, ?)",
            objects,
        )
        cur.executemany(
            "INSERT INTO version_tags (version_id, key, value, lookup) VALUES (?, ?, ?, ?)", tags
        )
        if aliases:
            _aliases(cur, rows, per_model, models)
        raw.commit()
    finally:
        raw.close()


def settle(db: Path) -> None:
    """Checkpoint the bulk fill's WAL and flush every pending write to disk (not timed), so
    a benchmark neither runs beside the kernel writing them back nor deletes files that
    never reached the disk."""
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.sync()


def _aliases(cur, rows, per_model: int, models: int) -> None:
    history, current, holds = [], [], []
    hid = 0
    for model in range(models):
        first = model * per_model
        last = min(first + per_model, len(rows)) - 1
        targets = [v for v in range(last - 40, last + 1, 10) if v >= first]
        targets = [t for t in targets if rows[t][12] == "active"] or [first]
        for k, target in enumerate(targets):
            hid += 1
            at = sql_time(NOW - timedelta(days=300 - 50 * k))
            prev = rows[targets[k - 1]][0] if k else None
            history.append((hid, model + 1, "production", "set", prev, rows[target][0], at, "b"))
        current.append((model + 1, "production", rows[targets[-1]][0], hid, at))
        if model % 50 == 0:
            holds.append((rows[first][0], "litigation", "b", at))
    cur.executemany(
        "INSERT INTO alias_history (id, model_id, alias, action, from_version_id, "
        "to_version_id, at, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        history,
    )
    cur.executemany(
        "INSERT INTO aliases (model_id, name, version_id, history_id, updated_at) "
        "VALUES (?, ?, ?, ?, ?)",
        current,
    )
    cur.executemany(
        "INSERT INTO holds (version_id, reason, actor, created_at) VALUES (?, ?, ?, ?)", holds
    )


def timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def bare_scan(reg: Registry) -> float:
    """Seconds to fetch the version rows a plan reads, with nothing else done."""
    with reg.engine.connect() as conn:
        _, seconds = timed(
            lambda: conn.exec_driver_sql(
                "SELECT id, model_id, version, sort_key, created_at, status FROM versions"
            ).fetchall()
        )
    return seconds


def bench_plan(root: Path, versions: int) -> tuple[float, float]:
    reg = connect(f"sqlite:///{root / 'plan.db'}", (root / "plan-store").as_uri())
    fill(reg, versions, per_model=1000)
    settle(root / "plan.db")
    scans, runs = [], []
    for _ in range(PLAN_RUNS):  # alternated, so both see the same machine
        scans.append(bare_scan(reg))
        plan, seconds = timed(lambda: plan_retention(reg, ISSUE_POLICY))
        runs.append(seconds)
    seconds, baseline = statistics.median(runs), statistics.median(scans)
    summary = plan.summary()
    print(
        f"plan   {versions:>9,} versions: {seconds:6.2f} s (budget {PLAN_BUDGET_S:.0f} s), "
        f"{seconds / baseline:5.1f}x a bare row scan ({baseline:.2f} s), medians of "
        f"{PLAN_RUNS} runs ({', '.join(f'{run:.2f}' for run in runs)} s); "
        f"keep {summary['keep']:,}, tombstone {summary['tombstone']:,}, "
        f"purge {summary['purge']:,}"
    )
    reg.close()
    return seconds, baseline


def bench_apply(root: Path, versions: int) -> float:
    reg = connect(f"sqlite:///{root / 'apply.db'}", (root / "apply-store").as_uri())
    fill(reg, versions, per_model=versions, aliases=False, lifecycle=False)
    plan = plan_retention(reg, {"rules": [{"keep_last": 1}]})
    with sqlite3.connect(root / "apply.db") as src, sqlite3.connect(root / "baseline.db") as dst:
        src.backup(dst)
    report, seconds = timed(lambda: apply_plan(reg, plan.id))
    rate = len(report.tombstoned) / seconds
    ids = [(p.id,) for p in plan.by_decision("tombstone")]
    with sqlite3.connect(root / "baseline.db") as raw:
        start = time.perf_counter()
        raw.executemany("UPDATE versions SET status = 'tombstoned' WHERE id = ?", ids)
        raw.commit()
        baseline = time.perf_counter() - start
    print(
        f"apply  {len(report.tombstoned):>9,} tombstones: {rate:9,.0f}/s "
        f"(budget {APPLY_BUDGET_PER_S:,}/s), {seconds / baseline:5.1f}x a bare bulk UPDATE "
        f"({baseline:.2f} s)"
    )
    reg.close()
    return rate


def bench_gc(root: Path, objects: int) -> float:
    store_root = root / "gc-store"
    reg = connect(f"sqlite:///{root / 'gc.db'}", store_root.as_uri())
    live = objects // 2
    digests = []
    old = (NOW - timedelta(days=5)).timestamp()
    for i in range(objects):
        data = f"object {i}".encode() * 8
        digest = "blake3:" + blake3(data).hexdigest()
        path = store_root / reg.store.object_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (old, old))
        digests.append((digest, len(data)))

    def objects_of(i: int) -> list[dict]:
        digest, size = digests[i]
        return [{"digest": digest, "path": "model.bin", "size": size}]

    fill(reg, live, per_model=1000, objects_of=objects_of)
    settle(root / "gc.db")  # the store's files too: GC deletes files already on disk
    _, baseline = timed(lambda: sum(len(files) for _, _, files in os.walk(store_root)))
    report, seconds = timed(lambda: collect_garbage(reg, dry_run=False))
    print(
        f"gc     {report.scanned:>9,} objects: {seconds:6.2f} s (budget {GC_BUDGET_S:.0f} s), "
        f"{seconds / baseline:5.1f}x listing the store ({baseline:.2f} s); "
        f"deleted {len(report.deleted):,}, live {report.live:,}"
    )
    reg.close()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes")
    parser.add_argument("--check", action="store_true", help="exit 1 when a budget is missed")
    parser.add_argument("--keep", type=Path, help="build in DIR and keep it (default: temp)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="mvo-bench-retention-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        plan_s, _ = bench_plan(root, max(1000, int(1_000_000 * args.scale)))
        rate = bench_apply(root, max(1000, int(50_000 * args.scale)))
        gc_s = bench_gc(root, max(1000, int(100_000 * args.scale)))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    missed = [
        name
        for name, bad in (
            ("plan", plan_s > PLAN_BUDGET_S),
            ("apply", rate < APPLY_BUDGET_PER_S),
            ("gc", gc_s > GC_BUDGET_S),
        )
        if bad
    ]
    if missed:
        print("over budget: " + ", ".join(missed))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
