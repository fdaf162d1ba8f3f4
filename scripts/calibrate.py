"""Choose the analyzer's thresholds on the calibration sets, and write them into analyzer/config.py.

    .venv/bin/python scripts/calibrate.py            # search, print, rewrite the values in config.py
    .venv/bin/python scripts/calibrate.py --dry-run  # search and print only

Detection and the bottleneck labels read only evaluation.CALIBRATION
(corpus/cal and corpus/cal2), recognition only evaluation.RECOGNITION_CALIBRATION
(those and corpus/test); evaluation.RECOGNITION_TESTS are never opened here.
For each anomaly rule, every combination of its GRID
is scored on the calibration runs by the protocol of scripts/evaluation.py,
and the setting in the middle of the best-F1 region wins (plateau_middle).
The bottleneck classifier's thresholds (LABEL_GRID) are chosen the same way,
scored by how many clean runs get their expected label.  Recognition's
values (noise floors, feature count, clip, UNKNOWN_SPREAD and
UNKNOWN_MIN_DISTANCE) are chosen leave-one-set-out: each calibration set's
runs are recognised by behaviour alone against a database of the other
sets, and must be `unknown` when that database lacks their application; the
setting that clears both targets by the widest margin wins.  Each compared
feature's noise (SIMILARITY_NOISE) is then its run-to-run spread among the runs of one
application, never below its scale's floor.
"""
from __future__ import annotations

import argparse
import importlib
import itertools
import re
import sys

import numpy as np

import evaluation as E

from analyzer import config

GRID = {
    "cpu_hog": {"HOG_CPU_PCT": (20.0, 30.0, 40.0, 50.0), "HOG_BUSY_PCT": (80.0, 90.0),
                "HOG_MIN_S": (3.0, 5.0, 8.0)},
    "memory_leak": {"LEAK_RATE_BPS": (1 << 19, 1 << 20, 1 << 21, 1 << 22), "LEAK_TAU_S": (3.0, 5.0, 10.0, 30.0),
                    "LEAK_MIN_S": (15.0, 25.0, 35.0, 45.0, 55.0)},
    "io_saturation": {"IO_UTIL_PCT": (50.0, 60.0, 70.0, 80.0, 90.0, 95.0), "IO_PSI_PCT": (10.0, 20.0, 30.0, 50.0),
                      "IO_MIN_S": (3.0, 5.0, 8.0)},
    "network_saturation": {"NET_SAT_BPS": (50e6, 100e6, 200e6, 300e6, 500e6, 700e6, 1e9), "NET_MIN_S": (3.0, 5.0, 8.0)},
    "stall": {"STALL_FRACTION": (0.5, 0.3, 0.2, 0.1), "STALL_WARMUP_SAMPLES": (3.0, 5.0),
              "STALL_MIN_S": (3.0, 5.0, 8.0)},
}
"""Candidate values per rule, permissive to strict.  Every minimum duration is
below MIN_FAULT_S (a leak's: below SUSTAINED_S): a rule that must report a 10 s
fault cannot wait longer.
memory_pressure and imbalance have no injected fault to score against (this
VM fills memory too slowly for a pressure fault to begin at its injection):
their thresholds are definitions, and their reports in clean time count as
false alarms in the evaluation."""

def feature_floors(items) -> dict[str, float]:
    """Each compared behaviour feature's run-to-run noise: its pooled within-application
    standard deviation over the calibration database's runs (which differ in
    length and rank count, as the runs recognition must carry across), and
    never less than its scale's floor (SIMILARITY_NOISE_FLOOR, _LOG)."""

    from analyzer.behaviour import COMPARED, LOG_SCALE
    known = [it for it in items if it.reference]
    out = {}
    for f in COMPARED:
        variances = []
        for app in sorted({it.entry["app"] for it in known}):
            x = np.array([it.analysis.fingerprint.features.get(f, np.nan) for it in known if it.entry["app"] == app])
            x = x[np.isfinite(x)]
            if x.size >= 2:
                variances.append(float(x.var(ddof=1)))
        floor = config.SIMILARITY_NOISE_FLOOR_LOG if f in LOG_SCALE else config.SIMILARITY_NOISE_FLOOR
        out[f] = round(max(float(np.sqrt(np.mean(variances))) if variances else 1.0, floor), 3)
    config.SIMILARITY_NOISE = out
    return out


FLOOR_GRID = ((0.02, 0.1), (0.03, 0.15), (0.05, 0.3))
"""(SIMILARITY_NOISE_FLOOR, SIMILARITY_NOISE_FLOOR_LOG) to try."""


