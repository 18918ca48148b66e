"""Fixtures shared by the registry tests (loaded with ``pytest_plugins``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mv_orchestration.registry import Registry, connect

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh registry database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh local artifact store."""
    return (tmp_path / "store").as_uri()


@pytest.fixture
def registry(db_url: str, store_url: str) -> Iterator[Registry]:
    """A migrated registry on each backend."""
    reg = connect(db_url, store_url)
    try:
        yield reg
    finally:
        reg.close()


@pytest.fixture
def sqlite_registry(tmp_path: Path, store_url: str) -> Iterator[Registry]:
    """A migrated registry on SQLite only."""
    reg = connect(f"sqlite:///{tmp_path / 'registry.db'}", store_url)
    try:
        yield reg
    finally:
        reg.close()
