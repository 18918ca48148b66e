"""Pins: named references that keep store objects live for GC.

An owner (an integration such as ``dagster``) pins a stored digest under a key of its
own; pinning the key again replaces the digest and :func:`unpin` removes it. GC marks
every pinned object live: for a ``tree`` pin, the manifest object and every file it
lists. Once a key points elsewhere or is unpinned, its old objects are garbage again,
deleted after GC's grace period unless something else references them.

A pin races GC as a registration does (:mod:`.presence`): a value stored moments earlier
may reuse old garbage that a running GC has already listed. So :func:`pin` locks sweeps
out and checks that its objects are stored; when some are missing it raises
:class:`SweptObjectError`, and the caller stores them again and retries
(:func:`~mv_orchestration.registry.presence.commit_uploaded`).

Every pin and unpin appends an ``object.pin`` / ``object.unpin`` audit event in its
transaction; a GC sweep batch reads the pins made since its mark from those events
(:func:`pins_since`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from mv_orchestration.errors import (
    InvalidNameError,
    NotFoundError,
    SweptObjectError,
    ValidationError,
)
from mv_orchestration.hashing.digest import parse_digest
from mv_orchestration.registry import schema
from mv_orchestration.registry.audit import PIN_EVENT, UNPIN_EVENT, append_event, default_actor
from mv_orchestration.registry.presence import first_few, lock_out_sweeps, tree_files

OBJECT, TREE = schema.PIN_KINDS
OWNER_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_KEY = 440  # the audit subject ``owner:key`` fits its 512 characters
MAX_ACTOR = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Pin:
    """One pinned key: what it keeps live, since when, and who pinned it."""

    owner: str
    key: str
    digest: str
    kind: str
    pinned_at: datetime
    actor: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {**asdict(self), "pinned_at": self.pinned_at.isoformat()}


def validate_owner(owner: object) -> str:
    """``owner`` if it is a valid owner name, else :class:`InvalidNameError`."""
    if not isinstance(owner, str) or not OWNER_PATTERN.fullmatch(owner):
        raise InvalidNameError(
            f"invalid pin owner {owner!r}: use lowercase letters, digits, '.', '_' or '-' "
            f"(pattern {OWNER_PATTERN.pattern})"
        )
    return owner


def validate_key(key: object) -> str:
    """``key`` if it is non-blank text of at most :data:`MAX_KEY` characters without
    control characters, else :class:`ValidationError`."""
    if not isinstance(key, str) or not key.strip():
        raise ValidationError("a pin needs a non-empty key")
    if len(key) > MAX_KEY:
        raise ValidationError(f"pin key longer than {MAX_KEY} characters")
    if _CONTROL.search(key):
        raise ValidationError(f"pin key {key!r} contains control characters")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("pin key is not valid UTF-8") from None
    return key


def validate_ref(owner: object, key: object, actor: object) -> None:
    """Check the arguments of :func:`unpin`; raise a :class:`ValidationError` kind."""
    validate_owner(owner)
    validate_key(key)
    if actor is not None and (not isinstance(actor, str) or len(actor) > MAX_ACTOR):
        raise ValidationError(f"actor must be a string of at most {MAX_ACTOR} characters")


def validate(owner: object, key: object, digest: object, kind: object, actor: object) -> None:
    """Check the arguments of :func:`pin`; raise a :class:`ValidationError` kind."""
    validate_ref(owner, key, actor)
    parse_digest(digest)  # type: ignore[arg-type]
    if kind not in schema.PIN_KINDS:
        raise ValidationError(f"pin kind must be one of {', '.join(schema.PIN_KINDS)}: {kind!r}")


def pin(
    conn: Connection,
    store: Any,
    *,
    owner: str,
    key: str,
    digest: str,
    kind: str,
    actor: str | None,
    now: datetime,
) -> Pin:
    """Pin ``digest`` under ``(owner, key)`` inside the caller's write transaction, after
    checking with sweeps locked out that its objects are stored (see the module docstring)."""
    lock_out_sweeps(conn)
    missing = store.missing([digest])
    if not missing and kind == TREE:
        missing = store.missing(tree_files(store, digest))
    if missing:
        raise SweptObjectError(
            f"{len(missing)} objects pinned as {owner}:{key} are not in the store "
            f"(garbage-collected before the pin committed?): {first_few(missing)}"
        )
    found = Pin(owner, key, digest, kind, now, actor or default_actor())
    row = {"digest": digest, "kind": kind, "pinned_at": now, "actor": found.actor}
    p = schema.object_pins
    where = (p.c.owner == owner, p.c.key == key)
    if conn.execute(p.update().where(*where).values(**row)).rowcount == 0:
        conn.execute(p.insert().values(owner=owner, key=key, **row))
    _audit(conn, PIN_EVENT, found, found.actor)
    return found


def unpin(conn: Connection, *, owner: str, key: str, actor: str | None) -> Pin:
    """Remove the pin of ``(owner, key)``; :class:`NotFoundError` when there is none."""
    p = schema.object_pins
    where = (p.c.owner == owner, p.c.key == key)
    row = conn.execute(select(p).where(*where)).first()
    if row is None:
        raise NotFoundError(f"nothing is pinned as {owner}:{key}")
    conn.execute(p.delete().where(*where))
    found = _pin(row)
    _audit(conn, UNPIN_EVENT, found, actor or default_actor())
    return found


def list_pins(conn: Connection, owner: str | None = None) -> list[Pin]:
    """Current pins (of one owner, or all), by owner and key."""
    p = schema.object_pins
    query = select(p).order_by(p.c.owner, p.c.key)
    if owner is not None:
        query = query.where(p.c.owner == owner)
    return [_pin(row) for row in conn.execute(query)]


def pinned(conn: Connection) -> list[tuple[str, str]]:
    """``(digest, kind)`` of every current pin."""
    p = schema.object_pins
    return [(row.digest, row.kind) for row in conn.execute(select(p.c.digest, p.c.kind))]


def pins_since(conn: Connection, after_seq: int) -> list[tuple[str, str]]:
    """``(digest, kind)`` of every pin recorded after audit event ``after_seq``."""
    t = schema.audit_events
    query = select(t.c.payload).where(t.c.seq > after_seq, t.c.action == PIN_EVENT)
    events = (json.loads(payload) for (payload,) in conn.execute(query))
    return [(event["digest"], event["kind"]) for event in events]


def live_objects(store: Any, pins: Iterable[tuple[str, str]]) -> set[str]:
    """The store objects ``(digest, kind)`` pins keep: each digest, and each tree's files.
    Reads every tree manifest (verified); raises when one is missing or not a manifest."""
    live: set[str] = set()
    for digest, kind in pins:
        live.add(digest)
        if kind == TREE:
            live.update(tree_files(store, digest))
    return live


def _pin(row: Any) -> Pin:
    return Pin(row.owner, row.key, row.digest, row.kind, row.pinned_at, row.actor)


def _audit(conn: Connection, action: str, found: Pin, actor: str) -> None:
    payload = {"owner": found.owner, "key": found.key, "digest": found.digest, "kind": found.kind}
    append_event(conn, action, f"{found.owner}:{found.key}", payload, actor)
