"""The fleet summary of ``paratune analyze`` over many nodes: rich tables,
one JSON document (docs/fleet.md) or Parquet files for BI tools."""
from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import polars as pl
from rich import box
from rich.console import Console
from rich.table import Table

from analyzer.fleet import Fleet
from analyzer.report.format import BOTTLENECK_COLOURS, human_bytes, iso, span
from analyzer.report.strict_json import write_tables
from paratune_base.files import write_atomic

SCHEMA_VERSION = 1
TABLE_ROWS = 25
"""Rows per terminal table; --json and --out have them all."""

TIME_COLUMNS = ("start", "end", "first_seen", "last_seen")


def _pct(x) -> str:
    return "-" if x is None else f"{x:.0f}%"


def _mbs(x) -> str:
    return "-" if x is None else f"{x / 1e6:.1f}"


def overview(f: Fleet) -> dict:
    ok = f.nodes.filter(pl.col("error").is_null())
    return {
        "hosts": f.nodes["host"].n_unique(), "node_days": f.nodes.height, "unreadable": f.errors.height,
        "start": iso(ok["start"].min()) if ok.height else None,
        "end": iso(ok["end"].max()) if ok.height else None,
        "samples": int(ok["samples"].sum()) if ok.height else 0,
        "jobs": f.jobs.height, "anomalies": f.anomalies.height, "outliers": f.outliers.height,
        "bottlenecks": dict(sorted(ok["bottleneck"].value_counts().iter_rows())) if ok.height else {},
    }


