"""Where a fleet worker's time goes: each stage of ``fleet.summarize`` per node-day.

    .venv/bin/python benches/measure_fleet_stages.py DIR --build 8   # 8 node-days, as bench_fleet builds them
    .venv/bin/python benches/measure_fleet_stages.py DIR [--plain-heap] [--reader-pool]

Runs in one process with one thread for polars and Arrow, as a local worker
of a 2-core fleet run does, over every unit of DIR (the first one only warms
the numba cache and is not counted), and prints milliseconds per node-day for
reading, deriving, finding the run, the anomaly rules and the node and job
rows, plus minor page faults and CPU per unit, and what reading is made of:
Arrow decoding the files (decompression) and validating them in full.  --plain-heap leaves glibc's
malloc as it comes (what a worker did before ``analyzer.heap``);
--reader-pool gives Arrow's reader two threads to decompress with, as it had
before a one-thread worker stopped using its pool.  Medians of --rounds passes.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("read", "derive", "run", "rules", "rows")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--plain-heap", action="store_true")
    ap.add_argument("--reader-pool", action="store_true")
    ap.add_argument("--build", type=int, metavar="N", help="first write N hosts' node-days into DIR")
    args = ap.parse_args()
    # before polars and pyarrow load: they size their thread pools from these
    os.environ["POLARS_MAX_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "2" if args.reader_pool else "1"
    sys.path.insert(0, str(ROOT))
    import resource
    import time

    import numpy as np

    from analyzer import fleet, fleet_units
    from analyzer.anomalies import detect
    from analyzer.characterize import characterize, mean_profile
    from analyzer.derive import derive
    from analyzer.heap import keep_freed_memory
    from analyzer.load import load
    from analyzer.signals import identify_run

    if args.build:
        sys.path.insert(0, str(ROOT / "benches"))
        from long_trace import _day, build_node_day
        day = _day(86_400)
        for k in range(args.build):
            build_node_day(args.dir, host=f"node{k:04d}", day=day)
    if not args.plain_heap:
        keep_freed_memory()
    units = fleet_units.plan([args.dir])
    if len(units) < 2:
        raise SystemExit(f"{args.dir}: needs at least two units (the first warms the numba cache)")
    fleet.summarize(units[0])
    counted = units[1:]
    node_days = sum(len(u.files) for u in counted) / 24       # hourly files
    passes, faults, cpu = [], [], []
    for _ in range(args.rounds):
        spent = dict.fromkeys(STAGES, 0.0)
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        for u in counted:
            t0 = time.perf_counter()
            tr = load(u.files)[0]
            t1 = time.perf_counter()
            d = derive(tr.table, tr.metadata)
            t2 = time.perf_counter()
            run = identify_run(d.procs, None, d.proc_order)
            t3 = time.perf_counter()
            found = detect(d, None, run)
            t4 = time.perf_counter()
            fleet._job_rows(d, max(int(d.core_busy.shape[1]), 1))
            d.missing_s, characterize(mean_profile(d.metrics)), [a.to_dict() for a in found]
            t5 = time.perf_counter()
            for k, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                spent[k] += dt
            del tr, d, found
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        passes.append(spent)
        faults.append((r1.ru_minflt - r0.ru_minflt) / len(counted))
        cpu.append((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / node_days)
    med = {k: float(np.median([p[k] for p in passes])) / node_days * 1000 for k in STAGES}
    decode, validate = _read_parts(counted, args.rounds)
    print(f"{args.dir}: {len(counted)} units, {node_days:.1f} node-days counted, "
          f"heap {'plain' if args.plain_heap else 'kept'}, reader {'pool' if args.reader_pool else 'one thread'}")
    print("ms per node-day: " + ", ".join(f"{k} {v:.1f}" for k, v in med.items())
          + f"; total {sum(med.values()):.1f}")
    print(f"CPU per node-day {np.median(cpu) * 1000:.0f} ms; minor page faults per unit {np.median(faults):.0f}")
    print(f"reading: Arrow decoding {decode / node_days * 1000:.1f} ms and full validation "
          f"{validate / node_days * 1000:.1f} ms per node-day")
    return 0


def _read_parts(units, rounds: int) -> tuple[float, float]:
    """Seconds (medians of passes) Arrow takes to decode the units' files,
    with the columns ``load`` reads, and to validate them in full."""
    import time

    import numpy as np
    import pyarrow as pa

    from analyzer.derive import NOT_DERIVED
    bufs = [pa.py_buffer(Path(f).read_bytes()) for u in units for f in u.files]
    decode, validate = [], []
    for _ in range(rounds):
        d = v = 0.0
        for buf in bufs:
            names = pa.ipc.open_file(buf).schema.names
            options = pa.ipc.IpcReadOptions(included_fields=[i for i, n in enumerate(names) if n not in NOT_DERIVED],
                                            use_threads=pa.cpu_count() > 1)
            t0 = time.perf_counter()
            table = pa.ipc.open_file(buf, options=options).read_all()
            t1 = time.perf_counter()
            table.validate(full=True)
            d, v = d + t1 - t0, v + time.perf_counter() - t1
        decode.append(d)
        validate.append(v)
    return float(np.median(decode)), float(np.median(validate))


if __name__ == "__main__":
    sys.exit(main())
