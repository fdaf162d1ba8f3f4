"""The live view's model, sources and renderables, on real samples of this node and
on synthetic rows with known answers.  The screen itself is tested in a real
terminal in test_live_tmux.py."""
from __future__ import annotations

import math
import os
import signal
import termios
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from rich.console import Console

from analyzer.derive import derive
from collector.reader import find_traces, read_trace
from collector.sampler import Sampler
from analyzer.online import OnlineRules
from collector.schema import arrow_schema, trace_metadata
from collector.writer import SegmentWriter, finalise
from paratune.cli import build_parser, main
from paratune_base.errors import ParatuneError
from paratune.live.keys import KeyReader, parse_keys
from paratune.live.model import SORT_KEYS, Model, Ring
from paratune.live.sources import FollowSource, LiveSource, ReplaySource, open_source
from paratune.live.view import ViewState, fmt_bytes, fmt_count, layout_sizes, render, spark_row
from tests.analyzer import synth
from tests.helpers import core as _core, fault_table

ROOT = Path(__file__).resolve().parents[2]
INTERVAL = 0.2


def _synthetic(n=40, gap_at=None):
    """Two cores (one busy, one idle), three processes, two of them in job 7."""
    rows = []
    for i in range(n):
        t = synth.T0 + i + (10 if gap_at is not None and i >= gap_at else 0)
        procs = [synth.proc(100, 80 * i, comm="solver", job="7", rss=(1 << 30)),
                 synth.proc(101, 20 * i, comm="helper", job="7", rss=(1 << 20)),
                 synth.proc(200, 5 * i, comm="bash", user="bob", rss=(2 << 20),
                            read_bytes=4096 * i)]
        rows.append(synth.row(i, t, user=100 * i, idle=100 * i, cores=[_core(0, i, 95), _core(1, i, 5)],
                              mem_available=(2 << 30), net_rx=1000 * i, procs=procs))
    return synth.table(rows)


@pytest.fixture(scope="module")
def real_table():
    """Eight real samples of this node, INTERVAL apart, as the live source makes them.

    This process keeps a core busy between samples: as root in a quiet container
    no process is a user's, and one that used no clock tick is in no sample."""
    s = Sampler(top_n=20)
    meta = s.metadata(INTERVAL)
    rows = []
    for _ in range(8):
        rows.append(s.sample())
        end = time.monotonic() + INTERVAL
        while time.monotonic() < end:
            pass
    return pa.Table.from_pylist(rows, schema=arrow_schema(meta)), meta


# ------------------------------------------------------------------ Ring


def test_ring_keeps_the_last_values_in_order():
    r = Ring(5)
    assert len(r.values()) == 0
    r.extend([1, 2, 3])
    assert r.values().tolist() == [1, 2, 3]
    r.extend([4, 5, 6, 7])
    assert r.values().tolist() == [3, 4, 5, 6, 7]
    r.extend(np.arange(100))
    assert r.values().tolist() == [95, 96, 97, 98, 99]


# ------------------------------------------------------------------ Model = derive


@pytest.mark.parametrize("chunks", [[1] * 40, [2, 5, 1, 32], [40]])
def test_model_history_equals_derive_of_the_whole_trace(chunks):
    """However the rows arrive, the screen's history is exactly analyze's derivation."""
    table = _synthetic()
    meta = {"host": "synth", "interval_s": "1", "clk_tck": "100"}
    whole = derive(table, meta)
    m = Model(meta, history=30, rules=None)
    pos = 0
    for k in chunks:
        assert m.push(table.slice(pos, k)) == k
        pos += k
    snap = m.snapshot()
    assert snap.samples == 40
    for name, values in whole.metrics.items():
        np.testing.assert_array_equal(snap.history[name], values[-30:], err_msg=name)
        assert np.isnan(snap.metrics[name]) == np.isnan(values[-1])
        if not np.isnan(values[-1]):
            assert snap.metrics[name] == values[-1]
    np.testing.assert_allclose(snap.core_busy, [95, 5])
    assert snap.metrics["core_imbalance_pct"] == pytest.approx(90)