def render_text(f: Fleet, console: Console) -> None:
    o = overview(f)
    console.print(f"[bold]Fleet[/]: {o['hosts']} hosts, {o['node_days']} node-days, {o['jobs']} jobs, "
                  f"{o['samples']:,} samples, {o['start'] or '?'} to {o['end'] or '?'}")
    if o["bottlenecks"]:
        console.print("bottlenecks: " + ", ".join(
            f"[{BOTTLENECK_COLOURS.get(k, 'white')}]{k}[/] {v}" for k, v in o["bottlenecks"].items()))
    flagged = set(f.outliers["host"].to_list())
    nodes = (f.nodes.filter(pl.col("error").is_null())
             .with_columns(pl.col("host").is_in(list(flagged)).alias("outlier"))
             .sort(["outlier", "anomalies", "host", "day"], descending=[True, True, False, False]))
    one_day = nodes["day"].n_unique() <= 1
    t = Table(title=f"Nodes ({_shown(nodes.height)})" + (f", {nodes['day'][0]}" if one_day and nodes.height
                                                          and nodes["day"][0] else "")
              + "; net and disk in MB/s",
              title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for c in ("host", *(() if one_day else ("day",)), "span", "gaps", "busy", "iowait", "mem", "net",
              "disk", "bound", "anom.", "jobs"):
        t.add_column(c, justify="left" if c in ("host", "day", "bound", "jobs") else "right")
    for r in nodes.head(TABLE_ROWS).iter_rows(named=True):
        net = (r["net_rx_Bps"] or 0) + (r["net_tx_Bps"] or 0)
        disk = (r["disk_read_Bps"] or 0) + (r["disk_write_Bps"] or 0)
        host = f"[bold red]{r['host']}[/]" if r["outlier"] else r["host"]
        label = r["bottleneck"] or "-"
        t.add_row(host, *(() if one_day else (r["day"] or "-",)),
                  _span(r["end"] - r["start"] + r["interval_s"]), _span(r["gap_s"]) if r["gap_s"] else "-",
                  _pct(r["cpu_busy_pct"]), _pct(r["cpu_iowait_pct"]), _pct(r["mem_used_pct"]),
                  _mbs(net), _mbs(disk), f"[{BOTTLENECK_COLOURS.get(label, 'white')}]{label.removesuffix('-bound')}[/]",
                  str(r["anomalies"]), _jobs_cell(r["jobs"]))
    console.print(t)
    if f.jobs.height:
        t = Table(title=f"Jobs ({_shown(f.jobs.height)}, by CPU-hours)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for c in ("job", "user", "nodes", "span", "CPU-hours", "job CPU of node", "peak RSS/node", "anomalies"):
            t.add_column(c, justify="left" if c in ("job", "user") else "right")
        for r in f.jobs.sort("cpu_hours", descending=True).head(TABLE_ROWS).iter_rows(named=True):
            t.add_row(r["job"], r["user"] or "-", str(r["nodes"]), span(r["last_seen"] - r["first_seen"]),
                      f"{r['cpu_hours']:.2f}", _pct(r["job_cpu_pct"]), human_bytes(r["peak_rss"]),
                      str(r["anomalies"]))
        console.print(t)
    if f.outliers.height:
        t = Table(title=f"Outlier nodes ({_shown(f.outliers.height)})", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for c in ("host", "peers", "metric", "score", "why"):
            t.add_column(c, justify="right" if c == "score" else "left")
        for r in f.outliers.sort("score", descending=True).head(TABLE_ROWS).iter_rows(named=True):
            t.add_row(r["host"], r["peers"], r["metric"], f"{r['score']:.1f}", r["message"])
        console.print(t)
    else:
        console.print("outlier nodes: none")
    if f.errors.height:
        t = Table(title=f"Unreadable ({f.errors.height})", title_justify="left")
        for c in ("host", "day", "error"):
            t.add_column(c)
        for r in f.errors.head(TABLE_ROWS).iter_rows(named=True):
            t.add_row(r["host"], r["day"] or "-", r["error"])
        console.print(t)


def _shown(n: int) -> str:
    return f"{n}" if n <= TABLE_ROWS else f"top {TABLE_ROWS} of {n}"


def _jobs_cell(jobs) -> str:
    jobs = list(jobs or [])
    return jobs[0] + (f" +{len(jobs) - 1}" if len(jobs) > 1 else "") if jobs else "-"


def _span(seconds: float) -> str:
    """Compact: 23h59, 7m29s."""
    seconds = int(round(seconds))
    h, m = divmod(seconds // 60, 60)
    return f"{h}h{m:02d}" if h else f"{m}m{seconds % 60:02d}s"


def _iso(seconds: pl.Expr) -> pl.Expr:
    """``format.iso`` as a polars expression: the time rounded to the
    microsecond, shown to the second, in UTC; null where not finite."""
    us = (seconds.cast(pl.Float64) * 1e6).round().cast(pl.Int64)
    return (pl.when(seconds.cast(pl.Float64).is_finite())
            .then(pl.from_epoch(us, time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")))


ROWS_PER_SLICE = 20_000
"""Rows encoded at a time for --json: the document is written slice by
slice, never held whole (44 MB for a thousand node-days)."""


def _rows(df: pl.DataFrame) -> Iterator[list[str]]:
    """The table as JSON objects, one per row, ``ROWS_PER_SLICE`` at a time,
    written by polars (NaN and inf as null, times as ISO 8601): a thousand
    node-days have ~150 k anomalies, seconds as Python dicts."""
    times = [c for c in TIME_COLUMNS if c in df.columns]
    for part in df.iter_slices(ROWS_PER_SLICE):
        yield part.with_columns(_iso(pl.col(c)).alias(c) for c in times).write_ndjson().splitlines()


def write_json(f: Fleet, out: TextIO) -> None:
    write_tables({"schema_version": SCHEMA_VERSION, "fleet": overview(f)},
                 {"nodes": _rows(f.nodes), "jobs": _rows(f.jobs), "outliers": _rows(f.outliers),
                  "anomalies": _rows(f.anomalies)}, out)


def to_json(f: Fleet) -> str:
    buf = io.StringIO()
    write_json(f, buf)
    return buf.getvalue()


def write_parquet(f: Fleet, out: Path) -> list[Path]:
    """``out`` gets the node table; ``<stem>.jobs``, ``.outliers`` and
    ``.anomalies`` next to it the others (times stay epoch seconds)."""
    out = Path(out)
    written = []
    for df, path in ((f.nodes, out), (f.jobs, out.with_name(f"{out.stem}.jobs.parquet")),
                     (f.outliers, out.with_name(f"{out.stem}.outliers.parquet")),
                     (f.anomalies, out.with_name(f"{out.stem}.anomalies.parquet"))):
        write_atomic(path, lambda tmp, df=df: df.write_parquet(tmp, compression="zstd"))
        written.append(path)
    return written
