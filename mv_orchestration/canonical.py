"""Canonical JSON: the one byte form of every record, params blob and manifest.

Sorted keys, no insignificant whitespace, UTF-8, numbers normalised (an integral float
within 2**53 is written as an integer, ``-0.0`` as ``0``, other floats in their shortest
round-trip form), NaN and infinities refused. Equal values always give equal bytes, so
the digest of these bytes identifies the value.
"""

from __future__ import annotations

import json
import math
from typing import Any

from mv_orchestration.errors import UnsupportedValueError

_MAX_SAFE_INT = 2**53


def normalise(value: Any, path: str = "$") -> Any:
    """Return ``value`` as plain JSON types with normalised numbers.

    Raises :class:`UnsupportedValueError` naming the key path of the first value that is
    not a JSON type (dict with str keys, list/tuple, str, int, float, bool, None).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise UnsupportedValueError(f"{path}: NaN and infinity have no canonical JSON form")
        if value == 0:
            return 0
        if value.is_integer() and abs(value) < _MAX_SAFE_INT:
            return int(value)
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnsupportedValueError(f"{path}: key {key!r} is not a string")
            out[key] = normalise(item, f"{path}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [normalise(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise UnsupportedValueError(f"{path}: value of type {type(value).__name__} is not JSON")


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` (plain JSON types) to canonical JSON bytes."""
    text = json.dumps(
        normalise(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnsupportedValueError(f"text is not valid UTF-8: {exc.reason}") from None
