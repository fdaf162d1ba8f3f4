"""The nearest stored run of each of the closest labels, exactly, without reading every row.

Scanning a million float32 rows of 200 features reads 800 MB per query.
Instead one integer pass over int8 codes of the same rows and of the query
(a quarter of the bytes) bounds every row's distance from below
(kernels/_nearest._lower_bounds).
The rows with the smallest bounds are measured exactly, and the shortlist
grows until no row left out could change the answer: the farthest label kept
is nearer than the smallest bound left out.  The result is the exact scan's,
up to rows at exactly equal distances (ordered by row here).
"""
from __future__ import annotations

import numpy as np

from analyzer import config
from analyzer.kernels._nearest import CODE_MAX, MAX_FEATURES, _lower_bounds, _quantize, _rms_distances

def step() -> float:
    """Width of one int8 code in z units: clipped scores span the whole code range."""
    return config.SIMILARITY_CLIP / CODE_MAX



def encode(values) -> tuple[np.ndarray, list[str]]:
    """Strings as int32 codes into a sorted list of the distinct values."""
    names, codes = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    return codes.astype(np.int32).reshape(-1), names.tolist()


def quantize(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes of the scaled rows and the norm of each row's rounding error."""
    return _quantize(np.ascontiguousarray(matrix, dtype=np.float32), step())


def best_per_label(dist: np.ndarray, rows: np.ndarray, label_codes: np.ndarray,
                   want: int) -> list[tuple[int, float, int]]:
    """(label code, distance, row) of the nearest of ``rows`` per label, nearest labels first."""
    order = np.lexsort((rows, dist))
    labels = np.asarray(label_codes)[rows[order]]
    _, first = np.unique(labels, return_index=True)
    return [(int(labels[k]), float(dist[order[k]]), int(rows[order[k]])) for k in np.sort(first)[:want]]


def nearest_labels(matrix, codes, errors, query: np.ndarray, label_codes, n_labels: int, top: int
                   ) -> list[tuple[int, float, int]]:
    """The ``top`` nearest labels to ``query`` (scaled, float32) by RMS difference, each with its nearest row."""
    n = len(label_codes)
    want = min(top, n_labels)
    if n == 0 or want <= 0:
        return []
    if codes.shape[1] > MAX_FEATURES:
        raise ValueError(f"{codes.shape[1]} features: the distance bounds hold at most {MAX_FEATURES}")
    query = np.ascontiguousarray(query, dtype=np.float32)
    query_codes, query_error = quantize(query[None, :])
    bounds = _lower_bounds(codes, errors, query_codes[0], query_error[0], step())
    k = min(n, config.SIMILARITY_SHORTLIST)
    while True:
        if k < n:
            part = np.argpartition(bounds, k)
            rows, left_out = part[:k], bounds[part[k]]
        else:
            rows, left_out = np.arange(n), np.inf
        dist = _rms_distances(matrix, query, rows)
        best = best_per_label(dist, rows, label_codes, want)
        if k == n or (len(best) == want and best[-1][1] < left_out):
            return best
        k = min(n, k * 8)


def nearest_of_label(matrix, query: np.ndarray, label_codes, label: int) -> tuple[float, int]:
    """The distance to ``label``'s nearest row, and that row (inf, -1 when it has none):
    a label named by the command may lie beyond the nearest few."""
    rows = np.flatnonzero(np.asarray(label_codes) == label)
    if rows.size == 0:
        return float("inf"), -1
    dist = _rms_distances(matrix, np.ascontiguousarray(query, dtype=np.float32), rows)
    ((_, d, row),) = best_per_label(dist, rows, label_codes, 1)
    return d, row