def test_model_processes_jobs_and_sorts():
    m = Model({"interval_s": "1", "clk_tck": "100"}, rules=None)
    m.push(_synthetic(5))
    snap = m.snapshot()
    def col(rows, name):
        return [r[name] for r in rows]

    by_cpu = snap.sorted_procs("cpu")
    assert col(by_cpu, "comm") == ["solver", "helper", "bash"]
    assert col(by_cpu, "cpu_pct") == pytest.approx([80, 20, 5])
    assert col(snap.sorted_procs("rss"), "comm") == ["solver", "bash", "helper"]
    assert snap.sorted_procs("io")[0]["comm"] == "bash"
    assert col(snap.sorted_procs("pid"), "pid") == [100, 101, 200]
    assert snap.jobs == [{"job": "7", "cpu_pct": pytest.approx(100), "rss": (1 << 30) + (1 << 20),
                     "nprocs": 2}]
    assert snap.users == []                      # jobs are shown, users are not needed
    with_jobs = _synthetic(5)
    rows = [dict(r, procs=[dict(p, job=None) for p in r["procs"]]) for r in with_jobs.to_pylist()]
    m = Model({"interval_s": "1", "clk_tck": "100"}, rules=None)
    m.push(pa.Table.from_pylist(rows, schema=with_jobs.schema))
    users = m.snapshot().users
    assert m.snapshot().jobs == []
    assert users[0] == {"user": "alice", "nprocs": 2, "cpu_pct": pytest.approx(100),
                                   "rss": (1 << 30) + (1 << 20)}
    assert col(users, "user") == ["alice", "bob"]
    assert set(SORT_KEYS) == {"cpu", "rss", "io", "pid"}


def test_model_first_sample_has_no_rates_and_old_rows_are_ignored():
    m = Model({"interval_s": "1", "clk_tck": "100"}, rules=None)
    assert m.snapshot() is None
    table = _synthetic(6)
    m.push(table.slice(0, 1))
    snap = m.snapshot()
    assert math.isnan(snap.metrics["cpu_busy_pct"]) and [p["cpu_pct"] for p in snap.procs] == [None] * 3
    assert [p["comm"] for p in snap.sorted_procs("cpu")] == ["solver", "helper", "bash"]   # by pid
    m.push(table.slice(0, 3))                       # the first row again: only two are new
    assert m.samples == 3
    assert m.push(table.slice(1, 2)) == 0
    assert m.snapshot().metrics["cpu_busy_pct"] == pytest.approx(50)


def test_model_counts_gaps_and_shows_nan_across_them():
    m = Model({"interval_s": "1", "clk_tck": "100"}, rules=None)
    table = _synthetic(10, gap_at=5)
    for i in range(10):
        m.push(table.slice(i, 1))
        if i == 5:
            assert math.isnan(m.snapshot().metrics["cpu_busy_pct"])
    assert m.gaps == 1
    assert m.snapshot().metrics["cpu_busy_pct"] == pytest.approx(50)


def test_model_on_real_samples(real_table):
    table, meta = real_table
    m = Model(meta, rules=None)
    for i in range(table.num_rows):
        m.push(table.slice(i, 1))
    snap = m.snapshot()
    whole = derive(table, meta)
    busy = whole.metrics["cpu_busy_pct"]
    np.testing.assert_array_equal(snap.history["cpu_busy_pct"], busy)
    assert np.nanmin(busy) >= 0 and np.nanmax(busy) <= 100 + 1e-9
    assert len(snap.core_busy) == os.cpu_count()
    assert 0 < snap.metrics["mem_used_pct"] < 100
    pids = [p["pid"] for p in snap.procs]
    assert pids and len(set(pids)) == len(pids)
    assert all(p["cpu_pct"] >= 0 for p in snap.procs if p["cpu_pct"] is not None)
    want = whole.procs.filter(pl.col("i") == table.num_rows - 1)
    assert sorted(pids) == sorted(want["pid"].to_list())


def test_rules_are_fed_every_sample():
    """The online rules see each sample exactly once, in order, with rates at that index."""
    seen = []

    class Recorder:
        events = []

        def update(self, d, i):
            seen.append((float(d.t[i]), float(d.metrics["cpu_busy_pct"][i])))
            return []

    m = Model({"interval_s": "1", "clk_tck": "100"}, rules=Recorder())
    table = _synthetic(12)
    for start, k in ((0, 1), (1, 4), (5, 7)):
        m.push(table.slice(start, k))
    assert [t for t, _ in seen] == [synth.T0 + i for i in range(12)]
    assert math.isnan(seen[0][1]) and all(b == pytest.approx(50) for _, b in seen[1:])
    assert m.snapshot().rules


