"""The lineage graph: typed nodes and relation edges around one root."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

NodeKind = Literal["version", "dataset", "code", "config", "run", "model"]
Direction = Literal["upstream", "downstream"]


@dataclass(frozen=True)
class Node:
    """One thing in the graph: a model version, a dataset digest, a commit, a config, a run."""

    id: str
    kind: str
    label: str


@dataclass(frozen=True)
class Edge:
    """``source`` -[relation]-> ``target``, e.g. a version ``trained_on`` a dataset."""

    source: str
    relation: str
    target: str


@dataclass
class LineageGraph:
    """Nodes and edges reached from ``root`` in one direction."""

    root: str
    direction: Direction
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def add_node(self, node: Node) -> None:
        self.nodes.setdefault(node.id, node)

    def add_edge(self, edge: Edge) -> None:
        if edge not in self.edges:
            self.edges.append(edge)

    def children(self, node_id: str) -> Iterator[tuple[str, str]]:
        """(relation, neighbour) pairs leading away from ``node_id`` in the graph's direction."""
        for edge in self.edges:
            if self.direction == "upstream" and edge.source == node_id:
                yield edge.relation, edge.target
            elif self.direction == "downstream" and edge.target == node_id:
                yield edge.relation, edge.source

    def to_json(self) -> dict[str, object]:
        return {
            "root": self.root,
            "direction": self.direction,
            "nodes": [vars(n) for n in self.nodes.values()],
            "edges": [vars(e) for e in self.edges],
        }
