"""What the online rules remember stays bounded over a week of churning processes.

A live view runs for weeks on a node where short tasks come and go; its
process families (``OnlineRules``) used to keep every process ever seen.
These tests feed the real rules through their normal API (``update(derived,
i)`` on windows derived exactly as the live model derives them) and check
both halves of the bound: old processes are forgotten, and what is still
running is still watched.

The week is sampled every two minutes, not every second: 5,040 samples
instead of 604,800 keep the test to seconds.  Nothing that is remembered depends on
the sampling rate -- processes are forgotten after ``LIVE_FORGET_S`` seconds
of trace time, and the churn (a new process every 5 s, each its own family,
pids wrapping around) is the same per second of trace as at 1 Hz.
"""
from __future__ import annotations

import pytest

from analyzer import config
from analyzer.derive import derive
from analyzer.online import OnlineRules
from collector.schema import trace_metadata
from tests.analyzer.synth import T0, proc, row, table

STEP = 120                       # seconds between samples
DAY = 86_400
CHURN_PER_SAMPLE = 24            # one new process every STEP / 24 = 5 s
HOG_AT = 6 * DAY                 # a CPU hog starts on day 6 ...
HOG_S = 30 * 60                  # ... for half an hour
TICKS = 100 * STEP               # clock ticks of one core in one step (clk_tck 100)


