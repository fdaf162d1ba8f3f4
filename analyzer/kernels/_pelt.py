"""Exact penalised change-point search (PELT, Killick et al. 2012).

Cost of a segment [s, t) is the Gaussian change-in-mean cost with unit
variance, summed over dimensions and over *valid* samples only:
    C(s, t) = sum_j  S2_j - S1_j**2 / m_j      (m_j = valid samples of dim j)
from prefix sums of x, x**2 and the valid count, so one cost is O(d).
NaN samples add nothing to any sum: a gap neither pulls a mean nor costs.

Minimum segment length breaks plain PELT pruning: "t beats s from now on"
only holds once [t, T) may be a segment, i.e. for T >= t + min_size.  So a
candidate found dominated at step t is dropped only at step t + min_size;
the search stays exact (the tests compare it with O(n^2) optimal
partitioning).

Speed: PELT never prunes a candidate inside the current segment (splitting
never raises this cost), so the work is about n * (segment length) costs.
The common case -- every row of [s, t) either fully valid or fully NaN --
has one m for all dimensions and costs one division:
    C = (Q[t] - Q[s]) - sum_j (S1[t,j] - S1[s,j])**2 / m,   Q = sum_j S2_j.
Which formula is used depends only on the prefix sums at s and t, so
candidates with equal prefix sums (a gap) still tie exactly.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_NEVER = np.int64(2**62)


@njit(cache=True)
def _prefix_sums(X):
    """Prefix sums of X (n, d), centred, with NaN/inf skipped: S1, S2, N
    (n+1, d) of values, squares and valid counts; Q (n+1) of the row sums of squares;
    FULL (n+1) of fully valid rows and MIXED (n+1) of partly valid rows."""
    n, d = X.shape
    # centre each dimension on its mean first: the cost is shift-invariant,
    # and S2 - S1**2/m cancels catastrophically on large offsets (bytes/s)
    centre = np.zeros(d)
    for j in range(d):
        tot = 0.0
        cnt = 0
        for i in range(n):
            if np.isfinite(X[i, j]):
                tot += X[i, j]
                cnt += 1
        if cnt:
            centre[j] = tot / cnt
    S1 = np.zeros((n + 1, d))
    S2 = np.zeros((n + 1, d))
    N = np.zeros((n + 1, d))
    Q = np.zeros(n + 1)
    FULL = np.zeros(n + 1, dtype=np.int64)
    MIXED = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        valid = 0
        q = 0.0
        for j in range(d):
            x = X[i, j]
            if np.isfinite(x):
                x -= centre[j]
                S1[i + 1, j] = S1[i, j] + x
                S2[i + 1, j] = S2[i, j] + x * x
                N[i + 1, j] = N[i, j] + 1.0
                q += x * x
                valid += 1
            else:
                S1[i + 1, j] = S1[i, j]
                S2[i + 1, j] = S2[i, j]
                N[i + 1, j] = N[i, j]
        Q[i + 1] = Q[i] + q
        FULL[i + 1] = FULL[i] + (1 if valid == d else 0)
        MIXED[i + 1] = MIXED[i] + (1 if 0 < valid < d else 0)
    return S1, S2, N, Q, FULL, MIXED


@njit(cache=True, error_model="numpy")
def _cost(S1, S2, N, Q, FULL, MIXED, s, t):
    """C(s, t), as described in the module docstring."""
    if MIXED[t] == MIXED[s]:
        m = float(FULL[t] - FULL[s])
        if m == 0.0:
            return 0.0
        acc = 0.0
        for j in range(S1.shape[1]):
            a = S1[t, j] - S1[s, j]
            acc += a * a
        return (Q[t] - Q[s]) - acc / m
    c = 0.0
    for j in range(S1.shape[1]):
        m = N[t, j] - N[s, j]
        if m > 0.0:
            a = S1[t, j] - S1[s, j]
            c += (S2[t, j] - S2[s, j]) - a * a / m
    return c


@njit(cache=True, error_model="numpy")   # no zero-division check: lets the loops vectorise
def _pelt(S1, S2, N, Q, FULL, MIXED, min_size, penalty):
    """Optimal change points of n = len(S1) - 1 samples and the optimal
    penalised cost F(n) (inf when n < min_size: no admissible segmentation).

    Among equal-cost choices the earliest last change point wins (strict <
    over candidates kept in increasing order), as in the reference.
    The candidates' prefix sums are kept in their own contiguous arrays
    (structure of arrays, compacted on pruning) so the cost loop runs over
    memory in order and vectorises.
    """
    n = S1.shape[0] - 1
    d = S1.shape[1]
    F = np.full(n + 1, np.inf)
    F[0] = -penalty
    last = np.zeros(n + 1, dtype=np.int64)
    cap = n + 1
    cand = np.empty(cap, dtype=np.int64)
    kill = np.empty(cap, dtype=np.int64)
    dp = max(4, (d + 3) // 4 * 4)    # dimensions padded to whole passes of four
    cS1 = np.zeros((dp, cap))
    st = np.zeros(dp)
    cQ = np.empty(cap)
    cF = np.empty(cap)
    cFULL = np.empty(cap)
    cMIX = np.empty(cap, dtype=np.int64)
    acc = np.zeros(cap)
    vals = np.empty(cap)
    k = 0
    dead = 0
    # pruning must be safe against rounding in the prefix sums: only drop a
    # candidate that is worse by more than the possible error of a cost
    scale = Q[n]
    for t in range(min_size, n + 1):
        s_new = t - min_size
        if s_new == 0 or s_new >= min_size:   # F(s) is finite only for s = 0 or s >= min_size
            cand[k] = s_new
            kill[k] = _NEVER
            for j in range(d):
                cS1[j, k] = S1[s_new, j]
            cQ[k] = Q[s_new]
            cF[k] = F[s_new]
            cFULL[k] = float(FULL[s_new])
            cMIX[k] = MIXED[s_new]
            k += 1
        # fast-path cost of every candidate: sum_j (S1[t,j] - S1[s,j])**2 in
        # dimension order, four dimensions per pass over the candidates (the
        # padding dimensions add exact zeros), the last pass also finishing
        # vals; then the few mixed candidates again with the masked cost
        for j in range(d):
            st[j] = S1[t, j]
        qt = Q[t]
        ft = float(FULL[t])
        # (prange is range here; benches/bench_phases.py compiles this same
        # source with parallel=True to see whether threads pay)
        if dp == 8:                  # the PHASE_METRICS case: one pass
            t0, t1, t2, t3, t4, t5, t6, t7 = st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7]
            for i in prange(k):
                a0 = t0 - cS1[0, i]
                a1 = t1 - cS1[1, i]
                a2 = t2 - cS1[2, i]
                a3 = t3 - cS1[3, i]
                a4 = t4 - cS1[4, i]
                a5 = t5 - cS1[5, i]
                a6 = t6 - cS1[6, i]
                a7 = t7 - cS1[7, i]
                r = (((((((a0 * a0 + a1 * a1) + a2 * a2) + a3 * a3) + a4 * a4) + a5 * a5)
                      + a6 * a6) + a7 * a7)
                m = ft - cFULL[i]
                vals[i] = cF[i] + ((qt - cQ[i]) - r / (m if m > 0.0 else 1.0))
        else:
            for j in range(0, dp, 4):
                t0, t1, t2, t3 = st[j], st[j + 1], st[j + 2], st[j + 3]
                if j + 4 < dp:
                    for i in prange(k):
                        a0 = t0 - cS1[j, i]
                        a1 = t1 - cS1[j + 1, i]
                        a2 = t2 - cS1[j + 2, i]
                        a3 = t3 - cS1[j + 3, i]
                        acc[i] = (((acc[i] + a0 * a0) + a1 * a1) + a2 * a2) + a3 * a3
                else:
                    for i in prange(k):
                        a0 = t0 - cS1[j, i]
                        a1 = t1 - cS1[j + 1, i]
                        a2 = t2 - cS1[j + 2, i]
                        a3 = t3 - cS1[j + 3, i]
                        r = (((acc[i] + a0 * a0) + a1 * a1) + a2 * a2) + a3 * a3
                        acc[i] = 0.0
                        m = ft - cFULL[i]
                        vals[i] = cF[i] + ((qt - cQ[i]) - r / (m if m > 0.0 else 1.0))
        mixt = MIXED[t]
        for i in range(k):
            if cMIX[i] != mixt and kill[i] >= 0:
                vals[i] = cF[i] + _cost(S1, S2, N, Q, FULL, MIXED, cand[i], t)
        best = np.inf
        arg = 0
        for i in range(k):
            if vals[i] < best:
                best = vals[i]
                arg = cand[i]
        F[t] = best + penalty
        last[t] = arg
        thr = F[t] + 1e-12 * (scale + abs(F[t]) + penalty)
        # a candidate past its kill step is only marked dead (F = inf, so it
        # never wins); the arrays are compacted once an eighth is dead
        for i in range(k):
            kk = kill[i]
            if kk == _NEVER and vals[i] > thr:
                kill[i] = t + min_size   # t is an admissible rival from then on
            elif 0 <= kk <= t + 1:
                kill[i] = -1
                cF[i] = np.inf
                dead += 1
        if 8 * dead > k:
            w = 0
            for i in range(k):
                if kill[i] >= 0:
                    if w != i:
                        cand[w] = cand[i]
                        kill[w] = kill[i]
                        for j in range(d):
                            cS1[j, w] = cS1[j, i]
                        cQ[w] = cQ[i]
                        cF[w] = cF[i]
                        cFULL[w] = cFULL[i]
                        cMIX[w] = cMIX[i]
                    w += 1
            k = w
            dead = 0
    # backtrack
    count = 0
    t = n
    while t > 0 and last[t] > 0:
        count += 1
        t = last[t]
    cps = np.empty(count, dtype=np.int64)
    t = n
    i = count
    while t > 0 and last[t] > 0:
        i -= 1
        cps[i] = last[t]
        t = last[t]
    return cps, F[n]


@njit(cache=True, error_model="numpy")
def _refine(S1, S2, N, Q, FULL, MIXED, cps, radius, min_size):
    """Move each change point, left to right, to the best split within
    +-(radius-1) samples of where it is, keeping its neighbours fixed and
    every segment >= min_size.  Used after a search on blocks of ``radius``
    samples, whose change points are block-aligned.  Earliest best wins."""
    n = S1.shape[0] - 1
    m = cps.shape[0]
    out = cps.copy()
    for i in range(m):
        a = out[i - 1] if i > 0 else 0
        e = cps[i + 1] if i + 1 < m else n
        lo = max(cps[i] - radius + 1, a + min_size)
        hi = min(cps[i] + radius - 1, e - min_size)
        best = np.inf
        bx = cps[i]
        for x in range(lo, hi + 1):
            v = _cost(S1, S2, N, Q, FULL, MIXED, a, x) + _cost(S1, S2, N, Q, FULL, MIXED, x, e)
            if v < best:
                best = v
                bx = x
        out[i] = bx
    return out
