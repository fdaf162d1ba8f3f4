"""Files an administrator might feed a paratune reader by mistake or that a broken node produced.

Each is built from a real recording (``sample_traces/stress-cpu.arrow``) so that the ones that
are still traces differ from a good trace in exactly one way.  ``expect`` says what a reader
must do: ``refuse`` (one line, non-zero exit) or ``read`` (exit 0, a report of ``samples`` rows).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from collector.reader import read_trace
from collector.schema import FIELDS

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "sample_traces" / "stress-cpu.arrow"
DAY_US = 86_400 * 1_000_000
UINT64_MAX = 2**64 - 1


@dataclass
class BadInput:
    name: str
    path: Path
    expect: str                 # "refuse" or "read"
    samples: int | None = None  # rows a reader must report when it reads the file


def _arrow_file(path: Path, table: pa.Table) -> Path:
    with pa.ipc.new_file(path, table.schema) as w:
        w.write_table(table)
    return path


def _png(path: Path) -> Path:
    """A real 1x1 PNG, chunk CRCs and all."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))
    return path


def _replace(table: pa.Table, name: str, array: pa.Array) -> pa.Table:
    """``table`` with column ``name`` replaced (its type may change), metadata kept."""
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i).with_type(array.type), array)


def _poison_floats(array: pa.Array, rng: np.random.Generator) -> pa.Array:
    """Every float value in ``array`` (nested lists of structs too) made NaN, +inf or -inf."""
    typ = array.type
    if pa.types.is_floating(typ):
        values = rng.choice([np.nan, np.inf, -np.inf], size=len(array)).astype(typ.to_pandas_dtype())
        return pa.array(values, typ, mask=array.is_null().to_numpy(zero_copy_only=False))
    if pa.types.is_list(typ):
        return pa.ListArray.from_arrays(array.offsets, _poison_floats(array.values, rng),
                                        type=typ, mask=array.is_null())
    if pa.types.is_struct(typ):
        children = [_poison_floats(array.field(i), rng) for i in range(typ.num_fields)]
        return pa.StructArray.from_arrays(children, fields=list(typ), mask=array.is_null())
    return array


def _huge(array: pa.Array) -> pa.Array:
    """Unsigned counters and gauges near 2**64, each one a step that wraps around."""
    typ = array.type
    if typ == pa.uint64():
        v = array.to_numpy(zero_copy_only=False)
        v = np.where(np.isnan(v.astype(float)), 0, v).astype(np.uint64)
        return pa.array(v + np.uint64(UINT64_MAX - 10_000), typ, mask=array.is_null()
                        .to_numpy(zero_copy_only=False))     # wraps: uint64 arithmetic modulo 2**64
    if pa.types.is_list(typ):
        return pa.ListArray.from_arrays(array.offsets, _huge(array.values), type=typ, mask=array.is_null())
    if pa.types.is_struct(typ):
        return pa.StructArray.from_arrays([_huge(array.field(i)) for i in range(typ.num_fields)],
                                          fields=list(typ), mask=array.is_null())
    return array


def _map_columns(table: pa.Table, fn, kind: str | None = None) -> pa.Table:
    """``fn`` applied to every column (of ``kind`` only, when given)."""
    cols = [pa.chunked_array([fn(c) for c in col.chunks], col.type)
            if kind is None or FIELDS[name].kind == kind else col
            for name, col in zip(table.column_names, table.columns)]
    return pa.Table.from_arrays(cols, schema=table.schema)


def _shift(table: pa.Table, rows_from: int, us: int) -> pa.Table:
    """``ts`` and ``mono_ns`` moved by ``us`` from row ``rows_from`` on (a node off for that long)."""
    ts = table.column("ts").cast(pa.int64()).to_numpy().copy()
    mono = table.column("mono_ns").to_numpy().copy()
    ts[rows_from:] += us
    mono[rows_from:] += np.uint64(us * 1000)
    table = _replace(table, "ts", pa.array(ts).cast(table.schema.field("ts").type))
    return _replace(table, "mono_ns", pa.array(mono, pa.uint64()))


def build(folder: Path) -> list[BadInput]:
    """Every bad input, written under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    good = read_trace(SOURCE).table.combine_chunks()
    n = good.num_rows
    rng = np.random.default_rng(7)
    out = [
        BadInput("empty file", folder / "empty.arrow", "refuse"),
        BadInput("random bytes", folder / "random.arrow", "refuse"),
        BadInput("a PNG image", _png(folder / "image.png"), "refuse"),
        BadInput("a Parquet file", folder / "trace.parquet", "refuse"),
        BadInput("Arrow with another schema", _arrow_file(folder / "other.arrow",
                 pa.table({"time": [1, 2, 3], "value": [0.5, 0.7, 0.1]})), "refuse"),
        BadInput("wrong column types", _arrow_file(folder / "wrongtype.arrow", _replace(
            good, "cpu_user", pa.array([str(v) for v in range(n)]))), "refuse"),
        BadInput("NaN/inf in every float", _arrow_file(folder / "naninf.arrow",
                 _map_columns(good, lambda a: _poison_floats(a, rng))), "read", n),
        BadInput("duplicated timestamps", _arrow_file(folder / "dup.arrow",
                 good.take(np.repeat(np.arange(n), 2))), "read", n),
        BadInput("backwards timestamps", _arrow_file(folder / "backwards.arrow",
                 good.take(np.arange(n)[::-1])), "read", n),
        BadInput("one sample", _arrow_file(folder / "one.arrow", good.slice(0, 1)), "read", 1),
        BadInput("a 3-day gap", _arrow_file(folder / "gap.arrow", _shift(good, n // 2, 3 * DAY_US)),
                 "read", n),
        BadInput("counters near 2**64 that wrap", _arrow_file(folder / "wrap.arrow",
                 _map_columns(good, _huge, "counter")), "read", n),
        BadInput("huge values everywhere", _arrow_file(folder / "huge.arrow",
                 _map_columns(good, _huge)), "read", n),
        BadInput("no rows", _arrow_file(folder / "norows.arrow", good.slice(0, 0)), "refuse"),
        BadInput("times in the year 148108", _arrow_file(folder / "future.arrow",
                 _replace(good, "ts", pa.array(np.arange(n, dtype=np.int64) * 1_000_000 + 2**62)
                          .cast(good.schema.field("ts").type))), "refuse"),
        BadInput("samples without a time", _arrow_file(folder / "nullts.arrow",
                 _replace(good, "ts", pa.nulls(n, good.schema.field("ts").type))), "refuse"),
    ]
    (folder / "empty.arrow").write_bytes(b"")
    (folder / "random.arrow").write_bytes(np.random.default_rng(1).bytes(50_000))
    pq.write_table(good, folder / "trace.parquet")
    return out