def _week_rows(days: float = 7):
    """Rows of a 2-core node, one every STEP s: two 'solver' ranks at 95 % the whole
    time, a stream of short tasks (each lives two samples, at 5 % of a core; pids
    wrap at 32768) and, on day 6, a 'stress' process at 90 % of a core."""
    n = int(days * DAY / STEP)
    churn_utime = TICKS * 5 // 100
    for i in range(n):
        t = T0 + i * STEP
        procs = [proc(100 + r, TICKS * 95 // 100 * i, comm="solver", ppid=99, starttime=1) for r in range(2)]
        for born in (i - 1, i):                          # the tasks born this step and the last
            for k in range(CHURN_PER_SAMPLE):
                serial = born * CHURN_PER_SAMPLE + k
                if serial < 0:
                    continue
                pid = 300 + serial % 32_000
                comm = f"task{serial}" if k % 3 else "bash"    # a third are one family's children
                procs.append(proc(pid, churn_utime * (i - born), comm=comm, ppid=9,
                                  starttime=born * STEP * 100 + k))
        user = TICKS * 190 // 100 * i
        if HOG_AT <= i * STEP < HOG_AT + HOG_S:
            on = i - HOG_AT // STEP
            procs.append(proc(777, TICKS * 90 // 100 * on, comm="stress", ppid=1, user="bob",
                              starttime=HOG_AT * 100))
        yield row(i, t, user=user, idle=TICKS * 2 * i - user, procs=procs, procs_running=3)


class Feeder:
    """Rows to the rules the way the live model feeds them: each chunk derived together
    with the last row before it (rates need two samples), every new sample fed once."""

    def __init__(self, rules: OnlineRules, interval_s: int = STEP):
        self.rules, self.interval_s = rules, interval_s
        self.last: dict | None = None

    def feed(self, rows: list[dict]) -> None:
        tab = table(([self.last] if self.last is not None else []) + rows, interval_s=str(self.interval_s))
        d = derive(tab, trace_metadata(tab.schema))
        for i in range(1 if self.last is not None else 0, d.n):
            self.rules.update(d, i)
        self.last = rows[-1]

    def feed_all(self, rows, chunk: int = 60, after_each=None) -> None:
        batch = []
        for r in rows:
            batch.append(r)
            if len(batch) == chunk:
                self.feed(batch)
                batch = []
                if after_each is not None:
                    after_each(self.rules)
        if batch:
            self.feed(batch)


def _remembered(rules: OnlineRules) -> dict[str, int]:
    f = rules.families
    return {"processes": len(rules.processes), "family nodes": len(f.parent),
            "family members": sum(len(m) for m in f.members.values()), "pids seen": len(f.seen),
            "leak states": len(rules.leak_state), "events": len(rules.events)}


def test_a_week_of_churn_stays_bounded_and_a_day_6_hog_is_reported():
    rules = OnlineRules({"cores": "2"})
    peak: dict[str, int] = {}

    def watch(r):
        for k, v in _remembered(r).items():
            peak[k] = max(peak.get(k, 0), v)

    Feeder(rules).feed_all(_week_rows(), after_each=watch)

    born = 7 * DAY // STEP * CHURN_PER_SAMPLE
    assert born > 100_000                                # what would be remembered without forgetting
    # processes seen in the last LIVE_FORGET_S (+ one clean-up period), the ranks, the hog
    bound = (config.LIVE_FORGET_S + config.LIVE_PRUNE_S + STEP) / STEP * CHURN_PER_SAMPLE + CHURN_PER_SAMPLE + 3
    assert peak["processes"] <= bound, peak
    assert peak["pids seen"] <= bound and peak["family members"] <= bound, peak
    assert peak["family nodes"] <= 3 * bound, peak
    assert peak["leak states"] <= 2 * CHURN_PER_SAMPLE + 3, peak
    now = _remembered(rules)
    assert now["processes"] >= config.LIVE_FORGET_S / STEP * CHURN_PER_SAMPLE   # it does remember the last hour

    hogs = [e for e in rules.events if e.kind == "cpu_hog"]
    assert len(hogs) == 1, [(e.kind, e.start - T0) for e in rules.events]
    hog = hogs[0]
    assert hog.process == "stress" and hog.pid == 777
    assert T0 + HOG_AT <= hog.start <= T0 + HOG_AT + 2 * STEP
    assert hog.end is not None and hog.end <= T0 + HOG_AT + HOG_S + STEP
    assert "from solver" in hog.message                  # the week-old ranks are still the run
    assert rules.families.busiest().comm == "solver"


def test_forgotten_processes_leave_their_family_and_the_running_ones_stay():
    """Two hours: a busy 'build' family ends after the first; an hour later it is gone
    and the run is the family still running, though it used less CPU in all."""
    rows = []
    for i in range(2 * 3600 // STEP + 6):
        procs = [proc(100, TICKS * 30 // 100 * i, comm="solver", ppid=99, starttime=1)]
        if i * STEP < 3600:
            procs += [proc(200 + k, TICKS * 90 // 100 * i, comm="build", ppid=50, starttime=2) for k in range(2)]
        rows.append(row(i, T0 + i * STEP, user=TICKS * 2 * i, procs=procs))
    rules = OnlineRules({"cores": "2"})
    feeder = Feeder(rules)
    feeder.feed_all(rows[:3600 // STEP + 1])
    assert rules.families.busiest().comm == "build"
    feeder.feed_all(rows[3600 // STEP + 1:])
    assert rules.families.busiest().comm == "solver"
    assert {c for _, c in rules.processes} == {"solver"}
    assert set(rules.families.seen) == {100}


def test_a_burst_beyond_the_cap_keeps_the_most_recently_seen(monkeypatch):
    monkeypatch.setattr(config, "LIVE_MAX_PROCESSES", 40)
    rows = []
    for i in range(6):
        burst = [proc(1000 + 10 * i + k, 5 * i, comm=f"burst{i}", ppid=2, starttime=10 * i + k)
                 for k in range(10)]
        rows.append(row(i, T0 + i, user=200 * i,
                        procs=[proc(100, 95 * i, comm="solver", starttime=1), *burst]))
    rules = OnlineRules({"cores": "2"})
    feeder, sizes = Feeder(rules, interval_s=1), []
    for r in rows:
        feeder.feed([r])
        sizes.append(len(rules.processes))
    assert sizes == [11, 21, 31, 30, 40, 30]             # over 40: cut to 3/4 of it, the newest kept
    kept = [c for _, c in rules.processes]
    assert (100, "solver") in rules.processes
    assert sorted(set(kept)) == ["burst3", "burst4", "burst5", "solver"] and kept.count("burst3") == 9
    assert len(rules.families.seen) == 30


def test_ended_alarms_are_capped_and_counted(monkeypatch):
    """Hog episodes over and over: the list keeps the newest LIVE_MAX_EVENTS ended
    alarms, the active one always, and ``opened`` counts them all."""
    monkeypatch.setattr(config, "LIVE_MAX_EVENTS", 3)
    rows, hog_ticks = [], 0
    for i in range(7 * 20 + 8):
        on = i % 20 < 10
        hog_ticks += 80 if on else 0
        procs = [proc(100 + r, 95 * i, comm="lmp", starttime=5) for r in range(2)]
        procs.append(proc(300, hog_ticks, comm="stress", starttime=50, user="bob"))
        rows.append(row(i, T0 + i, user=200 * i, procs=procs, procs_running=3))
    rules = OnlineRules({"cores": "2"})
    Feeder(rules, interval_s=1).feed_all(rows, chunk=20)
    assert rules.opened == 8
    assert [e.end is None for e in rules.events] == [False, False, False, True]
    assert [e.start - T0 for e in rules.events] == pytest.approx([80, 100, 120, 140], abs=3)
