"""What an application does, in numbers that do not change with how it was run.

Recognition compares runs of one code that differ in length, rank count,
node and binary name, so these features avoid absolute levels and totals:

- only the run's steady state: the samples in which its processes exist,
  less a start-up and a tail (BEHAVIOUR_TRIM of the window, 2 to 30 s);
- shares instead of levels (user, system and I/O-wait time of the busy CPU;
  writes of the disk traffic; received of the network traffic);
- intensities per CPU-second of the run instead of rates (disk and network
  bytes, context switches and page faults per second of the run's CPU),
  which stay put when the same work is spread over more ranks;
- per-rank figures (cores busy, threads, resident memory per rank, and how
  much that memory moves) and the shape of the run's CPU over time
  (variation, dips, lag-1 autocorrelation);
- the run's own file I/O (its processes' read and written bytes per
  CPU-second), which the node's disk counters mix with everyone else's.

Nothing here reads a host name, job id or command name.
"""
from __future__ import annotations

import math

import numpy as np
import polars as pl

from analyzer import config

FEATURES = ("shape.user_share", "shape.system_share", "shape.iowait_share", "shape.cores_per_rank",
            "shape.cpu_cv", "shape.cpu_dip", "shape.cpu_acf1", "shape.disk_per_cpu", "shape.write_share",
            "shape.net_per_cpu", "shape.rx_share", "shape.ctxt_per_cpu", "shape.pgfault_per_cpu",
            "shape.rss_per_rank", "shape.rss_cv", "shape.threads_per_rank", "shape.run_read_per_cpu",
            "shape.run_write_per_cpu")
"""Every behaviour feature, in order (docs/fingerprint.md defines each)."""
CACHE_STATE = ("shape.run_read_per_cpu",)
"""Shown, never compared: what a run reads through storage depends on what the page cache held
when it started (its inputs come from disk on a node's first run, from memory on the next),
not on the application."""
COMPARED = tuple(f for f in FEATURES if f not in CACHE_STATE)
"""The features recognition compares."""
LOG_SCALE = ("shape.disk_per_cpu", "shape.net_per_cpu", "shape.ctxt_per_cpu", "shape.pgfault_per_cpu",
             "shape.rss_per_rank", "shape.run_read_per_cpu", "shape.run_write_per_cpu")
"""Features in log10 units (intensities, memory): their noise floor is SIMILARITY_NOISE_FLOOR_LOG."""


def _mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def _log_per(total: float, cpu_s: float) -> float:
    """log10(1 + total / cpu_s): an intensity on a scale where x10 is one unit."""
    if not (math.isfinite(total) and cpu_s > 0):
        return math.nan
    return math.log10(1.0 + max(total, 0.0) / cpu_s)


def _share(a: float, b: float) -> float:
    return a / (a + b) if math.isfinite(a) and math.isfinite(b) and a + b > 0 else math.nan


def steady_window(present: np.ndarray) -> tuple[int, int]:
    """Samples [lo, hi) of the run's steady state: from its first to its last
    sample with processes, less BEHAVIOUR_TRIM at each end (2 to 30 samples)."""
    idx = np.flatnonzero(present)
    if idx.size == 0:
        return 0, 0
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    trim = int(min(max(2, round(config.BEHAVIOUR_TRIM * (hi - lo))), 30))
    if hi - lo - 2 * trim < config.BEHAVIOUR_MIN_SAMPLES:
        return lo, hi
    return lo + trim, hi - trim


