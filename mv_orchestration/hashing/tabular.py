"""Logical digest of Arrow tables and Parquet / Feather / Arrow IPC data.

The digest depends on column names, logical types and values only: not on the file
format, compression, row-group or batch size, chunking, dictionary encoding, offset width
(``string`` = ``large_string``) or schema/field metadata. The canonical form it hashes is
specified in ``docs/tabular-digest.md``; in short, every column becomes a few byte streams
(validity, lengths, fixed-width values, variable-width bytes, child columns) built from
Arrow buffers with compute kernels, never row by row, and each stream is hashed as it
arrives, so chunk boundaries cannot show through.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mv_orchestration.canonical import canonical_json
from mv_orchestration.errors import UnsupportedValueError, ValidationError
from mv_orchestration.hashing.digest import DEFAULT_ALGO, Hasher, format_digest, new_hasher

FORMAT = "mvo.table.v1"
BATCH_ROWS = 1 << 16
_ONES = b"\x01" * (1 << 16)


@dataclass(frozen=True)
class TableInfo:
    """What one read of a table yields: its logical digest, schema and row count."""

    digest: str
    schema: dict[str, str]
    num_rows: int


def table_digest(
    table_or_path: pa.Table | pa.RecordBatch | str | os.PathLike[str],
    ordered: bool = True,
    algo: str = DEFAULT_ALGO,
) -> str:
    """Logical digest ``algo:hex`` of a table, or of a Parquet/Feather/IPC file or a directory
    of Parquet files. ``ordered=False`` gives the same digest for any row order."""
    return describe_table(table_or_path, ordered=ordered, algo=algo).digest


def describe_table(
    table_or_path: pa.Table | pa.RecordBatch | str | os.PathLike[str],
    *,
    ordered: bool = True,
    algo: str = DEFAULT_ALGO,
) -> TableInfo:
    """:func:`table_digest` plus the schema (name -> Arrow type string) and row count."""
    if isinstance(table_or_path, pa.RecordBatch):
        table_or_path = pa.Table.from_batches([table_or_path])
    if isinstance(table_or_path, pa.Table):
        schema, batches = table_or_path.schema, iter([table_or_path])
    else:
        schema, batches = open_batches(Path(table_or_path))
    if not ordered:
        batches = iter([_canonical_order(_collect(schema, batches))])
    hasher = TableHasher(schema, algo=algo, ordered=ordered)
    with ThreadPoolExecutor(min(len(schema) or 1, os.cpu_count() or 1)) as pool:
        for batch in batches:
            hasher.update(batch, pool)
    return TableInfo(
        digest=hasher.digest(),
        schema={field.name: str(field.type) for field in schema},
        num_rows=hasher.num_rows,
    )


# --- canonical types -----------------------------------------------------------------
_INTERVALS = {
    pa.month_day_nano_interval(): "interval[month_day_nano]",
}


def canonical_type(dtype: pa.DataType) -> str | dict[str, Any]:
    """The logical type as it enters the digest (see docs/tabular-digest.md)."""
    t = pa.types
    if t.is_dictionary(dtype):
        return canonical_type(dtype.value_type)
    if t.is_run_end_encoded(dtype):
        return canonical_type(dtype.value_type)
    if isinstance(dtype, pa.ExtensionType):
        return {"extension": dtype.extension_name, "storage": canonical_type(dtype.storage_type)}
    if t.is_null(dtype) or t.is_boolean(dtype):
        return "null" if t.is_null(dtype) else "bool"
    if t.is_integer(dtype) or t.is_floating(dtype):
        kind = "float" if t.is_floating(dtype) else "int" if t.is_signed_integer(dtype) else "uint"
        return f"{kind}{dtype.bit_width}"
    if t.is_decimal(dtype):
        return f"decimal{dtype.bit_width}({dtype.precision},{dtype.scale})"
    if t.is_date(dtype):
        return f"date{dtype.bit_width}"
    if t.is_time(dtype):
        return f"time{dtype.bit_width}[{dtype.unit}]"
    if t.is_timestamp(dtype):
        return f"timestamp[{dtype.unit}, tz={dtype.tz}]" if dtype.tz else f"timestamp[{dtype.unit}]"
    if t.is_duration(dtype):
        return f"duration[{dtype.unit}]"
    if t.is_interval(dtype):
        return _INTERVALS.get(dtype) or _unsupported(dtype)
    if t.is_fixed_size_binary(dtype):
        return f"fixed_size_binary[{dtype.byte_width}]"
    if t.is_string(dtype) or t.is_large_string(dtype) or t.is_string_view(dtype):
        return "string"
    if t.is_binary(dtype) or t.is_large_binary(dtype) or t.is_binary_view(dtype):
        return "binary"
    if t.is_fixed_size_list(dtype):
        return {"fixed_size_list": canonical_type(dtype.value_type), "size": dtype.list_size}
    if t.is_map(dtype):
        return {
            "map": {"key": canonical_type(dtype.key_type), "value": canonical_type(dtype.item_type)}
        }
    if _is_list_like(dtype):
        return {"list": canonical_type(dtype.value_type)}
    if t.is_struct(dtype):
        return {
            "struct": [
                {"name": dtype.field(i).name, "type": canonical_type(dtype.field(i).type)}
                for i in range(dtype.num_fields)
            ]
        }
    return _unsupported(dtype)


def _unsupported(dtype: pa.DataType) -> str:
    raise UnsupportedValueError(f"Arrow type {dtype} has no logical digest")


def _is_list_like(dtype: pa.DataType) -> bool:
    t = pa.types
    return bool(
        t.is_list(dtype)
        or t.is_large_list(dtype)
        or t.is_list_view(dtype)
        or t.is_large_list_view(dtype)
    )


def _normalise(arr: pa.Array) -> pa.Array:
    """Undo encodings that do not change logical values."""
    dtype = arr.type
    if pa.types.is_dictionary(dtype):
        return _normalise(arr.dictionary_decode())
    if pa.types.is_run_end_encoded(dtype):
        return _normalise(pc.run_end_decode(arr))
    if isinstance(dtype, pa.ExtensionType):
        return _normalise(arr.storage)
    if pa.types.is_string_view(dtype):
        return arr.cast(pa.large_string())
    if pa.types.is_binary_view(dtype):
        return arr.cast(pa.large_binary())
    return arr


# --- column hashers -------------------------------------------------------------------
def _bytes_of(arr: pa.Array, width: int) -> pa.Buffer:
    """The value buffer of a fixed-width array, trimmed to its slice."""
    return arr.buffers()[1].slice(arr.offset * width, len(arr) * width)


class _Column:
    """Validity stream plus the type-specific streams of one column (or child column)."""

    def __init__(self, algo: str) -> None:
        self.algo = algo
        self.length = 0
        self.null_count = 0
        self._validity: Hasher | None = None
        self._streams: list[Hasher] = []
        self.children: list[_Column] = []

    def _stream(self) -> Hasher:
        hasher = new_hasher(self.algo)
        self._streams.append(hasher)
        return hasher

    def update(self, arr: pa.Array) -> None:
        arr = _normalise(arr)
        nulls = arr.null_count
        if nulls and self._validity is None:
            self._validity = new_hasher(self.algo)
            _feed_ones(self._validity, self.length)
        if self._validity is not None:
            if nulls:
                self._validity.update(_bytes_of(pc.is_valid(arr).cast(pa.uint8()), 1))
            else:
                _feed_ones(self._validity, len(arr))
        self.length += len(arr)
        self.null_count += nulls
        if len(arr):
            self.values(arr)

    def values(self, arr: pa.Array) -> None:
        """Feed the type-specific streams; ``arr`` is non-empty and normalised."""

    def digest(self) -> bytes:
        hasher = new_hasher(self.algo)
        hasher.update(canonical_json({"length": self.length, "null_count": self.null_count}))
        if self._validity is not None:
            hasher.update(self._validity.digest())
        for stream in self._streams:
            hasher.update(stream.digest())
        for child in self.children:
            hasher.update(child.digest())
        return hasher.digest()


def _feed_ones(hasher: Hasher, count: int) -> None:
    while count > 0:
        step = min(count, len(_ONES))
        hasher.update(_ONES[:step])
        count -= step


class _Null(_Column):
    pass


class _Bool(_Column):
    def __init__(self, algo: str) -> None:
        super().__init__(algo)
        self._data = self._stream()

    def values(self, arr: pa.Array) -> None:
        if arr.null_count:
            arr = pc.fill_null(arr, False)
        self._data.update(_bytes_of(arr.cast(pa.uint8()), 1))


class _Fixed(_Column):
    def __init__(self, algo: str, width: int) -> None:
        super().__init__(algo)
        self.width = width
        self._zero = pa.scalar(b"\0" * width, pa.binary(width))
        self._data = self._stream()

    def values(self, arr: pa.Array) -> None:
        if arr.null_count:
            raw = pa.Array.from_buffers(
                pa.binary(self.width), len(arr), arr.buffers()[:2], arr.null_count, arr.offset
            )
            arr = pc.fill_null(raw, self._zero)
        self._data.update(_bytes_of(arr, self.width))


class _Binary(_Column):
    def __init__(self, algo: str) -> None:
        super().__init__(algo)
        self._lengths = self._stream()
        self._data = self._stream()

    def values(self, arr: pa.Array) -> None:
        if arr.null_count:
            arr = pc.fill_null(arr, pa.scalar(b"", arr.type))
        self._lengths.update(_bytes_of(pc.binary_length(arr).cast(pa.int64()), 8))
        large = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
        width = 8 if large else 4
        used = arr.buffers()[1].slice(0, (arr.offset + len(arr) + 1) * width)
        offsets = memoryview(used).cast("q" if large else "i")
        first, last = offsets[arr.offset], offsets[arr.offset + len(arr)]
        data = arr.buffers()[2]
        if data is not None and last > first:
            self._data.update(data.slice(first, last - first))


class _List(_Column):
    def __init__(self, algo: str, child: _Column) -> None:
        super().__init__(algo)
        self._lengths = self._stream()
        self.children = [child]

    def values(self, arr: pa.Array) -> None:
        if pa.types.is_map(arr.type):
            entries = pa.struct([arr.type.key_field, arr.type.item_field])
            arr = arr.view(pa.list_(pa.field("entries", entries, nullable=False)))
        lengths = pc.list_value_length(arr)
        if lengths.null_count:
            lengths = pc.fill_null(lengths, 0)
        self._lengths.update(_bytes_of(lengths.cast(pa.int64()), 8))
        self.children[0].update(arr.flatten())


class _FixedList(_Column):
    def __init__(self, algo: str, child: _Column) -> None:
        super().__init__(algo)
        self.children = [child]

    def values(self, arr: pa.Array) -> None:
        self.children[0].update((arr.drop_null() if arr.null_count else arr).flatten())


class _Struct(_Column):
    def __init__(self, algo: str, children: list[_Column]) -> None:
        super().__init__(algo)
        self.children = children

    def values(self, arr: pa.Array) -> None:
        for child, field_values in zip(self.children, arr.flatten(), strict=True):
            child.update(field_values)


def _column_for(dtype: pa.DataType, algo: str) -> _Column:
    t = pa.types
    if t.is_dictionary(dtype) or t.is_run_end_encoded(dtype):
        return _column_for(dtype.value_type, algo)
    if isinstance(dtype, pa.ExtensionType):
        return _column_for(dtype.storage_type, algo)
    if t.is_null(dtype):
        return _Null(algo)
    if t.is_boolean(dtype):
        return _Bool(algo)
    if t.is_fixed_size_list(dtype):
        return _FixedList(algo, _column_for(dtype.value_type, algo))
    if t.is_map(dtype):
        entries = pa.struct([dtype.key_field, dtype.item_field])
        return _List(algo, _column_for(entries, algo))
    if _is_list_like(dtype):
        return _List(algo, _column_for(dtype.value_type, algo))
    if t.is_struct(dtype):
        return _Struct(
            algo, [_column_for(dtype.field(i).type, algo) for i in range(dtype.num_fields)]
        )
    if (
        t.is_string(dtype)
        or t.is_large_string(dtype)
        or t.is_binary(dtype)
        or t.is_large_binary(dtype)
        or t.is_string_view(dtype)
        or t.is_binary_view(dtype)
    ):
        return _Binary(algo)
    return _Fixed(algo, dtype.bit_width // 8)


class TableHasher:
    """Streaming logical digest: feed tables or record batches of one schema, in row order."""

    def __init__(
        self, schema: pa.Schema, *, algo: str = DEFAULT_ALGO, ordered: bool = True
    ) -> None:
        self.algo = algo
        self.schema = schema
        self.ordered = ordered
        self.columns_descriptor = [
            {"name": field.name, "type": canonical_type(field.type)} for field in schema
        ]
        self._columns = [_column_for(field.type, algo) for field in schema]
        self.num_rows = 0

    def update(
        self, data: pa.Table | pa.RecordBatch, pool: ThreadPoolExecutor | None = None
    ) -> None:
        """Append the rows of ``data`` (same logical schema, checked)."""
        self._check_schema(data.schema)
        work = list(zip(self._columns, data.columns, strict=True))
        if pool is None or len(work) < 2:
            for column, values in work:
                _feed(column, values)
        else:
            list(pool.map(lambda item: _feed(*item), work))
        self.num_rows += data.num_rows

    def digest(self) -> str:
        """The ``algo:hex`` digest of everything fed so far."""
        header = {
            "format": FORMAT,
            "ordered": self.ordered,
            "num_rows": self.num_rows,
            "columns": self.columns_descriptor,
        }
        hasher = new_hasher(self.algo)
        hasher.update(canonical_json(header))
        for column in self._columns:
            hasher.update(column.digest())
        return format_digest(self.algo, hasher.hexdigest())

    def _check_schema(self, schema: pa.Schema) -> None:
        if schema is self.schema:
            return
        got = [{"name": field.name, "type": canonical_type(field.type)} for field in schema]
        if got != self.columns_descriptor:
            raise ValidationError(
                f"schema changed between parts of one table: {got} != {self.columns_descriptor}"
            )


def _feed(column: _Column, values: pa.Array | pa.ChunkedArray) -> None:
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        column.update(chunk)


# --- row order ----------------------------------------------------------------------------
def _canonical_order(table: pa.Table) -> pa.Table:
    """Rows sorted by the bit patterns of every column, a total order on canonical rows."""
    keys: list[pa.ChunkedArray] = []
    for column in table.columns:
        keys.extend(_sort_keys(column))
    if not keys or table.num_rows < 2:
        return table
    key_table = pa.table({f"k{i}": key for i, key in enumerate(keys)})
    order = pc.sort_indices(
        key_table, sort_keys=[(name, "ascending") for name in key_table.column_names]
    )
    return table.take(order)


def _sort_keys(column: pa.ChunkedArray) -> list[pa.ChunkedArray]:
    chunks = [_normalise(chunk) for chunk in column.chunks]
    dtype = chunks[0].type if chunks else _normalise(pa.nulls(0, column.type)).type
    t = pa.types
    if t.is_null(dtype):
        return []
    if t.is_struct(dtype):
        keys = [pa.chunked_array([pc.is_valid(c) for c in chunks], pa.bool_())]
        for i in range(dtype.num_fields):
            keys.extend(
                _sort_keys(pa.chunked_array([c.flatten()[i] for c in chunks], dtype.field(i).type))
            )
        return keys
    if t.is_floating(dtype):
        as_int = (
            pa.int16()
            if dtype.bit_width == 16
            else pa.int32()
            if dtype.bit_width == 32
            else pa.int64()
        )
        return [pa.chunked_array([c.view(as_int) for c in chunks], as_int)]
    if t.is_interval(dtype):
        width = dtype.bit_width // 8
        return [
            pa.chunked_array(
                [
                    pa.Array.from_buffers(
                        pa.binary(width), len(c), c.buffers()[:2], c.null_count, c.offset
                    )
                    for c in chunks
                ],
                pa.binary(width),
            )
        ]
    if t.is_nested(dtype):
        raise UnsupportedValueError(
            f"the order-insensitive digest does not support {dtype} columns; use ordered=True"
        )
    return [pa.chunked_array(chunks, dtype)]


# --- reading files --------------------------------------------------------------------------
def tabular_format(path: Path) -> str | None:
    """``"parquet"``, ``"ipc_file"`` (Feather v2 / Arrow IPC file), ``"ipc_stream"`` or
    ``None``, from the file's magic bytes."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if head[:4] in (b"PAR1", b"PARE"):
                return "parquet"
            if head[:6] == b"ARROW1":
                return "ipc_file"
            if head[:4] == b"\xff\xff\xff\xff":
                return "ipc_stream"
    except (IsADirectoryError, FileNotFoundError):
        return None
    return None


