"""Measure detection, run labels and recognition on the test sets; rewrite docs/evaluation.md's figures.

    .venv/bin/python scripts/evaluate.py            # rewrites the generated block of docs/evaluation.md
    .venv/bin/python scripts/evaluate.py --print    # prints it only

Detection and run labels are measured on the test sets (evaluation.TESTS),
recognition on evaluation.RECOGNITION_TESTS with a database of the clean runs
of evaluation.RECOGNITION_CALIBRATION (the stored references).  No threshold
is changed here: they are analyzer/config.py's, as scripts/calibrate.py chose
them on the calibration sets.  The protocol is scripts/evaluation.py's.
Also: the sample traces in sample_traces/
(recorded on a Xeon VM) as queries against the database recorded here (an
AMD EPYC VM).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

import evaluation as E
from docblock import replace_block

from analyzer import config

PAGE = E.ROOT / "docs" / "evaluation.md"
BEGIN = "<!-- BEGIN GENERATED evaluation: python scripts/evaluate.py -->"
END = "<!-- END GENERATED evaluation -->"
def _pct(x: float) -> str:
    return "n/a" if x != x else f"{x:.2f}"


def detection_section(items) -> list[str]:
    from analyzer.anomalies import detect
    found = {it.name: detect(it.derived, None, it.run) for it in items}
    scores, clean_s = E.score(items, found)
    faults = [(it, f) for it in items for f in it.contract_faults]
    lines = ["### Detection", "",
             f"{len(items)} test runs ({', '.join(E.TESTS)}), {len(faults)} injected faults under the contract "
             f"(>= {E.MIN_FAULT_S:g} s, from the run's {E.FROM_S:g}th second), "
             f"{clean_s / 3600:.2f} clean hours.", "",
             "| kind | faults | hits | missed | secondary | false alarms | precision | recall | F1 |",
             "|---|---|---|---|---|---|---|---|---|"]
    alarms = 0
    for kind, s in scores.items():
        n = s.hits + s.misses
        alarms += s.false_alarms
        lines.append(f"| {kind} | {n} | {s.hits} | {s.misses} | {s.secondary} | {s.false_alarms} | "
                     f"{_pct(s.precision)} | {_pct(s.recall)} | {_pct(s.f1)} |")
    other = Counter(a.kind for it in items for a in found[it.name] if a.kind not in scores)
    lines += ["", f"False alarms: {alarms} in {clean_s / 3600:.2f} clean hours = "
              f"**{alarms / max(clean_s / 3600, 1e-9):.2f} per clean hour**."
              + (f"  Kinds with no injected fault: {dict(other)}." if other else ""), ""]
    injected = [k for k, s in scores.items() if s.hits + s.misses]
    lines += ["Each test set apart (hits of the contract faults, and false alarms, by kind):", "",
              "| set | " + " | ".join(injected) + " | false alarms | clean hours | per clean hour |",
              "|---|" + "---|" * (len(injected) + 3)]
    for name in E.TESTS:
        mine = [it for it in items if it.set == name]
        each = E.score(mine, found)[0]
        n = sum(s.false_alarms for s in each.values())
        hours = sum(it.clean_seconds() for it in mine) / 3600
        cells = [f"{each[k].hits}/{each[k].hits + each[k].misses}"
                 + (f", {each[k].false_alarms} false" if each[k].false_alarms else "") for k in injected]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {n} | {hours:.2f} | {n / max(hours, 1e-9):.2f} |")
    lines.append("")
    detail = [f"- missed: {m}" for s in scores.values() for m in s.missed]
    detail += [f"- false alarm ({k}): {a}" for k, s in scores.items() for a in s.alarms]
    if detail:
        lines += ["Each miss and false alarm:", ""] + detail + [""]
    lines += ["Matrix of the injected faults (kind injected, expected anomaly, onset, duration, application, ranks, "
              "what was reported of the expected kind, start relative to the injection):", "",
              "| run | fault | expected | onset | length | reported |", "|---|---|---|---|---|---|"]
    for it, f in faults:
        t0 = it.entry["workload_start"]
        same = [f"{a.start - f['start']:+.0f} s" for a in found[it.name] if a.kind == E.faults.EXPECTED[f["kind"]]]
        lines.append(f"| {it.name} | {f['kind']} | {E.faults.EXPECTED[f['kind']]} | +{f['start'] - t0:.0f} s | "
                     f"{f['end'] - f['start']:.0f} s | {', '.join(same) or '-'} |")
    return lines + [""]


def label_section(items) -> list[str]:
    rows, right = [], 0
    clean = [it for it in items if not it.faults and it.entry["app"] in E.EXPECTED_LABEL]
    for it in clean:
        c = it.analysis.characterization
        want = E.EXPECTED_LABEL[it.entry["app"]]
        right += c.label == want
        shares = ", ".join(f"{k} {v:.0%}" for k, v in c.shares.items())
        rows.append(f"| {it.name} | {want} | {c.label} | {shares} |")
    return (["### Run labels", "",
             f"Clean test runs labelled as expected: **{right} of {len(clean)}**.  The label is the "
             f"bottleneck of at least {config.DOMINANT_SHARE:.0%} of the run's time (else `mixed`); "
             "the shares are the phases' labels weighted by their length.", "",
             "| run | expected | label | shares of the time |", "|---|---|---|---|"] + rows + [""])


def recognition_section(cal, test) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        db = E.database(cal, Path(tmp) / "db")
        index = db.index()
        stored = Counter(r for r in db.table(["label"])["label"].to_list())
        queries = [it for it in test if not it.faults and it.entry["app"] != "periodic"]   # a bench day, not an app
        rows = []
        named, behaviour, rejected = ({name: [] for name in E.RECOGNITION_TESTS} for _ in range(3))
        for it in queries:
            app = it.entry["app"]
            held = app not in stored                  # held out, or never recorded for the database
            lab_n, c_n = E.recognise(index, it, hide_name=False)
            lab_b, c_b = E.recognise(index, it, hide_name=True)
            if held:
                rejected[it.set].append(lab_n == "unknown")
            else:
                if not it.entry.get("renamed"):
                    named[it.set].append(lab_n == app)
                behaviour[it.set].append(lab_b == app)
            rows.append(f"| {it.name} | {'held out' if held else app} | {lab_n} ({c_n.by}, {c_n.distance:.2f}"
                        f" / {c_n.threshold:.2f}) | {lab_b} ({c_b.distance:.2f} / {c_b.threshold:.2f}) |")
        xeon = _xeon_queries(index)
    rate = lambda xs: f"{sum(xs)}/{len(xs)} = {sum(xs) / len(xs):.2f}" if xs else "n/a"  # noqa: E731

    def rates(by_set: dict[str, list[bool]]) -> str:
        each = "; ".join(f"{name} {rate(xs)}" for name, xs in by_set.items())
        return f"**{rate([x for xs in by_set.values() for x in xs])}** ({each})"
    return (["### Recognition", "",
             f"Database: the clean runs of recognition's calibration sets, {sum(stored.values())} runs of "
             f"{len(stored)} applications ({', '.join(f'{k} {v}' for k, v in sorted(stored.items()))}) from "
             f"{', '.join(E.RECOGNITION_CALIBRATION)}; held out: {', '.join(E.corpus.HELD_OUT)}.  Queries: "
             f"the clean runs of {', '.join(E.RECOGNITION_TESTS)} (other lengths, rank counts and renamed "
             "binaries).", "",
             f"- named (the run's own command given): {rates(named)} (target >= 0.95)",
             f"- behaviour alone (command hidden, renamed runs included): {rates(behaviour)} (target >= 0.8)",
             f"- held-out applications rejected as `unknown`: {rates(rejected)} (target >= 0.9)",
             f"- Xeon sample traces against this EPYC database: named {rate(xeon['named'])}, behaviour alone "
             f"{rate(xeon['behaviour'])}, held-out ({', '.join(sorted(xeon['held']))}) rejected "
             f"{rate(xeon['rejected'])}", "",
             f"Thresholds: `UNKNOWN_SPREAD` {config.UNKNOWN_SPREAD:g} x each label's radius, at least "
             f"`UNKNOWN_MIN_DISTANCE` {config.UNKNOWN_MIN_DISTANCE:g}.", "",
             "| query | application | named: label (by, distance / threshold) | behaviour alone |",
             "|---|---|---|---|"] + rows + [""])


def _xeon_queries(index) -> dict[str, list[bool]]:
    """The sample traces' plain runs (recorded on the Xeon) as queries."""
    from analyzer.pipeline import analyze_trace
    from analyzer.load import load
    manifest = json.loads((E.ROOT / "sample_traces" / "manifest.json").read_text())
    out = {"named": [], "behaviour": [], "rejected": [], "held": set()}
    apps = {"stress-cpu", "stress-vm", "stress-iomix", "fio", "iperf3", "lammps", "gromacs", "hpcc"}
    for name, e in sorted(manifest.items()):
        app = {"fio-randrw": "fio"}.get(e.get("workload"), e.get("workload"))
        if app not in apps or e.get("faults"):
            continue
        (trace,) = load([E.ROOT / "sample_traces" / e["file"]])
        item = E.Item(name, {"app": app}, trace, None, None, analyze_trace(trace))
        lab_n, _ = E.recognise(index, item, hide_name=False)
        lab_b, _ = E.recognise(index, item, hide_name=True)
        if app not in index.label_names:
            out["rejected"].append(lab_n == "unknown")
            out["held"].add(app)
        else:
            out["named"].append(lab_n == app)
            out["behaviour"].append(lab_b == app)
    return out


