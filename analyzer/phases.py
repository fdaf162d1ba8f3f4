"""Run reconstruction: cut a run into phases and say what each phase does.

Segmentation
    The PHASE_METRICS are put on one scale and cut by exact PELT
    (analyzer/kernels/_pelt.py) with the Gaussian change-in-mean cost, a
    minimum phase of PHASE_MIN_SECONDS and penalty
    PHASE_PENALTY_SCALE * d * log(n).  Runs longer than PHASE_MAX_POINTS
    samples are searched on blocks of ceil(n / PHASE_MAX_POINTS) samples with
    the same sample-level cost, and each boundary is then refined to the
    sample (a day at 1 Hz: blocks of 3 s); a phase shorter than the minimum
    plus one block may then go unseen.

    Putting dimensions on one scale, per dimension:
      * byte rates (``*_Bps``) become log1p(x / BYTES_KNEE): below ~64 KiB/s
        (background chatter) they stay near 0 and linear, above it ratios
        count, so a 1 GB/s burst is ~10 units, not 10**9.
      * centre on the median, divide by the robust *noise* level
        1.4826 * MAD(diff(x)) / sqrt(2).  Differences cancel the regime
        levels, so this measures the jitter inside a phase (the sigma of the
        cost model) rather than the spread between phases, which the MAD of
        the values would give.  A floor (SCALE_FLOOR_PCT percentage points,
        SCALE_FLOOR_LOG log units) keeps a quiet signal from turning
        sub-percent wobbles into phases.
    Gaps: NaN samples (the first sample, gaps in the trace, a missing
    source) are masked in the prefix sums -- a cost counts the valid
    samples of each dimension only.  Nothing is invented for a gap, and a
    gap has no cost, so it never becomes a phase by itself; it joins the
    following phase (ties go to the earliest change point).

Labels: each phase's bottleneck from its mean profile and memory/swap
trends, by ``analyzer.characterize.classify`` (the classifier of the run's
label too); the phase's name is the short form (compute, memory, io,
network, idle, unknown).
Adjacent phases with the same label are merged.  While there are more than
PHASE_MAX phases, the neighbours whose merge raises the segmentation cost
least are merged (then relabelled, then same labels merged again).
Finally a non-idle first phase that is short (< EDGE_MAX_S or
< EDGE_MAX_FRAC of the run) and shorter than the next phase becomes
``startup``; the last phase likewise becomes ``shutdown``.  The evidence
string keeps the label it had.  A phase's profile holds the mean of every
metric with a valid sample in it.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from analyzer import characterize, config
from analyzer.metrics import unit
from analyzer.kernels._pelt import _cost, _pelt, _prefix_sums, _refine
from paratune_base.errors import ParatuneError

# ---------------------------------------------------------------- scaling
ROBUST_SAMPLE = 100_000
"""Most samples a median of the standardisation looks at (see robust_scale)."""
PHASE_MAX_POINTS = 30_000
"""Longer runs are searched on blocks (see ``segment``): PELT prunes nothing
inside a phase, so its work is n * (phase length) -- quadratic for a run
that never changes.  30k points bound that to well under a second."""

# ---------------------------------------------------------------- labels
LABELS = ("idle", "compute", "io", "network", "memory", "startup", "shutdown", "unknown")


@dataclass
class Phase:
    """Samples [start_i, end_i) of the run; end is the next phase's start
    (the last phase ends one interval after its last sample)."""
    start_i: int
    end_i: int
    start: float
    end: float
    label: str
    profile: dict[str, float] = field(default_factory=dict)
    evidence: str = ""
    bottleneck: str = ""              # the classifier's label; ``label`` is its short name or startup/shutdown

    @property
    def duration_s(self) -> float:
        return self.end - self.start


# ---------------------------------------------------------------- segmentation

def segment(X: np.ndarray, min_size: int, penalty: float, block: int = 1) -> np.ndarray:
    """Change points (sorted sample indices in (0, n)) of the optimal
    penalised Gaussian change-in-mean segmentation of X (n, d); NaN/inf are
    masked, segments are at least min_size samples (none if n < 2*min_size).

    block > 1 searches only block-aligned change points (blocks of ``block``
    samples, the last one up to 2*block-1; the cost is still the exact
    sample-level cost, read from the prefix sums at block edges), then moves
    each to the best sample within +-(block-1).  Exact optimum for block=1."""
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ParatuneError(f"segment: not a numeric array ({e})") from None
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ParatuneError(f"segment: expected an (n, d) array, got shape {X.shape}")
    for name, v in (("min_size", min_size), ("block", block)):
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise ParatuneError(f"segment: {name} must be a positive integer, got {v!r}")
    if not (isinstance(penalty, (int, float, np.number)) and math.isfinite(penalty) and penalty >= 0):
        raise ParatuneError(f"segment: penalty must be finite and >= 0, got {penalty!r}")
    return _search(X, int(min_size), float(penalty), int(block))[0]


def _search(X: np.ndarray, min_size: int, penalty: float, block: int):
    """segment() on checked arguments; also returns the prefix sums (or None)."""
    n = X.shape[0]
    none = np.zeros(0, dtype=np.int64)
    if n == 0 or X.shape[1] == 0:
        return none, None
    sums = _prefix_sums(np.ascontiguousarray(X))
    if n < 2 * min_size:
        return none, sums
    if block == 1:
        return _pelt(*sums, min_size, penalty)[0], sums
    edges = np.r_[np.arange(n // block) * block, n]
    if len(edges) < 3:
        return none, sums
    coarse = tuple(np.ascontiguousarray(a[edges]) for a in sums)
    bcps, _ = _pelt(*coarse, -(-min_size // block), penalty)
    return _refine(*sums, edges[bcps], block, min_size), sums


def block_for(n: int) -> int:
    """Block size that keeps a search at <= PHASE_MAX_POINTS points."""
    return max(1, math.ceil(n / PHASE_MAX_POINTS))


def robust_scale(x: np.ndarray, floor: float) -> float:
    """Noise sigma from consecutive differences (MAD), at least ``floor``.

    Beyond ROBUST_SAMPLE differences an evenly strided subset is used: a
    median needs no more, and a month at 1 Hz would spend seconds here."""
    d = np.diff(x)
    if len(d) > ROBUST_SAMPLE:
        d = d[::-(-len(d) // ROBUST_SAMPLE)]
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return floor
    mad = np.median(np.abs(d - np.median(d)))
    return max(1.4826 * mad / math.sqrt(2.0), floor)


def standardise(metrics: dict[str, np.ndarray], n: int,
                names=None) -> tuple[np.ndarray, list[str]]:
    """The (n, d) matrix PELT cuts, and the metric names of its columns.

    ``names`` defaults to PHASE_METRICS; metrics missing from ``metrics`` or
    with no finite sample are left out."""
    cols, used = [], []
    for name in (config.PHASE_METRICS if names is None else names):
        x = metrics.get(name)
        if x is None:
            continue
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (n,):
            raise ParatuneError(f"metric {name} has shape {x.shape}, expected ({n},)")
        x = np.where(np.isfinite(x), x, np.nan)
        if unit(name) == "B/s":
            with np.errstate(invalid="ignore"):
                x = np.log1p(np.maximum(x, 0.0) / config.BYTES_KNEE)
            floor = config.SCALE_FLOOR_LOG
        else:
            floor = config.SCALE_FLOOR_PCT
        ok = np.isfinite(x)
        if not ok.any():
            continue
        v = x[ok]
        centre = np.median(v[::-(-len(v) // ROBUST_SAMPLE)])
        cols.append((x - centre) / robust_scale(x, floor))
        used.append(name)
    X = np.column_stack(cols) if cols else np.empty((n, 0))
    return X, used


def min_samples(interval_s: float) -> int:
    """PHASE_MIN_SECONDS as a number of samples (at least 1)."""
    return max(1, math.ceil(config.PHASE_MIN_SECONDS / interval_s - 1e-9))


def penalty_for(n: int, d: int) -> float:
    """PELT penalty for n samples of d dimensions (see PHASE_PENALTY_SCALE)."""
    return config.PHASE_PENALTY_SCALE * d * math.log(max(n, 2))


# ---------------------------------------------------------------- labels

def classify(profile: dict[str, float], mem_slope: float = 0.0, swap_slope: float = 0.0,
             duration_s: float = 0.0, explain: bool = True) -> tuple[str, str, str]:
    """(phase name, evidence, bottleneck) of one phase, by the one classifier
    (no evidence with ``explain=False``)."""
    c = characterize.classify(profile, mem_slope, swap_slope, duration_s, explain)
    return characterize.SHORT[c.label], c.evidence[0] if c.evidence else "", c.label


# ---------------------------------------------------------------- assembly

LABEL_METRICS = ("cpu_busy_pct", "cpu_user_pct", "cpu_nice_pct", "cpu_system_pct", "cpu_iowait_pct",
                 "disk_read_Bps", "disk_write_Bps", "disk_util_pct", "net_rx_Bps", "net_tx_Bps",
                 "psi_io_some_pct", "psi_mem_some_pct", "majflt_rate", "swapin_rate", "swapout_rate")
"""What ``classify`` reads; phases carry only these means until the end."""


class _Run:
    """What building phases needs: the metrics, times and the cost sums."""

    def __init__(self, derived, sums, breaks=()):
        self.t = np.asarray(derived.t, dtype=np.float64)
        self.n = len(self.t)
        self.breaks = frozenset(int(b) for b in breaks)   # first samples after a long gap
        self.metrics = {k: v for k, v in derived.metrics.items() if np.shape(v) == (self.n,)}
        self.interval = float(derived.interval_s)
        self.sums = sums
        self._moments: dict[str, np.ndarray] = {}

    def cost(self, a: int, b: int) -> float:
        return 0.0 if self.sums is None else float(_cost(*self.sums, a, b))

    def time(self, i: int) -> float:
        """When sample i's phase starts or, for i = n, when the last one ends."""
        return float(self.t[i]) if i < self.n else float(self.t[-1]) + self.interval

    def end(self, b: int) -> float:
        """When a phase of samples [a, b) ends: at the next sample, unless a long
        gap (or the trace's end) follows, where it ends one interval after its
        last sample, so no phase claims missing time."""
        return float(self.t[b - 1]) + self.interval if b >= self.n or b in self.breaks else float(self.t[b])

    def _moment_sums(self, name: str) -> np.ndarray:
        """Prefix sums of the valid samples' count, t, x, t*t and t*x (t from
        the run's first sample, so the squares stay small)."""
        if name not in self._moments:
            x = np.asarray(self.metrics[name], dtype=np.float64)
            ok = np.isfinite(x)
            t = np.where(ok, self.t - self.t[0], 0.0)
            x = np.where(ok, x, 0.0)
            cols = np.stack([ok.astype(np.float64), t, x, t * t, t * x])
            self._moments[name] = np.concatenate((np.zeros((5, 1)), np.cumsum(cols, axis=1)), axis=1)
        return self._moments[name]

    def slopes_per_min(self, name: str, a, b) -> np.ndarray:
        """Least-squares slopes of a metric over samples [a, b) (arrays of
        bounds), in units per minute; 0 with fewer than 3 valid samples.
        O(1) per segment from prefix sums."""
        a, b = np.asarray(a), np.asarray(b)
        if name not in self.metrics:
            return np.zeros(np.shape(a))
        k, st, sx, stt, stx = self._moment_sums(name)[:, b] - self._moment_sums(name)[:, a]
        with np.errstate(invalid="ignore", divide="ignore"):
            var = stt / k - (st / k) ** 2
            slope = (stx / k - st / k * sx / k) / var * 60.0
        good = (k >= 3) & (var > 1e-9 * np.maximum(stt / np.maximum(k, 1), 1.0))
        return np.where(good, slope, 0.0)

    def slope_per_min(self, name: str, a: int, b: int) -> float:
        """``slopes_per_min`` of one segment, in plain floats (no array overhead)."""
        if name not in self.metrics:
            return 0.0
        m = self._moment_sums(name)
        k, st, sx, stt, stx = (m[:, b] - m[:, a]).tolist()
        if k < 3:
            return 0.0
        var = stt / k - (st / k) ** 2
        if var <= 1e-9 * max(stt / k, 1.0):
            return 0.0
        return (stx / k - st / k * sx / k) / var * 60.0

    def _label_sums(self):
        """Prefix sums of LABEL_METRICS' valid values and of their counts,
        stacked (names, totals (m, n+1), counts (m, n+1)): any segment's
        means in one array operation, which matters when thousands of
        candidate phases are built and merged."""
        if not hasattr(self, "_stacked"):
            names = [k for k in LABEL_METRICS if k in self.metrics]
            x = np.array([self.metrics[k] for k in names], dtype=np.float64).reshape(len(names), self.n)
            ok = np.isfinite(x)
            zero = np.zeros((len(names), 1))
            self._stacked = (names, np.hstack((zero, np.cumsum(np.where(ok, x, 0.0), axis=1))),
                             np.hstack((zero.astype(np.int64), np.cumsum(ok, axis=1))))
        return self._stacked

    def partition_means(self, starts) -> list[dict[str, float]]:
        """Mean of every metric, where it has values, over each part of a
        partition of the run (parts begin at ``starts``, the first at 0, and
        run to the next start or the end): one pass over each metric, where
        prefix sums of all of them would cost several."""
        starts = np.asarray(starts, dtype=np.int64)
        out: list[dict[str, float]] = [{} for _ in starts]
        if not len(starts):
            return out
        empty = np.diff(np.r_[starts, self.n]) <= 0     # reduceat would give such a part its first sample
        for name, x in self.metrics.items():
            x = np.asarray(x, dtype=np.float64)
            ok = np.isfinite(x)
            k = np.where(empty, 0, np.add.reduceat(ok.astype(np.int64), starts))
            total = np.add.reduceat(np.where(ok, x, 0.0), starts)
            for j in np.flatnonzero(k).tolist():
                out[j][name] = float(total[j] / k[j])
        return out

    def profile(self, a: int, b: int) -> dict[str, float]:
        """Mean of each LABEL_METRICS over samples [a, b), where it has values:
        merging calls this thousands of times."""
        names, totals, counts = self._label_sums()
        k = (counts[:, b] - counts[:, a]).tolist()
        total = (totals[:, b] - totals[:, a]).tolist()
        return {name: t / c for name, t, c in zip(names, total, k) if c}

    def phase(self, a: int, b: int) -> Phase:
        """Samples [a, b) as a labelled phase (profile of LABEL_METRICS only, no
        evidence yet); scalar arithmetic: merging calls this thousands of times."""
        profile = self.profile(a, b)
        start, end = self.time(a), self.end(b)
        ms = self.slope_per_min("mem_used_pct", a, b)
        # the swap trend is read only where swap rates are missing (characterize.classify)
        swap_rates = "swapin_rate" in profile or "swapout_rate" in profile
        ss = 0.0 if swap_rates else self.slope_per_min("swap_used_pct", a, b)
        label, evidence, bottleneck = classify(profile, ms, ss, end - start, explain=False)
        return Phase(a, b, start, end, label, profile, evidence, bottleneck)

    def phases(self, bounds: np.ndarray) -> list[Phase]:
        """The labelled phases between consecutive ``bounds``; the segment
        means and trends of all of them at once (thousands of candidates)."""
        bounds = np.asarray(bounds, dtype=np.int64)
        a, b = bounds[:-1], bounds[1:]
        names, totals, counts = self._label_sums()
        k = counts[:, b] - counts[:, a]
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.where(k > 0, (totals[:, b] - totals[:, a]) / np.maximum(k, 1), np.nan).tolist()
        means = dict(zip(names, m))
        ms = self.slopes_per_min("mem_used_pct", a, b).tolist()
        ss = self.slopes_per_min("swap_used_pct", a, b).tolist()
        starts, ends = [self.time(int(i)) for i in a], [self.end(int(i)) for i in b]
        out = []
        for j in range(len(a)):
            profile = {name: v[j] for name, v in means.items() if v[j] == v[j]}
            label, evidence, bottleneck = classify(profile, ms[j], ss[j], ends[j] - starts[j], explain=False)
            out.append(Phase(int(a[j]), int(b[j]), starts[j], ends[j], label, profile, evidence, bottleneck))
        return out


