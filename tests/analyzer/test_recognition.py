import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import config
from analyzer.kernels._nearest import _lower_bounds, _quantize, _rms_distances
from analyzer.nearest_search import nearest_labels, step
from analyzer.behaviour import COMPARED, LOG_SCALE
from analyzer.recognition import (INDEX_FORMAT, Index, Scaler, classify, fisher_select, floors, label_radii,
                                 threshold_of, usable)
from tests.naive import nearest as naive

TRACES = Path(__file__).resolve().parents[2] / "sample_traces"


def _rows(n, f, seed, nan=False):
    rng = np.random.default_rng(seed)
    m = rng.normal(0, 3, size=(n, f)).astype(np.float32)
    if nan and m.size:
        m[0, 0] = np.nan
        m[-1, -1] = 50.0                      # beyond the code range: clamped, larger error
    return m


SHAPES = [(0, 5), (1, 1), (7, 3), (200, 48), (5, 0)]


def _bounds(codes, err, q, kernel=_lower_bounds):
    qc, qe = _quantize(q[None, :], step())
    return kernel(codes, err, qc[0], qe[0], step())


@pytest.mark.parametrize("n, f", SHAPES)
def test_rms_distances_match_reference(n, f):
    m, q = _rows(n, f, n + f, nan=True), _rows(1, f, 99)[0]
    rows = np.arange(n)[::-1].copy()
    np.testing.assert_allclose(_rms_distances(m, q, rows), naive.rms_distances(m, q, rows), rtol=1e-6)


@pytest.mark.parametrize("n, f", SHAPES)
def test_quantize_matches_reference(n, f):
    m = _rows(n, f, n + f, nan=True)
    codes, err = _quantize(m, step())
    ref_codes, ref_err = naive.quantize(m, step())
    np.testing.assert_array_equal(codes, ref_codes)
    np.testing.assert_allclose(err, ref_err, rtol=1e-9)


@pytest.mark.parametrize("n, f", SHAPES)
def test_lower_bounds_match_reference_and_stay_below_distances(n, f):
    m, q = np.clip(_rows(n, f, n + f, nan=True), -6, 6), _rows(1, f, 7)[0]
    codes, err = _quantize(m, step())
    lb = _bounds(codes, err, q)
    np.testing.assert_allclose(lb, _bounds(codes, err, q, naive.lower_bounds), rtol=1e-8)
    assert np.all(lb <= np.nan_to_num(naive.rms_distances(m, q), nan=np.inf))
    if n and np.isnan(m[0]).any():
        assert lb[0] == 0.0            # a NaN row bounds nothing


def test_lower_bounds_of_a_nan_query_are_zero():
    m = _rows(4, 3, 1)
    codes, err = _quantize(m, step())
    q = np.array([np.nan, 0, 0], dtype=np.float32)
    assert list(_bounds(codes, err, q)) == [0.0] * 4


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(0, 2**32 - 1), st.floats(0.001, 8.0))
def test_bound_never_exceeds_the_exact_distance(f, seed, spread):
    """Near rows (the bound is loosest relative to the distance) and clipped extremes."""
    rng = np.random.default_rng(seed)
    q = np.clip(rng.normal(0, 3, f), -6, 6).astype(np.float32)
    m = np.clip(q + rng.normal(0, spread, (64, f)), -6, 6).astype(np.float32)
    codes, err = _quantize(m, step())
    assert np.all(_bounds(codes, err, q) <= naive.rms_distances(m, q))


def _search(m, q, labels, top=5):
    codes, err = _quantize(m, step())
    return nearest_labels(m, codes, err, q, labels, int(labels.max()) + 1 if len(labels) else 0, top)


def _same(got, ref):
    assert [(lab, row) for lab, _, row in got] == [(lab, row) for lab, _, row in ref]
    np.testing.assert_allclose([d for _, d, _ in got], [d for _, d, _ in ref], rtol=1e-12)


@pytest.mark.parametrize("shortlist", [4, 1024])
@pytest.mark.parametrize("kind", ["clusters", "noise", "few-labels"])
def test_nearest_labels_equal_the_exact_scan(kind, shortlist, monkeypatch):
    """Small shortlists force the widening path; noise has no cluster structure to help the bound."""
    monkeypatch.setattr(config, "SIMILARITY_SHORTLIST", shortlist)
    rng = np.random.default_rng(len(kind))
    n, f = 20_000, 48
    apps = 3 if kind == "few-labels" else 300
    app = rng.integers(0, apps, n).astype(np.int32)
    if kind == "noise":
        m = rng.normal(0, 1, (n, f))
    else:
        m = rng.normal(0, 2, (apps, f))[app] + rng.normal(0, 0.3, (n, f))
    m = np.clip(m, -6, 6).astype(np.float32)
    for _ in range(5):
        q = np.clip(m[rng.integers(n)] + rng.normal(0, 0.2, f), -6, 6).astype(np.float32)
        _same(_search(m, q, app, 5), naive.nearest_labels(m, q, app, 5))


