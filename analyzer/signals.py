"""Per-sample signals the anomaly rules read, beyond the node metrics.

"The run" is what the user cares about: the processes of a job when a job
is known, else the processes of the command and parent that used the most
CPU: an MPI run's ranks share both (mpirun/orted or slurmstepd is the
parent), while unrelated processes that happen to share a command name
(every ``python``) do not.  Signals are computed from a long process frame, so
the analyzer (a whole trace) and the live view (one sample) share this code.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from analyzer import config
from analyzer.kernels._detect import _keyed_slope

ATTRIBUTION = ("hog_pid", "hog_comm", "hog_user", "leak_pid", "leak_comm")


@dataclass(frozen=True)
class Run:
    """Which processes are the run: a job's, else one command's under one parent."""
    job: str | None
    comm: str | None
    ppid: int | None = None

    def mask(self) -> pl.Expr:
        if self.job is not None:
            return pl.col("job") == self.job
        if self.comm is None:
            return pl.lit(False)
        return (pl.col("comm") == self.comm) & (pl.col("ppid") == self.ppid)

    def ranks(self) -> pl.Expr:
        """The run's ranks: its processes of the run's command."""
        return self.mask() & (pl.col("comm") == self.comm)

    def describe(self) -> str:
        if self.job is not None:
            return f"job {self.job}" + (f" ({self.comm})" if self.comm else "")
        return self.comm or "no process"


def identify_run(procs: pl.DataFrame, job: str | None = None) -> Run:
    """The (command, parent) group with the most CPU time, within ``job`` when given."""
    if job is not None:
        procs = procs.filter(pl.col("job") == job)
    if procs.height == 0:
        return Run(job, None)
    top = (procs.group_by("comm", "ppid").agg(pl.col("cpu_pct").fill_nan(None).sum().alias("cpu"))
           .sort("cpu", "comm", "ppid", descending=True, nulls_last=True))
    return Run(job, top["comm"][0], int(top["ppid"][0]))


def _scatter(n: int, idx, values, fill=np.nan) -> np.ndarray:
    out = np.full(n, fill, dtype=np.float64)
    out[np.asarray(idx, dtype=np.int64)] = np.asarray(values, dtype=np.float64)
    return out


def run_signals(procs: pl.DataFrame, n: int, run: Run) -> tuple[dict, dict]:
    """Numeric signals (name -> float64[n]) and who is behind them (name -> list[n]).

    run_cpu       sum of CPU % (of one core) of the run's processes
    run_nprocs    number of the run's processes present
    rank_spread   max - min CPU % among the run's processes of its command
    rank_mean     mean CPU % of those
    hog_cpu       CPU % of the busiest process outside the run
    """
    in_run = procs.with_columns(run.mask().fill_null(False).alias("_run"),
                                pl.col("cpu_pct").fill_nan(None))
    run_p = in_run.filter(pl.col("_run"))
    agg = run_p.group_by("i").agg(pl.col("cpu_pct").sum().alias("run_cpu"), pl.len().alias("run_nprocs"))
    ranks = in_run.filter(run.ranks().fill_null(False)) if run.comm else run_p.clear()
    ranks = ranks.group_by("i").agg((pl.col("cpu_pct").max() - pl.col("cpu_pct").min()).alias("spread"),
                                    pl.col("cpu_pct").mean().alias("mean"), pl.len().alias("k"))
    ranks = ranks.filter(pl.col("k") >= 2)
    other = (in_run.filter(~pl.col("_run") & pl.col("cpu_pct").is_not_null())
             .sort("cpu_pct", descending=True).group_by("i", maintain_order=True).first())
    sig = {
        "run_cpu": _scatter(n, agg["i"], agg["run_cpu"].fill_null(np.nan), 0.0),
        "run_nprocs": _scatter(n, agg["i"], agg["run_nprocs"], 0.0),
        "rank_spread": _scatter(n, ranks["i"], ranks["spread"].fill_null(np.nan)),
        "rank_mean": _scatter(n, ranks["i"], ranks["mean"].fill_null(np.nan)),
        "hog_cpu": _scatter(n, other["i"], other["cpu_pct"], 0.0),
    }
    who = {k: [None] * n for k in ATTRIBUTION}
    for i, pid, comm, user in other.select("i", "pid", "comm", "user").iter_rows():
        who["hog_pid"][i], who["hog_comm"][i], who["hog_user"][i] = pid, comm, user
    return sig, who


def leak_signals(procs: pl.DataFrame, t: np.ndarray, n: int) -> tuple[np.ndarray, list, list]:
    """Largest RSS trend (bytes/s) among processes above LEAK_MIN_RSS, per sample."""
    p = procs.select("i", "pid", "starttime", "comm", "rss").sort("pid", "starttime", "i")
    if p.height == 0:
        return np.full(n, np.nan), [None] * n, [None] * n
    pid = p["pid"].to_numpy()
    start = p["starttime"].to_numpy()
    new_key = np.ones(p.height, dtype=bool)
    new_key[1:] = (pid[1:] != pid[:-1]) | (start[1:] != start[:-1])
    rows = p["i"].to_numpy()
    slope = _keyed_slope(t[rows], p["rss"].to_numpy().astype(np.float64), new_key, config.LEAK_TAU_S)
    p = p.with_columns(pl.Series("slope", slope)).filter(
        (pl.col("rss") >= config.LEAK_MIN_RSS) & pl.col("slope").is_not_nan())
    top = p.sort("slope", descending=True).group_by("i", maintain_order=True).first()
    sig = _scatter(n, top["i"], top["slope"])
    pids, comms = [None] * n, [None] * n
    for i, pid_, comm in top.select("i", "pid", "comm").iter_rows():
        pids[i], comms[i] = pid_, comm
    return sig, pids, comms
