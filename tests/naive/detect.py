"""Plain-Python references for analyzer/kernels/_detect.py, written from the
definitions in its docstrings (sums over the whole past, not running state)."""
import math

import numpy as np

__all__ = ["slope", "keyed_slope", "baseline", "events", "argmax_by_key"]


def slope(t, x, tau):
    """Exponentially weighted least-squares trend of the valid samples up to each i."""
    out = []
    for i in range(len(x)):
        ok = [j for j in range(i + 1) if x[j] == x[j]]
        w = np.array([math.exp(-(t[i] - t[j]) / tau) for j in ok])
        u = np.array([t[j] - t[0] for j in ok])
        v = np.array([x[j] for j in ok])
        sw = w.sum()
        if sw < 3.0:
            out.append(math.nan)
            continue
        var = (w * u * u).sum() - (w * u).sum() ** 2 / sw
        if var <= 1e-12 * sw:
            out.append(math.nan)
            continue
        out.append(((w * u * v).sum() - (w * u).sum() * (w * v).sum() / sw) / var)
    return out


def keyed_slope(t, x, new_key, tau):
    out, start = [], 0
    for i in range(len(x) + 1):
        if i == len(x) or (i > start and new_key[i]):
            out += slope(t[start:i], x[start:i], tau)
            start = i
    return out


def baseline(t, x, tau, keep_below, keep_above, learn_below, min_weight, memory_tau=0.0, min_episode_s=0.0):
    """The baseline before each sample: sum(w_k x_k) / sum(w_k) over the learned
    samples k, w_k = exp(-(t - t_k) / tau) at the time of the last valid sample;
    a sample is learned when it is below learn_below or between keep_below and
    keep_above x the baseline before it (the first always is).  NaN until the
    weights reach min_weight.  With memory_tau > 0, the larger of that and
    max over past episodes e (stretches of unlearned samples, from the first
    to the next learned sample at t_e, lasting >= min_episode_s) of
    mean(e) * exp(-(t - t_e) / memory_tau)."""
    out, learned, last = [], [], None
    episodes, current = [], []          # (t_end, mean); current episode's (t, x)
    for ti, xi in zip(t, x):
        if learned:
            w = [math.exp(-(last - tk) / tau) for tk, _ in learned]
            total = sum(w)
            value = sum(wk * xk for wk, (_, xk) in zip(w, learned)) / total
        else:
            total, value = 0.0, math.nan
        b = value if total > 0 and total >= min_weight else math.nan
        if memory_tau > 0 and b == b:
            b = max([b] + [m * math.exp(-(ti - te) / memory_tau) for te, m in episodes])
        out.append(b)
        if xi != xi:
            continue
        if not learned or xi < learn_below or (keep_below * value <= xi
                                               and (keep_above == math.inf or xi <= keep_above * value)):
            learned.append((ti, xi))
            if current and ti - current[0][0] >= min_episode_s:
                episodes.append((ti, sum(v for _, v in current) / len(current)))
            current = []
        else:
            current.append((ti, xi))
        last = ti
    return out


def events(t, score, release, min_s, hold_s):
    """(start_i, end_i, peak, peak_i) of each event, per the _event_step docstring."""
    out, cur, state = [], None, "quiet"
    for i, (ti, s) in enumerate(zip(t, score)):
        if state == "quiet":
            if s >= 1.0:
                cur = {"start": i, "warm": i, "t0": ti, "tw": ti, "peak": s, "peak_i": i}
                state = "candidate"
            continue
        if s >= release:
            cur["warm"], cur["tw"] = i, ti
            if s > cur["peak"]:
                cur["peak"], cur["peak_i"] = s, i
            if state == "candidate" and ti - cur["t0"] >= min_s:
                state = "open"
            continue
        if ti - cur["tw"] >= hold_s:
            if state == "open":
                out.append((cur["start"], cur["warm"], cur["peak"], cur["peak_i"]))
            state = "quiet"
    if state == "open":
        out.append((cur["start"], cur["warm"], cur["peak"], cur["peak_i"]))
    return out


def argmax_by_key(keys, values, n):
    best = [-1] * n
    for k in range(n):
        idx = [j for j in range(len(keys)) if keys[j] == k and values[j] == values[j]]
        if idx:
            top = max(values[j] for j in idx)
            best[k] = next(j for j in idx if values[j] == top)
    return best
