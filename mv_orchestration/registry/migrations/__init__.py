"""Schema migrations (Alembic), applied programmatically under a lock.

No ``alembic.ini`` is needed: :func:`upgrade` builds the Alembic configuration in code
and hands ``env.py`` an open connection. The lock is the write transaction itself on
SQLite (``BEGIN IMMEDIATE``, DDL is transactional) and a transaction-scoped advisory
lock on PostgreSQL, so many processes starting at once migrate exactly once. Alembic keeps
the running migration in module globals, so threads of one process migrate one at a time
(taken after the database lock, released before it).
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text

from mv_orchestration.errors import ConfigurationError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
_PG_MIGRATION_LOCK = 0x6D766F5F6D696772  # "mvo_migr"
_ALEMBIC = threading.Lock()  # one migration at a time in this process


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for these migrations (optionally bound to ``connection``)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def revisions() -> tuple[str, ...]:
    """Every known revision id, newest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return tuple(rev.revision for rev in script.walk_revisions())


def head() -> str:
    """The newest revision id."""
    return revisions()[0]


def current(connection: Connection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Bring the schema to :func:`head` under the migration lock; return the revision."""
    from alembic import command

    target = head()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        found = current(conn)
        if found is not None and found not in revisions():
            raise ConfigurationError(
                f"the registry schema is at revision {found!r}, which this version of "
                "mv-orchestration does not know (written by a newer one?); upgrade it"
            )
        if found != target:
            log.info("migrating the registry schema from %s to %s", found, target)
            with _ALEMBIC:
                command.upgrade(alembic_config(conn), target)
    return target


def ensure_schema(engine: Engine) -> str:
    """Upgrade only when needed: a cheap read first, the locked upgrade when behind."""
    from mv_orchestration.registry.database import READ_ONLY

    with engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
        found = current(conn)
    if found == head():
        return found
    return upgrade(engine)
