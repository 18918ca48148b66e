"""Fixtures for the Dagster tests: a fresh SQLite registry and file store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from dagster_resources import ModelRegistryResource, VersioningIOManager
from dagster_resources.resource import REGISTRY_KEY


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def mv_registry(
    tmp_path: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModelRegistryResource]:
    """A resource on a fresh registry; the MVO_* variables point at it too."""
    registry_url = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("MVO_REGISTRY_URL", registry_url)
    monkeypatch.setenv("MVO_STORE_URL", store_dir.as_uri())
    monkeypatch.setenv("MVO_HOME", str(tmp_path / "mvo-home"))
    resource = ModelRegistryResource(registry_url=registry_url, store_url=store_dir.as_uri())
    yield resource
    resource.close()


@pytest.fixture
def resources(mv_registry: ModelRegistryResource, tmp_path: Path) -> dict[str, object]:
    """The registry resource and the versioning IO manager, as Dagster binds them."""
    return {
        REGISTRY_KEY: mv_registry,
        "io_manager": VersioningIOManager(registry=mv_registry, load_dir=str(tmp_path / "loaded")),
    }


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst
