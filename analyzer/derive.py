"""Raw trace -> per-second metrics: the one derivation ``analyze`` and ``live`` share.

Counters become rates here and nowhere else.  The interval of a step comes
from the monotonic clock (honest across wall-clock jumps); a step longer than
``MAX_GAP_FACTOR`` intervals, or one that crosses a reboot, is a gap: every
rate at that sample is NaN and the gap is reported, never interpolated.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import config
from analyzer.kernels._rates import _counter_rate, _grid_counter_rate, _keyed_counter_rate
from collector.schema import CPU_STATES, SECTOR_BYTES

BUSY_STATES = ("user", "nice", "system", "irq", "softirq", "steal")
"""States that count as busy; idle and iowait are not (guest is inside user)."""
TOTAL_STATES = tuple(s for s in CPU_STATES if not s.startswith("guest"))

NOT_DERIVED = frozenset({"nets", "ib", "rapl", "gpus", "fs"})
"""Per-item detail no metric here reads (node totals of the network are
columns of their own): ``load`` leaves them undecompressed, a fifth of a
node-day's reading."""

PROC_COLUMNS = ("i", "pid", "ppid", "starttime", "uid", "user", "comm", "state", "job",
                "threads", "cpu_pct", "rss", "read_Bps", "write_Bps")


@dataclass(frozen=True)
class Gap:
    """Seconds with no sample: from the last sample before to the first after."""
    after_i: int
    start: float
    end: float

    @property
    def missing_s(self) -> float:
        return self.end - self.start


@dataclass
class Derived:
    """Per-second metrics of one host's trace; every array has one entry per sample."""
    host: str
    metadata: dict[str, str]
    t: np.ndarray                      # wall-clock epoch seconds
    interval_s: float
    metrics: dict[str, np.ndarray]     # name -> float64, NaN where unknown
    core_busy: np.ndarray              # (n, cores) busy % per logical CPU
    procs: pl.DataFrame                # long: one row per (sample, process), see PROC_COLUMNS
    gaps: list[Gap] = field(default_factory=list)
    cpus: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # CPU of each core_busy column
    proc_order: np.ndarray | None = None   # rows of procs sorted by (pid, starttime, i): each process in time order

    @property
    def n(self) -> int:
        return len(self.t)

    @property
    def step_s(self) -> np.ndarray:
        """Seconds each sample's rates cover (since the previous sample; NaN
        for the first).  Amounts are rate x step, not rate x the median
        interval: imported traces mix 10-minute steps with job begin/end marks."""
        step = np.full(self.n, np.nan)
        step[1:] = np.diff(self.t)
        return step

    @property
    def missing_s(self) -> float:
        """Seconds of the span with no sample: each gap beyond one interval."""
        return float(sum(max(g.missing_s - self.interval_s, 0.0) for g in self.gaps))

    def job_totals(self) -> pl.DataFrame:
        """One row per job on this node: its user (the most frequent, ties by
        name), first and last sample times, CPU seconds, distinct processes and
        peak resident bytes.  Every count of a job's totals (``paratune jobs``,
        fleets) is this one."""
        p = self.procs.filter(pl.col("job").is_not_null())
        peak = (p.group_by("job", "i").agg(pl.col("rss").sum())
                .group_by("job").agg(pl.col("rss").max().alias("peak_rss")))
        totals = (p.with_columns(pl.col("cpu_pct").fill_nan(None), pl.Series("step", self.step_s).gather(p["i"]),
                                 pl.Series("t", self.t).gather(p["i"]))
                  .group_by("job").agg(
                      pl.col("user").drop_nulls().mode().sort().first().alias("user"),
                      pl.col("t").min().alias("first_seen"), pl.col("t").max().alias("last_seen"),
                      ((pl.col("cpu_pct") * pl.col("step")).sum() / 100.0).alias("cpu_s"),
                      pl.struct("pid", "starttime").n_unique().alias("processes")))
        return totals.join(peak, on="job").sort("job")

    def jobs(self) -> pl.DataFrame:
        """Per-sample aggregates of every job: i, job, cpu_pct, rss, nprocs."""
        return (self.procs.filter(pl.col("job").is_not_null())
                .group_by("i", "job").agg(pl.col("cpu_pct").sum(), pl.col("rss").sum(),
                                          pl.len().alias("nprocs"))
                .sort("job", "i"))


