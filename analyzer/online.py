"""The anomaly rules, one sample at a time, for the live view.

Same rules, thresholds and compiled step functions as ``analyzer.anomalies``;
only the bookkeeping differs: state is carried between calls and the run is
the command with the most CPU *so far* (the analyzer, seeing the whole trace,
uses the whole trace).  Work per sample is O(1) per metric and O(processes)
for the per-process signals.

What is remembered stays bounded however long the view runs: processes not
seen for ``config.LIVE_FORGET_S`` are forgotten (and with them families that
have no process left), at most ``config.LIVE_MAX_PROCESSES`` are kept, and
at most ``config.LIVE_MAX_EVENTS`` ended alarms.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from analyzer import config
from analyzer.anomalies import Anomaly, ValuesAt, add_combined, filter_input, make_anomaly
from analyzer.derive import Derived
from analyzer.kernels._detect import (BASELINE_STATE, CLOSED, EV_LAST_WARM_T, EV_OPEN, EV_PEAK, EV_PHASE,
                                      EV_START_T, EVENT_STATE, OPENED, SLOPE_STATE, _baseline_step,
                                      _event_step, _slope_step)
from analyzer.rules import RULES
from analyzer.signals import Families, Run, run_signals

Alarm = Anomaly
"""An alarm is an anomaly seen live; ``end`` stays None while it is active."""

_STEP = {"slope": (_slope_step, SLOPE_STATE), "baseline": (_baseline_step, BASELINE_STATE)}


class OnlineRules:
    def __init__(self, metadata: dict, job: str | None = None):
        self.job = job
        self.cores = max(int(metadata.get("cores", 1) or 1), 1)
        self.families = Families()                   # CPU % summed over the samples seen
        # (pid, comm) -> [ppid, CPU % summed, last seen], first seen first: what the
        # families are rebuilt from when processes are forgotten
        self.processes: dict[tuple[int, str], list] = {}
        self._pruned_t = -np.inf
        self.filter_state = {f.name: np.zeros(_STEP[f.kind][1]) for r in RULES for f in r.filters}
        self.event_state = {r.kind: np.zeros(EVENT_STATE) for r in RULES}
        self.leak_state: dict[tuple, np.ndarray] = {}
        self.active: dict[str, Alarm] = {}
        self.events: list[Alarm] = []             # the newest LIVE_MAX_EVENTS ended ones, and the active
        self.opened = 0                           # alarms raised so far
        self._k = 0                               # samples seen

    def _run(self, t: float, procs: pl.DataFrame) -> Run:
        """Like signals.identify_run, over the processes seen in the last LIVE_FORGET_S."""
        mine = procs if self.job is None else procs.filter(pl.col("job") == self.job)
        for pid, ppid, comm, cpu in mine.select("pid", "ppid", "comm", pl.col("cpu_pct").fill_nan(0.0)
                                                .fill_null(0.0)).iter_rows():
            self.families.add(pid, ppid, comm, cpu)
            seen = self.processes.get((pid, comm))
            if seen is None:
                self.processes[(pid, comm)] = [ppid, cpu, t]
            else:
                seen[1] += cpu
                seen[2] = t
        if t - self._pruned_t >= config.LIVE_PRUNE_S or len(self.processes) > config.LIVE_MAX_PROCESSES:
            self._forget(t)
        return self.families.busiest(self.job)

    def _forget(self, t: float) -> None:
        """Drop processes unseen for LIVE_FORGET_S, and the least recently seen beyond
        LIVE_MAX_PROCESSES; rebuild the families from the rest, in the order first seen
        (the order decides which parents were already known, as it did the first time)."""
        self._pruned_t = t
        keep = {k: v for k, v in self.processes.items() if t - v[2] < config.LIVE_FORGET_S}
        if len(keep) > config.LIVE_MAX_PROCESSES:
            recent = set(sorted(keep, key=lambda k: keep[k][2])[-(config.LIVE_MAX_PROCESSES * 3 // 4):])
            keep = {k: v for k, v in keep.items() if k in recent}
        if len(keep) == len(self.processes):
            return
        self.processes = keep
        self.families = Families()
        for (pid, comm), (ppid, cpu, _) in keep.items():
            self.families.add(pid, ppid, comm, cpu)

    def _keep_events(self) -> None:
        """The newest LIVE_MAX_EVENTS ended alarms, and every active one."""
        ended = [e for e in self.events if e.end is not None]
        if len(ended) > config.LIVE_MAX_EVENTS:
            old = {id(e) for e in ended[:len(ended) - config.LIVE_MAX_EVENTS]}
            self.events = [e for e in self.events if id(e) not in old]

    def _leak(self, t: float, procs: pl.DataFrame):
        best, pid_, comm_ = np.nan, None, None
        alive = set()
        for pid, start, comm, rss in procs.select("pid", "starttime", "comm", "rss").iter_rows():
            key = (pid, start)
            alive.add(key)
            state = self.leak_state.setdefault(key, np.zeros(SLOPE_STATE))
            slope = _slope_step(state, t, float(rss) if rss is not None else np.nan, config.LEAK_TAU_S)
            if rss is not None and rss >= config.LEAK_MIN_RSS and slope == slope and not slope <= best:
                best, pid_, comm_ = slope, pid, comm
        for key in set(self.leak_state) - alive:
            del self.leak_state[key]
        return best, pid_, comm_

    def update(self, derived: Derived, i: int) -> list[Alarm]:
        """Feed sample ``i`` of ``derived``; return the alarms active after it."""
        t = float(derived.t[i])
        procs = derived.procs.filter(pl.col("i") == i).with_columns(pl.lit(0, pl.Int64).alias("i"))
        run = self._run(t, procs)
        sig = {k: np.array([v[i]], dtype=np.float64) for k, v in derived.metrics.items()}
        run_sig, who = run_signals(procs, 1, run)
        sig.update(run_sig)
        slope, who["leak_pid"], who["leak_comm"] = self._leak(t, procs)
        sig["leak_slope"] = np.array([slope])
        add_combined(sig, 1)
        who["leak_pid"], who["leak_comm"] = [who["leak_pid"]], [who["leak_comm"]]
        for rule in RULES:
            for f in rule.filters:
                step = _STEP[f.kind][0]
                sig[f.name] = np.array([step(self.filter_state[f.name], t, float(filter_input(f, sig)[0]),
                                             *f.params_at(derived.interval_s))])
        k = self._k
        for rule in RULES:
            score = float(np.asarray(rule.score(sig, self.cores), dtype=np.float64)[0])
            state = self.event_state[rule.kind]
            code = _event_step(state, k, t, score, config.RELEASE, rule.min_s, config.HOLD_S)
            if code == OPENED:
                alarm = make_anomaly(rule, float(state[EV_START_T]), t, state[EV_PEAK],
                                     ValuesAt(sig, who, 0, run), run)
                alarm.end = None
                self.active[rule.kind] = alarm
                self.events.append(alarm)
                self.opened += 1
            elif code == CLOSED and rule.kind in self.active:
                alarm = self.active.pop(rule.kind)
                alarm.end = float(state[EV_LAST_WARM_T])
                alarm.score = round(float(state[EV_PEAK]), 3)
                self._keep_events()
            elif rule.kind in self.active and state[EV_PHASE] == EV_OPEN:
                self.active[rule.kind].score = round(float(state[EV_PEAK]), 3)
        self._k += 1
        return list(self.active.values())
