"""Events emitted for registrations, promotions and rollbacks (in-memory events client)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from prefect_blocks import ModelRegistry
from prefect_blocks.events import ALIAS_MOVED, ROLLBACK, VERSION_REGISTERED, model_resource


def _register(block: ModelRegistry, tmp_path: Path, content: bytes) -> Any:
    path = tmp_path / f"model-{len(content)}-{content.hex()[:8]}.bin"
    path.write_bytes(content)
    return block.register("churn", path, seed=1)


def test_model_resource_labels() -> None:
    assert model_resource("churn", alias="production", version="1.0.0", previous_version=None) == {
        "prefect.resource.id": "mv.model.churn",
        "prefect.resource.name": "churn",
        "mv.model": "churn",
        "mv.alias": "production",
        "mv.version": "1.0.0",
    }


def test_registered_promoted_rolled_back(
    registry_block: ModelRegistry, tmp_path: Path, captured_events: Callable[[], list[Any]]
) -> None:
    first = _register(registry_block, tmp_path, b"one")
    second = _register(registry_block, tmp_path, b"two")
    registry_block.promote(first.ref, reason="first")
    registry_block.promote(second.ref, reason="second")
    back = registry_block.rollback("churn", reason="bad metrics")
    assert (back.from_version, back.to_version) == (second.version, first.version)

    events = captured_events()
    assert [e.event for e in events] == [
        VERSION_REGISTERED,
        VERSION_REGISTERED,
        ALIAS_MOVED,
        ALIAS_MOVED,
        ROLLBACK,
    ]
    registered = events[0]
    assert registered.resource.id == "mv.model.churn"
    assert registered.resource["mv.version"] == first.version
    assert registered.payload["record_id"] == first.record_id
    assert [r.id for r in registered.related] == [f"mv.model-version.{first.ref}"]
    moved = events[3]
    assert moved.resource["mv.alias"] == "production"
    assert moved.resource["mv.version"] == second.version
    assert moved.resource["mv.previous_version"] == first.version
    assert moved.payload["reason"] == "second"
    rollback = events[4]
    assert (rollback.resource["mv.version"], rollback.resource["mv.previous_version"]) == (
        first.version,
        second.version,
    )


def test_no_event_for_a_no_op_promotion_or_a_dry_run(
    registry_block: ModelRegistry, tmp_path: Path, captured_events: Callable[[], list[Any]]
) -> None:
    first = _register(registry_block, tmp_path, b"one")
    second = _register(registry_block, tmp_path, b"two")
    registry_block.promote(first.ref)
    registry_block.promote(second.ref)
    assert registry_block.promote(second.ref).applied is False
    assert registry_block.rollback("churn", dry_run=True).applied is False
    names = [e.event for e in captured_events()]
    assert names.count(ALIAS_MOVED) == 2 and ROLLBACK not in names


def test_event_ids_are_stable_for_the_same_change(
    registry_block: ModelRegistry, tmp_path: Path, captured_events: Callable[[], list[Any]]
) -> None:
    """Re-registering identical content re-emits the event with the same id (stored once)."""
    first = _register(registry_block, tmp_path, b"same")
    again = _register(registry_block, tmp_path, b"same")
    assert again.created is False and again.record_id == first.record_id
    ids = [e.id for e in captured_events()]
    assert len(ids) == 2 and ids[0] == ids[1]


def test_events_can_be_switched_off(
    registry_block: ModelRegistry, tmp_path: Path, captured_events: Callable[[], list[Any]]
) -> None:
    quiet = registry_block.model_copy(update={"emit_events": False})
    version = _register(quiet, tmp_path, b"quiet")
    quiet.promote(version.ref)
    assert captured_events() == []


@pytest.mark.parametrize("model", ["churn", "fraud.v2"])
def test_resource_id_names_the_model(model: str) -> None:
    assert model_resource(model)["prefect.resource.id"] == f"mv.model.{model}"
