"""Jobs seen in a set of traces: who, where, when, how much CPU and memory,
and how much of what they asked for they used."""
from __future__ import annotations

import polars as pl

from analyzer.allocation import from_record, slurm_rows
from analyzer.derive import derive
from analyzer.load import Trace

JOB_COLUMNS = ("job", "user", "nodes", "hosts", "first_seen", "last_seen", "cpu_hours",
               "peak_rss_node", "processes", "cpu_eff", "mem_eff", "time_eff")


def _allocations(tr: Trace) -> pl.DataFrame:
    """Each job's last recorded allocation on this node (empty without Slurm)."""
    last = {}
    for r in slurm_rows(tr.table):
        last[str(r["job"])] = from_record(r)
    return pl.DataFrame([{"job": j, "cpus": a.cpus, "mem_bytes": a.mem_bytes, "time_limit_s": a.time_limit_s,
                          "start": a.start} for j, a in last.items()],
                        schema={"job": pl.Utf8, "cpus": pl.Float64, "mem_bytes": pl.Float64,
                                "time_limit_s": pl.Float64, "start": pl.Float64})


def job_table(traces: list[Trace]) -> pl.DataFrame:
    """One row per job id over every host: CPU-hours from the processes' CPU
    time, peak memory as the largest RSS sum the job held on one node.
    Efficiencies (0-1, null without a recorded allocation): CPU time over
    allocated CPUs x elapsed, peak memory over the per-node limit, elapsed over
    the time limit."""
    parts = []
    for tr in traces:
        totals = derive(tr.table, tr.metadata).job_totals()
        if totals.height:
            parts.append(totals.select("job", "user", "first_seen", "last_seen", "processes",
                                       (pl.col("cpu_s") / 3600.0).alias("cpu_hours"),
                                       pl.col("peak_rss").alias("peak_rss_node"), pl.lit(tr.host).alias("host"))
                         .join(_allocations(tr), on="job", how="left"))
    if not parts:
        return pl.DataFrame(schema={"job": pl.Utf8, "user": pl.Utf8, "nodes": pl.UInt32,
                                    "hosts": pl.List(pl.Utf8), "first_seen": pl.Float64,
                                    "last_seen": pl.Float64, "cpu_hours": pl.Float64,
                                    "peak_rss_node": pl.Float64, "processes": pl.UInt32,
                                    "cpu_eff": pl.Float64, "mem_eff": pl.Float64, "time_eff": pl.Float64})
    jobs = pl.concat(parts).group_by("job").agg(
        pl.col("user").first(), pl.col("host").n_unique().cast(pl.UInt32).alias("nodes"),
        pl.col("host").unique().sort().alias("hosts"),
        pl.col("first_seen").min(), pl.col("last_seen").max(), pl.col("cpu_hours").sum(),
        pl.col("peak_rss_node").max(), pl.col("processes").sum().cast(pl.UInt32),
        pl.col("cpus").sum().alias("cpus"), (pl.col("peak_rss_node") / pl.col("mem_bytes")).max().alias("mem_eff"),
        pl.col("time_limit_s").max(), pl.col("start").min())
    elapsed = pl.col("last_seen") - pl.coalesce("start", "first_seen")
    return (jobs.with_columns(
        (pl.col("cpu_hours") * 3600.0 / (pl.col("cpus") * elapsed)).alias("cpu_eff"),
        (elapsed / pl.col("time_limit_s")).alias("time_eff"))
        .with_columns(pl.when(pl.col("cpus") > 0).then(pl.col("cpu_eff")).alias("cpu_eff"))
        .sort("first_seen").select(JOB_COLUMNS))
