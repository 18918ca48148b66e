"""seed_everything: real Python/NumPy seeding, deferred seeding on import, torch and TF.

PyTorch and TensorFlow are not installed in the core environment: their paths are tested
with stand-in modules (in ``sys.modules``, and as packages imported from disk in a fresh
interpreter), and against the real torch when it is importable.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mv_orchestration.capture import seeds
from mv_orchestration.capture.seeds import MAX_SEED, rng_state_digests, seed_everything
from mv_orchestration.errors import ValidationError


@pytest.fixture(autouse=True)
def _no_pending_hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.delenv("TF_DETERMINISTIC_OPS", raising=False)
    yield
    seeds._defer([], 0)


def test_given_seed_reproduces_python_and_numpy() -> None:
    state = seed_everything(7)
    drawn = (random.random(), np.random.random())
    seed_everything(7)
    assert (random.random(), np.random.random()) == drawn
    random.seed(7)
    assert drawn == (random.random(), np.random.RandomState(7).random_sample())
    assert state.seed == 7
    assert state.seed_source == "given"
    assert state.seeded[:2] == ["python", "numpy"]


def test_no_seed_draws_from_os_entropy_and_records_it() -> None:
    first, second = seed_everything(), seed_everything()
    assert first.seed_source == second.seed_source == "os_entropy"
    assert 0 <= first.seed <= MAX_SEED
    assert first.seed != second.seed
    seed_everything(first.seed)
    a = random.random()
    seed_everything(first.seed)
    assert random.random() == a


@pytest.mark.parametrize("bad", [-1, MAX_SEED + 1, True, "1", 1.5, [3]])
def test_bad_seeds_are_refused(bad: Any) -> None:
    with pytest.raises(ValidationError):
        seed_everything(bad)


def test_numpy_integer_seed_is_accepted() -> None:
    assert seed_everything(np.int64(12)).seed == 12  # type: ignore[arg-type]


def test_state_digests_depend_only_on_the_seed() -> None:
    random.seed(1)
    np.random.seed(1)
    before = rng_state_digests()
    state = seed_everything(99)
    assert state.state_digests == rng_state_digests()
    assert set(state.state_digests) >= {"python", "numpy"}
    assert state.state_digests != before
    random.random()
    np.random.random()
    assert seed_everything(99).state_digests == state.state_digests
    assert seed_everything(100).state_digests["python"] != state.state_digests["python"]
    random.random()
    assert rng_state_digests()["python"] != state.state_digests["python"]


def test_pythonhashseed_is_recorded_as_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    state = seed_everything(1)
    assert state.pythonhashseed == "0"
    assert state.hash_randomization == bool(sys.flags.hash_randomization)
    monkeypatch.delenv("PYTHONHASHSEED")
    assert seed_everything(1).pythonhashseed is None


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def record(self, name: str, result: Any = None) -> Any:
        def call(*args: Any) -> Any:
            self.calls.append((name, args))
            return result

        return call


def _fake_torch(recorder: _Recorder, cuda: bool) -> types.ModuleType:
    torch = types.ModuleType("torch")
    torch.manual_seed = recorder.record("manual_seed")  # type: ignore[attr-defined]
    torch.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        manual_seed_all=recorder.record("cuda.manual_seed_all"),
        is_available=lambda: cuda,
    )
    torch.backends = types.SimpleNamespace(  # type: ignore[attr-defined]
        cudnn=types.SimpleNamespace(deterministic=False, benchmark=True)
    )
    enabled = {"on": False}

    def use_deterministic_algorithms(mode: bool, warn_only: bool = False) -> None:
        recorder.calls.append(("use_deterministic_algorithms", (mode, warn_only)))
        enabled["on"] = mode

    torch.use_deterministic_algorithms = use_deterministic_algorithms  # type: ignore[attr-defined]
    torch.are_deterministic_algorithms_enabled = lambda: enabled["on"]  # type: ignore[attr-defined]
    torch.get_rng_state = lambda: np.arange(16, dtype=np.uint8)  # type: ignore[attr-defined]
    return torch


@pytest.mark.parametrize("cuda", [False, True])
def test_imported_torch_is_seeded_with_determinism_switches(
    monkeypatch: pytest.MonkeyPatch, cuda: bool
) -> None:
    recorder = _Recorder()
    torch = _fake_torch(recorder, cuda)
    monkeypatch.setitem(sys.modules, "torch", torch)
    state = seed_everything(5)
    assert ("manual_seed", (5,)) in recorder.calls
    assert ("cuda.manual_seed_all", (5,)) in recorder.calls
    assert ("use_deterministic_algorithms", (True, True)) in recorder.calls
    assert torch.backends.cudnn.deterministic is True
    assert torch.backends.cudnn.benchmark is False
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert state.deterministic == {
        "torch.backends.cudnn.deterministic": True,
        "torch.backends.cudnn.benchmark": False,
        "torch.deterministic_algorithms": True,
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }
    assert ("torch.cuda" in state.seeded) is cuda
    assert "torch" in state.state_digests


def test_user_cublas_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(_Recorder(), False))
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    assert seed_everything(5).deterministic["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_imported_tensorflow_is_seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    tf = types.ModuleType("tensorflow")
    tf.random = types.SimpleNamespace(set_seed=recorder.record("set_seed"))  # type: ignore[attr-defined]
    tf.config = types.SimpleNamespace(  # type: ignore[attr-defined]
        experimental=types.SimpleNamespace(enable_op_determinism=recorder.record("determinism"))
    )
    monkeypatch.setitem(sys.modules, "tensorflow", tf)
    state = seed_everything(8)
    assert recorder.calls == [("set_seed", (8,)), ("determinism", ())]
    assert "tensorflow" in state.seeded
    assert state.deterministic["tensorflow.op_determinism"] is True
    assert os.environ["TF_DETERMINISTIC_OPS"] == "1"


_FAKE_TORCH = """
calls = []
def manual_seed(seed): calls.append(["manual_seed", seed])
class cuda:
    @staticmethod
    def manual_seed_all(seed): calls.append(["cuda.manual_seed_all", seed])
    @staticmethod
    def is_available(): return False
