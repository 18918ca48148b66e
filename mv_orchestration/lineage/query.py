"""Lineage queries over the registry's edge table, to any depth (recursive SQL).

Upstream from a version: everything that went into it — datasets, code, config, run and
parent versions, and their inputs in turn. Downstream from a dataset digest or a version:
every version trained on that dataset or derived from that version, transitively.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import and_, literal, select

from mv_orchestration.lineage.graph import Direction, Edge, LineageGraph, Node
from mv_orchestration.registry import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

MAX_DEPTH = 100


def node_id(kind: str, key: str) -> str:
    """The graph id of a registry lineage endpoint."""
    return f"{kind}:{key}"


def walk(
    conn: Connection, kind: str, key: str, direction: Direction, depth: int | None = None
) -> LineageGraph:
    """The lineage graph reached from (``kind``, ``key``) in ``direction``."""
    edges_t = schema.lineage_edges
    limit = MAX_DEPTH if depth is None else max(depth, 0)
    src, dst = (edges_t.c.src_kind, edges_t.c.src), (edges_t.c.dst_kind, edges_t.c.dst)
    near, far = (src, dst) if direction == "upstream" else (dst, src)
    start = select(
        literal(kind).label("kind"), literal(key).label("key"), literal(0).label("depth")
    ).cte("walk", recursive=True)
    step = select(far[0], far[1], start.c.depth + 1).where(
        and_(near[0] == start.c.kind, near[1] == start.c.key, start.c.depth < limit)
    )
    reached = start.union(step)
    rows = conn.execute(
        select(
            edges_t.c.src_kind, edges_t.c.src, edges_t.c.relation, edges_t.c.dst_kind, edges_t.c.dst
        )
        .join(reached, and_(near[0] == reached.c.kind, near[1] == reached.c.key))
        .where(reached.c.depth < limit)
        .distinct()
    ).all()
    graph = LineageGraph(root=node_id(kind, key), direction=direction)
    endpoints = {(kind, key)}
    for src_kind, src, relation, dst_kind, dst in rows:
        endpoints |= {(src_kind, src), (dst_kind, dst)}
        graph.add_edge(Edge(node_id(src_kind, src), relation, node_id(dst_kind, dst)))
    for node in _label(conn, endpoints):
        graph.add_node(node)
    return graph


def _label(conn: Connection, endpoints: set[tuple[str, str]]) -> list[Node]:
    """Readable labels: ``model@version`` for versions, dataset names where records say."""
    record_ids = [key for kind, key in endpoints if kind == "version"]
    versions: dict[str, tuple[str, str]] = {}
    dataset_names: dict[str, str] = {}
    if record_ids:
        v, m, r = schema.versions, schema.models, schema.records
        rows = conn.execute(
            select(v.c.record_id, m.c.name, v.c.version, r.c.body)
            .join(m, m.c.id == v.c.model_id)
            .join(r, r.c.record_id == v.c.record_id)
            .where(v.c.record_id.in_(record_ids))
        ).all()
        for record_id, model, version, body in rows:
            versions[record_id] = (model, version)
            for dataset in json.loads(body).get("datasets", []):
                dataset_names.setdefault(dataset["digest"], dataset.get("uri") or dataset["name"])
    nodes = []
    for kind, key in sorted(endpoints):
        if kind == "version" and key in versions:
            label = "@".join(versions[key])
        elif kind == "dataset":
            label = f"{dataset_names.get(key, '')} {key[:19]}".strip()
        else:
            label = key if len(key) <= 40 else key[:40] + "…"
        nodes.append(Node(node_id(kind, key), kind, label))
    return nodes
