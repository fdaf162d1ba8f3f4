"""The anomaly kinds, one small declarative rule each.

A rule names the signals it reads, turns them into a score per sample (1.0
at its threshold, thresholds from ``analyzer.config``) with a pure,
element-wise function, and says how to phrase an event.  Stateful inputs
(trends, baselines) are declared as filters so the offline analyzer and the
live view run the same compiled step functions over them.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from analyzer import config as C


@dataclass(frozen=True)
class Filter:
    """A stateful signal: ``kind`` is 'slope' or 'baseline' over ``source``;
    ``within_run``: fed only the samples in which the run's processes exist."""
    name: str
    kind: str
    source: str
    params: tuple[float, ...]
    within_run: bool = False

    def params_at(self, interval_s: float) -> tuple[float, ...]:
        """The parameters at a sampling interval.  A baseline's time constant
        spans at least twice its warm-up in samples: about a minute of 1 s
        samples, but ten of 600 s ones (a minute's weighting would never let
        an imported archive's baseline warm up)."""
        if self.kind != "baseline" or not interval_s > 0:
            return self.params
        tau, keep_below, keep_above, learn_below, min_weight, *rest = self.params
        return (max(tau, 2.0 * min_weight * interval_s), keep_below, keep_above, learn_below, min_weight, *rest)


@dataclass(frozen=True)
class Rule:
    kind: str
    metric: str                       # the main metric, as reported
    inputs: tuple[str, ...]           # signals read (documented in docs/anomalies.md)
    score: Callable[[dict, int], np.ndarray]
    min_s: float
    message: Callable[[Mapping], str]    # from the signal values at the event's peak
    filters: tuple[Filter, ...] = ()
    who: str | None = None            # 'hog' / 'leak' / 'run': whose pid and command to report


def _ratio(x, thr):
    return np.nan_to_num(np.asarray(x, dtype=np.float64) / thr, nan=0.0)


def _max(*arrays):
    return np.maximum.reduce([np.asarray(a, dtype=np.float64) for a in arrays])


def _z(x: float) -> float:
    """NaN as 0 for a message's number (np.nan_to_num costs ~20 us on a scalar)."""
    return 0.0 if x != x else x


def _mb(x):
    return f"{x / 2**20:,.0f} MiB"


def _hog_score(s, cores):
    saturated = (s["cpu_busy_pct"] >= C.HOG_BUSY_PCT) | (s["procs_running"] > cores)
    return np.where(saturated & (s["run_nprocs"] > 0), _ratio(s["hog_cpu"], C.HOG_CPU_PCT), 0.0)


def _unusual(s, x, base):
    """Where ``x`` is not the run's normal: above SURGE_RATIO x its baseline
    while the run exists (False during the baseline's warm-up), anywhere
    when it does not.  A disk or link the run always saturates is its
    character (the bottleneck label), not an anomaly; a burst on top is."""
    base = np.where(s["run_nprocs"] > 0, base, 0.0)
    with np.errstate(invalid="ignore"):
        return np.asarray(x, dtype=np.float64) >= C.SURGE_RATIO * base


def _surge_filter(name: str, source: str, threshold: float, min_s: float) -> Filter:
    """The run's usual level of ``source``: a saturation that lasted ``min_s``
    (long enough to be reported) and ended is remembered for SURGE_MEMORY_S,
    so a burst the run repeats is reported the first time only."""
    return Filter(name, "baseline", source, (C.SURGE_TAU_S, 0.0, C.SURGE_RATIO, threshold, C.STALL_WARMUP_SAMPLES,
                                             C.SURGE_MEMORY_S, min_s), within_run=True)


def _io_score(s, cores):
    return _max(np.where(_unusual(s, s["disk_util_pct"], s["disk_util_base"]), _ratio(s["disk_util_pct"], C.IO_UTIL_PCT), 0.0),
                np.where(_unusual(s, s["psi_io_some_pct"], s["psi_io_base"]),
                         _ratio(s["psi_io_some_pct"], C.IO_PSI_PCT), 0.0))


def _net_score(s, cores):
    return _max(np.where(_unusual(s, s["net_Bps"], s["net_base"]), _ratio(s["net_Bps"], C.NET_SAT_BPS), 0.0),
                _ratio(s["net_errs_rate"], C.NET_ERR_RATE))


def _stall_score(s, cores):
    base = s["run_cpu_baseline"]
    with np.errstate(invalid="ignore", divide="ignore"):
        drop = (1.0 - s["run_cpu"] / base) / (1.0 - C.STALL_FRACTION)
    ok = (base >= C.STALL_MIN_BASELINE) & (s["run_nprocs"] > 0)
    return np.where(ok, np.nan_to_num(drop, nan=0.0), 0.0)


