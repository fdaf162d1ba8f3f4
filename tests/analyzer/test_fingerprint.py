"""fingerprint(): names, grid, gaps, processes, jobs and the JSON form."""
import json
import math
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from analyzer import config
from analyzer.behaviour import FEATURES as BEHAVIOUR
from analyzer.derive import Derived, Gap, derive
from analyzer.fingerprint import (FEATURE_NAMES, RUN_FEATURES, Fingerprint, feature_names,
                                  fingerprint, series_features)
from collector.schema import trace_metadata
from paratune_base.errors import ParatuneError
from tests.analyzer.synth import T0, proc, row, table

rng = np.random.default_rng(7)


def _procs(rows=()):
    """Long process table: rows of (i, pid, comm, job, cpu_pct)."""
    schema = {"i": pl.Int64, "pid": pl.Int64, "comm": pl.String, "user": pl.String,
              "job": pl.String, "cpu_pct": pl.Float64, "rss": pl.Float64,
              "read_Bps": pl.Float64, "write_Bps": pl.Float64}
    data = [{"i": i, "pid": pid, "comm": comm, "user": "alice", "job": job, "cpu_pct": cpu,
             "rss": 1e6, "read_Bps": 0.0, "write_Bps": 0.0} for i, pid, comm, job, cpu in rows]
    return pl.DataFrame(data, schema=schema)


def _derived(metrics, t=None, procs=None, interval=1.0, gaps=()):
    n = len(next(iter(metrics.values()))) if metrics else len(t)
    t = T0 + np.arange(n) * interval if t is None else np.asarray(t, dtype=float)
    return Derived(host="node-a17", metadata={"host": "node-a17"}, t=t, interval_s=interval,
                   metrics={k: np.asarray(v, dtype=float) for k, v in metrics.items()},
                   core_busy=np.empty((len(t), 0)), procs=_procs() if procs is None else procs,
                   gaps=list(gaps))


def test_every_name_is_there_in_the_canonical_order():
    n = 200
    d = _derived({"cpu_busy_pct": rng.uniform(0, 100, n), "mem_used_pct": rng.uniform(0, 100, n)})
    fp = fingerprint(d)
    names = feature_names()
    assert list(fp.features) == list(names)
    assert len(names) == len(config.FINGERPRINT_METRICS) * len(FEATURE_NAMES) + len(RUN_FEATURES) + len(BEHAVIOUR)
    assert "cpu_busy_pct.p95" in names and "run.top3_share" in names
    assert fp.version == config.FINGERPRINT_VERSION
    np.testing.assert_array_equal(fp.vector(), np.array([fp.features[k] for k in names]))
    v = fp.vector(["mem_used_pct.mean", "no.such", "run.samples"])
    assert v[0] == fp.features["mem_used_pct.mean"] and math.isnan(v[1]) and v[2] == n


def test_names_carry_no_host_and_no_job():
    d = _derived({"cpu_busy_pct": np.full(50, 40.0)},
                 procs=_procs([(i, 1, "lmp", "4242", 90.0) for i in range(50)]))
    for fp in (fingerprint(d), fingerprint(d, job="4242")):
        assert not any("node" in k or "a17" in k or "4242" in k for k in fp.features)


def test_metric_features_are_the_series_features_with_their_threshold():
    n = 600
    x = 50 + 30 * np.sin(np.arange(n) * 2 * np.pi / 30) + rng.normal(0, 3, n)
    x[0] = np.nan
    fp = fingerprint(_derived({"cpu_busy_pct": x}))
    want = series_features(x, 1.0, config.FINGERPRINT_METRICS["cpu_busy_pct"])
    got = np.array([fp.features[f"cpu_busy_pct.{f}"] for f in FEATURE_NAMES])
    np.testing.assert_array_equal(got, want)
    assert fp.features["cpu_busy_pct.period_s"] == pytest.approx(30, rel=0.05)


def test_a_metric_the_trace_lacks_has_nan_features():
    fp = fingerprint(_derived({"cpu_busy_pct": np.ones(10)}))
    assert all(math.isnan(fp.features[f"net_rx_Bps.{f}"]) for f in FEATURE_NAMES)
    assert fp.features["cpu_busy_pct.mean"] == 1.0


def test_a_gap_stays_a_gap_on_the_time_axis():
    # 100 samples, then 50 s with none, then 100 more: a ramp in time stays a ramp
    t = np.concatenate([np.arange(100.0), 150 + np.arange(100.0)])
    x = 2.0 * t  # 2 per second = 7200 per hour
    for gaps in ([Gap(99, T0 + 99, T0 + 150)], None):
        d = _derived({"cpu_busy_pct": x}, t=T0 + t, gaps=gaps or ())
        if gaps is None:  # the contract without a gap list: steps from the clock
            d = SimpleNamespace(t=d.t, interval_s=1.0, metrics=d.metrics, procs=d.procs)
        fp = fingerprint(d)
        assert fp.features["cpu_busy_pct.slope"] == pytest.approx(7200.0, rel=1e-12)
        assert fp.features["run.samples"] == 200
        assert fp.features["run.duration_s"] == 249.0
        assert fp.features["run.gap_fraction"] == pytest.approx(50 / 250)


def test_wall_clock_jumps_inside_a_trace_are_not_gaps():
    t = T0 + np.arange(100.0)
    t[50:] += 3600  # the wall clock stepped; derive saw no gap on the monotonic clock
    fp = fingerprint(_derived({"cpu_busy_pct": np.arange(100.0)}, t=t))
    assert fp.features["run.gap_fraction"] == 0.0
    assert fp.features["cpu_busy_pct.slope"] == pytest.approx(3600.0)


