"""The run-characteristic fingerprint: a fixed, named feature vector of a run.

Two runs of the same code on the same kind of node should give close
fingerprints, whatever the host or job id, so the names carry neither.  Every
feature is defined in docs/fingerprint.md; bump ``FINGERPRINT_VERSION`` in
``analyzer.config`` when a definition changes.

The numeric work is in ``analyzer.kernels._stats`` (numba) except the FFT,
which numpy does here; this module validates, lays the series on a regular
grid, calls the kernels and assembles the result.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow.compute as pc

from analyzer import behaviour, config
from analyzer.kernels._stats import (FEATURE_NAMES, NFEATURES, PERCENTILE_SAMPLE, PERCENTILES,
                                     _peaks, _segments, _stats_matrix)
from paratune_base.errors import ParatuneError

__all__ = ["FEATURE_NAMES", "RUN_FEATURES", "Fingerprint", "feature_names",
           "features_matrix", "fingerprint", "series_features"]

# Candidates for analyzer/config.py (asked of the lead); kept here until then.
SPECTRUM_CHUNK = 1 << 22
"""Samples per FFT call (32 MiB of float64): bounds the memory of a batch."""
GRID_CHUNK = 1 << 25
"""Grid points (256 MiB of float64) per features_matrix call of fingerprint()."""

RUN_FEATURES = ("run.duration_s", "run.samples", "run.gap_fraction", "run.nprocs_mean",
                "run.top1_share", "run.top3_share", "run.distinct_comms")


# ---------------------------------------------------------------- series features

@functools.lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    """The periodic Hann window (cached: Welch segments all share one length)."""
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    w.flags.writeable = False
    return w


def _welch_layout(n: int, interval_s: float, max_period_s: float) -> tuple[int, np.ndarray]:
    """Segment length and starts of the Welch periodogram of an n-sample series.

    Up to two segment lengths the whole series is one segment; longer series
    are cut into segments of seg_max samples (config.SEGMENT_PERIODS of the longest
    period), spread evenly from end to end with as little overlap as covers
    it: the cost grows as n log(seg_max), and the average over segments
    steadies the noise level a peak is tested against.
    """
    seg_max = 1 << max(3, math.ceil(math.log2(config.SEGMENT_PERIODS * max_period_s / interval_s)))
    if n <= 2 * seg_max:
        return n, np.zeros(1, dtype=np.int64)
    return seg_max, np.rint(np.linspace(0, n - seg_max, -(-n // seg_max))).astype(np.int64)


def _spectra(X: np.ndarray, trend: np.ndarray, rows: np.ndarray, interval: float,
             max_period_s: float, out: np.ndarray) -> None:
    """Fill period_s and period_strength of X[rows], a few rows per FFT call."""
    seglen, starts = _welch_layout(X.shape[1], interval, max_period_s)
    window = _hann(seglen)
    chunk = max(1, SPECTRUM_CHUNK // (starts.size * seglen))
    for c in range(0, rows.size, chunk):
        part = rows[c:c + chunk]
        spec = np.fft.rfft(_segments(X, trend, part, starts, window), axis=2)
        _peaks(spec, seglen, interval, max_period_s, config.PERIOD_ALPHA, config.PERIOD_MIN_STRENGTH, part, out)


def _check_interval(interval_s) -> float:
    try:
        interval = float(interval_s)
    except (TypeError, ValueError):
        raise ParatuneError(f"sampling interval must be a number of seconds, not {interval_s!r}") from None
    if not (math.isfinite(interval) and interval > 0):
        raise ParatuneError(f"sampling interval must be a positive number of seconds, not {interval_s!r}")
    return interval


def features_matrix(X, interval_s: float, thresholds,
                    max_period_s: float = config.MAX_PERIOD_S) -> np.ndarray:
    """Features of every row of X (m series x n samples on a 1/interval grid).

    Returns an (m, len(FEATURE_NAMES)) float64 array; thresholds[r] is the
    frac_above threshold of row r.  One kernel call does the statistics of all
    rows; the spectra go through numpy's FFT a batch of rows at a time.
    """
    interval = _check_interval(interval_s)
    try:
        X = np.asarray(X, dtype=np.float64)
        th = np.ascontiguousarray(np.asarray(thresholds, dtype=np.float64).reshape(-1))
        mp = float(max_period_s)
    except (TypeError, ValueError) as exc:
        raise ParatuneError(f"series, thresholds and periods must be numbers ({exc})") from None
    if X.ndim != 2:
        raise ParatuneError(f"features_matrix needs a 2-D array (metrics x samples), got {X.ndim}-D")
    X = np.ascontiguousarray(X)
    if th.size != X.shape[0]:
        raise ParatuneError(f"{th.size} thresholds for {X.shape[0]} series")
    if not (math.isfinite(mp) and mp > 0):
        raise ParatuneError(f"longest period must be a positive number of seconds, not {max_period_s!r}")
    out = np.empty((X.shape[0], NFEATURES))
    trend = np.empty((X.shape[0], 3))
    rows = _stats_matrix(X, th, interval, PERCENTILES, PERCENTILE_SAMPLE, out, trend)
    if rows.size:
        _spectra(X, trend, rows, interval, mp, out)
    return out


def series_features(x, interval_s: float, threshold: float = np.nan,
                    max_period_s: float = config.MAX_PERIOD_S) -> np.ndarray:
    """Features of one series, in FEATURE_NAMES order (see features_matrix)."""
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParatuneError(f"a series must be numbers ({exc})") from None
    if x.ndim != 1:
        raise ParatuneError(f"series_features needs a 1-D series, got {x.ndim}-D")
    return features_matrix(x.reshape(1, -1), interval_s, [threshold], max_period_s)[0]


# ---------------------------------------------------------------- fingerprint

def feature_names(metrics=None) -> tuple[str, ...]:
    """The canonical order of Fingerprint.vector(): metric features, then run features."""
    metrics = config.FINGERPRINT_METRICS if metrics is None else metrics
    return tuple(f"{m}.{f}" for m in metrics for f in FEATURE_NAMES) + RUN_FEATURES + behaviour.FEATURES


@dataclass(frozen=True)
class Fingerprint:
    """A run's features by name, and the commands that used its CPU time."""
    version: int
    features: dict[str, float]
    processes: list[dict] = field(default_factory=list)

    def vector(self, names=None) -> np.ndarray:
        """The features in the order of names (default feature_names()); unknown names give NaN."""
        names = feature_names() if names is None else names
        return np.array([self.features.get(n, np.nan) for n in names], dtype=np.float64)

    def to_dict(self) -> dict:
        """A JSON-able dict; NaN and infinities become None."""
        return {"version": self.version,
                "features": {k: _json_float(v) for k, v in self.features.items()},
                "processes": [{k: _json_float(v) if isinstance(v, float) else v
                               for k, v in p.items()} for p in self.processes]}


