"""Right-sizing notes: what a job used against what it asked for, and the
exact ``sbatch`` option that would fit it better.

Each note carries its evidence (the measured numbers) so a user can check it,
and ``suggest`` is an option the user can paste, or None when the fix is not
an option (a code change, a regression to look into).  The thresholds are
policy and live in ``analyzer.config`` (ADVICE_*); docs/advice.md explains them.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from analyzer import config as C
from analyzer.allocation import Allocation, licence_rows
from analyzer.pipeline import Analysis
from analyzer.behaviour import run_sums
from analyzer.report.format import human_bytes, span
from analyzer.signals import run_signals

NOTE_KINDS = ("cpus", "memory", "time", "idle", "serial", "gpu", "io", "network", "imbalance",
              "regression", "licence")
INFO, WARN = "info", "warn"
MIB = 1 << 20


@dataclass
class Note:
    kind: str
    severity: str
    message: str
    evidence: str
    suggest: str | None = None
    host: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Usage:
    """What the run used on one node, sample by sample and in total."""
    host: str
    t: np.ndarray                  # sample times, epoch s
    cores: np.ndarray              # cores the run's processes used together (NaN: no rate)
    present: np.ndarray            # the run has a process in the sample
    interval_s: float
    peak_rss: float
    io_bytes: float                # the run's own storage reads and writes (NaN: not recorded)
    ranks: int                     # processes of the run's main command
    ended: bool                    # the run's processes were gone before the trace ends

    @property
    def first(self) -> float:
        return float(self.t[self.present][0]) if self.present.any() else float(self.t[0])

    @property
    def last(self) -> float:
        return float(self.t[self.present][-1]) if self.present.any() else float(self.t[-1])


@dataclass
class Advice:
    job: str | None
    allocation: Allocation                 # the first node's; cpus/mem are per node
    usage: list[Usage]
    notes: list[Note]
    node_classes: list = field(default_factory=list)   # node_classes.Prediction, best first
    elapsed_s: float = math.nan

    def to_dict(self) -> dict:
        return {"job": self.job, "allocation": self.allocation.to_dict(), "elapsed_s": _finite(self.elapsed_s),
                "usage": [{"host": u.host, "cores_p95": _finite(cores_p95(u)), "peak_rss_bytes": u.peak_rss,
                           "io_bytes": _finite(u.io_bytes), "ended": u.ended} for u in self.usage],
                "notes": [n.to_dict() for n in self.notes],
                "node_classes": [p.to_dict() for p in self.node_classes]}


def _finite(x):
    return float(x) if x is not None and math.isfinite(x) else None


# ---------------------------------------------------------------- usage

def usage_of(a: Analysis, seen_until: float | None = None) -> Usage:
    """The run's use of one node.  ``seen_until``: the node's last sample before
    the trace was cut to the job (the run ended when that is later than its own last)."""
    d = a.derived
    sig, _ = run_signals(d.procs, d.n, a.run)
    present = sig["run_nprocs"] > 0
    sums = run_sums(d.procs, d.n, a.run.mask())
    step = np.nan_to_num(d.step_s)
    io = float(np.nansum((sums["read_Bps"] + sums["write_Bps"]) * step))
    if d.procs.height and not _has_rates(d.procs.filter(a.run.mask().fill_null(False)), ("read_Bps", "write_Bps")):
        io = math.nan                     # imported archives carry no per-process I/O: unknown, not zero
    ranks = 0
    if a.run.comm and d.procs.height:
        ranks = d.procs.filter(a.run.ranks().fill_null(False)).select(
            pl.struct("pid", "starttime").n_unique()).item()
    last_seen = float(d.t[present][-1]) if present.any() else float(d.t[-1])
    ended = bool(present.any() and (not present[-1] or
                                    (seen_until is not None and seen_until > last_seen + 1.5 * d.interval_s)))
    return Usage(host=a.trace.host, t=d.t, cores=sig["run_cpu"] / 100.0, present=present,
                 interval_s=d.interval_s, peak_rss=float(np.nanmax(sums["rss"])) if d.n else 0.0,
                 io_bytes=io, ranks=int(ranks), ended=ended)


def _has_rates(procs: pl.DataFrame, cols) -> bool:
    """Whether any row has a finite value in any of ``cols``."""
    cols = [c for c in cols if c in procs.columns]
    return bool(cols) and procs.select(pl.any_horizontal(pl.col(c).is_finite() for c in cols).any()).item() is True


def idle_start_s(u: Usage, start: float | None) -> float:
    """Seconds from the job's start (else its first sample) to when it first
    used CPU.  A sample's CPU rate covers the step before it, so the busy
    stretch began at the sample before the first busy one; samples with no
    rate (the first of a trace, a trace with no CPU data) are no evidence of
    idling: with no rate at all there is no idle start."""
    known = u.present & np.isfinite(u.cores)
    if not known.any():
        return 0.0
    origin = start if start is not None else u.first
    busy = np.flatnonzero(known & (u.cores >= C.ADVICE_IDLE_CORES))
    if busy.size == 0:
        return max(u.last + u.interval_s - origin, 0.0)
    k = int(busy[0])
    began = float(u.t[k - 1]) if k > 0 else float(u.t[k]) - u.interval_s
    return max(began - origin, 0.0)


def cores_p95(u: Usage, after: float | None = None) -> float:
    """Cores the run used in its busiest 5 % of samples (after an idle start)."""
    keep = u.present & np.isfinite(u.cores)
    if after is not None:
        keep &= u.t >= after
    return float(np.percentile(u.cores[keep], 95)) if keep.any() else math.nan


# ---------------------------------------------------------------- options

def mem_option(nbytes: float) -> str:
    """--mem for this many bytes: whole GiB from 1 GiB, else a multiple of 100 MiB (Slurm's M and G are 2^20, 2^30)."""
    mib = nbytes / MIB
    if mib > 1024:
        return f"--mem={math.ceil(mib / 1024)}G"
    return f"--mem={max(100, math.ceil(mib / 100) * 100)}M"


def time_option(seconds: float) -> str:
    """--time for this many seconds, rounded up to ADVICE_TIME_ROUND_S, as [D-]HH:MM:SS."""
    s = int(math.ceil(seconds / C.ADVICE_TIME_ROUND_S) * C.ADVICE_TIME_ROUND_S)
    days, s = divmod(s, 86400)
    hms = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"--time={days}-{hms}" if days else f"--time={hms}"


def cores_option(k: int, ranks: int) -> str:
    """Threads of one process are --cpus-per-task; MPI ranks are tasks."""
    return f"--ntasks-per-node={k}" if ranks >= 2 else f"--cpus-per-task={k}"


# ---------------------------------------------------------------- notes

def cpu_notes(u: Usage, alloc: Allocation) -> list[Note]:
    idle = idle_start_s(u, alloc.start)
    p95 = cores_p95(u, after=(alloc.start or u.first) + idle)
    if not math.isfinite(p95) or alloc.cpus < 2:
        return []
    had = f"{alloc.cpus} CPUs allocated" if alloc.known else f"a node of {alloc.cpus} CPUs"
    evidence = f"95th percentile {p95:.2f} cores used of {had}"
    if p95 <= C.ADVICE_SERIAL_CORES:
        return [Note("serial", WARN, f"the run used one core of {alloc.cpus}: the code is probably serial; "
                     "ask for one CPU, or run several such tasks in one job", evidence,
                     cores_option(1, 1), u.host)]
    if p95 <= C.ADVICE_CPU_USED_SHARE * alloc.cpus:
        k = max(1, math.ceil(p95 - 0.05))
        return [Note("cpus", WARN, f"the run kept {p95:.1f} of its {alloc.cpus} CPUs busy; ask for {k}",
                     evidence, cores_option(k, u.ranks), u.host)]
    return []


def idle_notes(u: Usage, alloc: Allocation, licence_full_s: float = 0.0) -> list[Note]:
    idle = idle_start_s(u, alloc.start)
    if idle < C.ADVICE_IDLE_START_S:
        return []
    why = ("the job waited for a licence" if licence_full_s > 0 else
           "staging input, waiting on a file system or a licence server?")
    return [Note("idle", WARN, f"no CPU use for the first {span(idle)} of the job ({why}); its CPUs sat idle",
                 f"the job's processes used under {C.ADVICE_IDLE_CORES:g} cores from the start until "
                 f"{span(idle)} in", None, u.host)]


def memory_notes(u: Usage, alloc: Allocation) -> list[Note]:
    if alloc.mem_bytes is None or not alloc.known or u.peak_rss <= 0:
        return []
    share = u.peak_rss / alloc.mem_bytes
    evidence = (f"peak {human_bytes(u.peak_rss)} resident of {human_bytes(alloc.mem_bytes)} requested "
                f"({share:.0%})")
    want = mem_option(u.peak_rss * (1 + C.ADVICE_MEM_HEADROOM))
    if share >= C.ADVICE_MEM_NEAR_LIMIT:
        return [Note("memory", WARN, f"the job came within {1 - share:.0%} of its memory limit: a larger input "
                     f"will be killed; ask for more ({C.ADVICE_MEM_HEADROOM:.0%} headroom)", evidence,
                     mem_option(u.peak_rss * (1 + C.ADVICE_MEM_HEADROOM)), u.host)]
    if share <= C.ADVICE_MEM_USED_SHARE:
        return [Note("memory", INFO, f"the job used {share:.0%} of the memory it asked for; ask for the peak "
                     f"plus {C.ADVICE_MEM_HEADROOM:.0%}", evidence, want, u.host)]
    return []


def time_notes(u: Usage, alloc: Allocation, elapsed: float) -> list[Note]:
    if alloc.time_limit_s is None or not u.ended or not math.isfinite(elapsed):
        return []
    share = elapsed / alloc.time_limit_s
    evidence = f"ran {span(elapsed)} of a {span(alloc.time_limit_s)} limit ({share:.0%})"
    if share >= C.ADVICE_TIME_NEAR_LIMIT:
        return [Note("time", WARN, "the job ended close to its time limit: check it finished its work",
                     evidence, time_option(elapsed * (1 + C.ADVICE_TIME_HEADROOM)))]
    if share <= C.ADVICE_TIME_USED_SHARE:
        return [Note("time", INFO, "the job needed a small part of its time limit; a closer --time starts "
                     "sooner (backfill)", evidence, time_option(elapsed * (1 + C.ADVICE_TIME_HEADROOM)))]
    return []


def _run_share(a: Analysis, u: Usage, label: str) -> tuple[float, list[str]]:
    """Share of the run's time in phases of this bottleneck, and their times."""
    lo, hi = u.first, u.last + u.interval_s
    total, where = 0.0, []
    for p in a.phases:
        overlap = min(p.end, hi) - max(p.start, lo)
        if p.bottleneck == label and overlap > 0:
            total += overlap
            where.append(f"{span(max(p.start, lo) - lo)}+{span(overlap)}")
    return total / max(hi - lo, 1e-9), where


def shared_fs_bytes(a: Analysis) -> float:
    """Bytes read and written through NFS and Lustre clients over the trace (0 without them)."""
    table = a.trace.table
    if "fs" not in table.column_names:
        return 0.0
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for items in table.column("fs").to_pylist():
        for m in items or ():
            v = float((m.get("read_bytes") or 0) + (m.get("write_bytes") or 0))
            first.setdefault(m["mount"], v)
            last[m["mount"]] = v
    return sum(max(last[k] - first[k], 0.0) for k in last)


def io_notes(a: Analysis, u: Usage) -> list[Note]:
    share, where = _run_share(a, u, "io-bound")
    if share < C.ADVICE_PHASE_SHARE:
        return []
    shared = shared_fs_bytes(a)
    own = u.io_bytes if math.isfinite(u.io_bytes) else 0.0
    evidence = f"io-bound phases at {', '.join(where[:4])}; " + (
        f"the run read and wrote {human_bytes(own)}" if math.isfinite(u.io_bytes)
        else "the trace has no per-process I/O")
    if shared > 0.1 * max(own, 1.0):
        gib = max(1, math.ceil((own if math.isfinite(u.io_bytes) else shared) / (1 << 30)))
        return [Note("io", WARN, f"{share:.0%} of the run waited on storage, {human_bytes(shared)} of it through "
                     "a shared file system: node-local scratch ($TMPDIR) for its working files would take "
                     "that off the network", evidence, f"--tmp={gib}G", u.host)]
    return [Note("io", WARN, f"{share:.0%} of the run waited on the node's own disk: a node class with faster "
                 "local storage (advise --catalog), or fewer, larger writes", evidence, None, u.host)]


def network_notes(a: Analysis, u: Usage, nodes: int) -> list[Note]:
    share, where = _run_share(a, u, "network-bound")
    if share < C.ADVICE_PHASE_SHARE:
        return []
    if nodes > 1:
        return [Note("network", WARN, f"{share:.0%} of the run was bound by the network across {nodes} nodes; "
                     "keep its nodes under one switch, or use fewer, larger nodes",
                     f"network-bound phases at {', '.join(where[:4])}", "--switches=1", u.host)]
    return [Note("network", INFO, f"{share:.0%} of the run was bound by the network, on one node: its traffic "
                 "goes to other machines (a file server, a database?)",
                 f"network-bound phases at {', '.join(where[:4])}", None, u.host)]


def imbalance_notes(a: Analysis, u: Usage) -> list[Note]:
    found = [x for x in a.anomalies if x.kind == "imbalance"]
    if not found:
        return []
    seconds = sum(x.end - x.start for x in found)
    return [Note("imbalance", WARN, f"the ranks did unequal work for {span(seconds)}: the busiest waited for "
                 "the rest; look at the decomposition or the load balancing of the code",
                 found[0].message, None, u.host)]


def gpu_notes(a: Analysis, alloc: Allocation) -> list[Note]:
    if alloc.gpus <= 0:
        return []
    util = gpu_utilisation(a)
    if util is None:
        return [Note("gpu", WARN, f"{alloc.gpus} GPU(s) allocated, none seen in use on the node",
                     "no GPU samples in the trace", None, a.trace.host)]
    used = int(np.sum(util >= C.ADVICE_GPU_UNUSED_PCT))
    if used >= alloc.gpus:
        return []
    evidence = "mean utilisation " + ", ".join(f"GPU{i} {x:.0f}%" for i, x in enumerate(util))
    if used == 0:
        return [Note("gpu", WARN, f"the {alloc.gpus} allocated GPU(s) were not used: submit to a CPU "
                     "partition without --gres/--gpus", evidence, None, a.trace.host)]
    return [Note("gpu", WARN, f"{used} of {alloc.gpus} allocated GPUs were used", evidence,
                 f"--gpus-per-node={used}", a.trace.host)]


def gpu_utilisation(a: Analysis) -> np.ndarray | None:
    """Mean utilisation of each GPU over the trace, or None without GPU samples."""
    table = a.trace.table
    if "gpus" not in table.column_names:
        return None
    rows = [g for items in table.column("gpus").to_pylist() if items for g in items]
    if not rows:
        return None
    df = pl.DataFrame(rows).group_by("index").agg(pl.col("util_pct").mean()).sort("index")
    return df["util_pct"].to_numpy().astype(np.float64)


def licence_full_seconds(a: Analysis, alloc: Allocation) -> dict[str, float]:
    """Per licence the job asked for: seconds of the trace it was all in use."""
    wanted = alloc.licence_counts()
    if not wanted:
        return {}
    rows = licence_rows(a.trace.table)
    step = 60.0          # the recorder samples licences once a minute
    out: dict[str, float] = {}
    for r in rows:
        if r.get("name") in wanted and r.get("total") and (r.get("used") or 0) >= r["total"]:
            out[r["name"]] = out.get(r["name"], 0.0) + step
    return out


def licence_notes(a: Analysis, alloc: Allocation) -> list[Note]:
    full = licence_full_seconds(a, alloc)
    return [Note("licence", WARN, f"licence {name}: every seat was in use for about {span(s)} of the recorded "
                 "time; jobs asking for it wait", f"{name} used = total in {int(s // 60)} minute samples",
                 None, a.trace.host) for name, s in sorted(full.items())]


def regression_notes(command: str | None, elapsed: float, history: pl.DataFrame | None) -> list[Note]:
    """This run against earlier runs of the same command in the database."""
    if history is None or not command or not math.isfinite(elapsed) or history.height == 0:
        return []
    past = history.filter(pl.col("command") == command)["duration_s"].drop_nulls()
    if past.len() < C.ADVICE_HISTORY_MIN:
        return []
    median = float(past.median())
    if median <= 0 or elapsed < C.ADVICE_SLOWER_RATIO * median:
        return []
    return [Note("regression", WARN, f"{elapsed / median:.1f}x slower than the median of {past.len()} earlier "
                 f"{command} runs", f"{span(elapsed)} vs median {span(median)}", None)]


# ---------------------------------------------------------------- the whole job

def advise(analyses: list[Analysis], allocations: list[Allocation], seen_until: list[float | None] | None = None,
           history: pl.DataFrame | None = None, cross_node: list | None = None,
           ended: bool | None = None) -> Advice:
    """Notes for one job (or run) over its nodes; ``allocations`` match ``analyses``.

    ``ended``: the caller knows the job is over (the epilog); None judges it
    from the traces.  ``cross_node``: the whole job's anomalies across nodes."""
    seen_until = seen_until or [None] * len(analyses)
    usage = [usage_of(a, s) for a, s in zip(analyses, seen_until)]
    if ended is not None:
        for u in usage:
            u.ended = ended
    alloc = allocations[0]
    start = min((al.start for al in allocations if al.start is not None), default=min(u.first for u in usage))
    elapsed = max(u.last + u.interval_s for u in usage) - start
    notes: list[Note] = []
    for a, u, al in zip(analyses, usage, allocations):
        full = licence_full_seconds(a, al)
        notes += cpu_notes(u, al) + idle_notes(u, al, sum(full.values())) + memory_notes(u, al)
        notes += io_notes(a, u) + network_notes(a, u, al.nodes) + imbalance_notes(a, u)
        notes += gpu_notes(a, al) + licence_notes(a, al)
    notes = _one_per_job(notes, len(analyses))
    notes += time_notes(usage[0] if all(u.ended for u in usage) else _running(usage[0]), alloc, elapsed)
    for x in cross_node or []:
        if x.kind == "imbalance":
            notes.append(Note("imbalance", WARN, "the nodes did unequal work: the job waits for its slowest node",
                              x.message, None))
    notes += regression_notes(analyses[0].run.comm, elapsed, history)
    order = {k: i for i, k in enumerate(NOTE_KINDS)}
    notes.sort(key=lambda n: (n.severity != WARN, order.get(n.kind, 99), n.host or ""))
    return Advice(job=alloc.job, allocation=alloc, usage=usage, notes=notes, elapsed_s=elapsed)


def _running(u: Usage) -> Usage:
    u.ended = False
    return u


def _one_per_job(notes: list[Note], nodes: int) -> list[Note]:
    """A note every node gives with the same option is said once, for the job.
    Per-node options (cores, memory) are per node already: the largest wins."""
    if nodes < 2:
        return notes
    by_kind: dict[str, list[Note]] = {}
    for n in notes:
        by_kind.setdefault(n.kind, []).append(n)
    out = []
    for kind, group in by_kind.items():
        if len(group) == nodes and kind in ("serial", "cpus", "memory"):
            keep = max(group, key=lambda n: _option_size(n.suggest))
            out.append(Note(kind, keep.severity, keep.message + f" (on all {nodes} nodes)",
                            keep.evidence + f" on {keep.host}, the largest", keep.suggest))
        else:
            out += group
    return out


def _option_size(option: str | None) -> float:
    if not option:
        return 0.0
    value = option.split("=", 1)[1]
    scale = {"M": 1, "G": 1024}.get(value[-1], 1)
    digits = value.rstrip("MG")
    return float(digits) * scale if digits.isdigit() else 0.0
