"""The append-only audit log and its hash chain.

Event ``n`` stores ``digest = digest(canonical_json({"prev", "seq", "at", "actor",
"action", "subject", "payload"}))`` where ``prev`` is event ``n-1``'s digest (None for the
first). Sequence numbers are contiguous from 1. :func:`verify_chain` recomputes every
digest, so an edited, deleted, inserted or reordered event breaks the chain; it also
checks that every version, alias move and hold has the event that created it, which
catches events removed from the end of the log.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from json.encoder import encode_basestring as quote
from typing import Any

from sqlalchemy import Connection, func, select, text

from mv_orchestration.canonical import canonical_json
from mv_orchestration.hashing.digest import digest_bytes
from mv_orchestration.registry import schema
from mv_orchestration.registry.clock import iso_utc, utcnow
from mv_orchestration.registry.prepared import Prepared

_PG_AUDIT_LOCK = 0x6D766F5F61756469  # "mvo_audi"
_PAGE = 1000
PIN_EVENT, UNPIN_EVENT = "object.pin", "object.unpin"  # see registry.pins
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_LAST = Prepared(
    select(schema.audit_events.c.seq, schema.audit_events.c.digest)
    .order_by(schema.audit_events.c.seq.desc())
    .limit(1)
)
_INSERT = Prepared(
    schema.audit_events.insert(),
    ("seq", "at", "actor", "action", "subject", "payload", "prev_digest", "digest"),
)


def default_actor() -> str:
    """Who is acting: ``MVO_ACTOR``, else the operating-system user, else ``unknown``."""
    actor = os.environ.get("MVO_ACTOR")
    return actor[:256] if actor else _os_user()


@lru_cache(maxsize=1)
def _os_user() -> str:
    try:
        return getpass.getuser()[:256]
    except (OSError, KeyError):
        return "unknown"


def event_digest(
    prev: str | None, seq: int, at: str, actor: str, action: str, subject: str, payload: Any
) -> str:
    """The digest an event with these fields must carry."""
    body = {
        "prev": prev,
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "payload": payload,
    }
    return digest_bytes(canonical_json(body))


def append_event(
    conn: Connection,
    action: str,
    subject: str,
    payload: Mapping[str, Any],
    actor: str | None,
) -> int:
    """Append one event inside the caller's transaction; return its sequence number."""
    return append_events(conn, [(action, subject, payload)], actor)


def append_events(
    conn: Connection,
    events: Sequence[tuple[str, str, Mapping[str, Any]]],
    actor: str | None,
) -> int:
    """Append ``(action, subject, payload)`` events, chained in order, in one insert inside
    the caller's transaction; return the last sequence number (0 when there are none)."""
    encoded = [(a, s, canonical_json(dict(p)).decode("utf-8")) for a, s, p in events]
    return append_encoded_events(conn, encoded, actor)


@dataclass(frozen=True)
class ChainResult:
    """What :func:`verify_chain` found."""

    events: int
    problems: list[str]


def last_seq(conn: Connection) -> int:
    """The sequence number of the last event (0 when there are none)."""
    return int(conn.execute(select(func.max(schema.audit_events.c.seq))).scalar() or 0)


def iter_events(conn: Connection) -> Iterator[Any]:
    """Every audit row in sequence order, read in pages."""
    table = schema.audit_events
    after = 0
    while True:
        rows = conn.execute(
            select(table).where(table.c.seq > after).order_by(table.c.seq).limit(_PAGE)
        ).all()
        yield from rows
        if len(rows) < _PAGE:
            return
        after = rows[-1].seq


def verify_chain(conn: Connection) -> ChainResult:
    """Recompute the chain and cross-check it against versions, alias moves, holds and
    pins."""
    problems: list[str] = []
    prev: str | None = None
    expected_seq = 1
    count = 0
    covered: dict[str, set[Any]] = {"record_id": set(), "history_id": set(), "hold_id": set()}
    pins: dict[tuple[str, str], tuple[str, str]] = {}  # as the pin events leave them
    for row in iter_events(conn):
        count += 1
        if row.seq != expected_seq:
            problems.append(f"event #{row.seq}: expected sequence number {expected_seq}")
        if row.prev_digest != prev:
            problems.append(f"event #{row.seq}: does not link to the previous event's digest")
        try:
            payload = json.loads(row.payload)
        except ValueError:
            problems.append(f"event #{row.seq}: payload is not JSON")
            payload = row.payload
        digest = event_digest(
            row.prev_digest, row.seq, row.at, row.actor, row.action, row.subject, payload
        )
        if digest != row.digest:
            problems.append(f"event #{row.seq}: content does not match its digest (edited)")
        if isinstance(payload, dict):
            for key, seen in covered.items():
                if key in payload:
                    seen.add(payload[key])
            malformed = _follow_pins(pins, row.action, payload)
            if malformed:
                problems.append(f"event #{row.seq}: {malformed}")
        prev = row.digest
        expected_seq = row.seq + 1
    problems.extend(_uncovered(conn, covered))
    problems.extend(_unrecorded_pins(conn, pins))
    return ChainResult(events=count, problems=problems)


