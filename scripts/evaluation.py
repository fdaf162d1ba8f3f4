"""The evaluation protocol, shared by scripts/calibrate.py and scripts/evaluate.py.

Detection contract: an injected fault that lasts at least MIN_FAULT_S (a
memory leak: SUSTAINED_S) and starts at or after the run's FROM_S second
must be reported with its expected kind (scripts/faults.py EXPECTED), the
report starting within TOLERANCE_S of the injection.  Each reported anomaly is then

- a hit: the first of its kind to match a fault of that kind;
- secondary: during an injected fault (from TOLERANCE_S before it to
  RECOVERY_S after it) but not a hit, e.g. the CPU a memory eater burns
  while it fills memory: a consequence of the fault, counted and shown apart;
- a false alarm: anywhere else, i.e. in clean time.

Precision is hits over hits and false alarms; clean time is everything
outside the injected windows, and false alarms per clean hour are false
alarms over it.

Recognition: the database holds the clean runs of RECOGNITION_CALIBRATION,
labelled by application (HELD_OUT applications never).  A query is recognised when
classify gives its application; ``behaviour`` queries hide the command
name; a held-out application's query must come back ``unknown``.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import faults  # noqa: E402

TOLERANCE_S = 5.0
MIN_FAULT_S = 10.0
SUSTAINED_S = {"memory_leak": 60.0}
"""Kinds that promise more than MIN_FAULT_S: a leak is growth sustained for a minute.
Applications' own start-up allocation grew for up to 34 s in the calibration runs
(HPCC, stress-ng's vm workers on this VM), which a shorter leak cannot be told from
by memory alone; shorter growth is a burst of allocation, not a leak, and its
faults are left out of the leak's recall."""
FROM_S = 10.0
RECOVERY_S = 20.0
CORPUS = ROOT / "corpus"
CALIBRATION = ("cal", "cal2")
"""Detection's calibration sets (scripts/corpus.py): every anomaly and bottleneck threshold is chosen on these."""
TESTS = ("test", "test2", "test3", "test4")
"""Detection's test sets: four recordings apart from the calibration sets and from each other.  No
anomaly or bottleneck rule or threshold changed after any of them was first scored."""
RECOGNITION_CALIBRATION = ("cal", "cal2", "test")
"""Recognition's database and its thresholds: the first test set joined these once its
recognition figures had been seen, as recognition was reworked after them."""
TARGETS = {"behaviour": 0.8, "rejected": 0.9}
"""Recognition's targets: runs recognised by behaviour alone, and runs of an application the
database lacks rejected as `unknown`."""
RECOGNITION_TESTS = ("test2", "test3", "test4")
"""Recognition's test sets: their runs are queries only, never stored or used to choose a threshold."""
KINDS = ("cpu_hog", "memory_leak", "memory_pressure", "io_saturation", "network_saturation", "stall", "imbalance")
"""Every kind the rules report: an imbalance has no injected fault here, but its reports in clean time
are false alarms all the same."""
EXPECTED_LABEL = {"lammps": "compute-bound", "gromacs": "compute-bound", "qe": "compute-bound",
                  "cp2k": "compute-bound", "nwchem": "compute-bound", "hpcc": "compute-bound",
                  "stress-cpu": "compute-bound", "fio": "io-bound", "stress-iomix": "io-bound",
                  "iperf3": "network-bound"}
"""What limits each clean workload here (stress-vm touches memory without pressure: no label is
asserted; the periodic run is compute and I/O by design)."""


@dataclass
class Item:
    """One recorded run: its manifest entry, analysed trace and the run's processes."""
    name: str
    entry: dict
    trace: object
    derived: object
    run: object
    analysis: object = None
    set: str = ""                         # the corpus set it belongs to (scripts/corpus.py)

    @property
    def faults(self) -> list[dict]:
        return self.entry.get("faults", [])

    @property
    def reference(self) -> bool:
        """A clean run of an application the database may hold (not held out, and
        not the periodic run, which is a benchmark day, not an application)."""
        return not self.faults and self.entry["app"] in corpus.APPS + corpus.TOOLS \
            and self.entry["app"] not in corpus.HELD_OUT

    @property
    def contract_faults(self) -> list[dict]:
        t0 = self.entry["workload_start"]
        return [f for f in self.faults
                if f["end"] - f["start"] >= SUSTAINED_S.get(faults.EXPECTED[f["kind"]], MIN_FAULT_S) - 0.5
                and f["start"] - t0 >= FROM_S - 0.5]

    def windows(self) -> list[tuple[float, float]]:
        return [(f["start"] - TOLERANCE_S, f["end"] + RECOVERY_S) for f in self.faults]

    def clean_seconds(self) -> float:
        t = self.derived.t
        lo, hi = float(t[0]), float(t[-1]) + float(self.derived.interval_s)
        spans = sorted((max(a, lo), min(b, hi)) for a, b in self.windows() if b > lo and a < hi)
        covered, end = 0.0, lo
        for a, b in spans:
            a = max(a, end)
            if b > a:
                covered += b - a
                end = b
        return hi - lo - covered


def load_set(name: str, analyse: bool = False, root: Path = CORPUS) -> list[Item]:
    """Every run of corpus/NAME (derived; fully analysed with ``analyse``)."""
    from analyzer.pipeline import analyze_trace
    from analyzer.derive import derive
    from analyzer.load import load
    from analyzer.signals import identify_run
    manifest = json.loads((root / name / "manifest.json").read_text())
    items = []
    for key in sorted(manifest):
        entry = manifest[key]
        (trace,) = load([root / name / entry["file"]])
        if analyse:
            a = analyze_trace(trace)
            items.append(Item(key, entry, trace, a.derived, a.run, a, name))
        else:
            d = derive(trace.table, trace.metadata)
            items.append(Item(key, entry, trace, d, identify_run(d.procs, None, d.proc_order), set=name))
    return items


@dataclass
class Score:
    hits: int = 0
    misses: int = 0
    secondary: int = 0
    false_alarms: int = 0
    missed: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        """Hits over hits and false alarms; secondary reports are counted apart."""
        reported = self.hits + self.false_alarms
        return self.hits / reported if reported else float("nan")

    @property
    def recall(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        if p != p and r != r:
            return float("nan")
        p, r = (0.0 if p != p else p), (0.0 if r != r else r)
        return 2 * p * r / (p + r) if p + r else 0.0


def score(items: list[Item], found: dict[str, list], kinds=KINDS) -> tuple[dict[str, Score], float]:
    """Per kind, hits, misses, secondary reports and false alarms; and the clean seconds."""
    out = {k: Score() for k in kinds}
    for it in items:
        reported = [a for a in found[it.name] if a.kind in out]
        used = set()
        for f in it.contract_faults:
            want = faults.EXPECTED[f["kind"]]
            if want not in out:
                continue
            hit = next((j for j, a in enumerate(reported) if j not in used and a.kind == want
                        and abs(a.start - f["start"]) <= TOLERANCE_S), None)
            if hit is None:
                out[want].misses += 1
                near = [f"{a.kind}@{a.start - f['start']:+.0f}s" for a in reported if a.kind == want]
                out[want].missed.append(f"{it.name} ({', '.join(near) or 'nothing of its kind'})")
            else:
                used.add(hit)
                out[want].hits += 1
        for j, a in enumerate(reported):
            if j in used:
                continue
            if any(lo <= a.start <= hi for lo, hi in it.windows()):
                out[a.kind].secondary += 1
            else:
                out[a.kind].false_alarms += 1
                t0 = it.entry["workload_start"]
                out[a.kind].alarms.append(f"{it.name} at +{a.start - t0:.0f}s for {a.end - a.start + 1:.0f}s")
    return out, sum(it.clean_seconds() for it in items)


# ---------------------------------------------------------------- recognition

def database(items: list[Item], path: Path):
    """A database at ``path`` of the clean, non-held-out runs of ``items``, labelled by application."""
    from analyzer.database import Database, record_of
    db = Database(path)
    rows = [record_of(it.analysis, it.entry["app"]) for it in items if it.reference]
    db.add(rows)
    return db


def recognise(index, item: Item, hide_name: bool) -> tuple[str, object]:
    """classify's label for a run (its command hidden with ``hide_name``) and the classification."""
    from analyzer.fingerprint import feature_names
    from analyzer.recognition import classify
    names = list(feature_names())
    c = classify(index, item.analysis.fingerprint.vector(names), names,
                 command=None if hide_name else item.analysis.run.comm)
    return c.label, c