def _numpy(col: pa.ChunkedArray | pa.Array, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Values and validity of an Arrow column as numpy (nulls -> 0 / False).

    The values are always a fresh, writable array: Arrow's zero-copy view is
    read-only, which numba compiles (and caches) as another array type."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if arr.null_count == 0:       # the usual case: no mask to build, nothing to fill
        return np.array(arr.to_numpy(zero_copy_only=False), dtype=dtype), np.ones(len(arr), dtype=bool)
    valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return np.array(arr.fill_null(0).to_numpy(zero_copy_only=False), dtype=dtype), valid


def _gauge(col) -> np.ndarray:
    out, valid = _numpy(col)          # float64, a fresh array
    out[~valid] = np.nan
    return out


def _steps(table: pa.Table, interval_s: float):
    """Wall time, step length (monotonic), step-is-usable mask and the gaps."""
    t = table.column("ts").cast(pa.int64()).to_numpy() / 1e6
    mono = table.column("mono_ns").to_numpy().astype(np.int64)
    n = len(t)
    dt = np.full(n, np.nan)
    ok = np.zeros(n, dtype=bool)
    if n > 1:
        dmono = np.diff(mono) / 1e9
        dwall = np.diff(t)
        rebooted = dmono <= 0
        dt[1:] = np.where(rebooted, dwall, dmono)
        ok[1:] = ~rebooted & (dmono <= config.MAX_GAP_FACTOR * interval_s)
    gaps = [Gap(int(i - 1), float(t[i - 1]), float(t[i])) for i in np.flatnonzero(~ok[1:]) + 1]
    return t, dt, ok, gaps


def _rate(table, name, dt, ok, modulus=0.0) -> np.ndarray:
    values, valid = _numpy(table.column(name), np.uint64)
    return _counter_rate(values, valid, dt, ok, modulus)


def _nested(table: pa.Table, name: str) -> tuple[pa.Table, np.ndarray]:
    """The struct items of a list<struct> column as a table, and the row of each.

    Chunk by chunk: a node-day is 24 files' chunks, and combining a nested
    column first would copy all of it when a caller reads a few fields."""
    chunks, rows, base = [], [], 0
    for lists in table.column(name).chunks:
        lists = lists.fill_null(pa.scalar([], lists.type)) if lists.null_count else lists
        items = lists.flatten()
        at = np.repeat(np.arange(base, base + len(lists)), np.diff(lists.offsets.to_numpy()))
        if items.null_count:          # a null item is no item (its fields would read as null)
            present = items.is_valid()
            items, at = items.filter(present), at[present.to_numpy(zero_copy_only=False)]
        rows.append(at)
        chunks.append(pa.RecordBatch.from_struct_array(items))
        base += len(lists)
    item_schema = pa.schema(list(table.schema.field(name).type.value_type))
    return (pa.Table.from_batches(chunks, schema=item_schema),
            np.concatenate(rows) if rows else np.empty(0, dtype=np.int64))


def _by_item(items: pa.StructArray, key: str):
    """Map item names (cpu number, disk name) to columns of an (n, k) grid."""
    # np.unique's answer (sorted names, each item's index among them) from
    # Arrow's hash-based dictionary encoding: ~40x faster on string names
    encoded = pc.dictionary_encode(items.column(key).combine_chunks())
    names = encoded.dictionary.to_numpy(zero_copy_only=False)
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return names[order], rank[encoded.indices.to_numpy(zero_copy_only=False)]


def _grid_rates(items, rows, col, k, n, fields, dt, ok) -> dict[str, np.ndarray]:
    """Per-item counter rates on an (n, k) grid (NaN where an item is absent)."""
    out = {}
    for f in fields:
        v, valid = _numpy(items.column(f), np.uint64)
        out[f] = _grid_counter_rate(v, valid, rows, col, n, k, dt, ok, 0.0)
    return out


def _nansum_rows(grid: np.ndarray) -> np.ndarray:
    """Row sums that stay NaN when every entry of a row is NaN.  Column by
    column: a grid has a few columns (disks) and numpy's row reductions over
    so short a row cost ~5x more."""
    s = np.zeros(grid.shape[0])
    seen = np.zeros(grid.shape[0], dtype=bool)
    with np.errstate(invalid="ignore"):
        for j in range(grid.shape[1]):
            c = grid[:, j]
            ok = ~np.isnan(c)
            s += np.where(ok, c, 0.0)
            seen |= ok
    s[~seen] = np.nan
    return s


def _row_extreme(grid: np.ndarray, pick) -> np.ndarray:
    """Row max (pick=np.fmax) or min (np.fmin) over the values that are not
    NaN; NaN for a row of NaN.  Column by column, as ``_nansum_rows``."""
    out = np.full(grid.shape[0], np.nan)
    for j in range(grid.shape[1]):
        pick(out, grid[:, j], out=out)
    return out


def _recorded(columns) -> tuple[str, ...]:
    """CPU states with at least one value: a source that never recorded one (an
    imported TACC Stats file has no steal) leaves it out of the total instead
    of making every percentage unknown.  ``columns``: state -> Arrow column."""
    return tuple(s for s, c in columns.items() if c.null_count < len(c))


def _cpu(table, dt, ok, metrics):
    states = _recorded({st: table.column(f"cpu_{st}") for st in TOTAL_STATES})
    rates = {st: _rate(table, f"cpu_{st}", dt, ok) for st in states}
    total = sum(rates[s] for s in states) if states else np.full(table.num_rows, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = {s: np.where(total > 0, rates[s] / total * 100.0, np.nan) for s in states}

    def pct_of(*names):
        parts = [pct[s] for s in names if s in pct]
        return sum(parts) if parts else np.full(table.num_rows, np.nan)

    for s in ("user", "nice", "system", "idle", "iowait", "steal"):
        metrics[f"cpu_{s}_pct"] = pct_of(s)
    metrics["cpu_irq_pct"] = pct_of("irq", "softirq")
    metrics["cpu_busy_pct"] = pct_of(*BUSY_STATES)


def _cores(table, dt, ok, n) -> tuple[np.ndarray, np.ndarray]:
    """Busy % per logical CPU on an (n, cpus) grid, and the CPU number of each column."""
    items, rows = _nested(table, "cores")
    if items.num_rows == 0:
        return np.empty((n, 0)), np.empty(0, dtype=np.int64)
    names, col = _by_item(items, "cpu")
    names = names.astype(np.int64)
    states = _recorded({st: items.column(st) for st in TOTAL_STATES})
    if not states:
        return np.full((n, len(names)), np.nan), names
    rates = _grid_rates(items, rows, col, len(names), n, states, dt, ok)
    total = sum(rates[s] for s in states)
    busy = sum(rates[s] for s in BUSY_STATES if s in rates)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, busy / total * 100.0, np.nan), names


def _memory(table, dt, ok, metrics):
    total = _gauge(table.column("mem_total"))
    avail = _gauge(table.column("mem_available"))
    if np.isnan(avail).all():   # kernels before 3.14 (and sources) without MemAvailable
        avail = _gauge(table.column("mem_free")) + _gauge(table.column("mem_cached")) + np.nan_to_num(
            _gauge(table.column("mem_buffers")))
    swap_total = _gauge(table.column("swap_total"))
    swap_used = _gauge(table.column("swap_used"))
    with np.errstate(invalid="ignore", divide="ignore"):
        metrics["mem_used_pct"] = (total - avail) / total * 100.0
        metrics["mem_available_pct"] = avail / total * 100.0
        metrics["swap_used_pct"] = np.where(swap_total > 0, swap_used / swap_total * 100.0, 0.0)
    metrics["mem_used_bytes"] = total - avail
    for name, col in (("majflt_rate", "pgmajfault"), ("pgfault_rate", "pgfault"),
                      ("swapin_rate", "pswpin"), ("swapout_rate", "pswpout"),
                      ("pgscan_rate", "pgscan")):
        metrics[name] = _rate(table, col, dt, ok)


def _pressure(table, dt, ok, metrics):
    for res in ("cpu_some", "mem_some", "mem_full", "io_some", "io_full"):
        metrics[f"psi_{res}_pct"] = _rate(table, f"psi_{res}", dt, ok) / 1e4  # us/s -> %


def _network(table, dt, ok, metrics):
    for d in ("rx", "tx"):
        metrics[f"net_{d}_Bps"] = _rate(table, f"net_{d}_bytes", dt, ok)
        metrics[f"net_{d}_pps"] = _rate(table, f"net_{d}_packets", dt, ok)
    metrics["net_errs_rate"] = sum(_rate(table, f"net_{d}_{e}", dt, ok)
                                   for d in ("rx", "tx") for e in ("errs", "drop"))


def _disks(table, dt, ok, n, metrics):
    items, rows = _nested(table, "disks")
    names = ["disk_read_Bps", "disk_write_Bps", "disk_read_iops", "disk_write_iops",
             "disk_util_pct", "disk_queue"]
    if items.num_rows == 0:
        metrics.update({k: np.zeros(n) for k in names})
        return
    dnames, col = _by_item(items, "name")
    r = _grid_rates(items, rows, col, len(dnames), n,
                    ("read_sectors", "write_sectors", "reads", "writes", "io_ticks", "time_in_queue"),
                    dt, ok)
    metrics["disk_read_Bps"] = _nansum_rows(r["read_sectors"]) * SECTOR_BYTES
    metrics["disk_write_Bps"] = _nansum_rows(r["write_sectors"]) * SECTOR_BYTES
    metrics["disk_read_iops"] = _nansum_rows(r["reads"])
    metrics["disk_write_iops"] = _nansum_rows(r["writes"])
    util = _row_extreme(r["io_ticks"], np.fmax) / 10.0
    metrics["disk_util_pct"] = np.where(np.isfinite(util), np.minimum(util, 100.0), np.nan)
    metrics["disk_queue"] = _nansum_rows(r["time_in_queue"]) / 1000.0


def _system(table, dt, ok, metrics):
    for name, col in (("ctxt_rate", "ctxt"), ("intr_rate", "intr"), ("forks_rate", "forks")):
        metrics[name] = _rate(table, col, dt, ok)
    for col in ("procs_running", "procs_blocked", "load1", "nprocs"):
        metrics[col] = _gauge(table.column(col))


def process_order(pid: np.ndarray, start: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows of the long process table sorted by (pid, starttime, sample).

    The table is in sample order, so a stable sort by process alone gives it.
    A node-day has ~500 k rows but a few hundred processes: hash them to
    numbered groups (Arrow), number the groups in (pid, starttime) order and
    radix-sort the 16-bit numbers -- 3-4x faster than a three-key lexsort."""
    if pid.size and pid.min() >= 0 and pid.max() < 2**23 and start.max() < 2**40:
        enc = pc.dictionary_encode(pa.array((pid << 40) | start.astype(np.int64)))
        if len(enc.dictionary) <= 2**16:
            rank = np.empty(len(enc.dictionary), dtype=np.uint16)
            rank[np.argsort(enc.dictionary.to_numpy(), kind="stable")] = np.arange(len(rank), dtype=np.uint16)
            return np.argsort(rank[enc.indices.to_numpy()], kind="stable")
    return np.lexsort((rows, start, pid))


def _processes(table, t, ok, clk_tck: float) -> tuple[pl.DataFrame, np.ndarray]:
    """The long process frame, and its rows in (pid, starttime, sample) order."""
    items, rows = _nested(table, "procs")
    if items.num_rows == 0:
        return pl.DataFrame(schema={c: (pl.Float64 if c.endswith(("pct", "Bps")) else None)
                                    for c in PROC_COLUMNS}).select(
            pl.col("i").cast(pl.Int64), *[pl.col(c) for c in PROC_COLUMNS[1:]]), np.empty(0, dtype=np.int64)
    pid = _numpy(items.column("pid"), np.int64)[0]
    start = _numpy(items.column("starttime"), np.uint64)[0]
    order = process_order(pid, start, rows)
    pid_s, start_s, rows_s = pid[order], start[order], rows[order]
    same = np.zeros(len(order), dtype=bool)
    same[1:] = (pid_s[1:] == pid_s[:-1]) & (start_s[1:] == start_s[:-1])
    # a step that is a gap in the node trace is no rate for processes either
    same[1:] &= ok[rows_s[1:]] | (rows_s[1:] - rows_s[:-1] != 1)

    def keyed(values, valid):
        return _keyed_counter_rate(values, valid, order, rows, t, same, 1)

    ut, uvalid = _numpy(items.column("utime"), np.uint64)
    st, svalid = _numpy(items.column("stime"), np.uint64)
    cols = {
        "i": rows,
        "pid": pid, "ppid": items.column("ppid"), "starttime": start,
        "uid": items.column("uid"), "user": items.column("user"), "comm": items.column("comm"),
        "state": items.column("state"), "job": items.column("job"), "threads": items.column("threads"),
        "cpu_pct": keyed(ut + st, uvalid & svalid) / clk_tck * 100.0,
        "rss": _gauge(items.column("rss")),
        "read_Bps": keyed(*_numpy(items.column("read_bytes"), np.uint64)),
        "write_Bps": keyed(*_numpy(items.column("write_bytes"), np.uint64)),
    }
    return pl.DataFrame({k: (pl.from_arrow(v.combine_chunks()) if isinstance(v, pa.ChunkedArray) else v)
                         for k, v in cols.items()}), order


def derive(table: pa.Table, metadata: dict[str, str]) -> Derived:
    """All derived metrics of one host's rows (sorted by time)."""
    interval = float(metadata.get("interval_s", 1.0) or 1.0)
    n = table.num_rows
    t, dt, ok, gaps = _steps(table, interval)
    metrics: dict[str, np.ndarray] = {}
    _cpu(table, dt, ok, metrics)
    core_busy, cpus = _cores(table, dt, ok, n)
    metrics["core_imbalance_pct"] = (_row_extreme(core_busy, np.fmax) - _row_extreme(core_busy, np.fmin)
                                     if core_busy.shape[1] > 1 else np.zeros(n))
    _memory(table, dt, ok, metrics)
    _pressure(table, dt, ok, metrics)
    _network(table, dt, ok, metrics)
    _disks(table, dt, ok, n, metrics)
    _system(table, dt, ok, metrics)
    procs, order = _processes(table, t, ok, float(metadata.get("clk_tck", 100) or 100))
    return Derived(host=metadata.get("host", "?"), metadata=metadata, t=t, interval_s=interval,
                   metrics=metrics, core_busy=core_busy, procs=procs, gaps=gaps, cpus=cpus,
                   proc_order=order)
