"""Many nodes' traces -> one summary: per node-day, per job, and outlier nodes.

A fleet is cut into *units*: the files of one host for one UTC day (the
collector's ``<root>/<date>/<host>-<time>.arrow`` layout).  Each unit is read
and analysed on its own by ``summarize`` -- a plain function of its file
paths returning plain Python values -- so the work can run in this process,
in a local process pool or on a Dask cluster and give the same answer, and
memory is bounded by one node-day per worker whatever the size of the fleet.
The parent only keeps the small summaries, folds them into tables and
compares nodes with their peers.  ``fleet_units`` plans the units from file
names; ``fleet_outliers`` finds the nodes unlike their peers.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from analyzer.fleet_outliers import outliers
from analyzer.fleet_units import Unit, _named_host
from collector.reader import read_trace
from paratune_base.errors import ParatuneError

NODE_METRICS = ("cpu_busy_pct", "cpu_iowait_pct", "mem_used_pct", "psi_mem_some_pct", "psi_io_some_pct",
                "net_rx_Bps", "net_tx_Bps", "disk_read_Bps", "disk_write_Bps")
"""Per-node means kept in the summary (names as in analyzer.derive)."""

# ---------------------------------------------------------------- one unit (runs on a worker)

def _mean(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else None


def _node_means(metrics: dict, rows: np.ndarray | slice) -> dict[str, float | None]:
    out = {}
    for name in NODE_METRICS:
        out[name] = _mean(np.asarray(metrics[name][rows], dtype=np.float64)) if name in metrics else None
    return out


def _job_rows(d, cores: int) -> list[dict]:
    """One row per job seen on this node-day: its share of the node and the
    node's state while it ran (what job peers are compared on).  CPU time
    and user come from ``Derived.job_totals``, as ``paratune jobs``' do."""
    totals = {r["job"]: r for r in d.job_totals().iter_rows(named=True)}
    out = []
    for (job,), g in d.jobs().group_by("job", maintain_order=True):
        rows = g["i"].to_numpy()
        cpu = g["cpu_pct"].fill_nan(None).drop_nulls().to_numpy()
        out.append({
            "job": job, "user": totals[job]["user"],
            "first_seen": float(d.t[rows[0]]), "last_seen": float(d.t[rows[-1]]),
            "samples": int(len(rows)),
            "cpu_s": float(totals[job]["cpu_s"]),
            "job_cpu_pct": float(cpu.mean() / cores) if cpu.size else None,
            "peak_rss": float(g["rss"].max()),
            **_node_means(d.metrics, rows),
        })
    return out


def summarize(unit: Unit, start: str | None = None, end: str | None = None) -> dict:
    """Analyse one unit: a node row, its job rows and its anomalies.

    The stages are analyze's own (``analyze_trace(detail=False)``): no
    phases, fingerprint or process table, which the summary does not show
    and which are most of the cost after reading.  A unit that cannot be read
    gives a row with ``error`` set instead of stopping the fleet, and a
    damaged file of an otherwise readable unit a row of its own
    (``_salvage``); a unit with no sample between ``start`` and ``end`` is
    marked ``outside`` and left out of the tables (a window over a long
    history is not a list of failures)."""
    from analyzer.pipeline import analyze_trace
    from analyzer.load import NoSamplesSelected, load
    from collector.writer import skip_pandas

    skip_pandas()   # a worker process too: nothing here needs pandas
    head = {"host": unit.host, "day": unit.day, "files": len(unit.files)}
    try:
        traces = load(unit.files, start, end)
    except NoSamplesSelected:
        return {"node": {**head, "error": None, "outside": True}, "jobs": [], "anomalies": []}
    except ParatuneError as exc:
        return _salvage(unit, start, end, str(exc))
    named = any(_named_host(Path(f)) == unit.host for f in unit.files)
    if len(traces) > 1 or (named and traces[0].host not in ("", unit.host)):
        recorders = ", ".join(sorted({t.host or "a recorder without a host name" for t in traces}))
        return _failed(unit, f"files named for host {unit.host} hold samples recorded by {recorders}")
    a = analyze_trace(traces[0], detail=False)
    d, anomalies = a.derived, a.anomalies
    cores = max(int(d.core_busy.shape[1]), 1)
    mem = np.asarray(d.metrics.get("mem_used_pct", np.full(d.n, np.nan)), dtype=np.float64)
    jobs = _job_rows(d, cores)
    node = {
        **head, "error": None, "start": float(d.t[0]), "end": float(d.t[-1]), "samples": d.n,
        "interval_s": d.interval_s, "gap_s": d.missing_s, "cores": cores,
        **_node_means(d.metrics, slice(None)),
        "mem_used_pct_max": float(np.nanmax(mem)) if np.isfinite(mem).any() else None,
        "bottleneck": a.characterization.label,      # the day as one stretch
        "run": a.run.comm, "anomalies": len(anomalies),
        "jobs": [j["job"] for j in jobs],
    }
    found = [{"host": unit.host, "day": unit.day, **x.to_dict()} for x in anomalies]
    return {"node": node, "jobs": [{"host": unit.host, "day": unit.day, **j} for j in jobs],
            "anomalies": found}


def _failed(unit: Unit, error: str) -> dict:
    return {"node": {"host": unit.host, "day": unit.day, "files": len(unit.files), "error": error},
            "jobs": [], "anomalies": []}