def test_alarms_are_those_of_the_rules_fed_the_whole_trace():
    """Feeding the rules a two-row window per sample gives the very alarms of the whole trace."""
    table = fault_table()
    meta = trace_metadata(table.schema)
    whole = derive(table, meta)
    reference = OnlineRules(meta)
    for i in range(whole.n):
        reference.update(whole, i)
    m = Model(meta)
    seen_active = False
    for i in range(table.num_rows):
        m.push(table.slice(i, 1))
        seen_active |= bool(m.snapshot().alarms)
    got = [(e.kind, e.start, e.end) for e in m.snapshot().events]
    assert got == [(e.kind, e.start, e.end) for e in reference.events]
    assert seen_active and [k for k, _, _ in got] == ["memory_pressure"]
    assert synth.T0 + 15 <= got[0][1] <= synth.T0 + 20 and got[0][2] >= synth.T0 + 54


def test_the_alarm_count_outlives_the_bounded_list(monkeypatch):
    """The rules keep only the newest LIVE_MAX_EVENTS ended alarms; the panel's title
    still counts every alarm raised."""
    from analyzer import config
    monkeypatch.setattr(config, "LIVE_MAX_EVENTS", 0)
    table = fault_table()
    m = Model(trace_metadata(table.schema))
    m.push(table)
    snap = m.snapshot()
    assert snap.events == [] and snap.raised == 1
    console = Console(width=100, height=30, record=True, file=open(os.devnull, "w"), color_system=None)
    console.print(render(snap, ViewState(source="test"), 100, 30))
    text = console.export_text()
    assert "Alarms (1 so far)" in text and "no alarms" in text


# ------------------------------------------------------------------ sources


