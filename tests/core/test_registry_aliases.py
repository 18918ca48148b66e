"""Aliases: promote, move, delete, history, and one-command rollback with verification."""

from __future__ import annotations

from pathlib import Path

import pytest

from mv_orchestration.capture import RunContext
from mv_orchestration.errors import (
    AliasNotFoundError,
    InvalidNameError,
    InvalidReferenceError,
    RefusedError,
    VersionNotFoundError,
)
from mv_orchestration.registry import Registry
from tests.core.registry_helpers import register, row_counts, stored_object, version_id

pytest_plugins = ["tests.core.registry_fixtures"]


@pytest.fixture
def three(registry: Registry, tmp_path: Path) -> Registry:
    for content in ("a", "b", "c"):
        register(registry, "churn", tmp_path, content)
    return registry


def _targets(registry: Registry, alias: str = "production") -> list[str | None]:
    return [move.to_version for move in registry.alias_history("churn", alias)]


def test_promote_records_history_and_audit(three: Registry) -> None:
    context = RunContext(orchestrator="dagster", pipeline="job", run_id="r1")
    first = three.promote("churn@1.0.0", alias="production", reason="review", context=context)
    assert (first.from_version, first.to_version, first.applied) == (None, "1.0.0", True)
    second = three.promote("churn@1.1.0", reason="better", actor="alice")
    assert (second.from_version, second.to_version, second.actor) == ("1.0.0", "1.1.0", "alice")
    history = three.alias_history("churn")
    assert [(m.from_version, m.to_version, m.reason) for m in history] == [
        (None, "1.0.0", "review"),
        ("1.0.0", "1.1.0", "better"),
    ]
    assert history[0].context is not None and history[0].context["run_id"] == "r1"
    events = [e for e in three.audit_events(limit=100) if e.action.startswith("alias.")]
    assert [(e.action, e.payload["to"]) for e in events] == [
        ("alias.set", "1.0.0"),
        ("alias.set", "1.1.0"),
    ]
    assert three.aliases("churn") == {"production": "1.1.0"}


def test_promote_to_the_current_target_changes_nothing(three: Registry) -> None:
    three.promote("churn@1.0.0")
    before = row_counts(three)
    move = three.promote("churn@1.0.0")
    assert move.applied is False and move.id is None
    assert row_counts(three) == before


def test_delete_alias_keeps_history(three: Registry) -> None:
    three.promote("churn@1.0.0", alias="staging")
    move = three.delete_alias("churn", "staging", reason="retired")
    assert (move.from_version, move.to_version, move.action) == ("1.0.0", None, "delete")
    assert three.aliases("churn") == {}
    with pytest.raises(AliasNotFoundError):
        three.resolve("churn@staging")
    with pytest.raises(AliasNotFoundError):
        three.delete_alias("churn", "staging")
    assert _targets(three, "staging") == ["1.0.0", None]


def test_rollback_walks_back_through_history(three: Registry) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        three.promote(f"churn@{version}")
    move = three.rollback("churn")
    assert (move.from_version, move.to_version, move.action) == ("1.2.0", "1.1.0", "rollback")
    assert three.resolve("churn@production").version == "1.1.0"
    assert three.rollback("churn").to_version == "1.0.0"
    with pytest.raises(RefusedError, match="no previous target"):
        three.rollback("churn")
    three.promote("churn@1.2.0", reason="fixed")
    assert three.rollback("churn").to_version == "1.0.0"
    assert _targets(three) == ["1.0.0", "1.1.0", "1.2.0", "1.1.0", "1.0.0", "1.2.0", "1.0.0"]


