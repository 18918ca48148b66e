"""Version diffs between real records of a real registry (both backends)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mv_orchestration.lineage.diff import RecordDiff, diff_records, flatten
from mv_orchestration.lineage.pep440 import compare_versions, version_key
from mv_orchestration.registry import Registry
from tests.core.lineage_helpers import (
    code_repo,
    fake_distribution,
    git,
    isolated_git,  # noqa: F401
    train_version,
)

pytest_plugins = ["tests.core.registry_fixtures"]
pytestmark = pytest.mark.usefixtures("isolated_git")


def test_everything_that_changed_is_reported(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, module = code_repo(tmp_path / "code")
    site_a, site_b = tmp_path / "site-a", tmp_path / "site-b"
    fake_distribution(site_a, "mvo-test-alpha", "1.0")
    fake_distribution(site_a, "mvo-test-beta", "2.0rc1")
    fake_distribution(site_a, "mvo-test-gamma", "1.0", vcs_commit="a" * 40)
    fake_distribution(site_a, "mvo-test-delta", "1.0")
    fake_distribution(site_b, "mvo-test-alpha", "1.2")
    fake_distribution(site_b, "mvo-test-beta", "1.9")
    fake_distribution(site_b, "mvo-test-gamma", "1.0", vcs_commit="b" * 40)
    fake_distribution(site_b, "mvo-test-epsilon", "0.1")

    monkeypatch.syspath_prepend(str(site_a))
    first_commit = git(repo, "rev-parse", "HEAD")
    a = train_version(
        registry,
        tmp_path,
        seed=1,
        params={"lr": 0.1, "optimizer": {"name": "adam", "beta1": 0.9}, "layers": [64, 32]},
        rows=10,
        content="a",
        code_of=module.train,
    )
    monkeypatch.syspath_prepend(str(site_b))
    sys.path.remove(str(site_a))
    (repo / "pipeline.py").write_text("def train(rows):\n    return max(rows)\n")
    git(repo, "commit", "-q", "-am", "use max")
    (repo / "pipeline.py").write_text("def train(rows):\n    return min(rows)\n")  # dirty
    b = train_version(
        registry,
        tmp_path,
        seed=2,
        params={"lr": 0.2, "optimizer": {"name": "adam"}, "layers": [64, 32], "dropout": 0.1},
        rows=12,
        content="b",
        code_of=module.train,
        extra_column=True,
    )
    diff = diff_records(registry.record(a.ref), registry.record(b.ref))

    assert (diff.a, diff.b, diff.same_content, diff.empty) == (a.ref, b.ref, False, False)
    assert [(c.path, c.change, c.old, c.new) for c in diff.params] == [
        ("dropout", "added", None, 0.1),
        ("lr", "changed", 0.1, 0.2),
        ("optimizer.beta1", "removed", 0.9, None),
    ]
    assert diff.features == []
    assert [(c.path, c.old, c.new) for c in diff.metrics] == [("accuracy", 0.51, 0.512)]
    assert [c.path for c in diff.artifacts] == ["artifacts"]

    datasets = {d.name: d for d in diff.datasets}
    assert set(datasets) == {"train", "labels"}
    table = datasets["train"]
    assert (table.change, table.old_rows, table.new_rows) == ("changed", 10, 12)
    assert [(c.path, c.change, c.new) for c in table.columns] == [("weight", "added", "double")]
    old_digests = {d.name: d.digest for d in registry.record(a.ref).datasets}
    assert table.old_digest == old_digests["train"]
    assert datasets["labels"].columns == [] and datasets["labels"].old_rows is None

    packages = {p.name: p for p in diff.packages if p.name.startswith("mvo-test-")}
    assert {n: p.change for n, p in packages.items()} == {
        "mvo-test-alpha": "upgraded",
        "mvo-test-beta": "downgraded",
        "mvo-test-gamma": "changed",
        "mvo-test-delta": "removed",
        "mvo-test-epsilon": "added",
    }
    assert packages["mvo-test-alpha"].old == "1.0" and packages["mvo-test-alpha"].new == "1.2"
    assert packages["mvo-test-gamma"].new == "1.0 (git bbbbbbbbbbbb)"
    assert [p for p in diff.packages if not p.name.startswith("mvo-test-")] == []

    code = {c.path: c for c in diff.code}
    assert code["commit"].old == first_commit and code["commit"].new == git(
        repo, "rev-parse", "HEAD"
    )
    assert (code["dirty"].old, code["dirty"].new) == (False, True)
    assert code["diff_digest"].old is None and code["diff_digest"].new.startswith("blake3:")
    assert "source_digest" in code

    seeds = {c.path: c for c in diff.seeds}
    assert (seeds["seed"].old, seeds["seed"].new) == (1, 2)
    assert diff.environment == [] and diff.hardware == []
    assert RecordDiff.model_validate(json.loads(json.dumps(diff.to_json()))) == diff


def test_a_version_against_itself_is_empty(registry: Registry, tmp_path: Path) -> None:
    a = train_version(registry, tmp_path, seed=3, params={"lr": 0.1}, rows=5, content="x")
    again = train_version(registry, tmp_path, seed=3, params={"lr": 0.1}, rows=5, content="x")
    assert again.version == a.version and again.created is False
    diff = diff_records(registry.record(a.ref), registry.record(a.ref))
    assert diff.empty and diff.same_content


def test_flatten_names_awkward_keys() -> None:
    assert flatten({"a": {"b.c": 1, "": 2, "d": {}}, "l": [1, {"x": 1}]}) == {
        'a["b.c"]': 1,
        'a[""]': 2,
        "a.d": {},
        "l": [1, {"x": 1}],
    }


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("1.0", "1.0.0", 0),
        ("1.9", "1.10", 1),
        ("1.0", "1.0.post1", 1),
        ("1.0rc1", "1.0", 1),
        ("1.0a1", "1.0b1", 1),
        ("1.0.dev1", "1.0a1", 1),
        ("1.0a2.dev1", "1.0a2", 1),
        ("1.0.post1.dev0", "1.0.post1", 1),
        ("1.0", "1.0+local.1", 1),
        ("1.0+abc", "1.0+1", 1),
        ("1!0.1", "2.0", -1),
        ("2.0", "1.99", -1),
        ("1.0-1", "1.0.post1", 0),
        ("1.0.0-beta.2", "1.0.0b2", 0),
        ("2024.1.15", "2024.01.16", 1),
        ("not-a-version", "1.0", None),
        ("same-text", "same-text", 0),
    ],
)
def test_pep440_ordering(old: str, new: str, expected: int | None) -> None:
    assert compare_versions(old, new) == expected


def test_pep440_rejects_garbage() -> None:
    assert version_key("1.0.0.") is None and version_key("") is None
