"""``MVRegistryHook`` and the ``mv_registry`` connection type."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider.hooks.registry import MVRegistryHook, _store_credentials, _with_password


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, object]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def test_the_default_connection_from_an_env_json_opens_that_registry(
    mv_connection: dict[str, str], tmp_path: Path
) -> None:
    hook = MVRegistryHook()
    assert hook.connection_settings() == mv_connection
    registry = hook.get_conn()
    try:
        assert hook.get_conn() is registry
        assert registry.settings.registry_url == mv_connection["registry_url"]
        assert registry.store.url == mv_connection["store_url"]
        assert registry.models() == []
    finally:
        hook.close()
    assert (tmp_path / "registry.db").exists()


def test_prefixed_extra_fields_from_the_ui_form_are_read(
    monkeypatch: pytest.MonkeyPatch, registry_urls: dict[str, str]
) -> None:
    extra = {f"extra__mv_registry__{key}": value for key, value in registry_urls.items()}
    _set_conn(monkeypatch, "team_registry", {"conn_type": "mv_registry", "extra": extra})
    assert MVRegistryHook("team_registry").connection_settings() == registry_urls


def test_without_the_default_connection_the_mvo_environment_applies(
    monkeypatch: pytest.MonkeyPatch, registry_urls: dict[str, str]
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MV_REGISTRY_DEFAULT", raising=False)
    monkeypatch.setenv("MVO_REGISTRY_URL", registry_urls["registry_url"])
    monkeypatch.setenv("MVO_STORE_URL", registry_urls["store_url"])
    hook = MVRegistryHook()
    assert hook.connection_settings() == {"registry_url": None, "store_url": None}
    try:
        assert hook.get_conn().settings.registry_url == registry_urls["registry_url"]
    finally:
        hook.close()


def test_a_named_connection_that_does_not_exist_is_an_error() -> None:
    with pytest.raises(AirflowNotFoundException):
        MVRegistryHook("no_such_registry").get_conn()


def test_the_password_goes_into_the_registry_url_only_in_memory() -> None:
    url = "postgresql+psycopg://mvo@db.internal:5432/registry"
    assert _with_password(url, "p@ss/word") == (
        "postgresql+psycopg://mvo:p%40ss%2Fword@db.internal:5432/registry"
    )
    already = "postgresql+psycopg://mvo:given@db/registry"
    assert _with_password(already, "other") == already


def test_a_failed_connection_never_shows_the_password_and_logs_mask_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.sdk.log import redact

    conn = {
        "conn_type": "mv_registry",
        "password": "never-logged-pw",
        "extra": {"registry_url": "postgresql+psycopg://mvo@127.0.0.1:9/registry"},
    }
    _set_conn(monkeypatch, "pg_registry", conn)
    hook = MVRegistryHook("pg_registry")
    with pytest.raises(Exception) as caught:
        hook.get_conn()
    assert "never-logged-pw" not in str(caught.value)
    assert redact("dsn with never-logged-pw") == "dsn with ***"


def _aws_variables() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith("AWS_")}


def _without_aws_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _aws_variables():
        monkeypatch.delenv(name)


def test_s3_credentials_are_handed_over_in_memory_and_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.sdk.log import redact

    from mv_orchestration.errors import ValidationError
    from mv_orchestration.store.credentials import S3Credentials

    monkeypatch.setenv("AWS_SESSION_TOKEN", "worker-session-token")
    extra = {"aws_access_key_id": "conn-key-id", "aws_secret_access_key": "unit-secret-key"}
    credentials = _store_credentials(extra)
    assert credentials == S3Credentials("conn-key-id", "unit-secret-key")
    assert credentials.session_token is None
    assert "unit-secret-key" not in repr(credentials)
    assert redact("signed with unit-secret-key") == "signed with ***"
    assert _store_credentials({}) is None

    temporary = _store_credentials({**extra, "aws_session_token": "conn-session-token"})
    assert temporary == S3Credentials("conn-key-id", "unit-secret-key", "conn-session-token")
    assert "conn-session-token" not in repr(temporary)
    assert redact("token conn-session-token") == "token ***"
    with pytest.raises(ValidationError, match="session token needs"):
        _store_credentials({"aws_session_token": "lonely-token"})


@pytest.mark.s3
def test_a_connection_with_s3_keys_registers_and_verifies_without_touching_the_environment(
    monkeypatch: pytest.MonkeyPatch, s3_store_url: str, tmp_path: Path
) -> None:
    _without_aws_variables(monkeypatch)
    extra = {
        "registry_url": f"sqlite:///{tmp_path / 'registry.db'}",
        "store_url": s3_store_url,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "conn-secret-key",
    }
    _set_conn(monkeypatch, "s3_registry", {"conn_type": "mv_registry", "extra": extra})
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights-s3")
    hook = MVRegistryHook("s3_registry")
    try:
        registry = hook.get_conn()
        assert _aws_variables() == {}
        with registry.run("churn", seed=1) as run:
            version = run.register_model(model)
        assert registry.verify(version.ref).ok is True
        assert _aws_variables() == {}
    finally:
        hook.close()
    assert _aws_variables() == {}


def test_s3_keys_for_a_store_that_is_not_s3_are_refused(
    monkeypatch: pytest.MonkeyPatch, registry_urls: dict[str, str]
) -> None:
    from mv_orchestration.errors import ConfigurationError

    _without_aws_variables(monkeypatch)
    extra = {**registry_urls, "aws_access_key_id": "id", "aws_secret_access_key": "secret"}
    _set_conn(monkeypatch, "file_registry", {"conn_type": "mv_registry", "extra": extra})
    with pytest.raises(ConfigurationError, match="not on S3"):
        MVRegistryHook("file_registry").get_conn()
    assert _aws_variables() == {}


def test_test_connection_reports_success_and_failure(
    monkeypatch: pytest.MonkeyPatch, mv_connection: dict[str, str], tmp_path: Path
) -> None:
    assert MVRegistryHook().test_connection() == (True, "Registry reachable (0 models)")
    bad = {"conn_type": "mv_registry", "extra": {"registry_url": "mysql://nope/registry"}}
    _set_conn(monkeypatch, "bad_registry", bad)
    ok, message = MVRegistryHook("bad_registry").test_connection()
    assert ok is False and message


def test_ui_field_behaviour_matches_the_provider_info() -> None:
    behaviour = MVRegistryHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == ["host", "schema", "port", "login"]
    assert behaviour["relabeling"] == {"password": "Registry database password"}
