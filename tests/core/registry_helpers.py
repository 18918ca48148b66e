"""Helpers shared by the registry tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blake3 import blake3
from sqlalchemy import func, select

from mv_orchestration.registry import Registry, schema


def model_dir(root: Path, content: str, name: str = "model") -> Path:
    """A tiny model directory whose bytes depend on ``content``."""
    path = root / f"{name}-{blake3(content.encode()).hexdigest()[:16]}"
    path.mkdir(parents=True, exist_ok=True)
    (path / "weights.bin").write_text(f"weights for {content}")
    (path / "config").mkdir(exist_ok=True)
    (path / "config" / "model.json").write_text(f'{{"content": "{content}"}}')
    return path


def register(
    registry: Registry,
    model: str,
    root: Path,
    content: str = "v1",
    *,
    params: dict[str, Any] | None = None,
    context: Any = None,
    **kwargs: Any,
) -> Any:
    """Register a tiny model through a real run; returns the ModelVersion."""
    with registry.run(model, seed=7, context=context) as run:
        run.log_params(params if params is not None else {"content": content})
        return run.register_model(model_dir(root, content), **kwargs)


def row_counts(registry: Registry) -> dict[str, int]:
    """Rows in every registry table."""
    with registry.engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in schema.metadata.sorted_tables
        }


def store_files(store_root: Path) -> set[str]:
    """Every file below a local store root."""
    if not store_root.exists():
        return set()
    return {str(p.relative_to(store_root)) for p in store_root.rglob("*") if p.is_file()}


def drop_immutability_triggers(engine: Any) -> None:
    """Remove the immutability triggers, as an attacker with DDL rights could."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT tgname, relname FROM pg_trigger JOIN pg_class ON pg_class.oid = tgrelid "
                "WHERE NOT tgisinternal"
            ).all()
            for name, table in rows:
                conn.exec_driver_sql(f'DROP TRIGGER "{name}" ON "{table}"')
        else:
            names = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            ).scalars()
            for name in list(names):
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')


def version_id(registry: Registry, ref: str) -> int:
    """The database id of the version ``ref`` names."""
    record_id = registry.resolve(ref).record_id
    with registry.engine.connect() as conn:
        return int(
            conn.execute(
                select(schema.versions.c.id).where(schema.versions.c.record_id == record_id)
            ).scalar_one()
        )


def stored_object(registry: Registry, digest: str) -> Path:
    """The file of a local store object."""
    root = Path(registry.store.url.removeprefix("file://"))
    return root / registry.store.object_path(digest)


def process_context() -> Any:
    """Fresh worker processes (no inherited connections or state), started quickly: a
    forkserver that has already imported the registry."""
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["mv_orchestration.registry.registry", "mv_orchestration.capture"])
    return ctx
