"""Schema, migrations, backend settings and the database-level immutability rules."""

from __future__ import annotations

import logging
import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from mv_orchestration.errors import ConfigurationError
from mv_orchestration.registry import schema
from mv_orchestration.registry.audit import append_event
from mv_orchestration.registry.clock import utcnow
from mv_orchestration.registry.database import READ_ONLY, create_registry_engine
from mv_orchestration.registry.migrations import alembic_config, current, ensure_schema, head
from mv_orchestration.registry.semver import sort_key

pytest_plugins = ["tests.core.registry_fixtures"]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_registry_engine(db_url)
    ensure_schema(eng)
    try:
        yield eng
    finally:
        eng.dispose()


def _seed_rows(engine: Engine) -> None:
    """One model, record, version, alias move, hold and audit event, written directly."""
    now = utcnow()
    with engine.begin() as conn:
        model_id = conn.execute(
            schema.models.insert().values(name="m", created_at=now).returning(schema.models.c.id)
        ).scalar_one()
        conn.execute(schema.records.insert().values(record_id="r1", body="{}", created_at=now))
        conn.execute(
            schema.versions.insert().values(
                id=1,
                model_id=model_id,
                version="1.0.0",
                sort_key=sort_key("1.0.0"),
                record_id="r1",
                content_digest="c",
                artifact_digest="a",
                params_digest="p",
                features_digest="f",
                datasets_digest="d",
                signature_digest="s",
                created_at=now,
                status="active",
            )
        )
        conn.execute(
            schema.alias_history.insert().values(
                id=1,
                model_id=model_id,
                alias="production",
                action="set",
                to_version_id=1,
                at=now,
                actor="t",
            )
        )
        conn.execute(
            schema.holds.insert().values(id=1, version_id=1, reason="r", actor="t", created_at=now)
        )
        conn.execute(
            schema.lineage_edges.insert().values(
                src_kind="version",
                src="r1",
                relation="built_from",
                dst_kind="code",
                dst="abc",
                created_at=now,
            )
        )
        append_event(conn, "test", "m@1.0.0", {"n": 1}, "t")


def test_migration_builds_the_declared_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        assert current(conn) == head()
        assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []


def test_ensure_schema_is_cheap_when_current(engine: Engine) -> None:
    assert ensure_schema(engine) == head()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1


def test_downgrade_then_upgrade(engine: Engine) -> None:
    _seed_rows(engine)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    with engine.connect() as conn:
        assert current(conn) is None
    assert ensure_schema(engine) == head()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM versions")).scalar() == 0


def test_threads_migrating_fresh_registries_at_once_each_get_their_schema(
    tmp_path: Path,
) -> None:
    engines = [create_registry_engine(f"sqlite:///{tmp_path / f'r{i}.db'}") for i in range(4)]
    start = threading.Barrier(len(engines))
    outcomes: list[object] = []

    def migrate(engine: Engine) -> None:
        start.wait()
        try:
            outcomes.append(ensure_schema(engine))
        except Exception as exc:  # reported below, with the others
            outcomes.append(exc)

    threads = [threading.Thread(target=migrate, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [head()] * len(engines)
    for engine in engines:
        with engine.connect() as conn:
            assert current(conn) == head()
            assert not compare_metadata(MigrationContext.configure(conn), schema.metadata)
        engine.dispose()


def test_a_newer_schema_is_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(ConfigurationError, match="9999_future"):
        ensure_schema(engine)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE records SET body = '{\"x\": 1}'",
        "DELETE FROM records",
        "UPDATE audit_events SET actor = 'mallory'",
        "DELETE FROM audit_events",
        "UPDATE alias_history SET to_version_id = NULL",
        "DELETE FROM alias_history",
        "UPDATE lineage_edges SET dst = 'other'",
        "DELETE FROM lineage_edges",
        "UPDATE models SET name = 'other'",
        "DELETE FROM versions",
        "UPDATE versions SET version = '9.9.9'",
        "UPDATE versions SET record_id = 'r2'",
        "UPDATE versions SET status = 'purged'",
        "UPDATE versions SET status_reason = 'edited'",
        "UPDATE holds SET reason = 'other'",
        "DELETE FROM holds",
    ],
)
def test_database_refuses_changes_to_immutable_rows(engine: Engine, statement: str) -> None:
    _seed_rows(engine)
    with pytest.raises(DBAPIError, match="mvo: "), engine.begin() as conn:
        conn.execute(text(statement))


