"""A Hypothesis state machine over register, promote, rollback, hold, release, tombstone
and purge, checked against a small reference model after every step."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mv_orchestration.errors import NotFoundError, RefusedError
from mv_orchestration.registry import Registry
from mv_orchestration.registry.registry import connect
from tests.core.registry_helpers import model_dir, version_id

INDEX = st.integers(0, 50)


@dataclass
class Version:
    ref: str
    content: int
    record_id: str
    status: str = "active"
    holds: int = 0


@dataclass
class Moves:
    """The alias history as the reference model sees it: (action, from, to) refs."""

    rows: list[tuple[str, str | None, str]] = field(default_factory=list)

    @property
    def current(self) -> str | None:
        return self.rows[-1][2] if self.rows else None

    def rollback_target(self) -> str | None:
        """Newest earlier target that was not rolled back from since it was last set."""
        best: tuple[int, str] | None = None
        for index, (_, _, target) in enumerate(self.rows):
            if target == self.current:
                continue
            later = self.rows[index + 1 :]
            if any(t == target for _, _, t in later):
                continue
            if any(a == "rollback" and f == target for a, f, _ in later):
                continue
            best = (index, target)
        return best[1] if best else None


class RegistryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="mvo-stateful-"))
        self.registry: Registry = connect(
            f"sqlite:///{self.root / 'registry.db'}", (self.root / "store").as_uri()
        )
        self.run = self.registry.run("churn", seed=1).__enter__()
        self.run.log_params({"fixed": True})
        self.versions: list[Version] = []
        self.moves = Moves()

    def teardown(self) -> None:
        assert self.registry.verify_audit().ok
        self.run.__exit__(None, None, None)
        self.registry.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def _pick(self, index: int) -> Version:
        return self.versions[index % len(self.versions)]

    def _protected(self, version: Version) -> bool:
        return version.holds > 0 or version.ref == self.moves.current

    @rule(content=st.integers(0, 4))
    def register(self, content: int) -> None:
        mv = self.run.register_model(model_dir(self.root, f"content-{content}"))
        existing = [v for v in self.versions if v.content == content and v.status == "active"]
        if existing:
            assert not mv.created
            assert mv.record_id == existing[-1].record_id
        else:
            assert mv.created
            assert mv.version == f"1.0.{len(self.versions)}"
            self.versions.append(Version(mv.ref, content, mv.record_id))

    @precondition(lambda self: self.versions)
    @rule(index=INDEX)
    def promote(self, index: int) -> None:
        version = self._pick(index)
        if version.status != "active":
            with pytest.raises(RefusedError):
                self.registry.promote(version.ref)
            return
        move = self.registry.promote(version.ref)
        assert move.applied == (version.ref != self.moves.current)
        if move.applied:
            self.moves.rows.append(("set", self.moves.current, version.ref))

    @precondition(lambda self: self.moves.rows)
    @rule()
    def rollback(self) -> None:
        expected = self.moves.rollback_target()
        last_action, last_from, _ = self.moves.rows[-1]
        target = next((v for v in self.versions if v.ref == expected), None)
        if target is None or target.status != "active":
            with pytest.raises(RefusedError):
                self.registry.rollback("churn")
            return
        if last_action == "set" and last_from is not None:
            assert expected == last_from
        move = self.registry.rollback("churn")
        assert f"churn@{move.to_version}" == expected
        self.moves.rows.append(("rollback", self.moves.current, expected))

    @precondition(lambda self: self.versions)
    @rule(index=INDEX)
    def hold(self, index: int) -> None:
        version = self._pick(index)
        if version.status == "purged":
            with pytest.raises(RefusedError):
                self.registry.hold(version.ref, "legal")
            return
        self.registry.hold(version.ref, "legal")
        version.holds += 1

    @precondition(lambda self: self.versions)
    @rule(index=INDEX)
    def release(self, index: int) -> None:
        version = self._pick(index)
        if version.holds == 0:
            with pytest.raises(NotFoundError):
                self.registry.release(version.ref)
            return
        assert len(self.registry.release(version.ref)) == version.holds
        version.holds = 0

    @precondition(lambda self: self.versions)
    @rule(index=INDEX, purge=st.booleans())
    def retire(self, index: int, purge: bool) -> None:
        version = self._pick(index)
        vid = version_id(self.registry, version.ref)
        if purge:
            allowed = version.status == "tombstoned" and not self._protected(version)
            assert self.registry.mark_purged(vid, reason="test", plan_id=None) == allowed
            if allowed:
                version.status = "purged"
        else:
            allowed = version.status == "active" and not self._protected(version)
            assert self.registry.tombstone(vid, reason="test", plan_id=None) == allowed
            if allowed:
                version.status = "tombstoned"

    @invariant()
    def alias_history_is_one_linear_chain(self) -> None:
        if not self.versions:
            return
        history = self.registry.alias_history("churn", "production")
        previous = None
        for move in history:
            assert move.from_version == previous
            previous = move.to_version
        assert [(m.action, f"churn@{m.to_version}") for m in history] == [
            (action, to) for action, _, to in self.moves.rows
        ]
        if self.moves.current:
            assert self.registry.resolve("churn@production").ref == self.moves.current

    @invariant()
    def records_and_statuses_never_drift(self) -> None:
        for version in self.versions:
            current = self.registry.resolve(version.ref)
            assert current.record_id == version.record_id
            assert current.status == version.status
            if version.holds:
                assert current.status != "purged"
        if self.versions:
            assert (
                self.registry.record(self.versions[-1].ref).record_id == self.versions[-1].record_id
            )

    def check_audit(self) -> None:
        assert self.registry.verify_audit().ok


RegistryMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRegistryStateMachine = RegistryMachine.TestCase
