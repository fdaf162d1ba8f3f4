"""The bottleneck label of a run or a phase, with the evidence that decided it."""
from __future__ import annotations

import math

import numpy as np
from dataclasses import dataclass, field

from analyzer import config

LABELS = ("compute-bound", "memory-bound", "io-bound", "network-bound", "idle", "unknown")
"""``unknown``: the trace has no CPU data at all, and no other pressure."""


@dataclass
class Characterization:
    label: str
    evidence: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"label": self.label, "evidence": self.evidence,
                "scores": {k: round(v, 3) for k, v in self.scores.items()}}


def _v(profile: dict, name: str) -> float:
    x = profile.get(name, math.nan)
    return x if x is not None and math.isfinite(x) else 0.0


def _fmt(name: str, x: float) -> str:
    if name.endswith("Bps"):
        return f"{name}={x / 1e6:.1f} MB/s"
    if name.endswith("pct"):
        return f"{name}={x:.1f}%"
    return f"{name}={x:,.0f}/s" if x >= 10 else f"{name}={x:.2f}/s"


def characterize(profile: dict[str, float]) -> Characterization:
    """Label a mean profile (metric name -> mean value) by its dominant pressure."""
    scores, why = {}, {}
    for label, limits in config.BOTTLENECK_THRESHOLDS.items():
        ratios = {m: _v(profile, m) / thr for m, thr in limits.items()}
        worst = max(ratios, key=ratios.get)
        scores[label] = ratios[worst]
        why[label] = f"{_fmt(worst, _v(profile, worst))} (threshold {_fmt(worst, limits[worst]).split('=')[1]})"
    busy = _v(profile, "cpu_busy_pct")
    scores["compute-bound"] = busy / config.COMPUTE_BUSY_PCT
    top = max(("io-bound", "memory-bound", "network-bound"), key=scores.get)
    if scores[top] >= 1.0:
        label = top
        evidence = [why[top]]
    elif busy >= config.COMPUTE_BUSY_PCT:
        label = "compute-bound"
        evidence = [f"cpu_busy_pct={busy:.1f}% (user {_v(profile, 'cpu_user_pct'):.1f}%, "
                    f"system {_v(profile, 'cpu_system_pct'):.1f}%) with no I/O, memory or network pressure"]
    elif not math.isfinite(profile.get("cpu_busy_pct", math.nan)):
        label = "unknown"      # a source without CPU counters (e.g. a filesystem-only PCP archive)
        evidence = ["no CPU samples and no I/O, memory or network pressure"]
    else:
        label = "idle"
        evidence = [f"cpu_busy_pct={busy:.1f}% (below {config.COMPUTE_BUSY_PCT:.0f}%) and no I/O, "
                    "memory or network pressure"]
    evidence += [f"next: {k} {why[k]}" for k in sorted(why, key=scores.get, reverse=True)
                 if k != label and scores[k] >= 0.5]
    return Characterization(label, evidence, scores)


def mean_profile(metrics: dict, lo: int = 0, hi: int | None = None) -> dict[str, float]:
    """Mean of every metric over samples [lo, hi), NaN-aware."""
    out = {}
    for k, v in metrics.items():
        x = np.asarray(v[lo:hi], dtype=np.float64)
        x = x[np.isfinite(x)]
        out[k] = float(x.mean()) if x.size else math.nan
    return out
