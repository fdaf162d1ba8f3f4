"""`db classify` against 1,000,000 stored fingerprints (target < 100 ms per query).

    .venv/bin/python -m pytest benches/bench_classify.py --benchmark-enable --benchmark-only -q

A million runs of 1,000 applications (clusters in feature space) are written
as the database's similarity index (what `Database.index()` caches under
.index/), then one query = map the cached index + scale the query + distances
to every run + best run per label, i.e. everything `paratune db classify`
does after analysing the trace.  The same distances in plain numpy run side
by side for scale.
"""
import numpy as np
import polars as pl
import pytest

from analyzer import config
from analyzer.fingerprint import feature_names
from analyzer.similarity import Index, Scaler, classify, usable

N = 1_000_000
APPS = 1_000


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    names = list(feature_names())
    use = [names[i] for i in usable(names)]
    rng = np.random.default_rng(0)
    k = config.SIMILARITY_FEATURES
    centres = rng.normal(0, 2, size=(APPS, k)).astype(np.float32)
    app = rng.integers(0, APPS, N)
    z = centres[app] + rng.normal(0, 0.2, size=(N, k)).astype(np.float32)
    scaler = Scaler(use, np.zeros(len(use)), np.ones(len(use)))
    idx = Index(scaler, np.arange(k), np.clip(z, -config.SIMILARITY_CLIP, config.SIMILARITY_CLIP),
                [f"{i:012x}" for i in range(N)], [f"app{a}" for a in app])
    d = tmp_path_factory.mktemp("index")
    idx.save(d, "bench")
    query = np.zeros(len(names))
    pos = {n: i for i, n in enumerate(names)}
    for j, n in enumerate(use[:k]):
        query[pos[n]] = centres[7, j] + 0.1
    return d, names, query


def test_classify_1m(benchmark, stored):
    d, names, query = stored

    def one():
        return classify(Index.load(d, "bench"), query, names)

    c = benchmark.pedantic(one, rounds=15, warmup_rounds=2)
    assert c.label == "app7"


def test_numpy_distances_1m(benchmark, stored):
    d, names, query = stored
    idx = Index.load(d, "bench")
    m = np.asarray(idx.matrix)
    q = np.zeros(m.shape[1], dtype=np.float32)
    benchmark.pedantic(lambda: np.sqrt(((m - q) ** 2).mean(axis=1)), rounds=5, warmup_rounds=1)
