"""Every kernel of analyzer/kernels/_stats.py against its plain reference."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from analyzer.fingerprint import FEATURE_NAMES, features_matrix, series_features
from analyzer.kernels import _stats as K
from paratune_base.errors import ParatuneError
from tests.naive import stats as naive

MOMENT_KEYS = ("mean", "std", "min", "max", "skew", "kurtosis", "acf1", "slope", "frac_above")
SLOT = {f: i for i, f in enumerate(FEATURE_NAMES)}
rng = np.random.default_rng(20240601)


def _moments(x, threshold=0.0, interval_s=1.0):
    out = np.full(K.NFEATURES, -12345.0)
    K._moments(np.asarray(x, dtype=np.float64), threshold, interval_s, out)
    return {k: out[SLOT[k]] for k in MOMENT_KEYS}


def _check_moments(x, threshold=0.0, interval_s=1.0, rtol=1e-9):
    got = _moments(x, threshold, interval_s)
    want = naive.moments(x, threshold, interval_s)
    if math.isnan(want["mean"]):
        assert all(math.isnan(v) for v in got.values())
        return got
    size = max(abs(want["max"]), abs(want["min"]))
    spread = want["max"] - want["min"]
    scale = {"mean": size, "min": size, "max": size, "std": spread, "frac_above": 0.0,
             "slope": spread * 3600.0 / interval_s, "skew": 1.0, "kurtosis": 1.0, "acf1": 1.0}
    for k in MOMENT_KEYS:
        g, w = got[k], want[k]
        assert abs(g - w) <= rtol * max(abs(w), scale[k]), (k, g, w)
    return got


def _pct(x, sample_size=0, width=4.0, qs=K.PERCENTILES):
    x = np.asarray(x, dtype=np.float64)
    out = np.full(len(qs), -12345.0)
    K._percentiles(x, np.asarray(qs, dtype=np.float64), np.empty(x.size), out, 0, sample_size, width)
    return out


def _nan_laden(n, frac=0.3):
    x = rng.normal(3.0, 2.0, n)
    x[rng.random(n) < frac] = np.nan
    return x


SERIES = {
    "random": rng.normal(10.0, 3.0, 500),
    "nan-laden": _nan_laden(500),
    "skewed": rng.exponential(5.0, 400),
    "length-2": np.array([1.0, 4.0]),
    "length-3": np.array([1.0, 4.0, 2.0]),
    "gappy pairs": np.array([1.0, np.nan, 2.0, np.nan, 7.0, 8.0, np.nan, 3.0, 1.0]),
    "huge": rng.normal(0.0, 1.0, 300) * 1e300,
    "big offset small spread": 1e12 + rng.normal(0.0, 1e-3, 300),
    "tiny": rng.normal(0.0, 1.0, 300) * 1e-300,
    "integers": rng.integers(0, 4, 300).astype(float),
    "with inf": np.array([1.0, np.inf, 2.0, -np.inf, 5.0, 3.0]),
}


# ---------------------------------------------------------------- moments

@pytest.mark.parametrize("name", SERIES)
def test_moments_match_reference(name):
    _check_moments(SERIES[name], threshold=3.0, interval_s=2.0)


@pytest.mark.parametrize("x", [[], [np.nan] * 5, [np.inf, -np.inf]])
def test_moments_of_nothing_are_nan(x):
    got = _moments(x)
    assert all(math.isnan(v) for v in got.values())


def test_moments_of_one_value_and_constants():
    for x in ([4.5], [4.5] * 7, [np.nan, 4.5, np.nan, 4.5]):
        got = _check_moments(x, threshold=4.0)
        assert got == {"mean": 4.5, "std": 0.0, "min": 4.5, "max": 4.5, "skew": 0.0,
                       "kurtosis": 0.0, "acf1": 0.0, "slope": 0.0, "frac_above": 1.0}


def test_moments_length_two():
    got = _check_moments([1.0, 3.0], threshold=2.0)
    assert got["mean"] == 2.0 and got["std"] == 1.0 and got["frac_above"] == 0.5
    assert got["acf1"] == 0.0  # one pair: no correlation can be estimated
    assert got["skew"] == 0.0 and got["kurtosis"] == -2.0
    assert got["slope"] == pytest.approx(2.0 * 3600)


def test_linear_ramp_slope_is_exact():
    i = np.arange(10_000.0)
    x = 7.0 + 0.25 * i  # 0.25 per sample at 5 s per sample = 180 per hour
    got = _moments(x, interval_s=5.0)
    assert got["slope"] == pytest.approx(180.0, rel=1e-12)
    x[rng.random(x.size) < 0.4] = np.nan
    assert _moments(x, interval_s=5.0)["slope"] == pytest.approx(180.0, rel=1e-12)


def test_moments_are_honest_for_a_large_mean():
    # naive sum-of-squares would lose every digit of this variance
    x = 1e15 + np.tile([0.0, 1.0, 2.0, 3.0], 1000)
    got = _moments(x)
    assert got["std"] == pytest.approx(np.std([0.0, 1.0, 2.0, 3.0]), rel=1e-12)
    assert got["mean"] == 1e15 + 1.5
    assert abs(got["skew"]) < 1e-9


def test_huge_and_subnormal_values_do_not_overflow():
    got = _moments(np.array([1e300, -1e300, 5e299, 0.0]))
    assert all(math.isfinite(v) for v in got.values())
    got = _check_moments(np.array([0.0, 2.2e-311, 1e-311, 3e-312]))
    assert all(math.isfinite(v) for v in got.values())


def test_acf1_of_known_processes():
    x = np.cumsum(rng.normal(size=5000))
    assert _moments(x)["acf1"] > 0.95
    assert _moments(np.tile([1.0, -1.0], 500))["acf1"] == pytest.approx(-1.0)
    assert abs(_moments(rng.normal(size=20_000))["acf1"]) < 0.03


def test_frac_above_with_nan_threshold_is_nan():
    assert math.isnan(_moments([1.0, 2.0], threshold=math.nan)["frac_above"])


finite_floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
maybe_nan = st.one_of(finite_floats, st.just(math.nan))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.integers(0, 80), elements=maybe_nan), st.randoms())
def test_moments_property_reference_and_permutation(x, rnd):
    _check_moments(x, threshold=0.5, rtol=1e-7)
    perm = x.copy()
    rnd.shuffle(perm)
    a, b = _moments(x), _moments(perm)
    for k in ("mean", "std", "min", "max", "skew", "kurtosis", "frac_above"):
        if math.isnan(a[k]):
            assert math.isnan(b[k])
        else:
            assert b[k] == pytest.approx(a[k], rel=1e-8, abs=1e-8 * (1 + abs(a["max"]) + abs(a["min"])))


# ---------------------------------------------------------------- percentiles

@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("sample_size", [0, 16])
def test_percentiles_equal_nanpercentile(name, sample_size):
    x = SERIES[name]
    np.testing.assert_array_equal(_pct(x, sample_size), naive.percentiles(x))


@pytest.mark.parametrize("x", [[], [np.nan], [2.0], [2.0, 1.0], [3.0] * 9])
def test_percentiles_small(x):
    np.testing.assert_array_equal(_pct(x), naive.percentiles(x))


@pytest.mark.parametrize("kind", ["random", "sorted", "reversed", "few values", "mostly zero",
                                  "nan-laden", "organ pipe"])
@pytest.mark.parametrize("width", [4.0, 0.0])  # width 0: brackets miss, so the fallback runs
def test_sampled_percentiles_equal_nanpercentile(kind, width):
    n = 3000
    base = rng.normal(size=n)
    x = {"random": base, "sorted": np.sort(base), "reversed": np.sort(base)[::-1].copy(),
         "few values": np.round(base), "mostly zero": np.where(rng.random(n) < 0.9, 0.0, base),
         "nan-laden": _nan_laden(n, 0.5),
         "organ pipe": np.concatenate([np.arange(n // 2), np.arange(n // 2)[::-1]]).astype(float)}[kind]
    qs = np.array([0.0, 1.0, 5.0, 25.0, 50.0, 50.0, 75.0, 95.0, 99.9, 100.0])
    np.testing.assert_array_equal(_pct(x, sample_size=64, width=width, qs=qs),
                                  naive.percentiles(x, qs))


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(np.float64, st.integers(0, 300), elements=maybe_nan),
       st.lists(st.floats(0, 100), min_size=1, max_size=6).map(sorted),
       st.sampled_from([0, 8]))
def test_percentiles_property(x, qs, sample_size):
    np.testing.assert_array_equal(_pct(x, sample_size, qs=qs), naive.percentiles(x, qs))
    if x.size:
        np.testing.assert_array_equal(_pct(rng.permutation(x), sample_size, qs=qs),
                                      naive.percentiles(x, qs))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 200),
                  elements=st.floats(-50, 50, allow_nan=False).map(round)), st.data())
def test_select_and_order_stats(a, data):
    k = data.draw(st.integers(0, a.size - 1))
    b = a.copy()
    K._select(b, 0, b.size - 1, k)
    assert b[k] == np.sort(a)[k]
    assert (b[:k] <= b[k]).all() and (b[k + 1:] >= b[k]).all()
    assert sorted(b) == sorted(a)
    ranks = np.array(sorted(data.draw(st.lists(st.integers(0, a.size - 1), min_size=1, max_size=8))))
    vals = np.empty(ranks.size)
    b = a.copy()
    K._order_stats(b, b.size, ranks, vals)
    np.testing.assert_array_equal(vals, naive.order_stats(a, a.size, ranks))


def test_select_survives_a_hostile_order():
    # past _SELECT_MAX_ROUNDS it sorts; the answer stays right
    a = np.concatenate([np.arange(2000.0), np.arange(2000.0)])
    for k in (0, 1999, 2000, 3999):
        b = a.copy()
        K._select(b, 0, b.size - 1, k)
        assert b[k] == np.sort(a)[k]


# ---------------------------------------------------------------- spectrum

@pytest.mark.parametrize("seglen,starts", [(64, [0]), (32, [0, 16, 40]), (7, [3])])
def test_segments_match_reference(seglen, starts):
    X = np.stack([_nan_laden(80), rng.normal(size=80), _nan_laden(80)])
    trend = np.array([[3.0, 0.01, 40.0], [0.0, 0.0, 39.5], [-2.0, -0.3, 41.0]])
    rows = np.array([2, 0], dtype=np.int64)
    starts = np.array(starts, dtype=np.int64)
    got = K._segments(X, trend, rows, starts, naive.hann(seglen))
    assert got.shape == (2, starts.size, seglen)
    for j, r in enumerate(rows):
        np.testing.assert_allclose(got[j], naive.segments(X[r], *trend[r], starts, naive.hann(seglen)),
                                   rtol=1e-12, atol=1e-12)


def test_peaks_is_peak_of_the_mean_segment_power():
    n, nseg = 512, 3
    i = np.arange(nseg * n).reshape(nseg, n)
    segs = np.stack([np.sin(2 * np.pi * i / 16) + rng.normal(size=(nseg, n)),
                     rng.normal(size=(nseg, n))])
    spec = np.fft.rfft(segs, axis=2)
    out = np.zeros((5, K.NFEATURES))
    rows = np.array([4, 1], dtype=np.int64)
    K._peaks(spec, n, 1.0, 3600.0, 0.01, 0.02, rows, out)
    for j, r in enumerate(rows):
        power = (np.abs(spec[j]) ** 2).mean(axis=0)
        want = naive.peak(power, n, nseg, 1.0, 3600.0, 0.01, 0.02)
        assert tuple(out[r, [SLOT["period_s"], SLOT["period_strength"]]]) == pytest.approx(want, rel=1e-12)
    assert out[4, SLOT["period_s"]] == pytest.approx(16.0, rel=0.01)
    assert out[1, SLOT["period_s"]] == 0.0
    assert not out[[0, 2, 3]].any()


@pytest.mark.parametrize("p", [0.4, 0.01, 1e-4, 1e-7])
def test_norm_isf(p):
    assert K._norm_isf(p) == pytest.approx(naive.norm_isf(p), abs=1e-9)


@pytest.mark.parametrize("nu", [2.0, 4.0, 19.0, 120.0])
@pytest.mark.parametrize("p", [1e-2, 1e-5])
def test_noise_ratio(nu, p):
    assert K._noise_ratio(nu, p) == pytest.approx(naive.noise_ratio(nu, p), rel=1e-9)
    scipy_stats = pytest.importorskip("scipy.stats")
    exact = scipy_stats.chi2.isf(p, nu) / scipy_stats.chi2.median(nu)
    # Wilson-Hilferty: close, and never below the exact ratio in the far tail,
    # so the approximation can only make a period harder to declare
    assert K._noise_ratio(nu, p) == pytest.approx(exact, rel=0.07)
    assert p > 1e-3 or K._noise_ratio(nu, p) >= exact


def _power(x, seglen, starts, mean=0.0):
    seg = naive.segments(x, mean, 0.0, 0.0, starts, naive.hann(seglen))
    return (np.abs(np.fft.rfft(seg, axis=1)) ** 2).mean(axis=0)


@pytest.mark.parametrize("case", range(12))
def test_peak_matches_reference(case):
    r = np.random.default_rng(case)
    n = int(r.integers(40, 3000))
    i = np.arange(n)
    x = r.normal(size=n) + (case % 3) * np.sin(2 * np.pi * i / r.uniform(3, n / 5))
    nseg = 1 + case % 4
    power = _power(x, n, [0]) * r.uniform(0.5, 2.0) if nseg == 1 else np.abs(r.normal(size=n // 2 + 1))
    args = (n, nseg, float(r.choice([1.0, 10.0])), float(r.choice([60.0, 3600.0])), 0.01, 0.02)
    got = K._peak(power, *args)
    want = naive.peak(power, *args)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_peak_of_no_power():
    assert K._peak(np.zeros(50), 98, 1, 1.0, 3600.0, 0.01, 0.02) == (0.0, 0.0)


# ---------------------------------------------------------------- whole vector

def _check_features(x, interval_s=1.0, threshold=0.0, max_period_s=3600.0):
    got = series_features(x, interval_s, threshold, max_period_s)
    want = naive.series_features(x, interval_s, threshold, max_period_s)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-9, equal_nan=True)
    return dict(zip(FEATURE_NAMES, got))


@pytest.mark.parametrize("name", [n for n in SERIES if n not in ("huge", "tiny", "with inf")])
def test_series_features_match_reference(name):
    _check_features(SERIES[name], interval_s=2.0, threshold=3.0)


def test_series_features_of_nothing_and_constants():
    for x in ([], [np.nan, np.nan]):
        assert np.isnan(series_features(x, 1.0, 1.0)).all()
    f = dict(zip(FEATURE_NAMES, series_features([2.0] * 50, 1.0, 1.0)))
    assert f["std"] == 0 and f["period_s"] == 0 and f["period_strength"] == 0 and f["p50"] == 2.0
    f = dict(zip(FEATURE_NAMES, series_features([2.0], 1.0, 1.0)))
    assert f["std"] == 0 and f["skew"] == 0 and f["acf1"] == 0 and f["slope"] == 0


@pytest.mark.parametrize("period,interval,n", [(60.0, 1.0, 3000), (17.0, 1.0, 400), (300.0, 1.0, 20_000),
                                               (1800.0, 1.0, 100_000), (600.0, 10.0, 2000),
                                               (45.0, 1.0, 70_000)])
def test_sine_period_is_recovered(period, interval, n):
    t = np.arange(n) * interval
    x = 50 + 20 * np.sin(2 * np.pi * t / period + 0.3) + rng.normal(0, 5, n)
    x[rng.random(n) < 0.1] = np.nan
    if n <= 20_000:
        f = _check_features(x, interval)
    else:
        f = dict(zip(FEATURE_NAMES, series_features(x, interval)))
    assert f["period_s"] == pytest.approx(period, rel=0.05)
    assert f["period_strength"] > 0.5


@pytest.mark.parametrize("kind", ["white", "random walk", "step", "ramp"])
def test_no_period_in_aperiodic_series(kind):
    n = 5000
    x = {"white": rng.normal(size=n), "random walk": np.cumsum(rng.normal(size=n)),
         "step": np.where(np.arange(n) > 1700, 80.0, 10.0) + rng.normal(size=n),
         "ramp": np.arange(n) * 0.01 + rng.normal(size=n)}[kind]
    f = _check_features(x)
    assert f["period_s"] == 0 and f["period_strength"] == 0


def test_periods_beyond_max_period_are_not_reported():
    t = np.arange(20_000.0)
    x = np.sin(2 * np.pi * t / 2000)
    assert series_features(x, 1.0, max_period_s=1000.0)[SLOT["period_s"]] == 0.0
    assert series_features(x, 1.0, max_period_s=3600.0)[SLOT["period_s"]] == pytest.approx(2000, rel=0.05)


def test_features_matrix_is_rowwise_series_features():
    X = np.stack([SERIES["random"][:300], _nan_laden(300), np.full(300, np.nan), np.ones(300)])
    th = [10.0, 3.0, 1.0, 0.5]
    F = features_matrix(X, 1.0, th)
    assert F.shape == (4, len(FEATURE_NAMES))
    for r in range(4):
        np.testing.assert_array_equal(F[r], series_features(X[r], 1.0, th[r]))


def test_long_series_use_the_sampled_percentiles_and_welch():
    n = 8 * K.PERCENTILE_SAMPLE + 123
    x = _nan_laden(n, 0.05)
    f = series_features(x, 1.0, 3.0)
    np.testing.assert_array_equal(f[SLOT["p5"]:SLOT["p95"] + 1], np.nanpercentile(x, K.PERCENTILES))


@pytest.mark.parametrize("call", [
    lambda: series_features([1.0, 2.0], 0.0),
    lambda: series_features([1.0, 2.0], "soon"),
    lambda: series_features(np.ones((2, 2)), 1.0),
    lambda: features_matrix(np.ones(3), 1.0, [1.0]),
    lambda: features_matrix(np.ones((2, 3)), 1.0, [1.0]),
    lambda: features_matrix(np.ones((1, 3)), 1.0, [1.0], max_period_s=0.0),
    lambda: series_features(["a", "b"], 1.0),
])
def test_bad_input_is_a_paratune_error(call):
    with pytest.raises(ParatuneError):
        call()


def test_features_matrix_of_no_rows_and_no_samples():
    assert features_matrix(np.empty((0, 50)), 1.0, []).shape == (0, len(FEATURE_NAMES))
    assert np.isnan(features_matrix(np.empty((3, 0)), 1.0, [1.0, 2.0, 3.0])).all()
