"""Cost of writing traces: encode + write + fsync per flush, finalising a segment, size per node-hour.

Run the timed benches with
    .venv/bin/python -m pytest benches/bench_writer.py --benchmark-enable
and the size/CPU table of docs/trace-format.md with
    .venv/bin/python benches/bench_writer.py [--hours 1] [--real SECONDS]

Rows come from a synthetic node that moves like a busy one (64 cores, an MPI
job of 64 ranks plus 12 daemons; every CPU tick counter moves every second by
a few random ticks, a rank's rss and write_bytes in 10% of the seconds, or in
all of them with ``--churn 1``), or, with ``--real``, from the real Sampler on
this machine at 1 Hz.  Identical rows would compress to nothing, so the
counters keep moving.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector import schema, writer  # noqa: E402
from collector.reader import read_trace  # noqa: E402

CODECS = ("none", "lz4", "zstd")


class SyntheticNode:
    """A node whose counters advance like a busy HPC node's, one ``row()`` per second."""

    def __init__(self, cores: int = 64, ranks: int = 64, daemons: int = 12, seed: int = 1,
                 churn: float = 0.1):
        self.rng = random.Random(seed)
        self.churn = churn      # share of seconds in which a rank's rss and write_bytes move
        self.cores, self.i = cores, 0
        self.ts = 1_767_225_600_000_000            # 2026-01-01T00:00:00Z
        self.node = {f"cpu_{s}": 10**7 for s in schema.CPU_STATES}
        self.node.update(ctxt=10**9, intr=10**9, forks=10**6, pgfault=10**9, pgmajfault=10**4,
                         pswpin=0, pswpout=0, pgscan=10**6, pgsteal=10**6, psi_cpu_some=10**8,
                         psi_mem_some=10**6, psi_mem_full=10**5, psi_io_some=10**7, psi_io_full=10**6)
        self.core = [{s: 10**6 + c for s in schema.CPU_STATES} for c in range(cores)]
        self.nets = {n: {f.name: 10**9 for f in schema.NET_FIELDS if f.kind == schema.COUNTER}
                     for n in ("lo", "eno1", "ib0")}
        self.disks = {d: {f.name: 10**8 for f in schema.DISK_FIELDS if f.kind == schema.COUNTER}
                      for d in ("nvme0n1", "sda")}
        self.procs = []
        for k in range(ranks):
            self.procs.append(dict(pid=20000 + k, ppid=19990, uid=1234, user="alice", comm="lmp",
                                   state="R", threads=3, utime=0, stime=0, starttime=9_000_000,
                                   rss=2_000_000_000, read_bytes=0, write_bytes=0, job="812345",
                                   cmdline=None))
        for k in range(daemons):
            self.procs.append(dict(pid=800 + k, ppid=1, uid=0, user="root", comm=f"daemon{k}",
                                   state="S", threads=1 + k % 4, utime=10**5, stime=10**5, starttime=100,
                                   rss=50_000_000, read_bytes=10**6, write_bytes=10**7, job=None,
                                   cmdline=None))

    def row(self) -> dict:
        r, self.i = self.rng, self.i + 1
        for c in self.core:
            c["user"] += 97 + r.randint(0, 3)
            c["system"] += r.randint(0, 3)
            c["idle"] += r.randint(0, 2)
            c["irq"] += r.randint(0, 1)
            c["softirq"] += r.randint(0, 1)
        for s in schema.CPU_STATES:
            self.node[f"cpu_{s}"] = sum(c[s] for c in self.core)
        for k in ("ctxt", "intr"):
            self.node[k] += r.randint(50_000, 90_000)
        self.node["forks"] += r.randint(0, 5)
        self.node["pgfault"] += r.randint(1000, 20000)
        self.node["psi_cpu_some"] += r.randint(0, 20000)
        for n in self.nets.values():
            for k in n:
                n[k] += r.randint(0, 10**6) if "bytes" in k else r.randint(0, 1000) if "packets" in k else 0
        for d in self.disks.values():
            for k in d:
                d[k] += r.randint(0, 200)
        for p in self.procs:
            if p["uid"]:
                p["utime"] += 97 + r.randint(0, 3)
                p["stime"] += r.randint(0, 2)
                if r.random() < self.churn:         # heap growth, I/O: now and then, not every second
                    p["rss"] += r.randint(-4096, 4096) * 4096
                    p["write_bytes"] += r.randint(0, 4096) * 4096
            elif r.random() < 0.1:
                p["utime"] += 1
        self.ts += 1_000_000
        row = {"ts": self.ts, "mono_ns": 10**12 + self.i * 10**9, **self.node,
               "procs_running": 64 + r.randint(0, 2), "procs_blocked": r.randint(0, 1),
               "load1": 64.0 + r.random(), "load5": 64.0, "load15": 63.5, "nprocs": 512,
               "mem_total": 256 * 2**30, "mem_free": 100 * 2**30 + r.randint(0, 2**20) * 4096,
               "mem_available": 150 * 2**30, "mem_cached": 20 * 2**30, "mem_dirty": r.randint(0, 2**16) * 4096,
               "swap_total": 0, "swap_used": 0,
               "cores": [{"cpu": k, **c, "freq_mhz": float(2000 + r.randint(0, 10) * 100)}
                         for k, c in enumerate(self.core)],
               "nets": [{"name": n, "loopback": n == "lo", **v} for n, v in self.nets.items()],
               "disks": [{"name": d, "in_flight": r.randint(0, 4), **v} for d, v in self.disks.items()],
               "procs": [dict(p) for p in self.procs],
               "ib": [], "rapl": [], "gpus": [], "fs": []}
        for f in schema.NET_FIELDS:
            if f.kind == schema.COUNTER:
                row[f"net_{f.name}"] = sum(v[f.name] for n, v in self.nets.items() if n != "lo")
        return row


