"""`db classify` against 1,000,000 stored fingerprints (target < 100 ms per query).

    .venv/bin/python -m pytest benches/bench_classify.py --benchmark-enable --benchmark-only -q

A million runs of 1,000 applications (clusters in feature space, 200
features: SIMILARITY_FEATURES) are written as the database's similarity
index (what `Database.index()` caches under .index/).  One query = map the
cached index + scale the query + nearest runs + best run per label, i.e.
everything `paratune db classify` does after analysing the trace.

Side by side, in the same run: the exact scan classify did before (every
distance in float32, numba), and building + saving the index.  Two queries:
a run of a stored application, and an `unknown` one (no cluster near it,
where the bounds are least decisive).  The index size on disk is printed.
"""
import time

import numpy as np
import pytest

from analyzer import config
from analyzer.fingerprint import feature_names
from analyzer.kernels._nearest import _rms_distances
from analyzer.nearest_search import best_per_label
from analyzer.recognition import Index, Scaler, classify, usable

N = 1_000_000
APPS = 1_000


def _data(seed=0):
    rng = np.random.default_rng(seed)
    k = config.SIMILARITY_FEATURES
    centres = rng.normal(0, 2, size=(APPS, k)).astype(np.float32)
    app = rng.integers(0, APPS, N)
    z = centres[app]
    z += rng.normal(0, 0.2, size=(N, k)).astype(np.float32)
    np.clip(z, -config.SIMILARITY_CLIP, config.SIMILARITY_CLIP, out=z)
    return centres, z, [f"{i:012x}" for i in range(N)], [f"app{a}" for a in app]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    names = list(feature_names())
    use = [names[i] for i in usable(names)]
    k = config.SIMILARITY_FEATURES
    centres, z, ids, labels = _data()
    scaler = Scaler(use, np.zeros(len(use)), np.ones(len(use)))
    d = tmp_path_factory.mktemp("index")
    t0 = time.perf_counter()
    Index.of(scaler, np.arange(k), z, ids, labels).save(d, "bench")
    build_s = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in d.iterdir())
    pos = {n: i for i, n in enumerate(names)}
    known, unknown = np.zeros(len(names)), np.zeros(len(names))
    # beyond every centre (drawn around 0 with sd 2): with a few features a
    # random point of the centres' own spread lands near one of a thousand apps
    far = 8.0 + np.random.default_rng(1).normal(0, 1, size=k)
    for j, n in enumerate(use[:k]):
        known[pos[n]] = centres[7, j] + 0.1
        unknown[pos[n]] = far[j]
    print(f"\nindex of {N:,} runs x {k} features: built and saved in {build_s:.1f} s, "
          f"{size / 1e6:.0f} MB on disk ({z.nbytes / 1e6:.0f} MB of it the float32 matrix)")
    return d, names, {"known": known, "unknown": unknown}


def exact_scan(index, vector, names, top=5):
    """The plain answer: every distance, then the nearest run per label."""
    q = index.scaled(vector, names)
    dist = _rms_distances(index.matrix, q, np.arange(len(index.ids)))
    k = min(len(dist), 1024)
    while True:
        near = np.argpartition(dist, k - 1)[:k] if k < len(dist) else np.arange(len(dist))
        best = best_per_label(dist[near], near, index.label_codes, top)
        if len(best) >= min(top, len(index.label_names)) or k >= len(dist):
            return [(index.label_names[lab], d) for lab, d, _ in best]
        k = min(len(dist), k * 8)


@pytest.mark.parametrize("query", ["known", "unknown"])
def test_classify_1m(benchmark, stored, query):
    d, names, queries = stored

    def one():
        return classify(Index.load(d, "bench"), queries[query], names)

    c = benchmark.pedantic(one, rounds=15, warmup_rounds=2)
    assert c.label == ("app7" if query == "known" else "unknown")
    exact = exact_scan(Index.load(d, "bench"), queries[query], names)
    assert [(x["label"], x["distance"]) for x in c.candidates] == [(lab, round(dd, 4)) for lab, dd in exact]


@pytest.mark.parametrize("query", ["known", "unknown"])
def test_exact_scan_1m(benchmark, stored, query):
    d, names, queries = stored
    benchmark.pedantic(lambda: exact_scan(Index.load(d, "bench"), queries[query], names),
                       rounds=7, warmup_rounds=1)
