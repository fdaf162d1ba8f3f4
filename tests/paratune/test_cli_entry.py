"""The console script (``paratune.cli.entry``) as a user runs it: a new
interpreter whose output is whole and whose exit code is main's, though it
leaves without Python's last garbage collection."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from paratune.cli import main

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT / "sample_traces" / "lammps-cpu_hog.arrow"


def _paratune(*args, **kw):
    return subprocess.run([sys.executable, "-m", "paratune.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300, **kw)


def test_the_whole_report_reaches_a_pipe():
    r = _paratune("analyze", TRACE, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["phases"] and any(a["kind"] == "cpu_hog" for a in doc["anomalies"])


def test_an_error_keeps_its_exit_code_and_one_line(tmp_path, capsys):
    bad = tmp_path / "notes.arrow"
    bad.write_text("not a trace\n")
    r = _paratune("analyze", bad)
    assert r.returncode == main(["analyze", str(bad)]) != 0
    assert r.stderr.count("\n") == 1 and "not a paratune trace" in r.stderr and "Traceback" not in r.stderr


def test_a_file_written_by_a_command_is_complete(tmp_path):
    out = tmp_path / "day.csv"
    r = _paratune("export", TRACE, "--format", "csv", "-o", out)
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert len(lines) > 10 and all(line.count(",") == lines[0].count(",") for line in lines)
