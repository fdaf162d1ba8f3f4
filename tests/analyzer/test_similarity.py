import numpy as np
import polars as pl
import pytest

from analyzer import config
from analyzer.kernels._nearest import _rms_distances
from analyzer.similarity import Index, Scaler, classify, fisher_select, floors, usable
from tests.naive.similarity import rms_distances


@pytest.mark.parametrize("n, f", [(0, 5), (1, 1), (7, 3), (200, 48), (5, 0)])
def test_rms_distances_match_reference(n, f):
    rng = np.random.default_rng(n + f)
    m = rng.normal(size=(n, f)).astype(np.float32)
    q = rng.normal(size=f).astype(np.float32)
    np.testing.assert_allclose(_rms_distances(m, q), rms_distances(m, q), rtol=1e-6)


def test_scaler_floors_quiet_features_and_clips():
    names = ["net_rx_Bps.mean", "cpu_busy_pct.skew"]
    m = np.array([[0.0, 0.1], [0.0, -0.1], [0.0, 0.0]])
    s = Scaler.fit(m, names)
    assert s.scale[0] == pytest.approx(config.SIMILARITY_FLOOR_FRACTION * config.FINGERPRINT_METRICS["net_rx_Bps"])
    assert s.scale[1] == pytest.approx(config.SIMILARITY_UNIT_FLOORS["skew"])
    z = s.transform(np.array([[1e3, np.nan], [1e12, 100.0]]))
    assert abs(z[0, 0]) < 0.01 and z[0, 1] == 0.0           # 1 kB/s of noise is nothing; NaN is "typical"
    assert z[1, 0] == config.SIMILARITY_CLIP and z[1, 1] == config.SIMILARITY_CLIP


def test_usable_drops_length_dependent_features():
    names = ["run.duration_s", "cpu_busy_pct.slope", "cpu_busy_pct.mean", "run.top1_share"]
    assert [names[i] for i in usable(names)] == ["cpu_busy_pct.mean", "run.top1_share"]
    assert floors(["run.top1_share"])[0] == config.SIMILARITY_UNIT_FLOORS["top1_share"]


def test_fisher_select_prefers_separating_columns():
    rng = np.random.default_rng(0)
    labels = ["a"] * 10 + ["b"] * 10
    z = rng.normal(size=(20, 5))
    z[:10, 3] += 5                        # only column 3 separates a from b
    assert 3 in fisher_select(z, labels, 1)
    assert list(fisher_select(z, ["a"] * 20, 1)) == [0, 1, 2, 3, 4]


def _index(rows, labels, names):
    meta = pl.DataFrame({"id": [f"r{i}" for i in range(len(rows))], "label": labels})
    return Index.build(meta, np.array(rows, dtype=np.float32), names)


def test_classify_names_the_nearest_application_and_rejects_far_runs():
    names = ["cpu_busy_pct.mean", "disk_write_Bps.mean", "net_rx_Bps.mean"]
    rows = [[99, 0, 0], [97, 0, 0], [20, 200e6, 0], [22, 210e6, 0], [10, 0, 900e6], [12, 0, 950e6]]
    idx = _index(rows, ["cpu", "cpu", "io", "io", "net", "net"], names)
    c = classify(idx, np.array([98.0, 1e3, 0.0]), names)
    assert c.label == "cpu" and c.candidates[0]["id"] in ("r0", "r1") and 0 < c.score <= 1
    assert [x["label"] for x in c.candidates][0] == "cpu" and len(c.candidates) == 3
    far = classify(idx, np.array([5.0, 400e6, 2e9]), names)
    assert far.label == "unknown" and far.distance > config.UNKNOWN_DISTANCE


def test_empty_index_is_unknown():
    names = ["cpu_busy_pct.mean"]
    idx = _index([[1.0]], [None], names)
    assert classify(idx, np.array([1.0]), names).label == "unknown"