def _write_trace(path: Path, table: pa.Table, meta) -> Path:
    schema = arrow_schema(meta)
    w = SegmentWriter(path, schema, "zstd", fsync=False)
    for batch in table.to_batches(max_chunksize=3):
        w.append(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
    return w.close(finalise_file=True)


def test_replay_plays_in_time_and_all_at_once(tmp_path, real_table):
    table, meta = real_table
    path = _write_trace(tmp_path / "node.arrow", table, meta)
    fast = ReplaySource(path, speed=0)
    got = fast.poll()
    assert got.num_rows == table.num_rows and fast.finished and fast.wait_s() == math.inf
    timed = ReplaySource(path, speed=INTERVAL * 20)      # 20 samples a second
    rows, deliveries, t0 = 0, 0, time.monotonic()
    while not timed.finished and time.monotonic() - t0 < 30:      # a hang limit, not a timing
        time.sleep(min(timed.wait_s(), 0.05))
        got = timed.poll()
        rows += got.num_rows if got is not None else 0
        deliveries += bool(got is not None and got.num_rows)
    assert rows == table.num_rows
    # in time: 7 steps at 20/s take at least 0.35 s (load only makes it longer), in several pieces
    assert time.monotonic() - t0 >= 0.33 and deliveries >= 2
    later = ReplaySource(path, speed=0, start=f"+{INTERVAL * 3.5}s")
    assert later.poll().num_rows < table.num_rows


def test_replay_pause_stops_the_clock(tmp_path, real_table):
    table, meta = real_table
    path = _write_trace(tmp_path / "node.arrow", table, meta)
    src = ReplaySource(path, speed=1000)
    src.set_paused(True)
    time.sleep(0.05)
    assert src.poll() is None and src.wait_s() == math.inf
    src.set_paused(False)
    time.sleep(0.01)
    assert src.poll().num_rows == table.num_rows


def test_replay_errors_are_one_line(tmp_path):
    with pytest.raises(ParatuneError, match="no such file"):
        ReplaySource(tmp_path / "nothing.arrow")
    bad = tmp_path / "bad.arrow"
    bad.write_bytes(b"not arrow at all")
    with pytest.raises(ParatuneError):
        ReplaySource(bad)


def test_follow_reads_batches_as_they_are_flushed_and_the_finished_file(tmp_path, real_table):
    table, meta = real_table
    schema = arrow_schema(meta)
    w = SegmentWriter(tmp_path / "2026" / "node.arrow", schema, "zstd", fsync=False)

    def append(start, k):
        b = table.slice(start, k).to_batches()[0]
        w.append(pa.RecordBatch.from_arrays(b.columns, schema=schema))

    append(0, 3)
    src = FollowSource(w.part, poll_s=0)
    assert src.poll().num_rows == 3                   # the backlog
    assert src.poll() is None
    append(3, 2)
    with open(w.part, "ab") as fh:                    # a batch cut short by a crash: not yet
        fh.write(b"\xff\xff\xff\xff\x10\x00")
    got = src.poll()
    assert got.num_rows == 2
    assert got.column("ts").to_pylist() == table.column("ts").to_pylist()[3:5]
    os.truncate(w.part, w.size)
    append(5, 3)
    w.close(finalise_file=False)
    finalise(w.part, w.path)                         # renamed to .arrow: read the rest from there
    assert not w.part.exists()
    got = src.poll()
    assert got.num_rows == 3 and src.poll() is None


def test_follow_directory_moves_to_the_newest_segment(tmp_path, real_table):
    table, meta = real_table
    _write_trace(tmp_path / "d" / "a.arrow", table.slice(0, 4), meta)
    src = FollowSource(tmp_path, poll_s=0)
    assert src.poll().num_rows == 4
    time.sleep(0.02)
    schema = arrow_schema(meta)
    w = SegmentWriter(tmp_path / "d" / "b.arrow", schema, "zstd", fsync=False)
    b = table.slice(4, 4).to_batches()[0]
    w.append(pa.RecordBatch.from_arrays(b.columns, schema=schema))
    got = src.poll()
    assert got.num_rows == 4 and "b.arrow.part" in src.label()
    w.close(finalise_file=False)


def test_follow_needs_a_trace(tmp_path):
    with pytest.raises(ParatuneError, match="no trace"):
        FollowSource(tmp_path)
    with pytest.raises(ParatuneError, match="no such"):
        FollowSource(tmp_path / "missing.arrow.part")


def test_live_source_samples_on_its_interval():
    src = LiveSource(0.5)
    m = Model(src.metadata, rules=None)
    m.warm_up()
    ts = []
    while len(ts) < 5:
        time.sleep(src.wait_s())
        rows = src.poll()
        if rows is not None:
            m.push(rows)
            ts.append(rows.column("ts")[0].value / 1e6)
    steps = np.diff(ts)
    assert steps.min() > 0.4 and np.median(steps) < 0.7, steps
    busy = m.snapshot().history["cpu_busy_pct"]
    assert np.isnan(busy[0]) and np.isfinite(busy[1:]).sum() >= 2     # rates where on time
    assert 0 <= np.nanmax(busy) <= 100 + 1e-9


def test_live_source_records_through_the_daemons_writer(tmp_path):
    args = build_parser().parse_args(["live", "--record", str(tmp_path / "rec"), "--interval", "0.5"])
    src = open_source(args)
    assert "recording" in src.label()
    got = []
    try:
        while len(got) < 3:
            time.sleep(src.wait_s())
            got.append(src.poll())
    finally:
        src.close()
    files = find_traces([tmp_path / "rec"])
    assert len(files) == 1 and files[0].name.endswith(".arrow")
    back = read_trace(files[0]).table
    assert back.column("ts").to_pylist() == [t.column("ts")[0].as_py() for t in got]


def test_follow_once_prints_the_tail_of_a_recording(tmp_path, real_table, capsys):
    table, meta = real_table
    _write_trace(tmp_path / "d" / "node.arrow", table, meta)
    assert main(["live", "--follow", str(tmp_path), "--once"]) == 0
    out = capsys.readouterr().out
    assert "following node.arrow" in out and "Processes" in out


# ------------------------------------------------------------------ keys and view


def test_key_reader_restores_the_terminal_even_on_an_exception():
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        with pytest.raises(RuntimeError):
            with KeyReader(slave) as keys:
                assert not termios.tcgetattr(slave)[3] & termios.ICANON    # cbreak while reading
                os.write(master, b"s\x1b[B")
                assert keys.read(2.0) == ["s", "down"]
                os.kill(os.getpid(), signal.SIGWINCH)                     # a resize wakes it at once
                assert "resize" in keys.read(2.0)
                raise RuntimeError("boom")
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)



