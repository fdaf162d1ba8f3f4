"""Plain numpy references for analyzer/kernels/_stats.py.

Written from the definitions in docs/fingerprint.md, not from the kernels:
whole-array numpy where it is clear, loops where the definition is a loop.
Slow and obvious on purpose.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

__all__ = ["FEATURES", "finite", "moments", "percentiles", "order_stats", "hann", "segments",
           "norm_isf", "noise_ratio", "peak", "series_features"]

FEATURES = ("mean", "std", "min", "max", "p5", "p25", "p50", "p75", "p95", "skew",
            "kurtosis", "acf1", "period_s", "period_strength", "slope", "frac_above")
QS = (5.0, 25.0, 50.0, 75.0, 95.0)


def finite(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[np.isfinite(x)]


def moments(x, threshold: float, interval_s: float) -> dict[str, float]:
    """mean, std, min, max, skew, kurtosis, acf1, slope (per hour), frac_above."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    v = x[ok]
    keys = ("mean", "std", "min", "max", "skew", "kurtosis", "acf1", "slope", "frac_above")
    if v.size == 0:
        return dict.fromkeys(keys, math.nan)
    out = {"min": v.min(), "max": v.max(),
           "frac_above": float(np.mean(v > threshold)) if not math.isnan(threshold) else math.nan}
    if v.min() == v.max():
        out.update(mean=v[0], std=0.0, skew=0.0, kurtosis=0.0, acf1=0.0, slope=0.0)
        return out
    mean = math.fsum(v) / v.size  # exactly rounded sums: the reference must not lose digits
    d = v - mean
    c = math.fsum(d) / v.size  # what rounding left in the mean
    mean, d = mean + c, d - c
    s = np.abs(d).max()  # powers of d/s: 1e300**4 does not overflow, 1e-300**4 does not underflow
    u = d / s
    m2, m3, m4 = (math.fsum(u ** k) / u.size for k in (2, 3, 4))
    out.update(mean=mean, std=math.sqrt(m2) * s, skew=m3 / m2 ** 1.5, kurtosis=m4 / m2 ** 2 - 3.0)
    y = (x - mean) / s
    both = ok[1:] & ok[:-1]
    a, b = y[:-1][both], y[1:][both]
    if a.size >= 2 and a.min() < a.max() and b.min() < b.max():
        out["acf1"] = float(np.clip(np.corrcoef(a, b)[0, 1], -1.0, 1.0))
    else:
        out["acf1"] = 0.0
    hours = np.flatnonzero(ok) * interval_s / 3600.0
    out["slope"] = np.polyfit(hours, u, 1)[0] * s
    return out


def percentiles(x, qs=QS) -> np.ndarray:
    v = finite(x)
    if v.size == 0:
        return np.full(len(qs), np.nan)
    return np.percentile(v, qs)


def order_stats(a, m: int, ranks) -> np.ndarray:
    return np.sort(np.asarray(a[:m]))[np.asarray(ranks)]


def hann(seglen) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(seglen) / seglen)


def segments(x, mean, b, ibar, starts, window) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    seglen = len(window)
    t = np.arange(seglen)
    w = np.asarray(window)
    rows = []
    for s in starts:
        i = s + t
        r = x[i] - mean - b * (i - ibar)
        rows.append(np.where(np.isfinite(x[i]), r, 0.0) * w)
    return np.array(rows).reshape(len(starts), seglen)


def norm_isf(p: float) -> float:
    return NormalDist().inv_cdf(1.0 - p)


def noise_ratio(nu: float, p: float) -> float:
    """Upper p-quantile over median of chi2(nu): exact for nu=2, Wilson-Hilferty otherwise."""
    if nu <= 2:
        return math.log(1 / p) / math.log(2)
    c = 2 / (9 * nu)
    return ((1 - c + norm_isf(p) * math.sqrt(c)) / (1 - c)) ** 3


def peak(power, seglen, nseg, interval_s, max_period_s, alpha, min_strength,
         cycles=4, neighbours=32, min_neighbours=4) -> tuple[float, float]:
    """The dominant period of a Welch spectrum, as docs/fingerprint.md defines it."""
    power = np.asarray(power, dtype=np.float64)
    nb = power.size
    total = power[1:].sum()
    if not total > 0:
        return 0.0, 0.0
    kmin = max(cycles, math.ceil(seglen * interval_s / max_period_s))
    kmax = min(nb - 2 - min_neighbours, (seglen - 1) // 2)
    if kmax < kmin:
        return 0.0, 0.0
    nu = 2.0 * nseg
    limit = noise_ratio(nu, alpha / (kmax - kmin + 1))
    significant = []
    for k in range(kmin, kmax + 1):
        if not (power[k] > power[k - 1] and power[k] >= power[k + 1]):
            continue
        w = min(neighbours, k - 1, nb - 1 - k)
        near = np.concatenate([power[k - w:k - 1], power[k + 2:k + w + 1]])
        if near.size < 2 * min_neighbours - 2:
            continue
        share = power[k - 1:k + 2].sum() / total
        if power[k] > limit * np.median(near) and share >= min_strength:
            significant.append(k)
    if not significant:
        return 0.0, 0.0
    best = max(significant, key=lambda k: (power[k], -k))
    a, c, d = power[best - 1:best + 2]
    delta = 0.0
    if a > 0 and d > 0:
        den = math.log(a) - 2 * math.log(c) + math.log(d)
        if den < 0:
            delta = float(np.clip(0.5 * (math.log(a) - math.log(d)) / den, -0.5, 0.5))
    return seglen * interval_s / (best + delta), min(1.0, (a + c + d) / total)


def series_features(x, interval_s, threshold=math.nan, max_period_s=3600.0,
                    alpha=0.01, min_strength=0.02, segment_periods=4) -> np.ndarray:
    """The whole feature vector of one series, in FEATURES order."""
    x = np.asarray(x, dtype=np.float64)
    mo = moments(x, threshold, interval_s)
    out = dict(mo)
    out.update(zip(("p5", "p25", "p50", "p75", "p95"), percentiles(x)))
    if math.isnan(mo["mean"]):
        out["period_s"] = out["period_strength"] = math.nan
    elif mo["std"] == 0:
        out["period_s"] = out["period_strength"] = 0.0
    else:
        n = x.size
        seg_max = 2 ** max(3, math.ceil(math.log2(segment_periods * max_period_s / interval_s)))
        if n <= 2 * seg_max:
            seglen, starts = n, [0]
        else:
            seglen = seg_max
            starts = np.rint(np.linspace(0, n - seglen, math.ceil(n / seglen))).astype(int)
        ok = np.isfinite(x)
        idx = np.flatnonzero(ok)
        b_per_sample = mo["slope"] * interval_s / 3600.0
        seg = segments(x, mo["mean"], b_per_sample, idx.mean(), starts, hann(seglen))
        power = (np.abs(np.fft.rfft(seg, axis=1)) ** 2).mean(axis=0)
        out["period_s"], out["period_strength"] = peak(power, seglen, len(starts), interval_s,
                                                       max_period_s, alpha, min_strength)
    return np.array([out[f] for f in FEATURES], dtype=np.float64)
