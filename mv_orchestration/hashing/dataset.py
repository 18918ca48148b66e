"""Dataset references: what a run read, identified by content digest.

A reference records where the data was (``uri``), its digest, size and file count, and for
tables the schema and row count. ``snapshot`` tells whether its bytes were also copied into
the artifact store (``manifest_digest`` then names the stored manifest); otherwise the data
is only referenced, for inputs too large to copy.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mv_orchestration.errors import ValidationError
from mv_orchestration.hashing.digest import DEFAULT_ALGO, check_algo, parse_digest
from mv_orchestration.hashing.manifest import Manifest, ManifestEntry, hash_tree
from mv_orchestration.hashing.statcache import StatCache

if TYPE_CHECKING:
    import pyarrow as pa

    from mv_orchestration.store.store import ArtifactStore

Kind = Literal["file", "directory", "table"]


# The contract names a field ``schema``, which shadows the deprecated ``BaseModel.schema()``
# classmethod; pydantic warns about that at class creation, harmlessly.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "schema"', category=UserWarning)

    class DatasetRef(BaseModel):
        """An input dataset of a run, by content."""

        model_config = ConfigDict(frozen=True, extra="forbid")

        name: str = Field(min_length=1)
        uri: str
        digest: str
        size: int = Field(ge=0)
        file_count: int = Field(ge=0)
        kind: Kind
        schema: dict[str, str] | None = None  # type: ignore[assignment]
        """Column name -> Arrow type string, in column order (tables only)."""
        num_rows: int | None = Field(default=None, ge=0)
        snapshot: bool = False
        manifest_digest: str | None = None

        @field_validator("digest", "manifest_digest")
        @classmethod
        def _valid_digest(cls, value: str | None) -> str | None:
            if value is not None:
                parse_digest(value)
            return value


def describe_dataset(
    name: str,
    source: str | os.PathLike[str] | pa.Table,
    *,
    algo: str = DEFAULT_ALGO,
    stat_cache: StatCache | None = None,
    tabular: bool | None = None,
) -> DatasetRef:
    """Describe a file, a directory, a Parquet/Feather/IPC file, a directory of Parquet
    files or an in-memory ``pyarrow.Table`` (uri ``memory://<name>``).

    ``tabular=None`` detects tables from file magic; ``True`` insists (ValidationError
    otherwise); ``False`` hashes bytes only.
    """
    return _describe(name, source, algo=algo, stat_cache=stat_cache, tabular=tabular)[0]


def snapshot_dataset(
    name: str,
    source: str | os.PathLike[str] | pa.Table,
    store: ArtifactStore,
    *,
    algo: str = DEFAULT_ALGO,
    stat_cache: StatCache | None = None,
    tabular: bool | None = None,
) -> tuple[DatasetRef, Manifest]:
    """Describe the dataset and copy its bytes into ``store`` (deduplicated per file).

    An in-memory table is stored as one Arrow IPC file ``<name>.arrow``. Returns the
    reference (``snapshot=True``) and the stored manifest.
    """
    ref, manifest = _describe(name, source, algo=algo, stat_cache=stat_cache, tabular=tabular)
    if manifest is None:
        data = _ipc_bytes(source)
        entry = ManifestEntry(
            path=f"{_file_name(name)}.arrow", size=len(data), digest=store.put_bytes(data, algo)
        )
        manifest = Manifest(algo=algo, entries=[entry])
    else:
        stored = store.put_tree(_local_path(source), algo)
        if stored.digest != manifest.digest:
            raise ValidationError(f"dataset {name!r} changed while it was being snapshotted")
        manifest = stored
    ref = ref.model_copy(update={"snapshot": True, "manifest_digest": manifest.digest})
    return ref, manifest


def _describe(
    name: str,
    source: Any,
    *,
    algo: str,
    stat_cache: StatCache | None,
    tabular: bool | None,
) -> tuple[DatasetRef, Manifest | None]:
    check_algo(algo)
    if not isinstance(source, (str, os.PathLike)):
        return _describe_table(name, source, algo), None
    path = _local_path(source)
    manifest = hash_tree(path, algo, stat_cache)
    is_dir = path.is_dir()
    fields: dict[str, Any] = {
        "name": name,
        "uri": path.resolve().as_uri(),
        "size": manifest.total_size,
        "file_count": len(manifest.entries),
        "manifest_digest": manifest.digest,
    }
    if tabular is not False and _is_tabular(path):
        from mv_orchestration.hashing.tabular import describe_table

        info = describe_table(path, algo=algo)
        fields.update(kind="table", digest=info.digest, schema=info.schema, num_rows=info.num_rows)
    elif tabular:
        raise ValidationError(f"{path} is not a Parquet, Feather or Arrow IPC file or dataset")
    elif is_dir:
        fields.update(kind="directory", digest=manifest.digest)
    else:
        fields.update(kind="file", digest=manifest.entries[0].digest)
    return DatasetRef(**fields), manifest


def _describe_table(name: str, table: Any, algo: str) -> DatasetRef:
    import pyarrow as pa

    if not isinstance(table, (pa.Table, pa.RecordBatch)):
        raise ValidationError(
            f"dataset {name!r}: expected a path or a pyarrow.Table, got {type(table).__name__}"
        )
    from mv_orchestration.hashing.tabular import describe_table

    info = describe_table(table, algo=algo)
    return DatasetRef(
        name=name,
        uri=f"memory://{name}",
        digest=info.digest,
        size=table.nbytes,
        file_count=0,
        kind="table",
        schema=info.schema,
        num_rows=info.num_rows,
    )


def _is_tabular(path: Path) -> bool:
    from mv_orchestration.hashing.tabular import parquet_parts, tabular_format

    if path.is_dir():
        return bool(parquet_parts(path))
    return tabular_format(path) is not None


def _local_path(source: str | os.PathLike[str]) -> Path:
    text = os.fspath(source)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValidationError(f"file URI with a remote host is not supported: {text}")
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        raise ValidationError(
            f"dataset {text!r}: only local paths and file:// URIs can be hashed here"
        )
    return Path(text)


def _file_name(name: str) -> str:
    from mv_orchestration.store.names import validate_artifact_name

    return validate_artifact_name(name.replace("/", "_"))


def _ipc_bytes(table: Any) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write(table)
    return sink.getvalue().to_pybytes()
