"""Alias moves a plan did not see: the versions its keep rules might keep now.

A plan records the audit log's last sequence number in its snapshot (``audit_seq``).
Every alias move appends its event in the move's own transaction, and sequence numbers
follow commit order, so the alias events after that number are exactly the moves the plan
did not see, including one that started before the snapshot was read and committed after
it. :class:`LateMoves` reads them again in each batch's transaction, from where it last
stopped. A plan without ``audit_seq`` falls back to moves made at or after its creation.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, select

from mv_orchestration.registry import schema
from mv_orchestration.registry.audit import last_seq
from mv_orchestration.retention.plan import RetentionPlan

MOVE_EVENTS = ("alias.set", "alias.rollback")  # the alias actions that point it at a version
IDS_PER_QUERY = 10_000  # bound parameters per query: SQLite allows 32,766, PostgreSQL 65,535


class LateMoves:
    """The versions an alias moved to after ``plan``'s snapshot, with why they stay:
    :attr:`late` (version id -> reason), grown by :meth:`read`."""

    def __init__(self, plan: RetentionPlan) -> None:
        self.late: dict[int, str] = {}
        self._seen = plan.audit_seq
        self._created_at = plan.created_at

    def read(self, conn: Connection) -> dict[int, str]:
        """Add the moves committed since the last read (or since the plan) and return
        :attr:`late`; run inside the transaction that acts on what it returns (a retried
        transaction reads again from the same place)."""
        h = schema.alias_history
        moves = select(h.c.to_version_id, h.c.alias).where(h.c.to_version_id.is_not(None))
        last: int | None = None
        if self._seen is None:
            found = list(conn.execute(moves.where(h.c.at >= self._created_at).order_by(h.c.id)))
        else:
            last, history_ids = self._history_ids(conn, self._seen)
            found = []
            for start in range(0, len(history_ids), IDS_PER_QUERY):
                batch = history_ids[start : start + IDS_PER_QUERY]
                found += conn.execute(moves.where(h.c.id.in_(batch)).order_by(h.c.id))
        for version_id, alias in found:
            self.late.setdefault(version_id, f"alias {alias} moved to it after planning")
        self._seen = last  # only now that they are in late
        return self.late

    @staticmethod
    def _history_ids(conn: Connection, after_seq: int) -> tuple[int, list[int]]:
        """The last event now (read first: nothing committed meanwhile is skipped) and the
        alias history ids of the move events after ``after_seq`` up to it, in order."""
        t = schema.audit_events
        last = last_seq(conn)
        if last <= after_seq:
            return after_seq, []
        payloads = conn.execute(
            select(t.c.payload)
            .where(t.c.seq > after_seq, t.c.seq <= last, t.c.action.in_(MOVE_EVENTS))
            .order_by(t.c.seq)
        ).scalars()
        return last, sorted(json.loads(payload)["history_id"] for payload in payloads)
