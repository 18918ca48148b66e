"""Logical digest of Arrow tables: committed vectors, format invariance, sensitivity."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import math
import struct
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mv_orchestration.errors import UnsupportedValueError, ValidationError
from mv_orchestration.hashing.tabular import describe_table, table_digest

VECTORS = Path(__file__).parent / "vectors" / "tabular_digest.json"


# --- building tables from the JSON description ------------------------------------------
def arrow_type(spec: Any) -> pa.DataType:
    """Type from the vector notation: an alias string or a one-key dict for parametric types."""
    if isinstance(spec, str):
        return pa.type_for_alias(spec)
    (kind, arg), *rest = spec.items()
    options = dict(rest)
    if kind == "timestamp":
        return pa.timestamp(arg, tz=options.get("tz"))
    if kind in ("time32", "time64", "duration"):
        return getattr(pa, kind)(arg)
    if kind == "decimal128":
        return pa.decimal128(*arg)
    if kind == "fixed_size_binary":
        return pa.binary(arg)
    if kind == "list":
        return pa.list_(arrow_type(arg))
    if kind == "large_list":
        return pa.large_list(arrow_type(arg))
    if kind == "fixed_size_list":
        return pa.list_(arrow_type(arg), options["size"])
    if kind == "struct":
        return pa.struct([(name, arrow_type(t)) for name, t in arg])
    if kind == "map":
        return pa.map_(arrow_type(arg[0]), arrow_type(arg[1]))
    if kind == "dictionary":
        return pa.dictionary(pa.int32(), arrow_type(arg))
    raise AssertionError(f"unknown type spec {spec}")


def python_value(value: Any, dtype: pa.DataType) -> Any:
    """JSON value -> what pyarrow accepts (NaN/inf as strings, bytes as hex, decimals as str)."""
    if value is None:
        return None
    t = pa.types
    if t.is_dictionary(dtype):
        return python_value(value, dtype.value_type)
    if t.is_floating(dtype):
        return float(value)
    if t.is_binary(dtype) or t.is_fixed_size_binary(dtype):
        return bytes.fromhex(value)
    if t.is_decimal(dtype):
        return Decimal(value)
    if t.is_map(dtype):
        return [
            (python_value(k, dtype.key_type), python_value(v, dtype.item_type)) for k, v in value
        ]
    if t.is_list(dtype) or t.is_large_list(dtype) or t.is_fixed_size_list(dtype):
        return [python_value(item, dtype.value_type) for item in value]
    if t.is_struct(dtype):
        return {
            dtype.field(i).name: python_value(value[dtype.field(i).name], dtype.field(i).type)
            for i in range(dtype.num_fields)
        }
    return value


def build_table(columns: list[dict[str, Any]]) -> pa.Table:
    arrays, names = [], []
    for column in columns:
        dtype = arrow_type(column["type"])
        values = [python_value(v, dtype) for v in column["values"]]
        if pa.types.is_dictionary(dtype):
            array = pa.array(values, dtype.value_type).dictionary_encode()
        else:
            array = pa.array(values, dtype)
        arrays.append(array)
        names.append(column["name"])
    return pa.table(arrays, names=names) if arrays else pa.table({})


def load_vectors() -> list[dict[str, Any]]:
    return json.loads(VECTORS.read_text())["vectors"]


@pytest.mark.parametrize("vector", load_vectors(), ids=lambda v: v["name"])
def test_committed_vectors(vector: dict[str, Any]) -> None:
    table = build_table(vector["columns"])
    for algo in ("blake3", "sha256"):
        assert table_digest(table, algo=algo) == vector["digests"][algo]
        unordered = vector["unordered_digests"]
        if unordered is None:
            with pytest.raises(UnsupportedValueError):
                table_digest(table, ordered=False, algo=algo)
        else:
            assert table_digest(table, ordered=False, algo=algo) == unordered[algo]
            reversed_rows = table.take(pa.array(range(table.num_rows - 1, -1, -1), pa.int64()))
            assert table_digest(reversed_rows, ordered=False, algo=algo) == unordered[algo]


def test_vectors_are_distinct_except_declared_equivalents() -> None:
    vectors = load_vectors()
    by_digest: dict[str, set[str]] = {}
    for vector in vectors:
        group = vector.get("equivalent_to") or vector["name"]
        by_digest.setdefault(vector["digests"]["blake3"], set()).add(group)
    assert all(len(groups) == 1 for groups in by_digest.values()), by_digest
    assert len(by_digest) == len({v.get("equivalent_to") or v["name"] for v in vectors})


# --- invariance and sensitivity on hand-made tables --------------------------------------
def sample_table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, None, 3, 4, 5, 6], pa.int64()),
            "name": ["a", None, "ccc", "", "e", "ff"],
            "flag": [True, None, False, True, True, False],
            "score": [1.5, -0.0, None, float("nan"), 2.0, 1e300],
            "tags": [[1, 2], None, [], [3], [None], [4, 5, 6]],
            "point": [{"x": 1, "y": "a"}, None, {"x": None, "y": "b"}, {"x": 4, "y": None}] * 1
            + [{"x": 5, "y": "e"}, {"x": 6, "y": "f"}],
            "city": pa.array(["x", "y", "x", None, "z", "x"]).dictionary_encode(),
            "props": pa.array(
                [[("k", 1)], None, [("a", None), ("b", 2)], [], [("z", 0)], []],
                pa.map_(pa.string(), pa.int64()),
            ),
            "at": pa.array([1, 2, 3, None, 5, 6], pa.timestamp("ms", "UTC")),
            "price": pa.array(
                [Decimal("1.00"), Decimal("2.5"), None, Decimal("-4"), Decimal(0), Decimal(9)],
                pa.decimal128(10, 2),
            ),
            "pair": pa.array(
                [[1, 2], None, [3, 4], [5, 6], [7, 8], [0, 0]], pa.list_(pa.int64(), 2)
            ),
        }
    )


def test_format_compression_chunking_and_metadata_do_not_matter(tmp_path: Path) -> None:
    table = sample_table()
    digest = table_digest(table)
    variants = {
        "rechunked": pa.concat_tables([table.slice(0, 2), table.slice(2, 1), table.slice(3)]),
        "schema metadata": table.replace_schema_metadata({"pandas": "{}", "x": "y"}),
        "field metadata": table.cast(
            pa.schema([f.with_metadata({"comment": "c"}) for f in table.schema])
        ),
        "large types": table.set_column(
            1, "name", table["name"].cast(pa.large_string())
        ).set_column(4, "tags", table["tags"].cast(pa.large_list(pa.int64()))),
        "string view": table.set_column(1, "name", table["name"].cast(pa.string_view())),
        "decoded dictionary": table.set_column(6, "city", table["city"].cast(pa.string())),
        "record batch": table.combine_chunks().to_batches()[0],
    }
    for label, variant in variants.items():
        assert table_digest(variant) == digest, label
    pq.write_table(table, tmp_path / "zstd.parquet", compression="zstd", row_group_size=2)
    pq.write_table(table, tmp_path / "plain.parquet", compression="none", use_dictionary=False)
    feather.write_feather(table, tmp_path / "t.feather", compression="lz4", chunksize=4)
    feather.write_feather(table, tmp_path / "u.arrow", compression="uncompressed")
    with ipc.new_stream(tmp_path / "t.arrows", table.schema) as writer:
        writer.write_table(table, max_chunksize=3)
    for name in ("zstd.parquet", "plain.parquet", "t.feather", "u.arrow", "t.arrows"):
        assert table_digest(tmp_path / name) == digest, name
    parts = tmp_path / "dataset"
    parts.mkdir()
    pq.write_table(table.slice(0, 4), parts / "part-0.parquet")
    pq.write_table(table.slice(4), parts / "part-1.parquet", compression="gzip")
    (parts / "_SUCCESS").write_bytes(b"")
    info = describe_table(parts)
    assert (info.digest, info.num_rows) == (digest, 6)
    assert info.schema["name"] == "string"


def test_every_kind_of_change_alters_the_digest() -> None:
    table = sample_table()
    digest = table_digest(table)
    id_col = table["id"]
    changes = {
        "value": table.set_column(0, "id", pa.array([1, None, 3, 4, 5, 7], pa.int64())),
        "null to zero": table.set_column(0, "id", pa.array([1, 0, 3, 4, 5, 6], pa.int64())),
        "empty string to null": table.set_column(
            1, "name", pa.array(["a", None, "ccc", None, "e", "ff"])
        ),
        "negative zero": table.set_column(
            3, "score", pa.array([1.5, 0.0, None, float("nan"), 2.0, 1e300])
        ),
        "type": table.set_column(0, "id", id_col.cast(pa.int32())),
        "column name": table.rename_columns(["ID", *table.column_names[1:]]),
        "column order": table.select([1, 0, *range(2, table.num_columns)]),
        "row order": table.take([1, 0, 2, 3, 4, 5]),
        "dropped row": table.slice(0, 5),
        "nested value": table.set_column(
            4, "tags", pa.array([[1, 2], None, [], [3], [None], [4, 5, 7]])
        ),
        "empty list vs null list": table.set_column(
            4, "tags", pa.array([[1, 2], [], [], [3], [None], [4, 5, 6]])
        ),
        "timezone": table.set_column(8, "at", table["at"].cast(pa.timestamp("ms", "Europe/Paris"))),
    }
    digests = {label: table_digest(changed) for label, changed in changes.items()}
    for label, changed in digests.items():
        assert changed != digest, label
    assert len(set(digests.values())) == len(digests)


def test_sha256_is_selectable_and_differs() -> None:
    table = sample_table()
    assert table_digest(table, algo="sha256").startswith("sha256:")
    assert table_digest(table, algo="sha256")[7:] != table_digest(table)[7:]


def test_order_insensitive_option() -> None:
    table = sample_table().drop_columns(["tags", "props", "pair"])
    unordered = table_digest(table, ordered=False)
    assert unordered != table_digest(table)
    assert table_digest(table.take([5, 3, 1, 0, 2, 4]), ordered=False) == unordered
    duplicated = pa.concat_tables([table, table.slice(0, 1)])
    assert table_digest(duplicated, ordered=False) != unordered
    with pytest.raises(UnsupportedValueError, match="ordered=True"):
        table_digest(sample_table(), ordered=False)


def test_bad_inputs_are_typed_errors(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValidationError):
        table_digest(tmp_path / "notes.txt")
    with pytest.raises(ValidationError):
        table_digest(tmp_path)
    union = pa.UnionArray.from_sparse(
        pa.array([0, 1], pa.int8()), [pa.array([1, 2]), pa.array(["a", "b"])]
    )
    with pytest.raises(UnsupportedValueError):
        table_digest(pa.table({"u": union}))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    pq.write_table(pa.table({"a": [1]}), mixed / "0.parquet")
    pq.write_table(pa.table({"a": ["x"]}), mixed / "1.parquet")
    with pytest.raises(ValidationError, match="schema changed"):
        table_digest(mixed)


# --- Hypothesis ------------------------------------------------------------------------------
def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


FLAT_TYPES: list[tuple[pa.DataType, st.SearchStrategy[Any]]] = [
    (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    (pa.int32(), st.integers(-(2**31), 2**31 - 1)),
    (pa.uint8(), st.integers(0, 255)),
    (pa.float64(), st.floats()),
    (pa.float32(), st.floats(width=32)),
    (pa.bool_(), st.booleans()),
    (pa.string(), st.text(max_size=8)),
    (pa.large_string(), st.text(max_size=8)),
    (pa.binary(), st.binary(max_size=8)),
    (pa.date32(), st.dates()),
    (pa.timestamp("us", tz="UTC"), st.datetimes(timezones=st.just(dt.timezone.utc))),
    (pa.decimal128(9, 2), st.decimals(-(10**6), 10**6, places=2, allow_nan=False)),
]
NESTED_TYPES: list[tuple[pa.DataType, st.SearchStrategy[Any]]] = [
    (pa.list_(pa.int64()), st.lists(st.none() | st.integers(-1000, 1000), max_size=4)),
    (
        pa.struct([("a", pa.int64()), ("b", pa.string())]),
        st.fixed_dictionaries(
            {"a": st.none() | st.integers(-1000, 1000), "b": st.none() | st.text(max_size=4)}
        ),
    ),
]
DEFAULTS: dict[str, Any] = {
    "int64": 0,
    "int32": 0,
    "uint8": 0,
    "double": 0.0,
    "float": 0.0,
    "bool": False,
    "string": "",
    "large_string": "",
    "binary": b"",
    "date32[day]": dt.date(2000, 1, 1),
    "timestamp[us, tz=UTC]": dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc),
    "decimal128(9, 2)": Decimal("0.00"),
    "list<item: int64>": [],
    "struct<a: int64, b: string>": {"a": None, "b": None},
}


@st.composite
def tables(draw: st.DrawFn, nested: bool = True) -> pa.Table:
    choices = FLAT_TYPES + (NESTED_TYPES if nested else [])
    n_rows = draw(st.integers(0, 25))
    picked = draw(st.lists(st.sampled_from(range(len(choices))), min_size=1, max_size=4))
    columns = {}
    for i, index in enumerate(picked):
        dtype, values = choices[index]
        column = draw(st.lists(st.none() | values, min_size=n_rows, max_size=n_rows))
        columns[f"c{i}"] = pa.array(column, dtype)
    return pa.table(columns)


def changed_value(value: Any, dtype: pa.DataType) -> Any:
    """A different value of the same type (never bit-identical)."""
    t = pa.types
    if value is None:
        return DEFAULTS[str(dtype)]
    if t.is_boolean(dtype):
        return not value
    if t.is_integer(dtype):
        top = 2 ** (dtype.bit_width - (1 if t.is_signed_integer(dtype) else 0)) - 1
        return value + 1 if value < top else value - 1
    if t.is_floating(dtype):
        return 1.0 if math.isnan(value) or _bits(value) != _bits(1.0) else 2.0
    if t.is_decimal(dtype):
        return value + Decimal("0.01") if value < 10**6 else value - Decimal("0.01")
    if t.is_date(dtype):
        return (
            value + dt.timedelta(days=1)
            if value < dt.date(9999, 1, 1)
            else value - dt.timedelta(days=1)
        )
    if t.is_timestamp(dtype):
        step = dt.timedelta(microseconds=1)
        return value + step if value.year < 9999 else value - step
    if t.is_list(dtype):
        return [*value, 0]
    if t.is_struct(dtype):
        return {"a": 0 if value["a"] is None else value["a"] + 1, "b": value["b"]}
    return value + (b"x" if isinstance(value, bytes) else "x")


def rewrite_all_ways(table: pa.Table, data: st.DataObject, directory: Path) -> dict[str, Any]:
    cuts = sorted(data.draw(st.lists(st.integers(0, table.num_rows), max_size=4)))
    bounds = [0, *cuts, table.num_rows]
    rechunked = pa.concat_tables([table.slice(a, b - a) for a, b in itertools.pairwise(bounds)])
    compression = data.draw(st.sampled_from(["none", "snappy", "zstd", "gzip", "brotli"]))
    row_group = data.draw(st.integers(1, 30))
    pq.write_table(
        table,
        directory / "t.parquet",
        compression=compression,
        row_group_size=row_group,
        use_dictionary=data.draw(st.booleans()),
    )
    feather.write_feather(
        table,
        directory / "t.feather",
        compression=data.draw(st.sampled_from(["lz4", "zstd", "uncompressed"])),
        chunksize=data.draw(st.integers(1, 30)),
    )
    return {
        "rechunked": rechunked,
        f"parquet {compression} rg={row_group}": directory / "t.parquet",
        "feather": directory / "t.feather",
        "in-memory parquet": pq.read_table(io.BytesIO((directory / "t.parquet").read_bytes())),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), data=st.data())
def test_hypothesis_rewrites_keep_the_digest(table: pa.Table, data: st.DataObject) -> None:
    digest = table_digest(table)
    with tempfile.TemporaryDirectory() as tmp:
        for label, variant in rewrite_all_ways(table, data, Path(tmp)).items():
            assert table_digest(variant) == digest, label


@settings(max_examples=80, deadline=None)
@given(table=tables(), data=st.data())
def test_hypothesis_single_cell_change_alters_the_digest(
    table: pa.Table, data: st.DataObject
) -> None:
    if table.num_rows == 0:
        return
    col = data.draw(st.integers(0, table.num_columns - 1))
    row = data.draw(st.integers(0, table.num_rows - 1))
    values = table.column(col).to_pylist()
    dtype = table.schema.field(col).type
    to_null = values[row] is not None and data.draw(st.booleans())
    values[row] = None if to_null else changed_value(values[row], dtype)
    changed = table.set_column(col, table.column_names[col], pa.array(values, dtype))
    assert table_digest(changed) != table_digest(table)


@settings(max_examples=40, deadline=None)
@given(table=tables(nested=False), data=st.data())
def test_hypothesis_unordered_digest_ignores_row_order(
    table: pa.Table, data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(table.num_rows)))
    assert table_digest(table.take(pa.array(order, pa.int64())), ordered=False) == table_digest(
        table, ordered=False
    )