def real_rows(seconds: int) -> list[dict]:
    """``seconds`` rows from the real Sampler at 1 Hz."""
    from collector.sampler import Sampler
    s, rows = Sampler(), []
    for _ in range(seconds):
        t = time.monotonic()
        rows.append(s.sample())
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))
    return rows


def empty_sizes(codec: str, folder: Path) -> tuple[int, int]:
    """Bytes of a segment with no rows, as a .part and as a finished file (schema, footer)."""
    sch = schema.arrow_schema({"host": "bench", "interval_s": "1"})
    seg = writer.SegmentWriter(writer.segment_path(folder, "empty", 0), sch, codec)
    part = seg.size + len(writer.EOS)
    seg.close(finalise_file=False)
    with pa.ipc.new_file(folder / "empty.arrow", sch, options=writer.write_options(codec, True)):
        pass
    final = (folder / "empty.arrow").stat().st_size
    seg.part.unlink(missing_ok=True)      # a segment without rows removes itself
    (folder / "empty.arrow").unlink()
    return part, final


def measure(rows: list[dict], codec: str, flush_rows: int, folder: Path) -> dict:
    """Write ``rows`` like the recorder (a batch per ``flush_rows``), then finalise."""
    sch = schema.arrow_schema({"host": "bench", "interval_s": "1"})
    path = writer.segment_path(folder, "bench", rows[0]["ts"])
    seg = writer.SegmentWriter(path, sch, codec)
    cpu, wall = [], []
    for k in range(0, len(rows), flush_rows):
        c0, w0 = time.process_time(), time.perf_counter()
        seg.append(writer.rows_to_batch(rows[k:k + flush_rows], sch))
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    part_size = seg.size + len(writer.EOS)
    c0, w0 = time.process_time(), time.perf_counter()
    final = seg.close()
    fin_cpu, fin_wall = time.process_time() - c0, time.perf_counter() - w0
    size = final.stat().st_size
    assert read_trace(final).table.num_rows == len(rows)
    final.unlink()
    return {"codec": codec, "part": part_size, "final": size, "flush_cpu_ms": 1e3 * sum(cpu) / len(cpu),
            "flush_wall_ms": 1e3 * sorted(wall)[len(wall) // 2], "finalise_cpu_s": fin_cpu,
            "finalise_wall_s": fin_wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=1.0, help="synthetic hours to write (default 1)")
    ap.add_argument("--real", type=int, default=0, help="also sample the real node this many seconds")
    ap.add_argument("--flush", type=int, default=10, help="rows per flush (default 10)")
    ap.add_argument("--churn", type=float, default=0.1,
                    help="share of seconds in which a rank's rss and write_bytes move (default 0.1)")
    args = ap.parse_args()
    sets = [(f"synthetic 64-core node, 76 processes, churn {args.churn:g}", SyntheticNode(churn=args.churn).row,
             int(args.hours * 3600))]
    if args.real:
        rows = real_rows(args.real)
        sets.append((f"this machine ({os.cpu_count()} cores), real Sampler", iter(rows).__next__, len(rows)))
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        for title, make, n in sets:
            rows = [make() for _ in range(n)]
            per_hour = 3600 / n
            print(f"\n{title}: {n} rows, flush every {args.flush} rows; one file per hour, its "
                  "schema counted once")
            print("| codec | .part MB/node-hour | final MB/node-hour | final MB/node-day "
                  "| CPU ms/flush | wall ms/flush (p50, with fsync) | finalise CPU s/hour |")
            print("|---|---|---|---|---|---|---|")
            for codec in CODECS:
                m = measure(rows, codec, args.flush, Path(tmp))
                e_part, e_final = empty_sizes(codec, Path(tmp))
                part = e_part + (m["part"] - e_part) * per_hour
                final = e_final + (m["final"] - e_final) * per_hour
                print(f"| {codec} | {part / 1e6:.2f} | {final / 1e6:.2f} | {final * 24 / 1e6:.1f} "
                      f"| {m['flush_cpu_ms']:.2f} | {m['flush_wall_ms']:.2f} "
                      f"| {m['finalise_cpu_s'] * per_hour:.2f} |")


# ---- pytest-benchmark: the per-flush cost the recorder pays every 10 s ------------------

@pytest.fixture(scope="module")
def ten_rows():
    node = SyntheticNode()
    return [node.row() for _ in range(10)]


@pytest.mark.parametrize("codec", CODECS)
def test_flush_ten_rows(benchmark, tmp_path, ten_rows, codec):
    sch = schema.arrow_schema({"host": "bench"})
    seg = writer.SegmentWriter(writer.segment_path(tmp_path, "bench", ten_rows[0]["ts"]), sch, codec)
    benchmark(lambda: seg.append(writer.rows_to_batch(ten_rows, sch)))
    seg.abandon()


def test_finalise_one_hour(benchmark, tmp_path):
    node = SyntheticNode()
    rows = [node.row() for _ in range(3600)]
    sch = schema.arrow_schema({"host": "bench"})

    def setup():
        seg = writer.SegmentWriter(writer.segment_path(tmp_path, "bench", rows[0]["ts"]), sch, "zstd")
        for k in range(0, len(rows), 10):
            seg.append(writer.rows_to_batch(rows[k:k + 10], sch))
        return (seg,), {}

    benchmark.pedantic(lambda seg: seg.close(), setup=setup, rounds=3)


if __name__ == "__main__":
    main()
