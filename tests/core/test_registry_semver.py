"""Semantic versions: parsing, precedence (also in SQL on both backends) and bumps."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, create_engine, select

from mv_orchestration.errors import InvalidVersionError
from mv_orchestration.registry.semver import SemVer, parse, sort_key

pytest_plugins = ["tests.core.registry_fixtures"]

SPEC_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.9.0",
    "1.10.0",
    "1.10.1",
    "2.0.0-0",
    "2.0.0-0.a",
    "2.0.0-1",
    "2.0.0-A",
    "2.0.0-a",
    "2.0.0",
    "10.0.0",
]


def test_spec_example_order() -> None:
    shuffled = SPEC_ORDER[:]
    random.Random(1).shuffle(shuffled)
    assert sorted(shuffled, key=sort_key) == SPEC_ORDER
    assert sorted(shuffled, key=parse) == SPEC_ORDER


def test_build_metadata_is_ignored_by_precedence() -> None:
    assert parse("1.0.0+build.1") == parse("1.0.0+other")
    assert sort_key("1.0.0+x") == sort_key("1.0.0")
    assert str(parse("1.2.3-rc.1+exp.sha.5114f85")) == "1.2.3-rc.1+exp.sha.5114f85"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "1.0",
        "1.0.0.0",
        "01.0.0",
        "1.01.0",
        "1.0.01",
        "v1.0.0",
        "1.0.0-",
        "1.0.0-01",
        "1.0.0-a..b",
        "1.0.0+",
        "1.0.0+a..b",
        "-1.0.0",
        " 1.0.0",
        "1.0.0 ",
        "1.0.0-ä",
        "1.0.0\n",
        f"{2**64}.0.0",
        f"1.0.0-{2**64}",
        "1." + "0" * 300 + ".0",
    ],
)
def test_invalid_versions_are_refused(text: str) -> None:
    with pytest.raises(InvalidVersionError):
        parse(text)


def test_non_strings_are_refused() -> None:
    with pytest.raises(InvalidVersionError):
        parse(1)


@pytest.mark.parametrize(
    ("start", "kind", "expected"),
    [
        ("1.2.3", "patch", "1.2.4"),
        ("1.2.3", "minor", "1.3.0"),
        ("1.2.3", "major", "2.0.0"),
        ("1.2.3+build", "patch", "1.2.4"),
        ("1.2.3-rc.1", "patch", "1.2.3"),
        ("1.2.0-rc.1", "minor", "1.2.0"),
        ("1.2.3-rc.1", "minor", "1.3.0"),
        ("2.0.0-rc.1", "major", "2.0.0"),
        ("2.1.0-rc.1", "major", "3.0.0"),
    ],
)
def test_bumps(start: str, kind: str, expected: str) -> None:
    bumped = parse(start).bump(kind)
    assert str(bumped) == expected
    assert bumped > parse(start)


_ident = st.one_of(
    st.integers(0, 2**64 - 1).map(str),
    st.from_regex(r"[0-9A-Za-z-]*[A-Za-z-][0-9A-Za-z-]*", fullmatch=True).filter(
        lambda s: 0 < len(s) <= 8
    ),
)
_version = st.builds(
    SemVer,
    st.integers(0, 2**64 - 1),
    st.integers(0, 3),
    st.integers(0, 3),
    st.lists(_ident, max_size=3).map(tuple),
)


def _reference_compare(a: SemVer, b: SemVer) -> int:
    """Semver 2.0.0 section 11, written out directly."""
    for x, y in ((a.major, b.major), (a.minor, b.minor), (a.patch, b.patch)):
        if x != y:
            return -1 if x < y else 1
    if not a.prerelease or not b.prerelease:
        return (not a.prerelease) - (not b.prerelease)
    for x, y in zip(a.prerelease, b.prerelease, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1
    return (len(a.prerelease) > len(b.prerelease)) - (len(a.prerelease) < len(b.prerelease))


@given(_version, _version)
def test_sort_key_matches_the_spec_rules(a: SemVer, b: SemVer) -> None:
    expected = _reference_compare(a, b)
    got = (sort_key(a) > sort_key(b)) - (sort_key(a) < sort_key(b))
    assert got == expected
    assert parse(str(a)) == a


def test_sql_order_by_sort_key(db_url: str, tmp_path: Path) -> None:
    from mv_orchestration.registry.database import parse_url

    engine = create_engine(parse_url(db_url))
    meta = MetaData()
    table = Table(
        "semver_order",
        meta,
        Column("id", Integer, primary_key=True),
        Column("version", String(64)),
        Column("sort_key", LargeBinary),
    )
    meta.create_all(engine)
    shuffled = SPEC_ORDER[:]
    random.Random(7).shuffle(shuffled)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"version": v, "sort_key": sort_key(v)} for v in shuffled])
        ordered = conn.execute(select(table.c.version).order_by(table.c.sort_key)).scalars().all()
        newest = conn.execute(
            select(table.c.version).order_by(table.c.sort_key.desc()).limit(1)
        ).scalar()
    engine.dispose()
    assert ordered == SPEC_ORDER
    assert newest == "10.0.0"
