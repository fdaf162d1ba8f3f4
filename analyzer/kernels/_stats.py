"""Compiled kernels for the per-series features of the fingerprint.

One row of a feature matrix is one metric's series on a regular 1/interval
grid; missing samples are NaN (or any non-finite value).  Everything except
the FFT (numba has none; numpy does it in ``analyzer.fingerprint``) is here:
moments in two passes (three with acf1), percentiles by sampling and
quickselect, the detrended and windowed segments the FFT needs, and the pick
of the dominant spectral peak.

Plain Python callers live in ``analyzer.fingerprint``; the reference for
every kernel is ``tests/naive/stats.py``.  Kernels are serial: a
``parallel=True`` version of ``_stats_matrix`` was no faster on the 2-core
machines and loads slower from the cache (numbers in docs/fingerprint.md).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

FEATURE_NAMES = ("mean", "std", "min", "max", "p5", "p25", "p50", "p75", "p95",
                 "skew", "kurtosis", "acf1", "period_s", "period_strength",
                 "slope", "frac_above")
"""The per-series feature vector, in this order (docs/fingerprint.md)."""

(MEAN, STD, MIN, MAX, P5, P25, P50, P75, P95, SKEW, KURT, ACF1,
 PERIOD_S, PERIOD_STRENGTH, SLOPE, FRAC_ABOVE) = range(len(FEATURE_NAMES))
NFEATURES = len(FEATURE_NAMES)
PERCENTILES = np.array([5.0, 25.0, 50.0, 75.0, 95.0])
"""Percentiles p5..p95, in the slots P5..P95."""

PERCENTILE_SAMPLE = 8192
"""Series of at least 8x this many samples get their percentiles through a
sample of this size (see _percentiles); shorter ones select among all values."""

# spectral peaks: at least this many cycles per segment, and a local noise
# level from this many bins each side (at least _MIN_NEIGHBOURS-1 besides +-1)
_MIN_CYCLES = 4
_NEIGHBOURS = 32
_MIN_NEIGHBOURS = 4

# quickselect gives up and sorts the rest after this many partition rounds, so a
# hostile order costs O(n log n), never O(n^2)
_SELECT_MAX_ROUNDS = 64


# ---------------------------------------------------------------- moments

@njit(cache=True)
def _moments(x, threshold, interval_s, out):
    """Write mean, std, min, max, skew, kurtosis, acf1, slope, frac_above into out.

    Two passes: the first finds count, sum, extremes and the mean; the second
    sums powers of z = (x - mean) / scale with scale = the largest deviation, so
    z is in [-1, 1] (no overflow in z**4 for huge values, no cancellation for a
    large mean with a small spread), and corrects the mean by what rounding
    left in it.  acf1 takes a third pass over the adjacent pairs.  Returns
    (mean, slope per sample, mean index) for the detrending of the spectrum,
    or NaNs for no valid sample.
    """
    n = 0
    total = 0.0
    isum = 0.0
    lo = np.inf
    hi = -np.inf
    above = 0
    for i in range(x.size):
        v = x[i]
        if not math.isfinite(v):
            continue
        n += 1
        total += v
        isum += i
        if v < lo:
            lo = v
        if v > hi:
            hi = v
        if v > threshold:
            above += 1
    nan = np.nan
    if n == 0:
        for k in (MEAN, STD, MIN, MAX, SKEW, KURT, ACF1, SLOPE, FRAC_ABOVE):
            out[k] = nan
        return nan, nan, nan
    mean0 = total / n
    ibar = isum / n
    out[MIN] = lo
    out[MAX] = hi
    out[FRAC_ABOVE] = above / n if threshold == threshold else nan
    if lo == hi:  # constant (and every length-1 series): no spread, no shape
        out[MEAN] = lo
        out[STD] = 0.0
        out[SKEW] = 0.0
        out[KURT] = 0.0
        out[ACF1] = 0.0
        out[SLOPE] = 0.0
        return lo, 0.0, ibar
    scale = max(hi - mean0, mean0 - lo)
    # z = ((x - mean) * pre) * inv; pre lifts a subnormal scale whose inverse
    # would overflow (an exact power of two, so it costs no digits)
    pre = 1.0 if scale > 1e-300 else 2.0 ** 600
    inv = 1.0 / (scale * pre)
    s1 = s2 = s3 = s4 = 0.0
    sti = stt = 0.0
    npairs = 0
    pa = pb = 0.0
    # extremes of each side of the pairs: a side that is exactly constant has
    # no correlation, whatever rounding leaves in its variance
    amin = bmin = np.inf
    amax = bmax = -np.inf
    zprev = 0.0
    prev_ok = False
    for i in range(x.size):
        v = x[i]
        if not math.isfinite(v):
            prev_ok = False
            continue
        z = (v - mean0) * pre * inv
        z2 = z * z
        s1 += z
        s2 += z2
        s3 += z2 * z
        s4 += z2 * z2
        di = i - ibar
        sti += di * z
        stt += di * di
        if prev_ok:
            npairs += 1
            pa += zprev
            pb += z
            amin = min(amin, zprev)
            amax = max(amax, zprev)
            bmin = min(bmin, z)
            bmax = max(bmax, z)
        zprev = z
        prev_ok = True
    c = s1 / n  # rounding left in mean0, in z units
    m2z = s2 / n
    m3z = s3 / n
    m4z = s4 / n
    m2 = m2z - c * c
    m3 = m3z - 3.0 * c * m2z + 2.0 * c * c * c
    m4 = m4z - 4.0 * c * m3z + 6.0 * c * c * m2z - 3.0 * c * c * c * c
    if m2 < 0.0:
        m2 = 0.0
    out[MEAN] = mean0 + c * scale
    out[STD] = math.sqrt(m2) * scale
    if m2 > 0.0:
        out[SKEW] = m3 / (m2 * math.sqrt(m2))
        out[KURT] = m4 / (m2 * m2) - 3.0
    else:
        out[SKEW] = 0.0
        out[KURT] = 0.0
    # acf1: Pearson correlation of (x[i-1], x[i]) over adjacent valid pairs,
    # a third pass centred on the exact pair means (a side with a small spread
    # far from the global mean would lose its digits to shifted sums)
    r = 0.0
    if npairs >= 2 and amin < amax and bmin < bmax:
        ma = pa / npairs
        mb = pb / npairs
        caa = cbb = cab = 0.0
        za = 0.0
        prev_ok = False
        for i in range(x.size):
            v = x[i]
            if not math.isfinite(v):
                prev_ok = False
                continue
            zb = (v - mean0) * pre * inv - mb
            if prev_ok:
                caa += za * za
                cbb += zb * zb
                cab += za * zb
            za = zb + mb - ma
            prev_ok = True
        if caa > 0.0 and cbb > 0.0:
            r = min(1.0, max(-1.0, cab / math.sqrt(caa * cbb)))
    out[ACF1] = r
    b = sti / stt * scale  # x units per sample
    out[SLOPE] = b * 3600.0 / interval_s
    return mean0 + c * scale, b, ibar


# ---------------------------------------------------------------- percentiles

@njit(cache=True)
def _select(a, lo, hi, k):
    """Partially order a[lo..hi] (inclusive) so a[k] is its k-th smallest.

    Quickselect around a median of three, with a branch-free Lomuto partition
    (on random data a comparison branch is mispredicted half the time, which
    made a Hoare partition three times slower), and a second pass that
    gathers values equal to the pivot, so few distinct values cost O(n) too.
    Afterwards a[lo..k-1] <= a[k] <= a[k+1..hi].  Sorts the range outright
    after _SELECT_MAX_ROUNDS rounds, so no input costs O(n^2).
    """
    rounds = 0
    while hi > lo:
        if k == lo or k == hi:  # an extreme: one scan, no partition
            best = lo
            if k == lo:
                for t in range(lo + 1, hi + 1):
                    if a[t] < a[best]:
                        best = t
            else:
                for t in range(lo + 1, hi + 1):
                    if a[t] >= a[best]:
                        best = t
            a[k], a[best] = a[best], a[k]
            return
        rounds += 1
        if rounds > _SELECT_MAX_ROUNDS:
            a[lo:hi + 1].sort()
            return
        mid = (lo + hi) >> 1
        x0 = a[lo]
        x1 = a[mid]
        x2 = a[hi]
        if (x0 <= x1) == (x1 <= x2):  # median x1
            a[mid] = x2
            a[hi] = x1
        elif (x1 <= x0) == (x0 <= x2):  # median x0
            a[lo] = x2
            a[hi] = x0
        pivot = a[hi]
        store = lo  # a[lo:store] < pivot <= a[store:i]
        equal = 0
        for i in range(lo, hi):
            v = a[i]
            a[i] = a[store]
            a[store] = v
            store += v < pivot
            equal += v == pivot
        if k < store:
            hi = store - 1
            continue
        if equal == 0:  # the pivot alone: put it at store
            a[hi] = a[store]
            a[store] = pivot
            if k == store:
                return
            lo = store + 1
            continue
        top = store  # a[store:top] == pivot < a[top:i]
        for i in range(store, hi + 1):
            v = a[i]
            a[i] = a[top]
            a[top] = v
            top += v <= pivot
        if k < top:
            return
        lo = top


@njit(cache=True)
def _order_stats(a, m, ranks, vals):
    """vals[j] = the ranks[j]-th smallest of a[:m], for ascending ranks.

    Divide and conquer: the middle rank is selected first, then the ranks
    below it inside the part below, and so on, so five percentiles cost about
    2.5 passes of quickselect instead of one per rank.  Reorders a[:m].
    """
    nr = ranks.size
    # (lo, hi, first rank, past last rank) of the parts still to do
    stack = np.empty((2 * nr + 2, 4), dtype=np.int64)
    stack[0, 0] = 0
    stack[0, 1] = m - 1
    stack[0, 2] = 0
    stack[0, 3] = nr
    top = 1
    while top > 0:
        top -= 1
        lo = stack[top, 0]
        hi = stack[top, 1]
        rlo = stack[top, 2]
        rhi = stack[top, 3]
        if rlo >= rhi:
            continue
        mid = (rlo + rhi) >> 1
        k = ranks[mid]
        if lo <= k <= hi:
            _select(a, lo, hi, k)
        # equal ranks next to mid are done too
        left = mid
        while left > rlo and ranks[left - 1] == k:
            left -= 1
        right = mid + 1
        while right < rhi and ranks[right] == k:
            right += 1
        stack[top, 0] = lo
        stack[top, 1] = k - 1
        stack[top, 2] = rlo
        stack[top, 3] = left
        stack[top + 1, 0] = k + 1
        stack[top + 1, 1] = hi
        stack[top + 1, 2] = right
        stack[top + 1, 3] = rhi
        top += 2
    for j in range(nr):
        vals[j] = a[ranks[j]]


@njit(cache=True)
def _ranks(n, qs):
    """Ranks numpy's 'linear' method reads for each percentile: (k, k+1) pairs, and
    the weight of the upper one, computed with numpy's own operations."""
    ranks = np.empty(2 * qs.size, dtype=np.int64)
    gamma = np.empty(qs.size)
    for j in range(qs.size):
        virt = (n - 1) * (qs[j] / 100.0)
        if virt >= n - 1:
            k = n - 1
            g = 0.0
        else:
            k = int(math.floor(virt))
            g = virt - k
        ranks[2 * j] = k
        ranks[2 * j + 1] = min(k + 1, n - 1)
        gamma[j] = g
    return ranks, gamma


