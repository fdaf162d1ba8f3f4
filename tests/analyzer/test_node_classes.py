"""The node-class catalog and the runtime model, on real recorded runs."""
from pathlib import Path

import pytest

from analyzer.advice import usage_of
from analyzer.pipeline import analyze_trace
from analyzer.load import load
from analyzer.node_classes import NodeClass, load_catalog, predict, reference
from paratune_base.errors import ParatuneError

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_traces"

CATALOG = """
[[node_class]]
name = "here"
cores = 2
mem_gib = 23.5
clock_ghz = 2.0
disk_mbps = 1000
price_per_hour = 1.0
[[node_class]]
name = "one-core"
cores = 1
mem_gib = 23.5
price_per_hour = 0.5
[[node_class]]
name = "slow-clock"
cores = 2
mem_gib = 23.5
clock_ghz = 1.0
price_per_hour = 0.6
[[node_class]]
name = "slow-disk"
cores = 2
mem_gib = 23.5
disk_mbps = 20
price_per_hour = 0.4
[[node_class]]
name = "tiny"
cores = 64
mem_gib = 0.01
price_per_hour = 0.1
"""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    p = tmp_path_factory.mktemp("cat") / "classes.toml"
    p.write_text(CATALOG)
    return load_catalog(p)


def run(name):
    a = analyze_trace(load([SAMPLES / f"{name}.arrow"])[0])
    return a, usage_of(a)


def by_name(preds):
    return {p.name: p for p in preds}


def test_shipped_example_loads():
    classes = load_catalog(ROOT / "packaging" / "node-classes.example.toml")
    assert [c.name for c in classes] == ["standard", "highmem", "highfreq", "gpu"]
    assert classes[3].gpus == 4


@pytest.mark.parametrize("text,error", [
    ("[[node_class]]\nname='a'\ncores=2\n", "missing mem_gib"),
    ("[[node_class]]\nname='a'\ncores=2\nmem_gib=4\nspeed=3\n", "unknown key speed"),
    ("[[node_class]]\nname='a'\ncores=0\nmem_gib=4\n", "cores must be a positive number"),
    ("[[node_class]]\nname='a'\ncores='2'\nmem_gib=4\n", "cores must be a positive number"),
    ("[[node_class]]\nname='a'\ncores=2\nmem_gib=4\n[[node_class]]\nname='a'\ncores=2\nmem_gib=4\n",
     "used twice"),
    ("name = 'a'\n", "no [[node_class]] table"),
    ("[[node_class]\n", "not valid TOML"),
])
def test_bad_catalogs_say_what_is_wrong(tmp_path, text, error):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ParatuneError, match=error.replace("[", r"\[")):
        load_catalog(p)
    with pytest.raises(ParatuneError, match="No such file"):
        load_catalog(tmp_path / "absent.toml")


def test_compute_run_scales_with_cores_and_clock(catalog):
    a, u = run("gromacs")              # 2 ranks, compute-bound
    ref = reference(a, catalog, "here")
    p = by_name(predict(a, u, catalog, ref))
    here = p["here"].predicted_runtime_s
    assert here == pytest.approx(u.last + u.interval_s - u.first, rel=0.01)
    assert p["one-core"].predicted_runtime_s == pytest.approx(2 * here, rel=0.1)
    assert p["slow-clock"].predicted_runtime_s == pytest.approx(2 * here, rel=0.1)
    assert p["slow-disk"].predicted_runtime_s == pytest.approx(here, rel=0.05)
    assert not p["tiny"].fits and "does not fit" in p["tiny"].why[0]
    assert p["here"].confidence == pytest.approx(1.0)


def test_io_run_scales_with_the_disk(catalog):
    a, u = run("fio-randrw")
    ref = reference(a, catalog, "here")
    p = by_name(predict(a, u, catalog, ref))
    assert p["slow-disk"].predicted_runtime_s > 5 * p["here"].predicted_runtime_s
    assert p["one-core"].predicted_runtime_s < 1.3 * p["here"].predicted_runtime_s


def test_ranking_is_cheapest_fitting_first(catalog):
    a, u = run("gromacs")
    preds = predict(a, u, catalog, reference(a, catalog, "here"))
    fitting = [p for p in preds if p.fits]
    assert [p.predicted_cost for p in fitting] == sorted(p.predicted_cost for p in fitting)
    assert preds[-1].name == "tiny"


def test_unknown_reference_lowers_confidence():
    a, u = run("gromacs")
    # two classes like the recording node, and the trace has no clock: which one it was is unknown
    classes = [NodeClass("fast", 2, 23.5, clock_ghz=4.0), NodeClass("slow", 2, 23.5, clock_ghz=1.0)]
    ref = reference(a, classes)
    assert ref.clock_ghz is None
    for p in predict(a, u, classes, ref):
        assert p.confidence < 0.5 and any("clock unknown" in w for w in p.why)
    # one class with the node's cores and memory is the recording node
    ref = reference(a, classes[:1])
    assert ref.clock_ghz == 4.0 and ref.notes[0] == "recorded on a fast node"


def test_recorded_on_must_exist(catalog):
    a, _ = run("gromacs")
    with pytest.raises(ParatuneError, match="no such class"):
        reference(a, catalog, "nope")
