"""``python -m airflow_provider.demo`` as the lead's ``mvo demo`` runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mv_orchestration as mvo

PREFIX = "MVO_DEMO_RESULT "


def _demo(tmp_path: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "MVO_"))
    }
    env.update(
        MVO_REGISTRY_URL=f"sqlite:///{tmp_path / 'registry.db'}",
        MVO_STORE_URL=(tmp_path / "store").as_uri(),
        MVO_DEMO_WORKDIR=str(tmp_path / "airflow"),
        **extra_env,
    )
    return subprocess.run(
        [sys.executable, "-m", "airflow_provider.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_demo_trains_digits_in_a_dag_run_and_prints_the_result_last(tmp_path: Path) -> None:
    proc = _demo(tmp_path, MVO_DEMO_PARAMS=json.dumps({"n_estimators": 10}))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(PREFIX)
    result = json.loads(last.removeprefix(PREFIX))
    assert result["orchestrator"] == "airflow" and result["model"] == "digits"
    assert result["created"] is True
    registry = mvo.connect(f"sqlite:///{tmp_path / 'registry.db'}", (tmp_path / "store").as_uri())
    try:
        version = registry.resolve(f"digits@{result['version']}")
        assert version.record_id == result["record_id"]
        record = registry.record(version.ref)
        assert record.params["n_estimators"] == 10
        assert record.capture["context"]["orchestrator"] == "airflow"
    finally:
        registry.close()
    assert (tmp_path / "airflow" / "airflow-home" / "airflow.db").exists()


def test_the_demo_fails_with_a_clear_line_on_bad_params(tmp_path: Path) -> None:
    proc = _demo(tmp_path, MVO_DEMO_PARAMS='{"trees": 3}')
    assert proc.returncode == 1
    assert "MVO_DEMO_PARAMS must be an object with keys among" in proc.stdout
    assert PREFIX not in proc.stdout
