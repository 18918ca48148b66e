"""Hostile or malformed input gets a typed error and changes nothing (rows and bytes)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mv_orchestration.errors import (
    AliasNotFoundError,
    InvalidNameError,
    InvalidReferenceError,
    InvalidVersionError,
    MetadataLimitError,
    ModelNotFoundError,
    UnsupportedValueError,
    ValidationError,
    VersionNotFoundError,
)
from mv_orchestration.registry import Registry
from tests.core.registry_helpers import model_dir, register, row_counts, store_files

pytest_plugins = ["tests.core.registry_fixtures"]


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"x": value}
    return value


def _register_with(**kwargs: Any) -> Callable[[Registry, Path], Any]:
    def call(registry: Registry, tmp_path: Path) -> Any:
        with registry.run("churn") as run:
            return run.register_model(model_dir(tmp_path, "new"), **kwargs)

    return call


def _in_run(action: Callable[[Any], Any]) -> Callable[[Registry, Path], Any]:
    def call(registry: Registry, tmp_path: Path) -> Any:
        with registry.run("churn") as run:
            return action(run)

    return call


def _symlinked(registry: Registry, tmp_path: Path) -> Any:
    directory = model_dir(tmp_path, "linked")
    os.symlink("/etc/passwd", directory / "escape")
    with registry.run("churn") as run:
        return run.register_model(directory)


def _missing_path(registry: Registry, tmp_path: Path) -> Any:
    with registry.run("churn") as run:
        return run.register_model(tmp_path / "nope")


HUGE_VALUE = {"blob": "x" * 10_000_000}
MANY_KEYS = {f"k{i}": i for i in range(100_000)}
DEEP = _nested(10_000)
SURROGATE = {"k": "\ud800"}

CASES: list[tuple[str, Callable[[Registry, Path], Any], type[Exception]]] = [
    *[
        (f"model name {name!r}", lambda r, p, n=name: r.run(n), InvalidNameError)
        for name in ["", "Churn", "-churn", "a" * 129, "team/churn", "a@b", "chürn", "a b"]
    ],
    ("invalid semver", _register_with(version="1.0"), InvalidVersionError),
    ("leading zero semver", _register_with(version="01.0.0"), InvalidVersionError),
    ("unknown bump", _register_with(bump="huge"), ValidationError),
    (
        "metadata value of 10 MB",
        _register_with(metadata={"blob": "x" * 10_000_000}),
        MetadataLimitError,
    ),
    (
        "100,000 metadata keys",
        _register_with(metadata={f"k{i}": i for i in range(100_000)}),
        MetadataLimitError,
    ),
    ("metadata nested 10,000 deep", _register_with(metadata=DEEP), MetadataLimitError),
    ("lone surrogate in metadata", _register_with(metadata={"k": "\udc80"}), ValidationError),
    ("lone surrogate in a metadata key", _register_with(metadata={"\ud800": 1}), ValidationError),
    ("NaN in metadata", _register_with(metadata={"k": float("nan")}), UnsupportedValueError),
    ("object in signature", _register_with(signature={"k": object()}), UnsupportedValueError),
    ("lone surrogate in a tag", _register_with(tags={"k": "\udc80"}), InvalidNameError),
    ("bad tag key", _register_with(tags={"bad key": "v"}), InvalidNameError),
    ("unknown parent", _register_with(parent="churn@9.9.9"), VersionNotFoundError),
    ("bad parent reference", _register_with(parent="churn@"), InvalidReferenceError),
    ("symlink in the model", _symlinked, ValidationError),
    (
        "missing model path",
        lambda r, p: _in_run(lambda run: run.register_model(p / "nope"))(r, p),
        ValidationError,
    ),
    (
        "params nested 10,000 deep",
        _in_run(lambda run: run.log_params(_nested(10_000))),
        MetadataLimitError,
    ),
    (
        "lone surrogate in params",
        _in_run(lambda run: run.log_params({"k": "\ud800"})),
        ValidationError,
    ),
    ("NaN metric", _in_run(lambda run: run.log_metrics({"loss": float("nan")})), ValidationError),
    ("bad dataset name", _in_run(lambda run: run.log_dataset("a b", "x")), ValidationError),
    ("unknown alias", lambda r, p: r.resolve("churn@nope"), AliasNotFoundError),
    ("unknown version", lambda r, p: r.resolve("churn@3.0.0"), VersionNotFoundError),
    ("unknown model", lambda r, p: r.resolve("nope@latest"), ModelNotFoundError),
    ("invalid reference", lambda r, p: r.resolve("not a ref"), InvalidReferenceError),
    ("short digest prefix", lambda r, p: r.resolve("abc123"), InvalidReferenceError),
    ("promote unknown version", lambda r, p: r.promote("churn@2.0.0"), VersionNotFoundError),
    ("rollback unknown model", lambda r, p: r.rollback("nope"), ModelNotFoundError),
    ("hold unknown alias", lambda r, p: r.hold("churn@staging", "x"), AliasNotFoundError),
]


@pytest.mark.parametrize(("case", "action", "error"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_nothing_is_written(
    registry: Registry,
    tmp_path: Path,
    case: str,
    action: Callable[[Registry, Path], Any],
    error: type[Exception],
) -> None:
    register(registry, "churn", tmp_path, "existing")
    store_root = Path(registry.store.url.removeprefix("file://"))
    rows, files = row_counts(registry), store_files(store_root)
    with pytest.raises(error):
        action(registry, tmp_path)
    assert row_counts(registry) == rows
    assert store_files(store_root) == files
