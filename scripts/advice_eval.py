"""Node-class predictions against real reruns (docs/advice.md).

Each workload of corpus/classes/measured.json was recorded once on the
reference class and then really run on every class (scripts/node_classes.py).
Here the model predicts every class from the reference trace alone; the
measured runtimes are only compared with, never used to fit anything.

    python scripts/advice_eval.py            # prints the table and rewrites docs/advice.md's block
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from docblock import replace_block  # noqa: E402

from analyzer.advice import usage_of  # noqa: E402
from analyzer.pipeline import analyze_trace  # noqa: E402
from analyzer.load import load  # noqa: E402
from analyzer.node_classes import load_catalog, predict, reference  # noqa: E402

MEASURED = ROOT / "corpus" / "classes" / "measured.json"
PAGE = ROOT / "docs" / "advice.md"
BEGIN, END = "<!-- advice-eval:begin -->", "<!-- advice-eval:end -->"
REFERENCE_CLASS = "full"


def evaluate(measured: dict) -> tuple[list[dict], list[dict]]:
    catalog = load_catalog(ROOT / measured["catalog"])
    prices = {c.name: c.price_per_hour for c in catalog}
    rows, choices = [], []
    for name, w in sorted(measured["workloads"].items()):
        a = analyze_trace(load([ROOT / w["trace"]])[0])
        u = usage_of(a)
        preds = {p.name: p for p in predict(a, u, catalog, reference(a, catalog, REFERENCE_CLASS))}
        measured_cost = {}
        for cls, m in w["classes"].items():
            p = preds[cls]
            ok = [t for t, e in zip(m["runtimes_s"], m.get("exit", [0] * len(m["runtimes_s"]))) if e == 0]
            median = statistics.median(ok) if ok and m["fits"] else None
            if median is not None and prices.get(cls) is not None:
                measured_cost[cls] = median / 3600 * prices[cls]
            err = (p.predicted_runtime_s - median) / median if (p.fits and median) else None
            rows.append({"workload": name, "class": cls, "measured_s": median, "measured_fits": m["fits"],
                         "runs": len(m["runtimes_s"]),
                         "predicted_s": p.predicted_runtime_s, "predicted_fits": p.fits, "error": err,
                         "confidence": p.confidence})
        chosen = next(iter(predict(a, u, catalog, reference(a, catalog, REFERENCE_CLASS)))).name
        best = min(measured_cost, key=measured_cost.get) if measured_cost else None
        choices.append({"workload": name, "chosen": chosen, "cheapest_measured": best,
                        "correct": chosen == best})
    return rows, choices


def _s(x):
    return "-" if x is None else f"{x:.1f}"


def render(rows: list[dict], choices: list[dict]) -> str:
    errors = [abs(r["error"]) for r in rows if r["error"] is not None]
    fit_right = sum(r["measured_fits"] == r["predicted_fits"] for r in rows)
    right = sum(c["correct"] for c in choices)
    lines = [BEGIN, "",
             "| workload | class | measured s (median of runs) | runs | predicted s | error | fits: measured / predicted |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        err = "-" if r["error"] is None else f"{r['error']:+.0%}"
        lines.append(f"| {r['workload']} | {r['class']} | {_s(r['measured_s'])} | {r['runs']} | {_s(r['predicted_s'])} | "
                     f"{err} | "
                     f"{'yes' if r['measured_fits'] else 'no'} / {'yes' if r['predicted_fits'] else 'no'} |")
    lines += ["", "| workload | cheapest class that fits, predicted | measured | right |", "|---|---|---|---|"]
    for c in choices:
        lines.append(f"| {c['workload']} | {c['chosen']} | {c['cheapest_measured']} | "
                     f"{'yes' if c['correct'] else 'no'} |")
    med = statistics.median(errors) if errors else float("nan")
    lines += ["",
              f"Median |error| {med:.0%} over {len(errors)} cases (workload × class) that fit (target ≤ 20 %); "
              f"fits predicted right in {fit_right} of {len(rows)}; cheapest fitting class chosen right in "
              f"{right} of {len(choices)} workloads ({right / max(len(choices), 1):.0%}, target ≥ 90 %).",
              "", END]
    return "\n".join(lines)


def main() -> int:
    measured = json.loads(MEASURED.read_text())
    rows, choices = evaluate(measured)
    block = render(rows, choices)
    print(block)
    replace_block(PAGE, BEGIN, END, block, "## Predicted against measured\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
