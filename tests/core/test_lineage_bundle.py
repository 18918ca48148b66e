"""Rebuild bundles of real versions, and checks of them against real environments, git
work trees and data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mv_orchestration.capture import RunContext
from mv_orchestration.errors import MissingObjectError, RefusedError, ValidationError
from mv_orchestration.hashing.digest import digest_bytes
from mv_orchestration.lineage.bundle import load_bundle, requirements_lock, write_bundle
from mv_orchestration.lineage.bundle_check import check_bundle
from mv_orchestration.registry import Registry
from tests.core.lineage_helpers import (
    code_repo,
    fake_distribution,
    git,
    isolated_git,  # noqa: F401
    model_files,
    write_table,
)

pytest_plugins = ["tests.core.registry_fixtures"]
pytestmark = pytest.mark.usefixtures("isolated_git")

CONTEXT = RunContext(
    orchestrator="dagster",
    pipeline="training_job",
    run_id="6f1c2a52-0d39-4c1e-9f0e-6d8f3f5f8d11",
    asset_key="models/churn",
    partition_key="2026-01-01",
)


@pytest.fixture
def trained(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A version trained from a dirty git work tree, on a table and a file, with a VCS
    dependency installed."""
    site = tmp_path / "site"
    fake_distribution(site, "mvo-test-vcs", "0.3", vcs_commit="c" * 40)
    monkeypatch.syspath_prepend(str(site))
    repo, module = code_repo(tmp_path / "code")
    (repo / "pipeline.py").write_text("def train(rows):\n    return len(rows)  # tuned\n")
    table = write_table(tmp_path / "train.parquet", 30)
    labels = tmp_path / "labels.txt"
    labels.write_text("ok\n")
    with registry.run("churn", seed=1234, code_of=module.train, context=CONTEXT) as run:
        run.log_params({"lr": 0.05, "trees": {"n": 10}})
        run.log_features({"inputs": ["x"]})
        run.log_dataset("train", table)
        run.log_dataset("labels", labels)
        mv = run.register_model(model_files(tmp_path / "model", "w1"))
    return {"mv": mv, "repo": repo, "table": table, "labels": labels, "site": site}


def test_bundle_holds_everything_needed_to_rebuild(
    registry: Registry, trained: dict, tmp_path: Path
) -> None:
    mv, repo = trained["mv"], trained["repo"]
    folder = write_bundle(registry, mv.ref, tmp_path / "bundle")
    record = registry.record(mv.ref)
    bundle = load_bundle(folder)

    assert (bundle.model, bundle.version, bundle.record_id) == ("churn", "1.0.0", mv.record_id)
    assert bundle.artifact_digest == mv.artifact_digest
    assert bundle.seed == 1234 and bundle.seeds["seed_source"] == "given"
    assert bundle.code.commit == git(repo, "rev-parse", "HEAD") and bundle.code.dirty is True
    assert bundle.entry_point.orchestrator == "dagster"
    assert bundle.entry_point.asset_key == "models/churn"
    assert bundle.entry_point.partition_key == "2026-01-01"
    assert bundle.entry_point.source and bundle.entry_point.source.endswith(":train")
    assert {d.name: d.digest for d in bundle.datasets} == {
        d.name: d.digest for d in record.datasets
    }
    assert json.loads((folder / "params.json").read_text()) == {"lr": 0.05, "trees": {"n": 10}}
    assert json.loads((folder / "features.json").read_text()) == {"inputs": ["x"]}

    diff = (folder / "code.diff").read_bytes()
    assert digest_bytes(diff) == record.code_diff_digest and b"# tuned" in diff
    assert bundle.code.diff_file == "code.diff"
    git(repo, "stash")  # the diff re-applies onto the recorded commit
    git(repo, "apply", str(folder / "code.diff"))
    assert "# tuned" in (repo / "pipeline.py").read_text()

    lock = (folder / "requirements.txt").read_text().splitlines()
    recorded = record.capture["environment"]["distributions"]
    plain = [d for d in recorded if not d.get("url")]
    assert all(f"{d['name']}=={d['version']}" in lock for d in plain)
    assert f"mvo-test-vcs @ git+https://example.com/org/lib.git@{'c' * 40}" in lock
    editable = [line for line in lock if "# editable install" in line]
    assert (
        editable == [line for line in lock if line.startswith("mv-orchestration @ file://")]
        and editable
    )
    assert len([line for line in lock if not line.startswith("#")]) == len(recorded)
    files = {f.path: f.digest for f in bundle.files}
    assert set(files) == {"requirements.txt", "params.json", "features.json", "code.diff"}
    assert all(digest_bytes((folder / p).read_bytes()) == d for p, d in files.items())


