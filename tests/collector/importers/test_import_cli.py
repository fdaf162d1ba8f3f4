"""`paratune import` end to end: files written like the recorder's, jobs and analyze on them, bad input."""
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from collector.reader import read_trace
from paratune.cli import main

from .conftest import PCP, TACC, cli, need, need_pmdumplog


def test_tacc_import_writes_finished_traces(tacc_out):
    files = sorted(tacc_out.rglob("*.arrow"))
    assert {f.parent.name for f in files} == {"2013-10-01", "2014-10-31"}
    assert any(f.name == "c414-901-20131001T050006Z.arrow" for f in files)
    assert not list(tacc_out.rglob("*.tmp"))
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o640
        assert stat.S_IMODE(f.parent.stat().st_mode) == 0o750
    tf = read_trace(tacc_out / "2013-10-01" / "c414-901-20131001T050006Z.arrow")
    assert tf.metadata["source"] == "tacc_stats 1.0.5" and not tf.recovered
    assert tf.table.column_names[-1].startswith("ext_tacc_")      # extra columns kept, at the end


def test_jobs_and_analyze_on_imported_tacc(tacc_out):
    res = cli("jobs", tacc_out, "--json")
    assert res.returncode == 0, res.stderr
    jobs = {j["job"]: j for j in json.loads(res.stdout)}
    j = jobs["1835740"]       # 14-node job; 5 of its nodes are in the data set (hostlist.1835740)
    assert j["hosts"] == ["c414-901", "c427-001", "c434-302", "c436-503", "c448-203"] and j["user"] == "809035"
    assert 5 * 2 * 16 * 0.9 < j["cpu_hours"] < 5 * 2.5 * 16       # ~2.3 h on 16 busy cores per node
    res = cli("analyze", tacc_out, "--job", "1835740", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["job"]["job"] == "1835740" and len(doc["job"]["nodes"]) == 5
    assert {n["bottleneck"] for n in doc["job"]["nodes"]} == {"compute-bound"}


def test_pcp_import_and_analyze(tmp_path):
    need_pmdumplog()
    archive = need(PCP / "5894431-1622570028") / "cpn-d14-02"
    res = cli("import", "pcp", archive, "--job", "5894431", "--out", tmp_path)
    assert res.returncode == 0, res.stderr
    assert "cpn-d14-02" in res.stdout and "5894431" in res.stdout
    res = cli("analyze", tmp_path, "--job", "5894431", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["trace"]["host"] == "cpn-d14-02" and doc["trace"]["job"] == "5894431"
    # ~40 of its ~83 recorded seconds wait on I/O (iowait 17 %): neither label holds 60 % of the time
    c = doc["characterization"]
    assert c["label"] == "mixed" and set(c["shares"]) == {"compute-bound", "io-bound"}
    assert sum(c["shares"].values()) == pytest.approx(1.0, abs=1e-3)


def _refused(res, out):
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert not out.exists() or not any(out.rglob("*")), "partial output left"
    return lines[0]


def _refused_here(capsys, out, *args):
    """The same checks, running the CLI in this process (no interpreter start per case)."""
    code = main(list(map(str, args)))
    captured = capsys.readouterr()
    return _refused(subprocess.CompletedProcess(args, code, captured.out, captured.err), out)


def test_bad_input_writes_nothing(tmp_path, capsys):
    good = need(TACC / "archive" / "c414-901.platform.extension" / "1380603606.gz")
    out = tmp_path / "out"
    png = tmp_path / "pic.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(512))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.gz"
    noise.write_bytes(b"\x1f\x8b" + os.urandom(2000))
    for bad in (png, empty, noise, tmp_path / "missing"):
        line = _refused_here(capsys, out, "import", "tacc-stats", good, bad, "--out", out)
        assert bad.name in line
    _refused_here(capsys, out, "import", "tacc-stats", good, "--accounting", png, "--out", out)
    # a paratune trace is not a TACC Stats file
    trace = next((Path(__file__).resolve().parents[3] / "sample_traces").glob("*.arrow"))
    assert "not a TACC Stats raw file" in _refused_here(capsys, out, "import", "tacc-stats", trace, "--out", out)


def test_pcp_bad_input_and_missing_pmdumplog(tmp_path, capsys):
    out = tmp_path / "out"
    (tmp_path / "x.meta").write_bytes(os.urandom(300))
    (tmp_path / "x.0").write_bytes(os.urandom(300))
    need_pmdumplog()
    assert "not a readable PCP archive" in _refused_here(capsys, out, "import", "pcp", tmp_path / "x", "--out", out)
    archive = need(PCP / "5894431-1622570028") / "cpn-d14-02"
    env = dict(os.environ, PATH=str(tmp_path))          # no pmdumplog on this PATH
    assert "pmdumplog not found" in _refused(cli("import", "pcp", archive, "--out", out, env=env), out)
