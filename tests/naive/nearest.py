"""Plain numpy references for analyzer/kernels/_nearest.py and the exact nearest-label search."""
import numpy as np

__all__ = ["rms_distances", "quantize", "lower_bounds", "nearest_labels"]

CODE_MAX = 127


def rms_distances(matrix, query, rows=None):
    m = matrix if rows is None else matrix[rows]
    if m.shape[1] == 0:
        return np.zeros(m.shape[0])
    d = m.astype(np.float64) - query.astype(np.float64)
    return np.sqrt((d * d).mean(axis=1))


def quantize(matrix, step):
    x = matrix.astype(np.float64)
    c = np.clip(np.floor(np.nan_to_num(x) / step + 0.5), -CODE_MAX, CODE_MAX)
    err = np.sqrt(((x - c * step) ** 2).sum(axis=1))
    return c.astype(np.int8), np.where(np.isnan(x).any(axis=1), np.inf, err)


def lower_bounds(codes, errors, query_codes, query_error, step):
    """The triangle inequality without any rounding slack (so a hair above the kernel's)."""
    f = codes.shape[1]
    if f == 0:
        lb = np.zeros(codes.shape[0])
    else:
        euclid = step * np.sqrt(((codes.astype(np.int64) - query_codes.astype(np.int64)) ** 2).sum(axis=1))
        lb = np.nan_to_num(np.maximum(euclid - errors - query_error, 0.0)) / np.sqrt(f)
    return lb


def nearest_labels(matrix, query, label_codes, top):
    """Brute force: every distance, then the nearest row of each label."""
    d = rms_distances(matrix, query)
    best = {}
    for i in np.lexsort((np.arange(len(d)), d)):
        best.setdefault(int(label_codes[i]), (float(d[i]), int(i)))
    return [(lab, dist, row) for lab, (dist, row) in sorted(best.items(), key=lambda kv: kv[1])][:top]
