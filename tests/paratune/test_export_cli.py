"""``paratune export``: real sample traces to Parquet and CSV, read back by polars and DuckDB.

Values are compared with what ``analyzer.derive`` computes from the same trace
(derive's NaN is null in the files), and raw exports with the trace's own
columns.  Bad input ends in one line, a non-zero exit and no file.
"""
from __future__ import annotations

import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from analyzer.derive import derive
from analyzer.load import load
from paratune.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_traces" / "lammps-cpu_hog.arrow"
OTHER = ROOT / "sample_traces" / "fio-randrw.arrow"


def export(*args) -> int:
    return main(["export", *map(str, args)])


def nan_to_none(values) -> list:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]


def close(a: list, b: list) -> bool:
    """Equal lists of floats with nulls in the same places (CSV text round trip: 1e-12 relative)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if (x is None) != (y is None):
            return False
        if x is not None and not math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12):
            return False
    return True


@pytest.fixture(scope="module")
def trace():
    (t,) = load([SAMPLE], skip=frozenset())   # every column, as export reads them
    return t


@pytest.fixture(scope="module")
def derived(trace):
    return derive(trace.table, trace.metadata)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_samples_equal_derive_read_by_polars_and_duckdb(tmp_path, trace, derived, fmt, capsys):
    out = tmp_path / f"run.{fmt}"
    assert export(SAMPLE, "--format", fmt, "-o", out) == 0
    assert f"wrote {out}: {trace.n} rows" in capsys.readouterr().out
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == [out.name]          # no temporary left
    df = pl.read_parquet(out) if fmt == "parquet" else pl.read_csv(out, try_parse_dates=True)
    db = duckdb.sql(f"select * from '{out}'").pl()
    for got in (df, db):
        assert got.height == trace.n
        assert got.columns[:2] == ["host", "time"] and set(got["host"]) == {trace.host}
        times = got["time"].dt.convert_time_zone("UTC").dt.epoch("us").to_list()
        assert times == trace.table.column("ts").cast(pa.int64()).to_pylist()
        for name, values in derived.metrics.items():
            assert close(got[name].to_list(), nan_to_none(values.tolist())), name
        assert close(got["cpu1_busy_pct"].to_list(), nan_to_none(derived.core_busy[:, 1].tolist()))


def test_time_is_utc_and_host_is_a_string(tmp_path, trace):
    out = tmp_path / "run.parquet"
    export(SAMPLE, "-o", out)
    schema = pl.read_parquet_schema(out)
    assert schema["time"] == pl.Datetime("us", "UTC") and schema["host"] == pl.String
    assert all(t == pl.Float64 for c, t in schema.items() if c not in ("host", "time"))


def test_raw_keeps_every_recorded_value(tmp_path, trace):
    out = tmp_path / "raw.parquet"
    assert export(SAMPLE, "--raw", "-o", out) == 0
    df = pl.read_parquet(out)
    table = trace.table
    for name in ("mono_ns", "cpu_user", "mem_available", "psi_io_some", "net_rx_bytes", "load1"):
        assert df[name].to_list() == table.column(name).to_pylist(), name
    cores = table.column("cores").to_pylist()
    for cpu in (0, 1):
        for field in ("user", "idle", "steal"):
            want = [next((c[field] for c in row if c["cpu"] == cpu), None) for row in cores]
            assert df[f"cores.{cpu}.{field}"].to_list() == want
    disks = {d["name"] for row in table.column("disks").to_pylist() for d in row}
    nets = {n["name"] for row in table.column("nets").to_pylist() for n in row}
    assert disks and nets
    for d in disks:
        assert f"disks.{d}.read_sectors" in df.columns and f"disks.{d}.io_ticks" in df.columns
    for n in nets:
        assert f"nets.{n}.tx_bytes" in df.columns and f"nets.{n}.loopback" in df.columns
    assert not any(c.startswith("procs.") or c == "procs" for c in df.columns)
    csv = duckdb.sql(f"select * from '{_csv(tmp_path, '--raw')}'").pl()
    assert csv["cores.0.user"].to_list() == df["cores.0.user"].to_list()
    assert csv["mono_ns"].to_list() == df["mono_ns"].to_list()


def _csv(tmp_path: Path, *args) -> Path:
    out = tmp_path / ("x" + "".join(args) + ".csv")
    assert export(SAMPLE, *args, "-o", out) == 0
    return out


def test_procs_equal_derive(tmp_path, trace, derived):
    out = tmp_path / "procs.parquet"
    assert export(SAMPLE, "--procs", "-o", out) == 0
    df = pl.read_parquet(out)
    want = derived.procs
    assert df.height == want.height
    ts = trace.table.column("ts").cast(pa.int64()).to_numpy()
    assert df["time"].dt.epoch("us").to_list() == ts[want["i"].to_numpy()].tolist()
    for col in ("pid", "comm", "user", "job", "starttime"):
        assert df[col].to_list() == want[col].to_list(), col
    for col in ("cpu_pct", "rss", "read_Bps", "write_Bps"):
        assert close(df[col].to_list(), nan_to_none(want[col].to_list())), col
    csv = pl.read_csv(_csv(tmp_path, "--procs"))
    assert close(csv["cpu_pct"].to_list(), df["cpu_pct"].to_list())


def test_raw_procs_are_the_recorded_process_rows(tmp_path, trace):
    out = tmp_path / "rawprocs.parquet"
    assert export(SAMPLE, "--procs", "--raw", "-o", out) == 0
    df = duckdb.sql(f"select * from '{out}'").pl()
    flat = pc.list_flatten(trace.table.column("procs"))
    assert df.height == len(flat)
    for field in ("pid", "utime", "stime", "rss", "comm", "starttime"):
        assert df[field].to_list() == pc.struct_field(flat, field).to_pylist(), field


def test_several_hosts_and_the_default_name(tmp_path):
    other = tmp_path / "other.arrow"
    table = load([OTHER])[0].table
    meta = {**pa.ipc.open_file(OTHER).schema.metadata, b"paratune.host": b"node2"}
    with pa.ipc.new_file(other, table.schema.with_metadata(meta)) as w:
        w.write_table(table.replace_schema_metadata(meta))
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert export(SAMPLE, other) == 0
    finally:
        os.chdir(old)
    df = pl.read_parquet(tmp_path / "lammps-cpu_hog.parquet")
    counts = dict(df.group_by("host").len().iter_rows())
    assert counts == {"vm": load([SAMPLE])[0].n, "node2": table.num_rows}


def test_time_range_and_parquet_metadata(tmp_path, trace):
    out = tmp_path / "cut.parquet"
    assert export(SAMPLE, "--from", "+10s", "--to", "+30s", "-o", out) == 0
    df = pl.read_parquet(out)
    t0 = trace.table.column("ts")[0].value
    secs = (np.array(df["time"].dt.epoch("us").to_list()) - t0) / 1e6
    assert 19 <= df.height <= 21 and secs.min() >= 10 and secs.max() <= 30
    meta = pl.read_parquet_metadata(out)
    assert meta["paratune.host"] == "vm" and meta["paratune.shape"] == "samples"


def run_cli(*args, cwd: Path):
    return subprocess.run([sys.executable, "-m", "paratune.cli", "export", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("make, args, needle", [
    (lambda d: d.joinpath("empty.arrow").write_bytes(b""), ["empty.arrow"], "empty file"),
    (lambda d: d.joinpath("noise.arrow").write_bytes(os.urandom(4096)), ["noise.arrow"], "not a paratune trace"),
    (lambda d: None, ["missing.arrow"], "no such file"),
    (lambda d: d.joinpath("out").mkdir(), [SAMPLE, "-o", "out"], "is a directory"),
    (lambda d: None, [SAMPLE, "-o", "nodir/x.parquet"], "cannot write"),
    (lambda d: None, [SAMPLE, "--from", "yesterday"], "cannot read time"),
    (lambda d: None, [SAMPLE, "--job", "nope"], "no samples for job nope"),
])
def test_bad_input_is_one_line_and_leaves_no_file(tmp_path, make, args, needle):
    make(tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode != 0 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paratune export: error:") and needle in lines[0], res.stderr
    assert {p.name for p in tmp_path.iterdir()} == before


def test_refuses_to_overwrite_the_trace_it_reads(tmp_path):
    copy = tmp_path / "t.arrow"
    copy.write_bytes(SAMPLE.read_bytes())
    res = run_cli(copy, "-o", copy, cwd=tmp_path)
    assert res.returncode == 2 and "one of the traces being exported" in res.stderr
    assert copy.read_bytes() == SAMPLE.read_bytes()