def _merge_same(run: _Run, phases: list[Phase]) -> list[Phase]:
    """Merge each run of neighbours with the same label into one phase; the
    pooled profile can change a label, so repeat until nothing merges."""
    while True:
        out: list[Phase] = []
        i = 0
        while i < len(phases):
            j = i
            while (j + 1 < len(phases) and phases[j + 1].label == phases[i].label
                   and phases[j].end_i not in run.breaks):
                j += 1
            out.append(phases[i] if j == i else run.phase(phases[i].start_i, phases[j].end_i))
            i = j + 1
        if len(out) == len(phases):
            return out
        phases = out


def _cap(run: _Run, phases: list[Phase], limit: int) -> list[Phase]:
    """Merge the neighbours whose union raises the segmentation cost least
    (Ward-like) until at most ``limit`` phases remain; a merged phase that
    takes its neighbour's label is merged with it too.

    The phases are a linked list and the candidate merges a heap keyed by
    (cost rise, start sample), so each merge costs O(log n), not a scan and
    a copy of thousands of candidates (a periodic node-day has ~8,000)."""
    if len(phases) <= limit:
        return list(phases)
    nodes = list(phases)
    n = len(nodes)
    nxt, prv = list(range(1, n + 1)), list(range(-1, n - 1))
    nxt[-1:] = [-1]
    version = [0] * n
    count = n

    def rise(i: int) -> float:
        p, q = nodes[i], nodes[nxt[i]]
        if p.end_i in run.breaks:
            return math.inf               # never across a long gap
        return run.cost(p.start_i, q.end_i) - run.cost(p.start_i, p.end_i) - run.cost(q.start_i, q.end_i)

    def push(i: int) -> None:
        version[i] += 1
        if i >= 0 and nxt[i] >= 0:
            r = rise(i)
            if r < math.inf:
                heapq.heappush(heap, (r, nodes[i].start_i, i, version[i]))

    def merge(i: int) -> None:        # node i absorbs its next
        nonlocal count
        j = nxt[i]
        nodes[i] = run.phase(nodes[i].start_i, nodes[j].end_i)
        nxt[i] = nxt[j]
        if nxt[j] >= 0:
            prv[nxt[j]] = i
        nodes[j], version[j] = None, version[j] + 1
        count -= 1

    def same(i: int) -> bool:          # node i and its next have one label and no gap between
        j = nxt[i]
        return i >= 0 and j >= 0 and nodes[i].label == nodes[j].label and nodes[i].end_i not in run.breaks

    heap: list = []
    for i in range(n - 1):
        r = rise(i)
        if r < math.inf:
            heap.append((r, nodes[i].start_i, i, 0))
    heapq.heapify(heap)
    while count > limit and heap:
        _, _, i, v = heapq.heappop(heap)
        if v != version[i] or nodes[i] is None or nxt[i] < 0:
            continue                      # stale: the node or its neighbour changed since
        merge(i)
        while True:                       # the relabelled phase may match a neighbour
            if same(prv[i]):
                i = prv[i]
                merge(i)
            elif same(i):
                merge(i)
            else:
                break
        if prv[i] >= 0:
            push(prv[i])
        push(i)
    out, i = [], 0
    while i >= 0:
        out.append(nodes[i])
        i = nxt[i]
    return out


