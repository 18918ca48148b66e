"""What the store needs from a backend (local disk, or any pyarrow filesystem)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol


class Backend(Protocol):
    """Keys are ``/``-separated paths relative to the store root."""

    def size(self, key: str) -> int | None:
        """Size of the object at ``key``, None if absent."""
        ...

    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Stream the object; MissingObjectError if absent."""
        ...

    def publish_file(self, source: Path, key: str, digest: str) -> None:
        """Atomically create ``key`` from a local file expected to hash to ``digest``."""
        ...

    def publish_bytes(self, data: bytes, key: str, digest: str) -> None:
        """Atomically create ``key`` holding ``data`` (whose digest is ``digest``)."""
        ...

    def publish_stream(self, source: BinaryIO, algo: str, key_of: Callable[[str], str]) -> str:
        """Stage ``source``, then publish it at ``key_of(digest)``; return the digest."""
        ...

    def touch(self, key: str) -> bool:
        """Refresh the modification time of the object at ``key`` (so GC's grace period
        counts from the latest put) where the backend can do so cheaply; False if it is
        gone."""
        ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""
        ...

    def list(self, prefix: str) -> Iterator[tuple[str, int, datetime]]:
        """``(key, size, mtime)`` of every object below ``prefix`` (staging excluded)."""
        ...

    def sweep_temporary(self, older_than_s: float) -> int:
        """Remove staging leftovers older than ``older_than_s``; return how many."""
        ...
