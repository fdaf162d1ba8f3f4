"""What several test modules build or run: trace rows and segments, a full file system, a real
recorder process and its SIGKILL cycle, fleet copies of the sample traces, the live view's
faulty node.  Their fixtures are in tests/conftest.py and tests/collector/conftest.py; no test
module imports another."""
from __future__ import annotations

import errno
import os
import random
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from collector import schema, writer
from collector.reader import find_traces, read_trace, read_traces
from paratune_base.errors import ParatuneError
from tests.analyzer import synth

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_traces"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
HANG_S = 60.0
"""How long a wait may take before it counts as a hang: a bound for a loaded machine, not a speed."""


# ---- trace rows and segments ---------------------------------------------------------------

T0 = 1_767_225_600_000_000          # 2026-01-01T00:00:00Z in microseconds


def make_row(i: int, ts: int | None = None, procs: int = 3, cores: int = 2) -> dict:
    """A valid trace row whose counters move with ``i`` (what the Sampler returns, in miniature)."""
    row = dict.fromkeys(schema.FIELDS)
    row["ts"] = T0 + i * 1_000_000 if ts is None else ts
    row["mono_ns"] = 10**12 + i * 10**9
    for st in schema.CPU_STATES:
        row[f"cpu_{st}"] = 1000 * i + len(st)
    row.update(ctxt=10**6 + 997 * i, intr=10**6 + 13 * i, forks=500 + i, procs_running=1,
               procs_blocked=0, load1=0.5, nprocs=100 + i % 3, mem_total=2**34, mem_free=2**33 - i)
    row["cores"] = [{"cpu": c, **{st: 100 * i + c for st in schema.CPU_STATES}, "freq_mhz": 2400.0}
                    for c in range(cores)]
    row["nets"] = [{"name": "eth0", "loopback": False, "rx_bytes": 1500 * i, "tx_bytes": 700 * i}]
    row["disks"] = [{"name": "vda", "reads": i, "writes": 2 * i, "in_flight": 0}]
    row["procs"] = [{"pid": 100 + k, "ppid": 1, "uid": 1000, "user": "alice", "comm": f"lmp_{k}",
                     "state": "R", "threads": 4, "utime": 97 * i + k, "stime": 3 * i, "starttime": 12345,
                     "rss": 10**8 + 4096 * i, "read_bytes": None, "write_bytes": 4096 * i, "job": "42",
                     "cmdline": None} for k in range(procs)]
    row["ib"] = row["rapl"] = row["gpus"] = row["fs"] = []
    return row


def schema_for(host="n1") -> pa.Schema:
    return schema.arrow_schema({"host": host, "interval_s": "1.0"})


def write_segment(folder: Path, flushes: int, per_flush: int = 3, host="n1", compression="zstd",
                  close=True) -> writer.SegmentWriter:
    sch = schema_for(host)
    seg = writer.SegmentWriter(writer.segment_path(folder, host, T0), sch, compression)
    for f in range(flushes):
        seg.append(writer.rows_to_batch([make_row(f * per_flush + j) for j in range(per_flush)], sch))
    if close:
        seg.close()
    return seg


def ts_us(table: pa.Table) -> list[int]:
    return table.column("ts").cast(pa.int64()).to_pylist()


def ts_seconds(table: pa.Table) -> list[float]:
    return [v / 1e6 for v in ts_us(table)]


# ---- a full file system --------------------------------------------------------------------

