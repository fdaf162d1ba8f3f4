"""The bottleneck label of a mean profile."""
from __future__ import annotations

import math

from analyzer import config
from analyzer.characterize import LABELS, characterize


def test_no_cpu_data_is_unknown_not_idle():
    c = characterize({"cpu_busy_pct": math.nan, "disk_read_Bps": 0.0})
    assert c.label == "unknown" and "no CPU samples" in c.evidence[0]
    assert characterize({}).label == "unknown"


def test_quiet_cpu_is_idle_and_busy_cpu_is_compute():
    assert characterize({"cpu_busy_pct": 0.0}).label == "idle"
    assert characterize({"cpu_busy_pct": config.COMPUTE_BUSY_PCT + 1}).label == "compute-bound"


def test_every_label_is_declared():
    for p in ({"cpu_busy_pct": math.nan}, {"cpu_busy_pct": 3.0}, {"cpu_busy_pct": 99.0}):
        assert characterize(p).label in LABELS
