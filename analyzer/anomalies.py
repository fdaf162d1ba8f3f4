"""Offline anomaly detection: every rule over a whole derived trace."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from analyzer import config
from analyzer.derive import Derived
from analyzer.kernels._detect import _baseline, _events, _slope
from analyzer.rules import RULES, Rule
from analyzer.signals import Run, identify_run, leak_signals, run_signals


@dataclass
class Anomaly:
    kind: str
    start: float          # epoch seconds of the first hot sample
    end: float            # epoch seconds of the last warm sample
    metric: str
    score: float          # peak score; 1.0 is the threshold
    message: str
    pid: int | None = None
    process: str | None = None
    job: str | None = None

    def to_dict(self) -> dict:
        # flat fields: a plain copy, not asdict's recursive deep copy (a day can hold thousands)
        return {f.name: getattr(self, f.name) for f in fields(self)}


FILTERS = {"slope": _slope, "baseline": _baseline}


def add_combined(sig: dict, n: int) -> None:
    """Signals the rules read that combine node metrics (offline and live alike)."""
    zero = np.zeros(n)
    sig["net_Bps"] = np.nan_to_num(sig.get("net_rx_Bps", zero)) + np.nan_to_num(sig.get("net_tx_Bps", zero))


def filter_input(f, sig: dict) -> np.ndarray:
    """What a filter is fed: its source, NaN outside the run for ``within_run``."""
    x = np.asarray(sig[f.source], dtype=np.float64)
    return np.ascontiguousarray(np.where(sig["run_nprocs"] > 0, x, np.nan) if f.within_run else x)


def signals(derived: Derived, run: Run, rules=RULES) -> tuple[dict, dict]:
    """Every signal the ``rules`` may read, as float64 arrays over the trace."""
    n = derived.n
    sig = dict(derived.metrics)
    run_sig, who = run_signals(derived.procs, n, run)
    sig.update(run_sig)
    if any(r.who == "leak" for r in rules):
        sig["leak_slope"], who["leak_pid"], who["leak_comm"] = leak_signals(derived.procs, derived.t, n,
                                                                            derived.proc_order)
    add_combined(sig, n)
    for rule in rules:
        for f in rule.filters:
            sig[f.name] = FILTERS[f.kind](derived.t, filter_input(f, sig), *f.params_at(derived.interval_s))
    return sig, who


class ValuesAt(Mapping):
    """Every signal's value, and who is behind it, at one sample, read only
    as a rule's message asks: a message reads a few of ~80 signals, and a
    node-day can have hundreds of events."""

    def __init__(self, sig: dict, who: dict, i: int, run: Run):
        self._sig, self._who, self._i, self._run = sig, who, i, run

    def __getitem__(self, key: str):
        if key == "run":
            return self._run.describe()
        if key in self._who:
            return self._who[key][self._i]
        return float(self._sig[key][self._i])

    def __iter__(self):
        yield from self._sig
        yield from (k for k in self._who if k not in self._sig)
        if "run" not in self._sig and "run" not in self._who:
            yield "run"

    def __len__(self) -> int:
        return sum(1 for _ in self)


def make_anomaly(rule: Rule, start: float, end: float, peak: float, v: Mapping, run: Run) -> Anomaly:
    pid = process = None
    if rule.who in ("hog", "leak"):
        pid, process = v[f"{rule.who}_pid"], v[f"{rule.who}_comm"]
    elif rule.who == "run":
        process = run.comm
    return Anomaly(rule.kind, start, end, rule.metric, round(float(peak), 3), rule.message(v),
                   pid=None if pid is None else int(pid), process=process, job=run.job)


def leak_onset(procs, pid: int, start_i: int) -> int:
    """Where a leaking process's growth began: walking back from the sample
    at which the trend crossed its threshold, while the RSS kept rising (one
    flat step at a time is allowed: an allocation per second can fall twice
    between two samples).  The trend needs a few samples to cross; the
    growth began before that."""
    mine = procs.filter((procs["pid"] == pid) & (procs["i"] <= start_i))
    if mine.height < 2:
        return start_i
    mine = mine.sort("i")
    i, rss = mine["i"].to_numpy(), mine["rss"].to_numpy().astype(np.float64, copy=False)
    k, flat = i.size - 1, 0
    while k > 0 and i[k - 1] == i[k] - 1 and rss[k - 1] <= rss[k]:
        flat = flat + 1 if rss[k - 1] == rss[k] else 0
        if flat > 1:
            break
        k -= 1
    return int(i[k])


def rule_events(rule: Rule, derived: Derived, sig: dict, who: dict, run: Run) -> list[Anomaly]:
    """The events of one rule over signals already computed."""
    cores = max(derived.core_busy.shape[1], 1)
    score = np.ascontiguousarray(rule.score(sig, cores), dtype=np.float64)
    if not (score >= 1.0).any():          # never hot, so no event can start: most rules of most node-days
        return []
    found = []
    for s, e, peak, pi in _events(derived.t, score, config.RELEASE, rule.min_s, config.HOLD_S):
        v = ValuesAt(sig, who, int(pi), run)
        s = int(s)
        if rule.who == "leak" and who["leak_pid"][s] is not None:
            s = leak_onset(derived.procs, who["leak_pid"][s], s)
        found.append(make_anomaly(rule, float(derived.t[s]), float(derived.t[int(e)]), peak, v, run))
    return found


def detect(derived: Derived, job: str | None = None, run: Run | None = None, rules=RULES) -> list[Anomaly]:
    """All anomalies of a trace, in time order (``rules``: all, or a subset)."""
    if derived.n == 0:
        return []
    run = run or identify_run(derived.procs, job, derived.proc_order)
    sig, who = signals(derived, run, rules)
    found = [a for rule in rules for a in rule_events(rule, derived, sig, who, run)]
    return sorted(found, key=lambda a: (a.start, a.kind))
