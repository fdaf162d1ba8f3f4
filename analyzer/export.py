"""Traces as flat tables in Parquet or CSV, for tools that do not read Arrow IPC.

Three shapes, all one row per sample (or per sample and process), with the
host and the sample time (UTC) first:

* ``samples``: the per-second node metrics of ``analyzer.derive``, the same
  numbers ``analyze`` and ``live`` show, plus each CPU's busy %;
* ``raw``: every recorded column as recorded (counters stay cumulative), the
  nested per-core, per-interface, per-disk, ... lists spread into one column
  per item and field (``cores.0.user``, ``nets.eth0.rx_bytes``);
* ``procs`` / ``raw procs``: the long process table, derived (CPU %, I/O
  rates) or raw.

Unknown values are null (derive's NaN becomes null), so CSV readers and SQL
engines see a missing value rather than the string "NaN".
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive import derive
from analyzer.load import Trace
from paratune_base.files import write_atomic

FORMATS = ("parquet", "csv")
SHAPES = ("samples", "raw", "procs", "raw-procs")

ITEM_KEYS = {"cores": ("cpu",), "nets": ("name",), "disks": ("name",), "ib": ("device", "port"),
             "rapl": ("zone",), "gpus": ("index",), "fs": ("kind", "mount")}
"""The fields that name an item of each nested column; they become part of the column name."""


def _lead(trace: Trace) -> dict[str, pl.Series]:
    n = trace.n
    return {"host": pl.Series("host", [trace.host] * n, pl.String),
            "time": pl.from_arrow(trace.table.column("ts")).alias("time")}


def _nulls_for_nan(df: pl.DataFrame) -> pl.DataFrame:
    floats = [c for c, t in df.schema.items() if t.is_float()]
    return df.with_columns(pl.col(floats).fill_nan(None)) if floats else df


def samples(trace: Trace) -> pl.DataFrame:
    """One row per sample: host, time, then derive's metrics and ``cpu<N>_busy_pct``."""
    d = derive(trace.table, trace.metadata)
    cols = _lead(trace)
    cols.update({name: pl.Series(name, values, pl.Float64) for name, values in d.metrics.items()})
    for j, cpu in enumerate(d.cpus.tolist()):
        cols[f"cpu{cpu}_busy_pct"] = pl.Series(d.core_busy[:, j])
    return _nulls_for_nan(pl.DataFrame(cols))


def raw(trace: Trace) -> pl.DataFrame:
    """One row per sample: every scalar column as recorded, nested ones one column per item and field."""
    table = trace.table
    cols: dict[str, pa.Array] = {}
    for f in table.schema:
        if f.name == "ts" or f.name == "procs":
            continue
        if pa.types.is_list(f.type):
            if f.name in ITEM_KEYS:
                cols.update(_spread(table.column(f.name), f.name, ITEM_KEYS[f.name], trace.n))
        else:
            cols[f.name] = table.column(f.name).combine_chunks()
    df = pl.DataFrame(_lead(trace))
    return df.hstack([pl.from_arrow(a).alias(k) for k, a in cols.items()]) if cols else df


def _spread(column: pa.ChunkedArray, name: str, keys: tuple[str, ...], n: int) -> dict[str, pa.Array]:
    """``list<struct>`` -> one array per (item, field), null where the item is absent in a sample."""
    lists = column.combine_chunks()
    items = lists.flatten()
    if len(items) == 0:
        return {}
    rows = pc.list_parent_indices(lists).to_numpy()
    if len(keys) == 1:
        key = items.field(keys[0]).to_numpy(zero_copy_only=False)
    else:
        parts = [items.field(k).cast(pa.string()).fill_null("").to_numpy(zero_copy_only=False) for k in keys]
        key = np.array([":".join(p) for p in zip(*parts)], dtype=object)
    names, where = np.unique(key, return_inverse=True)
    fields = [items.type.field(i).name for i in range(items.type.num_fields)]
    out = {}
    for j, item in enumerate(names):
        pos = np.flatnonzero(where == j)
        idx = np.full(n, -1, dtype=np.int64)
        idx[rows[pos]] = pos
        take = pa.array(idx, mask=idx < 0)
        for field in fields:
            if field not in keys:
                out[f"{name}.{item}.{field}"] = items.field(field).take(take)
    return out


def procs(trace: Trace) -> pl.DataFrame:
    """One row per (sample, process) with derive's CPU % and I/O rates."""
    d = derive(trace.table, trace.metadata)
    times = pl.from_arrow(trace.table.column("ts"))
    table = d.procs.with_columns(pl.lit(trace.host, pl.String).alias("host"),
                                 times.gather(d.procs["i"]).alias("time"))
    return _nulls_for_nan(table.select("host", "time", pl.exclude("host", "time", "i")))


def raw_procs(trace: Trace) -> pl.DataFrame:
    """One row per (sample, process) with every recorded process field as recorded."""
    lists = trace.table.column("procs").combine_chunks()
    items = lists.flatten()
    rows = pc.list_parent_indices(lists)
    times = trace.table.column("ts").combine_chunks().take(rows)
    df = pl.from_arrow(pa.Table.from_arrays(items.flatten(), names=[f.name for f in items.type]))
    return df.with_columns(pl.lit(trace.host, pl.String).alias("host"),
                           pl.from_arrow(times).alias("time")).select("host", "time", pl.exclude("host", "time"))


_SHAPE = {"samples": samples, "raw": raw, "procs": procs, "raw-procs": raw_procs}


def table(traces: list[Trace], shape: str) -> pl.DataFrame:
    """All hosts' rows of one shape, stacked; columns a host lacks are null for it."""
    frames = [_SHAPE[shape](t) for t in traces]
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def write(df: pl.DataFrame, path: Path, fmt: str, metadata: dict[str, str] | None = None) -> None:
    """Write ``df`` whole or not at all (temporary file, fsync, rename, mode 0640)."""
    if fmt == "parquet":
        write_atomic(path, lambda tmp: df.write_parquet(tmp, compression="zstd", metadata=metadata or None))
    elif fmt == "csv":
        write_atomic(path, lambda tmp: df.write_csv(tmp))
    else:
        raise ValueError(f"unknown format {fmt!r}")


def write_stream(df: pl.DataFrame, stream, fmt: str) -> None:
    """Write ``df`` to an open binary stream (``-o -``): no temporary, no rename."""
    if fmt == "parquet":
        df.write_parquet(stream, compression="zstd")
    else:
        df.write_csv(stream)
    stream.flush()
