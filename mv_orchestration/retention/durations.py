"""Human durations for retention policies: ``90m``, ``24h``, ``30d``, ``2w``, ``7y``, ``1d12h``.

A duration is one or more ``<integer><unit>`` parts with units ``s`` (seconds), ``m``
(minutes), ``h`` (hours), ``d`` (days), ``w`` (weeks) and ``y`` (365 days). Months are not
offered because their length varies; write ``30d`` or ``4w``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import compress, repeat
from operator import attrgetter, is_
from typing import Annotated, Any, cast

from pydantic import BeforeValidator, PlainSerializer

from mv_orchestration.errors import ValidationError

UNIT_SECONDS: dict[str, int] = {
    "y": 365 * 86400,
    "w": 7 * 86400,
    "d": 86400,
    "h": 3600,
    "m": 60,
    "s": 1,
}
_WHOLE = re.compile(r"^(?:\d+[smhdwy])+$")
_PART = re.compile(r"(\d+)([smhdwy])")
_MAX_SECONDS = 1000 * 365 * 86400
_DAYS = attrgetter("days")


def parse_duration(value: str | timedelta) -> timedelta:
    """Parse ``value`` (``"30d"``, ``"1d12h"`` or a non-negative ``timedelta``).

    Raises :class:`ValidationError` for anything else, including bare numbers (the unit is
    never guessed) and durations beyond 1000 years.
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValidationError(f"duration {value} is negative")
        return value
    if not isinstance(value, str):
        raise ValidationError(
            f"duration {value!r} must be a string such as '30d', '24h' or '7y' (units s m h d w y)"
        )
    text = value.strip().lower()
    if not _WHOLE.match(text):
        raise ValidationError(
            f"duration {value!r} is not valid: use <number><unit> with units s, m, h, d, w, y "
            "(for example '90m', '24h', '30d', '7y', '1d12h')"
        )
    seconds = sum(int(n) * UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    if seconds > _MAX_SECONDS:
        raise ValidationError(f"duration {value!r} exceeds 1000 years")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Return short canonical text for ``value`` (``timedelta(days=30)`` -> ``"30d"``).

    Weeks are used only for a whole number of weeks below a year; sub-second parts are
    dropped. The result parses back to the same whole seconds.
    """
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    week = UNIT_SECONDS["w"]
    if seconds % week == 0 and seconds < UNIT_SECONDS["y"]:
        return f"{seconds // week}w"
    parts = []
    for unit, size in UNIT_SECONDS.items():
        if unit == "w":
            continue
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def age_text(delta: timedelta) -> str:
    """A coarse human age: whole days above a day, else hours, minutes or seconds."""
    if delta.days > 0:
        return f"{delta.days}d"
    seconds = max(int(delta.total_seconds()), 0)
    if seconds >= 3600:
        return f"{seconds // 3600}h"
    if seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def age_texts(now: datetime, moments: Iterable[datetime]) -> list[str]:
    """:func:`age_text` of ``now - moment`` for each of ``moments`` (each whole number of
    days, the common case, is written once)."""
    deltas = list(map(now.__sub__, moments))
    days = list(map(_DAYS, deltas))
    texts: list[str | None] = list(
        map({count: f"{count}d" for count in set(days) if count > 0}.get, days)
    )
    for index in compress(range(len(texts)), map(is_, texts, repeat(None))):
        texts[index] = age_text(deltas[index])
    return cast(list[str], texts)


def when_text(moment: datetime) -> str:
    """An ISO 8601 time to the second, for explanations."""
    return moment.isoformat(timespec="seconds")


def _validate(value: Any) -> timedelta:
    try:
        return parse_duration(value)
    except ValidationError as exc:
        # pydantic turns ValueError into a field error that names the offending key
        raise ValueError(str(exc)) from None


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A pydantic field type: parsed with :func:`parse_duration`, dumped to JSON as text."""
