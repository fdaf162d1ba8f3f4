"""Detection quality on the recorded sample traces -> docs/evaluation.md.

    .venv/bin/python scripts/evaluate_detection.py [--traces sample_traces] [--out docs/evaluation.md]

Ground truth is sample_traces/manifest.json (written by
record_sample_traces.py): what ran, and the windows in which faults were
injected.  For each injected fault: was an anomaly of that kind found, how
much of the injected window it covers, and how late it started.  Anomalies on
runs without an injected fault are counted as false alarms, per hour of
clean recording, except those a workload causes by design (an fio run
saturates its disk: that is reported, and listed, but not counted as false).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from analyzer.analysis import analyze_trace  # noqa: E402
from analyzer.load import load  # noqa: E402
from docblock import replace_block  # noqa: E402
from analyzer.online import OnlineRules  # noqa: E402

EXPECTED = {  # workloads whose own behaviour is a saturated resource
    "fio-randrw": {"io_saturation"},
    "stress-iomix": {"io_saturation"},
    "iperf3": {"network_saturation"},
}
BEGIN, END = "<!-- evaluation:begin -->", "<!-- evaluation:end -->"


def overlap(a0, a1, b0, b1) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def evaluate(traces: Path):
    manifest = json.loads((traces / "manifest.json").read_text())
    runs, injected, clean_s, false_alarms = [], [], 0.0, []
    for name, entry in sorted(manifest.items()):
        path = traces / entry["file"]
        if not path.exists():
            continue
        t0 = time.perf_counter()
        (trace,) = load([path])
        a = analyze_trace(trace)
        secs = time.perf_counter() - t0
        d = a.derived
        online = OnlineRules(trace.metadata)
        for i in range(d.n):
            online.update(d, i)
        kinds = sorted({x.kind for x in a.anomalies})
        runs.append({"name": name, "what": entry["what"], "samples": d.n, "bottleneck": a.characterization.label,
                     "phases": " → ".join(p.label for p in a.phases), "anomalies": kinds,
                     "online": sorted({x.kind for x in online.events}), "run": a.run.describe(),
                     "seconds": secs})
        faults = entry.get("faults", [])
        for f in faults:
            hits = [x for x in a.anomalies if x.kind == f["kind"]
                    and overlap(x.start, x.end + d.interval_s, f["start"], f["end"]) > 0]
            cover = sum(overlap(x.start, x.end + d.interval_s, f["start"], f["end"]) for x in hits)
            injected.append({"run": name, "kind": f["kind"], "window_s": f["end"] - f["start"],
                             "detected": bool(hits), "coverage": cover / max(f["end"] - f["start"], 1e-9),
                             "delay_s": (min(x.start for x in hits) - f["start"]) if hits else None,
                             "others": sorted({x.kind for x in a.anomalies} - {f["kind"]})})
        if not faults:
            clean_s += d.t[-1] - d.t[0] + d.interval_s
            for x in a.anomalies:
                if x.kind not in EXPECTED.get(entry.get("workload", name), set()):
                    false_alarms.append((name, x))
    return runs, injected, clean_s, false_alarms


def render(runs, injected, clean_s, false_alarms) -> str:
    out = [BEGIN, "", "### Injected faults", "",
           "| run | injected | window | detected | coverage of window | delay | other kinds reported |",
           "|---|---|---|---|---|---|---|"]
    for f in injected:
        delay = "" if f["delay_s"] is None else f"{f['delay_s']:+.0f} s"
        out.append(f"| {f['run']} | `{f['kind']}` | {f['window_s']:.0f} s | {'yes' if f['detected'] else '**no**'} | "
                   f"{f['coverage'] * 100:.0f} % | {delay} | {', '.join(f['others']) or '-'} |")
    hours = clean_s / 3600
    expected = sum(len(r["anomalies"]) for r in runs if r["name"] not in {f["run"] for f in injected}) - len(false_alarms)
    out += ["", f"Detected: {sum(f['detected'] for f in injected)} of {len(injected)} injected faults"
                f" with the injected kind.", "",
            "### False alarms on runs without injected faults", "",
            f"{len(false_alarms)} false alarm(s) in {clean_s / 60:.1f} minutes of clean recordings "
            f"= **{len(false_alarms) / hours if hours else 0:.1f} per clean hour**"
            + (" (the recordings are short; the rate has a wide interval)." if hours < 1 else "."),
            "", f"Not counted as false: {expected} saturation anomalies on the fio, stress-ng iomix and iperf3 "
                "runs, whose workload saturates that resource by design (the report is right to say so).", ""]
    for name, x in false_alarms:
        out.append(f"- {name}: `{x.kind}` — {x.message}")
    out += ["", "### What paratune reports for every sample trace", "",
            "| trace | what ran | samples | bottleneck | phases | anomalies (offline) | alarms (live rules) |",
            "|---|---|---|---|---|---|---|"]
    for r in runs:
        out.append(f"| {r['name']} | {r['what']} | {r['samples']} | {r['bottleneck']} | {r['phases']} | "
                   f"{', '.join(r['anomalies']) or '-'} | {', '.join(r['online']) or '-'} |")
    out += ["", END]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=Path, default=ROOT / "sample_traces")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "evaluation.md")
    args = ap.parse_args()
    block = render(*evaluate(args.traces))
    replace_block(args.out, BEGIN, END, block)
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