def matrix_section(test) -> list[str]:
    lengths = [it.entry["length_s"] for it in test]
    apps = Counter(it.entry["app"] for it in test)
    ranks = Counter(it.entry["ranks"] for it in test)
    return ["### The test sets", "",
            f"{len(test)} runs ({', '.join(E.TESTS)}): applications {dict(sorted(apps.items()))}; "
            f"ranks {dict(sorted(ranks.items()))}; "
            f"lengths {min(lengths)}-{max(lengths)} s (median {statistics.median(lengths):g} s); "
            f"{sum(bool(it.entry.get('renamed')) for it in test)} with a renamed binary.", ""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--print", action="store_true")
    args = ap.parse_args()
    sets = {name: E.load_set(name, analyse=True)
            for name in set(E.TESTS + E.RECOGNITION_CALIBRATION + E.RECOGNITION_TESTS)}
    test = [it for name in E.TESTS for it in sets[name]]
    references = [it for name in E.RECOGNITION_CALIBRATION for it in sets[name]]
    queries = [it for name in E.RECOGNITION_TESTS for it in sets[name]]
    lines = [BEGIN, ""] + matrix_section(test) + detection_section(test) + label_section(test) \
        + recognition_section(references, queries) + [END]
    block = "\n".join(lines)
    if args.print:
        print(block)
    else:
        replace_block(PAGE, BEGIN, END, block)
        print(f"rewrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
