"""A reader fed chunk by chunk from another thread, so producing bytes overlaps storing them.

:meth:`.ArtifactStore.put_chunks` runs the store's writer (which hashes and writes, both
outside the GIL for large blocks) in a worker thread reading a :class:`ChunkPipe`, while
the calling thread produces the chunks. The queue between them is bounded, so memory
stays at a few chunks. A producer that fails makes the reader raise, and a store never
publishes what it could not read to the end.
"""

from __future__ import annotations

import queue
from concurrent.futures import Future
from typing import Any

_END = object()
_POLL_S = 0.05


class ProducerFailed(Exception):
    """Raised to the reader when the producer stopped before the end."""


class ChunkPipe:
    """Bytes put by one producer thread, read with ``read(size)`` by one consumer thread.

    ``read`` returns bytes-like slices of the chunks (no copy), empty at the end.
    """

    def __init__(self, depth: int = 4) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(depth)
        self._chunk = memoryview(b"")
        self._ended = False

    def put(self, chunk: bytes, consumer: Future[Any]) -> bool:
        """Queue ``chunk``; False (nothing queued) once ``consumer`` has stopped."""
        return self._offer(chunk, consumer)

    def close(self, consumer: Future[Any]) -> None:
        """Mark the end of the bytes."""
        self._offer(_END, consumer)

    def fail(self, consumer: Future[Any]) -> None:
        """Make the reader raise :class:`ProducerFailed` instead of reaching the end."""
        self._offer(ProducerFailed("the producer of the bytes failed"), consumer)

    def _offer(self, item: Any, consumer: Future[Any]) -> bool:
        while not consumer.done():
            try:
                self._queue.put(item, timeout=_POLL_S)
            except queue.Full:
                continue
            return True
        return False

    def read(self, size: int = -1) -> memoryview:
        """Up to ``size`` bytes (all of the current chunk when ``size`` is negative)."""
        while not self._chunk and not self._ended:
            item = self._queue.get()
            if isinstance(item, ProducerFailed):
                self._ended = True
                raise item
            if item is _END:
                self._ended = True
            else:
                self._chunk = memoryview(item)
        taken = self._chunk if size < 0 else self._chunk[:size]
        self._chunk = self._chunk[len(taken) :]
        return taken
