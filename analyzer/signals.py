"""Per-sample signals the anomaly rules read, beyond the node metrics.

"The run" is what the user cares about: the processes of a job when a job
is known, else the process family (see ``Families``) that used the most CPU.  Signals are computed from a long process frame, so
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
    """Which processes are the run: a job's, else one process family's."""
    job: str | None
    comm: str | None
    pids: frozenset = frozenset()

    def mask(self) -> pl.Expr:
        if self.job is not None:
            return pl.col("job") == self.job
        return pl.col("pid").is_in(list(self.pids))

    def ranks(self) -> pl.Expr:
        """The run's ranks: its processes of the run's command."""
        return self.mask() & (pl.col("comm") == self.comm)

    def describe(self) -> str:
        if self.job is not None:
            return f"job {self.job}" + (f" ({self.comm})" if self.comm else "")
        return self.comm or "no process"


class Families:
    """Processes of one command that are siblings or parent and child form a family.

    An MPI run's ranks share their launcher (mpirun, prted, slurmstepd); a
    stressor forks workers of its own name; unrelated processes that only
    share a name (every ``python``) have different parents.  Union-find over
    (command, pid) with each command's parent as a shared node; CPU time is
    summed per family as processes are added, so the live view can keep it
    up to date one sample at a time.

    The table keeps busy processes, not always their idle parents (a
    stressor's or a launcher's forking parent); processes of one command
    whose parent is not in the table are one family, since the table cannot
    tell them apart.  ``known_pids``: every pid of the table when known in
    advance (offline); else the pids seen so far are used."""

    def __init__(self, known_pids=None):
        self.parent: dict[tuple, tuple] = {}
        self.cpu: dict[tuple, float] = {}
        self.members: dict[tuple, set] = {}
        self.known = known_pids
        self.seen: set[int] = set()

    def _find(self, x: tuple) -> tuple:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def _node(self, x: tuple) -> tuple:
        if x not in self.parent:
            self.parent[x], self.cpu[x], self.members[x] = x, 0.0, set()
        return self._find(x)

    def _union(self, a: tuple, b: tuple) -> None:
        ra, rb = self._node(a), self._node(b)
        if ra == rb:
            return
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.cpu[ra] += self.cpu.pop(rb)
        self.members[ra] |= self.members.pop(rb)

    def add(self, pid: int, ppid: int, comm: str, cpu: float = 0.0) -> None:
        me = ("pid", comm, pid)
        if me not in self.parent:
            self.seen.add(pid)
            self._node(me)
            self.members[me].add(pid)
            self._union(me, ("children of", comm, ppid))         # siblings
            if ppid not in (self.known if self.known is not None else self.seen):
                self._union(me, ("parent not recorded", comm))
            if ("pid", comm, ppid) in self.parent:                # a child of its own kind
                self._union(me, ("pid", comm, ppid))
            if ("children of", comm, pid) in self.parent:         # its children came first
                self._union(me, ("children of", comm, pid))
        if cpu == cpu and cpu:
            self.cpu[self._find(me)] += cpu

    def busiest(self, job: str | None = None) -> Run:
        if not self.cpu:
            return Run(job, None)
        root = max(self.cpu, key=lambda r: (self.cpu[r], r[1], min(self.members[r], default=0)))
        return Run(job, root[1], frozenset(self.members[root]))


def identify_run(procs: pl.DataFrame, job: str | None = None) -> Run:
    """The process family with the most CPU time, within ``job`` when given."""
    if job is not None:
        procs = procs.filter(pl.col("job") == job)
    if procs.height == 0:
        return Run(job, None)
    fam = Families(known_pids=set(procs["pid"].unique().to_list()))
    per = (procs.group_by("pid", "ppid", "comm")
           .agg(pl.col("cpu_pct").fill_nan(None).sum().fill_null(0.0)).sort("pid", "ppid", "comm"))
    for pid, ppid, comm, cpu in per.iter_rows():
        fam.add(pid, ppid, comm, cpu)
    return fam.busiest(job)


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

    run_cpu       sum of CPU % (of one core) of the run's processes (NaN when
                  none of them has a rate at that sample)
    run_nprocs    number of the run's processes present
    rank_spread   max - min CPU % among the run's ranks (when there are >= 2)
    rank_mean     mean CPU % of those
    hog_cpu       CPU % of the busiest process outside the run

    Plain numpy over the rows sorted by sample: one pass offline, and cheap
    enough for the live view to call on one sample every second.
    """
    i = procs["i"].to_numpy().astype(np.int64, copy=False)
    cpu = procs["cpu_pct"].to_numpy().astype(np.float64, copy=False)
    if run.job is None and not run.pids:          # no run: nothing is in it
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
    # no CPU rate for any of the run's processes (first sample, after a gap or
    # a logging break) is not 0 % CPU: it must not look like a stall
    rated = np.bincount(i[in_run & valid], minlength=n)
    sig["run_cpu"][(rated == 0) & (sig["run_nprocs"] > 0)] = np.nan
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
    p = procs.select("i", "pid", "starttime", "comm", "rss")
    if p.height == 0:
        return np.full(n, np.nan), [None] * n, [None] * n
    # numpy's lexsort: a third of polars' multi-key sort here, far less under load
    p = p[np.lexsort((p["i"].to_numpy(), p["starttime"].to_numpy(), p["pid"].to_numpy()))]
    pid = p["pid"].to_numpy()
    start = p["starttime"].to_numpy()
    new_key = np.ones(p.height, dtype=bool)
    new_key[1:] = (pid[1:] != pid[:-1]) | (start[1:] != start[:-1])
    rows = p["i"].to_numpy()
    slope = _keyed_slope(t[rows], p["rss"].to_numpy().astype(np.float64), new_key, config.LEAK_TAU_S)
    p = p.with_columns(pl.Series("slope", slope)).filter(
        (pl.col("rss") >= config.LEAK_MIN_RSS) & pl.col("slope").is_not_nan())
    top = p.sort("slope", descending=True, maintain_order=True).group_by("i", maintain_order=True).first()
    sig = _scatter(n, top["i"], top["slope"])
    pids, comms = [None] * n, [None] * n
    for i, pid_, comm in top.select("i", "pid", "comm").iter_rows():
        pids[i], comms[i] = pid_, comm
    return sig, pids, comms
