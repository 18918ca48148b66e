"""Digests of streams and files: streaming, bounded memory, multi-threaded on large files.

Large files are read in fixed blocks by a helper thread while the calling thread hashes
the previous block (``read`` and BLAKE3 both release the GIL), so memory stays at two
blocks whatever the file size. Files are read, never memory-mapped: a file truncated by
another process while mapped would kill this one with SIGBUS.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Protocol

from mv_orchestration.hashing.digest import DEFAULT_ALGO, Hasher, format_digest, new_hasher

BLOCK_SIZE = 4 << 20
"""Read size for streams and large files; a file up to this size is read in one call."""


class _Sink(Protocol):
    def write(self, data: bytes | memoryview, /) -> object: ...


def digest_file(path: str | os.PathLike[str], algo: str = DEFAULT_ALGO) -> str:
    """Digest of the file at ``path``."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        hexdigest, _ = digest_fd(fd, algo)
    finally:
        os.close(fd)
    return format_digest(algo, hexdigest)


def digest_fd(fd: int, algo: str = DEFAULT_ALGO) -> tuple[str, int]:
    """Hash an open file descriptor from its current position to EOF.

    Returns ``(hexdigest, bytes_read)``. A small file is read in one call and hashed on one
    thread; a larger one uses a read-ahead thread and a multi-threaded hasher.
    """
    size = os.fstat(fd).st_size
    prefix = b""
    if size < BLOCK_SIZE:
        prefix = os.read(fd, size + 1)
        extra = os.read(fd, 1) if len(prefix) <= size else b""
        if len(prefix) <= size and not extra:
            hasher = new_hasher(algo)
            hasher.update(prefix)
            return hasher.hexdigest(), len(prefix)
        prefix += extra
    hasher = new_hasher(algo, threads=True)
    hasher.update(prefix)
    total = len(prefix) + _hash_rest(fd, hasher)
    return hasher.hexdigest(), total


def _hash_rest(fd: int, hasher: Hasher) -> int:
    """Double-buffered read-ahead: one thread reads block *n+1* while we hash block *n*."""
    buffers = (bytearray(BLOCK_SIZE), bytearray(BLOCK_SIZE))
    total = 0
    with ThreadPoolExecutor(1, thread_name_prefix="mvo-read") as reader:
        pending = reader.submit(os.readv, fd, [buffers[0]])
        current = 0
        while n := pending.result():
            pending = reader.submit(os.readv, fd, [buffers[current ^ 1]])
            hasher.update(memoryview(buffers[current])[:n])
            total += n
            current ^= 1
    return total


def digest_stream(fileobj: BinaryIO, algo: str = DEFAULT_ALGO) -> str:
    """Digest of everything left to read in a binary file object."""
    hexdigest, _ = copy_stream(fileobj, None, algo)
    return format_digest(algo, hexdigest)


def copy_stream(source: BinaryIO, sink: _Sink | None, algo: str = DEFAULT_ALGO) -> tuple[str, int]:
    """Read ``source`` to EOF in blocks, hashing and (if given) writing each block to ``sink``.

    Returns ``(hexdigest, bytes_copied)``; memory stays at one block.
    """
    hasher = new_hasher(algo, threads=True)
    total = 0
    while chunk := source.read(BLOCK_SIZE):
        hasher.update(chunk)
        if sink is not None:
            sink.write(chunk)
        total += len(chunk)
    return hasher.hexdigest(), total
