"""One host's trace through every stage: derive, the run, phases, anomalies, fingerprint, top processes (`paratune analyze`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from analyzer import config
from analyzer.anomalies import Anomaly, detect
from analyzer.characterize import Characterization, classify, mean_profile, of_phases
from analyzer.derive import Derived, derive
from analyzer.fingerprint import Fingerprint, fingerprint
from analyzer.load import Trace
from analyzer.phases import Phase, find_phases
from analyzer.signals import Run, identify_run


@dataclass
class Analysis:
    trace: Trace
    derived: Derived
    run: Run
    characterization: Characterization   # where the run's time went, by its phases' bottlenecks
    phases: list[Phase]
    anomalies: list[Anomaly]
    fingerprint: Fingerprint | None    # None in a fleet summary (detail=False)
    processes: pl.DataFrame           # top processes by CPU time over the run
    jobs: list[str] = field(default_factory=list)


def top_processes(derived: Derived, limit: int = config.TOP_PROCESSES, job: str | None = None) -> pl.DataFrame:
    """Processes by CPU time, with their share of all recorded process CPU time
    (of the job's processes only, with ``job``)."""
    p = derived.procs
    if job is not None and p.height:
        p = p.filter(pl.col("job").cast(pl.String) == str(job))
    if p.height == 0:
        return pl.DataFrame(schema={"pid": pl.Int64, "comm": pl.Utf8, "user": pl.Utf8, "job": pl.Utf8,
                                    "cpu_s": pl.Float64, "share": pl.Float64, "cpu_pct_mean": pl.Float64,
                                    "rss_max": pl.Float64, "read_bytes": pl.Float64,
                                    "write_bytes": pl.Float64})
    step = pl.Series("step", derived.step_s).gather(p["i"])
    agg = (p.with_columns(pl.col("cpu_pct", "read_Bps", "write_Bps").fill_nan(None), step)
           .group_by("pid", "starttime")
           .agg(pl.col("comm").last(), pl.col("user").last(), pl.col("job").drop_nulls().last(),
                (pl.col("cpu_pct") * pl.col("step")).sum().truediv(100.0).alias("cpu_s"),
                pl.col("cpu_pct").mean().alias("cpu_pct_mean"), pl.col("rss").max().alias("rss_max"),
                (pl.col("read_Bps") * pl.col("step")).sum().alias("read_bytes"),
                (pl.col("write_Bps") * pl.col("step")).sum().alias("write_bytes")))
    # a total order (ties by pid, start), and the total summed in it: group_by
    # hands groups over in a different order every run
    agg = agg.sort(["cpu_s", "pid", "starttime"], descending=[True, False, False], nulls_last=True)
    total = agg["cpu_s"].sum() or 1.0
    return (agg.with_columns((pl.col("cpu_s") / total).alias("share")).head(limit)
            .select("pid", "comm", "user", "job", "cpu_s", "share", "cpu_pct_mean", "rss_max",
                    "read_bytes", "write_bytes"))


def analyze_trace(trace: Trace, detail: bool = True) -> Analysis:
    """Every stage of ``paratune analyze`` on one host's trace.

    ``detail=False`` is the fleet's node-day summary: derive, the run and the
    anomalies as here, the bottleneck of the whole stretch at once, and no
    phases, fingerprint or process table (most of the cost after reading)."""
    d = derive(trace.table, trace.metadata)
    run = identify_run(d.procs, trace.job, d.proc_order)
    jobs = sorted(j for j in d.procs["job"].unique().to_list() if j is not None) if d.procs.height else []
    anomalies = detect(d, trace.job, run)
    if not detail:
        return Analysis(trace=trace, derived=d, run=run, characterization=classify(mean_profile(d.metrics)),
                        phases=[], anomalies=anomalies, fingerprint=None, processes=pl.DataFrame(), jobs=jobs)
    phases = find_phases(d)
    return Analysis(
        trace=trace, derived=d, run=run,
        characterization=of_phases([p.bottleneck for p in phases], [p.duration_s for p in phases],
                                   [p.evidence for p in phases]),
        phases=phases,
        anomalies=anomalies,
        fingerprint=fingerprint(d, trace.job, run),
        processes=top_processes(d, job=trace.job),
        jobs=jobs,
    )
