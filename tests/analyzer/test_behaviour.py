"""Behaviour features: the same work on more ranks, or for longer, reads the same."""
from __future__ import annotations

import math

import numpy as np
import pytest

from analyzer.behaviour import FEATURES, features, steady_window


def _run(n: int, ranks: int, seed: int = 0, quiet: int = 3):
    """A compute run of ``ranks`` processes at ~95 % each that writes 2 MB per
    CPU-second, between ``quiet`` idle samples each side."""
    rng = np.random.default_rng(seed)
    m = n + 2 * quiet
    present = np.zeros(m, bool)
    present[quiet:quiet + n] = True
    busy = np.where(present, 95.0 * ranks / 2 + rng.normal(0, 1, m), 1.0)
    cpu = np.where(present, ranks * (95.0 + rng.normal(0, 2, m)), np.nan)
    metrics = {"cpu_busy_pct": busy, "cpu_user_pct": busy * 0.97, "cpu_system_pct": busy * 0.03,
               "cpu_iowait_pct": np.zeros(m), "disk_read_Bps": np.zeros(m),
               "disk_write_Bps": np.where(present, cpu / 100 * 2e6, 0.0), "net_rx_Bps": np.zeros(m),
               "net_tx_Bps": np.zeros(m), "ctxt_rate": np.where(present, cpu * 10, 50.0),
               "pgfault_rate": np.where(present, cpu * 100, 10.0)}
    nprocs = np.where(present, float(ranks), 0.0)
    run = {"rss": nprocs * 300e6, "threads": nprocs * 2, "read_Bps": np.zeros(m),
           "write_Bps": np.where(present, cpu / 100 * 2e6, 0.0)}
    return metrics, cpu, nprocs, run


def test_the_steady_window_drops_start_and_tail():
    present = np.r_[np.zeros(3, bool), np.ones(100, bool), np.zeros(3, bool)]
    assert steady_window(present) == (13, 93)                 # 10 % at each end
    assert steady_window(np.r_[np.zeros(2, bool), np.ones(1000, bool)]) == (32, 972)   # at most 30 s
    assert steady_window(np.zeros(5, bool)) == (0, 0)


def test_rank_count_and_length_do_not_change_the_behaviour():
    one = features(*_run(60, 1, seed=1), interval_s=1.0)
    two = features(*_run(300, 2, seed=2), interval_s=1.0)
    assert set(one) == set(FEATURES)
    for f in ("shape.user_share", "shape.system_share", "shape.cores_per_rank", "shape.disk_per_cpu",
              "shape.run_write_per_cpu", "shape.ctxt_per_cpu", "shape.pgfault_per_cpu", "shape.rss_per_rank",
              "shape.threads_per_rank"):
        assert one[f] == pytest.approx(two[f], abs=0.05), f
    assert one["shape.threads_per_rank"] == 2.0 and one["shape.rss_per_rank"] == pytest.approx(math.log10(300e6 / 2**20))
    assert one["shape.run_write_per_cpu"] == pytest.approx(math.log10(1 + 2e6), abs=0.01)
    assert math.isnan(one["shape.rx_share"])                  # no traffic: no direction


def test_too_short_a_run_has_no_behaviour():
    out = features(*_run(3, 2), interval_s=1.0)
    assert all(math.isnan(v) for v in out.values())
