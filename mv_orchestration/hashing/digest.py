"""Self-describing digests ``algo:hex`` and the hashers behind them.

BLAKE3 is the default (fast, and multi-threaded on large inputs when asked); SHA-256 is
selectable for environments that require it.
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

import blake3

from mv_orchestration.errors import ValidationError

DEFAULT_ALGO = "blake3"
ALGORITHMS = ("blake3", "sha256")
_HEX_LENGTH = {"blake3": 64, "sha256": 64}
_HEX = re.compile(r"[0-9a-f]+")


class Hasher(Protocol):
    """What every hasher returned by :func:`new_hasher` offers."""

    def update(self, data: bytes | bytearray | memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...

    def digest(self) -> bytes: ...


def check_algo(algo: str) -> str:
    """Return ``algo`` if supported, else raise :class:`ValidationError`."""
    if algo not in ALGORITHMS:
        raise ValidationError(f"unknown digest algorithm {algo!r}; use one of {ALGORITHMS}")
    return algo


def new_hasher(algo: str = DEFAULT_ALGO, *, threads: bool = False) -> Hasher:
    """Return a fresh hasher for ``algo``.

    ``threads=True`` lets BLAKE3 spread each large ``update`` (>= 1 MiB pays off) over all
    cores; leave it off for many small updates, where the thread hand-off costs more.
    """
    check_algo(algo)
    if algo == "blake3":
        return blake3.blake3(max_threads=blake3.blake3.AUTO if threads else 1)
    return hashlib.sha256()


def format_digest(algo: str, hexdigest: str) -> str:
    """Return ``"algo:hex"`` after checking both parts."""
    return f"{algo}:{_check_hex(check_algo(algo), hexdigest)}"


def parse_digest(digest: str) -> tuple[str, str]:
    """Split ``"algo:hex"`` into its parts; :class:`ValidationError` on anything else."""
    if not isinstance(digest, str) or digest.count(":") != 1:
        raise ValidationError(f"not a digest (expected 'algo:hex'): {digest!r}")
    algo, hexdigest = digest.split(":")
    return check_algo(algo), _check_hex(algo, hexdigest)


def digest_bytes(data: bytes | bytearray | memoryview, algo: str = DEFAULT_ALGO) -> str:
    """Digest of an in-memory byte string."""
    hasher = new_hasher(algo, threads=len(data) >= 1 << 22)
    hasher.update(data)
    return format_digest(algo, hasher.hexdigest())


def _check_hex(algo: str, hexdigest: str) -> str:
    if len(hexdigest) != _HEX_LENGTH[algo] or not _HEX.fullmatch(hexdigest):
        raise ValidationError(
            f"{algo} digests are {_HEX_LENGTH[algo]} lowercase hex characters: {hexdigest!r}"
        )
    return hexdigest
