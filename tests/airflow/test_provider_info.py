"""The provider registers with Airflow like any installed provider."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider.get_provider_info import get_provider_info


def test_provider_info_passes_airflows_schema_validation() -> None:
    from airflow.providers_manager import _create_provider_info_schema_validator

    _create_provider_info_schema_validator().validate(get_provider_info())


def test_schema_validation_would_reject_a_broken_entry() -> None:
    import jsonschema
    from airflow.providers_manager import _create_provider_info_schema_validator

    broken = get_provider_info()
    broken["connection-types"] = [{"hook-name": "no class or type"}]
    with pytest.raises(jsonschema.ValidationError):
        _create_provider_info_schema_validator().validate(broken)


def test_providers_manager_registers_provider_hook_form_and_decorator() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    from airflow_provider import __version__

    manager = ProvidersManager()
    assert manager.providers["mv-orchestration"].version == __version__
    hook = ProvidersManagerTaskRuntime().hooks["mv_registry"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider.hooks.registry.MVRegistryHook"
    assert hook.connection_id_attribute_name == "mv_conn_id"
    behaviour = manager.field_behaviours["mv_registry"]
    assert "host" in behaviour["hidden_fields"]
    assert "password" not in behaviour["hidden_fields"]
    widgets = manager.connection_form_widgets
    assert widgets["extra__mv_registry__aws_secret_access_key"].is_sensitive
    assert not widgets["extra__mv_registry__registry_url"].is_sensitive


def test_task_versioned_is_available_on_the_task_decorator() -> None:
    from airflow.sdk import task

    from airflow_provider.decorators.versioned import versioned_task

    assert task.versioned is versioned_task


def test_airflow_providers_list_shows_the_provider(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    airflow = Path(sys.executable).with_name("airflow")
    out = subprocess.run(
        [str(airflow), "providers", "list", "--output", "plain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "mv-orchestration" in out