def _table(known):
    """Database rows of ``known`` runs, labelled by application: (metadata, feature matrix, feature names)."""
    import polars as pl

    from analyzer.database import FEATURE_PREFIX, record_of
    from analyzer.fingerprint import feature_names
    names = list(feature_names())
    rows = [record_of(it.analysis, it.entry["app"]) for it in known]
    meta = pl.DataFrame({"id": [r["id"] for r in rows], "label": [r["label"] for r in rows],
                         "command": [r["command"] for r in rows]})
    matrix = np.array([[r.get(FEATURE_PREFIX + n, np.nan) for n in names] for r in rows], dtype=np.float32)
    return meta, matrix, names


LABEL_GRID = {"IO_IOWAIT_PCT": (5.0, 10.0, 20.0), "IO_BOUND_UTIL_PCT": (30.0, 50.0, 70.0),
              "IO_BOUND_PSI_PCT": (10.0, 20.0, 40.0), "IO_DISK_BPS": (20e6, 50e6, 100e6),
              "NET_BOUND_BPS": (1e6, 10e6, 50e6), "NET_BPS_PER_BUSY_PCT": (0.3e6, 1e6, 3e6),
              "DOMINANT_SHARE": (0.5, 0.6, 0.7)}
"""The bottleneck classifier's thresholds (analyzer/characterize.py), scored by the share of clean
calibration runs labelled as evaluation.EXPECTED_LABEL says.  Its memory thresholds (MEM_*) and
IDLE_* have no run here to score them (no clean run is short of memory): they are definitions."""


def labels(items) -> tuple[dict, float]:
    """The bottleneck thresholds that label the most clean calibration runs as expected.

    Each run's phases, as segmented, are relabelled at each setting and the
    run's label taken from them (characterize.of_phases); a phase labelled
    memory-bound keeps its label (those thresholds are not searched)."""
    from analyzer import characterize
    clean = [it for it in items if not it.faults and it.entry["app"] in E.EXPECTED_LABEL]
    keys = list(LABEL_GRID)
    positions = list(itertools.product(*(range(len(LABEL_GRID[k])) for k in keys)))
    right = []
    for pos in positions:
        for k, j in zip(keys, pos):
            setattr(config, k, LABEL_GRID[k][j])
        ok = 0
        for it in clean:
            phases = it.analysis.phases
            got = [p.bottleneck if p.bottleneck == "memory-bound"
                   else characterize.classify(p.profile, duration_s=p.duration_s).label for p in phases]
            run = characterize.of_phases(got, [p.duration_s for p in phases]).label
            ok += run == E.EXPECTED_LABEL[it.entry["app"]]
        right.append(ok / len(clean))
    best = positions[plateau_middle(np.array(positions), np.array(right))]
    values = {k: LABEL_GRID[k][j] for k, j in zip(keys, best)}
    for k, v in values.items():
        setattr(config, k, v)
    return values, max(right)


UNKNOWN_GRID = {"UNKNOWN_SPREAD": (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0),
                "UNKNOWN_MIN_DISTANCE": (0.25, 0.5, 0.75, 1.0, 1.5)}
FEATURE_COUNTS = (4, 6, 8, 10, 12, 18)
"""SIMILARITY_FEATURES to try: how many of the most separating behaviour features to compare."""
CLIPS = (3.0, 6.0, 10.0, 20.0)
"""SIMILARITY_CLIP to try: how many noise levels one feature may add to a distance."""


def _rules():
    import analyzer.rules
    return importlib.reload(analyzer.rules).RULES


def detection(items, kind: str, grid: dict) -> tuple[dict, E.Score, list]:
    from analyzer.anomalies import detect
    keys = list(grid)
    tried = []
    positions = list(itertools.product(*(range(len(grid[k])) for k in keys)))
    for values in itertools.product(*(grid[k] for k in keys)):
        for k, v in zip(keys, values):
            setattr(config, k, v)
        (rule,) = [r for r in _rules() if r.kind == kind]
        found = {it.name: detect(it.derived, None, it.run, rules=(rule,)) for it in items}
        s = E.score(items, found, (kind,))[0][kind]
        tried.append((dict(zip(keys, values)), s))
    f1 = np.array([s.f1 if s.f1 == s.f1 else -1.0 for _, s in tried])
    best_i = plateau_middle(np.array(positions), f1)
    best, s = tried[best_i]
    for k, v in best.items():
        setattr(config, k, v)
    return best, s, tried


