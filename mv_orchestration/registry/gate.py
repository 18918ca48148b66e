"""Metric gates for promotions: ``{"metric": "accuracy", "min": 0.9}`` and friends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class MetricGate(BaseModel):
    """One bound on one metric of the version's record (``min``/``max`` inclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> MetricGate:
        if self.min is None and self.max is None:
            raise ValueError(f"gate on {self.metric!r} needs min or max")
        return self

    def failure(self, metrics: Mapping[str, float]) -> str | None:
        """Why ``metrics`` fail this gate, or ``None`` when they pass."""
        value = metrics.get(self.metric)
        if value is None:
            return f"metric {self.metric!r} is not recorded"
        if self.min is not None and value < self.min:
            return f"{self.metric}={value} < min {self.min}"
        if self.max is not None and value > self.max:
            return f"{self.metric}={value} > max {self.max}"
        return None


def parse_gates(gate: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> list[MetricGate]:
    """One gate, a list of gates, or none; :class:`ValidationError` on bad input."""
    import pydantic

    from mv_orchestration.errors import ValidationError

    if gate is None:
        return []
    items = [gate] if isinstance(gate, Mapping) else list(gate)
    try:
        return [MetricGate.model_validate(dict(item)) for item in items]
    except (pydantic.ValidationError, TypeError, ValueError) as exc:
        raise ValidationError(f"invalid promotion gate {gate!r}: {exc}") from None


def gate_failures(gates: Sequence[MetricGate], metrics: Mapping[str, float]) -> list[str]:
    """Every reason ``metrics`` fail ``gates`` (empty: the version may be promoted)."""
    return [reason for gate in gates if (reason := gate.failure(metrics)) is not None]
