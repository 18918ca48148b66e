"""Content-addressed artifact store: immutable objects named by their digest.

Layout under the store root: ``objects/<algo>/<first 2 hex>/<remaining hex>``, plus
``tmp/`` for staging. Publishing is create-only and atomic (see :mod:`._local` and
:mod:`._remote` for how each backend guarantees that no partial object is ever visible at
a final key), identical content is stored once, and every read re-hashes the bytes:
a mismatch raises :class:`DigestMismatchError` before anything reaches the caller.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from mv_orchestration.errors import (
    ConfigurationError,
    DeleteError,
    DigestMismatchError,
    IntegrityError,
    ValidationError,
)
from mv_orchestration.hashing.digest import (
    DEFAULT_ALGO,
    check_algo,
    digest_bytes,
    format_digest,
    parse_digest,
)
from mv_orchestration.hashing.files import copy_stream, digest_file
from mv_orchestration.hashing.manifest import Manifest, hash_tree
from mv_orchestration.hashing.statcache import StatCache
from mv_orchestration.store._backend import Backend
from mv_orchestration.store._local import LocalBackend
from mv_orchestration.store._url import parse_store_url
from mv_orchestration.store.credentials import S3Credentials
from mv_orchestration.store.names import resolve_inside
from mv_orchestration.store.pipe import ChunkPipe

log = logging.getLogger(__name__)

OBJECTS_DIR = "objects"
STAT_CACHE_FILE = "statcache.db"
DELETE_WORKERS = 16
SERIAL_UP_TO = 8  # keys that delete_many and missing handle one by one
T = TypeVar("T")


@dataclass(frozen=True)
class StoredObject:
    """One object found in the store."""

    digest: str
    size: int
    mtime: datetime


class ArtifactStore:
    """Immutable, deduplicated, verified-on-read object store on local disk, S3 or fsspec."""

    def __init__(self, backend: Backend, url: str, *, cache_dir: Path | None = None) -> None:
        self._backend = backend
        self.url = url
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._stat_cache: StatCache | None = None
        self.workers = 4 if isinstance(backend, LocalBackend) else 16
        """Threads for put_tree/materialize (I/O-bound on remote stores)."""

    @classmethod
    def from_url(
        cls, url: str, *, cache_dir: Path | None = None, credentials: S3Credentials | None = None
    ) -> ArtifactStore:
        """Open the store at ``url`` (``/abs/dir``, ``file:///abs/dir``,
        ``s3://bucket/prefix?endpoint_override=...&region=...&scheme=http``, or any fsspec
        URL when fsspec is installed). ``cache_dir`` holds the stat cache; ``credentials``
        sign an S3 store's requests instead of the AWS default chain."""
        location = parse_store_url(url)
        if credentials is not None and location.scheme != "s3":
            raise ConfigurationError("S3 credentials were given for a store that is not on S3")
        if location.scheme == "file":
            backend: Backend = LocalBackend(location.root)
        else:
            from mv_orchestration.store._remote import FsBackend

            options = dict(location.options)
            if credentials is not None:
                options.update(credentials.filesystem_options())
            fs = _filesystem(location.scheme, options)
            backend = FsBackend(fs, location.root, thread_safe=location.scheme == "s3")
        return cls(backend, location.url, cache_dir=cache_dir)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    @property
    def stat_cache(self) -> StatCache | None:
        """The stat cache in ``cache_dir`` (None without a cache directory)."""
        if self._stat_cache is None and self.cache_dir is not None:
            self._stat_cache = StatCache(self.cache_dir / STAT_CACHE_FILE)
        return self._stat_cache

    def close(self) -> None:
        """Release the stat cache connection."""
        if self._stat_cache is not None:
            self._stat_cache.close()
            self._stat_cache = None

    # --- naming ---------------------------------------------------------------------------
    def object_path(self, digest: str) -> str:
        """``objects/<algo>/<2 hex>/<rest>``, relative to the store root."""
        algo, hexdigest = parse_digest(digest)
        return f"{OBJECTS_DIR}/{algo}/{hexdigest[:2]}/{hexdigest[2:]}"

    # --- writing --------------------------------------------------------------------------
    def put_bytes(self, data: bytes, algo: str = DEFAULT_ALGO) -> str:
        """Store ``data``; return its digest. If already present, only its mtime is
        refreshed (see :meth:`Backend.touch`)."""
        digest = digest_bytes(data, algo)
        key = self.object_path(digest)
        if self._backend.size(key) != len(data) or not self._backend.touch(key):
            self._backend.publish_bytes(bytes(data), key, digest)
        return digest

    def put_file(
        self, path: str | os.PathLike[str], algo: str = DEFAULT_ALGO, digest: str | None = None
    ) -> str:
        """Store the file at ``path``; return its digest. A given ``digest`` saves the first
        hashing pass and is checked against what is stored (DigestMismatchError)."""
        source = Path(path)
        if digest is None:
            digest = digest_file(source, check_algo(algo))
        elif parse_digest(digest)[0] != algo:
            raise ValidationError(f"digest {digest} is not a {algo} digest")
        key = self.object_path(digest)
        size = self._backend.size(key)
        if size != source.stat().st_size or not self._backend.touch(key):
            self._backend.publish_file(source, key, digest)
        return digest

    def put_stream(self, fileobj: BinaryIO, algo: str = DEFAULT_ALGO) -> str:
        """Store everything read from ``fileobj``; return its digest. If reading raises,
        nothing is published."""
        check_algo(algo)
        return self._backend.publish_stream(fileobj, algo, self.object_path)

    def put_chunks(self, chunks: Iterable[bytes], algo: str = DEFAULT_ALGO) -> str:
        """Store the concatenation of ``chunks``; return its digest.

        The chunks are produced in the calling thread while a worker thread hashes and
        writes them (:class:`.ChunkPipe`), so producing and storing overlap. If producing
        raises, nothing is published and the error propagates.
        """
        check_algo(algo)
        pipe = ChunkPipe()
        with ThreadPoolExecutor(1, thread_name_prefix="mvo-put-chunks") as pool:
            stored = pool.submit(self.put_stream, cast(BinaryIO, pipe), algo)
            try:
                for chunk in chunks:
                    if not pipe.put(chunk, stored):
                        break  # the writer failed: its error is raised below
            except BaseException:
                pipe.fail(stored)
                raise
            pipe.close(stored)
            return stored.result()

    def put_tree(self, path: str | os.PathLike[str], algo: str = DEFAULT_ALGO) -> Manifest:
        """Store every file of a file or directory (deduplicated); return its manifest.

        Names are validated before anything is uploaded; each file is checked against its
        manifest digest as it is stored.
        """
        source = Path(path)
        manifest = hash_tree(source, algo, self.stat_cache)
        base = source if source.is_dir() else source.parent

        def put(entry_path: str, digest: str) -> str:
            return self.put_file(base.joinpath(*entry_path.split("/")), algo, digest)

        unique = {entry.digest: entry.path for entry in manifest.entries}
        with ThreadPoolExecutor(self.workers, thread_name_prefix="mvo-put") as pool:
            list(pool.map(lambda item: put(item[1], item[0]), unique.items()))
        return manifest

    # --- reading --------------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        """Whether an object is stored under ``digest`` (not verified)."""
        return self._backend.size(self.object_path(digest)) is not None

    def get_bytes(self, digest: str) -> bytes:
        """The verified content of ``digest``."""
        key = self.object_path(digest)
        with self._backend.open_read(key) as stream:
            data = stream.read()
        _expect(digest, digest_bytes(data, digest.split(":", 1)[0]))
        return bytes(data)

    def get_manifest(self, digest: str) -> Manifest:
        """The verified manifest stored as ``digest``; :class:`IntegrityError` when the
        object is not a manifest."""
        data = self.get_bytes(digest)
        try:
            return Manifest.model_validate_json(data)
        except ValueError as exc:
            raise IntegrityError(f"stored object {digest} is not a manifest: {exc}") from None

    def verify(self, digest: str) -> None:
        """Re-hash the stored bytes; MissingObjectError or DigestMismatchError on failure."""
        algo = parse_digest(digest)[0]
        with self._backend.open_read(self.object_path(digest)) as stream:
            hexdigest, _ = copy_stream(stream, None, algo)
        _expect(digest, format_digest(algo, hexdigest))

    def download(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Write the verified object to ``dest`` atomically (temp file, verify, rename)."""
        target = Path(dest)
        algo = parse_digest(digest)[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.mvo-tmp"
        try:
            with (
                self._backend.open_read(self.object_path(digest)) as stream,
                open(tmp, "xb") as out,
            ):
                hexdigest, _ = copy_stream(stream, out, algo)
            _expect(digest, format_digest(algo, hexdigest))
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return target

    def materialize(self, manifest: Manifest, dest_dir: str | os.PathLike[str]) -> Path:
        """Download every file of ``manifest`` under ``dest_dir``, each verified.

        Every name is checked before anything is written; nothing is written outside
        ``dest_dir``, including through symbolic links already inside it.
        """
        root = Path(dest_dir)
        targets = [(entry, resolve_inside(root, entry.path)) for entry in manifest.entries]
        names = {entry.path for entry in manifest.entries}
        for entry in manifest.entries:
            parts = entry.path.split("/")
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) in names:
                    raise ValidationError(f"manifest uses {'/'.join(parts[:i])!r} as file and dir")
        root.mkdir(parents=True, exist_ok=True)
        real_root = os.path.realpath(root)

        def fetch(entry_path: str, digest: str, target: Path) -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            resolve_inside(root, entry_path)
            if os.path.commonpath([real_root, os.path.realpath(target.parent)]) != real_root:
                raise ValidationError(f"{entry_path!r} would be written outside {root}")
            self.download(digest, target)

        with ThreadPoolExecutor(self.workers, thread_name_prefix="mvo-get") as pool:
            list(pool.map(lambda item: fetch(item[0].path, item[0].digest, item[1]), targets))
        return root

    # --- inventory ------------------------------------------------------------------------
    def iter_objects(self) -> Iterator[StoredObject]:
        """Every object under ``objects/`` (staging files excluded)."""
        for key, size, mtime in self._backend.list(OBJECTS_DIR):
            digest = _digest_of(key)
            if digest is not None:
                yield StoredObject(digest=digest, size=size, mtime=mtime)

    def delete(self, digest: str) -> bool:
        """Remove an object (garbage collection only). True if it existed."""
        return self._backend.delete(self.object_path(digest))

    def delete_many(self, digests: Sequence[str]) -> list[bool]:
        """:meth:`delete` each of ``digests``, :data:`DELETE_WORKERS` at a time (a deletion
        mostly waits on the disk or the network); whether each existed, in order.
        Every deletion is tried: :class:`DeleteError` then says which ones failed."""
        outcomes = self._each(_trying(self._backend.delete), digests, DELETE_WORKERS)
        existed: dict[str, bool] = {}
        failed: dict[str, Exception] = {}
        for digest, outcome in zip(digests, outcomes, strict=True):
            if isinstance(outcome, Exception):
                failed[digest] = outcome
            else:
                existed[digest] = outcome
        if failed:
            raise DeleteError(existed, failed) from next(iter(failed.values()))
        return [outcome for outcome in outcomes if not isinstance(outcome, Exception)]

    def missing(self, digests: Sequence[str]) -> list[str]:
        """Those of ``digests`` that are not stored, checked several at a time."""
        sizes = self._each(self._backend.size, digests, self.workers)
        return [digest for digest, size in zip(digests, sizes, strict=True) if size is None]

    def _each(self, call: Callable[[str], T], digests: Sequence[str], workers: int) -> list[T]:
        """``call`` on the key of each of ``digests``, ``workers`` at a time (one at a time
        for a few: starting threads would take longer), in order."""
        keys = list(map(self.object_path, digests))
        if len(keys) <= SERIAL_UP_TO:
            return list(map(call, keys))
        with ThreadPoolExecutor(min(workers, len(keys)), thread_name_prefix="mvo-each") as pool:
            return list(pool.map(call, keys))

    def sweep_temporary(self, older_than_s: float = 3600.0) -> int:
        """Remove staging leftovers of writers that died, older than ``older_than_s``
        (``0``: all of them, for when no writer is running)."""
        return self._backend.sweep_temporary(older_than_s)


def _trying(call: Callable[[str], T]) -> Callable[[str], T | Exception]:
    """``call``, returning the exception it raises instead."""

    def attempt(key: str) -> T | Exception:
        try:
            return call(key)
        except Exception as exc:
            return exc

    return attempt


def _expect(digest: str, actual: str) -> None:
    if actual != digest:
        raise DigestMismatchError(f"stored object {digest} hashes to {actual}")


def _digest_of(key: str) -> str | None:
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != OBJECTS_DIR or len(parts[2]) != 2:
        return None
    try:
        return format_digest(parts[1], parts[2] + parts[3])
    except ValidationError:
        return None


def _filesystem(scheme: str, options: dict[str, Any]) -> Any:
    import pyarrow.fs as pafs

    if scheme == "s3":
        return pafs.S3FileSystem(**options)
    try:
        import fsspec
    except ImportError:
        raise ConfigurationError(
            f"store URLs with scheme {scheme!r} need fsspec (and its {scheme} implementation)"
        ) from None
    try:
        fs = fsspec.filesystem(scheme, **options)
    except (ImportError, ValueError) as exc:
        raise ConfigurationError(f"cannot open a {scheme!r} filesystem: {exc}") from exc
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs))
