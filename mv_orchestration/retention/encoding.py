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
_TEXT_COLUMNS = [itemgetter(index) for index in (1, 2, 3, 4, 5)]  # of a PlannedVersion
_DIGEST = itemgetter(0)
_dumps = partial(json.dumps, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _plain(texts: Iterable[str]) -> bool:
    """True when no text holds a control character, a quote or a backslash (so quoting
    each text as it is writes it as JSON)."""
    data = "".join(texts).encode("utf-8", "surrogatepass")
    return len(data.translate(None, _ESCAPED)) == len(data)


def _versions(chunk: Sequence[Any]) -> str:
    """``PlannedVersion`` tuples (``id, model, version, status, decision, reason,
    frees_bytes``) as comma-separated JSON objects."""
    if all(_plain(map(column, chunk)) for column in _TEXT_COLUMNS):
        return ",".join(
            [
                f'{{"decision":"{decision}","frees_bytes":{frees},"id":{id_},"model":"{model}",'
                f'"reason":"{reason}","status":"{status}","version":"{version}"}}'
                for id_, model, version, status, decision, reason, frees in chunk
            ]
        )
    return ",".join(
        [
            f'{{"decision":{_escape(decision)},"frees_bytes":{frees},"id":{id_},'
            f'"model":{_escape(model)},"reason":{_escape(reason)},"status":{_escape(status)},'
            f'"version":{_escape(version)}}}'
            for id_, model, version, status, decision, reason, frees in chunk
        ]
    )


def _objects(chunk: Sequence[tuple[str, int]]) -> str:
    """``(digest, size)`` pairs as comma-separated JSON objects."""
    if _plain(map(_DIGEST, chunk)):
        return ",".join([f'{{"digest":"{digest}","size":{size}}}' for digest, size in chunk])
    return ",".join([f'{{"digest":{_escape(digest)},"size":{size}}}' for digest, size in chunk])


def _array(items: Sequence[Any], encode: Callable[[Sequence[Any]], str]) -> Iterator[bytes]:
    """A JSON array of ``items``, encoded :data:`CHUNK` items at a time."""
    yield b"["
    for start in range(0, len(items), CHUNK):
        if start:
            yield b","
        yield encode(items[start : start + CHUNK]).encode("utf-8")
    yield b"]"


def plan_chunks(
    head: Mapping[str, Any], versions: Sequence[Any], objects: Sequence[tuple[str, int]]
) -> Iterator[bytes]:
    """Canonical JSON of plan content, in pieces: ``head`` (its small members) plus
    ``versions`` (``PlannedVersion`` tuples) and ``objects`` (``(digest, size)``).

    A million-version plan is a third of a gigabyte; its pieces can be stored as they are
    made instead of being held at once.
    """
    arrays = {"versions": (versions, _versions), "objects": (objects, _objects)}
    for index, key in enumerate(sorted([*head, *arrays])):
        yield (("," if index else "{") + _escape(key) + ":").encode("utf-8")
        if key in arrays:
            yield from _array(*arrays[key])
        else:
            yield _dumps(head[key]).encode("utf-8")
    yield b"}"
