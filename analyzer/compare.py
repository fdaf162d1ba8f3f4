"""What differs between two runs, or between a run and its application's history.

A is the reference and B is reported relative to it: change = (B - A) / |A|.

Two traces: for each key metric, the per-second samples of the runs are
compared with an effect size (Glass's delta: B's mean minus A's over the
reference's standard deviation, which never falls below the metric's noise
floor; a pooled deviation would let B's own drift, a leak's climb, hide the
change it measures) and
the relative change; a difference is significant when the effect is large
(|d| >= EFFECT_LARGE) and the means differ by at least REL_MIN.  Phases are
paired in order of their labels (longest common subsequence) and compared
the same way.

A run against history: the history (A, the medians of the application's
stored runs) is the reference; each of the run's (B) mean, p95, std and max
of the key metrics becomes a robust z-score against the stored runs
(median, IQR/1.349, never below the metric's noise floor); |z| >=
Z_SIGNIFICANT is significant.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from analyzer import config
from analyzer.pipeline import Analysis

COMPARE_METRICS = ("cpu_busy_pct", "cpu_user_pct", "cpu_system_pct", "cpu_iowait_pct", "core_imbalance_pct",
                   "mem_used_pct", "majflt_rate", "psi_cpu_some_pct", "psi_mem_some_pct", "psi_io_some_pct",
                   "net_rx_Bps", "net_tx_Bps", "disk_read_Bps", "disk_write_Bps", "disk_util_pct",
                   "ctxt_rate", "procs_running")


@dataclass
class Difference:
    scope: str            # "run" or "phase 2 (compute)"
    metric: str
    a: float
    b: float
    effect: float         # Glass's delta of B vs A (two runs) or robust z of the run (history)
    relative: float       # (b - a) / |a|
    significant: bool

    def to_dict(self):
        f = lambda x: None if x is None or not math.isfinite(x) else round(float(x), 4)
        return {"scope": self.scope, "metric": self.metric, "a": f(self.a), "b": f(self.b),
                "effect": f(self.effect), "relative": f(self.relative), "significant": self.significant}


def _floor(metric: str) -> float:
    """The metric's noise floor: COMPARE_FLOORS, else COMPARE_FLOOR_FRACTION of its fingerprint threshold."""
    if metric in config.COMPARE_FLOORS:
        return config.COMPARE_FLOORS[metric]
    return config.COMPARE_FLOOR_FRACTION * config.FINGERPRINT_METRICS.get(metric, 1.0 / config.COMPARE_FLOOR_FRACTION)


def _effect(x: np.ndarray, y: np.ndarray, metric: str) -> tuple[float, float, float, float]:
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        return math.nan, math.nan, math.nan, math.nan
    ma, mb = float(x.mean()), float(y.mean())
    d = (mb - ma) / max(float(x.std()), _floor(metric))
    rel = (mb - ma) / max(abs(ma), _floor(metric))
    return ma, mb, d, rel


def _compare_ranges(a: Analysis, b: Analysis, scope: str, ra=(0, None), rb=(0, None)) -> list[Difference]:
    out = []
    for m in COMPARE_METRICS:
        xa, xb = a.derived.metrics.get(m), b.derived.metrics.get(m)
        if xa is None or xb is None:
            continue
        ma, mb, d, rel = _effect(xa[ra[0]:ra[1]], xb[rb[0]:rb[1]], m)
        sig = math.isfinite(d) and abs(d) >= config.EFFECT_LARGE and abs(rel) >= config.REL_MIN
        out.append(Difference(scope, m, ma, mb, d, rel, sig))
    return out


def _lcs_pairs(la: list[str], lb: list[str]) -> list[tuple[int, int]]:
    n, m = len(la), len(lb)
    dp = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            dp[i][j] = dp[i + 1][j + 1] + 1 if la[i] == lb[j] else max(dp[i + 1][j], dp[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if la[i] == lb[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif dp[i + 1][j] >= dp[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def compare_runs(a: Analysis, b: Analysis) -> dict:
    diffs = _compare_ranges(a, b, "run")
    da, db_ = a.derived, b.derived
    dur_a = da.t[-1] - da.t[0] + da.interval_s
    dur_b = db_.t[-1] - db_.t[0] + db_.interval_s
    phases = []
    for i, j in _lcs_pairs([p.label for p in a.phases], [p.label for p in b.phases]):
        pa, pb = a.phases[i], b.phases[j]
        scope = f"phase {i + 1}/{j + 1} ({pa.label})"
        phases.append({"a": i + 1, "b": j + 1, "label": pa.label,
                       "duration_a": pa.duration_s, "duration_b": pb.duration_s})
        diffs += _compare_ranges(a, b, scope, (pa.start_i, pa.end_i), (pb.start_i, pb.end_i))
    return {"kind": "runs", "duration_a": dur_a, "duration_b": dur_b,
            "bottleneck_a": a.characterization.label, "bottleneck_b": b.characterization.label,
            "anomalies_a": sorted({x.kind for x in a.anomalies}), "anomalies_b": sorted({x.kind for x in b.anomalies}),
            "aligned_phases": phases, "differences": diffs}


def compare_history(a: Analysis, history: pl.DataFrame, label: str) -> dict:
    """``history``: database rows of the application (feature columns ``f.<name>``)."""
    names = {c[2:] for c in history.columns if c.startswith("f.")}
    use = [f"{m}.{k}" for m in COMPARE_METRICS for k in ("mean", "p95", "std", "max") if f"{m}.{k}" in names]
    H = history.select([f"f.{n}" for n in use]).to_numpy().astype(np.float64)
    v = np.array([a.fingerprint.features.get(n, np.nan) for n in use])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q25, med, q75 = np.nanpercentile(H, [25, 50, 75], axis=0)
    scale = np.maximum(np.nan_to_num((q75 - q25) / 1.349), [_floor(n.rsplit(".", 1)[0]) for n in use])
    z = (v - med) / scale
    diffs = []
    for n, x, m, zz in zip(use, v, med, z):
        if not (math.isfinite(x) and math.isfinite(m)):
            continue
        rel = (x - m) / max(abs(m), 1e-12)
        diffs.append(Difference("run vs history", n, float(m), float(x), float(zz), float(rel),
                                abs(zz) >= config.Z_SIGNIFICANT))
    d = a.derived
    return {"kind": "history", "label": label, "runs": history.height,
            "duration_a": float(history["duration_s"].median()), "duration_b": d.t[-1] - d.t[0] + d.interval_s,
            "bottleneck_a": history["bottleneck"].mode().sort().first() if "bottleneck" in history.columns else None,
            "bottleneck_b": a.characterization.label,
            "differences": diffs}