def test_a_retried_task_rolls_back_once(three: Registry) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        three.promote(f"churn@{version}")
    task = {"orchestrator": "airflow", "pipeline": "deploy", "run_id": "r1", "task_id": "undo"}
    first = three.rollback("churn", context=RunContext(**task, try_number=1))
    assert (first.from_version, first.to_version, first.applied) == ("1.2.0", "1.1.0", True)
    before = row_counts(three)
    retried = three.rollback("churn", context=RunContext(**task, try_number=2))
    assert (retried.id, retried.to_version, retried.applied) == (first.id, "1.1.0", False)
    assert row_counts(three) == before
    assert three.resolve("churn@production").version == "1.1.0"
    other_run = three.rollback("churn", context=RunContext(**{**task, "run_id": "r2"}))
    assert (other_run.to_version, other_run.applied) == ("1.0.0", True)
    assert three.alias_history("churn")[-1].context["run_id"] == "r2"


def test_rollback_to_a_given_version_and_dry_run(three: Registry) -> None:
    three.promote("churn@1.2.0")
    before = row_counts(three)
    preview = three.rollback("churn", to="1.0.0", dry_run=True)
    assert (preview.to_version, preview.applied) == ("1.0.0", False)
    assert row_counts(three) == before
    assert three.resolve("churn@production").version == "1.2.0"
    moved = three.rollback("churn", to="churn@1.0.0", reason="incident")
    assert (moved.from_version, moved.to_version, moved.reason) == ("1.2.0", "1.0.0", "incident")
    same = three.rollback("churn", to="1.0.0")
    assert same.applied is False


def test_rollback_refusals(three: Registry, tmp_path: Path) -> None:
    with pytest.raises(AliasNotFoundError):
        three.rollback("churn")
    three.promote("churn@1.0.0")
    with pytest.raises(RefusedError, match="no previous target"):
        three.rollback("churn")
    with pytest.raises(VersionNotFoundError):
        three.rollback("churn", to="9.9.9")
    register(three, "other", tmp_path, "x")
    with pytest.raises(RefusedError, match="not a version of churn"):
        three.rollback("churn", to="other@1.0.0")
    with pytest.raises(InvalidNameError):
        three.rollback("churn", alias="Production")


def test_rollback_refuses_tombstoned_and_purged_targets(three: Registry) -> None:
    three.promote("churn@1.0.0")
    three.promote("churn@1.1.0")
    target = version_id(three, "churn@1.0.0")
    assert three.tombstone(target, reason="old", plan_id="p1")
    with pytest.raises(RefusedError, match="tombstoned"):
        three.rollback("churn")
    assert three.mark_purged(target, reason="old", plan_id="p1")
    with pytest.raises(RefusedError, match="purged"):
        three.rollback("churn")
    with pytest.raises(RefusedError, match="purged"):
        three.promote("churn@1.0.0")
    assert three.resolve("churn@production").version == "1.1.0"


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_rollback_refuses_when_bytes_are_not_intact(three: Registry, damage: str) -> None:
    three.promote("churn@1.0.0")
    three.promote("churn@1.1.0")
    entry = three.record("churn@1.0.0").artifacts.entries[-1]
    path = stored_object(three, entry.digest)
    if damage == "missing":
        path.unlink()
    else:
        path.chmod(0o644)
        path.write_bytes(b"bit rot")
    before = row_counts(three)
    with pytest.raises(RefusedError, match="not intact"):
        three.rollback("churn", dry_run=True)
    with pytest.raises(RefusedError, match="not intact"):
        three.rollback("churn")
    assert row_counts(three) == before
    assert three.resolve("churn@production").version == "1.1.0"


@pytest.mark.parametrize(
    ("ref", "alias", "error"),
    [
        ("churn@1.0.0", "latest", InvalidNameError),
        ("churn@1.0.0", "1prod", InvalidNameError),
        ("churn@1.0.0", "Prod", InvalidNameError),
        ("churn@", "production", InvalidReferenceError),
        ("churn@nope", "production", AliasNotFoundError),
        ("churn@2.0.0", "production", VersionNotFoundError),
    ],
)
def test_promote_bad_input_changes_nothing(
    three: Registry, ref: str, alias: str, error: type[Exception]
) -> None:
    before = row_counts(three)
    with pytest.raises(error):
        three.promote(ref, alias=alias)
    assert row_counts(three) == before
