"""Local-disk backend: create-only, atomic, durable publish with plain POSIX calls.

Publishing an object: copy into a temporary file *in the object's own directory*, fsync it,
re-hash it (what is published is what was verified), make it read-only, then ``os.link`` it
to the final name, which fails rather than overwrite, and fsync the directory. The final
name therefore appears only with complete, verified, durable content; a writer that raises
or is killed leaves at most a ``.tmp-*`` file, which :meth:`sweep_temporary` removes. pyarrow's
LocalFileSystem offers neither fsync nor link-without-overwrite, hence ``os`` here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from mv_orchestration.errors import DigestMismatchError, MissingObjectError
from mv_orchestration.hashing.digest import format_digest
from mv_orchestration.hashing.files import copy_stream, digest_fd

TMP_PREFIX = ".tmp-"
STAGING_DIR = "tmp"


class LocalBackend:
    """Objects under a local directory ``root``."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        self._root_text = os.fspath(self.root)

    def _path(self, key: str) -> str:
        """The file of ``key`` as a plain string: calls made once per object (GC deletes,
        presence checks) from many threads at once stay clear of pathlib's cost."""
        return os.path.join(self._root_text, key)

    def size(self, key: str) -> int | None:
        try:
            return os.stat(self._path(key)).st_size
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        try:
            handle = open(self.root / key, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise MissingObjectError(f"object {key} is missing from {self.root}") from None
        with handle:
            yield handle

    def publish_file(self, source: Path, key: str, digest: str) -> None:
        final = self.root / key
        tmp = self._temp_beside(final)
        try:
            shutil.copyfile(source, tmp)
            self._seal(tmp, digest)
            self._link(tmp, final)
        finally:
            _unlink(tmp)

    def publish_bytes(self, data: bytes, key: str, digest: str) -> None:
        final = self.root / key
        tmp = self._temp_beside(final)
        try:
            with open(tmp, "xb") as handle:
                handle.write(data)
            self._seal(tmp, digest)
            self._link(tmp, final)
        finally:
            _unlink(tmp)

    def publish_stream(self, source: BinaryIO, algo: str, key_of: Callable[[str], str]) -> str:
        staging = self.root / STAGING_DIR
        _makedirs(staging)
        tmp = staging / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            with open(tmp, "xb") as handle:
                hexdigest, _ = copy_stream(source, handle, algo)
            digest = format_digest(algo, hexdigest)
            final = self.root / key_of(digest)
            _makedirs(final.parent)
            self._seal(tmp, digest)
            self._link(tmp, final)
        finally:
            _unlink(tmp)
        return digest

    def touch(self, key: str) -> bool:
        return _touch(self._path(key))

    def delete(self, key: str) -> bool:
        return _unlink(self._path(key))

    def list(self, prefix: str) -> Iterator[tuple[str, int, datetime]]:
        top = os.path.join(self._root_text, prefix)
        relative = os.path.relpath(top, self._root_text)
        yield from _files(top, "" if relative == os.curdir else relative.replace(os.sep, "/") + "/")

    def sweep_temporary(self, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        removed = 0
        for dirpath, _, filenames in os.walk(self.root):
            for name in filenames:
                path = Path(dirpath, name)
                stale = older_than_s <= 0 or _mtime(path) < cutoff
                if name.startswith(TMP_PREFIX) and stale and _unlink(path):
                    removed += 1
        return removed

    def _temp_beside(self, final: Path) -> Path:
        _makedirs(final.parent)
        return final.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"

    @staticmethod
    def _seal(tmp: Path, digest: str) -> None:
        """fsync, re-hash and make ``tmp`` read-only; DigestMismatchError if it differs."""
        algo = digest.split(":", 1)[0]
        fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
            hexdigest, _ = digest_fd(fd, algo)
            if format_digest(algo, hexdigest) != digest:
                raise DigestMismatchError(
                    f"content changed while it was stored: expected {digest}, "
                    f"wrote {algo}:{hexdigest}"
                )
        finally:
            os.close(fd)
        os.chmod(tmp, 0o444)

    @staticmethod
    def _link(tmp: Path, final: Path) -> None:
        try:
            os.link(tmp, final)
        except FileExistsError:
            if final.stat().st_size != tmp.stat().st_size:
                raise DigestMismatchError(
                    f"{final} exists with the wrong size; run verify on the store"
                ) from None
            if _touch(final):
                return
            os.link(tmp, final)  # GC removed it meanwhile: publish it again
        _fsync_dir(final.parent)


def _makedirs(directory: Path) -> None:
    """Create ``directory`` and parents, fsyncing each parent that gained an entry."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir()
            _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # platforms without directory handles (Windows)
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _touch(path: str | Path) -> bool:
    """Set ``path``'s mtime to now; False if it does not exist."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


def _unlink(path: str | Path) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _files(directory: str, keys: str) -> Iterator[tuple[str, int, datetime]]:
    """``(key, size, mtime)`` of every file under ``directory`` (keys start with ``keys``),
    staging files, symbolic links to directories and whatever vanishes meanwhile
    excluded. Each file is stat'ed once, through its directory entry."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if entry.is_dir():
            if not entry.is_symlink():
                yield from _files(entry.path, keys + entry.name + "/")
            continue
        if entry.name.startswith(TMP_PREFIX):
            continue
        try:
            st = entry.stat()
        except FileNotFoundError:
            continue
        yield keys + entry.name, st.st_size, datetime.fromtimestamp(st.st_mtime, tz=timezone.utc)
