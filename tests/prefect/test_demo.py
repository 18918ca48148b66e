"""``python -m prefect_blocks.demo`` as the lead's ``mvo demo`` runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mv_orchestration as mvo


def test_demo_trains_registers_and_prints_the_result_last(tmp_path: Path) -> None:
    registry_url = f"sqlite:///{tmp_path / 'registry.db'}"
    store_url = (tmp_path / "store").as_uri()
    env = {
        **os.environ,
        "MVO_REGISTRY_URL": registry_url,
        "MVO_STORE_URL": store_url,
        "MVO_DEMO_WORKDIR": str(tmp_path / "work"),
        "MVO_DEMO_PARAMS": json.dumps({"n_estimators": 7}),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "prefect_blocks.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    last = completed.stdout.strip().splitlines()[-1]
    assert last.startswith("MVO_DEMO_RESULT ")
    result = json.loads(last.removeprefix("MVO_DEMO_RESULT "))
    assert (result["orchestrator"], result["model"], result["created"]) == (
        "prefect",
        "digits",
        True,
    )
    assert (tmp_path / "work" / "prefect-home").is_dir()

    registry = mvo.connect(registry_url, store_url)
    try:
        record = registry.record(f"digits@{result['version']}")
    finally:
        registry.close()
    assert record.params["n_estimators"] == 7
    assert record.capture["context"]["orchestrator"] == "prefect"
    assert record.capture["context"]["pipeline"] == "digits-training"


def test_demo_fails_without_a_workdir(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MVO_DEMO_WORKDIR"}
    completed = subprocess.run(
        [sys.executable, "-m", "prefect_blocks.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1
    assert "MVO_DEMO_WORKDIR" in completed.stderr
    assert "MVO_DEMO_RESULT" not in completed.stdout
