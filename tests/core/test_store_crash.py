"""Crash safety: publishers SIGKILLed at random points never leave a partial object at a
final key, and every journaled (committed) digest points at complete, verifying bytes."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pytest

from mv_orchestration.store import ArtifactStore
from mv_orchestration.store._remote import FsBackend
from tests.core.crash_writer import publish_forever

LOCAL_ITERATIONS = 130
S3_ITERATIONS = 80


def kill_publishers(url: str, tmp_path: Path, iterations: int, max_delay_s: float) -> list[str]:
    """Start a publisher, SIGKILL it after a random delay, ``iterations`` times."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.core.crash_writer"])
    journal = tmp_path / "journal.txt"
    workdir = tmp_path / "sources"
    workdir.mkdir()
    rng = random.Random(1234)
    env = {key: value for key, value in os.environ.items() if key.startswith("AWS_")}
    for i in range(iterations):
        ready = ctx.Event()
        child = ctx.Process(
            target=publish_forever,
            args=(url, env, str(journal), str(workdir), i, ready),
            daemon=True,
        )
        child.start()
        assert ready.wait(60), "publisher did not start"
        time.sleep(rng.uniform(0, max_delay_s))
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        assert child.exitcode == -signal.SIGKILL
    text = journal.read_text(encoding="ascii") if journal.exists() else ""
    return [line for line in text.split("\n")[:-1] if line]


def staging_keys(store: ArtifactStore) -> list[str]:
    backend = store._backend
    if isinstance(backend, FsBackend):
        return [key for key, _, _ in backend.list("tmp")]
    return [str(p) for p in backend.root.rglob("*") if p.is_file() and p.name.startswith(".tmp-")]


def check_store(store: ArtifactStore, committed: list[str]) -> None:
    final = [obj.digest for obj in store.iter_objects()]
    for digest in final:
        store.verify(digest)
    assert set(committed) <= set(final)
    for digest in committed:
        store.verify(digest)


@pytest.mark.slow
def test_sigkilled_local_publishers_leave_no_partial_objects(tmp_path: Path) -> None:
    url = str(tmp_path / "store")
    committed = kill_publishers(url, tmp_path, LOCAL_ITERATIONS, max_delay_s=0.25)
    store = ArtifactStore.from_url(url)
    check_store(store, committed)
    leftovers = staging_keys(store)
    assert committed and leftovers, "kills should land both between and inside publishes"
    assert store.sweep_temporary(older_than_s=0) == len(leftovers)
    assert staging_keys(store) == []


@pytest.mark.slow
@pytest.mark.s3
def test_sigkilled_s3_publishers_leave_no_partial_objects(
    s3_store_url: str, tmp_path: Path
) -> None:
    committed = kill_publishers(s3_store_url, tmp_path, S3_ITERATIONS, max_delay_s=0.3)
    store = ArtifactStore.from_url(s3_store_url)
    check_store(store, committed)
    assert committed
    store.sweep_temporary(older_than_s=0)
    assert staging_keys(store) == []
