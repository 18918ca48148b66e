"""Lineage renderings: every format names every node and edge of the graph."""

import json
import re

import pytest

from mv_orchestration.errors import UsageError
from mv_orchestration.lineage.graph import Edge, LineageGraph, Node
from mv_orchestration.lineage.render import render, to_tree


@pytest.fixture
def graph() -> LineageGraph:
    g = LineageGraph(root="version:r2", direction="upstream")
    for node in (
        Node("version:r2", "version", "digits@1.1.0"),
        Node("version:r1", "version", "digits@1.0.0"),
        Node("dataset:d1", "dataset", "digits.parquet blake3:aa"),
        Node("code:c1", "code", "0123abcd"),
    ):
        g.add_node(node)
    g.add_edge(Edge("version:r2", "derived_from", "version:r1"))
    g.add_edge(Edge("version:r2", "trained_on", "dataset:d1"))
    g.add_edge(Edge("version:r1", "trained_on", "dataset:d1"))
    g.add_edge(Edge("version:r1", "built_from", "code:c1"))
    return g


def test_tree_walks_from_root_and_marks_shared_nodes(graph: LineageGraph) -> None:
    lines = to_tree(graph).splitlines()
    assert lines[0] == "version digits@1.1.0"
    assert any("derived_from → version digits@1.0.0" in line for line in lines)
    assert any("built_from → code 0123abcd" in line for line in lines)
    assert sum("(see above)" in line for line in lines) == 1


def test_downstream_tree_follows_edges_backwards(graph: LineageGraph) -> None:
    graph.direction = "downstream"
    graph.root = "dataset:d1"
    text = to_tree(graph)
    assert text.splitlines()[0].startswith("dataset digits.parquet")
    assert "trained_on → version digits@1.1.0" in text
    assert "trained_on → version digits@1.0.0" in text


@pytest.mark.parametrize("fmt", ["mermaid", "dot", "html"])
def test_graph_formats_contain_every_node_and_edge(graph: LineageGraph, fmt: str) -> None:
    text = render(graph, fmt)
    for node in graph.nodes.values():
        assert node.label in text
    assert text.count("derived_from") == 1
    assert text.count("trained_on") == 2


def test_json_round_trips(graph: LineageGraph) -> None:
    data = json.loads(render(graph, "json"))
    assert data["root"] == "version:r2"
    assert len(data["nodes"]) == 4 and len(data["edges"]) == 4


def test_html_is_self_contained(graph: LineageGraph) -> None:
    page = render(graph, "html")
    assert "<svg" in page and page.count('class="node"') == 4
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page


def test_html_shortens_long_labels_and_clips_them_to_their_box(graph: LineageGraph) -> None:
    label = "customer-churn-gradient-boosting@12.4.0-rc.1+build.20261127"
    graph.add_node(Node("version:long", "version", label))
    page = render(graph, "html")
    node = re.search(r'<g class="node" data-id="version:long".*?</title></g>', page)
    assert node is not None
    shown = re.findall(r'<text [^>]*font-size="13">([^<]*)</text>', node.group())
    assert shown == [label[:29] + "…"]
    assert f"<title>{label}</title>" in node.group()
    clip = re.search(r'<clipPath id="([^"]+)"><rect ([^/]+)/></clipPath><rect \2 ', node.group())
    assert clip is not None and f'clip-path="url(#{clip.group(1)})"' in node.group()
    assert (
        page.count("<clipPath ")
        == len(graph.nodes)
        == len(set(re.findall(r'clipPath id="([^"]+)"', page)))
    )
    short = re.search(r'<g class="node" data-id="version:r1".*?</title></g>', page)
    assert short is not None and ">digits@1.0.0</text>" in short.group()


def test_unknown_format_is_a_usage_error(graph: LineageGraph) -> None:
    with pytest.raises(UsageError):
        render(graph, "png")