@pytest.mark.postgres
def test_postgres_refuses_truncate(postgres_url: str) -> None:
    eng = create_registry_engine(postgres_url)
    ensure_schema(eng)
    try:
        for table in ("records", "audit_events", "alias_history", "versions", "holds"):
            with pytest.raises(DBAPIError, match="mvo: "), eng.begin() as conn:
                conn.execute(text(f"TRUNCATE {table} CASCADE"))
    finally:
        eng.dispose()


def test_version_status_only_moves_forward(engine: Engine) -> None:
    _seed_rows(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE versions SET status = 'tombstoned', status_reason = 'plan'"))
    with pytest.raises(DBAPIError, match="mvo: "), engine.begin() as conn:
        conn.execute(text("UPDATE versions SET status = 'active'"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE versions SET status = 'purged'"))
        assert conn.execute(text("SELECT status FROM versions")).scalar() == "purged"


def test_hold_is_released_once(engine: Engine) -> None:
    _seed_rows(engine)
    with engine.begin() as conn:
        conn.execute(schema.holds.update().values(released_at=utcnow(), released_by="t"))
    with pytest.raises(DBAPIError, match="mvo: "), engine.begin() as conn:
        conn.execute(schema.holds.update().values(released_at=utcnow(), released_by="u"))


@pytest.mark.parametrize(("query", "synchronous"), [("", 1), ("?synchronous=full", 2)])
def test_sqlite_connection_settings(tmp_path: Path, query: str, synchronous: int) -> None:
    eng = create_registry_engine(f"sqlite:///{tmp_path / 'r.db'}{query}")
    try:
        with eng.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        assert pragmas == {
            "journal_mode": "wal",
            "synchronous": synchronous,
            "foreign_keys": 1,
            "busy_timeout": 30000,
        }
    finally:
        eng.dispose()


def test_sqlite_write_transactions_take_the_lock_at_begin(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    eng = create_registry_engine(f"sqlite:///{path}")
    ensure_schema(eng)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with eng.begin() as conn:
            conn.execute(text("SELECT 1"))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        connection = eng.connect().execution_options(**{READ_ONLY: True})
        with connection as conn, conn.begin():
            conn.execute(text("SELECT count(*) FROM models"))
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()
        eng.dispose()


def test_network_filesystem_is_refused(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    target = tmp_path / "shared"
    spaced = str(tmp_path / "with space").replace(" ", "\\040")
    mounts.write_text(
        "overlay / overlay rw 0 0\n"
        f"server:/export {target} nfs4 rw,relatime 0 0\n"
        f"//host/share {tmp_path / 'smb'} cifs rw 0 0\n"
        f"user@host:/x {spaced} fuse.sshfs rw 0 0\n"
    )
    for directory in (target, tmp_path / "smb", tmp_path / "with space"):
        directory.mkdir()
        with pytest.raises(ConfigurationError, match="network filesystem"):
            create_registry_engine(
                f"sqlite:///{directory / 'sub' / 'registry.db'}", mounts_path=str(mounts)
            )
        assert not (directory / "sub").exists()
    create_registry_engine(
        f"sqlite:///{tmp_path / 'local' / 'registry.db'}", mounts_path=str(mounts)
    ).dispose()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:////tmp/x.db?synchronous=off",
        "mysql://u@h/db",
        "postgresql+psycopg2://u@h/db",
        "::",
    ],
)
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        create_registry_engine(url)


def _first_use_worker(url: str, store_url: str, start: Any, results: Any) -> None:
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("mv_orchestration.registry.migrations")
    logger.addHandler(Collect())
    logger.setLevel(logging.INFO)
    from mv_orchestration.registry.registry import connect

    start.wait(60)
    try:
        connect(url, store_url).close()
    except Exception as exc:
        results.put((False, f"{type(exc).__name__}: {exc}"))
        return
    results.put((any(m.startswith("migrating") for m in messages), ""))


def test_many_processes_on_an_empty_database_migrate_once(db_url: str, tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    store_url = (tmp_path / "store").as_uri()
    workers = [
        ctx.Process(target=_first_use_worker, args=(db_url, store_url, start, results))
        for _ in range(16)
    ]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert [err for _, err in outcomes if err] == []
    assert sum(migrated for migrated, _ in outcomes) == 1
    eng = create_registry_engine(db_url)
    try:
        with eng.connect() as conn:
            assert current(conn) == head()
    finally:
        eng.dispose()
