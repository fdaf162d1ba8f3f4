"""``paratune jobs`` as a table or JSON."""
from __future__ import annotations

import polars as pl
from rich.console import Console

from analyzer.report.format import human_bytes, iso, percent, span
from analyzer.report.table import show

COLUMNS = (("job", "left"), ("user", "left"), ("nodes", "right"), ("first seen", "left"), ("last seen", "left"),
           ("span", "right"), ("CPU-hours", "right"), ("peak memory/node", "right"), ("processes", "right"),
           ("CPU eff", "right"), ("mem eff", "right"), ("time eff", "right"))


def rows_for_json(jobs: pl.DataFrame) -> list[dict]:
    return [dict(r, first_seen=iso(r["first_seen"]), last_seen=iso(r["last_seen"])) for r in jobs.to_dicts()]


def render(jobs: pl.DataFrame, console: Console) -> None:
    if jobs.height == 0:
        console.print("no jobs: no process in these traces was attributed to a batch job")
        return
    show(console, f"{jobs.height} job(s)", COLUMNS,
         [(r["job"], r["user"] or "?", str(r["nodes"]), iso(r["first_seen"]), iso(r["last_seen"]),
           span(r["last_seen"] - r["first_seen"]), f"{r['cpu_hours']:.3f}", human_bytes(r["peak_rss_node"]),
           str(r["processes"]), percent(r["cpu_eff"]), percent(r["mem_eff"]), percent(r["time_eff"]))
          for r in jobs.iter_rows(named=True)])
