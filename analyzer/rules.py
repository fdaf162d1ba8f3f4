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
    """A stateful signal: ``kind`` is 'slope' or 'baseline' over ``source``."""
    name: str
    kind: str
    source: str
    params: tuple[float, ...]


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
    Rule("io_saturation", "disk_util_pct", ("disk_util_pct", "psi_io_some_pct"),
         lambda s, cores: _max(_ratio(s["disk_util_pct"], C.IO_UTIL_PCT),
                               _ratio(s["psi_io_some_pct"], C.IO_PSI_PCT)),
         C.IO_MIN_S,
         lambda v: (f"disk saturated: {_z(v['disk_util_pct']):.0f}% busy, "
                    f"PSI io {_z(v['psi_io_some_pct']):.0f}%, "
                    f"{_mb(_z(v['disk_read_Bps']) + _z(v['disk_write_Bps']))}/s")),
    Rule("network_saturation", "net_Bps", ("net_rx_Bps", "net_tx_Bps", "net_errs_rate"),
         lambda s, cores: _max(_ratio(np.nan_to_num(s["net_rx_Bps"]) + np.nan_to_num(s["net_tx_Bps"]), C.NET_SAT_BPS),
                               _ratio(s["net_errs_rate"], C.NET_ERR_RATE)),
         C.NET_MIN_S,
         lambda v: (f"network saturated: {_mb(_z(v['net_rx_Bps']))}/s in, "
                    f"{_mb(_z(v['net_tx_Bps']))}/s out, "
                    f"{_z(v['net_errs_rate']):.0f} errors+drops/s")),
    Rule("stall", "run_cpu", ("run_cpu", "run_nprocs"), _stall_score, C.STALL_MIN_S,
         lambda v: (f"{v['run']} dropped to {_z(v['run_cpu']):.0f}% CPU from its usual "
                    f"{v['run_cpu_baseline']:.0f}% while its {v['run_nprocs']:.0f} processes still existed"),
         filters=(Filter("run_cpu_baseline", "baseline", "run_cpu", (C.STALL_TAU_S, 0.5)),), who="run"),
    Rule("imbalance", "cpu_pct", ("rank_spread", "rank_mean"),
         lambda s, cores: np.where(s["rank_mean"] >= C.IMBALANCE_MIN_MEAN,
                                   _ratio(s["rank_spread"], C.IMBALANCE_SPREAD_PCT), 0.0),
         C.IMBALANCE_MIN_S,
         lambda v: (f"{v['run']}'s ranks are unevenly loaded: CPU spread {v['rank_spread']:.0f} points "
                    f"around a mean of {v['rank_mean']:.0f}%"), who="run"),
)

KINDS = tuple(r.kind for r in RULES)
