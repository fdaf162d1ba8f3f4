"""The one bottleneck classifier: a stretch of time, and a run from its phases."""
from __future__ import annotations

import math

import pytest

from analyzer import config
from analyzer.characterize import LABELS, classify, of_phases


def test_no_cpu_data_is_unknown_not_idle():
    c = classify({"cpu_busy_pct": math.nan, "disk_read_Bps": 0.0})
    assert c.label == "unknown" and "no CPU samples" in c.evidence[0]
    assert classify({}).label == "unknown"


def test_quiet_cpu_is_idle_and_busy_cpu_is_compute():
    assert classify({"cpu_busy_pct": 0.0}).label == "idle"
    assert classify({"cpu_busy_pct": config.IDLE_BUSY_PCT + 1}).label == "compute-bound"


def test_every_label_is_declared():
    for p in ({"cpu_busy_pct": math.nan}, {"cpu_busy_pct": 3.0}, {"cpu_busy_pct": 99.0},
              {"cpu_busy_pct": 50.0, "net_rx_Bps": 1e9}, {"cpu_busy_pct": 50.0, "cpu_iowait_pct": 50.0}):
        assert classify(p).label in LABELS


def test_run_label_is_where_the_time_went():
    """LAMMPS with a 30 s network flood in 137 s: compute-bound, with the shares."""
    c = of_phases(["idle", "compute-bound", "network-bound", "compute-bound", "idle"],
                  [3.0, 30.0, 31.0, 70.0, 3.0], ["quiet", "busy", "flood", "busy", "quiet"])
    assert c.label == "compute-bound"
    assert c.shares["compute-bound"] == pytest.approx(100 / 137)
    assert c.shares["network-bound"] == pytest.approx(31 / 137)
    assert "network-bound" in c.evidence[0] and "73%" in c.evidence[0]


def test_no_dominant_label_is_mixed():
    c = of_phases(["compute-bound", "io-bound", "network-bound"], [40.0, 35.0, 25.0])
    assert c.label == "mixed" and max(c.shares.values()) < config.DOMINANT_SHARE
    assert of_phases([], []).label == "unknown"
