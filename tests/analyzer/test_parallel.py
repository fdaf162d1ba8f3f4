"""analyzer.parallel: a caller that stops early takes the queued work with it.

The work here is a stand-in for ``fleet.summarize`` that leaves a mark per
unit and takes a while, so what ran after the caller stopped can be counted
(the workers are real forkserver processes)."""
from __future__ import annotations

import functools
import multiprocessing
import time
from pathlib import Path

import pytest

from analyzer.parallel import _in_pool, iter_units
from paratune_base.errors import ParatuneError

UNITS = 24


def _marked(marks: Path, unit: int) -> int:
    (marks / str(unit)).touch()
    time.sleep(0.5)
    if unit == 0 and (marks / "fail").exists():
        raise ValueError("a unit that fails")
    return unit


def _settle(deadline_s: float = 60.0) -> None:
    """Wait until the pool's processes are gone (active_children joins them)."""
    end = time.monotonic() + deadline_s
    while multiprocessing.active_children() and time.monotonic() < end:
        time.sleep(0.1)


def test_a_caller_that_stops_early_cancels_the_units_not_started(tmp_path):
    results = _in_pool(list(range(UNITS)), functools.partial(_marked, tmp_path), 2)
    next(results)
    results.close()
    _settle()
    # the units running and the few already handed to the workers' queue, not all
    assert len(list(tmp_path.iterdir())) <= UNITS // 2


def test_a_unit_that_fails_cancels_the_rest(tmp_path):
    (tmp_path / "fail").touch()
    with pytest.raises(ValueError, match="a unit that fails"):
        list(_in_pool(list(range(UNITS)), functools.partial(_marked, tmp_path), 2))
    _settle()
    assert len(list(tmp_path.iterdir())) - 1 <= UNITS // 2


def test_nothing_starts_before_the_first_summary_is_asked_for():
    summaries = iter_units([], workers=0)          # the bad value is only seen when asked
    with pytest.raises(ParatuneError, match="--workers 0"):
        next(summaries)
