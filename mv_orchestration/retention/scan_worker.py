"""Write query results from a SQLite file as Arrow IPC files, a part at a time.

Run by :func:`.scans.worker_scans` as ``python -m mv_orchestration.retention.scan_worker
DIRECTORY URI SQL...``: part P of statement N's rows becomes ``DIRECTORY/N-P.arrow``, and
``N P`` is printed on stdout once the file is complete (``N end`` after the last part),
so the reader can use each part while the next is read. All are read in one read
transaction by the ADBC SQLite driver, straight into Arrow batches. The driver carries
its own copy of SQLite, so it runs in a process of its own: two copies of SQLite in one
process release each other's file locks (https://sqlite.org/howtocorrupt.html, section
2.2.1).

The worker stops, and removes DIRECTORY, as soon as its standard input closes: the
process that started it has ended (or no longer needs it).
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path

BATCH_ROWS = 65536
"""Rows per batch. The driver infers each column's type from the first batch, so every
selected column must be of one type and never NULL (COALESCE it)."""
PART_BATCHES = 2  # batches per part
BUSY_TIMEOUT_MS = 30_000  # as long as the registry's own connections wait


def _stop_when_stdin_closes(directory: str) -> None:
    sys.stdin.buffer.read()  # returns at end of file
    shutil.rmtree(directory, ignore_errors=True)
    os._exit(1)


def main(argv: list[str]) -> int:
    """Run each statement of ``argv`` (``DIRECTORY URI SQL...``) and write its rows."""
    import adbc_driver_sqlite.dbapi
    import pyarrow as pa

    directory, uri, *statements = argv
    threading.Thread(target=_stop_when_stdin_closes, args=(directory,), daemon=True).start()
    with adbc_driver_sqlite.dbapi.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")  # reads nothing yet
        cursor.fetchall()
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
        for index, sql in enumerate(statements):
            cursor.execute(sql)
            reader = cursor.fetch_record_batch()
            batches = iter(reader)
            part = 0
            while True:
                chunk = [batch for _, batch in zip(range(PART_BATCHES), batches, strict=False)]
                if part and not chunk:
                    break
                path = str(Path(directory, f"{index}-{part}.arrow"))
                with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, reader.schema) as out:
                    for batch in chunk:
                        out.write_batch(batch)
                print(index, part, flush=True)
                part += 1
            print(index, "end", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