def plateau_middle(positions: np.ndarray, f1: np.ndarray) -> int:
    """The grid setting in the middle of the best-scoring region.

    With a few faults per kind many settings tie at the best F1, and the
    region's edge (the strictest or the most permissive setting that still
    scores) is where a fault of another run falls off it.  Among the best
    settings: the one whose neighbourhood (two grid steps each way in every
    value) scores best on average, then the one nearest the centre of the
    best settings (in grid steps)."""
    top = np.flatnonzero(f1 >= f1.max() - 1e-9)
    centre = positions[top].mean(axis=0)

    def key(i: int) -> tuple:
        near = np.all(np.abs(positions - positions[i]) <= 2, axis=1)
        return (round(float(f1[near].mean()), 6), -float(np.abs(positions[i] - centre).sum()), i)

    return max(top, key=key)


def recognition(items) -> tuple[dict, float, float]:
    """(chosen values, recognition rate, rejection rate), leave one set out.

    Runs recorded in one sitting agree more closely than runs of different
    sittings (page cache, machine load, the day's inputs), so a run is never
    scored against its own set: each calibration set's clean runs are
    queries against a database of the other sets' reference runs, by
    behaviour alone; a query whose application that database lacks (held
    out, or left out for the query) must come back `unknown`.  The setting
    of the noise floors, feature count, clip and reach that wins clears both
    targets (evaluation.TARGETS) by the widest margin (the smaller of its
    two), then has the best mean of the two rates."""
    sets = sorted({it.set for it in items})
    queries = {s: [it for it in items if it.set == s and not it.faults and it.entry["app"] != "periodic"]
               for s in sets}
    best = None
    for floors in FLOOR_GRID:
        config.SIMILARITY_NOISE_FLOOR, config.SIMILARITY_NOISE_FLOOR_LOG = floors
        folds = []
        for held in sets:
            others = [it for it in items if it.set != held and it.reference]
            folds.append((feature_floors(others), _table(others), queries[held]))
        for k, clip in itertools.product(FEATURE_COUNTS, CLIPS):
            config.SIMILARITY_FEATURES, config.SIMILARITY_CLIP = k, clip
            known, stranger = [], []          # (distance, radius, right label?) of the nearest label
            for noise, (meta, matrix, names), mine in folds:
                config.SIMILARITY_NOISE = noise
                whole, labels = _index(meta, matrix, names), meta["label"].to_list()
                apps = sorted({it.entry["app"] for it in mine})
                without = {a: _index(meta, matrix, names, np.array([lab != a for lab in labels])) for a in apps}
                for it in mine:
                    app, vector = it.entry["app"], it.analysis.fingerprint.vector(names)
                    if app in whole.label_names:
                        known.append(_nearest(whole, vector, names, app))
                    stranger.append(_nearest(without[app], vector, names, app))
            d_k, r_k, ok_k = (np.array(x, dtype=float) for x in zip(*known))
            d_s, r_s = (np.array(x, dtype=float) for x in list(zip(*stranger))[:2])
            for spread, low in itertools.product(*UNKNOWN_GRID.values()):
                reach = lambda r: np.maximum(np.where(np.isfinite(r), spread * r, 0.0), low)  # noqa: E731
                recognised = float(np.mean(ok_k.astype(bool) & (d_k <= reach(r_k))))
                rejected = float(np.mean(d_s > reach(r_s)))
                margin = min(recognised - E.TARGETS["behaviour"], rejected - E.TARGETS["rejected"])
                key = (round(margin, 6), round((rejected + recognised) / 2, 6), -k, -clip, spread, low)
                if best is None or key > best[0]:
                    best = (key, {"SIMILARITY_NOISE_FLOOR": floors[0], "SIMILARITY_NOISE_FLOOR_LOG": floors[1],
                                  "SIMILARITY_FEATURES": k, "SIMILARITY_CLIP": clip, "UNKNOWN_SPREAD": spread,
                                  "UNKNOWN_MIN_DISTANCE": low}, recognised, rejected)
    _, values, recognised, rejected = best
    for k, v in values.items():
        setattr(config, k, v)
    return values, recognised, rejected


def _nearest(index, vector, names, app: str) -> tuple[float, float, bool]:
    """(distance, radius, is it ``app``?) of the label nearest to ``vector``."""
    from analyzer.recognition import classify
    c = classify(index, vector, names)
    label = c.candidates[0]["label"]
    return c.distance, float(index.radius[index.label_names.index(label)]), label == app


