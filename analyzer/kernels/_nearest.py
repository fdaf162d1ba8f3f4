"""Distances from one fingerprint to stored ones (the db classify hot loops).

Stored rows are robustly scaled, clipped float32.  Each row also has int8
codes (a quarter of the bytes) and the Euclidean norm of its rounding error,
so one cheap integer pass bounds every distance from below; only the few rows whose
bound could still matter are read in float32 (analyzer/nearest_search.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit

CODE_MAX = 127
"""int8 codes span -127..127 (symmetric, so 0 is exactly representable)."""
MAX_FEATURES = (2**31 - 1) // (2 * CODE_MAX) ** 2
"""Widest rows whose squared code distance fits the int32 sum of _lower_bounds (33,288)."""
BOUND_RELATIVE_SLACK = 1e-9
"""The bound is lowered by this share, covering float64 rounding in it and in
the rounding-error norms (about 1e-15 each)."""


@njit(cache=True)
def _rms_distances(matrix, query, rows):
    """RMS difference between ``query`` (F,) and rows ``rows`` of ``matrix`` (N, F); sums in float64."""
    f = matrix.shape[1]
    out = np.empty(len(rows), dtype=np.float64)
    for k in range(len(rows)):
        i = rows[k]
        s = 0.0
        for j in range(f):
            d = np.float64(matrix[i, j]) - np.float64(query[j])
            s += d * d
        out[k] = np.sqrt(s / f) if f else 0.0
    return out


@njit(cache=True)
def _quantize(matrix, step):
    """int8 codes round(x / step) clamped to +-CODE_MAX, and each row's rounding-error norm.

    A NaN value gets code 0 and makes its row's error infinite, so the bound
    of that row is 0 and the row is always checked exactly."""
    n, f = matrix.shape
    codes = np.zeros((n, f), dtype=np.int8)
    errors = np.empty(n, dtype=np.float64)
    for i in range(n):
        s = 0.0
        for j in range(f):
            v = np.float64(matrix[i, j])
            if np.isnan(v):
                s = np.inf
                continue
            c = min(max(np.floor(v / step + 0.5), -CODE_MAX), CODE_MAX)
            codes[i, j] = np.int8(c)
            d = v - c * step
            s += d * d
        errors[i] = np.sqrt(s)
    return codes, errors


@njit(cache=True, fastmath={"reassoc", "contract"})
def _lower_bounds(codes, errors, query_codes, query_error, step):
    """For every row, a value never above its RMS distance to the query.

    With x = c*step + ex and q = cq*step + eq (codes and rounding errors),
    ||x - q|| >= step*||c - cq|| - ||ex|| - ||eq|| (the triangle inequality).
    ||c - cq||^2 is an exact integer sum (at most 254^2 per feature: int32
    holds MAX_FEATURES), so only float64 rounding needs the slack."""
    n, f = codes.shape
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        s = np.int32(0)
        for j in range(f):       # int32 kept explicitly, so the sum vectorises (pmaddwd)
            d = np.int32(codes[i, j]) - np.int32(query_codes[j])
            s = np.int32(s + d * d)
        lb = step * np.sqrt(np.float64(s)) * (1.0 - BOUND_RELATIVE_SLACK) - errors[i] - query_error
        if not lb > 0.0:          # also an infinite error (a NaN row or query): the row is checked
            lb = 0.0
        out[i] = lb / np.sqrt(f) if f else 0.0
    return out
