"""One GC at a time: a GC or sweep whose lease was lost deletes nothing (more)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest

import mv_orchestration.retention.gc as gc
from mv_orchestration.errors import LeaseError
from mv_orchestration.registry import Registry
from mv_orchestration.registry.lease import Lease, acquire_lease
from mv_orchestration.retention import collect_garbage
from mv_orchestration.retention.leases import GC_LEASE
from mv_orchestration.retention.marks import mark_registry
from tests.core.gc_helpers import events, gc_sweep, put_garbage

pytest_plugins = ["tests.core.registry_fixtures"]

TTL_S = 0.4


def _objects(registry: Registry) -> set[str]:
    return {stored.digest for stored in registry.store.iter_objects()}


def _events(registry: Registry, action: str) -> list[dict]:
    return [payload for _, payload in events(registry, action)]


def _snapshot_version(registry: Registry, root: Path, name: str) -> None:
    data = root / f"data-{name}"
    data.mkdir()
    (data / "rows.csv").write_text(f"id\n{name}\n")
    with registry.run("churn", seed=1) as run:
        run.log_dataset("train", data, snapshot=True)
        weights = root / f"weights-{name}"
        weights.write_bytes(name.encode() * 5)
        run.register_model(weights)


def _take_over_once_expired(stack: ExitStack, registry: Registry) -> None:
    """Wait until the GC's lease expired, then take it over as another GC."""
    time.sleep(TTL_S + 0.1)
    stack.enter_context(acquire_lease(registry.engine, GC_LEASE, "gc:another", 600))


def test_a_gc_whose_lease_is_taken_over_while_marking_deletes_nothing(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _snapshot_version(registry, tmp_path, "a")
    _snapshot_version(registry, tmp_path, "b")  # two manifests read while marking
    put_garbage(registry, 3)
    before = _objects(registry)
    monkeypatch.setattr(gc, "LEASE_TTL_S", TTL_S)
    get_bytes, listed, reads = registry.store.get_bytes, [], []
    with ExitStack() as stack:

        def slow_read(digest: str) -> bytes:
            reads.append(digest)
            if len(reads) == 1:
                _take_over_once_expired(stack, registry)
            return get_bytes(digest)

        monkeypatch.setattr(registry.store, "get_bytes", slow_read)
        monkeypatch.setattr(registry.store, "iter_objects", lambda: listed.append(1) or iter(()))
        with pytest.raises(LeaseError, match="lost"):
            collect_garbage(registry, dry_run=False, grace_period=timedelta(0))
    monkeypatch.undo()
    assert listed == [] and len(reads) == 1  # stopped at the next manifest read
    assert _objects(registry) == before
    assert _events(registry, "retention.gc_delete") == []
    assert _events(registry, "retention.gc_delete_intent") == []


def test_a_gc_whose_lease_is_taken_over_while_listing_deletes_nothing(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_garbage(registry, 3)
    before = _objects(registry)
    monkeypatch.setattr(gc, "LEASE_TTL_S", TTL_S)
    iter_objects = registry.store.iter_objects
    with ExitStack() as stack:

        def slow_listing():  # listing a big bucket outlasts the lease's ttl
            yield from iter_objects()
            _take_over_once_expired(stack, registry)

        monkeypatch.setattr(registry.store, "iter_objects", slow_listing)
        with pytest.raises(LeaseError, match="lost"):
            collect_garbage(registry, dry_run=False, grace_period=timedelta(0))
    assert _objects(registry) == before
    assert _events(registry, "retention.gc_delete") == []


def test_a_gc_slower_than_its_lease_ttl_keeps_the_lease_by_renewing_it_while_marking(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _snapshot_version(registry, tmp_path, "a")
    _snapshot_version(registry, tmp_path, "b")
    garbage = put_garbage(registry, 2)
    monkeypatch.setattr(gc, "LEASE_TTL_S", TTL_S)
    get_bytes, iter_objects, refused = registry.store.get_bytes, registry.store.iter_objects, []

    def slow_read(digest: str) -> bytes:
        time.sleep(TTL_S * 0.75)  # marking outlasts the ttl
        return get_bytes(digest)

    def listing_then_another_gc():
        yield from iter_objects()
        with (
            pytest.raises(LeaseError, match="is held by") as raised,
            acquire_lease(registry.engine, GC_LEASE, "gc:another", 600),
        ):
            pass
        refused.append(raised.value)

    monkeypatch.setattr(registry.store, "get_bytes", slow_read)
    monkeypatch.setattr(registry.store, "iter_objects", listing_then_another_gc)
    report = collect_garbage(registry, dry_run=False, grace_period=timedelta(0))
    assert len(refused) == 1
    assert sorted(report.deleted) == sorted(garbage)


def _sweep_losing_the_lease(
    registry: Registry, lose: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], list[str]]:
    """Sweep three garbage objects a batch at a time under a lease that another GC takes
    over: ``between`` batches (no renewal that would notice) or ``inside`` the second
    batch, after its intent. Returns the garbage and what is left of it."""
    garbage = put_garbage(registry, 3)
    marks = mark_registry(registry)
    batches: list[int] = []
    write = registry.write
    with ExitStack() as stack:
        lease: Lease = stack.enter_context(
            acquire_lease(registry.engine, GC_LEASE, "gc:first", TTL_S)
        )

        def before_batch() -> None:
            batches.append(1)
            if lose == "between" and len(batches) == 2:
                _take_over_once_expired(stack, registry)

        def write_then_lose(what: str, operation):
            if lose == "inside" and len(batches) == 2 and what.endswith(" batch"):
                _take_over_once_expired(stack, registry)
            return write(what, operation)

        monkeypatch.setattr(registry, "write", write_then_lose)
        with pytest.raises(LeaseError, match="lost"):
            gc_sweep(registry, garbage, marks, batch_size=1, before_batch=before_batch, lease=lease)
        monkeypatch.undo()
    return garbage, [digest for digest in garbage if registry.store.exists(digest)]


@pytest.mark.parametrize("lose", ["between", "inside"])
def test_a_sweep_batch_whose_lease_was_lost_deletes_nothing_more(
    registry: Registry, lose: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage, left = _sweep_losing_the_lease(registry, lose, monkeypatch)
    assert left == garbage[1:]
    intents = _events(registry, "retention.gc_delete_intent")
    assert [i["objects"] for i in intents] == [
        [digest] for digest in garbage[: 1 if lose == "between" else 2]
    ]
    done, *stopped = _events(registry, "retention.gc_delete")
    assert done["objects"] == garbage[:1]
    if lose == "inside":  # the second batch's intent is answered: nothing deleted, and why
        (event,) = stopped
        assert (event["objects"], event["bytes"]) == ([], 0)
        assert "lost" in event["stopped"]
    else:
        assert stopped == []


def test_a_sweep_whose_lease_expired_deletes_nothing(registry: Registry) -> None:
    garbage = put_garbage(registry, 2)
    marks = mark_registry(registry)
    with acquire_lease(registry.engine, GC_LEASE, "gc:slow", 0.2) as lease:
        time.sleep(0.3)  # expired, not taken over, and not renewed
        with pytest.raises(LeaseError, match="expired"):
            gc_sweep(registry, garbage, marks, lease=lease)
    assert all(map(registry.store.exists, garbage))