def test_nearest_labels_of_nothing():
    assert _search(np.zeros((0, 3), np.float32), np.zeros(3, np.float32), np.zeros(0, np.int32)) == []


# ---- real fingerprints (sample_traces/)

@pytest.fixture(scope="module")
def real():
    if not (TRACES / "manifest.json").exists():
        pytest.skip("sample traces not recorded (scripts/record_sample_traces.py)")
    from analyzer.pipeline import analyze_trace
    from analyzer.fingerprint import feature_names
    from analyzer.load import load
    names = list(feature_names())
    rows = []
    for name, e in sorted(json.loads((TRACES / "manifest.json").read_text()).items()):
        (tr,) = load([TRACES / e["file"]])
        a = analyze_trace(tr)
        rows.append((name, e["workload"], a.run.comm, a.fingerprint.vector(names)))
    meta = pl.DataFrame({"id": [r[0] for r in rows], "label": [r[1] for r in rows],
                         "command": [r[2] for r in rows]})
    return Index.build(meta, np.array([r[3] for r in rows], dtype=np.float32), names), rows, names


def test_classify_of_real_runs_equals_the_exact_scan(real):
    idx, rows, names = real
    for name, _, comm, vector in rows:
        c = classify(idx, vector, names)
        q = idx.scaled(vector, names)
        ref = naive.nearest_labels(np.asarray(idx.matrix), q, idx.label_codes, 5)
        assert [(x["label"], x["id"]) for x in c.candidates] == \
            [(idx.label_names[lab], idx.ids[row]) for lab, _, row in ref]
        assert c.candidates[0]["distance"] == 0.0                # a run (or an identical one) is its own nearest


def test_real_runs_among_many_jittered_copies_equal_the_exact_scan(real, monkeypatch):
    """50,000 rows around the real fingerprints (their own run-to-run spread is the scale)."""
    monkeypatch.setattr(config, "SIMILARITY_SHORTLIST", 256)
    idx, rows, names = real
    rng = np.random.default_rng(0)
    src = rng.integers(0, len(idx.ids), 50_000)
    m = np.clip(np.asarray(idx.matrix)[src] + rng.normal(0, 0.3, (len(src), idx.matrix.shape[1])),
                -6, 6).astype(np.float32)
    labels = np.asarray(idx.label_codes)[src] * 100 + rng.integers(0, 100, len(src)).astype(np.int32)
    for name, _, comm, vector in rows[::3]:
        q = idx.scaled(vector, names)
        _same(_search(m, q, labels, 5), naive.nearest_labels(m, q, labels, 5))


# ---- scaling, selection, the index on disk

def test_scaler_floors_quiet_features_and_clips():
    names = ["shape.net_per_cpu", "shape.cpu_acf1"]
    m = np.array([[0.0, 0.1], [0.0, -0.1], [0.0, 0.0]])
    s = Scaler.fit(m, names)
    assert s.scale[0] == config.SIMILARITY_NOISE["shape.net_per_cpu"]
    assert s.scale[1] == pytest.approx(max(config.SIMILARITY_NOISE["shape.cpu_acf1"], 0.1 / 1.349))
    z = s.transform(np.array([[0.01, np.nan], [1e3, 100.0]]))
    assert abs(z[0, 0]) < 0.2 and z[0, 1] == 0.0            # a trickle of traffic is nothing; NaN is "typical"
    assert z[1, 0] == config.SIMILARITY_CLIP and z[1, 1] == config.SIMILARITY_CLIP


def test_only_behaviour_features_are_compared():
    """Levels, totals, lengths and periods change with how a run was made; only the
    behaviour features (shares, intensities, per rank) are compared, and not what a
    run read through storage, which the page cache decides."""
    names = ["run.duration_s", "cpu_busy_pct.mean", "shape.user_share", "run.top1_share", "shape.rss_per_rank",
             "shape.run_read_per_cpu"]
    assert [names[i] for i in usable(names)] == ["shape.user_share", "shape.rss_per_rank"]
    assert set(config.SIMILARITY_NOISE) == set(COMPARED)
    assert floors(["shape.user_share"])[0] == config.SIMILARITY_NOISE["shape.user_share"]


def test_noise_is_never_below_its_scale_floor():
    """Runs of one sitting agree more closely than runs of different days: the calibrated
    noise of every compared feature is at least its scale's floor."""
    for name, noise in config.SIMILARITY_NOISE.items():
        floor = config.SIMILARITY_NOISE_FLOOR_LOG if name in LOG_SCALE else config.SIMILARITY_NOISE_FLOOR
        assert noise >= floor, name


def test_fisher_select_prefers_separating_columns():
    rng = np.random.default_rng(0)
    labels = ["a"] * 10 + ["b"] * 10
    z = rng.normal(size=(20, 5))
    z[:10, 3] += 5                        # only column 3 separates a from b
    assert 3 in fisher_select(z, labels, 1)
    assert list(fisher_select(z, ["a"] * 20, 1)) == [0, 1, 2, 3, 4]


