"""How asset values are kept in the content-addressed store, and read back verified.

* A path (``os.PathLike``, or a ``str`` that is an absolute path to an existing file or
  directory) is stored as a tree: every file by digest plus the manifest as a JSON
  object. Its content digest is the manifest digest; loading materializes the files and
  returns the path of the file or directory.
* Any other value is pickled (protocol 5) and stored as one object; its content digest
  is the digest of those bytes; loading unpickles it. Unpickling runs code from the
  pickle: the store must be trusted like the code that wrote it (bytes are verified
  against their digest before they are unpickled).

Loaded trees are local copies: changing them does not change what is stored.

The digests and formats travel as materialization metadata (``mv/...`` keys), which is
how a later load finds them. Each stored value is pinned in the registry under owner
``dagster`` and its asset (partition) key, so GC keeps the latest value of every asset
(:func:`store_and_pin`); the value a new materialization replaces becomes garbage.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster_resources.metadata import plain
from mv_orchestration.errors import DigestMismatchError, ValidationError

if TYPE_CHECKING:
    import dagster as dg

    from mv_orchestration.hashing.manifest import Manifest
    from mv_orchestration.registry import Registry
    from mv_orchestration.store.store import ArtifactStore

logger = logging.getLogger(__name__)

PICKLE = "pickle"
FILE = "file"
DIRECTORY = "directory"
FORMATS = (PICKLE, FILE, DIRECTORY)

DIGEST_KEY = "mv/digest"
FORMAT_KEY = "mv/format"
MANIFEST_KEY = "mv/manifest"
SIZE_KEY = "mv/size"
PIN_OWNER = "dagster"


def as_path(value: Any) -> Path | None:
    """The path a value names when it is stored as a tree, else ``None``."""
    if isinstance(value, os.PathLike):
        path = Path(value)
        if not path.exists():
            raise ValidationError(f"asset value is a path that does not exist: {path}")
        return path
    if isinstance(value, str) and os.path.isabs(value) and os.path.exists(value):
        return Path(value)
    return None


def encode(value: Any) -> bytes:
    """The pickle (protocol 5) of a value."""
    return pickle.dumps(value, protocol=5)


@dataclass(frozen=True)
class StoredValue:
    """Where a stored asset value lives: its format, content digest and manifest object."""

    format: str
    digest: str
    size: int
    manifest: str | None = None

    def metadata(self) -> dict[str, Any]:
        """Materialization metadata that lets a later step load this value."""
        data: dict[str, Any] = {FORMAT_KEY: self.format, DIGEST_KEY: self.digest}
        data[SIZE_KEY] = self.size
        if self.manifest is not None:
            data[MANIFEST_KEY] = self.manifest
        return data

    @property
    def pin_target(self) -> tuple[str, str]:
        """The digest and pin kind that keep this value's objects live."""
        if self.format == PICKLE:
            return self.digest, "object"
        return str(self.manifest), "tree"

    @classmethod
    def from_metadata(cls, metadata: Any) -> StoredValue | None:
        """Read the value's location back from materialization metadata (None if absent)."""
        fields = {key: plain(metadata.get(key)) for key in (FORMAT_KEY, DIGEST_KEY, MANIFEST_KEY)}
        if fields[FORMAT_KEY] not in FORMATS or not fields[DIGEST_KEY]:
            return None
        if fields[FORMAT_KEY] != PICKLE and not fields[MANIFEST_KEY]:
            return None
        size = plain(metadata.get(SIZE_KEY))
        return cls(
            format=fields[FORMAT_KEY],
            digest=fields[DIGEST_KEY],
            size=int(size) if size is not None else 0,
            manifest=fields[MANIFEST_KEY],
        )


def store_pickled(store: ArtifactStore, data: bytes) -> StoredValue:
    """Store a pickled value as one object."""
    return StoredValue(PICKLE, store.put_bytes(data), len(data))


