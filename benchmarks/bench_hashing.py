"""Hashing speed against baselines measured in the same run (issue 5).

* tree: 1 GiB in 1,000 files, page cache warm: ``hash_tree`` against single-threaded
  ``hashlib.sha256`` over the same bytes (and against ``dvc add`` with ``--with-dvc``,
  which installs DVC into its own virtual environment with uv);
* re-hash after touching 1 of the 1,000 files, in-process, with the stat cache;
* one 4 GiB file: throughput and the peak RSS of a child process doing only that (VmHWM
  of the child's own address space: ``ru_maxrss`` would report the parent's size, which a
  child started with vfork/exec inherits on Linux);
* logical digest of a ~1 GB in-memory Arrow table.

Budgets: tree >= 3 GB/s and >= 10x ``dvc add``; re-hash <= 50 ms; big file >= 3 GB/s with
peak RSS < 200 MB; table >= 1 GB/s. ``--scale 0.1`` shrinks every size for a quick run;
``--check`` exits 1 when a budget is missed (at full scale only).

    python benchmarks/bench_hashing.py [--scale 1.0] [--with-dvc] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from mv_orchestration.hashing.manifest import hash_tree
from mv_orchestration.hashing.statcache import FINE_GRANULARITY_NS, StatCache
from mv_orchestration.hashing.tabular import table_digest

GIB = 1 << 30
FILES = 1000
UV = Path(__file__).resolve().parent.parent / ".tools" / "bin" / "uv"
results: list[tuple[str, float, str, float]] = []


def best_of(runs: int, fn: Callable[[], object]) -> float:
    """Fastest wall time of ``runs`` calls, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def report(name: str, value: float, unit: str, budget: float, higher_is_better: bool) -> None:
    ok = value >= budget if higher_is_better else value <= budget
    sign = ">=" if higher_is_better else "<="
    verdict = "ok" if ok else "MISSED"
    print(f"  {name:<44} {value:10.2f} {unit:<5} (budget {sign} {budget:g}) {verdict}")
    results.append((name, value, unit, budget if ok else float("nan")))


def make_tree(root: Path, total: int) -> None:
    size = total // FILES
    block = os.urandom(size)
    for i in range(FILES):
        path = root / f"d{i % 10:02d}" / f"f{i:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(i.to_bytes(8, "little") + block[8:])


def read_all(paths: list[Path]) -> None:
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(16 << 20):
                pass


def sha256_single_thread(paths: list[Path]) -> None:
    for path in paths:
        with open(path, "rb") as handle:
            hashlib.file_digest(handle, "sha256")