def _salvage(unit: Unit, start: str | None, end: str | None, error: str) -> dict:
    """A unit that could not be read as a whole: its readable files are
    analysed and each damaged one is a row of its own (``damaged``), so one
    torn hour does not cost the node its day."""
    from analyzer.derive import NOT_DERIVED
    damaged = {}
    for f in unit.files:
        try:
            read_trace(f, NOT_DERIVED)
        except ParatuneError as exc:
            damaged[f] = str(exc)
    if not damaged or len(damaged) == len(unit.files):      # not one file's fault, or nothing left
        return _failed(unit, error)
    result = summarize(Unit(unit.host, unit.day, tuple(f for f in unit.files if f not in damaged)), start, end)
    result["damaged"] = [{"host": unit.host, "day": unit.day, "files": 1, "error": e} for e in damaged.values()]
    return result


# ---------------------------------------------------------------- the fleet (runs in the parent)

@dataclass
class Fleet:
    nodes: pl.DataFrame        # one row per unit (host, day)
    jobs: pl.DataFrame         # one row per job over every node
    job_nodes: pl.DataFrame    # one row per (job, host, day)
    anomalies: pl.DataFrame    # every anomaly of every unit
    outliers: pl.DataFrame     # nodes unlike their peers

    @property
    def errors(self) -> pl.DataFrame:
        return self.nodes.filter(pl.col("error").is_not_null()).select("host", "day", "error")


NODE_SCHEMA = {"host": pl.Utf8, "day": pl.Utf8, "files": pl.Int64, "error": pl.Utf8, "start": pl.Float64,
               "end": pl.Float64, "samples": pl.Int64, "interval_s": pl.Float64, "gap_s": pl.Float64,
               "cores": pl.Int64, **{m: pl.Float64 for m in NODE_METRICS}, "mem_used_pct_max": pl.Float64,
               "bottleneck": pl.Utf8, "run": pl.Utf8, "anomalies": pl.Int64, "jobs": pl.List(pl.Utf8)}
JOB_NODE_SCHEMA = {"host": pl.Utf8, "day": pl.Utf8, "job": pl.Utf8, "user": pl.Utf8,
                   "first_seen": pl.Float64, "last_seen": pl.Float64, "samples": pl.Int64,
                   "cpu_s": pl.Float64, "job_cpu_pct": pl.Float64, "peak_rss": pl.Float64,
                   **{m: pl.Float64 for m in NODE_METRICS}}
ANOMALY_SCHEMA = {"host": pl.Utf8, "day": pl.Utf8, "kind": pl.Utf8, "start": pl.Float64, "end": pl.Float64,
                  "metric": pl.Utf8, "score": pl.Float64, "message": pl.Utf8, "pid": pl.Int64,
                  "process": pl.Utf8, "job": pl.Utf8}


ROWS_PER_FRAME = 10_000
"""Rows kept as Python dicts before they become a polars frame: a node-day's
anomalies are ~150 bytes each there and ~1 kB as dicts."""


class _Table:
    """Rows of one table as they arrive, kept as polars frames."""

    def __init__(self, schema: dict):
        self.schema, self.pending, self.frames = schema, [], []

    def extend(self, rows: list[dict]) -> None:
        self.pending += rows
        if len(self.pending) >= ROWS_PER_FRAME:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.frames.append(pl.DataFrame(self.pending, schema=self.schema))
            self.pending = []

    def sorted(self, *by) -> pl.DataFrame:
        """Every row, in ``by`` order; rows that tie stay in the order they came."""
        self._flush()
        df = pl.concat(self.frames) if self.frames else pl.DataFrame(schema=self.schema)
        return df.sort(*by, maintain_order=True)


def assemble(results) -> Fleet:
    """The summaries of every unit (any iterable: each is folded into the
    tables as it arrives, so the parent holds frames, not a fleet of dicts)
    as tables in (host, day) order whatever order the workers finished in,
    plus the outliers."""
    nodes, job_nodes, anomalies = _Table(NODE_SCHEMA), _Table(JOB_NODE_SCHEMA), _Table(ANOMALY_SCHEMA)
    for r in results:
        nodes.extend(r.get("damaged", []))       # read even when outside
        if r["node"].get("outside"):
            continue
        nodes.extend([r["node"]])
        job_nodes.extend(r["jobs"])
        anomalies.extend(r["anomalies"])
    nodes = nodes.sorted("host", "day", pl.col("error").fill_null(""))
    job_nodes, anomalies = job_nodes.sorted("host", "day"), anomalies.sorted("host", "day")
    return Fleet(nodes, _jobs(job_nodes, anomalies), job_nodes, anomalies, outliers(nodes, job_nodes, NODE_METRICS))


def _jobs(job_nodes: pl.DataFrame, anomalies: pl.DataFrame) -> pl.DataFrame:
    spans = job_nodes.group_by("job", "host").agg(pl.col("first_seen").min(), pl.col("last_seen").max())
    hits = (spans.join(anomalies.select("host", "start", "end"), on="host")
            .filter((pl.col("start") <= pl.col("last_seen")) & (pl.col("end") >= pl.col("first_seen")))
            .group_by("job").agg(pl.len().alias("anomalies")))
    return (job_nodes.group_by("job").agg(
        pl.col("user").drop_nulls().first(), pl.col("host").n_unique().alias("nodes"),
        pl.col("host").unique().sort().alias("hosts"), pl.col("first_seen").min(),
        pl.col("last_seen").max(), (pl.col("cpu_s").sum() / 3600.0).alias("cpu_hours"),
        pl.col("job_cpu_pct").mean(), pl.col("peak_rss").max())
        .join(hits, on="job", how="left").with_columns(pl.col("anomalies").fill_null(0).cast(pl.Int64))
        .sort("first_seen", "job"))
