"""Hyperparameters and configs -> bounded, redacted, canonical-JSON-ready dicts.

Accepted at the top: a mapping, a pydantic model, a dataclass instance, an
``argparse.Namespace`` or an OmegaConf/Hydra config. Inside, besides JSON types: those
same containers, tuples and sets (as lists), ``pathlib`` paths, enums (their value),
datetimes/dates/times (ISO 8601), timedeltas (seconds), decimals and UUIDs (text), NumPy
scalars and small arrays, and pydantic secrets (redacted). Integer dict keys become text.
Anything else is an :class:`~mv_orchestration.errors.UnsupportedValueError` naming the key
path (``$.optimizer.lr``); exceeding a bound is a
:class:`~mv_orchestration.errors.MetadataLimitError`. The walk is iterative, so hostile
nesting meets the depth bound, never ``RecursionError``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import enum
import math
import re
import sys
import uuid
from collections.abc import Mapping, Set
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from mv_orchestration.canonical import canonical_json, normalise
from mv_orchestration.capture.redact import REDACTED, redact_text, redact_value
from mv_orchestration.errors import MetadataLimitError, UnsupportedValueError, ValidationError

DEFAULT_MAX_BYTES = 1_000_000
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_KEYS = 10_000
DEPTH_CEILING = 256
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_SCALARS = (str, int, float, bool, type(None))


@dataclass
class _Budget:
    max_bytes: int
    max_depth: int
    max_keys: int
    keys: int = 0
    size: int = 0

    def count(self, path: str, size: int) -> None:
        self.keys += 1
        self.size += size
        if self.keys > self.max_keys:
            raise MetadataLimitError(_at(path, f"more than {self.max_keys} keys and items"))
        if self.size > self.max_bytes:
            raise MetadataLimitError(_at(path, f"larger than {self.max_bytes} bytes"))


def _at(path: str, message: str) -> str:
    return redact_text(f"{path}: {message}")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENTIFIER.fullmatch(key) else f"{path}[{key!r}]"


def _is_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy" and "numpy" in sys.modules


def _is_pydantic_secret(value: Any) -> bool:
    return type(value).__module__.startswith("pydantic") and hasattr(value, "get_secret_value")


def _omegaconf_container(value: Any, path: str) -> Any:
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_container(value, resolve=True, throw_on_missing=True)
    except Exception as exc:
        raise UnsupportedValueError(_at(path, f"config cannot be resolved: {exc}")) from None


def _plain(value: Any, path: str, budget: _Budget) -> Any:
    """Turn one value into a JSON scalar, a dict or a list (children still to convert)."""
    for _ in range(8):
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, (dict, list, *_SCALARS)):
            return value
        elif type(value).__module__.startswith("omegaconf"):
            value = _omegaconf_container(value, path)
        elif isinstance(value, type):
            raise UnsupportedValueError(_at(path, f"a class ({value.__name__}) is not a value"))
        elif hasattr(type(value), "model_fields") and hasattr(value, "model_dump"):
            value = value.model_dump(mode="python")
        elif dataclasses.is_dataclass(value):
            value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        elif isinstance(value, argparse.Namespace):
            value = dict(vars(value))
        elif isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Set):
            value = _sorted_set(value, path, budget)
        elif isinstance(value, PurePath):
            return value.as_posix()
        elif isinstance(value, (dt.datetime, dt.date, dt.time)):
            return value.isoformat()
        elif isinstance(value, dt.timedelta):
            return value.total_seconds()
        elif isinstance(value, (Decimal, uuid.UUID)):
            return str(value)
        elif _is_pydantic_secret(value):
            return REDACTED
        elif _is_numpy(value) and hasattr(value, "tolist"):
            if getattr(value, "size", 1) > budget.max_keys:
                raise MetadataLimitError(_at(path, f"array larger than {budget.max_keys} items"))
            value = value.tolist()
        else:
            kind = type(value).__name__
            raise UnsupportedValueError(_at(path, f"value of type {kind} is not supported"))
    raise UnsupportedValueError(_at(path, f"value of type {type(value).__name__} is not supported"))


def _sorted_set(value: Set[Any], path: str, budget: _Budget) -> list[Any]:
    items = [_plain(item, f"{path}[*]", budget) for item in value]
    if any(isinstance(item, (dict, list)) for item in items):
        raise UnsupportedValueError(_at(path, "a set may hold only scalars"))
    return sorted(items, key=lambda item: canonical_json(_leaf(item, path)))


def _key(key: Any, path: str) -> str:
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise UnsupportedValueError(_at(path, f"key {type(key).__name__} is not text or an integer"))


def _leaf(value: Any, path: str) -> Any:
    """A JSON scalar of the exact built-in type (``numpy.float64`` -> ``float``)."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise UnsupportedValueError(_at(path, "NaN and infinity have no canonical JSON form"))
        return float(value)
    if isinstance(value, str) and type(value) is not str:
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


def _walk(root: Any, budget: _Budget) -> Any:
    holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, str, int]] = [(root, holder, 0, "$", 1)]
    while stack:
        value, parent, slot, path, depth = stack.pop()
        value = _plain(value, path, budget)
        if isinstance(value, (dict, list)) and depth > budget.max_depth:
            raise MetadataLimitError(_at(path, f"nested deeper than {budget.max_depth} levels"))
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            parent[slot] = out
            for key, item in value.items():
                name = _key(key, path)
                child = _child(path, name)
                if name in out:
                    raise UnsupportedValueError(_at(child, "duplicate key after conversion"))
                budget.count(child, len(name) + 4)
                out[name] = None
                stack.append((item, out, name, child, depth + 1))
        elif isinstance(value, list):
            items: list[Any] = [None] * len(value)
            parent[slot] = items
            for index, item in enumerate(value):
                child = f"{path}[{index}]"
                budget.count(child, 1)
                stack.append((item, items, index, child, depth + 1))
        else:
            budget.size += len(value) if isinstance(value, str) else 8
            if budget.size > budget.max_bytes:
                raise MetadataLimitError(_at(path, f"larger than {budget.max_bytes} bytes"))
            parent[slot] = _leaf(value, path)
    return holder[0]


def normalise_params(
    obj: Any,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_keys: int = DEFAULT_MAX_KEYS,
) -> dict[str, Any]:
    """Return ``obj`` as a redacted dict of canonical JSON values, within the bounds.

    ``max_bytes`` bounds the canonical JSON, ``max_depth`` the nesting of containers
    (at most :data:`DEPTH_CEILING`), ``max_keys`` the total count of keys and items.
    None gives ``{}``.
    """
    if not 1 <= max_depth <= DEPTH_CEILING:
        raise ValidationError(f"max_depth must be between 1 and {DEPTH_CEILING}")
    if obj is None:
        return {}
    budget = _Budget(max_bytes=max_bytes, max_depth=max_depth, max_keys=max_keys)
    result = _walk(obj, budget)
    if not isinstance(result, dict):
        raise UnsupportedValueError(
            f"$: params must be a mapping, pydantic model, dataclass, argparse Namespace "
            f"or OmegaConf config, not {type(obj).__name__}"
        )
    redacted = normalise(redact_value(result))
    size = len(canonical_json(redacted))
    if size > max_bytes:
        raise MetadataLimitError(f"$: canonical JSON is {size} bytes, over {max_bytes}")
    return redacted
