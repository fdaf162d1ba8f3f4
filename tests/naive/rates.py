"""Plain-Python references for analyzer/kernels/_rates.py."""
import math

__all__ = ["delta", "counter_rate", "keyed_counter_rate", "grid_counter_rate"]

TWO32, TWO64 = 2**32, 2**64


def delta(prev: int, cur: int, modulus: float = 0.0) -> float:
    if cur >= prev:
        return float(cur - prev)
    if modulus > 0:
        d = modulus - prev + cur
        return float(d) if d >= 0 else math.nan
    if prev < TWO32 and cur < TWO32:
        d = TWO32 - prev + cur
        return float(d) if d < 2**31 else math.nan
    if prev >= 2**63:
        return float(TWO64 - prev + cur)
    return math.nan


def counter_rate(values, valid, dt, step_ok, modulus=0.0):
    out = [math.nan] * len(values)
    for i in range(1, len(values)):
        if step_ok[i] and valid[i] and valid[i - 1] and dt[i] > 0:
            out[i] = delta(int(values[i - 1]), int(values[i]), modulus) / dt[i]
    return out


def keyed_counter_rate(values, valid, order, row, t, same_key, max_step_rows):
    """Sort the entries by ``order``, rate each against the one before it, put the rates back."""
    out = [math.nan] * len(values)
    for j in range(1, len(values)):
        a, b = order[j], order[j - 1]
        if not (same_key[j] and valid[a] and valid[b]):
            continue
        dt = t[row[a]] - t[row[b]]
        if row[a] - row[b] > max_step_rows or dt <= 0 or values[a] < values[b]:
            continue
        out[a] = float(int(values[a]) - int(values[b])) / dt
    return out


def grid_counter_rate(values, valid, rows, col, n, k, dt, step_ok, modulus=0.0):
    """Fill an (n, k) grid of values (absent = invalid), then counter_rate down each column."""
    grid = [[0] * k for _ in range(n)]
    present = [[False] * k for _ in range(n)]
    for v, ok, r, c in zip(values, valid, rows, col):
        grid[r][c], present[r][c] = int(v), bool(ok)
    cols = [counter_rate([grid[r][c] for r in range(n)], [present[r][c] for r in range(n)], dt, step_ok, modulus)
            for c in range(k)]
    return [[cols[c][r] for c in range(k)] for r in range(n)]
