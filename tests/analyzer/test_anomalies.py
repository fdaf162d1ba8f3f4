"""Each anomaly rule on a synthetic trace with a known fault, plus quiet runs.

The recorded-workload checks (real faults injected on this machine) are in
test_sample_traces.py; these pin the rule logic to exact, known windows."""
import numpy as np
import polars as pl
import pytest

from analyzer.anomalies import ValuesAt, detect
from analyzer.derive import derive
from analyzer.online import OnlineRules
from analyzer.signals import Attribution, Run
from collector.schema import CPU_STATES, trace_metadata
from tests.analyzer.synth import T0, proc, row, table

N = 240


def _run(hog=None, stall=None, leak=None, imbalance=None, io=None, pressure=None, n=N):
    """Two 'lmp' ranks at ~95 % each; faults switched on in [a, b) windows."""
    rows, cum = [], {}
    cpu = {"user": 0, "system": 0, "idle": 0, "iowait": 0}

    def add(key, x):
        cum[key] = cum.get(key, 0) + x
        return cum[key]

    rng = np.random.default_rng(0)
    for i in range(n):
        on = lambda w: w is not None and w[0] <= i < w[1]
        rank_cpu = [95 + rng.normal(0, 2), 95 + rng.normal(0, 2)]
        if on(stall):
            rank_cpu = [0.0, 0.0]
        if on(imbalance):
            rank_cpu = [98.0, 30.0]
        ps = [proc(100 + r, add(("u", r), int(c)), comm="lmp", starttime=5, rss=200 << 20,
                   state="T" if on(stall) else "R") for r, c in enumerate(rank_cpu)]
        busy = sum(rank_cpu)
        if on(hog):
            ps.append(proc(300, add("hog", 80), comm="stress-ng-cpu", starttime=50, user="bob"))
            busy = 200
        if leak is not None and i >= leak[0]:
            grow = min(i, leak[1]) - leak[0]
            ps.append(proc(400, add("leak", 1), comm="leaky", starttime=60, rss=(64 << 20) + grow * (4 << 20)))
        busy = min(busy, 200)
        io_on = on(io)
        c = {"user": add("user", int(busy)), "system": add("system", 0),
             "idle": add("idle", int(200 - busy) - (100 if io_on else 0) if not io_on else 0),
             "iowait": add("iowait", 100 if io_on else 0)}
        disks = [{"name": "vda", "reads": add("r", 300 if io_on else 1), "reads_merged": 0,
                  "read_sectors": add("rs", 200000 if io_on else 8), "read_ticks": 0, "writes": 0,
                  "writes_merged": 0, "write_sectors": 0, "write_ticks": 0, "in_flight": 0,
                  "io_ticks": add("io", 990 if io_on else 5), "time_in_queue": 0}]
        avail = (300 << 20) if on(pressure) else (4 << 30)
        rows.append(row(i, **c, procs=ps, disks=disks, mem_available=avail, procs_running=3 if on(hog) else 2,
                        pgmajfault=add("maj", 5000 if on(pressure) else 0)))
    tab = table(rows)
    return derive(tab, trace_metadata(tab.schema))


def _kinds(found):
    return sorted({a.kind for a in found})


def _overlaps(a, window, t0):
    return a.start <= t0 + window[1] and a.end >= t0 + window[0]


def test_clean_run_is_quiet():
    assert detect(_run()) == []


@pytest.mark.parametrize("fault, kind, window", [
    ("hog", "cpu_hog", (60, 120)),
    ("stall", "stall", (120, 160)),
    ("leak", "memory_leak", (60, 200)),
    ("imbalance", "imbalance", (80, 160)),
    ("io", "io_saturation", (100, 150)),
    ("pressure", "memory_pressure", (100, 130)),
])
def test_injected_fault_is_found_in_its_window(fault, kind, window):
    d = _run(**{fault: window})
    found = detect(d)
    hits = [a for a in found if a.kind == kind]
    assert hits, f"{kind} not found; got {_kinds(found)}"
    a = hits[0]
    assert _overlaps(a, window, d.t[0])
    assert abs(a.start - (d.t[0] + window[0])) <= 10
    assert a.message and a.score >= 1.0