def _json_float(v):
    v = float(v)
    return v if math.isfinite(v) else None


def _grid_steps(t: np.ndarray, interval: float, gaps) -> np.ndarray:
    """Grid steps between consecutive samples on a regular 1/interval grid.

    A step counts as one interval unless the trace marks it as a gap; a gap
    counts as its rounded wall-clock length (at least one step).  Without a
    gap list, every step counts as its rounded wall-clock length.
    """
    if t.size < 2:
        return np.zeros(0)
    with np.errstate(invalid="ignore"):
        steps = np.rint(np.diff(t) / interval)
    steps = np.maximum(np.nan_to_num(steps, nan=1.0, posinf=1.0, neginf=1.0), 1.0)
    if gaps is not None:
        is_gap = np.zeros(t.size - 1, dtype=bool)
        after = np.array([g.after_i for g in gaps], dtype=np.int64)
        is_gap[after[(after >= 0) & (after < t.size - 1)]] = True
        steps[~is_gap] = 1.0
    return steps


def _job_window(procs: pl.DataFrame, job, n: int) -> tuple[int, int, pl.DataFrame]:
    """Sample range [lo, hi) in which the job had processes, and its process rows."""
    if job is None:
        return 0, n, procs
    if "job" in procs.columns:
        mine = procs.filter(pl.col("job").cast(pl.String) == str(job))
    else:
        mine = procs.clear()
    if mine.height == 0:
        raise ParatuneError(f"job {job} has no processes in this trace")
    return int(mine["i"].min()), int(mine["i"].max()) + 1, mine


def _process_features(procs: pl.DataFrame, interval: float, samples: int) -> tuple[dict, list[dict]]:
    """Run features from the processes, and the top commands by CPU time.

    cpu_pct is a per-process share of one CPU (100 = one core busy), so a
    sample contributes cpu_pct/100 * interval CPU seconds.
    """
    feats = {"run.nprocs_mean": procs.height / samples if samples else math.nan}
    if procs.height == 0:
        feats.update({"run.top1_share": math.nan, "run.top3_share": math.nan,
                      "run.distinct_comms": 0.0})
        return feats, []
    # summed with numpy in row order: a parallel group_by sum adds in an order
    # that varies between runs, and the fingerprint must be the same every time
    # codes from Arrow's hash dictionary, not np.unique: sorting 500 k Python
    # strings per node-day took 0.25 s; the order of the codes does not matter
    encoded = pc.dictionary_encode(procs["comm"].fill_null("?").to_arrow())
    comms = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    code = encoded.indices.to_numpy(zero_copy_only=False)
    cpu = procs["cpu_pct"].cast(pl.Float64).to_numpy()
    sums = np.bincount(code, weights=np.where(np.isfinite(cpu), cpu, 0.0) / 100.0 * interval,
                       minlength=len(comms))
    by_comm = (pl.DataFrame({"comm": comms.tolist(), "cpu_s": sums})
               .sort(["cpu_s", "comm"], descending=[True, False]))
    cpu_s = by_comm["cpu_s"].to_numpy().astype(np.float64)
    total = float(cpu_s.sum())
    share = cpu_s / total if total > 0 else np.full(cpu_s.size, np.nan)
    feats["run.top1_share"] = float(share[0])
    feats["run.top3_share"] = float(share[:3].sum())
    feats["run.distinct_comms"] = float(by_comm.height)
    top = [{"comm": c, "share": float(s), "cpu_s": float(v)}
           for c, s, v in zip(by_comm["comm"].to_list()[:config.TOP_PROCESSES], share[:config.TOP_PROCESSES],
                              cpu_s[:config.TOP_PROCESSES])]
    return feats, top


