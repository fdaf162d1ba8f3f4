"""Slow references for analyzer/kernels/_pelt.py.

``segment_op`` is exact optimal partitioning (Jackson et al. 2005): O(n^2)
dynamic programming over every admissible last change point, with the plain
per-dimension masked cost (the kernel uses an equal but faster form, so
costs agree to rounding) and the same tie-breaking: earliest last change
point.  ``segment_blocks_ref`` is the same restricted to block edges plus
the boundary refinement of ``segment(..., block)``.  ``segment_brute``
enumerates every segmentation of a tiny signal with a cost computed directly
from the samples, to check ``segment_op`` itself.
"""
from __future__ import annotations

import itertools

import numpy as np

__all__ = ["prefix_sums_ref", "segment_op", "segment_blocks_ref", "segment_brute", "segmentation_cost",
           "synthetic_run", "REGIMES"]


def prefix_sums_ref(X: np.ndarray):
    """Prefix sums of values, squares and valid counts (NaN/inf skipped),
    each dimension centred on its mean (the cost does not change)."""
    X = np.asarray(X, dtype=np.float64)
    ok = np.isfinite(X)
    centre = np.array([X[ok[:, j], j].mean() if ok[:, j].any() else 0.0 for j in range(X.shape[1])])
    Z = np.where(ok, X - centre, 0.0)
    n, d = X.shape
    S1 = np.zeros((n + 1, d))
    S2 = np.zeros((n + 1, d))
    N = np.zeros((n + 1, d))
    S1[1:] = np.cumsum(Z, axis=0)
    S2[1:] = np.cumsum(Z * Z, axis=0)
    N[1:] = np.cumsum(ok, axis=0)
    return S1, S2, N


def _costs_to(S1, S2, N, s: np.ndarray, t: int) -> np.ndarray:
    c = np.zeros(len(s))
    for j in range(S1.shape[1]):
        m = N[t, j] - N[s, j]
        a = S1[t, j] - S1[s, j]
        with np.errstate(invalid="ignore", divide="ignore"):
            part = (S2[t, j] - S2[s, j]) - a * a / m
        c = c + np.where(m > 0, part, 0.0)
    return c


def _op(S1, S2, N, grid, min_pts, penalty):
    """Optimal partitioning with change points restricted to ``grid``
    (increasing sample indices from 0 to n); segments >= min_pts grid steps."""
    g = len(grid) - 1
    F = np.full(g + 1, np.inf)
    F[0] = -penalty
    last = np.zeros(g + 1, dtype=np.int64)
    for t in range(min_pts, g + 1):
        s = np.concatenate(([0], np.arange(min_pts, t - min_pts + 1)))
        v = F[s] + _costs_to(S1, S2, N, grid[s], grid[t])
        i = int(np.argmin(v))          # first minimum = earliest change point
        F[t] = v[i] + penalty
        last[t] = s[i]
    cps = []
    t = g
    while t > 0 and last[t] > 0:
        cps.append(grid[last[t]])
        t = last[t]
    return np.array(cps[::-1], dtype=np.int64), F[g]


