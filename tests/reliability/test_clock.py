"""Wall-clock jumps (NTP steps, an admin's `date -s`, a VM resumed) do not break the sampling grid.

The clock of the machine is shared, so it is never touched: the jumps are simulated.
``Schedule`` takes its clocks as arguments and is driven directly; the whole recorder runs with
a stepped clock standing in for ``time`` (``collector.daemon`` has no clock parameter yet, so the
module's ``time`` is replaced for the test; the sampler takes its clock as an argument).
"""
from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from collector import daemon
from collector.config import load_config
from collector.daemon import Recorder, Schedule
from collector.reader import read_traces
from collector.sampler import Sampler

AREA = "clock"
JUMPS = [(5.0, +3600.0), (10.0, -7200.0), (15.0, +0.4), (20.0, -0.7), (25.0, +86_400 * 3)]
"""(monotonic time of the jump, wall-clock step in seconds)."""


def simulate(interval: float, jumps, seconds: float, late: float = 0.002):
    """The recorder's loop on simulated clocks: (monotonic deadline, wall time, step seen) of every
    sample.  The sample during which the clock stepped was scheduled on the old grid."""
    mono, offset = 0.0, 1_767_225_600.25
    schedule = Schedule(interval, mono, mono + offset)
    pending = list(jumps)
    out = []
    while mono < seconds:
        deadline, skipped = schedule.next(mono)
        assert skipped == 0, "a wall-clock jump must not look like missed deadlines"
        mono = deadline + late
        while pending and pending[0][0] <= mono:
            offset += pending.pop(0)[1]
        step = schedule.realign(mono, mono + offset)
        out.append((deadline, mono + offset, step != 0))
    return np.array(out)


@pytest.mark.parametrize("interval", [1.0, 0.25])
def test_schedule_survives_wall_clock_steps(interval, reliability):
    samples = simulate(interval, JUMPS, 30.0)
    mono, wall, stepped = samples[:, 0], samples[:, 1], samples[:, 2].astype(bool)
    gaps = np.diff(mono)
    on_grid = (np.abs(wall - 0.002 - np.round((wall - 0.002) / interval) * interval) < 1e-6) | stepped
    expected = 30.0 / interval
    reliability.record(f"simulated wall-clock steps of +1 h, -2 h, +0.4 s, -0.7 s, +3 days "
                       f"(interval {interval:g} s)", len(samples), int(on_grid.sum()),
                       f"{expected - len(samples):+.0f} samples vs. {expected:.0f} in 30 s",
                       f"monotonic gaps {gaps.min():.3f}-{gaps.max():.3f} s; from the sample after "
                       "each step on, every sample on the new wall-clock grid")
    assert np.all(gaps > 0) and gaps.max() <= interval + 1e-9      # no burst, no stall, no reorder
    assert on_grid.all()                              # back on the grid from the next sample on
    assert stepped.sum() == len(JUMPS)
    assert abs(len(samples) - expected) <= len(JUMPS)


class SteppedClock:
    """``time`` with a wall clock that jumps by ``step`` seconds ``after`` seconds of this clock."""

    def __init__(self, steps):
        self.t0 = time.monotonic()
        self.steps = steps          # [(after_s, step_s)]

    def _offset(self) -> float:
        now = time.monotonic() - self.t0
        return sum(step for after, step in self.steps if now >= after)

    monotonic = staticmethod(time.monotonic)
    monotonic_ns = staticmethod(time.monotonic_ns)

    def time(self) -> float:
        return time.time() + self._offset()

    def time_ns(self) -> int:
        return time.time_ns() + int(self._offset() * 1e9)


@pytest.mark.slow
def test_recorder_with_wall_clock_steps(tmp_path, monkeypatch, reliability):
    """A real recorder and sampler; the wall clock jumps forward an hour, then back two."""
    interval = 0.2
    clock = SteppedClock([(1.0, +3600.0), (2.0, -7200.0)])
    monkeypatch.setattr(daemon, "time", SimpleNamespace(monotonic=clock.monotonic, time=clock.time))
    cfg = load_config(output=str(tmp_path / "out"), interval=interval, flush=0.4, duration=3.0)
    rc = Recorder(cfg, Sampler(clock=clock)).run()
    traces = read_traces([tmp_path / "out"])
    table = pa.concat_tables([s.table for s in traces[0].segments])
    table = table.take(pa.array(np.argsort(table.column("mono_ns").to_numpy(), kind="stable")))
    mono = np.array(table.column("mono_ns").to_pylist()) / 1e9
    ts = np.array(table.column("ts").cast(pa.int64()).to_pylist()) / 1e6
    gaps = np.diff(mono)
    steps = np.diff(ts) - gaps
    reliability.record("real recorder, wall clock +1 h then -2 h (interval 0.2 s, 3 s)", len(ts),
                       int(np.sum(np.abs(gaps - interval) < 0.1)) + 1,
                       f"{15 - len(ts)} of 15 samples",
                       f"{len(traces[0].segments)} files (the hour changed twice); monotonic gaps "
                       f"{gaps.min():.3f}-{gaps.max():.3f} s in recording order; ts shows both steps as they "
                       "happened (read_traces orders rows by ts, so after a backward step the rows "
                       "recorded later come first)")
    assert rc == 0
    assert 13 <= len(ts) <= 16
    assert np.all(np.abs(gaps - interval) < 0.1), gaps          # the grid held through both steps
    jumps = steps[np.abs(steps) > 1]
    assert len(jumps) == 2 and math.isclose(jumps[0], 3600, abs_tol=0.5) \
        and math.isclose(jumps[1], -7200, abs_tol=0.5)           # honest: ts says what the clock said
    assert len(traces[0].segments) >= 2                         # the segment changed with the hour
