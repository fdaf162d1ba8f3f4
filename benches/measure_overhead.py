"""What the recorder costs a node, next to atop and sar/pidstat recording the same seconds.

    .venv/bin/python benches/measure_overhead.py [--seconds 60] [--scenario idle stress]

For each scenario (idle; ``stress-ng --cpu 2`` running throughout) it starts,
at the same moment, ``paratune record --interval 1``, ``atop -w FILE 1 N``,
``sar -o FILE 1 N`` and ``pidstat 1 N``, each in its own session, lets them
warm up for a few seconds, and then measures over ``--seconds``:

* CPU: utime+stime of every process of each tool's session, read from
  /proc/PID/stat at both ends of the window (the same way for every tool), as
  a share of one core; also the total including start-up.
* the recorder's scheduling: each sample's lateness against its deadline,
  from the trace itself (``ts`` against the whole second it belongs to), and
  whether any second of the window has no sample; plus the recorder's own
  p50/p99/max log line.
* memory (VmRSS) and bytes written by each tool (the recorder's include one
  ~40 kB schema+footer per file, so short runs overstate its rate).

Not a pytest benchmark: it takes minutes and needs the tools installed.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.reader import read_traces  # noqa: E402

TCK = os.sysconf("SC_CLK_TCK")
WARMUP = 5.0


def session_ticks(sid: int) -> tuple[int, int]:
    """(utime+stime of live members + reaped children of the leader, VmRSS kB of members)."""
    ticks = rss = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        if int(fields[3]) != sid:                 # field 6, session
            continue
        ticks += int(fields[11]) + int(fields[12])   # utime, stime
        if int(name) == sid:
            ticks += int(fields[13]) + int(fields[14])   # cutime, cstime: reaped children
        try:
            with open(f"/proc/{name}/status") as fh:
                m = re.search(r"^VmRSS:\s+(\d+)", fh.read(), re.M)
            rss += int(m.group(1)) if m else 0
        except OSError:
            pass
    return ticks, rss


def start(cmd: list[str], log: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True, **kw)


def lateness(out: Path, t0: float, t1: float) -> tuple[list[float], int]:
    """Lateness (s) of each sample in [t0, t1) against its whole second, and seconds without one."""
    trace = read_traces([out])[0].table
    ts = [v / 1e6 for v in trace.column("ts").cast("int64").to_pylist()]
    window = [t for t in ts if t0 <= t < t1]
    seconds = {int(t) for t in window}
    missing = sum(1 for s in range(int(t0) + 1, int(t1)) if s not in seconds)
    return [t - int(t) for t in window], missing


def quantile(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def run(scenario: str, seconds: int, nice: int, keep: Path | None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"pt-overhead-{scenario}-", dir=keep))
    n = int(WARMUP + seconds + 5)
    stress = None
    if scenario == "stress":
        stress = start(["stress-ng", "--cpu", "2", "--timeout", str(n + 5)], tmp / "stress.log")
        time.sleep(1.0)
    rec_cmd = [sys.executable, "-m", "paratune.cli", "record", "--output", str(tmp / "traces"),
               "--interval", "1", "--duration", str(n)]
    if nice:
        rec_cmd = ["nice", "-n", str(nice), *rec_cmd]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tools = {
        "paratune record": start(rec_cmd, tmp / "record.log", cwd=ROOT, env=env),
        "atop -w": start(["atop", "-w", str(tmp / "atop.raw"), "1", str(n)], tmp / "atop.log"),
        "sar -o (+sadc)": start(["sar", "-o", str(tmp / "sar.data"), "1", str(n)], tmp / "sar.log"),
        "pidstat": start(["pidstat", "1", str(n)], tmp / "pidstat.log"),
    }
    time.sleep(WARMUP)
    w0, c0 = time.time(), {k: session_ticks(p.pid) for k, p in tools.items()}
    time.sleep(seconds)
    w1, c1 = time.time(), {k: session_ticks(p.pid) for k, p in tools.items()}
    for p in tools.values():
        try:
            p.wait(n + 30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGTERM)
    if stress is not None:
        os.killpg(stress.pid, signal.SIGTERM)
        stress.wait(10)
    files = {"paratune record": tmp / "traces", "atop -w": tmp / "atop.raw", "sar -o (+sadc)": tmp / "sar.data",
             "pidstat": tmp / "pidstat.log"}
    result = {"scenario": scenario, "tools": {}, "dir": tmp}
    for k in tools:
        size = sum(f.stat().st_size for f in files[k].rglob("*") if f.is_file()) if files[k].is_dir() \
            else files[k].stat().st_size
        result["tools"][k] = {
            "cpu_pct": 100 * (c1[k][0] - c0[k][0]) / TCK / (w1 - w0),
            "cpu_total_s": c1[k][0] / TCK,
            "rss_mb": c1[k][1] / 1024,
            "kb_written": size / 1e3,
        }
    late, missing = lateness(tmp / "traces", w0, w1)
    result["late"] = late
    result["missing"] = missing
    log = (tmp / "record.log").read_text()
    m = re.search(r"stopped: .*", log)
    result["log"] = m.group(0) if m else log[-300:]
    if keep is None:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=60, help="measured window (default 60)")
    ap.add_argument("--scenario", nargs="+", default=["idle", "stress"], choices=["idle", "stress"])
    ap.add_argument("--nice", type=int, default=0, help="run the recorder at this nice value (the "
                    "systemd unit uses -5)")
    ap.add_argument("--keep", type=Path, help="keep the recordings under this directory")
    args = ap.parse_args()
    for missing in [t for t in ("atop", "sar", "pidstat", "stress-ng") if not shutil.which(t)]:
        sys.exit(f"measure_overhead: {missing} is not installed")
    print(f"{os.cpu_count()} CPUs, USER_HZ {TCK}; window {args.seconds}s after {WARMUP:g}s warm-up; "
          f"recorder nice {args.nice}")
    for scenario in args.scenario:
        load0 = os.getloadavg()[0]
        r = run(scenario, args.seconds, args.nice, args.keep)
        late = r["late"]
        print(f"\n## {scenario}" + (" (stress-ng --cpu 2 throughout)" if scenario == "stress" else "")
              + f"; load average {load0:.2f} before, {os.getloadavg()[0]:.2f} after")
        print(f"recorder samples in window: {len(late)}, seconds without a sample: {r['missing']}")
        print(f"lateness from the trace: p50 {1e3 * quantile(late, .5):.1f} ms, p99 "
              f"{1e3 * quantile(late, .99):.1f} ms, max {1e3 * max(late, default=float('nan')):.1f} ms")
        print(f"recorder log: {r['log']}")
        print("| tool | CPU % of one core (window) | CPU s incl. start-up | RSS MB | kB written in the run |")
        print("|---|---|---|---|---|")
        for k, v in r["tools"].items():
            print(f"| {k} | {v['cpu_pct']:.3f} | {v['cpu_total_s']:.2f} | {v['rss_mb']:.0f} "
                  f"| {v['kb_written']:.0f} |")


if __name__ == "__main__":
    main()