def segment_op(X: np.ndarray, min_size: int, penalty: float):
    """(change points, optimal penalised cost) by O(n^2) optimal partitioning."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    n = X.shape[0]
    S1, S2, N = prefix_sums_ref(X)
    return _op(S1, S2, N, np.arange(n + 1), min_size, penalty)


def segment_blocks_ref(X: np.ndarray, min_size: int, penalty: float, block: int):
    """What ``segment(..., block)`` promises: the optimum over change points
    on block edges (blocks of ``block`` samples, the last block takes the
    remainder), then each point, left to right, moved to the best split
    within +-(block-1) samples between its (already moved) left neighbour
    and its right neighbour, keeping segments >= min_size."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    n = X.shape[0]
    if n < 2 * min_size:
        return np.zeros(0, dtype=np.int64)
    S1, S2, N = prefix_sums_ref(X)
    if block == 1:
        return _op(S1, S2, N, np.arange(n + 1), min_size, penalty)[0]
    grid = np.r_[np.arange(n // block) * block, n]
    if len(grid) < 3:
        return np.zeros(0, dtype=np.int64)
    cps, _ = _op(S1, S2, N, grid, -(-min_size // block), penalty)
    out = cps.copy()
    for i in range(len(cps)):
        a = out[i - 1] if i else 0
        e = cps[i + 1] if i + 1 < len(cps) else n
        xs = np.arange(max(cps[i] - block + 1, a + min_size), min(cps[i] + block - 1, e - min_size) + 1)
        v = np.array([_costs_to(S1, S2, N, np.array([a]), x)[0] + _costs_to(S1, S2, N, np.array([x]), e)[0]
                      for x in xs])
        out[i] = xs[int(np.argmin(v))]
    return out


def segmentation_cost(X: np.ndarray, cps, penalty: float) -> float:
    """Penalised cost of a given segmentation, straight from the samples."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    bounds = [0, *cps, X.shape[0]]
    total = penalty * (len(bounds) - 2)
    for a, b in zip(bounds[:-1], bounds[1:]):
        seg = X[a:b]
        for j in range(X.shape[1]):
            v = seg[:, j][np.isfinite(seg[:, j])]
            if len(v):
                total += float(np.sum((v - v.mean()) ** 2))
    return total


def segment_brute(X: np.ndarray, min_size: int, penalty: float):
    """Best (cost, change points) over every admissible segmentation (tiny n)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    n = X.shape[0]
    if n < 2 * min_size:
        return segmentation_cost(X, [], penalty), []
    best = (segmentation_cost(X, [], penalty), [])
    inner = range(min_size, n - min_size + 1)
    for k in range(1, n // min_size):
        for cps in itertools.combinations(inner, k):
            b = [0, *cps, n]
            if min(np.diff(b)) < min_size:
                continue
            c = segmentation_cost(X, cps, penalty)
            if c < best[0] - 1e-9:
                best = (c, list(cps))
    return best


# ---------------------------------------------------------------- synthetic runs
# Not a reference: signals with known regimes, shared by the phase tests and
# benches/bench_phases.py.  Levels are what a 2-socket node shows at 1 Hz.

REGIMES = {
    #            user  sys  iowait  mem_drift  net_Bps  disk_r_Bps disk_w_Bps util psi_io psi_mem majflt
    "idle":          (0.5, 0.4, 0.1, 0.0, 2e3, 1e3, 2e4, 0.5, 0.0, 0.0, 0.0),
    "compute":       (93.0, 3.0, 0.1, 0.0, 2e4, 1e3, 5e4, 1.0, 0.0, 0.0, 0.0),
    "io":            (8.0, 12.0, 35.0, 0.0, 1e4, 8e7, 3e8, 95.0, 55.0, 0.0, 0.0),
    "network":       (55.0, 25.0, 0.2, 0.0, 8e8, 1e3, 5e4, 1.0, 0.0, 0.0, 0.0),
    "memory":        (30.0, 35.0, 5.0, 0.3, 2e4, 4e6, 2e6, 20.0, 5.0, 40.0, 3000.0),
}
REGIMES["startup"] = REGIMES["io"]


def synthetic_run(regimes, seed: int = 0, t0: float = 1.7e9):
    """(t, metrics) of a 1 Hz run through ``regimes`` = [(name, seconds), ...].

    Noise: Gaussian on percentages (clipped to 0..100), log-normal (~30 %)
    on byte rates with an occasional 10x burst, a slow walk on mem_used.
    The first sample of every rate is NaN, as derive makes it."""
    rng = np.random.default_rng(seed)
    n = int(sum(s for _, s in regimes))
    names = ("cpu_user_pct", "cpu_system_pct", "cpu_iowait_pct", "mem_used_pct", "net_rx_Bps",
             "net_tx_Bps", "disk_read_Bps", "disk_write_Bps", "disk_util_pct", "psi_io_some_pct",
             "psi_mem_some_pct", "majflt_rate", "psi_cpu_some_pct", "swap_used_pct", "procs_running")
    m = {k: np.empty(n) for k in names}
    i = 0
    mem = 20.0
    for name, secs in regimes:
        secs = int(secs)
        u, s, w, drift, net, dr, dw, util, pio, pmem, maj = REGIMES[name]
        sl = slice(i, i + secs)

        def pct(level, sd):
            return np.clip(rng.normal(level, sd, secs), 0.0, 100.0)

        def rate(level):
            burst = np.where(rng.random(secs) < 0.02, 10.0, 1.0)
            return level * rng.lognormal(0.0, 0.3, secs) * burst

        m["cpu_user_pct"][sl] = pct(u, 0.5 + 0.03 * u)
        m["cpu_system_pct"][sl] = pct(s, 0.3 + 0.1 * s)
        m["cpu_iowait_pct"][sl] = pct(w, 0.1 + 0.2 * w)
        walk = mem + np.cumsum(rng.normal(drift, 0.02, secs))
        m["mem_used_pct"][sl] = np.clip(walk, 0, 100)
        mem = float(m["mem_used_pct"][i + secs - 1]) if secs else mem
        m["net_rx_Bps"][sl] = rate(net)
        m["net_tx_Bps"][sl] = rate(net)
        m["disk_read_Bps"][sl] = rate(dr)
        m["disk_write_Bps"][sl] = rate(dw)
        m["disk_util_pct"][sl] = pct(util, 1.0 + 0.05 * util)
        m["psi_io_some_pct"][sl] = pct(pio, 0.2 * pio)
        m["psi_mem_some_pct"][sl] = pct(pmem, 0.2 * pmem)
        m["majflt_rate"][sl] = rate(maj)
        m["psi_cpu_some_pct"][sl] = pct(0.02 * u, 0.5)
        m["swap_used_pct"][sl] = 0.0
        m["procs_running"][sl] = np.maximum(1.0, rng.poisson(1 + u / 25, secs))
        i += secs
    m["cpu_busy_pct"] = np.minimum(m["cpu_user_pct"] + m["cpu_system_pct"], 100.0)
    m["cpu_idle_pct"] = np.clip(100.0 - m["cpu_busy_pct"] - m["cpu_iowait_pct"], 0, 100)
    for k in names:
        if k.endswith(("_Bps", "_rate", "_pct")) and k not in ("mem_used_pct", "swap_used_pct",
                                                             "disk_util_pct"):
            m[k][:1] = np.nan
    m["cpu_busy_pct"][:1] = np.nan
    m["cpu_idle_pct"][:1] = np.nan
    m["disk_util_pct"][:1] = np.nan
    t = t0 + np.arange(n, dtype=np.float64)
    return t, m


def slope_per_min_ref(t: np.ndarray, x: np.ndarray) -> float:
    """Least-squares slope of the finite x over t, per minute; 0 with < 3 points."""
    ok = np.isfinite(x)
    if ok.sum() < 3 or np.ptp(t[ok]) == 0:
        return 0.0
    return float(np.polyfit(t[ok], x[ok], 1)[0] * 60.0)
