"""Retry a whole transaction when the database says "try again".

Retryable: SQLite busy/locked, PostgreSQL serialization failures and deadlocks, and
unique-constraint races (two writers allocating the same version or inserting the same
key at once: the retry re-reads and sees the winner). Waits grow exponentially with full
jitter. When every attempt fails the caller gets a :class:`ConflictError`, never the raw
driver message.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from mv_orchestration.errors import ConflictError

log = logging.getLogger(__name__)
T = TypeVar("T")

_PG_RETRY_STATES = {"40001", "40P01", "23505"}
_SQLITE_RETRY_NAMES = ("SQLITE_BUSY", "SQLITE_LOCKED")
_SQLITE_UNIQUE_NAMES = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}


def is_retryable(exc: BaseException) -> bool:
    """True when ``exc`` is a transient conflict that a fresh transaction may not meet."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    state = getattr(orig, "sqlstate", None)
    if state is not None:
        return state in _PG_RETRY_STATES
    name = getattr(orig, "sqlite_errorname", None)
    if isinstance(name, str):
        return name.startswith(_SQLITE_RETRY_NAMES) or name in _SQLITE_UNIQUE_NAMES
    text = str(orig).lower()
    return "database is locked" in text or "unique constraint failed" in text


def with_retry(
    operation: Callable[[], T],
    *,
    what: str,
    attempts: int = 30,
    base_s: float = 0.002,
    cap_s: float = 0.25,
) -> T:
    """Call ``operation`` (one whole transaction) until it succeeds or attempts run out."""
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except DBAPIError as exc:
            if not is_retryable(exc):
                raise
            if attempt == attempts:
                raise ConflictError(
                    f"{what}: the database stayed busy through {attempts} attempts; try again"
                ) from exc
            delay = random.uniform(0, min(cap_s, base_s * 2**attempt))
            log.debug(
                "%s: transient conflict (attempt %d), retrying in %.3fs", what, attempt, delay
            )
            time.sleep(delay)
    raise AssertionError("unreachable")