def test_check_passes_here_and_lists_every_difference(
    registry: Registry, trained: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mv, repo = trained["mv"], trained["repo"]
    folder = write_bundle(registry, mv.ref, tmp_path / "bundle")
    assert check_bundle(folder, cwd=repo) == []
    assert check_bundle(mv.ref, registry, cwd=repo) == []

    write_table(trained["table"], 31)
    trained["labels"].unlink()
    (repo / "pipeline.py").write_text("def train(rows):\n    return 0\n")
    git(repo, "commit", "-q", "-am", "later work")
    (folder / "params.json").write_text('{"lr": 1}')
    extra = tmp_path / "extra-site"
    fake_distribution(extra, "mvo-test-extra", "9.9")
    monkeypatch.syspath_prepend(str(extra))
    sys.path.remove(str(trained["site"]))

    found = check_bundle(folder, cwd=repo)
    by_subject = {(d.kind, d.subject): d for d in found}
    assert set(by_subject) == {
        ("bundle", "params.json"),
        ("package", "mvo-test-extra"),
        ("package", "mvo-test-vcs"),
        ("code", "commit"),
        ("code", "diff"),
        ("dataset", "train"),
        ("dataset", "labels"),
    }
    messages = {key: d.message for key, d in by_subject.items()}
    assert messages[("bundle", "params.json")] == "bundle params.json: file was modified"
    assert (
        messages[("package", "mvo-test-extra")]
        == "package mvo-test-extra: not in the lock, found 9.9"
    )
    assert messages[("package", "mvo-test-vcs")] == (
        "package mvo-test-vcs: expected 0.3 (git cccccccccccc), not installed"
    )
    assert "rows 30 -> 31" in messages[("dataset", "train")]
    assert messages[("dataset", "labels")].endswith("labels.txt is missing")
    assert by_subject[("code", "commit")].actual == git(repo, "rev-parse", "HEAD")
    assert "\n" not in "".join(messages.values())


def test_check_outside_git_and_for_remote_data(registry: Registry, tmp_path: Path) -> None:
    import pyarrow as pa

    _, module = code_repo(tmp_path / "code")
    with registry.run("churn", seed=1, code_of=module.train) as run:
        run.log_dataset("inline", pa.table({"a": [1, 2]}))
        mv = run.register_model(model_files(tmp_path / "m", "x"))
    outside = tmp_path / "not-git"
    outside.mkdir()
    found = {(d.kind, d.subject): d.message for d in check_bundle(mv.ref, registry, cwd=outside)}
    assert found == {
        ("code", "commit"): f"code commit: {outside} is not a git work tree (or git failed)",
        ("dataset", "inline"): (
            "dataset inline: memory://inline cannot be re-hashed here "
            "(only local files are checked)"
        ),
    }


def test_bundle_folder_rules(registry: Registry, trained: dict, tmp_path: Path) -> None:
    mv = trained["mv"]
    folder = write_bundle(registry, mv.ref, tmp_path / "bundle")
    assert write_bundle(registry, mv.ref, folder) == folder  # same version: rewritten
    with registry.run("churn", seed=5) as run:
        other = run.register_model(model_files(tmp_path / "m2", "w2"))
    with pytest.raises(RefusedError, match="another version"):
        write_bundle(registry, other.ref, folder)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(RefusedError, match="not empty"):
        write_bundle(registry, other.ref, busy)
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]
    with pytest.raises(ValidationError, match="not a rebuild bundle"):
        load_bundle(busy)


def test_missing_stored_diff_is_an_integrity_error(
    registry: Registry, trained: dict, tmp_path: Path
) -> None:
    record = registry.record(trained["mv"].ref)
    assert record.code_diff_digest is not None
    assert registry.store.delete(record.code_diff_digest)
    with pytest.raises(MissingObjectError):
        write_bundle(registry, trained["mv"].ref, tmp_path / "bundle")
    assert not (tmp_path / "bundle" / "bundle.json").exists()


def test_lock_header_names_the_interpreter(registry: Registry, trained: dict) -> None:
    from mv_orchestration.lineage.bundle import bundle_from_record

    bundle = bundle_from_record(registry.record(trained["mv"].ref))
    header = requirements_lock(bundle).splitlines()[:2]
    assert header[0] == f"# rebuild lock of churn@1.0.0 ({bundle.record_id})"
    assert header[1].startswith(f"# python {bundle.python.version} (CPython)")