def bench_tree(work: Path, total: int, with_dvc: bool) -> None:
    tree = work / "repo" / "data"
    make_tree(tree, total)
    paths = sorted(p for p in tree.rglob("*") if p.is_file())
    read_all(paths)
    gb = total / 1e9
    ours = best_of(3, lambda: hash_tree(tree))
    sha = best_of(1, lambda: sha256_single_thread(paths))
    print(f"tree: {total / GIB:.2f} GiB in {FILES} files, page cache warm")
    report("hash_tree (blake3, parallel)", gb / ours, "GB/s", 3.0, True)
    print(f"  {'hashlib.sha256, one thread':<44} {gb / sha:10.2f} GB/s  -> ours x{sha / ours:.1f}")

    cache = StatCache(work / "statcache.db")
    hash_tree(tree, stat_cache=cache)
    time.sleep(3 * FINE_GRANULARITY_NS / 1e9)
    hash_tree(tree, stat_cache=cache)
    unchanged = best_of(3, lambda: hash_tree(tree, stat_cache=cache))
    os.utime(paths[FILES // 2])
    touched = best_of(1, lambda: hash_tree(tree, stat_cache=cache))
    report("re-hash after touching 1 file (stat cache)", touched * 1000, "ms", 50, False)
    print(f"  {'re-hash, nothing changed':<44} {unchanged * 1000:10.2f} ms")
    cache.close()
    if with_dvc:
        bench_dvc(work, tree, paths, ours)


def bench_dvc(work: Path, tree: Path, paths: list[Path], ours: float) -> None:
    venv = work / "dvc-venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", "3.11", str(venv)], check=True)
    subprocess.run(
        [str(UV), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), "dvc"],
        check=True,
    )
    dvc = str(venv / "bin" / "dvc")
    repo = tree.parent
    subprocess.run([dvc, "init", "--no-scm", "--quiet"], cwd=repo, check=True)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    read_all(paths)
    first = best_of(
        1, lambda: subprocess.run([dvc, "add", "--quiet", "data"], cwd=repo, env=env, check=True)
    )
    os.utime(paths[FILES // 2])
    again = best_of(
        1, lambda: subprocess.run([dvc, "add", "--quiet", "data"], cwd=repo, env=env, check=True)
    )
    report("dvc add / hash_tree (speed-up)", first / ours, "x", 10.0, True)
    print(f"  {'dvc add, first time':<44} {first:10.2f} s")
    print(f"  {'dvc add after touching 1 file':<44} {again:10.2f} s")


def bench_big_file(work: Path, size: int) -> None:
    path = work / "big.bin"
    block = os.urandom(64 << 20)
    with open(path, "wb") as handle:
        for i in range(max(1, size // len(block))):
            handle.write(i.to_bytes(8, "little") + block[8:])
    size = path.stat().st_size
    read_all([path])
    child = textwrap.dedent(
        f"""
        import time
        from mv_orchestration.hashing.files import digest_file
        digest_file({str(path)!r})
        start = time.perf_counter()
        digest_file({str(path)!r})
        elapsed = time.perf_counter() - start
        status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
        print(elapsed, status)
        """
    )
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    elapsed, peak_kib = out.stdout.split()
    with open(path, "rb") as handle:
        sha = best_of(1, lambda: (handle.seek(0), hashlib.file_digest(handle, "sha256")))
    print(f"one file: {size / GIB:.2f} GiB, page cache warm")
    report(
        "digest_file (blake3, read-ahead thread)", size / 1e9 / float(elapsed), "GB/s", 3.0, True
    )
    report("peak RSS of the hashing process (VmHWM)", int(peak_kib) / 1024, "MiB", 200, False)
    print(f"  {'hashlib.sha256, one thread':<44} {size / 1e9 / sha:10.2f} GB/s")
    path.unlink()


def make_table(nbytes: int) -> pa.Table:
    rows = max(1000, nbytes // 70)
    random = pc.random(rows)
    ints = pc.cast(pc.floor(pc.multiply(random, 1e12)), pa.int64())
    columns = {f"i{k}": pc.add(ints, k) for k in range(4)}
    columns["f0"] = random
    columns["f1"] = pc.random(rows)
    columns["nullable"] = pc.if_else(pc.less(random, 0.05), pa.scalar(None, pa.int64()), ints)
    columns["text"] = pc.cast(pc.cast(pc.floor(pc.multiply(random, 1e6)), pa.int64()), pa.string())
    columns["flag"] = pc.less(random, 0.5)
    return pa.table(columns)


def bench_table(nbytes: int) -> None:
    table = make_table(nbytes)
    seconds = best_of(3, lambda: table_digest(table))
    print(f"table: {table.num_rows:,} rows, {table.nbytes / 1e9:.2f} GB in memory")
    report("table_digest (ordered)", table.nbytes / 1e9 / seconds, "GB/s", 1.0, True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size")
    parser.add_argument("--with-dvc", action="store_true", help="install DVC and compare")
    parser.add_argument("--check", action="store_true", help="exit 1 if a budget is missed")
    args, _ = parser.parse_known_args(argv)
    print(f"bench_hashing (scale {args.scale:g}, {os.cpu_count()} CPUs)")
    work = Path(tempfile.mkdtemp(prefix="mvo-bench-"))
    try:
        bench_tree(work, int(GIB * args.scale), args.with_dvc)
        bench_big_file(work, int(4 * GIB * args.scale))
        bench_table(int(1e9 * args.scale))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    missed = [name for name, _, _, budget in results if budget != budget]
    if missed:
        print(f"budgets missed: {', '.join(missed)}")
    return 1 if args.check and missed and args.scale >= 1 else 0


if __name__ == "__main__":
    sys.exit(main())