def _follow_pins(
    pins: dict[tuple[str, str], tuple[str, str]], action: str, payload: dict[str, Any]
) -> str | None:
    """Update ``pins`` ((owner, key) -> (digest, kind)) with one event; what is wrong
    with a pin event that lacks those fields as text (None: nothing)."""
    if action not in (PIN_EVENT, UNPIN_EVENT):
        return None
    fields = [payload.get(name) for name in ("owner", "key", "digest", "kind")]
    texts = [value for value in fields if isinstance(value, str)]
    if len(texts) != len(fields):
        return f"{action} event without its owner, key, digest and kind as text"
    owner, key, digest, kind = texts
    if action == PIN_EVENT:
        pins[(owner, key)] = (digest, kind)
    else:
        pins.pop((owner, key), None)
    return None


def _unrecorded_pins(conn: Connection, pins: dict[tuple[str, str], tuple[str, str]]) -> list[str]:
    """Pins that differ from what their last audit event recorded."""
    p = schema.object_pins
    problems = []
    rows = conn.execute(
        select(p.c.owner, p.c.key, p.c.digest, p.c.kind).order_by(p.c.owner, p.c.key)
    )
    for owner, key, digest, kind in rows:
        if pins.pop((owner, key), None) != (digest, kind):
            problems.append(f"pin {owner}:{key}: no audit event records it as it is")
    for owner, key in sorted(pins):
        problems.append(f"pin {owner}:{key}: removed without an audit event")
    return problems


def _uncovered(conn: Connection, covered: dict[str, set[Any]]) -> list[str]:
    problems = []
    v, m = schema.versions, schema.models
    for record_id, model, version in conn.execute(
        select(v.c.record_id, m.c.name, v.c.version).join(m, m.c.id == v.c.model_id)
    ):
        if record_id not in covered["record_id"]:
            problems.append(f"{model}@{version}: no audit event registers it (event removed?)")
    for (history_id,) in conn.execute(select(schema.alias_history.c.id)):
        if history_id not in covered["history_id"]:
            problems.append(f"alias move #{history_id}: no audit event records it")
    for (hold_id,) in conn.execute(select(schema.holds.c.id)):
        if hold_id not in covered["hold_id"]:
            problems.append(f"hold #{hold_id}: no audit event records it")
    return problems


def append_encoded_events(
    conn: Connection,
    events: Sequence[tuple[str, str, str]],
    actor: str | None,
) -> int:
    """:func:`append_events` for ``(action, subject, payload_json)`` events whose payload
    is already canonical JSON text (``canonical_json(payload).decode()``).

    Each digest is taken of the event's canonical JSON written around that text, so the
    chain is the one :func:`append_events` would write, without normalising, parsing and
    re-encoding every payload (retention appends thousands of events per transaction).
    """
    if not events:
        return 0
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK, {"key": _PG_AUDIT_LOCK})
    seq, prev = _LAST.first(conn, {}) or (0, None)
    at = iso_utc(utcnow())
    who = actor or default_actor()
    fixed = f'"actor":{quote(who)},"at":{quote(at)},"payload":'
    rows = []
    for action, subject, payload_json in events:
        seq += 1
        body = (
            f'{{"action":{quote(action)},{fixed}{payload_json},'
            f'"prev":{"null" if prev is None else quote(prev)},"seq":{seq},'
            f'"subject":{quote(subject)}}}'
        )
        digest = digest_bytes(body.encode("utf-8"))
        row = {"seq": seq, "at": at, "actor": who, "action": action, "subject": subject}
        rows.append({**row, "payload": payload_json, "prev_digest": prev, "digest": digest})
        prev = digest
    _INSERT.many(conn, rows)
    return seq