def fill(folder: Path) -> Path:
    """Fill the file system holding ``folder``; returns the filler file."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


# ---- a real recorder -----------------------------------------------------------------------

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

    def wait_log(self, pattern: str, timeout: float = HANG_S) -> re.Match:
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


def wait_rows(part: Path, rows: int = 1, timeout: float = HANG_S) -> None:
    """Until the recorder's ``part`` holds ``rows`` flushed rows, or is gone (finished or
    rotated away meanwhile)."""
    end = time.monotonic() + timeout
    while part.exists():
        try:
            if read_trace(part).table.num_rows >= rows:
                return
        except ParatuneError:
            if part.exists():
                raise
        assert time.monotonic() < end, f"{part} has not {rows} rows after {timeout:g} s"
        time.sleep(0.01)


KILL_INTERVAL, KILL_FLUSH = 0.1, 0.3
"""--interval and --flush of the recorders killed by the SIGKILL cycles."""
KILL_LOSS_S = KILL_FLUSH + 2 * KILL_INTERVAL + 0.5
"""What a kill may lose: a flush interval, the sample in hand, scheduling slack."""


@dataclass
class Kill:
    """What one SIGKILL of a running recorder left: seconds of samples lost (None when nothing
    read back), and what did not survive it (None when everything did)."""
    lost: float | None
    problem: str | None = None


def _after_kill(out: Path, killed_at: float) -> Kill:
    try:
        traces = read_traces([out])
    except ParatuneError as exc:
        return Kill(None, f"the files left behind do not read back: {exc}")
    if len(traces) != 1:
        return Kill(None, f"{len(traces)} traces left behind, not one")
    ts = ts_seconds(traces[0].table)
    if not ts:
        return Kill(None, "no sample read back, not even the first flush's")
    lost = killed_at - ts[-1]
    if any(b <= a for a, b in zip(ts, ts[1:])):
        return Kill(lost, "rows out of order or repeated")
    if lost >= KILL_LOSS_S:
        return Kill(lost, f"lost {lost:.2f} s of samples")
    for f in find_traces([out]):
        tf = read_trace(f)
        if not (tf.table.num_rows or tf.recovered):
            return Kill(lost, f"{f.name}: a finished file without rows")
    return Kill(lost)


def _kill_cycle(out: Path, recorders, rng: random.Random, right_after_flush: bool) -> Kill:
    """Start a recorder, SIGKILL it right after a flush or at a random moment, see what it left."""
    rec = recorders(out, "--interval", str(KILL_INTERVAL), "--flush", str(KILL_FLUSH), "--rotate", "1")
    part = Path(rec.wait_log(r"writing (\S+\.arrow\.part)").group(1))
    wait_rows(part)                                     # the first flush is on disk
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
    return _after_kill(out, killed_at)


def _kill_lane(out: Path, recorders, kills: int, seed: int) -> tuple[list[Kill], list[str]]:
    rng = random.Random(seed)
    done = [_kill_cycle(out, recorders, rng, right_after_flush=k % 2 == 1) for k in range(kills)]
    # A clean run afterwards finishes what the killed ones left as .part.
    rec = recorders(out, "--interval", "0.1", "--flush", "0.2", "--duration", "0.5")
    unfinished = []
    if rec.proc.wait(HANG_S) != 0:
        unfinished.append(f"{out.name}: the next recorder failed:\n{rec.text()}")
    files = find_traces([out])
    if not files:
        unfinished.append(f"{out.name}: no file left")
    for f in files:
        if not f.name.endswith(".arrow"):
            unfinished.append(f"{out.name}: {f.name} left unfinished")
            continue
        with pa.ipc.open_file(f) as fh:
            if fh.num_record_batches < 1:
                unfinished.append(f"{out.name}: {f.name} is empty")
    unfinished += [f"{out.name}: {p.name} left behind" for p in out.rglob("*.tmp")]
    return done, unfinished


def kill_lanes(folder: Path, recorders, lanes: int, kills: int, seed: int) -> tuple[list[Kill], list[str]]:
    """``lanes`` output directories side by side, each with ``kills`` recorders killed in turn and
    then a clean one; what each kill left, and what the clean ones did not finish."""
    with ThreadPoolExecutor(lanes) as pool:
        jobs = [pool.submit(_kill_lane, folder / f"lane{k}", recorders, kills, seed + k)
                for k in range(lanes)]
        results = [job.result() for job in jobs]
    return [k for done, _ in results for k in done], [u for _, unfinished in results for u in unfinished]


# ---- fleet copies of the sample traces -----------------------------------------------------

def as_node(src: Path, dst: Path, host: str, job: str | None = None, comm: str = "lmp") -> None:
    """Copy a recording as if ``host`` recorded it, its ``comm`` processes in ``job``."""
    t = read_trace(src).table
    if job is not None:
        procs = t.column("procs").combine_chunks()
        flat = procs.flatten()
        mine = pc.equal(flat.field("comm"), comm).fill_null(False)
        jobs = pc.if_else(mine, pa.scalar(job), flat.field("job"))
        fields = [jobs if f.name == "job" else flat.field(f.name) for f in flat.type]
        flat = pa.StructArray.from_arrays(fields, fields=list(flat.type))
        procs = pa.ListArray.from_arrays(procs.offsets, flat, type=procs.type)
        t = t.set_column(t.schema.get_field_index("procs"), t.schema.field("procs"), procs)
    meta = dict(t.schema.metadata)
    meta[b"paratune.host"] = host.encode()
    t = t.replace_schema_metadata(meta)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with pa.ipc.new_file(str(dst), t.schema) as w:
        w.write_table(t)


# ---- the live view's faulty node -----------------------------------------------------------

def core(c, i, busy):
    """Core ``c`` at second ``i``, ``busy`` % of it user time."""
    return {"cpu": c, "user": busy * i, "nice": 0, "system": 0, "idle": (100 - busy) * i,
            "iowait": 0, "irq": 0, "softirq": 0, "steal": 0, "guest": 0, "guest_nice": 0,
            "freq_mhz": None}


def fault_table() -> pa.Table:
    """80 s of a node running job 1234, with 40 s of memory pressure (3% available) in the middle."""
    total = 8 << 30
    rows = []
    for i in range(80):
        avail = total * 3 // 100 if 15 <= i < 55 else total // 2
        cores = [dict(core(c, i, 70), system=10 * i, user=60 * i) for c in range(2)]
        rows.append(synth.row(i, user=120 * i, system=20 * i, idle=60 * i, cores=cores,
                              mem_total=total, mem_available=avail, load1=1.5,
                              procs=[synth.proc(4242, 70 * i, comm="solver", job="1234",
                                                rss=total - avail - (1 << 30)),
                                     synth.proc(4243, 50 * i, comm="solver", job="1234")]))
    return synth.table(rows, host="faulty")
