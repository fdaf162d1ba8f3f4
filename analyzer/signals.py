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
from analyzer.derive import process_order
from analyzer.kernels._detect import _argmax_by_key, _keyed_slope

class Attribution:
    """Who is behind a signal at each sample (None where nobody is), looked up
    only when asked: the rules name a process at a few peaks, and a node-day's
    86,400 Python values per name cost more than the signal itself."""

    def __init__(self, rows: np.ndarray, values: pl.Series):
        self._rows = rows                 # per sample: a row of ``values``, or -1
        self._values = values

    @classmethod
    def nobody(cls, n: int) -> "Attribution":
        return cls(np.full(n, -1, dtype=np.int64), pl.Series([], dtype=pl.Null))

    def __getitem__(self, i: int):
        r = int(self._rows[i])
        return None if r < 0 else self._values[r]


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


def identify_run(procs: pl.DataFrame, job: str | None = None, order: np.ndarray | None = None) -> Run:
    """The process family with the most CPU time, within ``job`` when given.
    ``order``: the rows sorted by process (``Derived.proc_order``), when known."""
    if job is not None:
        procs, order = procs.filter(pl.col("job") == job), None
    if procs.height == 0:
        return Run(job, None)
    per = _cpu_by_process(procs, order) if order is not None else procs
    per = (per.group_by("pid", "ppid", "comm")
           .agg(pl.col("cpu_pct").fill_nan(None).sum().fill_null(0.0)).sort("pid", "ppid", "comm"))
    fam = Families(known_pids=set(per["pid"].to_list()))
    for pid, ppid, comm, cpu in per.iter_rows():
        fam.add(pid, ppid, comm, cpu)
    return fam.busiest(job)


def _cpu_by_process(procs: pl.DataFrame, order: np.ndarray) -> pl.DataFrame:
    """CPU % summed over each stretch of a process's rows with one parent and
    one command: the rows ``identify_run`` groups, a few hundred instead of
    a node-day's ~600 k (hashing those three keys is most of its cost)."""
    pid, ppid = procs["pid"].to_numpy()[order], procs["ppid"].to_numpy()[order]
    comm = procs["comm"].gather(order)
    new = np.ones(order.size, dtype=bool)
    if order.size > 1:
        same_comm = comm.slice(1).eq_missing(comm.slice(0, order.size - 1)).to_numpy()   # null == null
        new[1:] = (pid[1:] != pid[:-1]) | (ppid[1:] != ppid[:-1]) | ~same_comm
    starts = np.flatnonzero(new)
    cpu = procs["cpu_pct"].to_numpy()[order]
    return pl.DataFrame({"pid": procs["pid"].gather(order[starts]), "ppid": procs["ppid"].gather(order[starts]),
                         "comm": comm.gather(starts),
                         "cpu_pct": np.add.reduceat(np.where(np.isnan(cpu), 0.0, cpu), starts)})


def _segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start of each run of equal keys in a sorted array, and the run lengths."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else np.empty(0, np.int64)
    return starts, np.diff(np.r_[starts, keys.size])


def _siblings(ppid: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Rows whose parent is the one most of the run's rank rows have.  MPI
    ranks are siblings (of mpirun's daemon, or of slurmstepd on a node); a
    launcher or forking parent of the same name, or an unrelated process of
    the same name (an iperf3 server beside its client), is not a rank."""
    if not rank.any():
        return rank
    parents, counts = np.unique(ppid[rank], return_counts=True)
    return ppid == parents[np.argmax(counts)]


def run_signals(procs: pl.DataFrame, n: int, run: Run) -> tuple[dict, dict]:
    """Numeric signals (name -> float64[n]) and who is behind them (name -> Attribution).

    run_cpu       sum of CPU % (of one core) of the run's processes (NaN while
                  none of them exists, so a baseline starts with the run, and when
                  none of them has a rate at that sample)
    run_nprocs    number of the run's processes present
    rank_spread   max - min CPU % among the run's ranks (>= 2 sibling processes
                  of its command)
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
        is_rank = is_rank & _siblings(procs["ppid"].to_numpy(), is_rank)
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
    sig["run_cpu"][rated == 0] = np.nan
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
    other = np.flatnonzero(~in_run & valid)
    oi, oc = i[other], cpu[other]
    starts, counts = _segments(oi)
    hog = np.full(n, -1, dtype=np.int64)          # per sample: the hog's row in procs
    if starts.size:
        top = np.maximum.reduceat(oc, starts)
        seg = np.repeat(np.arange(starts.size), counts)
        hits = np.flatnonzero(oc == top[seg])
        _, first = np.unique(seg[hits], return_index=True)
        rows = other[hits[first]]
        hog[oi[starts]] = order[rows] if order is not None else rows
        sig["hog_cpu"][oi[starts]] = top
    who = {"hog_pid": Attribution(hog, procs["pid"]), "hog_comm": Attribution(hog, procs["comm"]),
           "hog_user": Attribution(hog, procs["user"]),
           "leak_pid": Attribution.nobody(n), "leak_comm": Attribution.nobody(n)}
    return sig, who


def leak_signals(procs: pl.DataFrame, t: np.ndarray, n: int,
                 order: np.ndarray | None = None) -> tuple[np.ndarray, Attribution, Attribution]:
    """Largest RSS trend (bytes/s) among processes above LEAK_MIN_RSS, per sample,
    and the pid and command of the process it belongs to.  ``order``: the rows
    sorted by (pid, starttime, i), when the caller has it (``Derived.proc_order``)."""
    if procs.height == 0:
        return np.full(n, np.nan), Attribution.nobody(n), Attribution.nobody(n)
    pid = procs["pid"].to_numpy()
    start = procs["starttime"].to_numpy()
    i = procs["i"].to_numpy()
    rss = procs["rss"].to_numpy().astype(np.float64, copy=False)
    if order is None:
        order = process_order(pid, start, i)     # each process's samples in time order
    pid_s, start_s = pid[order], start[order]
    new_key = np.ones(order.size, dtype=bool)
    new_key[1:] = (pid_s[1:] != pid_s[:-1]) | (start_s[1:] != start_s[:-1])
    i_s, rss_s = i[order], rss[order]
    slope = _keyed_slope(t[i_s], rss_s, new_key, config.LEAK_TAU_S)
    # per sample the steepest above the size floor; a tie goes to the first in
    # (pid, starttime) order, the order of these rows
    best = _argmax_by_key(i_s, np.where(rss_s >= config.LEAK_MIN_RSS, slope, np.nan), n)
    at = np.flatnonzero(best >= 0)
    sig = np.full(n, np.nan)
    sig[at] = slope[best[at]]
    rows = np.full(n, -1, dtype=np.int64)
    rows[at] = order[best[at]]
    return sig, Attribution(rows, procs["pid"]), Attribution(rows, procs["comm"])
