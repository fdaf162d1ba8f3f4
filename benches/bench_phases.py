"""Phase segmentation speed.

Target: a day at 1 Hz (n = 86,400) with every PHASE_METRIC, ~20 regimes,
segmented exactly in < 0.5 s (median).  segment-growth: n = 10k / 86.4k / 1M
with regimes of the same length -- PELT is then ~linear, unlike the O(n^2)
optimal partitioning (segment-naive, small n, for contrast).  segment-worst:
long regimes, where PELT degrades to n * (regime length) and the block
search of find_phases keeps it bounded.  segment-parallel: the same kernel
compiled with parallel=True, to see whether threads pay.

    .venv/bin/python -m pytest benches/bench_phases.py --benchmark-enable --benchmark-only -q
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from numba import njit

from analyzer import config
from analyzer.kernels._pelt import _pelt, _prefix_sums
from analyzer.phases import block_for, find_phases, penalty_for, segment, standardise
from tests.naive.pelt import segment_op, synthetic_run

KINDS = ("idle", "compute", "io", "network", "memory")


def day(n: int, mean_regime_s: float = 4320.0, seed: int = 0):
    """A run of n seconds through random regimes of ~mean_regime_s each."""
    rng = np.random.default_rng(seed)
    regimes, left, prev = [], n, None
    while left > 0:
        kind = rng.choice([k for k in KINDS if k != prev])
        secs = int(min(left, max(30, rng.exponential(mean_regime_s))))
        regimes.append((str(kind), secs))
        left -= secs
        prev = kind
    t, m = synthetic_run(regimes, seed=seed)
    return SimpleNamespace(t=t, interval_s=1.0, metrics=m), len(regimes)


_CACHE: dict = {}


def matrix(n: int, mean_regime_s: float = 4320.0):
    key = (n, mean_regime_s)
    if key not in _CACHE:
        d, k = day(n, mean_regime_s)
        X, used = standardise(d.metrics, n)
        assert used == list(config.PHASE_METRICS)
        _CACHE[key] = (d, X, penalty_for(n, X.shape[1]), k)
    return _CACHE[key]


@pytest.mark.benchmark(group="segment-day")
def test_segment_day(benchmark):
    """The target: exact PELT (block=1) over a realistic day, < 0.5 s."""
    _, X, pen, k = matrix(86_400)
    segment(X[:1000], 10, pen)                     # load the compiled kernel outside the timing
    cps = benchmark(segment, X, 10, pen)
    benchmark.extra_info.update(regimes=k, change_points=len(cps))


@pytest.mark.benchmark(group="segment-day")
def test_find_phases_day(benchmark):
    """What analyze pays: standardise, block search (3 s blocks), labels, profiles."""
    d, _, _, k = matrix(86_400)
    ph = benchmark(find_phases, d)
    benchmark.extra_info.update(regimes=k, phases=len(ph), block=block_for(86_400))


@pytest.mark.benchmark(group="segment-growth")
@pytest.mark.parametrize("n", [10_000, 86_400, 1_000_000])
def test_segment_growth_exact(benchmark, n):
    """Exact PELT, regimes of ~72 min whatever n: time grows ~linearly."""
    _, X, pen, k = matrix(n)
    segment(X[:1000], 10, pen)
    cps = benchmark.pedantic(segment, args=(X, 10, pen), rounds=3 if n > 100_000 else 10,
                             warmup_rounds=0)
    benchmark.extra_info.update(regimes=k, change_points=len(cps))


@pytest.mark.benchmark(group="segment-growth")
@pytest.mark.parametrize("n", [10_000, 86_400, 1_000_000])
def test_segment_growth_blocks(benchmark, n):
    """The search find_phases runs (blocks of ceil(n / PHASE_MAX_POINTS))."""
    _, X, pen, k = matrix(n)
    b = block_for(n)
    cps = benchmark.pedantic(segment, args=(X, 10, pen, b), rounds=5, warmup_rounds=1)
    benchmark.extra_info.update(regimes=k, change_points=len(cps), block=b)


def _flat_day():
    if "flat" not in _CACHE:
        t, m = synthetic_run([("compute", 86_400)], seed=1)
        X, _ = standardise(m, 86_400)
        _CACHE["flat"] = (X, penalty_for(86_400, X.shape[1]))
    return _CACHE["flat"]


@pytest.mark.benchmark(group="segment-worst")
@pytest.mark.parametrize("block", [1, 3])
def test_segment_flat_day(benchmark, block):
    """A day that never changes: PELT prunes nothing inside a phase, so the
    exact search is quadratic here; blocks bound it."""
    X, pen = _flat_day()
    benchmark.pedantic(segment, args=(X, 10, pen, block), rounds=3 if block == 1 else 5,
                       warmup_rounds=0)


@pytest.mark.benchmark(group="segment-worst")
@pytest.mark.parametrize("block", [1, 34])
def test_segment_1m_long_regimes(benchmark, block):
    """1M samples in ~20 regimes of ~14 h each."""
    _, X, pen, k = matrix(1_000_000, 50_000.0)
    cps = benchmark.pedantic(segment, args=(X, 10, pen, block), rounds=1 if block == 1 else 5,
                             warmup_rounds=0)
    benchmark.extra_info.update(regimes=k, change_points=len(cps))


@pytest.mark.benchmark(group="segment-naive")
@pytest.mark.parametrize("n", [1_000, 2_000, 4_000])
def test_optimal_partitioning_reference(benchmark, n):
    _, X, _, _ = matrix(86_400)
    X = X[:n]
    pen = penalty_for(n, X.shape[1])
    benchmark.pedantic(segment_op, args=(X, 10, pen), rounds=3, warmup_rounds=0)


# ---------------------------------------------------------------- parallel variant

# the kernel's candidate loops are written with prange (= range when serial);
# the same source compiled with parallel=True splits them over threads
_pelt_parallel = njit(parallel=True, error_model="numpy")(_pelt.py_func)


@pytest.mark.benchmark(group="segment-parallel")
def test_serial_kernel_day(benchmark):
    _, X, pen, _ = matrix(86_400)
    P = _prefix_sums(X)
    benchmark(_pelt, *P, 10, pen)


@pytest.mark.benchmark(group="segment-parallel")
def test_parallel_kernel_day(benchmark):
    _, X, pen, _ = matrix(86_400)
    P = _prefix_sums(X)
    cps, f = _pelt(*P, 10, pen)
    cps_par, f_par = _pelt_parallel(*P, 10, pen)
    np.testing.assert_array_equal(cps_par, cps)
    assert f_par == f
    benchmark(_pelt_parallel, *P, 10, pen)
