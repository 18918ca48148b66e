"""The two large scans of a retention snapshot: every version, and every store object a
version references.

On SQLite they are read by the ADBC SQLite driver straight into Arrow, with no Python
object per row, by a worker process on a read-only connection of its own
(:class:`WorkerScans`); this process builds the versions, and plans them, while the
worker reads the objects. The worker's read transaction and the SQLAlchemy connection's
(which reads everything else) see one state of the registry when both read the same last
audit sequence number, since every change to the registry appends an audit event in its
own transaction; the loader checks this and reads again when they differ. On PostgreSQL
(and when the worker fails, or as the loader's last resort) the rows come from the
SQLAlchemy connection itself: :class:`RowScans`.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from queue import SimpleQueue
from subprocess import PIPE, Popen
from typing import Any, Protocol

import pyarrow as pa
from sqlalchemy import Connection, Engine, text

from mv_orchestration.registry.audit import last_seq
from mv_orchestration.registry.prepared import Prepared
from mv_orchestration.retention.snapshot import in_a_thread, object_table

WORKER = "mv_orchestration.retention.scan_worker"
STDERR = "worker.err"  # in the worker's directory
LAST_SEQ, VERSIONS, OBJECTS = range(3)  # the worker's statements
SORT_KEY = 3  # the column of versions_sql
LAST_SEQ_SQL = "SELECT COALESCE(MAX(seq), 0) FROM audit_events"  # audit.last_seq, as SQL
OBJECTS_SQL = (
    "SELECT version_id, digest, COALESCE(size, 0) FROM version_objects "
    "WHERE kind <> 'snapshot_manifest'"
)


def versions_sql(dialect: str) -> str:
    """Every version's ``id, model_id, version, sort_key, created_at, status,
    status_changed_at`` (SQLite keeps naive UTC text: read with its offset appended, and
    a missing status time as an empty string)."""
    if dialect == "sqlite":
        created, changed = "created_at || '+00:00'", "COALESCE(status_changed_at || '+00:00', '')"
    else:
        created, changed = "created_at", "status_changed_at"
    return f"SELECT id, model_id, version, sort_key, {created}, status, {changed} FROM versions"


def scan_rows(conn: Connection, sql: str) -> list[Any]:
    """Every row of one plain ``SELECT``, as the driver returns them."""
    return Prepared(text(sql)).rows(conn, {})


class Scans(Protocol):
    """The large scans of one snapshot."""

    def last_seq(self) -> int:
        """The audit log's last sequence number in the scans' snapshot (read first)."""

    def versions(self) -> Iterator[list[Sequence[Any]]]:
        """The rows of :func:`versions_sql` in parts, each as columns of Python values
        (sort keys as ``bytes``)."""

    def objects_soon(self) -> Future[pa.Table]:
        """The rows of :data:`OBJECTS_SQL` as a table of ``version_id, digest, size``
        columns (the planner encodes the digests: :func:`.snapshot.object_table`), done
        when they are read: the scans go on until they are closed."""


class ScanFailed(Exception):
    """The scan worker failed (the loader reads rows instead)."""


class RowScans:
    """The scans, read from the SQLAlchemy connection's rows."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def last_seq(self) -> int:
        return last_seq(self._conn)

    def versions(self) -> Iterator[list[Sequence[Any]]]:
        rows = scan_rows(self._conn, versions_sql(self._conn.dialect.name))
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
        if columns:
            columns[SORT_KEY] = list(map(bytes, columns[SORT_KEY]))  # whatever the driver gave
        yield columns

    def objects_soon(self) -> Future[pa.Table]:
        done: Future[pa.Table] = Future()
        done.set_result(object_table(scan_rows(self._conn, OBJECTS_SQL)))
        return done


class WorkerScans:
    """The scans, read from a SQLite file as Arrow by :mod:`.scan_worker`, in one read
    transaction, while this process goes on: a thread reads each part as the worker
    finishes it."""

    def __init__(self, process: Popen[bytes], directory: Path, count: int) -> None:
        self._process, self._directory = process, directory
        self._parts: list[SimpleQueue[pa.Table | ScanFailed | None]] = [
            SimpleQueue() for _ in range(count)
        ]
        self._receiver = threading.Thread(target=self._receive, name="mvo-scan", daemon=True)
        self._receiver.start()

    def _receive(self) -> None:
        """Hand each part to its statement's queue (None after the last), and the worker's
        failure to the queues of statements it did not finish."""
        assert self._process.stdout is not None
        ended: set[int] = set()
        try:
            for line in self._process.stdout:
                statement, part = line.decode().split()
                if part == "end":
                    ended.add(int(statement))
                    self._parts[int(statement)].put(None)
                    continue
                path = self._directory / f"{statement}-{part}.arrow"
                with pa.OSFile(str(path)) as source:
                    table = pa.ipc.open_file(source).read_all()
                path.unlink()  # read into memory: the disk holds a few parts at most
                self._parts[int(statement)].put(table)
            status = self._process.wait()
            error = (self._directory / STDERR).read_text(errors="replace").strip()
            failure = ScanFailed(f"the scan worker ended with status {status}: {error}")
        except Exception as exc:  # an unreadable part or line: the worker is not trusted
            failure = ScanFailed(f"reading the scan worker's output failed: {exc!r}")
        for index, queue in enumerate(self._parts):
            if index not in ended:
                queue.put(failure)

    def _tables(self, index: int) -> Iterator[pa.Table]:
        while (table := self._parts[index].get()) is not None:
            if isinstance(table, ScanFailed):
                raise table
            yield table

    def last_seq(self) -> int:
        (table,) = self._tables(LAST_SEQ)
        return int(table.column(0)[0].as_py() or 0)

    def versions(self) -> Iterator[list[Sequence[Any]]]:
        for table in self._tables(VERSIONS):
            yield [column.to_pylist() for column in table.columns]  # binary: bytes

    def objects_soon(self) -> Future[pa.Table]:
        return in_a_thread("mvo-scan", lambda: pa.concat_tables(list(self._tables(OBJECTS))))

    def close(self) -> None:
        """Stop the worker (done, or no longer needed) and wait for it. Its standard input
        stays open until then: it closes on its own if this process ends first, and the
        worker stops when it does."""
        self._process.kill()
        self._receiver.join()
        self._process.wait()
        for pipe in (self._process.stdout, self._process.stdin):
            if pipe is not None:
                pipe.close()


@contextmanager
def worker_scans(engine: Engine) -> Iterator[WorkerScans]:
    """:class:`WorkerScans` of the SQLite registry ``engine`` opens, read by a worker
    process on a read-only connection; :class:`ScanFailed` when the worker fails."""
    uri = Path(str(engine.url.database)).absolute().as_uri() + "?mode=ro"
    statements = [LAST_SEQ_SQL, versions_sql("sqlite"), OBJECTS_SQL]  # by index
    isolated = ["-P"] if sys.version_info >= (3, 11) else []  # not the working directory
    with tempfile.TemporaryDirectory(prefix="mvo-scan-") as directory:
        command = [sys.executable, *isolated, "-m", WORKER, directory, uri, *statements]
        try:
            with open(Path(directory, STDERR), "wb") as errors:
                process = Popen(command, stdin=PIPE, stdout=PIPE, stderr=errors)
        except OSError as exc:
            raise ScanFailed(f"the scan worker did not start: {exc}") from exc
        scans = WorkerScans(process, Path(directory), len(statements))
        try:
            yield scans
        finally:
            scans.close()
