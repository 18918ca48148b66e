"""The JSON form of capture results, which is what a version record stores.

Capture results are frozen dataclasses rather than pydantic models: the values come from
this package's own code, and keeping pydantic off the capture path keeps the first
captured task in a new process cheap.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

EXCLUDE = {"exclude": True}
"""Field metadata of a value kept in memory but left out of the JSON form."""


class JsonForm:
    """Mixin for capture dataclasses: :meth:`to_json` gives their plain-JSON form."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types: nested results as objects, datetimes as ISO 8601 text."""
        return {name: to_json(getattr(self, name)) for name in json_fields(type(self))}


def to_json(value: Any) -> Any:
    """``value`` with every capture result, datetime, tuple and dict made plain JSON."""
    if isinstance(value, JsonForm):
        return value.to_json()
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def iso_datetime(moment: datetime) -> str:
    """ISO 8601 text, UTC written as ``Z`` (the form pydantic writes)."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_FIELDS: dict[type, tuple[str, ...]] = {}


def json_fields(cls: type) -> tuple[str, ...]:
    """The names of a capture dataclass's fields that its JSON form holds, in order."""
    names = _FIELDS.get(cls)
    if names is None:
        fields = dataclasses.fields(cls)
        names = _FIELDS[cls] = tuple(f.name for f in fields if not f.metadata.get("exclude"))
    return names
