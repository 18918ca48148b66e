"""The orchestrator-neutral identity of one task run, filled in by each adapter."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mv_orchestration.capture.jsonform import JsonForm
from mv_orchestration.capture.redact import redact_text
from mv_orchestration.errors import ValidationError

_TEXT_FIELDS = (
    "run_id",
    "task_id",
    "partition_key",
    "pipeline",
    "deployment",
    "asset_key",
    "code_version",
)
_INT_FIELDS = ("try_number", "map_index")


def _escape(part: str) -> str:
    """Escape ``%`` and ``:`` so the joined key stays unambiguous."""
    return part.replace("%", "%25").replace(":", "%3A")


@dataclass(frozen=True)
class RunContext(JsonForm):
    """Who ran this task: orchestrator, run, task, try, map index or partition, and more.

    ``orchestrator`` is ``"local"`` outside any orchestrator. ``pipeline`` is the DAG id,
    flow name or job name; ``deployment`` the Prefect deployment (or similar).
    ``logical_date`` also accepts ISO 8601 text. A field of the wrong type raises
    :class:`~mv_orchestration.errors.ValidationError`.
    """

    orchestrator: str = "local"
    run_id: str | None = None
    task_id: str | None = None
    try_number: int | None = None
    map_index: int | None = None
    partition_key: str | None = None
    logical_date: datetime | None = None
    pipeline: str | None = None
    deployment: str | None = None
    asset_key: str | None = None
    code_version: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.orchestrator, str) or not self.orchestrator:
            raise ValidationError("invalid run context: orchestrator must be non-empty text")
        for name in _TEXT_FIELDS:
            if not isinstance(getattr(self, name), (str, type(None))):
                raise ValidationError(f"invalid run context: {name} must be text or None")
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValidationError(f"invalid run context: {name} must be an integer or None")
        object.__setattr__(self, "logical_date", _moment(self.logical_date))
        if not isinstance(self.extra, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.extra.items()
        ):
            raise ValidationError("invalid run context: extra must map text to text")
        object.__setattr__(self, "extra", dict(self.extra))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RunContext:
        """A context from a mapping of its fields (its :meth:`to_json` form included)."""
        if not isinstance(data, Mapping):
            raise ValidationError("run context must be a RunContext or a mapping of its fields")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            names = redact_text(", ".join(map(str, unknown)))
            raise ValidationError(f"invalid run context: unknown fields {names}")
        return cls(**data)

    def idempotency_key(self) -> str | None:
        """Key that is equal for every try of the same task run, or None without a run id.

        ``"{orchestrator}:{pipeline}:{run_id}:{task_id}:{map_index or partition_key}"``,
        followed by ``":{asset_key}"`` when set. The try number is never part of it, so an
        orchestrator retry maps to the same key. ``%`` and ``:`` inside a part are
        percent-encoded, so distinct contexts never share a key.
        """
        if self.run_id is None:
            return None
        slot = str(self.map_index) if self.map_index is not None else self.partition_key or ""
        parts = [self.orchestrator, self.pipeline or "", self.run_id, self.task_id or "", slot]
        if self.asset_key:
            parts.append(self.asset_key)
        return ":".join(_escape(part) for part in parts)


def _moment(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise ValidationError("invalid run context: logical_date must be a datetime or ISO 8601 text")
