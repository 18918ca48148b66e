"""The run hooks: silent when lineage is off, never raising into a training run."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest

from mv_orchestration.lineage import run_hooks
from mv_orchestration.registry import Registry
from tests.core.lineage_helpers import model_files

pytest_plugins = ["tests.core.registry_fixtures"]


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MVO_OPENLINEAGE_TRANSPORT", "MVO_OPENLINEAGE_URL", "MVO_OPENLINEAGE_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(run_hooks, "_warned", set())


def hooked_run(registry: Registry, root: Path, *, fail: bool = False) -> object:
    """A run; the registry's Run calls the hooks at start and at completion or failure."""
    run = registry.run("churn", seed=1)
    try:
        with run:
            if fail:
                raise ValueError("bad batch")
            run.register_model(model_files(root / "m", "w"))
    except ValueError:
        pass
    return run


def test_lineage_off_is_silent(
    sqlite_registry: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="mv_orchestration.lineage"):
        run = hooked_run(sqlite_registry, tmp_path)
        hooked_run(sqlite_registry, tmp_path, fail=True)
    assert run.versions[0].version == "1.0.0"  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if r.name.startswith("mv_orchestration.lineage")]


def test_bad_settings_warn_once_and_training_goes_on(
    sqlite_registry: Registry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MVO_OPENLINEAGE_TRANSPORT", "http")  # without a URL
    with caplog.at_level(logging.WARNING, logger="mv_orchestration.lineage.run_hooks"):
        run = hooked_run(sqlite_registry, tmp_path)
    assert run.versions[0].version == "1.0.0"  # type: ignore[attr-defined]
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["MVO_OPENLINEAGE_TRANSPORT=http needs MVO_OPENLINEAGE_URL"]


@pytest.mark.skipif(
    importlib.util.find_spec("openlineage") is not None, reason="openlineage-python installed"
)
def test_missing_openlineage_package_is_a_warning(
    sqlite_registry: Registry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MVO_OPENLINEAGE_TRANSPORT", "console")
    with caplog.at_level(logging.WARNING, logger="mv_orchestration.lineage.run_hooks"):
        run = hooked_run(sqlite_registry, tmp_path)
    assert run.versions[0].version == "1.0.0"  # type: ignore[attr-defined]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "openlineage-python is not installed" in messages[0]
