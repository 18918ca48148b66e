"""Ordering of Python package versions (PEP 440), without third-party dependencies.

Covers what package indexes hold: epochs, release segments of any length, pre-releases
(``a``/``b``/``rc`` and their spellings), post- and dev-releases and local labels.
Versions outside PEP 440 have no order (:func:`compare_versions` returns None).
"""

from __future__ import annotations

import re
from typing import Any

_VERSION = re.compile(
    r"""
    v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?:[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?:-(?P<post_n1>[0-9]+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?)?
    (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_PRE = {"alpha": "a", "a": "a", "beta": "b", "b": "b", "c": "rc", "pre": "rc", "preview": "rc"}
_PRE_RANK = {"a": 0, "b": 1, "rc": 2}
# Sentinels ordering the optional parts as PEP 440 requires.
_BEFORE_ALL = (-2,)
_AFTER_ALL = (2**62,)


def version_key(version: str) -> tuple[Any, ...] | None:
    """A sort key for ``version``; None when it is not a PEP 440 version."""
    match = _VERSION.fullmatch(version.strip())
    if match is None:
        return None
    release = [int(part) for part in match["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    pre_l = match["pre_l"]
    pre = (_PRE_RANK[_PRE.get(pre_l.lower(), "rc")], int(match["pre_n"] or 0)) if pre_l else None
    post_n = match["post_n1"] or match["post_n2"]
    post = int(post_n or 0) if (match["post_n1"] or match["post_l"]) else None
    dev = int(match["dev_n"] or 0) if match["dev_l"] else None
    if pre is None and post is None and dev is not None:
        pre_key: tuple[int, ...] = _BEFORE_ALL  # 1.0.dev1 sorts before 1.0a1
    elif pre is None:
        pre_key = _AFTER_ALL
    else:
        pre_key = pre
    post_key = _BEFORE_ALL if post is None else (post,)
    dev_key = _AFTER_ALL if dev is None else (dev,)
    local = match["local"]
    local_key: tuple[Any, ...] = (
        ()
        if local is None
        else tuple(
            (1, int(part), "") if part.isdigit() else (0, 0, part.lower())
            for part in re.split(r"[-_.]", local)
        )
    )
    return int(match["epoch"] or 0), tuple(release), pre_key, post_key, dev_key, local_key


def compare_versions(old: str, new: str) -> int | None:
    """-1 when ``new`` is older than ``old``, 0 when equal, 1 when newer, None when unordered."""
    a, b = version_key(old), version_key(new)
    if a is None or b is None:
        return 0 if old == new else None
    return (a < b) - (a > b)
