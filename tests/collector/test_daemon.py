"""The recorder as users run it: a real ``paratune record`` process, real signals, real files."""
import os
import random
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from paratune.errors import ParatuneError

from collector.daemon import Jitter, Schedule, segment_key
from collector.reader import find_traces, read_trace, read_traces
from tests.collector.test_writer import fill, tmpfs  # noqa: F401  (fixture)
from tests.mounts import tmpfs as mounted_tmpfs

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "trace-format.md"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


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

class Recorder:
    """``paratune record`` in a subprocess; stderr goes to a file we can read while it runs."""

    def __init__(self, out: Path, *args: str, log: Path | None = None):
        self.out = out
        self.log = log or out.parent / f"{out.name}-{time.monotonic_ns()}.log"
        self._fh = open(self.log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "paratune.cli", "record", "--output", str(out),
                                      *args], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                                     stderr=self._fh)

    def text(self) -> str:
        return self.log.read_text()

    def wait_log(self, pattern: str, timeout: float = 15.0) -> re.Match:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no {pattern!r} in the log:\n{self.text()}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._fh.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._fh.close()


@pytest.fixture
def recorders():
    """Recorders started by a test; any still running at the end is killed."""
    started = []
    yield lambda *a, **k: started.append(Recorder(*a, **k)) or started[-1]
    for r in started:
        r.kill()


def ts_seconds(table: pa.Table) -> list[float]:
    return [v / 1e6 for v in table.column("ts").cast(pa.int64()).to_pylist()]


def check_log(text: str) -> None:
    assert "Traceback" not in text, text
    for line in text.splitlines():
        assert re.match(r"^\S+ paratune record: (INFO|WARNING|ERROR) ", line), line


def test_duration_gives_the_sample_count(tmp_path, recorders):
    rec = recorders(tmp_path / "out", "--duration", "2", "--interval", "0.2", "--flush", "1")
    t0 = time.monotonic()
    assert rec.proc.wait(30) == 0
    assert time.monotonic() - t0 < 10
    files = find_traces([tmp_path / "out"])
    assert len(files) == 1 and files[0].name.endswith(".arrow")
    table = read_trace(files[0]).table
    assert 9 <= table.num_rows <= 11
    ts = ts_seconds(table)
    assert all(b > a for a, b in zip(ts, ts[1:]))
    late = sorted((t * 1000) % 200 for t in ts)           # samples sit just after multiples of 0.2 s
    assert late[len(late) // 2] < 50
    m = rec.wait_log(r"stopped: (\d+) samples, (\d+) written .* 0 dropped; jitter p50 ([\d.]+) ms")
    assert int(m.group(1)) == int(m.group(2)) == table.num_rows
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
    rec.wait_log(r"writing .*\.arrow\.part")
    time.sleep(0.5)
    assert rec.stop() == 0
    check_log(rec.text())
    assert "stopped:" in rec.text()
    files = sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert len(files) == 1 and files[0].suffix == ".arrow", files
    with pa.ipc.open_file(files[0]) as f:
        table = f.read_all()
    rows = table.num_rows
    assert rows >= 3
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
    ts = ts_seconds(traces[0].table)
    assert all(0.1 < b - a < 0.5 for a, b in zip(ts, ts[1:]))   # no gap, no overlap at the switch
    check_log(rec.text())


def _kill_cycle(out: Path, recorders, rng: random.Random, right_after_flush: bool) -> float:
    """Start a recorder, SIGKILL it, check what it left; returns the seconds of samples lost."""
    interval, flush = 0.1, 0.3
    rec = recorders(out, "--interval", str(interval), "--flush", str(flush), "--rotate", "1")
    part = Path(rec.wait_log(r"writing (\S+\.arrow\.part)").group(1))
    end = time.monotonic() + 10
    while part.exists():                                # until the first flush is on disk
        try:
            if read_trace(part).table.num_rows:
                break
        except ParatuneError:                           # rotated away (--rotate 1) meanwhile
            if part.exists():
                raise
        assert time.monotonic() < end
        time.sleep(0.01)
    if right_after_flush:
        size = part.stat().st_size if part.exists() else 0
        end = time.monotonic() + 5
        while time.monotonic() < end:
            now = part.stat().st_size if part.exists() else size
            if now != size:
                break
            time.sleep(0.001)
    else:
        time.sleep(rng.uniform(0.0, 0.8))
    killed_at = time.time()
    rec.kill()
    traces = read_traces([out])                         # every file left behind reads back
    assert len(traces) == 1
    ts = ts_seconds(traces[0].table)
    assert all(b > a for a, b in zip(ts, ts[1:])), "rows out of order or repeated"
    lost = killed_at - ts[-1]           # a flush interval, the sample in hand, scheduling slack
    assert lost < flush + 2 * interval + 0.5, f"lost {lost:.2f}s of samples"
    for f in find_traces([out]):
        tf = read_trace(f)
        assert tf.table.num_rows > 0 or tf.recovered
    return lost


def _kill_lane(out: Path, recorders, kills: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    lost = [_kill_cycle(out, recorders, rng, right_after_flush=k % 2 == 1) for k in range(kills)]
    # A clean run afterwards finishes what the killed ones left as .part.
    rec = recorders(out, "--interval", "0.1", "--flush", "0.2", "--duration", "0.5")
    assert rec.proc.wait(30) == 0
    files = find_traces([out])
    assert files and all(f.name.endswith(".arrow") for f in files), files
    for f in files:
        with pa.ipc.open_file(f) as fh:
            assert fh.num_record_batches >= 1
    assert not [p for p in out.rglob("*.tmp")]
    return lost


def _kill_many(folder: Path, recorders, lanes: int, kills: int, seed: int) -> list[float]:
    """``lanes`` output directories side by side, each with ``kills`` recorders killed in turn;
    the seconds of samples each kill lost."""
    with ThreadPoolExecutor(lanes) as pool:
        jobs = [pool.submit(_kill_lane, folder / f"lane{k}", recorders, kills, seed + k)
                for k in range(lanes)]
        return [lost for job in jobs for lost in job.result()]


@pytest.fixture
def fast_dir(tmp_path):
    """A tmpfs when we may mount one: SIGKILL keeps what write() returned for, so a disk's
    fsync latency would only add noise to the loss bound; else plain tmp_path."""
    mnt = tmp_path / "mem"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)],
                      capture_output=True).returncode:
        yield tmp_path
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_sigkill_leaves_only_readable_files(fast_dir, recorders):
    _kill_many(fast_dir, recorders, lanes=2, kills=3, seed=1)


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
def test_disk_full_is_waited_out(tmpfs, tmp_path, recorders, buffer_limit):  # noqa: F811
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
    text = rec.text()
    check_log(text)
    m = re.search(r"stopped: (\d+) samples, (\d+) written .* (\d+) dropped", text)
    samples, written, dropped = map(int, m.groups())
    assert samples == written + dropped
    assert (dropped > 0) == bool(buffer_limit)
    traces = read_traces([tmpfs])
    ts = ts_seconds(traces[0].table)
    assert len(ts) == written
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    if buffer_limit:
        assert max(gaps) > 0.1 * (dropped + 1) - 0.05   # one stretch: the oldest unwritten went
    else:
        assert max(gaps) < 0.35                         # nothing lost while the disk was full
