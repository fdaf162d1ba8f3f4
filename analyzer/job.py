"""One job across all its nodes: nodes aligned in time, a whole-job fingerprint
and cross-node imbalance.

Each node is analysed on its own first (``analyze_trace`` with the job
selected).  Here the nodes meet: their job's CPU share of the node is put on
a common one-second grid, and a node that is much busier or idler than its
peers for a while is a ``imbalance`` anomaly with ``metric`` ``node_cpu``
(same event machinery and hysteresis as every other rule).  The whole-job
fingerprint is the per-feature median over nodes plus the job's shape
(nodes, mean cross-node spread), so a 4-node and a 64-node run of one
application still look alike.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from analyzer import config
from analyzer.pipeline import Analysis
from analyzer.anomalies import Anomaly
from analyzer.kernels._detect import _events


@dataclass
class JobAnalysis:
    job: str
    nodes: list[Analysis]
    t: np.ndarray                      # common grid, epoch seconds
    node_cpu: np.ndarray               # (nodes, grid) job CPU % of each node's capacity
    anomalies: list[Anomaly] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        from analyzer.report.format import iso
        per_node = [{"host": a.trace.host, "mean_job_cpu_pct": _finite(np.nanmean(row)) if np.isfinite(row).any() else None,
                     "bottleneck": a.characterization.label, "anomalies": len(a.anomalies)}
                    for a, row in zip(self.nodes, self.node_cpu)]
        return {"job": self.job, "nodes": per_node,
                "anomalies": [dict(x.to_dict(), start=iso(x.start), end=iso(x.end)) for x in self.anomalies],
                "fingerprint": {"version": config.FINGERPRINT_VERSION,
                                "features": {k: _finite(v) for k, v in self.features.items()}}}


def _finite(v):
    v = float(v)
    return v if np.isfinite(v) else None


def job_cpu_share(a: Analysis, job: str) -> tuple[np.ndarray, np.ndarray]:
    """(t, % of the node's capacity used by the job's processes) per sample."""
    d = a.derived
    cores = max(int(a.trace.metadata.get("cores") or d.core_busy.shape[1] or 1), 1)
    p = d.procs.filter(pl.col("job") == job).select("i", pl.col("cpu_pct").fill_nan(0.0))
    share = np.bincount(p["i"].to_numpy(), weights=p["cpu_pct"].to_numpy(), minlength=d.n) / cores
    share[0] = np.nan                    # no rate at the first sample
    return d.t, share


def analyze_job(job: str, nodes: list[Analysis]) -> JobAnalysis:
    series = [job_cpu_share(a, job) for a in nodes]
    interval = min(a.derived.interval_s for a in nodes)
    t0 = min(t[0] for t, _ in series)
    t1 = max(t[-1] for t, _ in series)
    grid = t0 + np.arange(int(round((t1 - t0) / interval)) + 1) * interval
    node_cpu = np.full((len(nodes), grid.size), np.nan)
    for k, (t, share) in enumerate(series):
        idx = np.clip(np.round((t - t0) / interval).astype(np.int64), 0, grid.size - 1)
        node_cpu[k, idx] = share
    out = JobAnalysis(job, nodes, grid, node_cpu)
    if len(nodes) > 1:
        out.anomalies = _cross_node(out, interval)
    out.features = _job_features(out)
    return out


def _cross_node(j: JobAnalysis, interval: float) -> list[Anomaly]:
    with warnings.catch_warnings():     # seconds where no node has a value give NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        hi, lo, mean = np.nanmax(j.node_cpu, 0), np.nanmin(j.node_cpu, 0), np.nanmean(j.node_cpu, 0)
    spread = hi - lo
    score = np.where(mean >= config.NODE_SPREAD_MIN_MEAN, np.nan_to_num(spread / config.NODE_SPREAD_PCT), 0.0)
    found = []
    for s, e, peak, pi in _events(j.t, np.ascontiguousarray(score), config.RELEASE, config.NODE_SPREAD_MIN_S,
                                  config.HOLD_S):
        pi = int(pi)
        col = j.node_cpu[:, pi]
        busy, idle = int(np.nanargmax(col)), int(np.nanargmin(col))
        msg = (f"job {j.job}'s nodes are unevenly loaded: {j.nodes[busy].trace.host} at {col[busy]:.0f}% "
               f"and {j.nodes[idle].trace.host} at {col[idle]:.0f}% of their CPUs "
               f"(mean {mean[pi]:.0f}% over {len(j.nodes)} nodes)")
        found.append(Anomaly("imbalance", float(j.t[int(s)]), float(j.t[int(e)]), "node_cpu", round(float(peak), 3),
                             msg, process=j.nodes[idle].trace.host, job=j.job))
    return found


def _job_features(j: JobAnalysis) -> dict[str, float]:
    names = list(j.nodes[0].fingerprint.features)
    values = np.array([[a.fingerprint.features.get(n, np.nan) for n in names] for a in j.nodes])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(values, axis=0)
        spread = np.nanmean(np.nanmax(j.node_cpu, 0) - np.nanmin(j.node_cpu, 0)) if len(j.nodes) > 1 else 0.0
    feats = dict(zip(names, med.tolist()))
    feats["job.nodes"] = float(len(j.nodes))
    feats["job.node_cpu_spread_mean"] = float(spread)
    return feats
