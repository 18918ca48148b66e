"""Engines for the registry database: SQLite (embedded default) and PostgreSQL.

SQLite: WAL journal, ``synchronous=NORMAL`` (commits survive a crash of the process;
after a power loss the last few may be lost, never corrupted; add ``?synchronous=full`` to
the URL to fsync every commit, at a few milliseconds each), a 30 s busy timeout, foreign
keys on, and transactions that begin with
``BEGIN IMMEDIATE`` (writers queue for the lock up front instead of failing on upgrade).
Connections opened with ``execution_options(mvo_read_only=True)`` begin a deferred (read)
transaction instead. A database on a network filesystem is refused: SQLite's locking is
unreliable there.

PostgreSQL: the psycopg 3 driver (``postgresql+psycopg://``; ``postgresql://`` and
``postgres://`` are read the same way), pre-ping on checkout.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from mv_orchestration.errors import ConfigurationError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
SYNCHRONOUS = ("normal", "full", "extra")
READ_ONLY = "mvo_read_only"
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "ncpfs",
        "9p",
        "afs",
        "coda",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "fuse.sshfs",
        "sshfs",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.rclone",
        "fuse.juicefs",
        "davfs",
        "fuse.davfs2",
        "fuse.blobfuse",
        "fuse.blobfuse2",
    }
)


def parse_url(url: str) -> URL:
    """Parse a registry URL; only SQLite files and PostgreSQL (psycopg 3) are accepted."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"invalid registry URL: {exc}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if not parsed.database or parsed.database == ":memory:" or "mode=memory" in url:
            raise ConfigurationError("the registry needs a SQLite file, not an in-memory database")
        return parsed.set(drivername="sqlite")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise ConfigurationError(
        f"unsupported registry URL scheme {parsed.drivername!r}: "
        "use sqlite:///PATH or postgresql+psycopg://..."
    )


def snapshot_connection(engine: Engine) -> Connection:
    """A connection whose transactions are read-only and each see one state of the
    registry (``REPEATABLE READ`` on PostgreSQL; a SQLite read transaction always does)."""
    connection = engine.connect().execution_options(**{READ_ONLY: True})
    if connection.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    return connection


def create_registry_engine(url: str, *, mounts_path: str = "/proc/mounts") -> Engine:
    """Create the engine for ``url`` with the backend settings described above."""
    parsed = parse_url(url)
    if parsed.drivername == "sqlite":
        return _sqlite_engine(parsed, mounts_path)
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_engine(url: URL, mounts_path: str) -> Engine:
    synchronous = str(url.query.get("synchronous", "normal")).lower()
    if synchronous not in SYNCHRONOUS:
        raise ConfigurationError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
    url = url.difference_update_query(["synchronous"])
    path = Path(os.path.expanduser(str(url.database))).absolute()
    fs_type = filesystem_type(path, mounts_path)
    if fs_type in NETWORK_FILESYSTEMS:
        raise ConfigurationError(
            f"refusing a SQLite registry on a network filesystem ({fs_type}): {path}; "
            "SQLite locking is unreliable there. Use a local disk or PostgreSQL."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url.set(database=str(path)), connect_args={"timeout": 30})
    event.listen(engine, "connect", partial(_configure_sqlite_connection, synchronous))
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite_connection(synchronous: str, dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite(conn: Any) -> None:
    statement = "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
    conn.connection.dbapi_connection.execute(statement)


def filesystem_type(path: Path, mounts_path: str = "/proc/mounts") -> str | None:
    """The filesystem type of the mount holding ``path`` (None when it cannot be told)."""
    try:
        lines = Path(mounts_path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    target = _existing_ancestor(path)
    best: tuple[int, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = _unescape_mount(fields[1])
        if _is_within(target, mount_point) and (best is None or len(mount_point) > best[0]):
            best = (len(mount_point), fields[2])
    return best[1] if best else None


def _existing_ancestor(path: Path) -> str:
    current = path
    while not current.exists() and current != current.parent:
        current = current.parent
    return str(current.resolve())


def _is_within(path: str, mount_point: str) -> bool:
    if mount_point == "/":
        return True
    return path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def _unescape_mount(text: str) -> str:
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        text = text.replace(code, char)
    return text
