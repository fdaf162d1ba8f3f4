"""The recorder as users run it: a real ``paratune record`` process, real signals, real files.

A loaded machine makes the recorder late or makes it skip deadlines, and it says so in its
last log line (skipped deadlines, jitter p50 and max): the checks on sample counts and times
hold for whatever that line reports, not for an idle machine's timing."""
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from collector.daemon import Jitter, Schedule, segment_key
from collector.reader import find_traces, read_trace, read_traces
from tests.helpers import ENV, HANG_S, ROOT, fill, kill_lanes, ts_us, wait_rows
from tests.mounts import tmpfs as mounted_tmpfs

DOC = ROOT / "docs" / "trace-format.md"
EPS = 0.05
"""Seconds a sample's clock reading may trail the deadline check the jitter measures from."""


# ---- the schedule, on its own ------------------------------------------------------

def test_deadlines_sit_on_wall_clock_multiples():
    s = Schedule(1.0, mono=100.0, wall=1_000_000.3)
    d = [s.next(100.0 + k)[0] for k in range(3)]
    assert d == pytest.approx([100.7, 101.7, 102.7])      # wall 1_000_001.0, .2.0, .3.0
    s = Schedule(0.25, mono=5.0, wall=10.1)
    assert s.next(5.0) == (pytest.approx(5.15), 0)          # wall 10.25


def test_late_sample_is_taken_missed_deadlines_are_skipped():
    s = Schedule(1.0, mono=0.0, wall=0.5)                   # deadlines at mono 0.5, 1.5, ...
    assert s.next(0.0) == (pytest.approx(0.5), 0)
    assert s.next(2.3) == (pytest.approx(1.5), 0)           # 0.8 s late: take it, no burst after
    deadline, skipped = s.next(5.2)                         # 2.5, 3.5 and 4.5 are long gone
    assert deadline == pytest.approx(5.5) and skipped == 3
    assert s.next(5.6) == (pytest.approx(6.5), 0)


def test_wall_clock_step_realigns():
    s = Schedule(1.0, mono=0.0, wall=100.0)
    assert s.realign(0.5, 100.51) == 0.0                    # NTP slew noise: ignored
    assert s.realign(1.0, 101.4) == pytest.approx(0.4)      # a step
    assert s.next(1.0)[0] == pytest.approx(1.6)             # wall 102.0 again


def test_segments_change_on_the_hour_at_midnight_and_on_sighup():
    day = 1_767_225_600_000_000                             # 2026-01-01T00:00:00Z
    s = 1_000_000
    assert segment_key(day + 60 * s, 3600) == segment_key(day + 3599 * s, 3600)
    assert segment_key(day + 3599 * s, 3600) != segment_key(day + 3600 * s, 3600)
    # 7000 s does not divide a day: midnight still starts a new file
    assert (day - s) // (7000 * s) == day // (7000 * s)
    assert segment_key(day - s, 7000) != segment_key(day, 7000)
    assert segment_key(day, 3600, generation=1) != segment_key(day, 3600, generation=0)


def test_jitter_quantiles():
    j = Jitter()
    for ms in [1] * 98 + [20, 300]:
        j.add(ms / 1000)
    assert j.count == 100 and j.max == pytest.approx(0.3)
    assert j.quantile(0.5) == pytest.approx(0.0011, abs=1e-4)
    assert j.quantile(0.99) == pytest.approx(0.0201, abs=1e-4)
    assert "p99 20.1 ms" in j.summary()
    assert Jitter().quantile(0.5) == 0.0


# ---- a real recorder -----------------------------------------------------------------

def check_log(text: str) -> None:
    assert "Traceback" not in text, text
    for line in text.splitlines():
        assert re.match(r"^\S+ paratune record: (INFO|WARNING|ERROR) ", line), line


@dataclass
class Stopped:
    """The recorder's last log line: counts, and lateness in seconds."""
    samples: int
    written: int
    skipped: int
    dropped: int
    p50: float
    max: float


def stopped(text: str) -> Stopped:
    m = re.search(r"stopped: (\d+) samples, (\d+) written in \d+ file\(s\), (\d+) skipped deadlines, "
                  r"(\d+) dropped; jitter p50 ([\d.]+) ms, p99 [\d.]+ ms, max ([\d.]+) ms", text)
    assert m, f"no closing line in the log:\n{text}"
    return Stopped(*map(int, m.groups()[:4]), float(m[5]) / 1e3, float(m[6]) / 1e3)


