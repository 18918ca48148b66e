"""Self-describing digests (``blake3:<hex>``) of captured bytes."""

from __future__ import annotations

from blake3 import blake3

ALGO = "blake3"


def digest_bytes(data: bytes) -> str:
    """Digest of ``data`` as ``"blake3:<hex>"``."""
    return f"{ALGO}:{blake3(data).hexdigest()}"


def new_hasher() -> blake3:
    """A streaming hasher whose result :func:`format_hex` turns into a digest."""
    return blake3()


def format_hex(hexdigest: str) -> str:
    """``"blake3:<hex>"`` for a hex digest made by :func:`new_hasher`."""
    return f"{ALGO}:{hexdigest}"
