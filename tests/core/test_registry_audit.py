"""The audit hash chain and record digests catch tampering, even with the triggers gone."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError

from mv_orchestration.canonical import canonical_json
from mv_orchestration.errors import DigestMismatchError
from mv_orchestration.hashing.digest import digest_bytes
from mv_orchestration.registry import Registry, schema
from mv_orchestration.registry.clock import utcnow
from tests.core.registry_helpers import drop_immutability_triggers, register

pytest_plugins = ["tests.core.registry_fixtures"]


@pytest.fixture
def busy(registry: Registry, tmp_path: Path) -> Registry:
    """A registry with versions, alias moves and a hold: ten audit events."""
    for content in ("a", "b", "c"):
        register(registry, "churn", tmp_path, content)
    registry.promote("churn@1.0.0")
    registry.promote("churn@1.1.0")
    registry.rollback("churn")
    registry.hold("churn@1.2.0", "audit")
    registry.append_audit("custom.note", "churn", {"text": "checked"}, actor="ops")
    registry.release("churn@1.2.0")
    registry.promote("churn@1.2.0", alias="staging")
    return registry


def _sql(registry: Registry, *statements: str) -> None:
    with registry.engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def test_intact_chain_verifies(busy: Registry) -> None:
    report = busy.verify_audit()
    assert report.ok and report.problems == [] and report.events == 10
    events = busy.audit_events(limit=3)
    assert [e.seq for e in events] == [8, 9, 10]
    assert events[0].prev_digest == busy.audit_events(limit=4)[0].digest
    assert busy.audit_events(limit=100, subject="churn")[0].payload == {"text": "checked"}
    assert busy.verify().ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 10",
        "UPDATE records SET body = replace(body, '\"content\"', '\"contents\"')",
    ],
)
def test_the_database_refuses_tampering(busy: Registry, statement: str) -> None:
    with pytest.raises(DBAPIError, match="mvo: "):
        _sql(busy, statement)
    assert busy.verify_audit().ok


TAMPERING: dict[str, tuple[str, ...]] = {
    "edited payload": (
        "UPDATE audit_events SET payload = replace(payload, 'checked', 'forged') WHERE seq = 8",
    ),
    "edited actor": ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 4",),
    "deleted event": ("DELETE FROM audit_events WHERE seq = 5",),
    "deleted last event": ("DELETE FROM audit_events WHERE seq = 10",),
    "deleted registration": (
        "DELETE FROM audit_events WHERE seq = 3",
        "UPDATE audit_events SET seq = seq - 1 WHERE seq > 3",
    ),
    "inserted event": (
        "UPDATE audit_events SET seq = seq + 100 WHERE seq > 6",
        "UPDATE audit_events SET seq = seq - 99 WHERE seq > 100",
        "INSERT INTO audit_events (seq, at, actor, action, subject, payload, prev_digest, digest) "
        "SELECT 7, at, 'mallory', 'alias.set', subject, payload, digest, 'blake3:' || "
        "'0000000000000000000000000000000000000000000000000000000000000000' "
        "FROM audit_events WHERE seq = 6",
    ),
    "reordered events": (
        "UPDATE audit_events SET seq = 100 WHERE seq = 4",
        "UPDATE audit_events SET seq = 4 WHERE seq = 5",
        "UPDATE audit_events SET seq = 5 WHERE seq = 100",
    ),
}


@pytest.mark.parametrize("statements", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampering_without_triggers_is_detected(
    busy: Registry, statements: tuple[str, ...]
) -> None:
    drop_immutability_triggers(busy.engine)
    _sql(busy, *statements)
    report = busy.verify_audit()
    assert not report.ok
    assert report.problems


def _edit_record(conn: Connection) -> None:
    conn.exec_driver_sql(
        "UPDATE records SET body = replace(body, '\"seed\":7', '\"seed\":8') "
        "WHERE record_id = (SELECT record_id FROM versions WHERE version = '1.1.0')"
    )


@pytest.mark.parametrize("tamper", [_edit_record], ids=["edited"])
def test_record_tampering_is_detected(busy: Registry, tamper: Callable[[Connection], None]) -> None:
    drop_immutability_triggers(busy.engine)
    with busy.engine.begin() as conn:
        tamper(conn)
    report = busy.verify("churn@1.1.0")
    assert not report.ok
    assert report.problems[0].startswith("churn@1.1.0")
    assert not busy.verify().ok
    with pytest.raises(DigestMismatchError):
        busy.record("churn@1.1.0")


def test_forged_record_with_a_valid_digest_is_detected(busy: Registry) -> None:
    """A consistent forgery (new record row, correct digest, version row repointed) still
    lacks the registration event that the audit chain holds for the real record."""
    drop_immutability_triggers(busy.engine)
    r, v = schema.records, schema.versions
    with busy.engine.begin() as conn:
        record_id, body = conn.execute(
            select(r.c.record_id, r.c.body)
            .join(v, v.c.record_id == r.c.record_id)
            .where(v.c.version == "1.1.0")
        ).one()
        forged = json.loads(body)
        forged["params"] = {"content": "forged"}
        forged_body = canonical_json(forged)
        forged_id = digest_bytes(forged_body)
        conn.execute(
            r.insert().values(record_id=forged_id, body=forged_body.decode(), created_at=utcnow())
        )
        conn.execute(v.update().where(v.c.record_id == record_id).values(record_id=forged_id))
    assert busy.record("churn@1.1.0").params == {"content": "forged"}
    report = busy.verify_audit()
    assert not report.ok
    assert any(p.startswith("churn@1.1.0") for p in report.problems)
