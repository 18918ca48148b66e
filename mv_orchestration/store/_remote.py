"""Backend for any pyarrow filesystem: S3 (native) and fsspec filesystems (via
``PyFileSystem(FSSpecHandler(...))``).

Why objects are staged: pyarrow's output streams *complete* the upload when closed, and
they are closed by ``with`` blocks and destructors even when the writer raised, so writing
straight to a final key would publish a partial object on any exception. Instead:

1. stream the bytes to ``<root>/tmp/<uuid>``, hashing what is sent;
2. read the staged object back and re-hash it (size and digest must match);
3. server-side copy it to the final key (S3 CopyObject is atomic: the key shows the whole
   object or nothing), then delete the staged object.

A writer that raises or is SIGKILLed at any point leaves at most a staged object under
``tmp/`` (swept by :meth:`sweep_temporary`, or an S3 lifecycle rule) and never anything at
a final key. An interrupted S3 multipart upload is invisible until completed.

S3 CopyObject is limited to 5 GiB. Larger objects are uploaded directly to the final key
as a multipart upload, from the local file whose digest was computed beforehand, by
pyarrow's C++ copy (which Python signals cannot interrupt half-way). A SIGKILL still leaves
nothing; the object is read back and re-hashed, and if the copy fails (local read error,
network) the upload may have completed with partial content, so the final key is deleted
at once unless it verifies. Readers re-hash on read in any case.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow.fs as pafs

from mv_orchestration.errors import DigestMismatchError, MissingObjectError
from mv_orchestration.hashing.digest import format_digest
from mv_orchestration.hashing.files import copy_stream

log = logging.getLogger(__name__)

STAGING_DIR = "tmp"
COPY_LIMIT = 5 << 30
"""Largest object a single server-side copy handles (S3 CopyObject)."""


class FsBackend:
    """Objects under ``root`` on a pyarrow filesystem.

    ``thread_safe=False`` (fsspec filesystems, some of which share open file objects between
    callers) serialises every operation through one lock.
    """

    copy_limit = COPY_LIMIT

    def __init__(self, fs: pafs.FileSystem, root: str, *, thread_safe: bool = True) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self._serial: contextlib.AbstractContextManager[Any] = (
            contextlib.nullcontext() if thread_safe else threading.RLock()
        )

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def size(self, key: str) -> int | None:
        with self._serial:
            info = self.fs.get_file_info(self._path(key))
        return info.size if info.type == pafs.FileType.File else None

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        with self._serial:
            try:
                stream = self.fs.open_input_stream(self._path(key))
            except FileNotFoundError:
                raise MissingObjectError(f"object {key} is missing from {self.root}") from None
            with stream:
                yield stream

    def publish_file(self, source: Path, key: str, digest: str) -> None:
        size = source.stat().st_size
        with self._serial:
            if size > self.copy_limit:
                self._upload_direct(source, key, digest)
                return
            with open(source, "rb") as handle:
                self._publish_staged(lambda out: _copy(handle, out, digest), lambda _: key)

    def publish_bytes(self, data: bytes, key: str, digest: str) -> None:
        def write(out: BinaryIO) -> str:
            out.write(data)
            return digest

        with self._serial:
            self._publish_staged(write, lambda _: key)

    def publish_stream(self, source: BinaryIO, algo: str, key_of: Callable[[str], str]) -> str:
        def write(out: BinaryIO) -> str:
            hexdigest, _ = copy_stream(source, out, algo)
            return format_digest(algo, hexdigest)

        with self._serial:
            return self._publish_staged(write, key_of)

    def _publish_staged(
        self, write: Callable[[BinaryIO], str], key_of: Callable[[str], str]
    ) -> str:
        staged = self._path(f"{STAGING_DIR}/{uuid.uuid4().hex}")
        try:
            with self.fs.open_output_stream(staged) as out:
                digest = write(out)
            key = key_of(digest)
            final = self._path(key)
            info = self.fs.get_file_info([staged, final])
            if info[1].type == pafs.FileType.File and info[1].size == info[0].size:
                return digest
            self._check(staged, digest)
            self.fs.copy_file(staged, final)
            return digest
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.fs.delete_file(staged)

    def _check(self, path: str, digest: str) -> None:
        algo = digest.split(":", 1)[0]
        with self.fs.open_input_stream(path) as stream:
            hexdigest, _ = copy_stream(stream, None, algo)
        if format_digest(algo, hexdigest) != digest:
            raise DigestMismatchError(
                f"staged upload reads back as {algo}:{hexdigest}, not {digest}"
            )

    def _upload_direct(self, source: Path, key: str, digest: str) -> None:
        final = self._path(key)
        try:
            pafs.copy_files(
                str(source.resolve()),
                final,
                source_filesystem=pafs.LocalFileSystem(),
                destination_filesystem=self.fs,
            )
            self._check(final, digest)
        except BaseException:
            self._remove_if_bad(final, digest)
            raise

    def _remove_if_bad(self, final: str, digest: str) -> None:
        """After a failed direct upload, delete the final key unless it verifies (it may be
        a concurrent writer's complete object)."""
        try:
            self._check(final, digest)
        except FileNotFoundError:
            return
        except (DigestMismatchError, OSError):
            log.error("removing %s left by a failed upload", final)
            with contextlib.suppress(FileNotFoundError):
                self.fs.delete_file(final)

    def touch(self, key: str) -> bool:
        """Leaves the mtime alone: S3 cannot change it without rewriting the object (a copy
        onto itself with replaced metadata), too costly on every put; True if present."""
        return self.size(key) is not None

    def delete(self, key: str) -> bool:
        with self._serial:
            if self.size(key) is None:
                return False
            self.fs.delete_file(self._path(key))
        return True

    def list(self, prefix: str) -> Iterator[tuple[str, int, datetime]]:
        selector = pafs.FileSelector(self._path(prefix), recursive=True, allow_not_found=True)
        base = self.root.strip("/") + "/"
        with self._serial:
            infos = self.fs.get_file_info(selector)
        for info in infos:
            path = info.path.lstrip("/")
            if info.type == pafs.FileType.File and path.startswith(base):
                # A filesystem without timestamps reports "now": young objects are never
                # garbage-collected early.
                yield path[len(base) :], info.size, info.mtime or datetime.now(timezone.utc)

    def sweep_temporary(self, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        removed = 0
        for key, _, mtime in self.list(STAGING_DIR):
            if older_than_s <= 0 or mtime.timestamp() < cutoff:
                with self._serial, contextlib.suppress(FileNotFoundError):
                    self.fs.delete_file(self._path(key))
                    removed += 1
        return removed


def _copy(source: BinaryIO, out: BinaryIO, digest: str) -> str:
    algo = digest.split(":", 1)[0]
    hexdigest, _ = copy_stream(source, out, algo)
    sent = format_digest(algo, hexdigest)
    if sent != digest:
        raise DigestMismatchError(f"source changed while uploading: expected {digest}, got {sent}")
    return digest
