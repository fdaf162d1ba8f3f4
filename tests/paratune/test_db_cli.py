"""`paratune db` and `paratune compare` on real sample traces, as a user runs them."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_traces"
NEEDED = ["lammps", "lammps-2", "stress-cpu", "stress-cpu-2", "fio-randrw", "fio-randrw-2", "lammps-3",
          "iperf3"]
pytestmark = pytest.mark.skipif(not all((SAMPLES / f"{n}.arrow").exists() for n in NEEDED),
                                reason="sample traces not recorded (scripts/record_sample_traces.py)")


def paratune(*args):
    return subprocess.run([sys.executable, "-m", "paratune.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300, env=dict(os.environ, COLUMNS="140"))


def trace(name):
    return SAMPLES / f"{name}.arrow"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    d = tmp_path_factory.mktemp("db") / "db"
    for label, names in (("LAMMPS", ["lammps", "lammps-2"]), ("stress-cpu", ["stress-cpu", "stress-cpu-2"]),
                         ("fio", ["fio-randrw", "fio-randrw-2"])):
        r = paratune("db", "add", *map(trace, names), "--label", label, "--db", d)
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("added ") == 2
    return d


def test_list_show_and_permissions(db):
    r = paratune("db", "list", "--db", db, "--json")
    rows = json.loads(r.stdout)
    assert len(rows) == 6 and {x["label"] for x in rows} == {"LAMMPS", "stress-cpu", "fio"}
    assert all(x["start"].endswith("+00:00") for x in rows)
    r = paratune("db", "show", rows[0]["id"], "--db", db, "--json")
    doc = json.loads(r.stdout)
    assert doc["id"] == rows[0]["id"] and doc["f.cpu_busy_pct.mean"] is not None
    assert stat.S_IMODE(db.stat().st_mode) == 0o750
    for f in db.glob("runs-*.parquet"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o640


def test_classify_known_and_unknown(db):
    r = paratune("db", "classify", trace("lammps-3"), "--db", db, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["label"] == "LAMMPS" and 0 < doc["score"] <= 1
    assert {"label", "score", "id"} <= doc["candidates"][0].keys()
    r = paratune("db", "classify", trace("iperf3"), "--db", db, "--json")
    assert json.loads(r.stdout)["label"] == "unknown"


def test_history_report_and_readable_by_duckdb(db, tmp_path):
    r = paratune("db", "history", "LAMMPS", "--db", db, "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 2
    r = paratune("db", "report", "--db", db, "--out", tmp_path / "site.parquet", "--json")
    doc = json.loads(r.stdout)
    assert {x["label"] for x in doc["by_application"]} == {"LAMMPS", "stress-cpu", "fio"}
    duckdb = pytest.importorskip("duckdb")
    n = duckdb.sql(f"select count(*) from read_parquet('{db}/runs-*.parquet')").fetchall()[0][0]
    assert n == 6
    import polars as pl
    assert pl.read_parquet(tmp_path / "site.parquet").height == 3


def test_remove(db, tmp_path):
    rows = json.loads(paratune("db", "list", "--db", db, "--json", "--label", "fio").stdout)
    r = paratune("db", "remove", rows[0]["id"], "--db", db)
    assert r.returncode == 0
    left = json.loads(paratune("db", "list", "--db", db, "--json").stdout)
    assert rows[0]["id"] not in {x["id"] for x in left} and len(left) == 5
    r = paratune("db", "remove", "nosuchid", "--db", db)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1


def test_compare_two_runs_and_against_history(db):
    r = paratune("compare", trace("lammps"), trace("fio-randrw"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    sig = {d["metric"] for d in doc["differences"] if d["significant"] and d["scope"] == "run"}
    assert "disk_util_pct" in sig or "disk_write_Bps" in sig
    r = paratune("compare", trace("lammps-3"), "--app", "LAMMPS", "--db", db, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["runs"] == 2 and doc["kind"] == "history"
    r = paratune("compare", trace("lammps"))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_bad_database_paths(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = paratune("db", "list", "--db", f)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    r = paratune("db", "classify", trace("lammps"), "--db", tmp_path / "empty")
    assert r.returncode != 0 and "empty" in r.stderr


def test_the_same_run_is_stored_once(tmp_path):
    """Added twice (even under another label): 'already stored', one row, its source recorded."""
    d = tmp_path / "db"
    first = paratune("db", "add", trace("lammps"), "--label", "LAMMPS", "--db", d)
    again = paratune("db", "add", trace("lammps"), "--label", "other", "--db", d)
    assert first.returncode == again.returncode == 0, again.stderr
    assert first.stdout.startswith("added ") and again.stdout.startswith("already stored: ")
    rows = json.loads(paratune("db", "list", "--db", d, "--json").stdout)
    assert [r["label"] for r in rows] == ["LAMMPS"]
    from analyzer.database import Database
    assert Database(d).table(["source"])["source"].to_list() == [str(trace("lammps"))]


@pytest.mark.skipif(not (trace("lammps-clean").exists() and trace("lammps-cpu_hog").exists()),
                    reason="fault recordings not in sample_traces/")
def test_compare_reports_b_relative_to_a():
    """Clean (A, the reference) -> CPU hog (B): CPU pressure went up, and says so."""
    r = paratune("compare", trace("lammps-clean"), trace("lammps-cpu_hog"), "--json")
    assert r.returncode == 0, r.stderr
    psi = next(d for d in json.loads(r.stdout)["differences"]
               if d["scope"] == "run" and d["metric"] == "psi_cpu_some_pct")
    assert psi["b"] > psi["a"] and psi["relative"] > 0 and psi["effect"] > 0 and psi["significant"]
    from analyzer import config
    floor = config.COMPARE_FLOOR_FRACTION * config.FINGERPRINT_METRICS["psi_cpu_some_pct"]
    assert psi["relative"] == pytest.approx((psi["b"] - psi["a"]) / max(abs(psi["a"]), floor), rel=1e-3)


def test_list_through_a_pipe_is_whole_and_tab_separated(db):
    """Not a terminal (a pipe, cron mail, a log): every value whole, however narrow COLUMNS is."""
    r = subprocess.run([sys.executable, "-m", "paratune.cli", "db", "list", "--db", str(db)], capture_output=True,
                       text=True, cwd=ROOT, timeout=300, env=dict(os.environ, COLUMNS="40"))
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["id", "label", "job", "user", "hosts", "start", "duration", "bottleneck",
                                    "CPU busy", "anomalies"]
    rows = [line.split("\t") for line in lines[1:]]
    stored = json.loads(paratune("db", "list", "--db", db, "--json").stdout)
    assert len(rows) == len(stored) >= 5 and all(len(x) == 10 for x in rows)
    r = subprocess.run([sys.executable, "-m", "paratune.cli", "db", "history", "LAMMPS", "--db", str(db)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300, env=dict(os.environ, COLUMNS="40"))
    lines = r.stdout.splitlines()
    assert lines[0].startswith("start\tid\t") and len(lines) == 3 and all(line.count("\t") == 8 for line in lines)
    assert all(len(x[5]) == len("2026-11-22T03:38:18+00:00") and "…" not in line for x, line in zip(rows, lines[1:]))


@pytest.mark.skipif(not (trace("lammps-clean").exists() and trace("lammps-memory_leak").exists()),
                    reason="fault recordings not in sample_traces/")
def test_compare_flags_the_leak_runs_memory_growth():
    r = paratune("compare", trace("lammps-clean"), trace("lammps-memory_leak"), "--json")
    mem = next(d for d in json.loads(r.stdout)["differences"] if d["scope"] == "run" and d["metric"] == "mem_used_pct")
    assert mem["relative"] > 0.4 and mem["significant"], mem


def test_a_trace_still_being_written_is_stored_with_a_warning(tmp_path):
    """A .part (the recorder's open segment, an Arrow stream) is stored as it is now, and says so."""
    import pyarrow as pa

    from collector.reader import read_trace
    table = read_trace(trace("lammps")).table
    part = tmp_path / "node-20261122T033818Z.arrow.part"
    with pa.ipc.new_stream(part, table.schema) as w:
        w.write_table(table)
    r = paratune("db", "add", part, "--label", "LAMMPS", "--db", tmp_path / "db")
    assert r.returncode == 0, r.stderr
    assert "still being written (.part)" in r.stderr and r.stdout.startswith("added ")
