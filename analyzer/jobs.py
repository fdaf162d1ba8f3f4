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
        d = derive(tr.table, tr.metadata)
        p = d.procs.filter(pl.col("job").is_not_null())
        if p.height == 0:
            continue
        t = pl.Series("t", d.t)
        per_sample = (p.group_by("job", "i").agg(pl.col("rss").sum().alias("rss"))
                      .group_by("job").agg(pl.col("rss").max().alias("peak_rss_node")))
        per_job = (p.with_columns(pl.col("cpu_pct").fill_nan(None),
                                  t.gather(p["i"]).alias("t"),
                                  pl.Series("step", d.step_s).gather(p["i"]))
                   .group_by("job").agg(
                       pl.col("user").drop_nulls().mode().first().alias("user"),
                       pl.col("t").min().alias("first_seen"), pl.col("t").max().alias("last_seen"),
                       ((pl.col("cpu_pct") * pl.col("step")).sum() / 100.0 / 3600.0).alias("cpu_hours"),
                       pl.struct("pid", "starttime").n_unique().alias("processes")))
        parts.append(per_job.join(per_sample, on="job").with_columns(pl.lit(tr.host).alias("host")))
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
