"""Phase segmentation: the PELT kernel against optimal partitioning, the
standardisation, the label rules and whole synthetic runs with known regimes."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import config, phases
from analyzer.kernels._pelt import _pelt, _prefix_sums
from analyzer.phases import Phase, classify, find_phases, robust_scale, segment, standardise
from paratune_base.errors import ParatuneError
from tests.naive.pelt import (prefix_sums_ref, slope_per_min_ref, segment_blocks_ref, segment_brute, segment_op,
                                segmentation_cost,
                                synthetic_run)


def piecewise(rng, n, d, k, nan_frac=0.0, gap=None):
    """k random levels over n samples plus unit noise; optional NaNs."""
    X = rng.normal(0.0, 1.0, (n, d))
    if n > 1 and k > 1:
        cuts = np.sort(rng.choice(np.arange(1, n), size=min(k - 1, n - 1), replace=False))
        for a, b in zip([0, *cuts], [*cuts, n]):
            X[a:b] += rng.normal(0.0, 4.0, d)
    if nan_frac:
        X[rng.random(X.shape) < nan_frac] = np.nan
    if gap is not None:
        X[gap[0]:gap[1]] = np.nan
    return X


def both(X, min_size, pen):
    """Kernel and reference on the same input: (kernel cps, kernel F, ref cps, ref F)."""
    X = np.asarray(X, dtype=np.float64)
    X2 = X[:, None] if X.ndim == 1 else X
    cps, f = _pelt(*_prefix_sums(np.ascontiguousarray(X2)), min_size, pen)
    rcps, rf = segment_op(X2, min_size, pen)
    return cps, f, rcps, rf


def assert_same(X, min_size, pen):
    cps, f, rcps, rf = both(X, min_size, pen)
    np.testing.assert_array_equal(cps, rcps)
    assert f == rf or abs(f - rf) <= 1e-9 * (1 + abs(rf))     # inf == inf when n < min_size
    return cps


# ---------------------------------------------------------------- kernel == reference

@pytest.mark.parametrize("seed", range(12))
def test_kernel_equals_optimal_partitioning(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    X = piecewise(rng, n, int(rng.integers(1, 5)), int(rng.integers(1, 8)))
    for min_size in (1, 3, 10):
        for pen in (0.0, 2.0, 15.0, 60.0):
            assert_same(X, min_size, pen)


@pytest.mark.parametrize("seed", range(8))
def test_kernel_equals_reference_with_nans(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(40, 300))
    a = int(rng.integers(0, n - 20))
    X = piecewise(rng, n, 3, 5, nan_frac=0.15, gap=(a, a + int(rng.integers(1, 40))))
    X[0] = np.nan                      # the first sample of a rate
    for min_size in (1, 5, 10):
        assert_same(X, min_size, 3 * 3 * math.log(n))


def test_prefix_sums_equal_reference():
    X = piecewise(np.random.default_rng(7), 300, 4, 6, nan_frac=0.1)
    X[3, 1] = np.inf
    X[10:20] = np.nan
    S1, S2, N, Q, FULL, MIXED = _prefix_sums(X)
    for got, want in zip((S1, S2, N), prefix_sums_ref(X)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(Q, S2.sum(axis=1), rtol=1e-12)
    ok = np.isfinite(X)
    np.testing.assert_array_equal(FULL, np.r_[0, np.cumsum(ok.all(axis=1))])
    np.testing.assert_array_equal(MIXED, np.r_[0, np.cumsum(ok.any(axis=1) & ~ok.all(axis=1))])


def test_reference_is_optimal_by_brute_force():
    rng = np.random.default_rng(3)
    for trial in range(25):
        n = int(rng.integers(2, 11))
        min_size = int(rng.integers(1, 4))
        X = piecewise(rng, n, 2, 3, nan_frac=0.2 if trial % 2 else 0.0)
        if n < min_size:
            continue
        cps, f = segment_op(X, min_size, 2.0)
        best, _ = segment_brute(X, min_size, 2.0)
        assert f == pytest.approx(best, abs=1e-9)
        assert segmentation_cost(X, cps, 2.0) == pytest.approx(f, abs=1e-9)


def test_empty_and_length_one():
    for n in (0, 1):
        X = np.ones((n, 3))
        cps = assert_same(X, 1, 5.0)
        assert len(cps) == 0
        assert len(segment(X, 1, 5.0)) == 0
        assert len(segment(X, 10, 5.0)) == 0


def test_constant_signal_is_one_segment():
    X = np.full((500, 3), 42.0)
    assert len(assert_same(X, 5, 1.0)) == 0
    assert len(segment(X, 1, 0.0)) == 0             # zero penalty: every cut ties, earliest (none) wins
    assert len(segment(X, 1, 1e-6)) == 0


def test_all_nan_is_one_segment():
    X = np.full((200, 2), np.nan)
    assert len(assert_same(X, 5, 10.0)) == 0
    assert len(segment(X, 5, 10.0)) == 0


def test_min_size_larger_than_signal():
    X = piecewise(np.random.default_rng(1), 30, 2, 3)
    assert len(assert_same(X, 31, 1.0)) == 0       # n < min_size: no admissible segmentation
    assert len(assert_same(X, 16, 1.0)) == 0       # n < 2 * min_size: no admissible cut
    assert len(segment(X, 31, 1.0)) == 0
    cps = assert_same(X, 15, 0.0)                  # exactly two segments possible
    assert list(cps) in ([], [15])


def test_clear_step_is_found_exactly():
    X = np.r_[np.zeros(100), np.full(100, 5.0)] + np.random.default_rng(0).normal(0, 0.1, 200)
    assert list(segment(X, 10, 20.0)) == [100]


def test_gap_joins_the_following_segment():
    """A NaN stretch costs nothing, so any cut inside it ties; the earliest wins."""
    X = np.r_[np.zeros(50), np.full(20, np.nan), np.full(50, 8.0)]
    assert list(assert_same(X, 5, 10.0)) == [50]


def test_inf_is_masked_like_nan():
    X = piecewise(np.random.default_rng(5), 200, 2, 4)
    Y = X.copy()
    X[[3, 70, 150], 0] = np.nan
    Y[[3, 70, 150], 0] = [np.inf, -np.inf, np.nan]
    np.testing.assert_array_equal(segment(X, 5, 20.0), segment(Y, 5, 20.0))


def test_large_magnitudes_stay_exact():
    """Byte counts at 1e9 scale must not break pruning (rounding guard)."""
    rng = np.random.default_rng(9)
    X = piecewise(rng, 300, 2, 5) * 1e4 + 1e9
    assert_same(X, 5, 1e8)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 160), d=st.integers(1, 3), min_size=st.integers(1, 20),
       pen=st.floats(0.0, 80.0), seed=st.integers(0, 2**31), nan_frac=st.sampled_from([0.0, 0.1, 0.5]))
def test_change_points_are_valid_and_optimal(n, d, min_size, pen, seed, nan_frac):
    rng = np.random.default_rng(seed)
    X = piecewise(rng, n, d, int(rng.integers(1, 6)), nan_frac=nan_frac)
    cps = segment(X, min_size, pen)
    assert cps.dtype == np.int64
    assert np.all(np.diff(cps) > 0)                         # sorted, unique
    assert np.all((cps > 0) & (cps < n))
    if len(cps):
        assert np.diff(np.r_[0, cps, n]).min() >= min_size
    # optimal: as cheap as optimal partitioning.  Half-NaN rows make exact ties
    # (a segment whose dimensions hold one valid value each costs nothing), and
    # pruning may keep another of the tied optima than the O(n^2) search: the
    # positions are compared exactly in the tests above, on inputs without such ties
    rcps, _ = segment_op(X, min_size, pen)
    got, best = segmentation_cost(X, cps, pen), segmentation_cost(X, rcps, pen)
    assert abs(got - best) <= 1e-9 * (1.0 + abs(best))
    if nan_frac == 0.0:
        np.testing.assert_array_equal(cps, rcps)


def test_segment_rejects_bad_arguments():
    with pytest.raises(ParatuneError):
        segment(np.zeros((2, 2, 2)), 1, 1.0)
    with pytest.raises(ParatuneError):
        segment(np.zeros((10, 2)), 0, 1.0)
    with pytest.raises(ParatuneError):
        segment(np.zeros((10, 2)), 2, -1.0)
    with pytest.raises(ParatuneError):
        segment(np.zeros((10, 2)), 2, math.nan)


# ---------------------------------------------------------------- standardisation

def test_robust_scale_measures_noise_not_regime_spread():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 2, 1000), rng.normal(100, 2, 1000), rng.normal(30, 2, 1000)]
    assert robust_scale(x, 0.1) == pytest.approx(2.0, rel=0.1)
    assert robust_scale(np.full(100, 3.0), 0.5) == 0.5         # constant -> floor
    assert robust_scale(np.full(100, np.nan), 0.5) == 0.5


def test_standardise_logs_byte_rates_and_skips_missing():
    n = 400
    rng = np.random.default_rng(1)
    m = {"cpu_user_pct": np.r_[rng.normal(5, 2, 200), rng.normal(90, 2, 200)],
         "net_rx_Bps": np.r_[rng.lognormal(np.log(1e5), 0.3, 200), rng.lognormal(np.log(1e9), 0.3, 200)],
         "disk_read_Bps": np.full(n, np.nan)}
    X, used = standardise(m, n)
    assert used == ["cpu_user_pct", "net_rx_Bps"]
    # the 10^4-fold burst is a step of ~ log(10^4)/0.3/sqrt(2)*... units, not 10^9
    step = np.nanmedian(X[200:, 1]) - np.nanmedian(X[:200, 1])
    assert 10 < step < 100
    assert np.isfinite(X).all()


def test_standardise_checks_lengths():
    with pytest.raises(ParatuneError):
        standardise({"cpu_user_pct": np.zeros(5)}, 6)


# ---------------------------------------------------------------- labels

def test_label_rules():
    idle = {"cpu_busy_pct": 2.0, "cpu_user_pct": 1.0, "disk_write_Bps": 1e4, "net_rx_Bps": 1e3}
    assert classify(idle)[0] == "idle"
    compute = {"cpu_busy_pct": 95.0, "cpu_user_pct": 92.0, "cpu_system_pct": 3.0}
    assert classify(compute)[0] == "compute"
    io = {"cpu_busy_pct": 20.0, "cpu_user_pct": 5.0, "cpu_iowait_pct": 40.0}
    assert classify(io)[0] == "io"
    assert classify({**compute, "disk_util_pct": 90.0})[0] == "io"
    assert classify({**compute, "disk_write_Bps": 200e6})[0] == "io"
    comm = {"cpu_busy_pct": 60.0, "cpu_user_pct": 40.0, "net_rx_Bps": 4e8, "net_tx_Bps": 4e8}
    assert classify(comm)[0] == "network"
    # halo exchange at 20 MB/s under full CPU is still compute
    assert classify({**compute, "net_rx_Bps": 1e7, "net_tx_Bps": 1e7})[0] == "compute"
    mem = {**io, "psi_mem_some_pct": 30.0}          # paging before io
    assert classify(mem)[0] == "memory"
    assert classify({**compute, "majflt_rate": 500.0})[0] == "memory"
    assert classify({**compute, "swapout_rate": 5000.0})[0] == "memory"
    assert classify(compute, mem_slope=20.0, duration_s=60.0)[0] == "memory"
    assert classify(compute, mem_slope=20.0, duration_s=10.0)[0] == "compute"   # +3 pp only
    assert classify(compute, swap_slope=-3.0)[0] == "memory"
    kernel = {"cpu_busy_pct": 80.0, "cpu_user_pct": 10.0, "cpu_system_pct": 70.0}
    assert classify(kernel)[0] == "compute" and "system 70%" in classify(kernel)[1]
    assert classify({"mem_used_pct": 50.0})[0] == "unknown"
    assert classify({"cpu_user_pct": 50.0, "cpu_system_pct": 2.0})[0] == "compute"   # no busy column


def test_every_label_has_evidence():
    label, ev, bottleneck = classify({"cpu_busy_pct": 20.0, "cpu_user_pct": 5.0, "cpu_iowait_pct": 40.0})
    assert bottleneck == "io-bound"
    assert "iowait 40.0%" in ev


# ---------------------------------------------------------------- whole runs

def run_of(regimes, seed=0, **kw):
    t, m = synthetic_run(regimes, seed=seed)
    return SimpleNamespace(t=t, interval_s=1.0, metrics=m, **kw)


def check_cover(ph, n):
    assert ph[0].start_i == 0 and ph[-1].end_i == n
    for p, q in zip(ph[:-1], ph[1:]):
        assert p.end_i == q.start_i and p.end == q.start and p.label != q.label
    for p in ph:
        assert p.end_i - p.start_i >= min(n, config.PHASE_MIN_SECONDS)
        assert p.label in phases.LABELS and p.evidence


@pytest.mark.parametrize("seed", range(6))
def test_known_regimes_are_recovered(seed):
    regimes = [("idle", 60), ("compute", 200), ("io", 100), ("idle", 30)]
    d = run_of(regimes, seed)
    ph = find_phases(d)
    check_cover(ph, 390)
    assert [p.label for p in ph] == ["idle", "compute", "io", "idle"]
    for p, want in zip(ph[1:], (60, 260, 360)):
        assert abs(p.start_i - want) <= 3
    assert ph[1].start == d.t[ph[1].start_i]
    assert ph[-1].end == d.t[-1] + 1.0
    assert ph[1].profile["cpu_user_pct"] == pytest.approx(93, abs=2)


def test_every_regime_kind_and_startup_shutdown():
    regimes = [("startup", 30), ("compute", 300), ("network", 120), ("compute", 300),
               ("memory", 60), ("compute", 200), ("io", 40)]
    ph = find_phases(run_of(regimes, seed=1))
    check_cover(ph, 1050)
    assert [p.label for p in ph] == ["startup", "compute", "network", "compute", "memory",
                                     "compute", "shutdown"]
    assert "looks like io" in ph[0].evidence and "looks like io" in ph[-1].evidence
    bounds = [p.start_i for p in ph[1:]]
    np.testing.assert_allclose(bounds, [30, 330, 450, 750, 810, 1010], atol=3)


def test_long_first_phase_is_not_startup():
    ph = find_phases(run_of([("io", 200), ("compute", 300)]))
    assert [p.label for p in ph] == ["io", "compute"]


def test_gaps_do_not_break_phases():
    """A block of NaN rows (lost samples) and a time jump with one NaN row, as derive makes."""
    d = run_of([("idle", 60), ("compute", 200), ("io", 100), ("idle", 30)], seed=2)
    for k, v in d.metrics.items():
        if k != "mem_used_pct":
            v[100:130] = np.nan                 # 30 s of missing rates inside compute
            v[300] = np.nan                     # a one-row gap inside io
    d.t[300:] += 120.0                          # ... where the clock jumped 2 minutes
    ph = find_phases(d)
    assert [p.label for p in ph] == ["idle", "compute", "io", "idle"]
    np.testing.assert_allclose([p.start_i for p in ph[1:]], [60, 260, 360], atol=3)
    assert ph[2].duration_s == pytest.approx(100 + 120)


def test_gap_at_a_boundary_goes_to_the_next_phase():
    d = run_of([("compute", 100), ("idle", 100)], seed=3)
    for v in d.metrics.values():
        v[90:110] = np.nan
    ph = find_phases(d)
    assert [p.label for p in ph] == ["compute", "idle"]
    assert 88 <= ph[1].start_i <= 92


def test_degenerate_runs():
    empty = SimpleNamespace(t=np.zeros(0), interval_s=1.0, metrics={"cpu_user_pct": np.zeros(0)})
    assert find_phases(empty) == []
    one = SimpleNamespace(t=np.array([5.0]), interval_s=1.0,
                          metrics={"cpu_busy_pct": np.array([np.nan]), "cpu_user_pct": np.array([np.nan])})
    ph = find_phases(one)
    assert len(ph) == 1 and ph[0].label == "unknown" and ph[0].end == 6.0
    short = run_of([("compute", 7)])
    ph = find_phases(short)
    assert [(p.start_i, p.end_i, p.label) for p in ph] == [(0, 7, "compute")]


def test_constant_run_is_one_phase():
    n = 1000
    m = {k: np.full(n, v) for k, v in (("cpu_user_pct", 50.0), ("cpu_busy_pct", 52.0),
                                        ("cpu_system_pct", 2.0), ("mem_used_pct", 30.0),
                                        ("net_rx_Bps", 0.0), ("disk_write_Bps", 1e3))}
    ph = find_phases(SimpleNamespace(t=np.arange(n, dtype=float), interval_s=1.0, metrics=m))
    assert [(p.start_i, p.end_i, p.label) for p in ph] == [(0, n, "compute")]


def test_all_nan_run_is_one_unknown_phase():
    n = 300
    m = {k: np.full(n, np.nan) for k in config.PHASE_METRICS}
    ph = find_phases(SimpleNamespace(t=np.arange(n, dtype=float), interval_s=1.0, metrics=m))
    assert [(p.start_i, p.end_i, p.label) for p in ph] == [(0, n, "unknown")]
    assert ph[0].profile == {}


def test_no_phase_metric_at_all():
    n = 100
    m = {"procs_running": np.ones(n)}
    ph = find_phases(SimpleNamespace(t=np.arange(n, dtype=float), interval_s=1.0, metrics=m))
    assert len(ph) == 1 and ph[0].label == "unknown"


def test_min_phase_follows_the_interval():
    """At 5 s sampling PHASE_MIN_SECONDS is 2 samples, not 10."""
    assert phases.min_samples(1.0) == math.ceil(config.PHASE_MIN_SECONDS)
    assert phases.min_samples(5.0) == math.ceil(config.PHASE_MIN_SECONDS / 5.0)
    assert phases.min_samples(60.0) == 1
    d = run_of([("idle", 40), ("compute", 40), ("idle", 40)])
    d.t = d.t[0] + np.arange(len(d.t)) * 5.0
    d.interval_s = 5.0
    ph = find_phases(d)
    assert [p.label for p in ph] == ["idle", "compute", "idle"]
    assert ph[1].duration_s == pytest.approx(200.0)


def test_cap_merges_the_most_similar_neighbours():
    regimes = [("idle", 60), ("compute", 200), ("network", 60), ("compute", 200), ("idle", 60)]
    d = run_of(regimes, seed=4)
    full = find_phases(d)
    assert [p.label for p in full] == ["idle", "compute", "network", "compute", "idle"]
    capped = find_phases(d, max_phases=3)
    check_cover(capped, 580)
    assert len(capped) <= 3
    # merging removes cuts, never invents one
    assert {p.start_i for p in capped} <= {p.start_i for p in full}
    one = find_phases(d, max_phases=1)
    assert len(one) == 1 and (one[0].start_i, one[0].end_i) == (0, 580)


def test_bad_interval_is_a_clear_error():
    d = run_of([("idle", 30)])
    d.interval_s = 0.0
    with pytest.raises(ParatuneError, match="interval"):
        find_phases(d)


def test_phase_is_plain_data():
    p = Phase(0, 10, 100.0, 110.0, "idle", {"cpu_busy_pct": 1.0}, "quiet")
    assert p.duration_s == 10.0


def test_niced_work_is_compute():
    niced = {"cpu_busy_pct": 95.0, "cpu_user_pct": 2.0, "cpu_nice_pct": 90.0, "cpu_system_pct": 3.0}
    assert classify(niced)[0] == "compute"


def test_many_regimes_are_capped_at_phase_max():
    kinds = ["compute", "network", "io", "idle"]
    regimes = [(kinds[i % 4], 30) for i in range(4 * 30)]      # 120 regimes
    d = run_of(regimes, seed=5)
    full = find_phases(d, max_phases=10_000)
    assert len(full) > config.PHASE_MAX
    capped = find_phases(d)
    assert len(capped) <= config.PHASE_MAX
    check_cover(capped, 3600)


def test_segment_rejects_non_numbers():
    with pytest.raises(ParatuneError):
        segment(np.array([["a", "b"]]), 1, 1.0)
    with pytest.raises(ParatuneError):
        segment(np.zeros((10, 1)), 2.5, 1.0)
    with pytest.raises(ParatuneError):
        segment(np.zeros((10, 1)), 2, None)


# ---------------------------------------------------------------- block search (long runs)

@pytest.mark.parametrize("seed", range(10))
def test_block_search_equals_reference(seed):
    rng = np.random.default_rng(500 + seed)
    n = int(rng.integers(50, 600))
    X = piecewise(rng, n, int(rng.integers(1, 9)), int(rng.integers(1, 8)),
                  nan_frac=0.1 if seed % 2 else 0.0)
    if seed % 3 == 0:
        X[20:45] = np.nan
    for block in (2, 3, 7):
        for min_size in (1, 5, 10):
            pen = 3 * X.shape[1] * math.log(n)
            np.testing.assert_array_equal(segment(X, min_size, pen, block),
                                          segment_blocks_ref(X, min_size, pen, block))


def test_block_search_finds_steps_to_the_sample():
    rng = np.random.default_rng(11)
    X = rng.normal(0, 1, (3000, 4))
    for a, b, lv in ((0, 1001, 0.0), (1001, 1777, 6.0), (1777, 3000, -3.0)):
        X[a:b] += lv
    assert list(segment(X, 10, 3 * 4 * math.log(3000), 25)) == [1001, 1777]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 300), min_size=st.integers(1, 15), block=st.integers(1, 12),
       seed=st.integers(0, 2**31))
def test_block_change_points_are_valid(n, min_size, block, seed):
    rng = np.random.default_rng(seed)
    X = piecewise(rng, n, 2, int(rng.integers(1, 8)), nan_frac=0.1)
    cps = segment(X, min_size, 5.0, block)
    assert np.all(np.diff(cps) > 0) and np.all((cps > 0) & (cps < n))
    if len(cps):
        assert np.diff(np.r_[0, cps, n]).min() >= min_size


def test_long_runs_use_blocks():
    assert phases.block_for(86_400) == math.ceil(86_400 / phases.PHASE_MAX_POINTS)
    assert phases.block_for(1000) == 1


# ---------------------------------------------------------------- recorded traces

TRACES = Path(__file__).resolve().parents[2] / "sample_traces"


@pytest.mark.parametrize("name, label", [("fio-randrw", "io"), ("stress-cpu", "compute"),
                                         ("lammps-clean", "compute"), ("stress-vm", "compute")])
def test_recorded_runs(name, label):
    """The longest phase of a real recording is what the workload did."""
    path = TRACES / f"{name}.arrow"
    if not path.exists():
        pytest.skip(f"{path} not recorded")
    from analyzer.derive import derive
    from analyzer.load import load
    trace = load([path])[0]
    d = derive(trace.table, trace.metadata)
    ph = find_phases(d)
    check_cover(ph, d.n)
    assert max(ph, key=lambda p: p.duration_s).label == label


@pytest.mark.parametrize("seed", range(4))
def test_phase_trend_from_prefix_sums_equals_least_squares(seed):
    rng = np.random.default_rng(seed)
    n = 5000
    t = 1.7e9 + np.arange(n, dtype=np.float64) + np.sort(rng.uniform(0, 0.2, n))
    x = 40 + 0.01 * np.arange(n) + rng.normal(0, 2, n)
    x[rng.random(n) < 0.1] = np.nan
    x[2000:2100] = np.nan
    run = phases._Run(SimpleNamespace(t=t, metrics={"m": x}, interval_s=1.0), None)
    for a, b in [(0, n), (0, 1), (0, 2), (0, 3), (2000, 2100), (1990, 2102), (4990, 5000)] + [
            tuple(sorted(rng.integers(0, n + 1, 2))) for _ in range(50)]:
        assert run.slope_per_min("m", a, b) == pytest.approx(slope_per_min_ref(t[a:b], x[a:b]),
                                                             rel=1e-6, abs=1e-6), (a, b)
    assert run.slope_per_min("absent", 0, n) == 0.0


@pytest.mark.parametrize("seed", range(4))
def test_partition_means_equal_each_parts_nanmean(seed):
    """The final phases' profiles: every metric's mean over each part, its NaNs
    left out, a part with no value (all NaN, or empty) without the metric."""
    rng = np.random.default_rng(seed)
    n = 3000
    x = rng.lognormal(20, 2, n)                 # byte rates of a day: large, uneven
    x[rng.random(n) < 0.2] = np.nan
    x[100:400] = np.nan
    y = np.full(n, np.nan)
    y[-1] = 7.0
    run = phases._Run(SimpleNamespace(t=np.arange(n, dtype=np.float64), metrics={"x": x, "y": y},
                                      interval_s=1.0), None)
    starts = [0, 1, 100, 400, 400, *sorted(rng.choice(np.arange(401, n - 1), 20, replace=False)), n - 1]
    got = run.partition_means(starts)
    ends = starts[1:] + [n]
    for part, a, b in zip(got, starts, ends):
        for name, v in (("x", x), ("y", y)):
            seg = v[a:b][np.isfinite(v[a:b])]
            if seg.size:
                assert part[name] == pytest.approx(seg.mean(), rel=1e-12), (name, a, b)
            else:
                assert name not in part, (name, a, b)
    assert run.partition_means([]) == []


def test_a_long_gap_ends_a_phase_and_belongs_to_no_phase():
    """A host that stopped recording for nine days: the samples either side are
    phases of their own, even with the same label, and no phase spans the gap."""
    from analyzer.derive import Gap
    t, m = synthetic_run([("compute", 300), ("compute", 300)], seed=3)
    t = t.copy()
    t[300:] += 9 * 86400.0
    d = SimpleNamespace(t=t, interval_s=1.0, metrics=m, gaps=[Gap(299, float(t[299]), float(t[300]))])
    ph = find_phases(d)
    assert [p.label for p in ph] == ["compute", "compute"]
    assert ph[0].end == t[299] + 1.0 and ph[1].start == t[300]
    assert sum(p.duration_s for p in ph) == 600.0
    short = SimpleNamespace(t=np.r_[t[:300], t[300:] - 9 * 86400.0 + 2.0], interval_s=1.0, metrics=m,
                            gaps=[Gap(299, float(t[299]), float(t[299]) + 3.0)])
    assert len(find_phases(short)) == 1          # a two-second hiccup is not a break


@pytest.mark.parametrize("seed", range(4))
def test_cap_matches_the_merge_by_full_scan(seed, monkeypatch):
    from analyzer import phases as P
    from tests.naive.phases import cap
    kinds = ["compute", "network", "io", "idle"]
    rng = np.random.default_rng(seed)
    d = run_of([(kinds[k], int(n)) for k, n in zip(rng.integers(0, 4, 40), rng.integers(12, 60, 40))], seed=seed)
    for limit in (1, 2, 7, 25):
        fast = [(p.start_i, p.end_i, p.label) for p in find_phases(d, max_phases=limit)]
        monkeypatch.setattr(P, "_cap", cap)
        slow = [(p.start_i, p.end_i, p.label) for p in find_phases(d, max_phases=limit)]
        monkeypatch.undo()
        assert fast == slow
