"""Seed every random number generator a run may use, and record what was done.

Seeded: Python's ``random``, NumPy's global state, PyTorch (CPU and every CUDA device, with
its determinism switches) and TensorFlow. A framework already imported is seeded at once.
A framework that is installed but not imported yet is *not* imported here (that would cost
seconds for code that never uses it): an import hook seeds it with the same seed and
switches the moment user code first imports it, and the state lists it as ``deferred``.

``PYTHONHASHSEED`` is recorded as seen. It only takes effect when an interpreter starts,
so it cannot be set for the running process; set it before launching workers.

The generators are process-wide: tasks that run concurrently in threads of one process
share them, so only one seed can hold at a time there.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import operator
import os
import random
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from mv_orchestration.capture.environment import sys_path_stamp
from mv_orchestration.capture.jsonform import JsonForm
from mv_orchestration.errors import ValidationError
from mv_orchestration.hashing.digest import digest_bytes

logger = logging.getLogger(__name__)

MAX_SEED = 2**32 - 1
FRAMEWORKS = ("numpy", "torch", "tensorflow")
CUBLAS_WORKSPACE_CONFIG = ":4096:8"


@dataclass(frozen=True)
class SeedState(JsonForm):
    """The seed of a run, which generators got it, and digests of their seeded states.

    ``state_digests`` depend only on the seed and the generators' implementations, so
    two runs with the same seed and libraries record the same digests; a digest that
    differs shows a library whose seeding changed. Compare :func:`rng_state_digests`
    taken at the end of two runs to see whether they drew the same random numbers.
    """

    seed: int
    seed_source: Literal["given", "os_entropy"]
    seeded: list[str]
    deferred: list[str]
    deterministic: dict[str, str | bool | None]
    pythonhashseed: str | None
    hash_randomization: bool
    state_digests: dict[str, str]


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool):
        raise ValidationError("seed must be an integer, not a bool")
    try:
        value = operator.index(seed)
    except TypeError:
        raise ValidationError(f"seed must be an integer, got {type(seed).__name__}") from None
    if not 0 <= value <= MAX_SEED:
        raise ValidationError(f"seed must be between 0 and {MAX_SEED}, got {value}")
    return value


def _seed_numpy(numpy: Any, seed: int) -> dict[str, str | bool | None]:
    numpy.random.seed(seed)
    return {}


def _seed_torch(torch: Any, seed: int) -> dict[str, str | bool | None]:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    return {
        "torch.backends.cudnn.deterministic": bool(torch.backends.cudnn.deterministic),
        "torch.backends.cudnn.benchmark": bool(torch.backends.cudnn.benchmark),
        "torch.deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def _seed_tensorflow(tf: Any, seed: int) -> dict[str, str | bool | None]:
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    tf.random.set_seed(seed)
    enable = getattr(getattr(tf.config, "experimental", None), "enable_op_determinism", None)
    if enable is not None:
        enable()
    return {
        "tensorflow.op_determinism": enable is not None,
        "TF_DETERMINISTIC_OPS": os.environ.get("TF_DETERMINISTIC_OPS"),
    }


_SEEDERS = {"numpy": _seed_numpy, "torch": _seed_torch, "tensorflow": _seed_tensorflow}


def _seed_framework(name: str, module: Any, seed: int) -> tuple[list[str], dict[str, Any]]:
    """Seed one framework; return the generator names seeded and the switches set."""
    switches = _SEEDERS[name](module, seed)
    seeded = [name]
    if name == "torch" and module.cuda.is_available():
        seeded.append("torch.cuda")
    return seeded, switches


class _SeedingLoader(importlib.abc.Loader):
    """Runs the real loader, then seeds the freshly imported framework."""

    def __init__(self, loader: Any, hook: _SeedOnImport) -> None:
        self._loader = loader
        self._hook = hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._hook.loaded(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _SeedOnImport(importlib.abc.MetaPathFinder):
    """Seeds a framework when it is first imported, with the latest run's seed."""

    def __init__(self) -> None:
        self.seed = 0
        self.pending: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if path is not None or fullname not in self.pending:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _SeedingLoader(spec.loader, self)
        return spec

    def loaded(self, module: ModuleType) -> None:
        name = module.__name__
        with _LOCK:
            if name not in self.pending:
                return
            self.pending.discard(name)
            if not self.pending and self in sys.meta_path:
                sys.meta_path.remove(self)
            try:
                _seed_framework(name, module, self.seed)
            except Exception as exc:
                logger.warning("could not seed %s on import: %s", name, exc)
            else:
                logger.debug("seeded %s on first import", name)


_LOCK = threading.RLock()
_HOOK = _SeedOnImport()


_INSTALLED: dict[str, tuple[tuple[object, ...], bool]] = {}


def _installed(name: str, stamp: tuple[object, ...]) -> bool:
    """Whether ``name`` can be imported (cached while ``sys.path``'s ``stamp`` holds)."""
    cached = _INSTALLED.get(name)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    _INSTALLED[name] = (stamp, found)
    return found


def _defer(names: list[str], seed: int) -> None:
    _HOOK.seed = seed
    _HOOK.pending = set(names)
    if names and _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)
    elif not names and _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


def rng_state_digests() -> dict[str, str]:
    """Digests of the current states of Python's, NumPy's and PyTorch's CPU generators.

    Only frameworks already imported are read. Two runs whose digests match at the same
    point drew the same random numbers up to there.
    """
    digests = {"python": digest_bytes(repr(random.getstate()).encode())}
    numpy = sys.modules.get("numpy")
    if numpy is not None and hasattr(numpy, "random"):
        kind, keys, pos, has_gauss, cached = numpy.random.get_state()
        tail = repr((kind, pos, has_gauss, cached)).encode()
        digests["numpy"] = digest_bytes(keys.tobytes() + tail)
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_rng_state"):
        digests["torch"] = digest_bytes(bytes(torch.get_rng_state().tolist()))
    return digests


def seed_everything(seed: int | None = None) -> SeedState:
    """Seed every installed generator with ``seed`` (drawn from OS entropy when None).

    Frameworks the user did not import are not imported: they are seeded on first import.
    Raises :class:`~mv_orchestration.errors.ValidationError` for a seed outside
    ``0..2**32-1``.
    """
    source: Literal["given", "os_entropy"] = "given"
    if seed is None:
        seed, source = int.from_bytes(os.urandom(4), "big"), "os_entropy"
    seed = _check_seed(seed)
    with _LOCK:
        random.seed(seed)
        seeded = ["python"]
        switches: dict[str, str | bool | None] = {}
        deferred = []
        stamp = sys_path_stamp()
        for name in FRAMEWORKS:
            module = sys.modules.get(name)
            if module is None:
                if _installed(name, stamp):
                    deferred.append(name)
                continue
            done, set_switches = _seed_framework(name, module, seed)
            seeded.extend(done)
            switches.update(set_switches)
        _defer(deferred, seed)
        return SeedState(
            seed=seed,
            seed_source=source,
            seeded=seeded,
            deferred=deferred,
            deterministic=switches,
            pythonhashseed=os.environ.get("PYTHONHASHSEED"),
            hash_randomization=bool(sys.flags.hash_randomization),
            state_digests=rng_state_digests(),
        )
