"""The ModelRegistry block: Prefect's standard block suite and its own settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import SecretStr

from mv_orchestration.errors import ConfigurationError, MVOError
from mv_orchestration.store.credentials import S3Credentials
from prefect_blocks import ModelRegistry
from prefect_blocks.credentials import from_aws_credentials, with_region


class TestModelRegistryBlock(BlockStandardTestSuite):
    """Prefect's checks for every published block."""

    @pytest.fixture
    def block(self) -> type[Block]:
        return ModelRegistry

    @pytest.mark.skip(reason="downloads the logo over the network")
    def test_has_a_valid_image(self, block: type[Block]) -> None:
        """Skipped: offline."""


def test_block_type_metadata() -> None:
    assert ModelRegistry.get_block_type_slug() == "mv-model-registry"
    assert ModelRegistry.get_block_type_name() == "MV Model Registry"
    assert str(ModelRegistry._logo_url).startswith("https://")
    assert "registry" in ModelRegistry.get_description().lower()


def test_secrets_stay_hidden() -> None:
    block = ModelRegistry(
        registry_url="postgresql+psycopg://mvo@db.internal/registry",
        database_password=SecretStr("pg-s3cret"),
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key=SecretStr("aws-s3cret"),
    )
    shown = repr(block) + str(block.model_dump()) + block.model_dump_json()
    assert "pg-s3cret" not in shown and "aws-s3cret" not in shown


def test_password_is_added_only_when_connecting() -> None:
    block = ModelRegistry(
        registry_url="postgresql+psycopg://mvo@db.internal:5432/registry",
        database_password=SecretStr("p@ss/word"),
    )
    assert block.registry_url == "postgresql+psycopg://mvo@db.internal:5432/registry"
    from sqlalchemy.engine import make_url

    url = make_url(block._registry_url())
    assert (url.username, url.password, url.host, url.database) == (
        "mvo",
        "p@ss/word",
        "db.internal",
        "registry",
    )


def test_url_without_password_is_unchanged() -> None:
    assert ModelRegistry(registry_url="sqlite:////x/r.db")._registry_url() == "sqlite:////x/r.db"
    assert ModelRegistry()._registry_url() is None


def _aws_variables() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith("AWS_")}


def _without_aws_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _aws_variables():
        monkeypatch.delenv(name)


def test_store_credentials_are_handed_over_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "worker-session-token")
    block = ModelRegistry(
        aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key=SecretStr("aws-s3cret")
    )
    credentials = block._store_credentials()
    assert credentials == S3Credentials("AKIAEXAMPLE", "aws-s3cret")
    assert credentials.session_token is None
    assert "aws-s3cret" not in repr(credentials)
    assert ModelRegistry()._store_credentials() is None


def test_keys_for_a_store_that_is_not_s3_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_aws_variables(monkeypatch)
    block = ModelRegistry(
        registry_url=f"sqlite:///{tmp_path / 'r.db'}",
        store_url=(tmp_path / "store").as_uri(),
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key=SecretStr("aws-s3cret"),
    )
    with pytest.raises(ConfigurationError, match="not on S3"):
        block.get_registry()
    assert _aws_variables() == {}


def test_a_region_is_added_only_to_an_s3_url_without_one() -> None:
    assert (
        with_region("s3://b/p?scheme=http", "eu-west-1") == "s3://b/p?scheme=http&region=eu-west-1"
    )
    assert with_region("s3://b/p?region=us-east-1", "eu-west-1") == "s3://b/p?region=us-east-1"
    assert with_region("file:///tmp/store", "eu-west-1") == "file:///tmp/store"
    assert with_region(None, "eu-west-1") is None
    assert with_region("s3://b/p", None) == "s3://b/p"


def test_connects_to_the_configured_registry(registry_block: ModelRegistry, tmp_path: Path) -> None:
    with registry_block.connection() as registry:
        assert registry.models() == []
    assert (tmp_path / "registry.db").exists()


def test_block_register_and_read_back(
    registry_block: ModelRegistry, tmp_path: Path, captured_events: Callable[[], list[Any]]
) -> None:
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(b"weights-1")
    version = registry_block.register(
        "churn",
        model_file,
        params={"lr": 0.1},
        metrics={"accuracy": 0.9},
        tags={"team": "risk"},
    )
    assert version.created is True
    assert [e.event for e in captured_events()] == ["mv.model.version.registered"]
    with registry_block.connection() as registry:
        record = registry.record(version.ref)
    assert (record.params, record.metrics, record.tags) == (
        {"lr": 0.1},
        {"accuracy": 0.9},
        {"team": "risk"},
    )
    assert registry_block.resolve("churn@latest").record_id == version.record_id
    assert registry_block.verify(version.ref).ok is True
    restored = registry_block.load_artifacts(version.ref, tmp_path / "restored")
    assert (Path(restored) / "model.bin").read_bytes() == b"weights-1"


