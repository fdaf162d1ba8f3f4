"""The analyzer on real recordings with injected faults (sample_traces/manifest.json).

Each fault run must report an anomaly of the injected kind overlapping the
injected window; the clean runs of the compute applications must be quiet;
and the live view's path (rows pushed one by one through the live model and
its online rules) must raise the same kinds at overlapping times."""
import json
from pathlib import Path

import pyarrow as pa
import pytest

from analyzer.pipeline import analyze_trace
from analyzer.load import load
from paratune.live.model import Model

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
MANIFEST = json.loads((SAMPLES / "manifest.json").read_text()) if (SAMPLES / "manifest.json").exists() else {}
FAULTS = {k: v for k, v in MANIFEST.items() if v.get("faults")}
QUIET = [k for k in ("lammps-clean", "lammps-clean-long", "lammps-clean-long-2", "lammps", "lammps-2", "gromacs", "hpcc",
                      "stress-cpu") if k in MANIFEST]
SLACK_S = 20
UNINTENDED = {"lammps-clean-long": {("cpu_hog", "python")}}
"""Real hogs recorded by accident: python processes that took ~53 % of a core for
~10 s twice during lammps-clean-long (something else ran on the VM).  A hog of
10 s is within the detection contract (docs/evaluation.md), so it is reported."""


def _analysis(name):
    (trace,) = load([SAMPLES / MANIFEST[name]["file"]])
    return trace, analyze_trace(trace)


def _overlaps(x, start, end, slack=SLACK_S):
    return x.start <= end + slack and (x.end or x.start) >= start - slack


@pytest.mark.skipif(not FAULTS, reason="no fault-injection recordings in sample_traces/")
@pytest.mark.parametrize("name", sorted(FAULTS))
def test_injected_fault_is_reported_with_its_kind(name):
    _, a = _analysis(name)
    for f in FAULTS[name]["faults"]:
        hits = [x for x in a.anomalies if x.kind == f["kind"] and _overlaps(x, f["start"], f["end"], 0)]
        assert hits, f"{f['kind']} not found in {name}: {[(x.kind, x.message) for x in a.anomalies]}"


@pytest.mark.skipif(not QUIET, reason="no clean recordings in sample_traces/")
@pytest.mark.parametrize("name", QUIET)
def test_clean_compute_runs_are_quiet(name):
    _, a = _analysis(name)
    found = [(x.kind, x.process) for x in a.anomalies]
    assert set(found) == UNINTENDED.get(name, set()), [(x.kind, x.message) for x in a.anomalies]
    assert a.characterization.label == "compute-bound"


@pytest.mark.skipif(not FAULTS, reason="no fault-injection recordings in sample_traces/")
@pytest.mark.parametrize("name", sorted(FAULTS))
def test_live_alarms_match_the_report(name):
    trace, a = _analysis(name)
    model = Model(trace.metadata)
    for batch in trace.table.to_batches(max_chunksize=1):   # one sample per second, as live replay feeds it
        model.push(pa.Table.from_batches([batch]))
    live = model.rules.events
    assert {x.kind for x in live} == {x.kind for x in a.anomalies}
    for x in a.anomalies:
        assert any(y.kind == x.kind and _overlaps(y, x.start, x.end) for y in live), (x.kind, live)
