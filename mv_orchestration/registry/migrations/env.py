"""Alembic environment: runs on the connection that :func:`upgrade` passes in."""

from __future__ import annotations

from alembic import context

from mv_orchestration.registry.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run registry migrations through mv_orchestration.registry.migrations.upgrade "
        "(or `mvo db upgrade`), which supplies the connection and the lock"
    )
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
