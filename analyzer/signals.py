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


def _segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start of each run of equal keys in a sorted array, and the run lengths."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else np.empty(0, np.int64)
    return starts, np.diff(np.r_[starts, keys.size])


def run_signals(procs: pl.DataFrame, n: int, run: Run) -> tuple[dict, dict]:
    """Numeric signals (name -> float64[n]) and who is behind them (name -> list[n]).

    run_cpu       sum of CPU % (of one core) of the run's processes
    run_nprocs    number of the run's processes present
    rank_spread   max - min CPU % among the run's ranks (when there are >= 2)
    rank_mean     mean CPU % of those
    hog_cpu       CPU % of the busiest process outside the run

    Plain numpy over the rows sorted by sample: one pass offline, and cheap
    enough for the live view to call on one sample every second.
    """
    i = procs["i"].to_numpy().astype(np.int64, copy=False)
    cpu = procs["cpu_pct"].to_numpy().astype(np.float64, copy=False)
    if run.comm is None and run.job is None:      # no run: nothing is in it
        in_run = is_rank = np.zeros(i.size, dtype=bool)
    else:
        ranks = run.ranks() if run.comm else pl.col("comm").is_null() & pl.col("comm").is_not_null()
        flags = procs.select(run.mask().fill_null(False).alias("run"), ranks.fill_null(False).alias("rank"))
        in_run, is_rank = flags["run"].to_numpy(), flags["rank"].to_numpy()
    order = np.argsort(i, kind="stable") if i.size > 1 and np.any(i[1:] < i[:-1]) else None
    if order is not None:
        i, cpu, in_run, is_rank = i[order], cpu[order], in_run[order], is_rank[order]
    valid = np.isfinite(cpu)
    cpu0 = np.where(valid, cpu, 0.0)
    sig = {"run_cpu": np.bincount(i[in_run], weights=cpu0[in_run], minlength=n).astype(np.float64),
           "run_nprocs": np.bincount(i[in_run], minlength=n).astype(np.float64),
           "rank_spread": np.full(n, np.nan), "rank_mean": np.full(n, np.nan), "hog_cpu": np.zeros(n)}
    ri, rc = i[is_rank], cpu[is_rank]
    starts, counts = _segments(ri)
    if starts.size:
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.fmax.reduceat(rc, starts) - np.fmin.reduceat(rc, starts)
            mean = (np.add.reduceat(np.where(np.isfinite(rc), rc, 0.0), starts)
                    / np.add.reduceat(np.isfinite(rc).astype(np.float64), starts))
        ok = counts >= 2
        sig["rank_spread"][ri[starts][ok]] = spread[ok]
        sig["rank_mean"][ri[starts][ok]] = mean[ok]
    who = {k: [None] * n for k in ATTRIBUTION}
    other = np.flatnonzero(~in_run & valid)
    oi, oc = i[other], cpu[other]
    starts, counts = _segments(oi)
    if starts.size:
        top = np.maximum.reduceat(oc, starts)
        seg = np.repeat(np.arange(starts.size), counts)
        hits = np.flatnonzero(oc == top[seg])
        _, first = np.unique(seg[hits], return_index=True)
        rows = other[hits[first]]
        rows = order[rows] if order is not None else rows
        sig["hog_cpu"][oi[starts]] = top
        for k, (pid, comm, user) in zip(oi[starts].tolist(),
                                        procs[rows].select("pid", "comm", "user").iter_rows()):
            who["hog_pid"][k], who["hog_comm"][k], who["hog_user"][k] = pid, comm, user
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
