"""The same seeded scikit-learn training, run twice through capture in fresh interpreters,
gives bit-identical models, and the two captures differ only in run identity and time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

TRAIN = """
import json, os, pickle
from blake3 import blake3
from mv_orchestration.capture import RunContext, capture_run


def train():
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier

    features, labels = load_digits(return_X_y=True)
    model = RandomForestClassifier(n_estimators=8, max_depth=6)  # global NumPy RNG
    return model.fit(features, labels)


if __name__ == "__main__":
    context = RunContext(orchestrator="local", run_id=os.environ["RUN_ID"], task_id="fit")
    capture = capture_run(seed=int(os.environ["SEED"]), context=context, code_of=train)
    digest = blake3(pickle.dumps(train(), protocol=5)).hexdigest()
    capture_run(seed=int(os.environ["SEED"]) + 1, context=context, code_of=train)
    other = blake3(pickle.dumps(train(), protocol=5)).hexdigest()
    dump = capture.to_json()
    print(json.dumps({"model": digest, "other_seed_model": other, "capture": dump}))
"""


def run(repo: Path, run_id: str, seed: int) -> dict[str, Any]:
    env = {**os.environ, "RUN_ID": run_id, "SEED": str(seed), "GIT_CONFIG_NOSYSTEM": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compile scikit-learn once for both runs
    env["PYTHONPYCACHEPREFIX"] = str(repo.parent / "pycache")
    proc = subprocess.run(
        [sys.executable, "train.py"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_seeded_runs_give_identical_models_and_captures(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "train.py").write_text(TRAIN)
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "train.py"],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "x"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=30)

    first, second = run(repo, "run-1", 123), run(repo, "run-2", 123)

    assert first["model"] == second["model"]
    assert first["other_seed_model"] == second["other_seed_model"] != first["model"]
    a, b = first["capture"], second["capture"]
    assert a["context"]["run_id"] == "run-1" and b["context"]["run_id"] == "run-2"
    differing = sorted(key for key in a if a[key] != b[key])
    assert set(differing) <= {"context", "started_at"}
    assert "numpy" in a["seeds"]["deferred"]
    assert a["code"]["commit"] and a["code"]["dirty"] is False
    assert a["code"]["source_digest"] == b["code"]["source_digest"]
