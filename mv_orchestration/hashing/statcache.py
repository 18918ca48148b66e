"""Stat cache: skip re-reading files whose identity and timestamps have not changed.

A file is keyed by ``(st_dev, st_ino)`` and the entry holds ``size, mtime_ns, ctime_ns``
and one digest per algorithm, in SQLite (WAL) at ``<cache_dir>/statcache.db``.

Racy timestamps (as git handles them): a writer that changes a file within the same
filesystem timestamp tick in which we hashed it leaves ``mtime``/``ctime`` unchanged. So an
entry is trusted only if the file's newest timestamp is older, by more than the filesystem's
timestamp granularity, than the moment *before* its contents were read. Any later write then
lands on a strictly newer tick and changes the key. Entries recorded too soon after a
modification are stored but not trusted until a later hash re-records them.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from mv_orchestration.errors import ConfigurationError

FINE_GRANULARITY_NS = 50_000_000
"""Margin for filesystems with sub-second timestamps (covers coarse kernel clock ticks)."""
COARSE_GRANULARITY_NS = 2_000_000_000
"""Margin when a timestamp has no sub-second part (FAT, HFS+, ext3, some network mounts)."""

_QUERY_BATCH = 500
_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat_entry (
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    algo TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    hashed_at_ns INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (dev, ino, algo)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stat_entry_ino ON stat_entry (algo, ino)
"""


def racy_margin_ns(st: os.stat_result) -> int:
    """Timestamp granularity to assume for the filesystem holding ``st``."""
    if st.st_mtime_ns % 1_000_000_000 == 0 and st.st_ctime_ns % 1_000_000_000 == 0:
        return COARSE_GRANULARITY_NS
    return FINE_GRANULARITY_NS


def is_trusted(st: os.stat_result, hashed_at_ns: int) -> bool:
    """Whether a digest taken at ``hashed_at_ns`` can stand for the file ``st`` describes."""
    newest = max(st.st_mtime_ns, st.st_ctime_ns)
    return newest + racy_margin_ns(st) < hashed_at_ns


class StatCache:
    """Persistent ``(dev, inode, size, mtime_ns, ctime_ns) -> digest`` map; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(f"cannot open the stat cache at {self.path}: {exc}") from exc

    def lookup(self, st: os.stat_result, algo: str) -> str | None:
        """Return the cached digest for ``st`` if the entry matches and is trusted."""
        return self.lookup_many([st], algo)[0]

    def lookup_many(self, stats: Iterable[os.stat_result], algo: str) -> list[str | None]:
        """:meth:`lookup` for many files, in one read transaction and few queries."""
        stats = list(stats)
        rows: dict[tuple[int, int], tuple[int, int, int, int, str]] = {}
        inodes = sorted({st.st_ino for st in stats})
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for start in range(0, len(inodes), _QUERY_BATCH):
                    batch = inodes[start : start + _QUERY_BATCH]
                    query = (
                        "SELECT dev, ino, size, mtime_ns, ctime_ns, hashed_at_ns, digest "
                        f"FROM stat_entry WHERE algo = ? AND ino IN ({','.join('?' * len(batch))})"
                    )
                    for dev, ino, *row in self._db.execute(query, (algo, *batch)):
                        rows[(dev, ino)] = tuple(row)
            finally:
                self._db.execute("COMMIT")
        return [_match(rows.get((st.st_dev, st.st_ino)), st) for st in stats]

    def record(self, st: os.stat_result, algo: str, digest: str, hashed_at_ns: int) -> None:
        """Remember ``digest`` for ``st``; ``hashed_at_ns`` is when reading started."""
        self.record_many([(st, digest, hashed_at_ns)], algo)

    def record_many(self, entries: Iterable[tuple[os.stat_result, str, int]], algo: str) -> None:
        """:meth:`record` for many files in one write transaction."""
        rows = [
            (st.st_dev, st.st_ino, algo, st.st_size, st.st_mtime_ns, st.st_ctime_ns, at, digest)
            for st, digest, at in entries
        ]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO stat_entry VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> StatCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def now_ns() -> int:
    """Wall-clock time in ns, the clock :func:`is_trusted` compares timestamps against."""
    return time.time_ns()


def _match(row: tuple[int, int, int, int, str] | None, st: os.stat_result) -> str | None:
    if row is None:
        return None
    size, mtime_ns, ctime_ns, hashed_at_ns, digest = row
    if (size, mtime_ns, ctime_ns) != (st.st_size, st.st_mtime_ns, st.st_ctime_ns):
        return None
    return digest if is_trusted(st, hashed_at_ns) else None