RULES: tuple[Rule, ...] = (
    Rule("cpu_hog", "cpu_pct", ("hog_cpu", "cpu_busy_pct", "procs_running", "run_nprocs"),
         _hog_score, C.HOG_MIN_S,
         lambda v: (f"{v['hog_comm']} (pid {v['hog_pid']}, {v['hog_user']}) took {v['hog_cpu']:.0f}% "
                    f"of a core from {v['run']} while the node was {v['cpu_busy_pct']:.0f}% busy"),
         who="hog"),
    Rule("memory_leak", "rss", ("leak_slope", "mem_used_bytes"),
         lambda s, cores: _ratio(_max(s["leak_slope"], s["mem_slope"]), C.LEAK_RATE_BPS),
         C.LEAK_MIN_S,
         lambda v: (f"{v['leak_comm'] or 'node memory'}"
                    + (f" (pid {v['leak_pid']})" if v["leak_pid"] else "")
                    + f" grew steadily at {_mb(max(_z(v['leak_slope']), _z(v['mem_slope'])) * 60)}/min"),
         filters=(Filter("mem_slope", "slope", "mem_used_bytes", (C.LEAK_TAU_S,)),), who="leak"),
    Rule("memory_pressure", "mem_available_pct",
         ("mem_available_pct", "psi_mem_some_pct", "swapin_rate", "swapout_rate", "majflt_rate"),
         lambda s, cores: _max(
             np.nan_to_num(C.PRESSURE_AVAIL_PCT / np.maximum(s["mem_available_pct"], 0.01), nan=0.0),
             _ratio(s["psi_mem_some_pct"], C.PRESSURE_PSI_PCT),
             _ratio(np.nan_to_num(s["swapin_rate"]) + np.nan_to_num(s["swapout_rate"]), C.PRESSURE_SWAP_PPS),
             _ratio(s["majflt_rate"], C.PRESSURE_MAJFLT)),
         C.PRESSURE_MIN_S,
         lambda v: (f"memory pressure: {v['mem_available_pct']:.0f}% available, "
                    f"PSI memory {_z(v['psi_mem_some_pct']):.0f}%, "
                    f"{_z(v['swapin_rate']) + _z(v['swapout_rate']):.0f} pages/s swapped, "
                    f"{_z(v['majflt_rate']):.0f} major faults/s")),
    Rule("io_saturation", "disk_util_pct", ("disk_util_pct", "psi_io_some_pct", "run_nprocs"),
         _io_score, C.IO_MIN_S,
         lambda v: (f"disk saturated: {_z(v['disk_util_pct']):.0f}% busy, "
                    f"PSI io {_z(v['psi_io_some_pct']):.0f}%, "
                    f"{_mb(_z(v['disk_read_Bps']) + _z(v['disk_write_Bps']))}/s, "
                    f"beyond the run's usual {_z(v['disk_util_base']):.0f}% busy"),
         filters=(_surge_filter("disk_util_base", "disk_util_pct", C.IO_UTIL_PCT, C.IO_MIN_S),
                  _surge_filter("psi_io_base", "psi_io_some_pct", C.IO_PSI_PCT, C.IO_MIN_S))),
    Rule("network_saturation", "net_Bps", ("net_rx_Bps", "net_tx_Bps", "net_errs_rate", "run_nprocs"),
         _net_score, C.NET_MIN_S,
         lambda v: (f"network saturated: {_mb(_z(v['net_rx_Bps']))}/s in, "
                    f"{_mb(_z(v['net_tx_Bps']))}/s out, "
                    f"{_z(v['net_errs_rate']):.0f} errors+drops/s, beyond the run's usual "
                    f"{_mb(_z(v['net_base']))}/s"),
         filters=(_surge_filter("net_base", "net_Bps", C.NET_SAT_BPS, C.NET_MIN_S),)),
    Rule("stall", "run_cpu", ("run_cpu", "run_nprocs"), _stall_score, C.STALL_MIN_S,
         lambda v: (f"{v['run']} dropped to {_z(v['run_cpu']):.0f}% CPU from its usual "
                    f"{v['run_cpu_baseline']:.0f}% while its {v['run_nprocs']:.0f} processes still existed"),
         filters=(Filter("run_cpu_baseline", "baseline", "run_cpu",
                         (C.STALL_TAU_S, C.STALL_KEEP_BELOW, np.inf, -np.inf, C.STALL_WARMUP_SAMPLES, 0.0, 0.0)),), who="run"),
    Rule("imbalance", "cpu_pct", ("rank_spread", "rank_mean"),
         lambda s, cores: np.where(s["rank_mean"] >= C.IMBALANCE_MIN_MEAN,
                                   _ratio(s["rank_spread"], C.IMBALANCE_SPREAD_PCT), 0.0),
         C.IMBALANCE_MIN_S,
         lambda v: (f"{v['run']}'s ranks are unevenly loaded: CPU spread {v['rank_spread']:.0f} points "
                    f"around a mean of {v['rank_mean']:.0f}%"), who="run"),
)

