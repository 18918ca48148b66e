"""Semantic Versioning 2.0.0: parsing, precedence, bumps and a binary sort key.

:func:`sort_key` maps a version to bytes whose plain byte order is semver precedence, so
``ORDER BY sort_key`` sorts correctly in SQLite (BLOB, memcmp) and PostgreSQL (bytea):

* major, minor and patch as 8-byte big-endian integers;
* ``\\x02`` for a release, or ``\\x01`` followed by the pre-release identifiers (a
  pre-release sorts before its release);
* each numeric identifier as ``\\x01`` + 8-byte big-endian, each alphanumeric one as
  ``\\x02`` + its ASCII bytes + ``\\x00`` (numeric < alphanumeric, ASCII order, and a
  shorter identifier list sorts first when it is a prefix of a longer one).

Build metadata is kept in the string but ignored by precedence. Numeric components must
be below 2**64 and a version at most 256 characters long.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import total_ordering

from mv_orchestration.errors import InvalidVersionError

_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?",
    re.ASCII,
)
MAX_LENGTH = 256
_MAX_NUMBER = 2**64 - 1
BUMP_KINDS = ("major", "minor", "patch")


@total_ordering
@dataclass(frozen=True)
class SemVer:
    """A parsed semantic version; compares by precedence (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self.sort_key() == other.sort_key()

    def __lt__(self, other: SemVer) -> bool:
        return self.sort_key() < other.sort_key()

    def __hash__(self) -> int:
        return hash(self.sort_key())

    def sort_key(self) -> bytes:
        """Bytes whose byte order is this version's precedence."""
        return sort_key(self)

    @property
    def release(self) -> SemVer:
        """The release this version belongs to (no pre-release, no build metadata)."""
        return SemVer(self.major, self.minor, self.patch)

    def bump(self, kind: str) -> SemVer:
        """The next version for a ``major``, ``minor`` or ``patch`` change.

        A pre-release bumps to the release it precedes when that release is the requested
        kind of step (``2.0.0-rc.1`` + major = ``2.0.0``; ``1.2.3-rc.1`` + patch =
        ``1.2.3``), as npm's semver does; build metadata is dropped.
        """
        if kind not in BUMP_KINDS:
            raise InvalidVersionError(f"bump must be one of {', '.join(BUMP_KINDS)}, got {kind!r}")
        pre = bool(self.prerelease)
        if kind == "major":
            if pre and self.minor == 0 and self.patch == 0:
                return self.release
            return SemVer(self.major + 1, 0, 0)
        if kind == "minor":
            if pre and self.patch == 0:
                return self.release
            return SemVer(self.major, self.minor + 1, 0)
        if pre:
            return self.release
        return SemVer(self.major, self.minor, self.patch + 1)


def parse(text: object) -> SemVer:
    """Parse a semver 2.0.0 string, raising :class:`InvalidVersionError` when invalid."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise InvalidVersionError(f"invalid semantic version {text!r}")
    match = _SEMVER.fullmatch(text)
    if match is None:
        raise InvalidVersionError(
            f"invalid semantic version {text!r}: expected MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]"
        )
    major, minor, patch = (int(match.group(i)) for i in (1, 2, 3))
    prerelease = tuple(match.group(4).split(".")) if match.group(4) else ()
    build = tuple(match.group(5).split(".")) if match.group(5) else ()
    numbers = [major, minor, patch, *(int(p) for p in prerelease if p.isdigit())]
    if any(n > _MAX_NUMBER for n in numbers):
        raise InvalidVersionError(f"invalid semantic version {text!r}: number above 2**64-1")
    return SemVer(major, minor, patch, prerelease, build)


def sort_key(version: SemVer | str) -> bytes:
    """The binary precedence key of ``version`` (see the module docstring)."""
    v = parse(version) if isinstance(version, str) else version
    parts = [struct.pack(">QQQ", v.major, v.minor, v.patch)]
    if not v.prerelease:
        parts.append(b"\x02")
    else:
        parts.append(b"\x01")
        for ident in v.prerelease:
            if ident.isdigit():
                parts.append(b"\x01" + struct.pack(">Q", int(ident)))
            else:
                parts.append(b"\x02" + ident.encode("ascii") + b"\x00")
    return b"".join(parts)