def fingerprint(derived, job=None, run=None) -> Fingerprint:
    """The fingerprint of a derived trace, or of one job's part of it.

    With job, the node metrics are taken from the first to the last sample in
    which the job had a process, and the process features from its processes
    only.  A metric of FINGERPRINT_METRICS that the trace lacks gets NaN features.
    ``run``: the run (analyzer.signals.identify_run), when the caller has it;
    the behaviour features describe its steady state.
    """
    interval = _check_interval(derived.interval_s)
    t = np.asarray(derived.t, dtype=np.float64)
    n = t.size
    if n == 0:
        raise ParatuneError("the trace has no samples to fingerprint")
    lo, hi, procs = _job_window(derived.procs, job, n)
    if lo > 0 or hi < n:  # keep the job's samples and its processes' rows
        procs = procs.filter((pl.col("i") >= lo) & (pl.col("i") < hi))
    steps = _grid_steps(t, interval, getattr(derived, "gaps", None))[lo:hi - 1]
    # grid points from the first to the last sample, gaps at their full length
    expected = float(steps.sum()) + 1.0
    pos = np.zeros(hi - lo, dtype=np.int64)
    np.cumsum(np.minimum(steps, max(1.0, config.GAP_FILL_MAX_S / interval)).astype(np.int64), out=pos[1:])
    grid = int(pos[-1]) + 1

    names = list(config.FINGERPRINT_METRICS)
    present = [m for m in names if m in derived.metrics]
    for m in present:
        if np.shape(derived.metrics[m]) != (n,):
            raise ParatuneError(f"metric {m} has {np.size(derived.metrics[m])} values for {n} samples")
    rows: dict[str, np.ndarray] = {}
    per_call = max(1, GRID_CHUNK // grid)  # metrics per call: bounds the grid's memory
    for c in range(0, len(present), per_call):
        part = present[c:c + per_call]
        X = np.full((len(part), grid), np.nan)
        for r, m in enumerate(part):
            X[r, pos] = np.asarray(derived.metrics[m], dtype=np.float64)[lo:hi]
        F = features_matrix(X, interval, [config.FINGERPRINT_METRICS[m] for m in part])
        rows.update(zip(part, F))
    feats: dict[str, float] = {}
    for m in names:
        vec = rows.get(m)
        for j, f in enumerate(FEATURE_NAMES):
            feats[f"{m}.{f}"] = float(vec[j]) if vec is not None else math.nan

    samples = hi - lo
    # a grid point with a finite value in any derived metric is observed
    observed = np.zeros(grid, dtype=bool)
    for values in derived.metrics.values():
        v = np.asarray(values, dtype=np.float64)
        if v.shape == (n,):
            observed[pos[np.isfinite(v[lo:hi])]] = True
    if not derived.metrics:
        observed[pos] = True
    feats["run.duration_s"] = float(t[hi - 1] - t[lo])
    feats["run.samples"] = float(samples)
    feats["run.gap_fraction"] = float(min(1.0, max(0.0, 1.0 - observed.sum() / expected)))
    proc_feats, top = _process_features(procs, interval, samples)
    feats.update(proc_feats)
    feats.update(_behaviour(derived, job, run))
    return Fingerprint(version=config.FINGERPRINT_VERSION, features=feats, processes=top)


def _behaviour(derived, job, run) -> dict[str, float]:
    from analyzer.signals import identify_run, run_signals
    if not {"i", "pid", "ppid", "comm", "cpu_pct", "rss"} <= set(derived.procs.columns):
        return dict.fromkeys(behaviour.FEATURES, math.nan)     # no process table to find the run in
    if run is None:
        run = identify_run(derived.procs, job, getattr(derived, "proc_order", None))
    if run.comm is None:
        return dict.fromkeys(behaviour.FEATURES, math.nan)
    sig, _ = run_signals(derived.procs, derived.n, run)
    sums = behaviour.run_sums(derived.procs, derived.n, run.mask())
    return behaviour.features(derived.metrics, sig["run_cpu"], sig["run_nprocs"], sums, float(derived.interval_s))