KINDS = tuple(r.kind for r in RULES)


# ---------------------------------------------------------------- docs/anomalies.md
_DOC = {
    "cpu_hog": ("CPU % of the busiest process outside the run; node busy %; runnable tasks",
                "a process outside the run uses >= `HOG_CPU_PCT` = {HOG_CPU_PCT:g} % of a core while the node is "
                ">= `HOG_BUSY_PCT` = {HOG_BUSY_PCT:g} % busy or has more runnable tasks than cores, and the run "
                "is present", "the hogging process (pid, command, user)"),
    "memory_leak": ("exponentially weighted trend (`LEAK_TAU_S` = {LEAK_TAU_S:g} s) of each process's RSS "
                    "(processes >= {LEAK_MIN_RSS_MIB:g} MiB) and of node used memory",
                    "the steepest trend >= `LEAK_RATE_BPS` = {LEAK_RATE_MIB:g} MiB/s; `start` is where that "
                    "process's RSS began its climb", "the growing process"),
    "memory_pressure": ("MemAvailable %, PSI memory some, swap-in + swap-out pages/s, major faults/s",
                        "available < `PRESSURE_AVAIL_PCT` = {PRESSURE_AVAIL_PCT:g} %, or PSI memory > "
                        "{PRESSURE_PSI_PCT:g} %, or swapping > {PRESSURE_SWAP_PPS:g} pages/s, or > "
                        "{PRESSURE_MAJFLT:g} major faults/s", "node"),
    "io_saturation": ("busiest disk's utilisation (io_ticks), PSI io some, each against the run's own "
                      "baseline (`SURGE_TAU_S` = {SURGE_TAU_S:g} s)",
                      "a disk >= `IO_UTIL_PCT` = {IO_UTIL_PCT:g} % busy or PSI io >= `IO_PSI_PCT` = {IO_PSI_PCT:g} %, "
                      "and >= `SURGE_RATIO` = {SURGE_RATIO:g} x the run's usual level (a run that always "
                      "saturates the disk is io-bound, not anomalous)", "node"),
    "network_saturation": ("rx + tx bytes/s over non-loopback interfaces against the run's own baseline, "
                           "errors + drops/s",
                           ">= `NET_SAT_BPS` = {NET_SAT_MB:g} MB/s (set it to ~80 % of the node's link) and >= "
                           "`SURGE_RATIO` x the run's usual traffic, or >= {NET_ERR_RATE:g} errors+drops/s", "node"),
    "stall": ("the run's CPU % against its own baseline: a bias-corrected EWMA (`STALL_TAU_S` = {STALL_TAU_S:g} s) "
              "of the samples in which its processes exist, learned from >= `STALL_WARMUP_SAMPLES` = {STALL_WARMUP_SAMPLES:g} samples "
              "and not from samples below {STALL_KEEP_BELOW:g} x itself",
              "the run falls below `STALL_FRACTION` = {STALL_FRACTION:g} of a baseline of at least "
              "{STALL_MIN_BASELINE:g} % of a core while its processes still exist", "the run"),
    "imbalance": ("spread (max - min) of CPU % among the run's ranks (>= 2 processes of its command)",
                  "spread >= {IMBALANCE_SPREAD_PCT:g} points while the ranks average >= {IMBALANCE_MIN_MEAN:g} %",
                  "the run"),
}


def doc_table() -> str:
    """The table of docs/anomalies.md, from the rules and the current thresholds."""
    v = {k: getattr(C, k) for k in dir(C) if k.isupper()}
    v.update(LEAK_MIN_RSS_MIB=C.LEAK_MIN_RSS / 2**20, LEAK_RATE_MIB=C.LEAK_RATE_BPS / 2**20,
             NET_SAT_MB=C.NET_SAT_BPS / 1e6)
    lines = ["| kind | signals | fires when | min. duration | attribution |", "|---|---|---|---|---|"]
    for r in RULES:
        signals, when, who = _DOC[r.kind]
        lines.append(f"| `{r.kind}` | {signals.format(**v)} | {when.format(**v)} | {r.min_s:g} s | {who} |")
    lines.append(f"| `imbalance` (metric `node_cpu`, `analyze --job` over several nodes) | each node's share of "
                 "its CPUs used by the job, on a common 1 s grid | busiest - idlest node >= `NODE_SPREAD_PCT` = "
                 f"{C.NODE_SPREAD_PCT:g} points while the nodes average >= {C.NODE_SPREAD_MIN_MEAN:g} % | "
                 f"{C.NODE_SPREAD_MIN_S:g} s | the idlest node (in `process`) |")
    return "\n".join(lines)