@njit(cache=True)
def _lerp(vals, gamma, out, first):
    """numpy's two-sided lerp: from below for weights < 0.5, from above otherwise."""
    for j in range(gamma.size):
        a = vals[2 * j]
        b = vals[2 * j + 1]
        g = gamma[j]
        d = b - a
        if g >= 0.5:
            out[first + j] = b - d * (1.0 - g)
        else:
            out[first + j] = a + d * g


@njit(cache=True)
def _percentiles(x, qs, buf, out, first, sample_size, width):
    """Write numpy-'linear' percentiles qs (ascending, in %) of the finite values
    of x into out[first:first+qs.size]; buf (len >= x.size) is scratch.

    Equal bit for bit to np.nanpercentile on the finite values.  With
    sample_size > 0 it first sorts a random sample of that many values, takes
    around each percentile a value bracket of +-width standard deviations of
    its sample rank, and in one pass copies only the values inside brackets
    (about a sixth of them) and counts the rest; the order statistics are then
    selected among the copied values.  If a rank falls outside every bracket
    (chance ~1e-4 for width 4) it starts again with every value.
    """
    nq = qs.size
    vals = np.empty(2 * nq)
    if sample_size > 0 and x.size >= 8 * sample_size:
        # --- a sample, drawn with replacement by the MINSTD generator (fixed
        # seed, so reproducible; no integer overflow, so the same without JIT)
        sample = np.empty(sample_size)
        ns = 0
        state = 20240601
        for _ in range(4 * sample_size):
            state = (state * 48271) % 2147483647
            v = x[state % x.size]
            if math.isfinite(v):
                sample[ns] = v
                ns += 1
                if ns == sample_size:
                    break
        if ns == sample_size:
            sample.sort()
            # --- value brackets [lo, hi], merged until disjoint
            lo = np.empty(nq + 1)
            hi = np.empty(nq)
            nb = 0
            for j in range(nq):
                q = qs[j] / 100.0
                r = q * (ns - 1)
                d = width * math.sqrt(ns * q * (1.0 - q)) + 2.0
                blo = sample[int(r - d)] if r - d >= 0 else -np.inf
                bhi = sample[int(r + d) + 1] if r + d + 1 < ns else np.inf
                while nb > 0 and blo <= hi[nb - 1]:  # overlaps: merge
                    nb -= 1
                    blo = min(blo, lo[nb])
                    bhi = max(bhi, hi[nb])
                lo[nb] = blo
                hi[nb] = bhi
                nb += 1
            # --- one pass: copy what is inside a bracket, count what is between;
            # branch-free, as a mispredicted branch per value would double the cost
            lo[nb] = np.inf  # so that lo[b] exists for values above every bracket
            counts = np.zeros(2 * nb + 2, dtype=np.int64)  # [2b] under bracket b, [2b+1] in it
            m = 0
            for i in range(x.size):
                v = x[i]
                if not math.isfinite(v):
                    continue
                b = 0
                for c in range(nb):
                    b += v > hi[c]
                f = v >= lo[b]
                buf[m] = v
                m += f
                counts[2 * b + f] += 1
            n = counts.sum()
            ranks, gamma = _ranks(n, qs)
            # --- global rank -> rank among the copied values
            ok = True
            for j in range(ranks.size):
                k = ranks[j]
                start = 0  # global rank of bracket b's first value
                skipped = 0  # values outside brackets under bracket b
                found = False
                for b in range(nb):
                    start += counts[2 * b]
                    skipped += counts[2 * b]
                    if start <= k < start + counts[2 * b + 1]:
                        ranks[j] = k - skipped
                        found = True
                        break
                    start += counts[2 * b + 1]
                if not found:
                    ok = False
                    break
            if ok:
                _order_stats(buf, m, ranks, vals)
                _lerp(vals, gamma, out, first)
                return
    # --- every finite value
    n = 0
    for i in range(x.size):
        v = x[i]
        if math.isfinite(v):
            buf[n] = v
            n += 1
    if n == 0:
        for j in range(nq):
            out[first + j] = np.nan
        return
    ranks, gamma = _ranks(n, qs)
    _order_stats(buf, n, ranks, vals)
    _lerp(vals, gamma, out, first)


