"""Canonical JSON of a retention plan, written directly.

The bytes are those :func:`mv_orchestration.canonical.canonical_json` gives for
:meth:`.RetentionPlan.content`: plan content holds only strings and integers, so each
version and object is written in sorted key order instead of as one of a million dicts
that are normalised and key-sorted one by one, :data:`CHUNK` at a time. Strings are
quoted as they are when no string of a chunk holds a character JSON escapes (checked for
the whole chunk at once), else escaped one by one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from json.encoder import encode_basestring as _escape
from operator import itemgetter
from typing import Any

CHUNK = 10_000
_ESCAPED = bytes(range(0x20)) + b'"\\'  # what JSON escapes (canonical JSON keeps the rest)
_TEXT_COLUMNS = (1, 2, 3, 4, 5)  # of a plan's version columns: model, version, ... reason
_DIGEST = itemgetter(0)
_dumps = partial(json.dumps, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _plain(texts: Iterable[str]) -> bool:
    """True when no text holds a control character, a quote or a backslash (so quoting
    each text as it is writes it as JSON)."""
    data = "".join(texts).encode("utf-8", "surrogatepass")
    return len(data.translate(None, _ESCAPED)) == len(data)


def _versions(columns: Sequence[Sequence[Any]]) -> str:
    """Plan version columns (``ids, models, versions, statuses, decisions, reasons,
    frees_bytes``) as comma-separated JSON objects, one per version."""
    rows = zip(*columns, strict=True)
    if all(_plain(columns[index]) for index in _TEXT_COLUMNS):
        return ",".join(
            [
                f'{{"decision":"{decision}","frees_bytes":{frees},"id":{id_},"model":"{model}",'
                f'"reason":"{reason}","status":"{status}","version":"{version}"}}'
                for id_, model, version, status, decision, reason, frees in rows
            ]
        )
    return ",".join(
        [
            f'{{"decision":{_escape(decision)},"frees_bytes":{frees},"id":{id_},'
            f'"model":{_escape(model)},"reason":{_escape(reason)},"status":{_escape(status)},'
            f'"version":{_escape(version)}}}'
            for id_, model, version, status, decision, reason, frees in rows
        ]
    )


def _objects(chunk: Sequence[tuple[str, int]]) -> str:
    """``(digest, size)`` pairs as comma-separated JSON objects."""
    if _plain(map(_DIGEST, chunk)):
        return ",".join([f'{{"digest":"{digest}","size":{size}}}' for digest, size in chunk])
    return ",".join([f'{{"digest":{_escape(digest)},"size":{size}}}' for digest, size in chunk])


def _array(count: int, encode: Callable[[slice], str]) -> Iterator[bytes]:
    """A JSON array of ``count`` items, ``encode`` making :data:`CHUNK` of them (a slice
    of the items) at a time."""
    yield b"["
    for start in range(0, count, CHUNK):
        if start:
            yield b","
        yield encode(slice(start, start + CHUNK)).encode("utf-8")
    yield b"]"


def plan_chunks(
    head: Mapping[str, Any],
    versions: Sequence[Sequence[Any]],
    objects: Sequence[tuple[str, int]],
) -> Iterator[bytes]:
    """Canonical JSON of plan content, in pieces: ``head`` (its small members) plus
    ``versions`` (the columns of ``PlannedVersion`` fields, in field order) and
    ``objects`` (``(digest, size)``).

    A million-version plan is a third of a gigabyte; its pieces can be stored as they are
    made instead of being held at once.
    """

    def version_rows(part: slice) -> str:
        return _versions([column[part] for column in versions])

    def object_rows(part: slice) -> str:
        return _objects(objects[part])

    arrays = {"versions": (len(versions[0]), version_rows), "objects": (len(objects), object_rows)}
    for index, key in enumerate(sorted([*head, *arrays])):
        yield (("," if index else "{") + _escape(key) + ":").encode("utf-8")
        if key in arrays:
            yield from _array(*arrays[key])
        else:
            yield _dumps(head[key]).encode("utf-8")
    yield b"}"
