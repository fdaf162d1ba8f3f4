"""Jobs seen in a set of traces: who, where, when, how much CPU and memory."""
from __future__ import annotations

import polars as pl

from analyzer.derive import derive
from analyzer.load import Trace

JOB_COLUMNS = ("job", "user", "nodes", "hosts", "first_seen", "last_seen", "cpu_hours",
               "peak_rss_node", "processes")


def job_table(traces: list[Trace]) -> pl.DataFrame:
    """One row per job id over every host: CPU-hours from the processes' CPU
    time, peak memory as the largest RSS sum the job held on one node."""
    parts = []
    for tr in traces:
        totals = derive(tr.table, tr.metadata).job_totals()
        if totals.height:
            parts.append(totals.select("job", "user", "first_seen", "last_seen", "processes",
                                       (pl.col("cpu_s") / 3600.0).alias("cpu_hours"),
                                       pl.col("peak_rss").alias("peak_rss_node"), pl.lit(tr.host).alias("host")))
    if not parts:
        return pl.DataFrame(schema={"job": pl.Utf8, "user": pl.Utf8, "nodes": pl.UInt32,
                                    "hosts": pl.List(pl.Utf8), "first_seen": pl.Float64,
                                    "last_seen": pl.Float64, "cpu_hours": pl.Float64,
                                    "peak_rss_node": pl.Float64, "processes": pl.UInt32})
    return (pl.concat(parts).group_by("job").agg(
        pl.col("user").first(), pl.col("host").n_unique().cast(pl.UInt32).alias("nodes"),
        pl.col("host").unique().sort().alias("hosts"),
        pl.col("first_seen").min(), pl.col("last_seen").max(), pl.col("cpu_hours").sum(),
        pl.col("peak_rss_node").max(), pl.col("processes").sum().cast(pl.UInt32))
        .sort("first_seen").select(JOB_COLUMNS))
