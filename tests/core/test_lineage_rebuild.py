"""The rebuild proof: the demo pipeline's model, rebuilt from its bundle alone in a fresh
virtual environment, has a bit-identical artifact digest.

The example pipeline lives in its own git repository (committed, plus an uncommitted
change), trains the demo digits model with a seed and registers it through a run. The
rebuild then uses only the bundle: it clones ``code.remote_url`` at ``code.commit``,
applies ``code.diff``, creates a virtual environment with uv for the recorded Python from
``requirements.txt`` (offline from uv's cache first), reads the data at the recorded
locations, calls the recorded entry point with ``params.json`` and the recorded seed,
and hashes what it wrote. Inside that environment ``check_bundle`` must find nothing
different.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="needs the examples extra")

from mv_orchestration.capture import RunContext
from mv_orchestration.demo.training import prepare_dataset
from mv_orchestration.lineage.bundle import load_bundle, write_bundle
from mv_orchestration.registry import connect
from tests.core.lineage_helpers import git, isolated_git  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("isolated_git")]

REPO_ROOT = Path(__file__).resolve().parents[2]
PIPELINE = '''"""The digits example pipeline: train the demo model on a prepared data set."""

from pathlib import Path

from mv_orchestration.demo.training import DigitsParams, train

N_ESTIMATORS = 12


def fit(dataset, out_dir, **params):
    """Train on ``dataset`` into ``out_dir``; returns the model folder."""
    merged = {"n_estimators": N_ESTIMATORS, **params}
    return train(Path(dataset), DigitsParams(**merged), Path(out_dir))
'''
REBUILD = '''"""Rebuild a model from a bundle: entry point, params, seed and data as recorded."""

import importlib
import json
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from mv_orchestration import seed_everything
from mv_orchestration.hashing.manifest import hash_tree
from mv_orchestration.lineage.bundle import load_bundle
from mv_orchestration.lineage.bundle_check import check_bundle

bundle_dir, src, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
bundle = load_bundle(bundle_dir)
differences = [d.message for d in check_bundle(bundle_dir, cwd=src)]
module_name, function_name = bundle.entry_point.source.split(":")
fit = getattr(importlib.import_module(module_name), function_name)
params = json.loads((bundle_dir / "params.json").read_text())
[dataset] = bundle.datasets
seed_everything(bundle.seed)
fit(unquote(urlparse(dataset.uri).path), out, **params)
print(json.dumps({"digest": hash_tree(out).digest, "differences": differences}))
'''


def uv_binary() -> str:
    found = os.environ.get("MVO_UV") or shutil.which("uv")
    candidate = REPO_ROOT / ".tools" / "bin" / "uv"
    if found is None and candidate.exists():
        found = str(candidate)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("uv is needed for the rebuild proof (set MVO_UV or put uv on PATH)")
        pytest.skip("uv not found")
    return found


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(args[:3])} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def test_demo_model_rebuilds_bit_identically_from_its_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uv = uv_binary()
    # --- the training side: an example pipeline repository, trained and registered ------
    origin = tmp_path / "digits-pipeline"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    (origin / "digits_pipeline.py").write_text(PIPELINE)
    git(origin, "add", ".")
    git(origin, "commit", "-q", "-m", "digits pipeline")
    git(origin, "remote", "add", "origin", origin.as_uri())
    (origin / "digits_pipeline.py").write_text(PIPELINE.replace("= 12", "= 9"))  # uncommitted
    monkeypatch.syspath_prepend(str(origin))
    import digits_pipeline

    registry = connect(f"sqlite:///{tmp_path / 'registry.db'}", (tmp_path / "store").as_uri())
    try:
        dataset = prepare_dataset(tmp_path / "data")
        params = {"max_depth": 6, "seed": 7}
        context = RunContext(orchestrator="local", pipeline="digits", task_id="fit")
        with registry.run("digits", seed=7, code_of=digits_pipeline.fit, context=context) as r:
            r.log_params(params)
            r.log_dataset("digits", dataset)
            mv = r.register_model(digits_pipeline.fit(dataset, tmp_path / "model", **params))
        bundle_dir = write_bundle(registry, mv.ref, tmp_path / "bundle")
    finally:
        registry.close()
    bundle = load_bundle(bundle_dir)
    assert bundle.code.diff_file == "code.diff" and not bundle.code.diff_redacted
    assert bundle.entry_point.source == "digits_pipeline:fit"

    # --- the rebuild side: nothing but the bundle ----------------------------------------
    src = tmp_path / "rebuild" / "src"
    assert bundle.code.remote_url and bundle.code.commit
    run("git", "clone", "-q", bundle.code.remote_url, str(src))
    run("git", "checkout", "-q", bundle.code.commit, cwd=src)
    run("git", "apply", str(bundle_dir / "code.diff"), cwd=src)

    venv = tmp_path / "rebuild" / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["UV_NO_PROGRESS"] = "1"
    run(uv, "venv", "-q", str(venv), "--python", bundle.python.version, env=env)
    python = str(venv / "bin" / "python")
    install = [
        uv,
        "pip",
        "install",
        "-q",
        "--python",
        python,
        "-r",
        str(bundle_dir / "requirements.txt"),
    ]
    offline = subprocess.run(
        [*install, "--offline"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if offline.returncode != 0:
        run(*install, env=env)

    script = tmp_path / "rebuild" / "rebuild.py"
    script.write_text(REBUILD)
    out = run(
        python,
        str(script),
        str(bundle_dir),
        str(src),
        str(tmp_path / "rebuild" / "model"),
        cwd=tmp_path / "rebuild",
        env={**env, "PYTHONPATH": str(src)},
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert result["differences"] == []
    assert result["digest"] == bundle.artifact_digest == mv.artifact_digest
    assert sys.executable != python
