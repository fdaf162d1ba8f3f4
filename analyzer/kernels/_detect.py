"""Stateful detector steps shared by the offline analyzer and the live view.

Each detector is a step function over a small float64 state array, so the
live view feeds one sample at a time (O(1) work) and the analyzer runs the
same step over a whole array in a compiled loop: the two cannot disagree.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# ----------------------------------------------------------------- events
# state: [phase, start_i, last_warm_i, peak, peak_i, start_t, last_warm_t]
#   phase 0 quiet, 1 candidate (hot, not yet min_s long), 2 open event
EVENT_STATE = 7
NO_EVENT, OPENED, CLOSED = 0, 1, 2
# slots of the event state, for callers outside the kernels (the live view)
EV_PHASE, EV_START_I, EV_LAST_WARM_I, EV_PEAK, EV_PEAK_I, EV_START_T, EV_LAST_WARM_T = range(EVENT_STATE)
EV_OPEN = 2.0                     # EV_PHASE of an event that has become an anomaly


@njit(cache=True)
def _event_step(state, i, t, score, release, min_s, hold_s):
    """Advance the hysteresis state machine by one sample.

    An event starts at a sample whose score reaches 1, becomes real (OPENED)
    once it has lasted min_s with the score staying above ``release`` (short
    dips, NaN included, are bridged for up to hold_s), and ends (CLOSED)
    when the score has stayed below ``release`` for hold_s; its last warm
    sample is then state[2].  A candidate that cools down before min_s is
    dropped silently."""
    phase = state[0]
    if phase == 0.0:
        if score >= 1.0:
            state[0] = 1.0
            state[1] = i
            state[2] = i
            state[3] = score
            state[4] = i
            state[5] = t
            state[6] = t
        return NO_EVENT
    if score >= release:
        state[2] = i
        state[6] = t
        if score > state[3]:
            state[3] = score
            state[4] = i
        if phase == 1.0 and t - state[5] >= min_s:
            state[0] = 2.0
            return OPENED
        return NO_EVENT
    if t - state[6] < hold_s:
        return NO_EVENT
    state[0] = 0.0
    return CLOSED if phase == 2.0 else NO_EVENT


@njit(cache=True)
def _events(t, score, release, min_s, hold_s):
    """All events of a score series as rows (start_i, end_i inclusive, peak, peak_i)."""
    n = score.shape[0]
    out = np.empty((n, 4))
    k = 0
    state = np.zeros(EVENT_STATE)
    for i in range(n):
        if _event_step(state, i, t[i], score[i], release, min_s, hold_s) == CLOSED:
            out[k, :] = state[1:5]
            k += 1
    if state[0] == 2.0:  # still open when the trace ends
        out[k, :] = state[1:5]
        k += 1
    return out[:k]


# ----------------------------------------------------------------- filters
# exponentially weighted linear trend: state [w, wt, wx, wtt, wtx, t_last, t0]
SLOPE_STATE = 7


@njit(cache=True)
def _slope_step(state, t, x, tau):
    """Trend of x (units per second) over the last ~tau seconds.

    Weighted least squares with weights decaying as exp(-age/tau); times are
    taken relative to the first sample to keep the sums well conditioned.
    NaN samples are skipped (the weights still decay across them)."""
    if state[0] == 0.0 and state[5] == 0.0:
        state[6] = t
        state[5] = t
    u = t - state[6]
    decay = np.exp(-(t - state[5]) / tau)
    state[5] = t
    for k in range(5):
        state[k] *= decay
    if x == x:
        state[0] += 1.0
        state[1] += u
        state[2] += x
        state[3] += u * u
        state[4] += u * x
    w = state[0]
    if w < 3.0:
        return np.nan
    var = state[3] - state[1] * state[1] / w
    if var <= 1e-12 * w:
        return np.nan
    return (state[4] - state[1] * state[2] / w) / var


@njit(cache=True)
def _slope(t, x, tau):
    n = x.shape[0]
    out = np.empty(n)
    state = np.zeros(SLOPE_STATE)
    for i in range(n):
        out[i] = _slope_step(state, t[i], x[i], tau)
    return out


@njit(cache=True)
def _keyed_slope(t, x, new_key, tau):
    """_slope over a long table sorted by (key, time); restarts at each new key."""
    n = x.shape[0]
    out = np.empty(n)
    state = np.zeros(SLOPE_STATE)
    for i in range(n):
        if new_key[i]:
            state[:] = 0.0
        out[i] = _slope_step(state, t[i], x[i], tau)
    return out


# gated baseline: state [weighted sum, weight, t_last, recurring level,
# episode sum, episode samples, episode start]
BASELINE_STATE = 7


@njit(cache=True)
def _baseline_step(state, t, x, tau, keep_below, keep_above, learn_below, min_weight, memory_tau, min_episode_s):
    """Exponentially weighted mean of x over the last ~tau seconds that learns
    a sample x only when keep_below * baseline <= x <= keep_above * baseline,
    or when x < learn_below.

    So the run's normal level is not dragged along by what a rule looks for:
    the stall rule's CPU baseline does not decay because the run stalled
    (keep_below), and the saturation rules' baselines do not rise because a
    burst saturated the disk (keep_above; samples below the saturation level,
    learn_below, are always normal).  The mean is bias-corrected (the sum of
    decayed values over the sum of decayed weights, not an average started
    from zero or from the first sample), so it is the run's level after a few
    samples: a run that hangs 10 s after it started is measured against those
    10 s.  NaN is skipped.

    With ``memory_tau`` > 0, a stretch of unlearned samples (an episode) that
    lasted ``min_episode_s`` or more is remembered by its mean level, decaying
    with ``memory_tau``: a level the run has reached before and come back
    from (a checkpoint every 20 s) is its own, not a surge.

    Returns the baseline as it was before this sample (the larger of the mean
    and the remembered level), NaN until ``min_weight`` samples' worth of
    weight was learned."""
    b = state[0] / state[1] if state[1] > 0.0 and state[1] >= min_weight else np.nan
    recurring = 0.0
    if memory_tau > 0.0 and state[1] > 0.0:
        recurring = state[3] * np.exp(-(t - state[2]) / memory_tau)
    before = b if b != b else max(b, recurring)
    if x != x:
        return before
    if state[1] > 0.0:
        decay = np.exp(-(t - state[2]) / tau)
        m = state[0] / state[1]
        learn = x < learn_below or (x >= keep_below * m and (keep_above == np.inf or x <= keep_above * m))
    else:
        decay, learn = 1.0, True
    if memory_tau > 0.0:
        state[3] = recurring
        if learn:
            if state[5] > 0.0 and t - state[6] >= min_episode_s:
                state[3] = max(state[3], state[4] / state[5])
            state[4] = 0.0
            state[5] = 0.0
        else:
            if state[5] == 0.0:
                state[6] = t
            state[4] += x
            state[5] += 1.0
    state[0] *= decay
    state[1] *= decay
    if learn:
        state[0] += x
        state[1] += 1.0
    state[2] = t
    return before


@njit(cache=True)
def _baseline(t, x, tau, keep_below, keep_above, learn_below, min_weight, memory_tau, min_episode_s):
    n = x.shape[0]
    out = np.empty(n)
    state = np.zeros(BASELINE_STATE)
    for i in range(n):
        out[i] = _baseline_step(state, t[i], x[i], tau, keep_below, keep_above, learn_below, min_weight,
                                memory_tau, min_episode_s)
    return out


# ----------------------------------------------------------------- attribution

@njit(cache=True)
def _argmax_by_key(keys, values, n):
    """For each key in [0, n) (the caller's promise: numba checks no bounds),
    the index of its largest value, the first one on ties; -1 for a key with
    no value.  NaN never wins.  One pass: which
    process grows fastest at each sample, without sorting 500 k rows by it."""
    best = np.full(n, -1, dtype=np.int64)
    for j in range(keys.shape[0]):
        v = values[j]
        if v != v:
            continue
        k = keys[j]
        b = best[k]
        if b < 0 or v > values[b]:
            best[k] = j
    return best