@pytest.mark.s3
def test_s3_credentials_come_from_the_block(
    s3_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_aws_variables(monkeypatch)
    settings = {"registry_url": f"sqlite:///{tmp_path / 'r.db'}", "store_url": s3_store_url}
    block = ModelRegistry(
        **settings,
        aws_access_key_id="testing",
        aws_secret_access_key=SecretStr("testing"),
        emit_events=False,
    )
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(b"weights-s3")
    with block.run("churn", seed=1) as run:
        assert _aws_variables() == {}
        version = run.register_model(model_file)
    assert block.verify(version.ref).ok is True
    restored = block.load_artifacts(version.ref, tmp_path / "restored")
    assert (Path(restored) / "model.bin").read_bytes() == b"weights-s3"
    registry = block.get_registry()
    try:
        assert registry.verify(version.ref).ok is True
        assert _aws_variables() == {}
    finally:
        registry.close()
    assert _aws_variables() == {}

    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    anonymous = ModelRegistry(**settings, emit_events=False)
    with pytest.raises((OSError, MVOError), match=r"(?i)access.denied"):
        anonymous.load_artifacts(version.ref, tmp_path / "again")


@pytest.mark.s3
def test_blocks_with_credentials_in_concurrent_tasks_of_one_flow(
    prefect_api: str, s3_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first task finishes while the second is still inside its registry run."""
    import threading

    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    _without_aws_variables(monkeypatch)
    blocks = {
        name: ModelRegistry(
            registry_url=f"sqlite:///{tmp_path / f'{name}.db'}",
            store_url=s3_server.store_url(s3_server.create_bucket()),
            aws_access_key_id=f"key-{name}",
            aws_secret_access_key=SecretStr(f"secret-{name}"),
            emit_events=False,
            create_artifacts=False,
        )
        for name in ("first", "second")
    }
    for block in blocks.values():  # migrated first: alembic's migrations share globals
        block.get_registry().close()
    both_inside = threading.Barrier(2, timeout=60)
    first_done = threading.Event()
    seen: list[dict[str, str]] = []

    @task(cache_policy=NO_CACHE)
    def train(name: str) -> str:
        model_file = tmp_path / f"{name}.bin"
        model_file.write_bytes(f"weights-{name}".encode())
        with blocks[name].run(name, seed=1) as run:
            both_inside.wait()
            if name == "second":
                assert first_done.wait(60)
            seen.append(_aws_variables())
            ref = run.register_model(model_file).ref
        if name == "first":
            first_done.set()
        return ref

    @flow
    def train_both() -> list[str]:
        futures = [train.submit(name) for name in blocks]
        return [future.result() for future in futures]

    refs = train_both()
    assert [ref.split("@")[0] for ref in refs] == ["first", "second"]
    assert seen == [{}, {}]
    for name, ref in zip(blocks, refs, strict=True):
        assert blocks[name].verify(ref).ok is True
    assert _aws_variables() == {}


@pytest.mark.s3
def test_a_prefect_aws_credentials_block_supplies_s3_credentials(
    prefect_api: str, s3_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs where prefect-aws is installed: the block references an AwsCredentials block."""
    prefect_aws = pytest.importorskip("prefect_aws")
    _without_aws_variables(monkeypatch)
    credentials = prefect_aws.AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="session-testing",
        region_name="us-east-1",
    )
    ModelRegistry(
        registry_url=f"sqlite:///{tmp_path / 'r.db'}",
        store_url=s3_store_url.replace("&region=us-east-1", ""),
        aws_credentials=credentials,
        emit_events=False,
    ).save("aws-registry", overwrite=True)
    block = ModelRegistry.load("aws-registry")
    assert block.aws_credentials.aws_secret_access_key.get_secret_value() == "testing"
    assert block._store_credentials() == S3Credentials("testing", "testing", "session-testing")
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(b"weights-aws")
    with block.run("churn", seed=1) as run:
        assert _aws_variables() == {}
        version = run.register_model(model_file)
    assert block.verify(version.ref).ok is True
    with block.connection() as registry:
        assert "region=us-east-1" in registry.store.url
    assert _aws_variables() == {}


def test_an_aws_credentials_profile_is_resolved_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefect_aws = pytest.importorskip("prefect_aws")
    _without_aws_variables(monkeypatch)
    shared = tmp_path / "credentials"
    shared.write_text(
        "[mvo-test]\naws_access_key_id = profile-key\naws_secret_access_key = profile-secret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    resolved = from_aws_credentials(prefect_aws.AwsCredentials(profile_name="mvo-test"))
    assert resolved == S3Credentials("profile-key", "profile-secret")
    assert from_aws_credentials(prefect_aws.AwsCredentials(region_name="eu-west-1")) is None
    assert set(_aws_variables()) == {"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"}


def test_prefect_finds_the_collection_through_its_entry_point() -> None:
    from prefect.plugins import load_prefect_collections

    import prefect_blocks

    collections = load_prefect_collections(reload=True)
    assert collections["prefect_blocks"] is prefect_blocks
    assert Block.get_block_class_from_key("mv-model-registry") is ModelRegistry
