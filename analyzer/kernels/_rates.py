"""Counter -> rate kernels: the one place wraps, resets and gaps are decided."""
from __future__ import annotations

import numpy as np
from numba import njit

TWO32 = np.uint64(2**32)
HALF32 = np.uint64(2**31)
HALF64 = np.uint64(2**63)


@njit(cache=True)
def _delta(prev, cur, modulus):
    """Increase of a uint64 counter from prev to cur, in exact integer
    arithmetic; NaN when it went backwards for a reason other than a wrap
    (a reset: reboot, driver reload)."""
    if cur >= prev:
        return float(cur - prev)
    if modulus > 0.0:  # known width (e.g. RAPL max_energy_range)
        d = modulus - float(prev) + float(cur)
        return d if d >= 0.0 else np.nan
    # auto: a 32-bit counter that wrapped has prev close to 2**32 and cur
    # small; a 64-bit one has prev close to 2**64.  Anything else is a reset.
    if prev < TWO32 and cur < TWO32:
        d = (cur + TWO32) - prev
        return float(d) if d < HALF32 else np.nan
    if prev >= HALF64:
        return float(cur - prev)  # uint64 arithmetic wraps modulo 2**64
    return np.nan


@njit(cache=True)
def _counter_rate(values, valid, dt, step_ok, modulus):
    """Per-second rate of a cumulative counter sampled at rows of a trace.

    values: uint64 raw counter; valid: bool (False for nulls); dt: float64
    seconds since the previous row; step_ok: bool, False where the step from
    the previous row is a gap or crosses a reboot.  out[0] is NaN."""
    n = values.shape[0]
    out = np.full(n, np.nan)
    for i in range(1, n):
        if not (step_ok[i] and valid[i] and valid[i - 1]) or dt[i] <= 0.0:
            continue
        out[i] = _delta(values[i - 1], values[i], modulus) / dt[i]
    return out


@njit(cache=True)
def _keyed_counter_rate(values, valid, order, row, t, same_key, max_step_rows):
    """Rates of counters in a long table (one entry per sample and key).

    ``order`` lists the entries sorted by (key, row); same_key[j] is True when
    entry order[j] has the same key (e.g. pid+starttime) as order[j-1].
    values, valid and row are per entry, in the table's own order, and so is
    the result; t is the time of each row.  A rate needs the previous entry of
    the same key at most max_step_rows rows earlier (1 = the previous
    sample); otherwise NaN.  A counter that goes backwards (pid reuse missed
    by the key) is NaN.  Gathering through ``order`` here, not in numpy,
    saves a copy of every input and of the result per counter."""
    m = values.shape[0]
    out = np.full(m, np.nan)
    for j in range(1, m):
        a = order[j]
        b = order[j - 1]
        if not same_key[j] or not (valid[a] and valid[b]):
            continue
        if row[a] - row[b] > max_step_rows:
            continue
        dt = t[row[a]] - t[row[b]]
        if dt <= 0.0 or values[a] < values[b]:
            continue
        out[a] = float(values[a] - values[b]) / dt
    return out


@njit(cache=True)
def _grid_counter_rate(values, valid, rows, col, n, k, dt, step_ok, modulus):
    """Rates of per-item counters (one per CPU, disk, ...) on an (n, k) grid.

    Item j is column col[j] at trace row rows[j] (rows ascending, one item
    per column and row, 0 <= col < k and rows < n: the caller's promise, numba
    checks no bounds).  Each column is rated as _counter_rate rates a
    column: from the item of the previous row, NaN where either is absent or
    null, or the step is a gap -- without building the (n, k) value grid."""
    out = np.full((n, k), np.nan)
    last_row = np.full(k, -2, dtype=np.int64)
    last_val = np.zeros(k, dtype=np.uint64)
    last_ok = np.zeros(k, dtype=np.bool_)
    for j in range(values.shape[0]):
        c = col[j]
        r = rows[j]
        if valid[j] and last_ok[c] and last_row[c] == r - 1 and step_ok[r] and dt[r] > 0.0:
            out[r, c] = _delta(last_val[c], values[j], modulus) / dt[r]
        last_row[c] = r
        last_val[c] = values[j]
        last_ok[c] = valid[j]
    return out
