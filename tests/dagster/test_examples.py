"""The example Definitions and the demo module, run for real."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dagster_resources.examples.digits import defs


def test_example_definitions_are_loadable_and_complete() -> None:
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {"digits_training", "digits_deploy", "mv_retention"} <= set(repo.job_names)
    assert repo.has_sensor_def("mv_digits_production_sensor")
    assert repo.has_schedule_def("mv_retention_schedule")
    check_keys = {key.asset_key.to_user_string() for key in repo.asset_graph.asset_check_keys}
    assert check_keys == {"digits_dataset", "digits_model"}


def _run_demo(tmp_path: Path, name: str, params: dict | None = None) -> dict:
    env = {
        **os.environ,
        "MVO_REGISTRY_URL": f"sqlite:///{tmp_path / 'registry.db'}",
        "MVO_STORE_URL": (tmp_path / "store").as_uri(),
        "MVO_DEMO_WORKDIR": str(tmp_path / name),
        "MVO_DEMO_PARAMS": json.dumps(params or {}),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "dagster_resources.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    prefix, _, payload = last.partition(" ")
    assert prefix == "MVO_DEMO_RESULT"
    assert any(line.startswith("[mvo] ") for line in proc.stdout.splitlines())
    return json.loads(payload)


def test_demo_materializes_and_registers_the_digits_model(tmp_path: Path) -> None:
    import mv_orchestration as mvo

    first = _run_demo(tmp_path, "one", {"n_estimators": 10})
    assert first["orchestrator"] == "dagster"
    assert first["model"] == "digits"
    assert first["created"] is True
    assert (tmp_path / "one" / "dagster_home").is_dir()

    registry = mvo.connect(f"sqlite:///{tmp_path / 'registry.db'}", (tmp_path / "store").as_uri())
    try:
        version = registry.resolve(f"digits@{first['version']}")
        assert version.record_id == first["record_id"]
        record = registry.record(version.ref)
        assert record.capture["context"]["orchestrator"] == "dagster"
        assert record.capture["context"]["asset_key"] == "digits_model"
        assert record.params["n_estimators"] == 10
        assert [d.name for d in record.datasets] == ["digits"]
        assert registry.verify(version.ref).ok
    finally:
        registry.close()


def test_demo_fails_with_a_clear_message_on_bad_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dagster_resources import demo

    monkeypatch.setenv("MVO_REGISTRY_URL", f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.setenv("MVO_STORE_URL", (tmp_path / "store").as_uri())
    monkeypatch.setenv("MVO_DEMO_WORKDIR", str(tmp_path / "bad"))
    monkeypatch.setenv("MVO_DEMO_PARAMS", json.dumps({"n_trees": 3}))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))  # restored afterwards
    assert demo.main() == 1
    out, err = capsys.readouterr()
    assert "MVO_DEMO_RESULT" not in out
    assert "dagster demo failed" in err and "n_trees" in err

    monkeypatch.delenv("MVO_DEMO_WORKDIR")
    assert demo.main() == 1
    assert "MVO_DEMO_WORKDIR is not set" in capsys.readouterr().err