def _index(meta, matrix, names, keep=None):
    """A recognition index of the rows of ``_table`` (those ``keep`` marks)."""
    import polars as pl

    from analyzer.recognition import Index
    if keep is None:
        return Index.build(meta, matrix, names)
    return Index.build(meta.filter(pl.Series(keep)), matrix[keep], names)


def rewrite_config(values: dict) -> None:
    """Replace ``NAME = old`` by ``NAME = new`` in analyzer/config.py, keeping comments
    (a dict value replaces the whole ``NAME = {...}`` literal)."""
    path = E.ROOT / "analyzer" / "config.py"
    text = path.read_text()
    for k, v in values.items():
        if isinstance(v, dict):
            body = "".join(f"\n    {name!r}: {x!r}," for name, x in v.items()).replace("'", '"')
            text, n = re.subn(rf"^{k} = \{{.*?\}}", lambda m: f"{k} = {{{body}\n}}", text, count=1,
                              flags=re.M | re.S)
            if n != 1:
                raise SystemExit(f"{k} not found in {path}")
            continue
        literal = f"{v:g}" if isinstance(v, float) and abs(v) < 1e5 else (f"{v:.0e}".replace("e+0", "e")
                                                                            if isinstance(v, float) else str(v))
        if isinstance(v, float) and "." not in literal and "e" not in literal:
            literal += ".0"
        text, n = re.subn(rf"^{k} = [^#\n]*?(\s*(#.*)?)$", lambda m: f"{k} = {literal}{m.group(1)}", text,
                          count=1, flags=re.M)
        if n != 1:
            raise SystemExit(f"{k} not found in {path}")
    path.write_text(text)


DOC_BEGIN = "<!-- BEGIN GENERATED anomaly table: python scripts/calibrate.py (analyzer.rules.doc_table) -->"
DOC_END = "<!-- END GENERATED anomaly table -->"


def rewrite_doc() -> None:
    """docs/anomalies.md's table from the thresholds now in analyzer/config.py."""
    from docblock import replace_block
    importlib.reload(config)
    rules = importlib.reload(importlib.import_module("analyzer.rules"))
    replace_block(E.ROOT / "docs" / "anomalies.md", DOC_BEGIN, DOC_END,
                  f"{DOC_BEGIN}\n{rules.doc_table()}\n{DOC_END}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--only", nargs="*", help="rules (kinds) to calibrate; 'labels' for the bottleneck classifier, 'unknown' for recognition")
    args = ap.parse_args()
    sets = {name: E.load_set(name, analyse=True) for name in set(E.CALIBRATION + E.RECOGNITION_CALIBRATION)}
    items = [it for name in E.CALIBRATION for it in sets[name]]
    print(f"calibration sets {', '.join(E.CALIBRATION)}: {len(items)} runs, "
          f"{sum(len(it.faults) for it in items)} injected faults")
    chosen = {}
    for kind, grid in GRID.items():
        if args.only and kind not in args.only:
            continue
        best, s, tried = detection(items, kind, grid)
        chosen.update(best)
        print(f"{kind:20s} {best}  F1 {s.f1:.2f} (hits {s.hits}, missed {s.misses}, secondary {s.secondary}, "
              f"false alarms {s.false_alarms}) of {len(tried)} settings")
        for m in s.missed:
            print(f"    missed: {m}")
        for a in s.alarms:
            print(f"    false alarm: {a}")
    if not args.only or "labels" in args.only:
        values, rate = labels(items)
        chosen.update(values)
        print(f"{'labels':20s} {values}  clean runs labelled as expected {rate:.2f}")
    if not args.only or "unknown" in args.only:
        references = [it for name in E.RECOGNITION_CALIBRATION for it in sets[name]]
        print(f"recognition's calibration sets {', '.join(E.RECOGNITION_CALIBRATION)}: "
              f"{sum(it.reference for it in references)} reference runs")
        values, rec, rej = recognition(references)
        chosen.update(values)
        print(f"{'unknown':20s} {values}  recognised {rec:.2f} (behaviour only), rejected {rej:.2f}, "
              "each set's runs against the others")
        chosen["SIMILARITY_NOISE"] = feature_floors(references)
        print(f"{'noise':20s} {chosen['SIMILARITY_NOISE']}")
    if not args.dry_run:
        rewrite_config(chosen)
        rewrite_doc()
        print(f"wrote {len(chosen)} values into analyzer/config.py and the table of docs/anomalies.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
