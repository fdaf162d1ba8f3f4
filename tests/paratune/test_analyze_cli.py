"""``paratune analyze`` as a user runs it: real sample traces, bad input, JSON schema."""
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analyzer.rules import KINDS

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_traces"
TRACES = sorted(SAMPLES.glob("*.arrow"))


def paratune(*args, cwd=None):
    env = dict(os.environ, COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "paratune.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=300)


def _iso(s):
    t = datetime.fromisoformat(s)
    assert t.tzinfo is not None
    return t


def check_document(doc):
    tr = doc["trace"]
    assert tr["samples"] > 0 and tr["interval_s"] > 0
    assert _iso(tr["start"]) <= _iso(tr["end"])
    assert isinstance(tr["jobs"], list) and isinstance(tr["gaps"], int)
    assert doc["characterization"]["label"] in ("compute-bound", "memory-bound", "io-bound",
                                                "network-bound", "idle")
    assert doc["characterization"]["evidence"]
    prev_end = None
    for p in doc["phases"]:
        assert {"start", "end", "label"} <= p.keys()
        assert _iso(p["start"]) < _iso(p["end"])
        if prev_end:
            assert _iso(p["start"]) >= prev_end
        prev_end = _iso(p["end"])
    for a in doc["anomalies"]:
        assert a["kind"] in KINDS
        assert {"start", "end", "metric", "score", "message"} <= a.keys()
        assert _iso(a["start"]) <= _iso(a["end"]) and a["score"] >= 1.0 and a["message"]
    fp = doc["fingerprint"]
    assert fp["version"] >= 1 and len(fp["features"]) > 100
    assert all(v is None or isinstance(v, (int, float)) for v in fp["features"].values())
    for p in doc["processes"]:
        assert 0 <= p["share"] <= 1


@pytest.mark.skipif(not TRACES, reason="no sample traces in sample_traces/")
@pytest.mark.parametrize("trace", TRACES, ids=lambda p: p.stem)
def test_json_of_every_sample_trace_matches_the_documented_schema(trace):
    r = paratune("analyze", trace, "--json")
    assert r.returncode == 0, r.stderr
    check_document(json.loads(r.stdout))


@pytest.mark.skipif(not TRACES, reason="no sample traces in sample_traces/")
def test_rich_report_has_every_section():
    r = paratune("analyze", TRACES[0])
    assert r.returncode == 0, r.stderr
    for section in ("paratune analyze", "bottleneck", "phases", "top processes", "key metrics"):
        assert section in r.stdout
    assert "Traceback" not in r.stderr


@pytest.mark.skipif(not TRACES, reason="no sample traces in sample_traces/")
def test_time_range_and_plot(tmp_path):
    r = paratune("analyze", TRACES[0], "--from", "+10", "--to", "+40", "--json", "--plot", tmp_path / "p.png")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert 25 <= doc["trace"]["samples"] <= 32
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = paratune("analyze", TRACES[0], "--plot", tmp_path / "p.html")
    assert r.returncode == 0 and "<img src='data:image/png;base64," in (tmp_path / "p.html").read_text()


def _bad_inputs(d: Path):
    (d / "empty.arrow").write_bytes(b"")
    (d / "random.arrow").write_bytes(os.urandom(4096))
    (d / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    pq.write_table(pa.table({"x": [1, 2, 3]}), d / "table.parquet")
    other = pa.table({"a": [1, 2], "b": ["x", "y"]})
    with pa.ipc.new_file(d / "other-schema.arrow", other.schema) as w:
        w.write_table(other)
    (d / "a-directory").mkdir()
    return [d / "empty.arrow", d / "random.arrow", d / "image.png", d / "table.parquet",
            d / "other-schema.arrow", d / "missing.arrow", d / "a-directory"]


def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path):
    for path in _bad_inputs(tmp_path):
        r = paratune("analyze", path)
        assert r.returncode != 0, path
        assert "Traceback" not in r.stderr, r.stderr
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and "error" in lines[0], (path, r.stderr)


@pytest.mark.skipif(not TRACES, reason="no sample traces in sample_traces/")
@pytest.mark.parametrize("args", [["--from", "yesterday"], ["--job", "no-such-job"],
                                  ["--from", "+100000"], ["--plot", "x.pdf"]])
def test_bad_arguments(args, tmp_path):
    r = paratune("analyze", TRACES[0], *args, cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not TRACES, reason="no sample traces in sample_traces/")
def test_an_empty_window_says_why():
    r = paratune("analyze", TRACES[0], "--from", "+30s", "--to", "+10s")
    assert r.returncode == 2 and "--to (" in r.stderr and "is before --from" in r.stderr
    r = paratune("analyze", TRACES[0], "--from", "+100000")
    assert r.returncode == 2 and "the traces span " in r.stderr


def test_unwritable_plot_leaves_nothing(tmp_path):
    if not TRACES:
        pytest.skip("no sample traces in sample_traces/")
    target = tmp_path / "nodir" / "p.png"
    r = paratune("analyze", TRACES[0], "--plot", target)
    assert r.returncode != 0 and "Traceback" not in r.stderr and not target.parent.exists()


@pytest.mark.skipif(not TRACES, reason="no sample traces in sample_traces/")
def test_dash_o_is_stdout_for_json(tmp_path):
    r = paratune("analyze", TRACES[0], "--json", "-o", "-", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["trace"]["samples"] > 0 and not (tmp_path / "-").exists()
