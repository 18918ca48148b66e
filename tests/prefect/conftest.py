"""Prefect test setup: a private PREFECT_HOME, Prefect's test harness, fresh registries.

PREFECT_HOME is set before Prefect is imported, so no test touches ``~/.prefect`` or a
server configured in the developer's environment, and Prefect's slow implicit temporary
server is disabled: a test that needs an API uses the harness (``prefect_api``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_HOME = tempfile.mkdtemp(prefix="mvo-prefect-home-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["PREFECT_HOME"] = _HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"
for _name in ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILES_PATH", "PREFECT_PROFILE"):
    os.environ.pop(_name, None)

from prefect_blocks import ModelRegistry  # noqa: E402


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """Prefect's test harness (a real API server on a temporary database); its URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


@pytest.fixture
def registry_block(tmp_path: Path) -> ModelRegistry:
    """A block on a fresh SQLite registry and local store under ``tmp_path``."""
    return ModelRegistry(
        registry_url=f"sqlite:///{tmp_path / 'registry.db'}",
        store_url=(tmp_path / "store").as_uri(),
    )


@pytest.fixture
def captured_events(
    prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], list[Any]]]:
    """Route ``emit_event`` to Prefect's in-memory asserting client; returns a reader.

    The events worker still asks the API about the run context, hence the harness.
    """
    from prefect.events.clients import AssertingEventsClient
    from prefect.events.worker import EventsWorker

    AssertingEventsClient.reset()
    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)

    def read() -> list[Any]:
        worker.wait_until_empty()
        # A client gets its ``events`` list when entered or on its first emit: none yet
        # means nothing was emitted.
        return [e for c in AssertingEventsClient.all for e in getattr(c, "events", [])]

    yield read
    worker.drain()
