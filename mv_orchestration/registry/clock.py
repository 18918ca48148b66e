"""UTC timestamps: the one clock and the one text form used in digests."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, microsecond precision."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """``value`` as aware UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def iso_utc(value: datetime) -> str:
    """Fixed-width ISO 8601 text (``2024-01-02T03:04:05.000006Z``), sortable as text."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso_utc(text: str) -> datetime:
    """Parse :func:`iso_utc` text back into an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
