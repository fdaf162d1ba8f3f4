"""Distances from one fingerprint to stored ones (the db classify hot loops).

Stored rows are robustly scaled, clipped float32.  Each row also has int8
codes (a quarter of the bytes) and the Euclidean norm of its rounding error,
so one cheap pass bounds every distance from below; only the few rows whose
bound could still matter are read in float32 (analyzer/nearest.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit

CODE_MAX = 127
"""int8 codes span -127..127 (symmetric, so 0 is exactly representable)."""
BOUND_RELATIVE_SLACK = 1e-4
BOUND_ABSOLUTE_SLACK = 1e-5
"""The bound is lowered by these margins (relative, and in Euclidean z units)
to cover float32 rounding in its own sums, far below any gap that matters."""


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
def _lower_bounds(codes, errors, step, query, command_codes, command, penalty):
    """For every row, a value never above its RMS distance to ``query`` (plus
    ``penalty`` when its command code differs from ``command``).

    ||x - q|| >= ||c*step - q|| - ||x - c*step||: the distance to the decoded
    row minus the row's rounding error (the triangle inequality).  The inner
    sum is float32 so it vectorises; the slack covers its rounding."""
    n, f = codes.shape
    qs = np.empty(f, dtype=np.float32)
    for j in range(f):
        qs[j] = np.float32(np.float64(query[j]) / step)
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        s = np.float32(0.0)
        for j in range(f):
            d = np.float32(codes[i, j]) - qs[j]
            s += d * d
        euclid = step * np.sqrt(np.float64(s)) * (1.0 - BOUND_RELATIVE_SLACK)
        lb = euclid - errors[i] - BOUND_ABSOLUTE_SLACK
        if not lb > 0.0:          # also NaN (a NaN query): no information, the row is checked
            lb = 0.0
        out[i] = lb / np.sqrt(f) if f else 0.0
        if penalty != 0.0 and command_codes[i] != command:
            out[i] += penalty
    return out
