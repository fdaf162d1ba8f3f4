"""Plain numpy reference for analyzer/kernels/_nearest.py."""
import numpy as np

__all__ = ["rms_distances"]


def rms_distances(matrix, query):
    if matrix.shape[1] == 0:
        return np.zeros(matrix.shape[0])
    d = matrix.astype(np.float64) - query.astype(np.float64)
    return np.sqrt((d * d).mean(axis=1))