def parquet_parts(directory: Path) -> list[Path]:
    """The Parquet files of a dataset directory, in digest order (sorted relative POSIX
    path); names starting with ``.`` or ``_`` are metadata and skipped. Empty if any other
    file is not Parquet."""
    parts: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for name in filenames:
            if name.startswith((".", "_")):
                continue
            path = Path(dirpath, name)
            if tabular_format(path) != "parquet":
                return []
            parts.append((path.relative_to(directory).as_posix(), path))
    return [path for _, path in sorted(parts)]


def open_batches(path: Path) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Schema and a lazy batch iterator for a tabular file or a directory of Parquet files."""
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    if path.is_dir():
        parts = parquet_parts(path)
        if not parts:
            raise ValidationError(f"{path} is not a directory of Parquet files")
        schema = pq.read_schema(parts[0])
        return schema, (b for part in parts for b in open_batches(part)[1])
    kind = tabular_format(path)
    if kind == "parquet":
        parquet = pq.ParquetFile(path)
        return parquet.schema_arrow, parquet.iter_batches(batch_size=BATCH_ROWS)
    if kind == "ipc_file":
        reader = ipc.open_file(pa.OSFile(str(path)))
        return reader.schema, (reader.get_batch(i) for i in range(reader.num_record_batches))
    if kind == "ipc_stream":
        stream = ipc.open_stream(pa.OSFile(str(path)))
        return stream.schema, iter(stream)
    raise ValidationError(f"{path} is not a Parquet, Feather or Arrow IPC file")


def _collect(schema: pa.Schema, parts: Iterator[pa.RecordBatch | pa.Table]) -> pa.Table:
    """All parts as one table of ``schema`` (parts may differ only in physical encoding)."""
    want = [canonical_type(field.type) for field in schema]
    tables = []
    for part in parts:
        table = part if isinstance(part, pa.Table) else pa.Table.from_batches([part])
        if (
            table.column_names != schema.names
            or [canonical_type(field.type) for field in table.schema] != want
        ):
            raise ValidationError(f"schema changed between parts of one table: {table.schema}")
        tables.append(table if table.schema.equals(schema) else table.cast(schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()
