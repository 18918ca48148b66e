"""Lineage graph renderings: text tree, Mermaid, Graphviz DOT, JSON and a standalone HTML page."""

from __future__ import annotations

import html
import json
from collections.abc import Callable

from mv_orchestration.lineage.graph import LineageGraph

FORMATS = ("tree", "mermaid", "dot", "json", "html")


def render(graph: LineageGraph, fmt: str) -> str:
    """Render ``graph`` in one of :data:`FORMATS`."""
    renderers: dict[str, Callable[[LineageGraph], str]] = {
        "tree": to_tree,
        "mermaid": to_mermaid,
        "dot": to_dot,
        "json": lambda g: json.dumps(g.to_json(), indent=2, sort_keys=True),
        "html": to_html,
    }
    try:
        return renderers[fmt](graph)
    except KeyError:
        from mv_orchestration.errors import UsageError

        raise UsageError(
            f"unknown lineage format {fmt!r}; choose one of {', '.join(FORMATS)}"
        ) from None


def _title(graph: LineageGraph, node_id: str) -> str:
    node = graph.nodes.get(node_id)
    return f"{node.kind} {node.label}" if node else node_id


def to_tree(graph: LineageGraph) -> str:
    """An indented text tree from the root; a node seen before is marked, not repeated."""
    lines = [_title(graph, graph.root)]
    seen = {graph.root}

    def walk(node_id: str, prefix: str) -> None:
        children = list(graph.children(node_id))
        for i, (relation, child) in enumerate(children):
            last = i == len(children) - 1
            again = child in seen
            lines.append(
                f"{prefix}{'└── ' if last else '├── '}{relation} → {_title(graph, child)}"
                + (" (see above)" if again else "")
            )
            if not again:
                seen.add(child)
                walk(child, prefix + ("    " if last else "│   "))

    walk(graph.root, "")
    return "\n".join(lines)


def _short_ids(graph: LineageGraph) -> dict[str, str]:
    return {node_id: f"n{i}" for i, node_id in enumerate(graph.nodes)}


def to_mermaid(graph: LineageGraph) -> str:
    """A Mermaid flowchart (renders in GitHub, Prefect and Dagster markdown)."""
    ids = _short_ids(graph)
    lines = ["graph LR"]
    for node_id, node in graph.nodes.items():
        label = f"{node.kind}: {node.label}".replace('"', "'")
        lines.append(f'    {ids[node_id]}["{label}"]')
    for edge in graph.edges:
        lines.append(f"    {ids[edge.source]} -->|{edge.relation}| {ids[edge.target]}")
    return "\n".join(lines)


def to_dot(graph: LineageGraph) -> str:
    """A Graphviz digraph."""
    ids = _short_ids(graph)
    lines = ["digraph lineage {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
    for node_id, node in graph.nodes.items():
        label = json.dumps(f"{node.kind}\n{node.label}")
        lines.append(f"  {ids[node_id]} [label={label}];")
    for edge in graph.edges:
        lines.append(
            f"  {ids[edge.source]} -> {ids[edge.target]} [label={json.dumps(edge.relation)}];"
        )
    lines.append("}")
    return "\n".join(lines)


_COLOURS = {
    "version": "#dbeafe",
    "dataset": "#dcfce7",
    "code": "#fef9c3",
    "config": "#fce7f3",
    "run": "#ede9fe",
}


_LABEL_CHARS = 30  # characters of a label that fit a 240 px box at 13 px


def to_html(graph: LineageGraph) -> str:
    """One self-contained page drawing the graph as inline SVG (no network needed)."""
    depth = _depths(graph)
    columns: dict[int, list[str]] = {}
    for node_id in graph.nodes:
        columns.setdefault(depth.get(node_id, 0), []).append(node_id)
    width, height, gap_x, gap_y = 240, 44, 90, 26
    pos = {
        node_id: (20 + col * (width + gap_x), 20 + row * (height + gap_y))
        for col, members in columns.items()
        for row, node_id in enumerate(members)
    }
    total_w = 40 + (max(columns, default=0) + 1) * (width + gap_x)
    total_h = 40 + max((len(m) for m in columns.values()), default=1) * (height + gap_y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for edge in graph.edges:
        (x1, y1), (x2, y2) = pos[edge.source], pos[edge.target]
        if depth.get(edge.source, 0) > depth.get(edge.target, 0):
            (x1, y1), (x2, y2) = (x2, y2), (x1, y1)
        sx, sy, tx, ty = x1 + width, y1 + height / 2, x2, y2 + height / 2
        parts.append(
            f'<g class="edge"><line x1="{sx}" y1="{sy}" x2="{tx}" y2="{ty}" stroke="#555" '
            f'marker-end="url(#arrow)"/><text x="{(sx + tx) / 2}" y="{(sy + ty) / 2 - 4}" '
            f'font-size="11" text-anchor="middle" fill="#333">'
            f"{html.escape(edge.relation)}</text></g>"
        )
    for index, (node_id, node) in enumerate(graph.nodes.items()):
        x, y = pos[node_id]
        fill = _COLOURS.get(node.kind, "#f3f4f6")
        stroke = "#1d4ed8" if node_id == graph.root else "#6b7280"
        box = f'x="{x}" y="{y}" width="{width}" height="{height}" rx="6"'
        parts.append(
            f'<g class="node" data-id="{html.escape(node_id)}" '
            f'data-kind="{html.escape(node.kind)}">'
            f'<clipPath id="node-clip-{index}"><rect {box}/></clipPath>'
            f'<rect {box} fill="{fill}" stroke="{stroke}"/>'
            f'<g clip-path="url(#node-clip-{index})">'
            f'<text x="{x + 8}" y="{y + 17}" font-size="11" fill="#555">'
            f'{html.escape(node.kind)}</text><text x="{x + 8}" y="{y + 34}" font-size="13">'
            f"{html.escape(_fitted(node.label))}</text></g>"
            f"<title>{html.escape(node.label)}</title></g>"
        )
    parts.append("</svg>")
    title = html.escape(_title(graph, graph.root))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Lineage of {title}</title>"
        "<style>body{font-family:Helvetica,Arial,sans-serif;margin:24px}</style></head><body>"
        f"<h1>Lineage of {title}</h1><p>{html.escape(graph.direction)}, "
        f"{len(graph.nodes)} nodes, {len(graph.edges)} edges</p>"
        + "".join(parts)
        + "</body></html>"
    )


def _fitted(label: str) -> str:
    """``label`` shortened with an ellipsis to what a node box shows (the box clips the
    rest; its tooltip holds the whole label)."""
    if len(label) <= _LABEL_CHARS:
        return label
    return label[: _LABEL_CHARS - 1] + "…"


def _depths(graph: LineageGraph) -> dict[str, int]:
    """Breadth-first distance of every node from the root."""
    depth = {graph.root: 0}
    frontier = [graph.root]
    while frontier:
        nxt = []
        for node_id in frontier:
            for _, child in graph.children(node_id):
                if child not in depth:
                    depth[child] = depth[node_id] + 1
                    nxt.append(child)
        frontier = nxt
    return depth
