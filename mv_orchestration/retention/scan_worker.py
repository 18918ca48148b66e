"""Write query results from a SQLite file as Arrow IPC files.

Run by :func:`.scans.worker_scans` as ``python -m mv_orchestration.retention.scan_worker
DIRECTORY URI SQL...``: statement N's rows become ``DIRECTORY/N.arrow``, and N is printed
on stdout once the file is complete. All are read in one read transaction by the ADBC
SQLite driver, straight into Arrow batches. The driver carries its own copy of
SQLite, so it runs in a process of its own: two copies of SQLite in one process release
each other's file locks (https://sqlite.org/howtocorrupt.html, section 2.2.1).
"""

from __future__ import annotations

import sys
from pathlib import Path

BATCH_ROWS = "65536"  # the driver infers each column's type from the first batch


def main(argv: list[str]) -> int:
    """Run each statement of ``argv`` (``DIRECTORY URI SQL...``) and write its rows."""
    import adbc_driver_sqlite.dbapi
    import pyarrow as pa

    directory, uri, *statements = argv
    with adbc_driver_sqlite.dbapi.connect(uri) as connection, connection.cursor() as cursor:
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": BATCH_ROWS})
        for index, sql in enumerate(statements):
            cursor.execute(sql)
            reader = cursor.fetch_record_batch()
            with (
                pa.OSFile(str(Path(directory, f"{index}.arrow")), "wb") as sink,
                pa.ipc.new_file(sink, reader.schema) as writer,
            ):
                for batch in reader:
                    writer.write_batch(batch)
            print(index, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
