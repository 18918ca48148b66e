"""References: ``MODEL@VERSION``, ``MODEL@ALIAS``, ``MODEL@latest`` or a record digest prefix.

* After ``@``: ``latest`` is the active version with the highest semver precedence; a
  string starting with a digit is a semantic version (matched by precedence, so build
  metadata may be left out); anything else is an alias name.
* Without ``@``: a record digest prefix, ``algo:hex`` or bare ``hex``, at least 8 hex
  characters. A prefix matching several records raises :class:`AmbiguousReferenceError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Select, String, bindparam, literal, or_, select

from mv_orchestration.errors import (
    AliasNotFoundError,
    AmbiguousReferenceError,
    InvalidNameError,
    InvalidReferenceError,
    ModelNotFoundError,
    VersionNotFoundError,
)
from mv_orchestration.registry import schema
from mv_orchestration.registry.names import validate_alias_name, validate_model_name
from mv_orchestration.registry.semver import parse, sort_key

MIN_PREFIX = 8
DIGEST_ALGOS = ("blake3", "sha256")
_PREFIX = re.compile(r"(?:(blake3|sha256):)?([0-9a-f]{8,64})")

RefKind = Literal["version", "alias", "latest", "digest"]


@dataclass(frozen=True)
class Reference:
    """A parsed reference."""

    kind: RefKind
    model: str | None
    value: str


def parse_ref(ref: object) -> Reference:
    """Parse ``ref`` without touching the database."""
    if not isinstance(ref, str) or not ref:
        raise InvalidReferenceError(f"invalid reference {ref!r}")
    if "@" not in ref:
        match = _PREFIX.fullmatch(ref.lower())
        if match is None:
            raise InvalidReferenceError(
                f"invalid reference {ref!r}: use MODEL@VERSION, MODEL@ALIAS, MODEL@latest "
                f"or a record digest prefix of at least {MIN_PREFIX} hex characters"
            )
        return Reference("digest", None, ref.lower())
    model, _, selector = ref.partition("@")
    try:
        validate_model_name(model)
    except InvalidNameError as exc:
        raise InvalidReferenceError(f"invalid reference {ref!r}: {exc}") from None
    if selector == "latest":
        return Reference("latest", model, selector)
    if selector[:1].isdigit():
        parse(selector)
        return Reference("version", model, selector)
    try:
        validate_alias_name(selector)
    except InvalidNameError as exc:
        raise InvalidReferenceError(f"invalid reference {ref!r}: {exc}") from None
    return Reference("alias", model, selector)


def _columns() -> tuple[Any, ...]:
    v = schema.versions
    return (
        v.c.id,
        v.c.model_id,
        v.c.version,
        v.c.record_id,
        v.c.created_at,
        v.c.status,
        v.c.artifact_digest,
    )


def version_select() -> Select[Any]:
    """The columns every version lookup returns, joined with the model name. Use it for
    lookups by version id or record id; for one model's versions use :func:`model_select`
    (a join would keep SQLite's planner off the (model_id, sort_key) index)."""
    v, m = schema.versions, schema.models
    return select(m.c.name.label("model"), *_columns()).join(m, m.c.id == v.c.model_id)


def model_select(model: str | None = None) -> Select[Any]:
    """The same columns for versions of one model, without a join. The model name is
    ``model``, or the ``model_name`` bind parameter when None (prepared statements)."""
    name = (
        literal(model, String()) if model is not None else bindparam("model_name", type_=String())
    )
    return select(name.label("model"), *_columns())


def resolve_row(conn: Connection, ref: str | Reference) -> Any:
    """The version row for ``ref``; typed not-found errors name what is missing."""
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    if parsed.kind == "digest":
        return _by_digest(conn, parsed.value)
    assert parsed.model is not None
    v = schema.versions
    model_id = require_model(conn, parsed.model)
    query = model_select(parsed.model).where(v.c.model_id == model_id)
    if parsed.kind == "version":
        row = conn.execute(query.where(v.c.sort_key == sort_key(parsed.value))).first()
    elif parsed.kind == "latest":
        row = conn.execute(
            query.where(v.c.status == "active").order_by(v.c.sort_key.desc()).limit(1)
        ).first()
    else:
        a = schema.aliases
        row = conn.execute(
            query.join(a, a.c.version_id == v.c.id).where(
                a.c.model_id == model_id, a.c.name == parsed.value
            )
        ).first()
    if row is not None:
        return row
    if parsed.kind == "alias":
        raise AliasNotFoundError(f"{parsed.model} has no alias {parsed.value!r}")
    if parsed.kind == "latest":
        raise VersionNotFoundError(f"{parsed.model} has no active version")
    raise VersionNotFoundError(f"{parsed.model}@{parsed.value} does not exist")


def model_id_of(conn: Connection, model: str) -> int | None:
    """The id of ``model``, or None when it has no versions yet."""
    model_id = conn.execute(
        select(schema.models.c.id).where(schema.models.c.name == model)
    ).scalar()
    return None if model_id is None else int(model_id)


def require_model(conn: Connection, model: str) -> int:
    """The id of ``model``, or :class:`ModelNotFoundError`."""
    model_id = model_id_of(conn, model)
    if model_id is None:
        raise ModelNotFoundError(f"no model named {model!r}")
    return model_id


def _by_digest(conn: Connection, prefix: str) -> Any:
    match = _PREFIX.fullmatch(prefix)
    assert match is not None
    algo, hexpart = match.groups()
    patterns = [f"{a}:{hexpart}%" for a in ((algo,) if algo else DIGEST_ALGOS)]
    v = schema.versions
    rows = conn.execute(
        version_select().where(or_(*(v.c.record_id.like(p) for p in patterns))).limit(2)
    ).all()
    if not rows:
        raise VersionNotFoundError(f"no record digest starts with {prefix!r}")
    if len(rows) > 1:
        raise AmbiguousReferenceError(
            f"record digest prefix {prefix!r} matches several versions; give more characters"
        )
    return rows[0]