def test_nan_rows_count_as_gaps_and_one_sample_is_a_run():
    x = np.ones(10)
    x[3:5] = np.nan
    assert fingerprint(_derived({"cpu_busy_pct": x})).features["run.gap_fraction"] == pytest.approx(0.2)
    fp = fingerprint(_derived({"cpu_busy_pct": [5.0]}))
    assert fp.features["run.duration_s"] == 0.0 and fp.features["run.samples"] == 1
    assert fp.features["cpu_busy_pct.std"] == 0.0


def test_process_shares_by_command():
    rows = []
    for i in range(10):
        rows += [(i, 100, "lmp", "7", 100.0), (i, 101, "lmp", "7", 100.0),
                 (i, 200, "python", None, 50.0), (i, 300, "sshd", None, float("nan"))]
    rows += [(4, 400, "gzip", None, 150.0)]
    fp = fingerprint(_derived({"cpu_busy_pct": np.full(10, 50.0)}, procs=_procs(rows), interval=2.0))
    total = 10 * (200 + 50) / 100 * 2 + 1.5 * 2  # CPU seconds
    assert [p["comm"] for p in fp.processes] == ["lmp", "python", "gzip", "sshd"]
    assert fp.processes[0]["cpu_s"] == pytest.approx(40.0)
    assert fp.processes[0]["share"] == pytest.approx(40.0 / total)
    assert fp.processes[3]["cpu_s"] == 0.0
    f = fp.features
    assert f["run.top1_share"] == pytest.approx(40.0 / total)
    assert f["run.top3_share"] == pytest.approx(1.0)
    assert f["run.distinct_comms"] == 4
    assert f["run.nprocs_mean"] == pytest.approx(41 / 10)


def test_no_processes():
    fp = fingerprint(_derived({"cpu_busy_pct": np.ones(5)}))
    assert fp.processes == []
    assert fp.features["run.distinct_comms"] == 0 and fp.features["run.nprocs_mean"] == 0
    assert math.isnan(fp.features["run.top1_share"])


def test_a_job_is_its_own_window_and_its_own_processes():
    n = 100
    x = np.where(np.arange(n) < 60, 95.0, 5.0)
    rows = [(i, 1, "lmp", "7", 180.0) for i in range(20, 60)] + \
           [(i, 2, "backup", None, 20.0) for i in range(n)]
    d = _derived({"cpu_busy_pct": x}, procs=_procs(rows))
    fp = fingerprint(d, job="7")
    assert fp.features["run.samples"] == 40 and fp.features["run.duration_s"] == 39
    assert fp.features["cpu_busy_pct.mean"] == 95.0
    assert fp.features["cpu_busy_pct.frac_above"] == 1.0
    assert [p["comm"] for p in fp.processes] == ["lmp"]
    whole = fingerprint(d)
    assert whole.features["run.samples"] == n and whole.features["run.distinct_comms"] == 2
    with pytest.raises(ParatuneError, match="job 8"):
        fingerprint(d, job="8")


def test_to_dict_is_json_without_nan():
    fp = fingerprint(_derived({"cpu_busy_pct": rng.uniform(0, 100, 50)},
                              procs=_procs([(0, 1, "a", None, float("nan"))])))
    d = fp.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["features"]["net_rx_Bps.mean"] is None
    assert back["features"]["cpu_busy_pct.max"] == fp.features["cpu_busy_pct.max"]
    assert back["processes"] == [{"comm": "a", "share": None, "cpu_s": 0.0}]
    assert back["version"] == config.FINGERPRINT_VERSION


@pytest.mark.parametrize("make", [
    lambda: _derived({}, t=[]),
    lambda: _derived({"cpu_busy_pct": [1.0, 2.0]}, interval=0.0),
    lambda: SimpleNamespace(t=np.arange(3.0), interval_s=1.0, metrics={"cpu_busy_pct": np.ones(4)},
                            procs=_procs()),
])
def test_bad_traces_are_paratune_errors(make):
    with pytest.raises(ParatuneError):
        fingerprint(make())


def test_fingerprint_of_a_derived_trace():
    """Counters through derive(): a 60 s run at 50 % busy, lmp (job 7) with 3/4 of the CPU."""
    rows = []
    for i in range(61):
        ps = [proc(10, utime=60 * i, comm="lmp", job="7"), proc(11, utime=20 * i, comm="python")]
        rows.append(row(i, user=50 * i, idle=50 * i, procs=ps))
    tab = table(rows)
    d = derive(tab, trace_metadata(tab.schema))
    fp = fingerprint(d)
    f = fp.features
    assert f["cpu_busy_pct.mean"] == pytest.approx(50.0)
    assert f["cpu_busy_pct.std"] == pytest.approx(0.0, abs=1e-9)
    assert f["cpu_busy_pct.frac_above"] == 0.0
    assert f["run.samples"] == 61 and f["run.duration_s"] == 60.0
    assert f["run.gap_fraction"] == 0.0
    assert [p["comm"] for p in fp.processes] == ["lmp", "python"]
    assert f["run.top1_share"] == pytest.approx(0.75)
    assert fp.processes[0]["cpu_s"] == pytest.approx(36.0)  # 60 % of a CPU for 60 s
    job = fingerprint(d, job="7")
    assert job.processes == [{"comm": "lmp", "share": 1.0, "cpu_s": pytest.approx(36.0)}]
    json.dumps(fp.to_dict(), allow_nan=False)
    assert isinstance(fp, Fingerprint)
