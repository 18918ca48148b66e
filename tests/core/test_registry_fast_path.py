"""The registration fast path stores exactly what the plain path stores: statements run on
the DBAPI cursor, spliced canonical JSON and the capture's memoised parts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mv_orchestration.canonical import canonical_json
from mv_orchestration.capture import capture_run
from mv_orchestration.registry import Registry, schema
from mv_orchestration.registry.prepared import Prepared
from mv_orchestration.registry.record import (
    _slot,
    capture_bytes,
    encode_normalised,
    encode_spliced,
)
from mv_orchestration.registry.retry import is_retryable

pytest_plugins = ["tests.core.registry_fixtures"]

_EDGES = schema.lineage_edges
_EDGE_KEYS = ("src_kind", "src", "relation", "dst_kind", "dst", "created_at")
_INSERT_EDGE = Prepared(_EDGES.insert(), _EDGE_KEYS)


def _edge(src: str, at: datetime) -> dict[str, Any]:
    return {
        "src_kind": "version",
        "src": src,
        "relation": "built_from",
        "dst_kind": "code",
        "dst": "abc",
        "created_at": at,
    }


@pytest.mark.parametrize("micros", [0, 123456])
def test_prepared_inserts_store_what_core_inserts_store(registry: Registry, micros: int) -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, micros, tzinfo=timezone.utc)
    with registry.engine.begin() as conn:
        conn.execute(_EDGES.insert(), _edge("core", at))
        _INSERT_EDGE.many(conn, [_edge("prepared", at)])
    with registry.engine.connect() as conn:
        rows = dict(conn.execute(select(_EDGES.c.src, _EDGES.c.created_at)).all())
        stored = conn.exec_driver_sql("SELECT src, CAST(created_at AS TEXT) FROM lineage_edges")
        raw = dict(stored.all())
    assert rows == {"core": at, "prepared": at}
    assert raw["prepared"] == raw["core"]


def test_prepared_selects_return_plain_rows(registry: Registry) -> None:
    at = datetime(2026, 3, 4, tzinfo=timezone.utc)
    query = Prepared(
        select(_EDGES.c.src, _EDGES.c.dst).where(_EDGES.c.relation == "built_from").limit(5)
    )
    with registry.engine.begin() as conn:
        assert query.first(conn, {}) is None
        _INSERT_EDGE.many(conn, [_edge("a", at), _edge("b", at)])
        assert sorted(query.rows(conn, {})) == [("a", "abc"), ("b", "abc")]


def test_prepared_statements_autobegin_like_core(registry: Registry) -> None:
    at = datetime(2026, 3, 4, tzinfo=timezone.utc)
    with registry.engine.connect() as conn:
        _INSERT_EDGE.many(conn, [_edge("rolled back", at)])
        assert conn.in_transaction()
        conn.rollback()
        _INSERT_EDGE.many(conn, [_edge("committed", at)])
        conn.commit()
    with registry.engine.connect() as conn:
        assert conn.execute(select(_EDGES.c.src)).scalars().all() == ["committed"]


def test_prepared_driver_errors_are_sqlalchemy_errors_that_retry(registry: Registry) -> None:
    at = datetime(2026, 3, 4, tzinfo=timezone.utc)
    with registry.engine.begin() as conn:
        _INSERT_EDGE.many(conn, [_edge("twice", at)])
    with pytest.raises(IntegrityError) as caught, registry.engine.begin() as conn:
        _INSERT_EDGE.many(conn, [_edge("twice", at)])
    assert is_retryable(caught.value)
    assert "lineage_edges" in str(caught.value)


def _plain(document: dict[str, Any], parts: dict[str, bytes]) -> bytes:
    return encode_normalised({**document, **{k: json.loads(v) for k, v in parts.items()}})


@pytest.mark.parametrize(
    ("document", "parts"),
    [
        ({"a": 1, "z": [1, "ü"]}, {"m": b'{"x":1}', "b": b"[2,3]"}),
        ({"a": _slot("m")}, {"m": b'{"x":1}'}),
        ({"a": {"m": _slot("m")}}, {"m": b"null"}),
        ({"a": 1}, {"m": canonical_json({"b": _slot("b")}), "b": b"true"}),
        ({"a": 1}, {"b": canonical_json({"m": _slot("m")}), "m": b'"text"'}),
    ],
)
def test_encode_spliced_equals_plain_encoding(
    document: dict[str, Any], parts: dict[str, bytes]
) -> None:
    assert encode_spliced(document, parts) == _plain(document, parts)


def test_capture_bytes_are_the_canonical_json_of_the_capture() -> None:
    capture = capture_run(seed=3)
    assert capture_bytes(capture) == canonical_json(capture.to_json())
    later = replace(capture, started_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert later.environment is capture.environment
    assert capture_bytes(later) == canonical_json(later.to_json())


def test_capture_bytes_follow_a_new_environment_object() -> None:
    capture = capture_run(seed=3)
    capture_bytes(capture)
    moved = replace(capture, environment=replace(capture.environment, python_version="0.0"))
    assert capture_bytes(moved) == canonical_json(moved.to_json())
    assert json.loads(capture_bytes(moved))["environment"]["python_version"] == "0.0"
    assert capture_bytes(capture) == canonical_json(capture.to_json())
