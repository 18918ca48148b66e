"""Artifact names: relative POSIX paths, checked before anything is written.

Refused: empty names and segments, ``.``/``..`` segments (also as Windows would read them:
segments of only dots and spaces), absolute paths, drive letters, backslashes, NUL and
other control characters, lone surrogates, bidirectional-override characters, and any of
these reached by percent-decoding (``%2e%2e``, ``%2f``, ``%5c``, double-encoded ``%252e``)
or by Unicode compatibility folding (fullwidth dots and solidus, U+FF0E and U+FF0F).
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from pathlib import Path
from urllib.parse import unquote

from mv_orchestration.errors import InvalidArtifactNameError

MAX_NAME_BYTES = 4096
MAX_SEGMENT_BYTES = 255
_DRIVE = re.compile(r"[A-Za-z]:")
_SEGMENT = r"(?!\.+(?:/|\Z))[A-Za-z0-9_.\-]{1,255}"
_PLAIN = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
"""Names made only of ASCII letters, digits, ``_.-`` and ``/``: safe unless a segment is all
dots, which the lookahead excludes; they skip the slower general checks."""
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_MAX_DECODE_ROUNDS = 4


def validate_artifact_name(name: str) -> str:
    """Return ``name`` if it is a safe relative POSIX path, else raise
    :class:`InvalidArtifactNameError`."""
    if not isinstance(name, str):
        raise InvalidArtifactNameError(f"artifact name must be a string, not {type(name)}")
    if len(name) <= MAX_NAME_BYTES and _PLAIN.fullmatch(name):
        return name
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidArtifactNameError(f"artifact name longer than {MAX_NAME_BYTES} bytes")
    _check_form(name, name)
    decoded = name
    for _ in range(_MAX_DECODE_ROUNDS):
        if not _ESCAPE.search(decoded):
            break
        try:
            decoded = unquote(decoded, errors="strict")
        except UnicodeDecodeError:
            raise InvalidArtifactNameError(
                f"artifact name {name!r} percent-encodes invalid UTF-8"
            ) from None
        _check_variant(name, decoded, "percent-decoded")
    else:
        if _ESCAPE.search(decoded):
            raise InvalidArtifactNameError(f"artifact name {name!r} is nested percent-encoding")
    folded = unicodedata.normalize("NFKC", name)
    if folded != name:
        _check_variant(name, folded, "Unicode-folded")
    return name


def resolve_inside(root: Path, name: str) -> Path:
    """Join a validated ``name`` under ``root``; refuse a path that leaves ``root`` through a
    symbolic link already present below it."""
    validate_artifact_name(name)
    target = root.joinpath(*name.split("/"))
    current = root
    for part in name.split("/")[:-1]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            break
        if not stat.S_ISDIR(mode):
            raise InvalidArtifactNameError(
                f"artifact name {name!r}: {current} is a symbolic link or not a directory"
            )
    return target


def _check_variant(name: str, variant: str, how: str) -> None:
    try:
        _check_form(variant, name)
    except InvalidArtifactNameError as exc:
        raise InvalidArtifactNameError(f"{how} form of {exc}") from None
    if variant.count("/") != name.count("/"):
        raise InvalidArtifactNameError(f"artifact name {name!r} hides a path separator")


def _check_form(text: str, name: str) -> None:
    if not text:
        raise InvalidArtifactNameError("artifact name is empty")
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI:
            raise InvalidArtifactNameError(
                f"artifact name {name!r} contains control or surrogate U+{ord(char):04X}"
            )
    if "\\" in text:
        raise InvalidArtifactNameError(f"artifact name {name!r} contains a backslash")
    if text.startswith("/"):
        raise InvalidArtifactNameError(f"artifact name {name!r} is an absolute path")
    for segment in text.split("/"):
        if not segment:
            raise InvalidArtifactNameError(f"artifact name {name!r} has an empty path segment")
        if not segment.strip(". "):
            raise InvalidArtifactNameError(f"artifact name {name!r} has a {segment!r} segment")
        if _DRIVE.match(segment):
            raise InvalidArtifactNameError(f"artifact name {name!r} contains a drive letter")
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            raise InvalidArtifactNameError(
                f"artifact name {name!r} has a segment longer than {MAX_SEGMENT_BYTES} bytes"
            )