def store_tree(store: ArtifactStore, path: Path) -> StoredValue:
    """Store a file or directory: every file by digest, plus its manifest as an object."""
    from mv_orchestration.canonical import canonical_json

    manifest = store.put_tree(path)
    manifest_object = store.put_bytes(canonical_json(manifest.model_dump(mode="json")))
    kind = DIRECTORY if path.is_dir() else FILE
    return StoredValue(kind, manifest.digest, manifest.total_size, manifest_object)


def store_source(store: ArtifactStore, source: Path | bytes) -> StoredValue:
    """Store a path as a tree, or pickle bytes as one object."""
    if isinstance(source, bytes):
        return store_pickled(store, source)
    return store_tree(store, source)


def pin_key(asset_key: dg.AssetKey, partition_key: str | None = None) -> str:
    """``a/b/c`` for an asset key's path, plus ``[partition]`` for a partition."""
    key = "/".join(asset_key.path)
    return key if partition_key is None else f"{key}[{partition_key}]"


def store_and_pin(
    registry: Registry, key: str, source: Path | bytes, actor: str | None
) -> StoredValue:
    """Store ``source`` and pin it as ``key`` (owner :data:`PIN_OWNER`), storing it again
    when GC swept some of its objects before the pin committed."""
    from mv_orchestration.registry.presence import commit_uploaded

    stored: list[StoredValue] = []

    def upload() -> None:
        stored[:] = [store_source(registry.store, source)]

    def commit() -> None:
        digest, kind = stored[0].pin_target
        registry.pin(PIN_OWNER, key, digest, kind=kind, actor=actor)

    commit_uploaded(upload, commit)
    return stored[0]


def load_value(store: ArtifactStore, stored: StoredValue, dest_root: Path | None = None) -> Any:
    """Read a stored value back, verifying every byte against its digest.

    Trees are materialized once per content into ``<dest_root>/<algo>-<hex>/`` (default
    root: ``mvo-dagster-inputs`` in the system temporary directory); a copy already there
    is re-hashed and replaced if it no longer matches. The path of the file or directory
    is returned, so the same content always loads at the same path.
    """
    if stored.format == PICKLE:
        return pickle.loads(store.get_bytes(stored.digest))
    manifest = _read_manifest(store, stored)
    root = dest_root or Path(tempfile.gettempdir()) / "mvo-dagster-inputs"
    dest = _local_copy(store, manifest, root)
    if stored.format == FILE:
        (entry,) = manifest.entries
        return dest / entry.path
    return dest


def _local_copy(store: ArtifactStore, manifest: Manifest, root: Path) -> Path:
    """A verified local copy of a tree at a path named by its digest."""
    from mv_orchestration.hashing.manifest import hash_tree

    final = root / manifest.digest.replace(":", "-")
    if final.is_dir():
        if hash_tree(final).digest == manifest.digest:
            return final
        logger.warning("local copy %s was modified; materializing it again", final)
        shutil.rmtree(final)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    store.materialize(manifest, staging)
    try:
        staging.rename(final)
    except OSError:  # another step published the same content first
        shutil.rmtree(staging, ignore_errors=True)
    return final


def verify_value(store: ArtifactStore, stored: StoredValue) -> None:
    """Re-hash every stored byte of a value; raise an IntegrityError on any problem."""
    if stored.format == PICKLE:
        store.verify(stored.digest)
        return
    for entry in _read_manifest(store, stored).entries:
        store.verify(entry.digest)


def _read_manifest(store: ArtifactStore, stored: StoredValue) -> Manifest:
    """The verified manifest of a tree value, checked against the value's content digest."""
    manifest = store.get_manifest(str(stored.manifest))
    if manifest.digest != stored.digest:
        raise DigestMismatchError(
            f"manifest object {stored.manifest} describes {manifest.digest}, "
            f"expected {stored.digest}"
        )
    return manifest