# ---------------------------------------------------------------- spectrum

@njit(cache=True)
def _segments(X, trend, rows, starts, window):
    """Detrended, windowed segments of the series X[rows] for a Welch periodogram.

    seg[j, s] holds X[rows[j], starts[s] : starts[s]+len(window)] minus the
    row's least-squares line (trend[row] = mean, slope per sample, mean index),
    times the window; missing samples become 0, that is they are filled with
    the fitted line (the mean when there is no trend).
    """
    seglen = window.size
    seg = np.empty((rows.size, starts.size, seglen))
    for j in range(rows.size):
        x = X[rows[j]]
        mean = trend[rows[j], 0]
        b = trend[rows[j], 1]
        ibar = trend[rows[j], 2]
        for s in range(starts.size):
            i0 = starts[s]
            base = mean + b * (i0 - ibar)
            for t in range(seglen):
                v = x[i0 + t]
                if math.isfinite(v):
                    seg[j, s, t] = (v - base - b * t) * window[t]
                else:
                    seg[j, s, t] = 0.0
    return seg


@njit(cache=True)
def _norm_isf(p):
    """z with P(Z > z) = p for a standard normal Z (bisection on erfc)."""
    lo = -40.0
    hi = 40.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if 0.5 * math.erfc(mid / math.sqrt(2.0)) > p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@njit(cache=True)
