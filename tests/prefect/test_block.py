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

from mv_orchestration.errors import MVOError
from prefect_blocks import ModelRegistry
from prefect_blocks.blocks import _temporary_env


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


def test_store_credentials_are_given_as_aws_variables() -> None:
    block = ModelRegistry(
        aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key=SecretStr("aws-s3cret")
    )
    assert block._store_environment() == {
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "aws-s3cret",
    }
    assert ModelRegistry()._store_environment() == {}


def test_temporary_env_restores_previous_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "before")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with _temporary_env({"AWS_ACCESS_KEY_ID": "inside", "AWS_SECRET_ACCESS_KEY": "x"}):
        assert os.environ["AWS_ACCESS_KEY_ID"] == "inside"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "before"
    assert "AWS_SECRET_ACCESS_KEY" not in os.environ


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
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = {"registry_url": f"sqlite:///{tmp_path / 'r.db'}", "store_url": s3_store_url}
    block = ModelRegistry(
        **settings,
        aws_access_key_id="testing",
        aws_secret_access_key=SecretStr("testing"),
        emit_events=False,
    )
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(b"weights-s3")
    version = block.register("churn", model_file, seed=1)
    assert block.verify(version.ref).ok is True
    restored = block.load_artifacts(version.ref, tmp_path / "restored")
    assert (Path(restored) / "model.bin").read_bytes() == b"weights-s3"
    assert "AWS_ACCESS_KEY_ID" not in os.environ and "AWS_SECRET_ACCESS_KEY" not in os.environ

    anonymous = ModelRegistry(**settings, emit_events=False)
    with pytest.raises((OSError, MVOError), match=r"(?i)access.denied"):
        anonymous.load_artifacts(version.ref, tmp_path / "again")


@pytest.mark.s3
def test_a_prefect_aws_credentials_block_supplies_s3_credentials(
    prefect_api: str, s3_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs where prefect-aws is installed: the block references an AwsCredentials block."""
    prefect_aws = pytest.importorskip("prefect_aws")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    credentials = prefect_aws.AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    ModelRegistry(
        registry_url=f"sqlite:///{tmp_path / 'r.db'}",
        store_url=s3_store_url,
        aws_credentials=credentials,
        emit_events=False,
    ).save("aws-registry", overwrite=True)
    block = ModelRegistry.load("aws-registry")
    assert block.aws_credentials.aws_secret_access_key.get_secret_value() == "testing"
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(b"weights-aws")
    version = block.register("churn", model_file, seed=1)
    assert block.verify(version.ref).ok is True
    assert "AWS_SECRET_ACCESS_KEY" not in os.environ


def test_prefect_finds_the_collection_through_its_entry_point() -> None:
    from prefect.plugins import load_prefect_collections

    import prefect_blocks

    collections = load_prefect_collections(reload=True)
    assert collections["prefect_blocks"] is prefect_blocks
    assert Block.get_block_class_from_key("mv-model-registry") is ModelRegistry
