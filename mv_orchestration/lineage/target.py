"""Resolve what a user asks the lineage of: a version reference, a dataset path or digest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mv_orchestration.lineage.graph import Direction, LineageGraph
from mv_orchestration.lineage.query import walk

if TYPE_CHECKING:
    from mv_orchestration.registry import Registry

DIGEST_ALGOS = ("blake3:", "sha256:")


def lineage(
    registry: Registry,
    target: str,
    direction: Direction | None = None,
    depth: int | None = None,
) -> LineageGraph:
    """The lineage graph of ``target``.

    ``target`` is a version reference (``MODEL@VERSION``, ``MODEL@ALIAS``, a record digest
    prefix), a dataset digest (``algo:hex``) or the path of a dataset on disk. Versions
    default to ``upstream`` (what went into them), datasets to ``downstream`` (which
    versions were trained on them).
    """
    kind, key = _endpoint(registry, target)
    chosen: Direction = direction or ("upstream" if kind == "version" else "downstream")
    with registry.engine.connect() as conn:
        return walk(conn, kind, key, chosen, depth)


def _endpoint(registry: Registry, target: str) -> tuple[str, str]:
    if target.startswith(DIGEST_ALGOS) and "@" not in target:
        if _is_dataset_digest(registry, target):
            return "dataset", target
        return "version", registry.resolve(target).record_id
    path = Path(target)
    if "@" not in target and path.exists():
        from mv_orchestration.hashing.dataset import describe_dataset

        return "dataset", describe_dataset(path.name, path).digest
    return "version", registry.resolve(target).record_id


def _is_dataset_digest(registry: Registry, digest: str) -> bool:
    from sqlalchemy import select

    from mv_orchestration.registry import schema

    edges = schema.lineage_edges
    with registry.engine.connect() as conn:
        row = conn.execute(
            select(edges.c.id).where(edges.c.dst_kind == "dataset", edges.c.dst == digest).limit(1)
        ).first()
    return row is not None