def _index(rows, labels, names, commands=None):
    meta = pl.DataFrame({"id": [f"r{i}" for i in range(len(rows))], "label": labels}
                        | ({"command": commands} if commands else {}))
    return Index.build(meta, np.array(rows, dtype=np.float32), names)


NAMES = ["shape.user_share", "shape.disk_per_cpu", "shape.net_per_cpu"]
ROWS = [[0.99, 0.1, 0.0], [0.98, 0.12, 0.0], [0.3, 5.0, 0.0], [0.32, 5.1, 0.0], [0.2, 0.1, 6.0], [0.22, 0.1, 6.1]]


def test_classify_names_the_nearest_application_and_rejects_far_runs():
    idx = _index(ROWS, ["cpu", "cpu", "io", "io", "net", "net"], NAMES)
    c = classify(idx, np.array([0.985, 0.11, 0.0]), NAMES)
    assert c.label == "cpu" and c.by == "behaviour" and c.candidates[0]["id"] in ("r0", "r1") and 0 < c.score <= 1
    assert [x["label"] for x in c.candidates][0] == "cpu" and len(c.candidates) == 3
    assert c.distance <= c.threshold == pytest.approx(threshold_of(idx, idx.label_names.index("cpu")))
    far = classify(idx, np.array([0.05, 8.0, 8.0]), NAMES)
    assert far.label == "unknown" and far.distance > far.threshold


def test_threshold_follows_each_label_spread(monkeypatch):
    """A tight label rejects sooner than a spread one (its radius is its runs' distance)."""
    monkeypatch.setattr(config, "UNKNOWN_MIN_DISTANCE", 0.0)
    rows = [[0.9, 1.0, 0.0], [0.9, 1.01, 0.0], [0.3, 5.0, 0.0], [0.3, 6.0, 0.0]]
    idx = _index(rows, ["tight", "tight", "loose", "loose"], NAMES)
    tight, loose = (threshold_of(idx, idx.label_names.index(k)) for k in ("tight", "loose"))
    assert tight < loose
    assert loose == pytest.approx(config.UNKNOWN_SPREAD * idx.radius[idx.label_names.index("loose")])
    radii = label_radii(np.asarray(idx.matrix), idx.label_codes, len(idx.label_names))
    assert np.allclose(radii, idx.radius)


def test_a_command_only_one_label_has_names_it():
    idx = _index(ROWS, ["cpu", "cpu", "io", "io", "net", "net"], NAMES, ["a", "a", "b", "b", "python", "python"])
    v = np.array([0.2, 0.1, 6.0])                     # behaves like "net"
    assert classify(idx, v, NAMES, command="a").label == "cpu"
    assert classify(idx, v, NAMES, command="a").by == "name"
    for cmd in (None, "zzz", "python"):               # no name, an unknown name, or net's own
        c = classify(idx, v, NAMES, command=cmd)
        assert c.label == "net"
    shared = _index(ROWS, ["cpu", "cpu", "io", "io", "net", "net"], NAMES, ["py"] * 6)
    assert classify(shared, v, NAMES, command="py").by == "behaviour"    # a name every label has says nothing


def test_a_named_label_beyond_the_nearest_few_gets_its_own_distance():
    """classify searches only the ``top`` nearest labels; the one a command names may lie
    farther, and its distance is then its nearest run's, exactly as a full scan gives."""
    idx = _index(ROWS, ["cpu", "cpu", "io", "io", "net", "net"], NAMES, ["a", "a", "b", "b", "c", "c"])
    v = np.array([0.2, 0.1, 6.0])                     # behaves like "net", farthest from "cpu"
    c = classify(idx, v, NAMES, top=1, command="a")
    q = idx.scaled(v, NAMES)
    rows = np.flatnonzero(idx.label_codes == idx.label_names.index("cpu"))
    full = min(float(np.sqrt(np.mean((idx.matrix[r] - q) ** 2))) for r in rows)
    assert (c.label, c.by) == ("cpu", "name")
    assert [x["label"] for x in c.candidates] == ["net"]
    assert c.distance == pytest.approx(full, rel=1e-6)


def test_index_survives_the_disk_and_rejects_another_format(tmp_path):
    idx = _index(ROWS, ["cpu", "cpu", "io", "io", "net", None], NAMES, ["a"] * 6)
    idx.save(tmp_path, "k")
    back = Index.load(tmp_path, "k")
    v = np.array([0.31, 5.05, 0.0])
    assert classify(back, v, NAMES, command="a") == classify(idx, v, NAMES, command="a")
    assert back.label_names == ["cpu", "io", "net"] and len(back.ids) == 5
    assert np.allclose(back.radius, idx.radius)
    meta = json.loads((tmp_path / "k.json").read_text())
    (tmp_path / "k.json").write_text(json.dumps(meta | {"format": INDEX_FORMAT - 1}))
    assert Index.load(tmp_path, "k") is None
    assert Index.load(tmp_path, "missing") is None
