"""Distances from one fingerprint to every stored one (the db classify hot loop)."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _rms_distances(matrix, query):
    """RMS difference between ``query`` (F,) and each row of ``matrix`` (N, F).

    Both are already robustly scaled and clipped, float32; sums are float64."""
    n, f = matrix.shape
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        s = 0.0
        for j in range(f):
            d = float(matrix[i, j]) - float(query[j])
            s += d * d
        out[i] = np.sqrt(s / f) if f else 0.0
    return out
