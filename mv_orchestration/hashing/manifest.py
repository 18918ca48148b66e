"""Manifests: the Merkle-style digest of a file or directory tree.

A manifest lists every regular file as ``(relative POSIX path, size, digest)``, sorted by
path; its own digest is the digest of the canonical JSON ``{"algo": ..., "entries": [...]}``.
"""

from __future__ import annotations

import itertools
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mv_orchestration.canonical import canonical_json
from mv_orchestration.errors import ConflictError, ValidationError
from mv_orchestration.hashing.digest import (
    DEFAULT_ALGO,
    check_algo,
    digest_bytes,
    format_digest,
    parse_digest,
)
from mv_orchestration.hashing.files import digest_fd
from mv_orchestration.hashing.statcache import StatCache, now_ns
from mv_orchestration.store.names import validate_artifact_name

_MAX_ATTEMPTS = 3
_BATCH_BYTES = 32 << 20
_BATCH_FILES = 256


class ManifestEntry(BaseModel):
    """One file: where it goes, how big it is, and what it hashes to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    size: int = Field(ge=0)
    digest: str

    @field_validator("path")
    @classmethod
    def _safe_path(cls, value: str) -> str:
        return validate_artifact_name(value)

    @field_validator("digest")
    @classmethod
    def _valid_digest(cls, value: str) -> str:
        parse_digest(value)
        return value


class Manifest(BaseModel):
    """Sorted file entries of one algorithm; :attr:`digest` identifies the whole tree."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    algo: str = DEFAULT_ALGO
    entries: list[ManifestEntry]

    @field_validator("algo")
    @classmethod
    def _known_algo(cls, value: str) -> str:
        return check_algo(value)

    @field_validator("entries")
    @classmethod
    def _sorted_unique(cls, entries: list[ManifestEntry]) -> list[ManifestEntry]:
        entries = sorted(entries, key=lambda entry: entry.path)
        for before, after in itertools.pairwise(entries):
            if before.path == after.path:
                raise ValidationError(f"manifest lists {before.path!r} twice")
        return entries

    @model_validator(mode="after")
    def _one_algo(self) -> Manifest:
        for entry in self.entries:
            if not entry.digest.startswith(self.algo + ":"):
                raise ValidationError(f"{entry.path!r} is not a {self.algo} digest")
        return self

    @cached_property
    def digest(self) -> str:
        """Digest of the canonical JSON of ``{"algo", "entries"}``."""
        body = {"algo": self.algo, "entries": [entry.model_dump() for entry in self.entries]}
        return digest_bytes(canonical_json(body), self.algo)

    @property
    def total_size(self) -> int:
        """Sum of the entries' sizes in bytes."""
        return sum(entry.size for entry in self.entries)


def hash_tree(
    path: str | os.PathLike[str],
    algo: str = DEFAULT_ALGO,
    stat_cache: StatCache | None = None,
    *,
    workers: int | None = None,
) -> Manifest:
    """Manifest of a file (one entry named by its basename) or a directory (every regular
    file below it, recursively), hashed in parallel across files.

    Symbolic links and special files are refused with :class:`ValidationError`. With a
    ``stat_cache``, files whose stat key is unchanged and trusted are not read at all.
    """
    check_algo(algo)
    files = _collect(Path(path))
    digests: list[str | None] = (
        stat_cache.lookup_many([st for _, _, st in files], algo)
        if stat_cache is not None
        else [None] * len(files)
    )
    misses = [i for i, digest in enumerate(digests) if digest is None]
    sizes = [st.st_size for _, _, st in files]
    fresh: list[tuple[os.stat_result, str, int]] = []
    if misses:
        workers = workers or min(32, max(4, 2 * (os.cpu_count() or 1)))
        batches = _batches(misses, sizes, workers)
        with ThreadPoolExecutor(workers, thread_name_prefix="mvo-hash") as pool:
            hashed = pool.map(lambda b: [_hash_file(files[i][1], algo) for i in b], batches)
            for batch, results in zip(batches, hashed, strict=True):
                for i, (st, digest, hashed_at) in zip(batch, results, strict=True):
                    digests[i], sizes[i] = digest, st.st_size
                    fresh.append((st, digest, hashed_at))
    if stat_cache is not None:
        stat_cache.record_many(fresh, algo)
    entries = [
        ManifestEntry.model_construct(path=name, size=size, digest=digest)
        for (name, _, _), size, digest in zip(files, sizes, digests, strict=True)
    ]
    return Manifest(algo=algo, entries=entries)


def _collect(root: Path) -> list[tuple[str, str, os.stat_result]]:
    """Every regular file as ``(relative POSIX name, absolute path, lstat)``, names checked."""
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        raise ValidationError(f"no such file or directory: {root}") from None
    if stat.S_ISREG(st.st_mode):
        return [(validate_artifact_name(root.name), str(root), st)]
    if not stat.S_ISDIR(st.st_mode):
        raise ValidationError(f"{root} is a symbolic link or special file; refusing to hash it")
    found: list[tuple[str, str, os.stat_result]] = []
    pending: list[tuple[str, str]] = [(str(root), "")]
    while pending:
        directory, prefix = pending.pop()
        with os.scandir(directory) as it:
            for entry in it:
                name = prefix + entry.name
                if entry.is_symlink():
                    raise ValidationError(f"{entry.path} is a symbolic link; refusing to hash it")
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, name + "/"))
                elif entry.is_file(follow_symlinks=False):
                    validate_artifact_name(name)
                    found.append((name, entry.path, entry.stat(follow_symlinks=False)))
                else:
                    raise ValidationError(f"{entry.path} is a special file; refusing to hash it")
    found.sort(key=lambda item: item[0])
    return found


def _batches(indices: list[int], sizes: list[int], workers: int) -> list[list[int]]:
    """Group files so each pool task carries enough work to amortise its overhead."""
    per_batch = max(1, min(_BATCH_FILES, len(indices) // (workers * 4)))
    batches: list[list[int]] = [[]]
    weight = 0
    for i in indices:
        if batches[-1] and (len(batches[-1]) >= per_batch or weight + sizes[i] > _BATCH_BYTES):
            batches.append([])
            weight = 0
        batches[-1].append(i)
        weight += sizes[i]
    return batches


def _hash_file(path: str, algo: str) -> tuple[os.stat_result, str, int]:
    """Hash one file; re-read it if it changes meanwhile. Returns ``(fstat, digest, t0)``."""
    for _ in range(_MAX_ATTEMPTS):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            before = os.fstat(fd)
            hashed_at = now_ns()
            hexdigest, size = digest_fd(fd, algo)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if size == before.st_size and _same(before, after):
            return before, format_digest(algo, hexdigest), hashed_at
    raise ConflictError(f"{path} kept changing while being hashed")


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ctime_ns) == (b.st_size, b.st_mtime_ns, b.st_ctime_ns)
