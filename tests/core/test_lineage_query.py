"""Lineage queries (recursive SQL) on SQLite and PostgreSQL: upstream to any depth,
downstream from a dataset or a parent version, depth limits."""

from __future__ import annotations

from pathlib import Path

from mv_orchestration.lineage.target import lineage
from mv_orchestration.registry import ModelVersion, Registry
from tests.core.registry_helpers import model_dir

pytest_plugins = ["tests.core.registry_fixtures"]


def train(
    registry: Registry,
    tmp_path: Path,
    model: str,
    content: str,
    data: Path,
    parent: ModelVersion | None = None,
) -> ModelVersion:
    with registry.run(model, seed=1) as run:
        run.log_params({"content": content})
        run.log_dataset("train", data)
        return run.register_model(model_dir(tmp_path, content), parent=parent)


def version_node(mv: ModelVersion) -> str:
    return f"version:{mv.record_id}"


def test_upstream_downstream_and_depth(registry: Registry, tmp_path: Path) -> None:
    shared = tmp_path / "shared.csv"
    shared.write_text("x\n1\n")
    extra = tmp_path / "extra.csv"
    extra.write_text("y\n2\n")
    base = train(registry, tmp_path, "base", "b1", shared)
    tuned = train(registry, tmp_path, "tuned", "t1", extra, parent=base)
    distilled = train(registry, tmp_path, "small", "s1", extra, parent=tuned)
    unrelated = train(registry, tmp_path, "other", "o1", extra)

    up = lineage(registry, distilled.ref)
    assert up.direction == "upstream"
    assert {version_node(tuned), version_node(base)} <= set(up.nodes)
    shared_digest = next(
        n for n in up.nodes.values() if n.kind == "dataset" and "shared" in n.label
    )
    assert shared_digest.id.startswith("dataset:")  # reached through two derivations

    one_level = lineage(registry, distilled.ref, depth=1)
    assert version_node(tuned) in one_level.nodes
    assert version_node(base) not in one_level.nodes

    down = lineage(registry, str(shared))  # a dataset path: every version trained on it
    reached = {n.label for n in down.nodes.values() if n.kind == "version"}
    assert reached == {base.ref, tuned.ref, distilled.ref}
    assert unrelated.ref not in reached

    from_parent = lineage(registry, base.ref, direction="downstream")
    assert {n.label for n in from_parent.nodes.values() if n.kind == "version"} == {
        base.ref,
        tuned.ref,
        distilled.ref,
    }
