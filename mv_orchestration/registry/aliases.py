"""Aliases: mutable pointers with an append-only history, and the rollback target rule.

Every change appends one history row (from, to, when, who, why, run context) and one
audit event in the same transaction, so the history of an alias is one linear chain:
each row's ``from`` is the previous row's ``to``.

Rollback target: among the versions the alias ever pointed to, the most recent one that
is not the current target and was not rolled back *from* since it was last targeted. So
repeated rollbacks walk further back (3 -> 2 -> 1) instead of flipping between the last
two, and a version that was rolled back from is only a candidate again once re-promoted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import aliased

from mv_orchestration.canonical import canonical_json
from mv_orchestration.registry import schema
from mv_orchestration.registry.audit import append_event, default_actor
from mv_orchestration.registry.entities import AliasMove

SET, DELETE, ROLLBACK = "set", "delete", "rollback"


@dataclass(frozen=True)
class HistoryStep:
    """One history row, reduced to what the rollback rule reads."""

    action: str
    from_id: int | None
    to_id: int | None


def current_target(conn: Connection, model_id: int, alias: str) -> int | None:
    """The version id ``alias`` points to now (None when unset or deleted)."""
    a = schema.aliases
    value = conn.execute(
        select(a.c.version_id).where(a.c.model_id == model_id, a.c.name == alias)
    ).scalar()
    return None if value is None else int(value)


def history_steps(conn: Connection, model_id: int, alias: str) -> list[HistoryStep]:
    """The alias's history, oldest first."""
    h = schema.alias_history
    rows = conn.execute(
        select(h.c.action, h.c.from_version_id, h.c.to_version_id)
        .where(h.c.model_id == model_id, h.c.alias == alias)
        .order_by(h.c.id)
    )
    return [HistoryStep(r.action, r.from_version_id, r.to_version_id) for r in rows]


def rollback_target(steps: list[HistoryStep], current: int | None) -> int | None:
    """The version a rollback moves to (see the module docstring); None when there is none."""
    last_targeted: dict[int, int] = {}
    rolled_back_from: dict[int, int] = {}
    for index, step in enumerate(steps):
        if step.to_id is not None:
            last_targeted[step.to_id] = index
        if step.action == ROLLBACK and step.from_id is not None:
            rolled_back_from[step.from_id] = index
    candidates = [
        version_id
        for version_id, index in last_targeted.items()
        if version_id != current and rolled_back_from.get(version_id, -1) < index
    ]
    return max(candidates, key=last_targeted.__getitem__, default=None)


def move(
    conn: Connection,
    *,
    model_id: int,
    model: str,
    alias: str,
    to_id: int | None,
    action: str,
    actor: str | None,
    reason: str | None,
    context: Mapping[str, Any] | None,
    now: datetime,
) -> AliasMove:
    """Point ``alias`` at ``to_id`` (None deletes it), recording history and audit.

    A move to the current target records nothing and returns ``applied=False``.
    """
    who = actor or default_actor()
    from_id = current_target(conn, model_id, alias)
    names = version_names(conn, [i for i in (from_id, to_id) if i is not None])
    if from_id == to_id:
        return AliasMove(
            id=None,
            model=model,
            alias=alias,
            action=action,
            from_version=names.get(from_id),
            to_version=names.get(to_id),
            at=now,
            actor=who,
            reason=reason,
            context=dict(context) if context else None,
            applied=False,
        )
    h, a = schema.alias_history, schema.aliases
    context_json = canonical_json(dict(context)).decode("utf-8") if context else None
    history_id = conn.execute(
        h.insert()
        .values(
            model_id=model_id,
            alias=alias,
            action=action,
            from_version_id=from_id,
            to_version_id=to_id,
            at=now,
            actor=who,
            reason=reason,
            context=context_json,
        )
        .returning(h.c.id)
    ).scalar_one()
    where = (a.c.model_id == model_id) & (a.c.name == alias)
    if to_id is None:
        conn.execute(a.delete().where(where))
    elif from_id is None:
        conn.execute(
            a.insert().values(
                model_id=model_id,
                name=alias,
                version_id=to_id,
                history_id=history_id,
                updated_at=now,
            )
        )
    else:
        conn.execute(
            a.update().where(where).values(version_id=to_id, history_id=history_id, updated_at=now)
        )
    payload = {
        "history_id": history_id,
        "alias": alias,
        "from": names.get(from_id) if from_id is not None else None,
        "to": names.get(to_id) if to_id is not None else None,
        "reason": reason,
    }
    append_event(conn, f"alias.{action}", f"{model}@{alias}", payload, who)
    return AliasMove(
        id=history_id,
        model=model,
        alias=alias,
        action=action,
        from_version=payload["from"],
        to_version=payload["to"],
        at=now,
        actor=who,
        reason=reason,
        context=dict(context) if context else None,
    )


def version_names(conn: Connection, ids: list[int]) -> dict[int | None, str]:
    """Version strings by version id."""
    if not ids:
        return {}
    v = schema.versions
    rows = conn.execute(select(v.c.id, v.c.version).where(v.c.id.in_(ids)))
    return {row.id: row.version for row in rows}


def history(conn: Connection, model_id: int, model: str, alias: str | None) -> list[AliasMove]:
    """Every move of the model's aliases (or of one alias), oldest first."""
    h = schema.alias_history
    src, dst = aliased(schema.versions), aliased(schema.versions)
    query = (
        select(h, src.c.version.label("from_version"), dst.c.version.label("to_version"))
        .outerjoin(src, src.c.id == h.c.from_version_id)
        .outerjoin(dst, dst.c.id == h.c.to_version_id)
        .where(h.c.model_id == model_id)
        .order_by(h.c.id)
    )
    if alias is not None:
        query = query.where(h.c.alias == alias)
    return [
        AliasMove(
            id=row.id,
            model=model,
            alias=row.alias,
            action=row.action,
            from_version=row.from_version,
            to_version=row.to_version,
            at=row.at,
            actor=row.actor,
            reason=row.reason,
            context=json.loads(row.context) if row.context else None,
        )
        for row in conn.execute(query)
    ]
