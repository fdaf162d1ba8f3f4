"""Raw rows in, what the screen shows out: the live view's one model.

Rates come from ``analyzer.derive.derive`` and alarms from the analyzer's
online rules, never from arithmetic of our own, so the screen and
``paratune analyze`` cannot disagree.  Each push derives a small window: the
last row already seen plus the new ones (rates need two samples), so the
work per sample stays constant however long the view runs.  History for the
sparklines lives in fixed-size ring buffers, one per metric.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from analyzer.derive import Derived, derive
from analyzer.online import OnlineRules
from collector.schema import arrow_schema

HISTORY_SAMPLES = 600
"""Samples kept for sparklines: ten minutes at 1 Hz."""

SORT_KEYS = ("cpu", "rss", "io", "pid")
"""What ``s`` cycles through, in order; each names a column of ``Snapshot.procs``."""
_SORT_COLUMN = {"cpu": "cpu_pct", "rss": "rss", "io": "io_Bps", "pid": "pid"}


class Ring:
    """The last ``size`` values of one series; O(1) per value pushed."""

    def __init__(self, size: int):
        self._buf = np.full(size, np.nan)
        self.count = 0

    def extend(self, values: np.ndarray) -> None:
        size = len(self._buf)
        values = np.asarray(values, dtype=np.float64)[-size:]
        pos = np.arange(self.count, self.count + len(values)) % size
        self._buf[pos] = values
        self.count += len(values)

    def values(self) -> np.ndarray:
        """The kept values, oldest first (a copy)."""
        size = len(self._buf)
        if self.count <= size:
            return self._buf[:self.count].copy()
        start = self.count % size
        return np.concatenate((self._buf[start:], self._buf[:start]))


@dataclass
class Snapshot:
    """Everything one frame of the view needs, frozen at one sample."""
    host: str
    t: float                              # epoch seconds of the sample shown
    interval_s: float
    samples: int                          # samples seen so far
    metrics: dict[str, float]             # latest value of every derived metric
    core_busy: np.ndarray                 # busy % per logical CPU
    mem_total: float                      # bytes
    history: dict[str, np.ndarray]        # metric -> last values, oldest first
    procs: list[dict]                     # latest sample, one dict per process (PROC_COLUMNS + io_Bps)
    jobs: list[dict]                      # job, nprocs, cpu_pct, rss; busiest first
    users: list[dict]                     # the same per user, when there are no jobs
    alarms: list = field(default_factory=list)   # active now
    events: list = field(default_factory=list)   # recent alarms (a bounded list), newest last
    raised: int = 0                       # alarms raised so far, including those no longer in ``events``
    rules: bool = False                   # online rules are running

    def sorted_procs(self, key: str) -> list[dict]:
        """The process table ordered by ``key`` (one of SORT_KEYS), largest first (pid: ascending);
        processes without a value (no rate yet) go last."""
        col = _SORT_COLUMN[key]
        if key == "pid":
            return sorted(self.procs, key=lambda p: p["pid"])
        return sorted(self.procs, key=lambda p: (p[col] is None, -(p[col] or 0.0), p["pid"]))


def _nan_to_none(v):
    return None if v is None or v != v else v


def _totals(procs: list[dict], key: str) -> list[dict]:
    """Processes, CPU % and RSS per ``key`` (job or user), busiest first.

    The same sums as ``Derived.jobs()``, done on the few dicts of one sample
    because a polars query costs more than the whole sum here; a process
    without a CPU rate yet counts for its RSS only.
    """
    out: dict = {}
    for p in procs:
        k = p[key]
        if k is None:
            continue
        t = out.setdefault(k, {key: k, "nprocs": 0, "cpu_pct": None, "rss": 0.0})
        t["nprocs"] += 1
        if p["cpu_pct"] is not None:
            t["cpu_pct"] = (t["cpu_pct"] or 0.0) + p["cpu_pct"]
        t["rss"] += p["rss"] or 0.0
    return sorted(out.values(), key=lambda t: (t["cpu_pct"] is None, -(t["cpu_pct"] or 0.0), str(t[key])))


class Model:
    """Feeds rows through ``derive`` and the online rules; ``snapshot()`` for the view."""

    def __init__(self, metadata: dict[str, str], history: int = HISTORY_SAMPLES,
                 rules="auto", job: str | None = None):
        """``rules``: "auto" for the analyzer's online rules, None for none, or any object
        with ``update(derived, i) -> active alarms`` and ``events`` (and ``opened``, the
        count of alarms raised, when ``events`` does not keep them all)."""
        self.metadata = dict(metadata)
        self.rules = OnlineRules(self.metadata, job=job) if rules == "auto" else rules
        self._history = history
        self._rings: dict[str, Ring] = {}
        self._last: pa.Table | None = None         # the one raw row rates need
        self._derived: Derived | None = None
        self._i = -1                               # index of the latest sample in _derived
        self._alarms: list = []
        self.samples = 0
        self.gaps = 0

    def warm_up(self) -> None:
        """Run ``derive`` once on two empty rows: the first call loads the compiled kernels
        (a second or two), which must not fall between the first two live samples."""
        schema = arrow_schema(self.metadata)
        rows = [{"ts": 0, "mono_ns": 0}, {"ts": 1_000_000, "mono_ns": 1_000_000_000}]
        derive(pa.Table.from_pylist(rows, schema=schema), self.metadata)

    @property
    def has_rates(self) -> bool:
        """The latest sample has rates (it is not the first one, nor right after a gap)."""
        d = self._derived
        return d is not None and bool(np.isfinite(d.metrics["cpu_busy_pct"][self._i]))

    def push(self, table: pa.Table) -> int:
        """Add rows (time order); returns how many were new."""
        if table is None or table.num_rows == 0:
            return 0
        table = table.replace_schema_metadata(None)
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        if self._last is not None:
            last = self._last.column("ts").cast(pa.int64())[0].as_py()
            keep = ts > last
            if not keep.all():
                table = table.filter(pa.array(keep))
            if table.num_rows == 0:
                return 0
            window = pa.concat_tables([self._last, table])
            first = 1
        else:
            window, first = table, 0
        d = derive(window, self.metadata)
        for name, values in d.metrics.items():
            ring = self._rings.get(name)
            if ring is None:
                ring = self._rings[name] = Ring(self._history)
            ring.extend(values[first:])
        if self.rules is not None:
            for i in range(first, d.n):
                self._alarms = self.rules.update(d, i)
        self.gaps += sum(1 for g in d.gaps if g.after_i + 1 >= first)
        self._derived, self._i = d, d.n - 1
        self._last = window.slice(window.num_rows - 1, 1)
        added = window.num_rows - first
        self.samples += added
        return added

    def snapshot(self) -> Snapshot | None:
        """The latest sample as the view shows it; None before the first row."""
        d, i = self._derived, self._i
        if d is None:
            return None
        at = np.flatnonzero(d.procs["i"].to_numpy() == i)
        if len(at) and at[-1] - at[0] + 1 == len(at):
            rows = d.procs.slice(int(at[0]), len(at))      # derive keeps samples in order
        else:
            rows = d.procs[at]
        procs = rows.drop("i").to_dicts()
        for p in procs:
            for col in ("cpu_pct", "read_Bps", "write_Bps", "rss"):
                p[col] = _nan_to_none(p[col])
            p["io_Bps"] = (None if p["read_Bps"] is None and p["write_Bps"] is None
                           else (p["read_Bps"] or 0.0) + (p["write_Bps"] or 0.0))
        jobs = _totals(procs, "job")
        users = _totals(procs, "user") if not jobs else []
        row = self._last
        # copies: the rules keep updating their alarms, a paused frame must not change
        events = [copy.copy(e) for e in self.rules.events] if self.rules is not None else []
        return Snapshot(
            host=d.host, t=float(d.t[i]), interval_s=d.interval_s, samples=self.samples,
            metrics={k: float(v[i]) for k, v in d.metrics.items()},
            core_busy=d.core_busy[i].copy() if d.core_busy.shape[1] else np.empty(0),
            mem_total=_scalar(row, "mem_total"),
            history={k: r.values() for k, r in self._rings.items()},
            procs=procs, jobs=jobs, users=users, alarms=[copy.copy(a) for a in self._alarms],
            events=events, raised=getattr(self.rules, "opened", len(events)),
            rules=self.rules is not None)


def _scalar(row: pa.Table, name: str) -> float:
    value = row.column(name)[0].as_py()
    return float("nan") if value is None else float(value)