def _noise_ratio(nu, p):
    """How far above its median a chi-square(nu) value gets with probability p.

    A bin of a Welch spectrum of noise is its background times chi2(nu)/nu;
    nu = 2 for one segment (exactly exponential), otherwise the Wilson-Hilferty
    approximation of the quantile over the same approximation of the median.
    """
    if nu <= 2.0:
        return -math.log(p) / math.log(2.0)
    c = 2.0 / (9.0 * nu)
    z = _norm_isf(p)
    return ((1.0 - c + z * math.sqrt(c)) / (1.0 - c)) ** 3


@njit(cache=True)
def _peak(power, seglen, nseg, interval_s, max_period_s, alpha, min_strength):
    """Pick the dominant period of a one-sided Welch power spectrum.

    power[k] is the mean power of nseg Hann-windowed segments of seglen
    samples at frequency k/(seglen*interval_s).  Candidates are local maxima
    with at least _MIN_CYCLES cycles per segment, a period of at most
    max_period_s and below Nyquist.  A candidate is significant when it
    stands above the median of its neighbours (_NEIGHBOURS bins each side,
    its own +-1 bins left out) by more than noise reaches with probability
    alpha / (number of candidates): the local median, not a white-noise
    level, so the rising low end of red noise, random walks and steps (most
    metrics) is no period.  The strength of a peak is the share of the power
    (DC excluded) in its three bins; a significant peak weaker than
    min_strength is ignored too (such slivers are what noise leaves through
    the test).  The most powerful remaining peak wins; its period comes from
    a Gaussian fit through its three bins.  Returns (period_s, strength),
    (0, 0) when no peak is left.
    """
    nb = power.size
    total = 0.0
    for k in range(1, nb):
        total += power[k]
    if not total > 0.0:
        return 0.0, 0.0
    kmin = max(_MIN_CYCLES, int(math.ceil(seglen * interval_s / max_period_s)))
    kmax = min(nb - 2 - _MIN_NEIGHBOURS, (seglen - 1) // 2)
    if kmax < kmin:
        return 0.0, 0.0
    nu = 2.0 * nseg  # segments barely overlap: independent enough
    limit = _noise_ratio(nu, alpha / (kmax - kmin + 1))
    near = np.empty(2 * _NEIGHBOURS)
    best = -1
    for k in range(kmin, kmax + 1):
        p = power[k]
        if not (p > power[k - 1] and p >= power[k + 1]):
            continue
        if best >= 0 and p <= power[best]:
            continue
        if power[k - 1] + p + power[k + 1] < min_strength * total:
            continue  # too weak: the cheap test first, as noise has thousands of maxima
        w = min(_NEIGHBOURS, k - 1, nb - 1 - k)
        m = 0
        for j in range(k - w, k - 1):
            near[m] = power[j]
            m += 1
        for j in range(k + 2, k + w + 1):
            near[m] = power[j]
            m += 1
        if m < 2 * _MIN_NEIGHBOURS - 2:
            continue
        # median of near[:m] as np.median has it, without its allocation
        h = m >> 1
        _select(near, 0, m - 1, h)
        median = near[h]
        if m % 2 == 0:
            below = near[0]
            for j in range(1, h):
                below = max(below, near[j])
            median = (below + median) / 2.0
        if p > limit * median:
            best = k
    if best < 0:
        return 0.0, 0.0
    a = power[best - 1]
    c = power[best]
    d = power[best + 1]
    delta = 0.0
    if a > 0.0 and d > 0.0:
        la = math.log(a)
        lc = math.log(c)
        ld = math.log(d)
        den = la - 2.0 * lc + ld
        if den < 0.0:
            delta = min(0.5, max(-0.5, 0.5 * (la - ld) / den))
    period = seglen * interval_s / (best + delta)
    return period, min(1.0, (a + c + d) / total)


@njit(cache=True)
def _peaks(spec, seglen, interval_s, max_period_s, alpha, min_strength, rows, out):
    """period_s and period_strength of X[rows] from their segment spectra.

    spec[j, s, k] is the FFT of segment s of row rows[j]; the power of a row
    is the mean of |spec|^2 over its segments (Welch), then _peak.
    """
    nseg = spec.shape[1]
    power = np.empty(spec.shape[2])
    for j in range(rows.size):
        for k in range(spec.shape[2]):
            acc = 0.0
            for s in range(nseg):
                z = spec[j, s, k]
                acc += z.real * z.real + z.imag * z.imag
            power[k] = acc / nseg
        period, strength = _peak(power, seglen, nseg, interval_s, max_period_s, alpha, min_strength)
        out[rows[j], PERIOD_S] = period
        out[rows[j], PERIOD_STRENGTH] = strength


# ---------------------------------------------------------------- batch

@njit(cache=True)
def _stats_matrix(X, thresholds, interval_s, qs, sample_size, out, trend):
    """Every feature but the spectral ones for each row of X.

    out is (m, NFEATURES); trend is (m, 3) and gets (mean, slope per sample,
    mean index) of each row for the detrending before the FFT.  The spectral
    slots get NaN for a row with no value and 0 for a constant one (no power,
    no period); the rows that need a spectrum are returned.
    """
    buf = np.empty(X.shape[1])
    todo = np.empty(X.shape[0], dtype=np.int64)
    ntodo = 0
    for r in range(X.shape[0]):
        row = X[r]
        o = out[r]
        mean, b, ibar = _moments(row, thresholds[r], interval_s, o)
        _percentiles(row, qs, buf, o, P5, sample_size, 4.0)
        trend[r, 0] = mean
        trend[r, 1] = b
        trend[r, 2] = ibar
        if mean != mean:
            o[PERIOD_S] = np.nan
            o[PERIOD_STRENGTH] = np.nan
        elif o[STD] == 0.0:
            o[PERIOD_S] = 0.0
            o[PERIOD_STRENGTH] = 0.0
        else:
            todo[ntodo] = r
            ntodo += 1
    return todo[:ntodo]