class backends:
    class cudnn:
        deterministic = False
        benchmark = True
def use_deterministic_algorithms(mode, warn_only=False): calls.append(["det", mode, warn_only])
def are_deterministic_algorithms_enabled(): return True
"""
_FAKE_TF = """
class random:
    @staticmethod
    def set_seed(seed): raise RuntimeError("broken build")
"""
_DEFERRED = """
import json, os, random, sys
import mv_orchestration.capture.seeds as seeds
state = seeds.seed_everything(11)
out = {"deferred": state.deferred, "seeded": state.seeded,
       "imported_early": [m for m in ("numpy", "torch", "tensorflow") if m in sys.modules]}
import numpy, torch, tensorflow
out["numpy_draw"] = float(numpy.random.random())
out["torch_calls"] = torch.calls
out["cublas"] = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
out["cudnn"] = [torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark]
out["hook_left"] = any(type(f).__name__ == "_SeedOnImport" for f in sys.meta_path)
out["loaders"] = [type(m.__loader__).__name__ for m in (numpy, torch)]
print(json.dumps(out))
"""


def test_frameworks_not_imported_are_seeded_on_first_import(tmp_path: Path) -> None:
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text(_FAKE_TORCH)
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(_FAKE_TF)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("CUBLAS_WORKSPACE_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_DEFERRED)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["imported_early"] == []
    assert out["seeded"] == ["python"]
    assert out["deferred"] == ["numpy", "torch", "tensorflow"]
    assert out["numpy_draw"] == np.random.RandomState(11).random_sample()
    assert out["torch_calls"] == [
        ["manual_seed", 11],
        ["cuda.manual_seed_all", 11],
        ["det", True, True],
    ]
    assert out["cublas"] == ":4096:8"
    assert out["cudnn"] == [True, False]
    assert out["hook_left"] is False
    assert "_SeedingLoader" not in out["loaders"]
    assert "could not seed tensorflow on import" in proc.stderr


def test_real_torch_when_installed() -> None:
    torch = pytest.importorskip("torch")
    try:
        state = seed_everything(9)
        drawn = torch.rand(4)
        torch.manual_seed(9)
        assert torch.equal(drawn, torch.rand(4))
        assert "torch" in state.seeded
        assert state.deterministic["torch.deterministic_algorithms"] is True
        assert torch.backends.cudnn.deterministic is True
        seed_everything(9)
        assert state.state_digests["torch"] == rng_state_digests()["torch"]
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
