"""Named leases: one live holder at a time for an operation (retention apply, GC).

A lease row names its holder and an expiry. Acquiring fails with :class:`LeaseError`
while another holder's lease is live; an expired lease is taken over. The holder renews
a long operation with :meth:`Lease.renew`, checks it inside a write transaction with
:meth:`Lease.check` (the row stays locked until that transaction ends), and the row is
removed on exit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select

from mv_orchestration.errors import LeaseError, ValidationError
from mv_orchestration.registry import schema
from mv_orchestration.registry.clock import utcnow
from mv_orchestration.registry.retry import with_retry


@dataclass
class Lease:
    """A held lease."""

    engine: Engine
    name: str
    holder: str
    ttl_s: float
    expires_at: datetime
    renewed_at: float = field(default_factory=time.monotonic)
    """``time.monotonic()`` just before the lease was taken or last renewed."""

    def renew(self, ttl_s: float | None = None) -> datetime:
        """Extend the lease; :class:`LeaseError` if it was lost (expired and taken over)."""
        ttl = self.ttl_s if ttl_s is None else ttl_s
        started = time.monotonic()
        self.expires_at = with_retry(
            lambda: _take(self.engine, self.name, self.holder, ttl, renew=True),
            what=f"renew lease {self.name}",
        )
        self.renewed_at = started
        return self.expires_at

    def check(self, conn: Connection) -> None:
        """:class:`LeaseError` unless this holder still holds the lease unexpired, checked in
        the caller's write transaction, which keeps the row locked until it ends (SQLite's
        write lock; ``FOR UPDATE`` on PostgreSQL): no one takes the lease over meanwhile."""
        found = _locked_row(conn, self.name)
        if found is None or found[0] != self.holder:
            raise LeaseError(f"lease {self.name!r} was lost by {self.holder!r}")
        if found[1] <= utcnow():
            raise LeaseError(f"lease {self.name!r} of {self.holder!r} expired")


@contextmanager
def acquire_lease(engine: Engine, name: str, holder: str, ttl_s: float) -> Iterator[Lease]:
    """Hold lease ``name`` for the ``with`` block (see the module docstring)."""
    if ttl_s <= 0:
        raise ValidationError("lease ttl_s must be positive")
    started = time.monotonic()
    expires = with_retry(
        lambda: _take(engine, name, holder, ttl_s, renew=False), what=f"acquire lease {name}"
    )
    lease = Lease(engine, name, holder, ttl_s, expires, started)
    try:
        yield lease
    finally:
        with_retry(lambda: _drop(engine, name, holder), what=f"release lease {name}")


def _locked_row(conn: Connection, name: str) -> tuple[str, datetime] | None:
    t = schema.leases
    query = select(t.c.holder, t.c.expires_at).where(t.c.name == name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else (row.holder, row.expires_at)


def _take(engine: Engine, name: str, holder: str, ttl_s: float, *, renew: bool) -> datetime:
    t = schema.leases
    with engine.begin() as conn:
        now = utcnow()
        expires = now + timedelta(seconds=ttl_s)
        found = _locked_row(conn, name)
        if found is None:
            if renew:
                raise LeaseError(f"lease {name!r} was lost by {holder!r}")
            conn.execute(
                t.insert().values(name=name, holder=holder, acquired_at=now, expires_at=expires)
            )
            return expires
        owner, until = found
        if renew and owner != holder:
            raise LeaseError(f"lease {name!r} was lost by {holder!r}")
        if owner != holder and until > now:
            raise LeaseError(f"lease {name!r} is held by {owner!r} until {until.isoformat()}")
        values = {"holder": holder, "expires_at": expires}
        if owner != holder:
            values["acquired_at"] = now
        conn.execute(t.update().where(t.c.name == name).values(**values))
        return expires


def _drop(engine: Engine, name: str, holder: str) -> None:
    t = schema.leases
    with engine.begin() as conn:
        conn.execute(t.delete().where(t.c.name == name, t.c.holder == holder))