def test_hog_names_the_process():
    a = [a for a in detect(_run(hog=(60, 120))) if a.kind == "cpu_hog"][0]
    assert a.process == "stress-ng-cpu" and a.pid == 300 and "bob" in a.message


def test_stall_names_the_run():
    a = [a for a in detect(_run(stall=(120, 160))) if a.kind == "stall"][0]
    assert a.process == "lmp" and a.end - a.start >= 30


@pytest.mark.parametrize("fault", ["hog", "stall", "leak", "imbalance", "io", "pressure"])
def test_online_rules_agree_with_offline(fault):
    window = {"hog": (60, 120), "stall": (120, 160), "leak": (60, 200), "imbalance": (80, 160),
              "io": (100, 150), "pressure": (100, 130)}[fault]
    d = _run(**{fault: window})
    offline = detect(d)
    rules = OnlineRules({"cores": "2"})
    for i in range(d.n):
        rules.update(d, i)
    online = rules.events
    assert _kinds(online) == _kinds(offline)
    for a in offline:
        b = [x for x in online if x.kind == a.kind][0]
        assert abs(b.start - a.start) <= 30


def test_samples_without_a_rate_are_not_a_stall():
    """10-minute samples (an imported TACC Stats trace) whose clock restarts
    at a job mark: the sample after the restart has no rate, which is not 0 %."""
    rows, ticks = [], 0
    for i in range(24):
        ticks += 95 * 600
        mono = 1000.0 + 600 * i if i < 12 else 50.0 + 600 * (i - 12)   # restarts at i = 12
        rows.append(row(i, T0 + 600 * i, mono=mono, user=2 * ticks, idle=10 * i,
                        procs=[proc(100 + r, ticks, comm="lmp", starttime=5) for r in range(2)]))
    tab = table(rows, interval_s="600")
    d = derive(tab, trace_metadata(tab.schema))
    from analyzer.signals import identify_run, run_signals
    sig, _ = run_signals(d.procs, d.n, identify_run(d.procs, None))
    assert np.isnan(sig["run_cpu"][0]) and np.isnan(sig["run_cpu"][12])
    assert np.isfinite(sig["run_cpu"][1:12]).all() and np.isfinite(sig["run_cpu"][13:]).all()
    assert "stall" not in _kinds(detect(d))


def test_leak_signal_names_the_steepest_process_and_never_one_without_rss():
    import polars as pl

    from analyzer import config
    from analyzer.signals import leak_signals
    n, big = 120, float(config.LEAK_MIN_RSS)
    t = T0 + np.arange(n, dtype=np.float64)
    rows = []
    for i in range(n):
        rows.append((i, 10, 1, "slow", big + 1e3 * i))
        rows.append((i, 11, 1, "fast", big + 1e5 * i if i != 80 else np.nan))   # rss unknown at 80
        rows.append((i, 12, 1, "small", (big / 2) * i / n))                       # steepest, below the floor
    procs = pl.DataFrame(rows, schema=["i", "pid", "starttime", "comm", "rss"], orient="row")
    sig, pids, comms = leak_signals(procs, t, n)
    assert comms[60] == "fast" and pids[60] == 11 and sig[60] == pytest.approx(1e5, rel=0.05)
    assert comms[80] == "slow" and pids[80] == 10     # a NaN rss is no evidence of growth
    assert all(c != "small" for c in (comms[i] for i in range(n)))


def test_values_at_reads_signals_and_who_at_one_sample():
    sig = {"cpu_busy_pct": np.array([1.0, 2.0]), "hog_pid": np.array([0.0, 0.0])}
    who = {"hog_pid": Attribution(np.array([-1, 1]), pl.Series([7, 8]))}
    v = ValuesAt(sig, who, 1, Run(None, "lmp"))
    assert v["cpu_busy_pct"] == 2.0 and type(v["cpu_busy_pct"]) is float
    assert v["hog_pid"] == 8                     # who is behind a signal wins over its number
    assert v["run"] == "lmp"
    assert dict(v) == {"cpu_busy_pct": 2.0, "hog_pid": 8, "run": "lmp"} and len(v) == 3
    assert ValuesAt(sig, who, 0, Run(None, None))["hog_pid"] is None
    with pytest.raises(KeyError):
        v["no_such_signal"]