def _edges(phases: list[Phase], run_s: float) -> None:
    """Relabel a short, non-idle first/last phase as startup/shutdown."""
    if len(phases) < 2:
        return
    short = max(config.EDGE_MAX_S, config.EDGE_MAX_FRAC * run_s)
    for p, nb, label in ((phases[0], phases[1], "startup"), (phases[-1], phases[-2], "shutdown")):
        if p.label not in ("idle", "unknown") and p.duration_s < short and p.duration_s < nb.duration_s:
            p.evidence = (f"{label}: {p.duration_s:.0f} s < {short:.0f} s, looks like "
                          f"{p.label} ({p.evidence})")
            p.label = label


def find_phases(derived, max_phases: int | None = None) -> list[Phase]:
    """The phases of a run, in time order, covering every sample.

    ``derived`` is an analyzer.derive.Derived (``t``, ``interval_s``,
    ``metrics`` and ``gaps`` are read); ``max_phases`` defaults to PHASE_MAX.
    A step longer than PHASE_GAP_INTERVALS intervals ends a phase: the samples
    on either side are segmented apart, never merged, and the missing time
    belongs to no phase."""
    n = len(derived.t)
    if n == 0:
        return []
    interval = float(derived.interval_s)
    if not (math.isfinite(interval) and interval > 0):
        raise ParatuneError(f"cannot find phases: sampling interval is {derived.interval_s!r}")
    X, used = standardise(derived.metrics, n)
    breaks = sorted({g.after_i + 1 for g in getattr(derived, "gaps", ()) or ()
                     if g.end - g.start > config.PHASE_GAP_INTERVALS * interval and 0 < g.after_i + 1 < n})
    pieces = [0, *breaks, n]
    bounds, sums = [0], None
    for a, b in zip(pieces[:-1], pieces[1:]):
        cps, part = _search(X[a:b], min_samples(interval), penalty_for(b - a, len(used)), block_for(b - a))
        if len(pieces) == 2:
            sums = part
        bounds += [a + int(c) for c in cps] + [b]
    if len(pieces) > 2 and X.shape[1]:
        sums = _prefix_sums(np.ascontiguousarray(X))
    run = _Run(derived, sums, breaks)
    phases = run.phases(np.array(bounds))
    phases = _merge_same(run, phases)
    phases = _cap(run, phases, max(1, int(config.PHASE_MAX if max_phases is None else max_phases)))
    for p in phases:                      # the evidence, once the phases are final
        ms, ss = (run.slope_per_min(k, p.start_i, p.end_i) for k in ("mem_used_pct", "swap_used_pct"))
        p.evidence = classify(p.profile, ms, ss, p.duration_s)[1]
    _edges(phases, run.end(n) - run.time(0))
    for p, profile in zip(phases, run.partition_means([p.start_i for p in phases])):
        p.profile = profile
    return phases
