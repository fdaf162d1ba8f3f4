"""What ``--prometheus`` adds to the recorder's CPU, with Prometheus' usual scrape every 15 s.

    .venv/bin/python benches/measure_prometheus_overhead.py [--seconds 120] [--scrape-every 15] [--rounds 3]

Each round starts two recorders at the same moment, each in its own session:
``paratune record`` and ``paratune record --prometheus 127.0.0.1:0``, and
scrapes the second over HTTP every ``--scrape-every`` seconds.  CPU is read the
way ``measure_overhead.py`` reads it (utime+stime of the session from
/proc/PID/stat at both ends of the window, after a warm-up), so both
recorders see the same load on the same cores; the difference is the
endpoint's cost.  Prints each round and the medians side by side.
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benches"))

from measure_overhead import TCK, WARMUP, session_ticks, start  # noqa: E402


def one_round(seconds: int, every: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="pt-prom-overhead-"))
    n = int(WARMUP + seconds + 5)
    base = [sys.executable, "-m", "paratune.cli", "record", "--interval", "1", "--duration", str(n)]
    recs = {
        "record": start([*base, "--output", str(tmp / "plain")], tmp / "plain.log", cwd=ROOT),
        "record --prometheus": start([*base, "--output", str(tmp / "prom"), "--prometheus", "127.0.0.1:0"],
                                     tmp / "prom.log", cwd=ROOT),
    }
    address = None
    for _ in range(200):
        m = re.search(r"serving Prometheus metrics on http://(\S+)/metrics", (tmp / "prom.log").read_text())
        if m:
            address = m.group(1)
            break
        time.sleep(0.05)
    if address is None:
        sys.exit("measure_prometheus_overhead: the endpoint did not start:\n" + (tmp / "prom.log").read_text())
    time.sleep(WARMUP)
    w0, c0 = time.time(), {k: session_ticks(p.pid)[0] for k, p in recs.items()}
    scrapes, sizes = [], []
    next_at = time.monotonic()
    while time.time() - w0 < seconds:
        if time.monotonic() >= next_at:
            t = time.perf_counter()
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as resp:
                sizes.append(len(resp.read()))
            scrapes.append(time.perf_counter() - t)
            next_at += every
        time.sleep(0.05)
    w1, c1 = time.time(), {k: session_ticks(p.pid)[0] for k, p in recs.items()}
    for p in recs.values():
        p.wait(n + 30)
    out = {k: 100 * (c1[k] - c0[k]) / TCK / (w1 - w0) for k in recs}
    out["scrapes"], out["scrape_ms"], out["bytes"] = len(scrapes), 1e3 * statistics.median(scrapes), sizes[-1]
    log = (tmp / "prom.log").read_text()
    m = re.search(r"stopped: .*", log)
    out["log"] = m.group(0) if m else log[-300:]
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=120, help="measured window per round (default 120)")
    ap.add_argument("--scrape-every", type=float, default=15.0, help="seconds between scrapes (default 15)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"USER_HZ {TCK}; {args.rounds} round(s) of {args.seconds}s after {WARMUP:g}s warm-up; "
          f"scrape every {args.scrape_every:g}s")
    print("| round | record CPU % | record --prometheus CPU % | difference | scrapes | median scrape ms "
          "| bytes/scrape |")
    print("|---|---|---|---|---|---|---|")
    rounds = []
    for i in range(args.rounds):
        r = one_round(args.seconds, args.scrape_every)
        rounds.append(r)
        print(f"| {i + 1} | {r['record']:.3f} | {r['record --prometheus']:.3f} "
              f"| {r['record --prometheus'] - r['record']:+.3f} | {r['scrapes']} | {r['scrape_ms']:.1f} "
              f"| {r['bytes']} |", flush=True)
    med = {k: statistics.median(r[k] for r in rounds) for k in ("record", "record --prometheus", "scrape_ms")}
    diff = statistics.median(r["record --prometheus"] - r["record"] for r in rounds)
    print(f"| median | {med['record']:.3f} | {med['record --prometheus']:.3f} | {diff:+.3f} | "
          f"| {med['scrape_ms']:.1f} | |")
    print(f"last endpoint log: {rounds[-1]['log']}")


if __name__ == "__main__":
    main()
