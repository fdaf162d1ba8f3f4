"""Recognition quality of `paratune db classify` on the recorded runs -> docs/evaluation.md.

    .venv/bin/python scripts/evaluate_classify.py [--traces sample_traces] [--out docs/evaluation.md]

Every application in sample_traces/manifest.json has three clean runs
(NAME, NAME-2, NAME-3).  Accuracy: leave one run out — the database holds the
other two runs of every application (two references each) and classifies
the held-out run.  Rejection: leave one application out — the database holds
two runs of every *other* application; every run of the missing one should
come back `unknown`.  Both use the same Index/classify code as the command.
It also prints the distances that the `unknown` threshold
(config.UNKNOWN_DISTANCE) is calibrated between.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from analyzer import config  # noqa: E402
from analyzer.analysis import analyze_trace  # noqa: E402
from analyzer.fingerprint import feature_names  # noqa: E402
from analyzer.load import load  # noqa: E402
from docblock import replace_block  # noqa: E402
from analyzer.similarity import Index, classify  # noqa: E402

BEGIN, END = "<!-- classify:begin -->", "<!-- classify:end -->"


def fingerprints(traces: Path):
    manifest = json.loads((traces / "manifest.json").read_text())
    names = list(feature_names())
    runs = []
    for name, e in sorted(manifest.items()):
        if e.get("faults") or name == "lammps-clean":   # the fault-injection runs are for detection
            continue
        (tr,) = load([traces / e["file"]])
        a = analyze_trace(tr)
        runs.append({"name": name, "app": e["workload"], "vector": a.fingerprint.vector(names),
                     "command": a.run.comm})
    return runs, names


def _index(refs, names):
    meta = pl.DataFrame({"id": [r["name"] for r in refs], "label": [r["app"] for r in refs],
                         "command": [r["command"] for r in refs]})
    return Index.build(meta, np.array([r["vector"] for r in refs], dtype=np.float32), names)


def evaluate(runs, names):
    apps = sorted({r["app"] for r in runs})
    by_app = {a: [r for r in runs if r["app"] == a] for a in apps}
    known, same_d, other_d = [], [], []
    for held in runs:
        # two references per application: the held-out app's other two runs, and two of every other app
        refs = [r for a in apps for r in [x for x in by_app[a] if x is not held][:2]]
        c = classify(_index(refs, names), held["vector"], names, command=held["command"])
        known.append((held["name"], held["app"], c.label, c.distance))
        same = [x["distance"] for x in c.candidates if x["label"] == held["app"]]
        same_d += same[:1]
        other_d += [x["distance"] for x in c.candidates if x["label"] != held["app"]][:1]
    rejected = []
    for missing in apps:
        refs = [r for a in apps if a != missing for r in by_app[a][:2]]
        idx = _index(refs, names)
        for held in by_app[missing]:
            c = classify(idx, held["vector"], names, command=held["command"])
            rejected.append((held["name"], missing, c.label, c.distance,
                             c.candidates[0]["label"] if c.candidates else None))
    return apps, known, rejected, same_d, other_d


def render(apps, known, rejected, same_d, other_d) -> str:
    acc = np.mean([k[1] == k[2] for k in known])
    rej = np.mean([r[2] == "unknown" for r in rejected])
    out = [BEGIN, "",
           f"{len(apps)} applications ({', '.join(apps)}), {len(known)} runs.", "",
           "| measure | result | target |", "|---|---|---|",
           f"| leave-one-run-out accuracy (2 reference runs per application) | **{acc:.2f}** ({sum(k[1] == k[2] for k in known)}/{len(known)}) | ≥ 0.95 |",
           f"| rejection of applications not in the database | **{rej:.2f}** ({sum(r[2] == 'unknown' for r in rejected)}/{len(rejected)}) | ≥ 0.9 |",
           "",
           f"Distance of a run to the nearest run of its own application: median {np.median(same_d):.2f}, "
           f"max {np.max(same_d):.2f}; to the nearest run of another application: median "
           f"{np.median(other_d):.2f}, min {np.min(other_d):.2f}.  The `unknown` threshold "
           f"(`UNKNOWN_DISTANCE`) is {config.UNKNOWN_DISTANCE:.2f}.", "",
           "| held-out run | application | verdict | distance |", "|---|---|---|---|"]
    out += [f"| {n} | {a} | {'✓' if a == v else '✗ '} {v} | {d:.2f} |" for n, a, v, d in known]
    out += ["", "| run of a missing application | verdict | distance | nearest label |", "|---|---|---|---|"]
    out += [f"| {n} | {'✓' if v == 'unknown' else '✗ '} {v} | {d:.2f} | {near} |" for n, _, v, d, near in rejected]
    out += ["", END]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=Path, default=ROOT / "sample_traces")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "evaluation.md")
    args = ap.parse_args()
    block = render(*evaluate(*fingerprints(args.traces)))
    replace_block(args.out, BEGIN, END, block, "## Recognising applications (`db classify`)\n\n")
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