def test_parse_keys():
    assert parse_keys(b"qps?") == ["q", "p", "s", "?"]
    assert parse_keys(b"\x1b[A\x1b[B\x1b[5~\x1b[6~\x1bOA") == ["up", "down", "pgup", "pgdn", "up"]
    assert parse_keys(b"\x1b") == ["esc"]
    assert parse_keys(b"\x1b[1;5Cx") == ["x"]              # unknown sequence swallowed whole
    assert parse_keys(b"\x03") == ["ctrl-c"]


def test_number_formats():
    assert fmt_bytes(512) == "512B" and fmt_bytes(4.1 * 2**20) == "4.1M"
    assert fmt_bytes(23 * 2**30) == "23G" and fmt_bytes(float("nan")) == "–"
    assert fmt_count(950) == "950" and fmt_count(12_345) == "12k" and fmt_count(3.4e6) == "3.4M"


def test_spark_row_puts_the_newest_value_next_to_now():
    """The report's sparkline (analyzer.report.format, tested there), right-aligned:
    a short history starts at the right, beside the current value."""
    row = spark_row("busy", np.array([0, 50, 100.0]), 20, "green", 100.0, "100%")
    assert row.plain == "busy        ▁▅█ 100%" and len(row.plain) == 20
    full = spark_row("busy", np.arange(100.0), 20, "green", None, " 99%")
    assert full.plain == "busy ▁▂▃▃▄▅▆▇██  99%"                 # ten bins of ten samples
    assert spark_row("busy", None, 20, "green", 100.0, "–").plain == "busy" + " " * 15 + "–"


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 50), (60, 16)])
def test_render_fits_the_terminal_and_shows_every_panel(size):
    width, height = size
    m = Model({"interval_s": "1", "clk_tck": "100", "host": "synth"}, rules=None)
    m.push(_synthetic(30))
    state = ViewState(source="replay test")
    console = Console(width=width, height=height, record=True, file=open(os.devnull, "w"),
                      color_system=None)
    console.print(render(m.snapshot(), state, width, height))
    text = console.export_text()
    lines = text.rstrip("\n").split("\n")
    assert len(lines) == height and max(len(line) for line in lines) <= width
    if height >= 24:
        for panel in ("CPU", "Memory & I/O", "Alarms", "Jobs", "Processes", "solver"):
            assert panel in text, panel
        assert "? help" in lines[0]
    top, mid, procs = layout_sizes(height)
    assert 1 + top + 2 + mid + 2 + procs + 2 <= max(height, 24)


def test_render_help_and_waiting():
    console = Console(width=80, height=24, record=True, file=open(os.devnull, "w"), color_system=None)
    console.print(render(None, ViewState(help=True), 80, 24))
    text = console.export_text()
    assert "quit" in text and "pause" in text and "sort" in text
    console.print(render(None, ViewState(), 80, 24))
    assert "waiting for the first sample" in console.export_text()


def test_view_state_sort_and_scroll():
    s = ViewState(page=5)
    seen = [s.sort]
    for _ in range(len(SORT_KEYS)):
        s.cycle_sort()
        seen.append(s.sort)
    assert seen[:-1] == list(SORT_KEYS) and seen[-1] == SORT_KEYS[0]
    s.scroll(3, total=20)
    assert s.offset == 3
    s.scroll(100, total=20)
    assert s.offset == 15
    s.scroll(-100, total=20)
    assert s.offset == 0


# ------------------------------------------------------------------ the command


def _cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "paratune.cli", "live", *args], cwd=ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def test_without_a_terminal_it_says_so():
    r = _cli()
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "needs a terminal" in r.stderr and "--once" in r.stderr


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    for args, msg in ((("--replay", str(tmp_path / "x.arrow"), "--once"), "no such file"),
                      (("--speed", "0", "--replay", "x"), "--speed"),
                      (("--from", "+1m", "--once"), "--from needs --replay"),
                      (("--record", str(tmp_path), "--follow", str(tmp_path)), "--record")):
        assert main(["live", *args]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err


def test_once_prints_a_snapshot_of_a_replay(tmp_path, real_table, capsys):
    table, meta = real_table
    path = _write_trace(tmp_path / "node.arrow", table, meta)
    assert main(["live", "--replay", str(path), "--once"]) == 0
    out = capsys.readouterr().out
    for panel in ("CPU", "Memory & I/O", "Alarms", "Processes", meta["host"], "end of trace"):
        assert panel in out, panel
    assert len(out.splitlines()) == 30
