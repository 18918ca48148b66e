"""Helpers shared by the lineage tests: real git work trees and real registered versions."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mv_orchestration.registry import Registry

PIPELINE_SOURCE = "def train(rows):\n    return sum(rows)\n"


@pytest.fixture
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A git identity for commits, and no user or system git configuration."""
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Test\n\temail = test@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


def code_repo(path: Path, remote: str | None = None) -> tuple[Path, ModuleType]:
    """A committed git work tree holding ``pipeline.py``; returns it and the module."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    (path / "pipeline.py").write_text(PIPELINE_SOURCE)
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "pipeline")
    if remote:
        git(path, "remote", "add", "origin", remote)
    return path, load_module(path / "pipeline.py")


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"pipeline_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_table(path: Path, rows: int, *, extra_column: bool = False) -> Path:
    columns: dict[str, Any] = {"x": list(range(rows)), "label": [i % 2 for i in range(rows)]}
    if extra_column:
        columns["weight"] = [1.5] * rows
    pq.write_table(pa.table(columns), path)
    return path


def model_files(path: Path, content: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.bin").write_text(content)
    return path


def train_version(
    registry: Registry,
    root: Path,
    *,
    seed: int,
    params: dict[str, Any],
    rows: int,
    content: str,
    code_of: Any = None,
    extra_column: bool = False,
    model: str = "churn",
) -> Any:
    """Register one version trained on a table and a file, through a real run."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    table = write_table(data / "train.parquet", rows, extra_column=extra_column)
    labels = data / "labels.txt"
    labels.write_text(f"labels for {rows} rows\n")
    with registry.run(model, seed=seed, code_of=code_of) as run:
        run.log_params(params)
        run.log_features({"inputs": ["x"], "target": "label"})
        run.log_dataset("train", table)
        run.log_dataset("labels", labels)
        run.log_metrics({"accuracy": 0.5 + rows / 1000})
        return run.register_model(model_files(root / f"model-{content}", content))


def fake_distribution(
    site: Path, name: str, version: str, *, vcs_commit: str | None = None
) -> None:
    """A real ``*.dist-info`` folder, as an installer writes it."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
    if vcs_commit:
        (info / "direct_url.json").write_text(
            json.dumps(
                {
                    "url": "https://example.com/org/lib.git",
                    "vcs_info": {"vcs": "git", "commit_id": vcs_commit},
                }
            )
        )