def check_spacing(table: pa.Table, interval: float, stop: Stopped, missing: int = 0) -> list[float]:
    """Each row is a sample of its own deadline, ``interval`` apart, moved only by its lateness
    (at most the logged max): between the first and the last row, every deadline gave a row
    or is one of the ``missing`` (skipped, dropped).  Returns the gaps between rows (s)."""
    mono = [v / 1e9 for v in table.column("mono_ns").to_pylist()]
    gaps = [b - a for a, b in zip(mono, mono[1:])]
    slack, n = stop.max + EPS, len(mono)
    assert all(interval - slack <= g <= (1 + missing) * interval + slack for g in gaps), gaps
    assert (n - 1) * interval - slack <= mono[-1] - mono[0] <= (n - 1 + missing) * interval + slack
    return gaps


def test_duration_gives_the_sample_count(tmp_path, recorders):
    """--duration 2 at --interval 0.2 is ten deadlines: each one sampled or, on a busy machine,
    skipped and counted; then the recorder exits by itself."""
    rec = recorders(tmp_path / "out", "--duration", "2", "--interval", "0.2", "--flush", "1")
    assert rec.proc.wait(HANG_S) == 0                   # no signal: --duration stopped it
    stop = stopped(rec.text())
    files = find_traces([tmp_path / "out"])
    assert len(files) == 1 and files[0].name.endswith(".arrow")
    table = read_trace(files[0]).table
    assert table.num_rows == stop.samples == stop.written and stop.dropped == 0
    assert table.num_rows <= 10 <= table.num_rows + stop.skipped
    check_spacing(table, 0.2, stop, missing=stop.skipped)
    late = sorted(t % 200_000 / 1e6 for t in ts_us(table))    # samples sit just after multiples of 0.2 s
    assert late[(len(late) - 1) // 2] <= stop.p50 + EPS, (late, stop)
    check_log(rec.text())


def doc_queries(folder: Path) -> dict[str, str]:
    """The polars and DuckDB snippets of docs/trace-format.md, pointed at ``folder``."""
    text = DOC.read_text()
    out = {}
    for name in ("polars", "duckdb"):
        m = re.search(rf"<!-- query: {name} -->\s*```python\n(.*?)```", text, re.S)
        assert m, f"docs/trace-format.md lost its {name} query"
        out[name] = m.group(1).replace('"paratune-traces', f'"{folder}')
    return out


def test_sigterm_finishes_a_file_every_tool_reads(tmp_path, recorders):
    out = tmp_path / "out"
    rec = recorders(out, "--interval", "0.2", "--flush", "0.4")
    wait_rows(Path(rec.wait_log(r"writing (\S+\.arrow\.part)")[1]), 3)
    assert rec.stop() == 0
    check_log(rec.text())
    stop = stopped(rec.text())
    files = sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert len(files) == 1 and files[0].suffix == ".arrow", files
    with pa.ipc.open_file(files[0]) as f:
        table = f.read_all()
    rows = table.num_rows
    assert rows >= 3 and rows == stop.written == stop.samples
    assert pl.read_ipc(files[0]).height == rows
    trace = table
    assert duckdb.sql("SELECT count(*) FROM trace").fetchall() == [(rows,)]
    frame = pl.read_ipc(files[0])
    assert duckdb.sql("SELECT count(*) FROM frame").fetchall() == [(rows,)]
    nprocs = sum(len(p) for p in table.column("procs").to_pylist())
    assert nprocs > 0                                   # at least this test's own process tree
    for name, code in doc_queries(out).items():
        env = {}
        exec(code, env)                                 # noqa: S102 - our own documentation
        assert env["procs"].height == nprocs, name
        assert {"ts", "pid", "comm", "utime", "starttime"} <= set(env["procs"].columns), name


def test_sighup_starts_a_new_file(tmp_path, recorders):
    out = tmp_path / "out"
    rec = recorders(out, "--interval", "0.2", "--flush", "0.4")
    first = rec.wait_log(r"writing (\S+\.arrow\.part)").group(1)
    time.sleep(1.1)                                     # the next file starts in a later second
    rec.proc.send_signal(signal.SIGHUP)
    second = rec.wait_log(r"writing (?!" + re.escape(first) + r")(\S+\.arrow\.part)").group(1)
    rec.wait_log(r"finished " + re.escape(first[:-5]))  # the first one became an IPC file
    time.sleep(0.5)
    assert rec.stop() == 0
    files = find_traces([out])
    assert [f.name for f in files] == sorted([Path(first[:-5]).name, Path(second[:-5]).name])
    traces = read_traces([out])
    assert len(traces) == 1 and len(traces[0].segments) == 2
    stop = stopped(rec.text())                          # no gap, no overlap at the switch:
    assert traces[0].table.num_rows == stop.samples == stop.written
    check_spacing(traces[0].table, 0.2, stop, missing=stop.skipped)
    check_log(rec.text())


def test_sigkill_leaves_only_readable_files(fast_dir, recorders):
    kills, unfinished = kill_lanes(fast_dir, recorders, lanes=2, kills=3, seed=1)
    assert [k.problem for k in kills if k.problem] == [] and unfinished == []


def test_second_recorder_for_the_same_directory_refuses(tmp_path, recorders):
    out = tmp_path / "out"
    first = recorders(out, "--interval", "0.2", "--flush", "0.4")
    first.wait_log(r"writing ")
    second = recorders(out, "--interval", "0.2")
    assert second.proc.wait(30) == 1
    assert re.fullmatch(r"paratune record: error: another paratune record is already writing \S+ for "
                        r"host \S+\n", second.text())
    assert first.stop() == 0


def test_unwritable_output_is_one_line_and_nonzero(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = subprocess.run([sys.executable, "-m", "paratune.cli", "record", "--output", str(blocker / "sub"),
                          "--duration", "1"], cwd=ROOT, env=ENV, capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 1
    assert res.stderr == f"paratune record: error: cannot create output directory {blocker / 'sub'}: " \
                         "Not a directory\n"


def test_read_only_output_is_one_line_and_nonzero(tmp_path):
    with mounted_tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        res = subprocess.run([sys.executable, "-m", "paratune.cli", "record", "--output", str(ro),
                              "--duration", "1"], cwd=ROOT, env=ENV, capture_output=True, text=True,
                             timeout=30)
    assert res.returncode == 1
    assert res.stderr == f"paratune record: error: cannot write to output directory {ro}: " \
                         "Read-only file system\n"


@pytest.mark.parametrize("buffer_limit", [None, 10])
def test_disk_full_is_waited_out(tmpfs, tmp_path, recorders, buffer_limit):
    args = ["--interval", "0.1", "--flush", "0.2"]
    if buffer_limit:
        cfg = tmp_path / "small.toml"
        cfg.write_text(f"[record]\nbuffer_limit = {buffer_limit}\n")
        args += ["--config", str(cfg)]
    rec = recorders(tmpfs, *args, log=tmp_path / "rec.log")
    rec.wait_log(r"writing ")
    time.sleep(0.3)
    filler = fill(tmpfs)
    rec.wait_log(r"ERROR cannot write to .*No space left on device")
    time.sleep(1.5)                                     # several failed flushes, a full buffer
    assert rec.proc.poll() is None
    assert len(re.findall("cannot write to", rec.text())) == 1
    if buffer_limit:
        rec.wait_log(r"memory buffer full \(10 samples\)")
        assert len(re.findall("memory buffer full", rec.text())) == 1
    filler.unlink()
    rec.wait_log(r"writing again after")
    time.sleep(0.5)
    assert rec.stop() == 0
    check_log(rec.text())
    stop = stopped(rec.text())
    assert stop.samples == stop.written + stop.dropped
    assert (stop.dropped > 0) == bool(buffer_limit)     # without a limit nothing is lost
    table = read_traces([tmpfs])[0].table
    assert table.num_rows == stop.written
    gaps = check_spacing(table, 0.1, stop, missing=stop.skipped + stop.dropped)
    if buffer_limit:                                    # one stretch: the oldest unwritten went
        assert max(gaps) >= (stop.dropped + 1) * 0.1 - (stop.max + EPS)
