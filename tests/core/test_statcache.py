"""Stat cache: unchanged files are not read again; changes and racy timestamps are caught."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from mv_orchestration.hashing import manifest as manifest_module
from mv_orchestration.hashing.manifest import hash_tree
from mv_orchestration.hashing.statcache import (
    COARSE_GRANULARITY_NS,
    FINE_GRANULARITY_NS,
    StatCache,
    is_trusted,
)

SETTLE_S = 3 * FINE_GRANULARITY_NS / 1e9


@pytest.fixture
def read_counter(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of the function that reads file contents during hash_tree."""
    calls: list[int] = []
    real: Callable[..., tuple[str, int]] = manifest_module.digest_fd

    def counting(fd: int, algo: str) -> tuple[str, int]:
        calls.append(fd)
        return real(fd, algo)

    monkeypatch.setattr(manifest_module, "digest_fd", counting)
    return calls


def write_files(root: Path, count: int) -> None:
    for i in range(count):
        path = root / f"d{i % 3}" / f"f{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(100 + i))


def test_unchanged_tree_is_rehashed_without_reading(
    tmp_path: Path, read_counter: list[int]
) -> None:
    data = tmp_path / "data"
    write_files(data, 30)
    time.sleep(SETTLE_S)
    with StatCache(tmp_path / "cache" / "statcache.db") as cache:
        first = hash_tree(data, stat_cache=cache)
        assert len(read_counter) == 30
        read_counter.clear()
        assert hash_tree(data, stat_cache=cache) == first
        assert read_counter == []
    with StatCache(tmp_path / "cache" / "statcache.db") as reopened:
        assert hash_tree(data, stat_cache=reopened) == first
        assert read_counter == []
        assert hash_tree(data, "sha256", stat_cache=reopened).algo == "sha256"
        assert len(read_counter) == 30


def test_modified_file_is_read_again(tmp_path: Path, read_counter: list[int]) -> None:
    data = tmp_path / "data"
    write_files(data, 10)
    time.sleep(SETTLE_S)
    cache = StatCache(tmp_path / "statcache.db")
    first = hash_tree(data, stat_cache=cache)
    target = data / "d1" / "f1.bin"
    old = target.stat()
    target.write_bytes(b"X" * old.st_size)
    os.utime(target, ns=(old.st_atime_ns, old.st_mtime_ns))
    read_counter.clear()
    second = hash_tree(data, stat_cache=cache)
    assert len(read_counter) == 1
    assert second.digest != first.digest
    before = {e.path: e.digest for e in first.entries}
    after = {e.path: e.digest for e in second.entries}
    assert {path for path in after if after[path] != before[path]} == {"d1/f1.bin"}


def test_replaced_inode_is_read_again(tmp_path: Path, read_counter: list[int]) -> None:
    data = tmp_path / "data"
    write_files(data, 3)
    time.sleep(SETTLE_S)
    cache = StatCache(tmp_path / "statcache.db")
    hash_tree(data, stat_cache=cache)
    target = data / "d0" / "f0.bin"
    old = target.stat()
    replacement = tmp_path / "replacement"
    replacement.write_bytes(b"Y" * old.st_size)
    os.utime(replacement, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(replacement, target)
    read_counter.clear()
    entry = {e.path: e for e in hash_tree(data, stat_cache=cache).entries}["d0/f0.bin"]
    assert len(read_counter) == 1
    assert entry.size == old.st_size


def test_racily_clean_entry_is_not_trusted(tmp_path: Path, read_counter: list[int]) -> None:
    """A file hashed within the timestamp tick of its last write is re-read next time."""
    cache = StatCache(tmp_path / "statcache.db")
    path = tmp_path / "data" / "fresh.bin"
    path.parent.mkdir()
    path.write_bytes(b"first")
    hash_tree(path.parent, stat_cache=cache)
    read_counter.clear()
    hash_tree(path.parent, stat_cache=cache)
    assert len(read_counter) == 1, "an entry recorded right after a write must not be trusted"
    time.sleep(SETTLE_S)
    hash_tree(path.parent, stat_cache=cache)
    read_counter.clear()
    hash_tree(path.parent, stat_cache=cache)
    assert read_counter == []


def stat_like(mtime_ns: int, ctime_ns: int) -> os.stat_result:
    return SimpleNamespace(st_mtime_ns=mtime_ns, st_ctime_ns=ctime_ns)  # type: ignore[return-value]


def test_trust_rule_uses_newest_timestamp_and_filesystem_granularity() -> None:
    t = 1_700_000_000_123_456_789
    assert is_trusted(stat_like(t, t), t + FINE_GRANULARITY_NS + 1)
    assert not is_trusted(stat_like(t, t), t + FINE_GRANULARITY_NS)
    assert not is_trusted(stat_like(t - 10**10, t), t + 1000)
    whole_second = 1_700_000_000_000_000_000
    assert not is_trusted(stat_like(whole_second, whole_second), whole_second + 10**9)
    assert is_trusted(
        stat_like(whole_second, whole_second), whole_second + COARSE_GRANULARITY_NS + 1
    )


def test_cache_is_sqlite_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "statcache.db"
    StatCache(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