def features(metrics: dict, run_cpu: np.ndarray, run_nprocs: np.ndarray, run: dict[str, np.ndarray],
             interval_s: float) -> dict[str, float]:
    """The behaviour features from node metrics, the run's per-sample CPU %
    (of one core, summed) and process count, and ``run``: per-sample sums over
    its processes of rss, threads, read_Bps and write_Bps (``run_sums``)."""
    out = dict.fromkeys(FEATURES, math.nan)
    lo, hi = steady_window(run_nprocs > 0)
    if hi - lo < config.BEHAVIOUR_MIN_SAMPLES:
        return out

    def m(name):
        v = metrics.get(name)
        return np.asarray(v[lo:hi], dtype=np.float64) if v is not None else np.full(hi - lo, np.nan)

    busy, user, system, iowait = (_mean(m(k)) for k in ("cpu_busy_pct", "cpu_user_pct", "cpu_system_pct",
                                                         "cpu_iowait_pct"))
    if math.isfinite(busy) and busy > 0:
        out["shape.user_share"] = user / busy
        out["shape.system_share"] = system / busy
    out["shape.iowait_share"] = _share(iowait, busy)
    cpu = np.asarray(run_cpu[lo:hi], dtype=np.float64)
    ranks = np.asarray(run_nprocs[lo:hi], dtype=np.float64)
    ok = np.isfinite(cpu) & (ranks > 0)
    if ok.sum() < 3:
        return out
    c, r = cpu[ok], ranks[ok]
    mean_cpu = float(c.mean())
    out["shape.cores_per_rank"] = float(np.mean(c / r)) / 100.0
    if mean_cpu > 0:
        out["shape.cpu_cv"] = float(c.std()) / mean_cpu
        out["shape.cpu_dip"] = float(np.percentile(c, 10)) / mean_cpu
        d = c - mean_cpu
        denom = float(np.dot(d, d))
        out["shape.cpu_acf1"] = float(np.dot(d[1:], d[:-1])) / denom if denom > 0 else 0.0
    cpu_s = mean_cpu / 100.0 * ok.sum() * interval_s
    rd, wr = _mean(m("disk_read_Bps")), _mean(m("disk_write_Bps"))
    rx, tx = _mean(m("net_rx_Bps")), _mean(m("net_tx_Bps"))
    seconds = (hi - lo) * interval_s
    out["shape.disk_per_cpu"] = _log_per((rd + wr) * seconds, cpu_s)
    out["shape.write_share"] = _share(wr, rd)
    out["shape.net_per_cpu"] = _log_per((rx + tx) * seconds, cpu_s)
    out["shape.rx_share"] = _share(rx, tx)
    out["shape.ctxt_per_cpu"] = _log_per(_mean(m("ctxt_rate")) * seconds, cpu_s)
    out["shape.pgfault_per_cpu"] = _log_per(_mean(m("pgfault_rate")) * seconds, cpu_s)
    per_rank = {k: np.asarray(v[lo:hi], dtype=np.float64)[ok] / r for k, v in run.items()}
    rss = per_rank["rss"][np.isfinite(per_rank["rss"]) & (per_rank["rss"] > 0)]
    if rss.size:
        out["shape.rss_per_rank"] = math.log10(float(rss.mean()) / 2**20)
        out["shape.rss_cv"] = float(rss.std()) / float(rss.mean())
    out["shape.threads_per_rank"] = _mean(per_rank["threads"])
    out["shape.run_read_per_cpu"] = _log_per(_mean(per_rank["read_Bps"] * r) * ok.sum() * interval_s, cpu_s)
    out["shape.run_write_per_cpu"] = _log_per(_mean(per_rank["write_Bps"] * r) * ok.sum() * interval_s, cpu_s)
    return out


RUN_SUMS = ("rss", "threads", "read_Bps", "write_Bps")


def run_sums(procs: pl.DataFrame, n: int, mask: pl.Expr) -> dict[str, np.ndarray]:
    """Per-sample sums of RUN_SUMS over the run's processes (0 where it has none)."""
    cols = [c for c in RUN_SUMS if c in procs.columns]
    mine = procs.filter(mask.fill_null(False)).select(
        "i", *[pl.col(c).cast(pl.Float64).fill_nan(None).fill_null(0.0) for c in cols])
    i = mine["i"].to_numpy()
    out = {c: np.bincount(i, weights=mine[c].to_numpy(), minlength=n).astype(np.float64) for c in cols}
    return {c: out.get(c, np.full(n, np.nan)) for c in RUN_SUMS}
