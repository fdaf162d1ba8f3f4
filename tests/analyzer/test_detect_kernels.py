"""The detector kernels (analyzer/kernels/_detect.py) against plain-Python
references written from their definitions, over NaN, empty, length-1,
constant and irregularly spaced inputs."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.kernels._detect import _argmax_by_key, _baseline, _events, _keyed_slope, _slope
from tests.naive import detect as naive

T0 = 1.7e9


def _same(got, want, rtol=1e-7):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=rtol, atol=1e-9)


def _series(seed, n, nan_frac=0.1, irregular=True):
    rng = np.random.default_rng(seed)
    steps = rng.choice([1.0, 1.0, 1.0, 2.0, 7.5], n) if irregular else np.ones(n)
    t = T0 + np.cumsum(steps)
    x = 50.0 + 0.3 * (t - T0) + rng.normal(0.0, 5.0, n)
    x[rng.random(n) < nan_frac] = np.nan
    return t, x


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 60, 300])
@pytest.mark.parametrize("nan_frac", [0.0, 0.2, 1.0])
def test_slope_matches_the_weighted_least_squares_definition(n, nan_frac):
    t, x = _series(n, n, nan_frac)
    for tau in (10.0, 120.0):
        _same(_slope(t, x, tau), naive.slope(t, x, tau))


def test_slope_of_a_line_is_its_slope_and_of_a_constant_nan_or_zero():
    t = T0 + np.arange(200.0)
    np.testing.assert_allclose(_slope(t, 3.0 + 0.5 * (t - T0), 60.0)[10:], 0.5, rtol=1e-6)
    flat = _slope(t, np.full(200, 7.0), 60.0)
    assert np.all(np.isnan(flat[:3])) and np.allclose(flat[3:], 0.0, atol=1e-9)


def test_keyed_slope_restarts_at_each_key():
    t1, x1 = _series(1, 80)
    t2, x2 = _series(2, 50)
    t, x = np.r_[t1, t2], np.r_[x1, x2]
    new_key = np.zeros(t.size, dtype=bool)
    new_key[[0, 80]] = True
    _same(_keyed_slope(t, x, new_key, 60.0), naive.keyed_slope(t, x, new_key, 60.0))
    _same(_keyed_slope(t[:0], x[:0], new_key[:0], 60.0), [])


@pytest.mark.parametrize("seed", range(6))
def test_baseline_matches_the_gated_ewma(seed):
    t, x = _series(seed, 400, 0.05)
    x[150:220] *= 0.1                   # a stall: the baseline must not learn it
    x[300:330] *= 20.0                  # a burst: a surge baseline must not learn it
    x[360:366] *= 20.0                  # ... and again: a level it has reached before
    for args in ((60.0, 0.5, math.inf, -math.inf, 3.0, 0.0, 0.0), (300.0, 0.0, math.inf, -math.inf, 0.0, 0.0, 0.0),
                 (10.0, 0.5, math.inf, -math.inf, 5.0, 0.0, 0.0), (30.0, 0.0, 1.5, 5.0, 3.0, 0.0, 0.0),
                 (30.0, 0.0, 1.5, -1.0, 1.0, 0.0, 0.0), (30.0, 0.0, 1.5, 5.0, 3.0, 600.0, 5.0),
                 (30.0, 0.0, 1.5, -1.0, 1.0, 50.0, 0.0), (60.0, 0.0, 1.5, 5.0, 3.0, 600.0, 40.0)):
        _same(_baseline(t, x, *args), naive.baseline(t, x, *args))


def test_baseline_is_the_run_level_soon_after_it_starts():
    """Ten seconds at 100 % after a slow first sample: the baseline is ~100 %,
    not an average still climbing from zero (an early hang must be seen)."""
    t = T0 + np.arange(12, dtype=np.float64)
    x = np.r_[20.0, [100.0] * 9, 0.0, 0.0]
    b = _baseline(t, x, 60.0, 0.5, math.inf, -math.inf, 3.0, 0.0, 0.0)
    assert np.isnan(b[:3]).all()
    assert b[10] > 90.0 and b[11] == b[10]          # the stall is not learned


def test_surge_baseline_does_not_learn_a_burst_but_learns_a_run_that_always_saturates():
    t = T0 + np.arange(40, dtype=np.float64)
    quiet_then_burst = np.r_[[2.0] * 20, [100.0] * 20]
    b = _baseline(t, quiet_then_burst, 60.0, 0.0, 1.5, 90.0, 3.0, 600.0, 5.0)
    assert b[-1] == pytest.approx(2.0)
    always = np.full(40, 100.0)
    assert _baseline(t, always, 60.0, 0.0, 1.5, 90.0, 3.0, 600.0, 5.0)[-1] == pytest.approx(100.0)


def test_surge_baseline_remembers_a_level_the_run_came_back_from():
    """A 6 s burst every 20 s: once the run has come back from one burst, the
    next is its usual level; a 2 s spike shorter than an episode is not."""
    t = T0 + np.arange(100, dtype=np.float64)
    x = np.full(100, 2.0)
    for k in (20, 40, 60):
        x[k:k + 6] = 100.0
    x[80:82] = 100.0
    b = _baseline(t, x, 60.0, 0.0, 1.5, 90.0, 3.0, 600.0, 5.0)
    assert b[20] == pytest.approx(2.0)                 # the first burst is a surge
    assert 90.0 < b[40] <= 100.0 and b[40] > x[40] / 1.5   # the second is not
    spike = np.full(100, 2.0)
    spike[20:22] = 100.0
    spike[60:66] = 100.0
    assert _baseline(t, spike, 60.0, 0.0, 1.5, 90.0, 3.0, 600.0, 5.0)[60] == pytest.approx(2.0)


@pytest.mark.parametrize("x", [[], [5.0], [math.nan, 5.0], [math.nan] * 4, [3.0] * 10, [0.0, 0.0, 50.0, 60.0]])
def test_baseline_edge_inputs(x):
    x = np.array(x, dtype=np.float64)
    t = T0 + np.arange(x.size, dtype=np.float64)
    for args in ((30.0, 0.5, 2.0, 1.0, 1.0, 0.0, 0.0), (30.0, 0.5, math.inf, -math.inf, 1.0, 0.0, 0.0),
                 (30.0, 0.0, 1.5, 1.0, 1.0, 100.0, 1.0)):
        _same(_baseline(t, x, *args), naive.baseline(t, x, *args))


@settings(max_examples=80, deadline=None)
@given(scores=st.lists(st.one_of(st.floats(0.0, 3.0), st.just(math.nan)), max_size=120),
       release=st.sampled_from([0.5, 0.8, 1.0]), min_s=st.sampled_from([0.0, 3.0, 10.0]),
       hold_s=st.sampled_from([0.0, 2.0, 5.0]), seed=st.integers(0, 1000))
def test_events_match_the_state_machine(scores, release, min_s, hold_s, seed):
    score = np.array(scores, dtype=np.float64)
    t, _ = _series(seed, score.size, 0.0)
    got = [tuple(r) for r in _events(t, score, release, min_s, hold_s)]
    want = naive.events(t, score, release, min_s, hold_s)
    assert [(int(a), int(b), p, int(k)) for a, b, p, k in got] == want


def test_events_of_a_plain_burst():
    t = T0 + np.arange(100.0)
    score = np.zeros(100)
    score[20:50] = 2.0
    score[35] = 0.1                     # a short dip is bridged
    (start, end, peak, peak_i), = _events(t, score, 0.5, 10.0, 5.0)
    assert (start, end, peak, peak_i) == (20, 49, 2.0, 20)
    assert _events(t, np.zeros(100), 0.5, 10.0, 5.0).shape == (0, 4)


@settings(max_examples=100, deadline=None)
@given(data=st.lists(st.tuples(st.integers(0, 6), st.one_of(st.floats(-5, 5), st.just(math.nan),
                                                            st.sampled_from([0.0, -0.0, 1.0]))),
                     max_size=60))
def test_argmax_by_key_first_on_ties_nan_never(data):
    keys = np.array([k for k, _ in data], dtype=np.int64)
    values = np.array([v for _, v in data], dtype=np.float64)
    assert _argmax_by_key(keys, values, 7).tolist() == naive.argmax_by_key(keys, values, 7)
