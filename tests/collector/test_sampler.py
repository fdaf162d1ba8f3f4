"""Whole samples: on this machine's /proc, on captured and hand-built trees,
and through Arrow unchanged."""
from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import time
import types
from pathlib import Path

import pyarrow as pa
import pytest

from collector import schema
from collector.sampler import Sampler
from paratune_base.errors import ParatuneError

DATA = Path(__file__).resolve().parent.parent / "data"


def tree(name: str, **kw) -> Sampler:
    return Sampler(proc_root=str(DATA / name / "proc"), sys_root=str(DATA / name / "sys"), **kw)


NESTED_LISTS = ("cores", "nets", "disks", "procs", "ib", "rapl", "gpus", "fs")


def assert_schema_shape(row: dict) -> None:
    assert list(row) == [f.name for f in schema.NODE_FIELDS]
    for col in NESTED_LISTS:
        names = [f.name for f in schema.NESTED[col][0]]
        for item in row[col] or []:
            assert sorted(item) == sorted(names), col


# -- this machine ----------------------------------------------------------------

def test_live_sample_is_plausible():
    s = Sampler()
    before = time.time_ns() // 1000
    a = s.sample()
    end = time.monotonic() + 0.2      # busy, not asleep: as root in a quiet container only
    while time.monotonic() < end:     # processes that used a clock tick are sampled
        pass
    b = s.sample()
    assert_schema_shape(b)
    assert before <= a["ts"] <= b["ts"] <= time.time_ns() // 1000
    assert b["mono_ns"] > a["mono_ns"]
    assert len(b["cores"]) == os.cpu_count()
    assert [c["cpu"] for c in b["cores"]] == list(range(os.cpu_count()))
    assert b["cpu_idle"] >= a["cpu_idle"] and b["ctxt"] > a["ctxt"]
    assert b["intr"] > 0 and b["forks"] > 0 and b["procs_running"] >= 1
    assert 0 < b["mem_free"] <= b["mem_total"] and b["mem_available"] <= b["mem_total"]
    assert b["mem_total"] == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") or \
        abs(b["mem_total"] - os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) < 64 << 20
    assert b["load1"] >= 0 and b["pgfault"] > 0
    assert b["nprocs"] == len([n for n in os.listdir("/proc") if n.isdigit()]) or b["nprocs"] > 10
    assert 0 < len(b["procs"]) <= b["nprocs"]
    assert {n["name"] for n in b["nets"] if n["loopback"]} == {"lo"}
    real = [n for n in b["nets"] if not n["loopback"]]
    assert b["net_rx_bytes"] == sum(n["rx_bytes"] for n in real)
    assert all(not d["name"].startswith(("loop", "ram")) for d in b["disks"])
    assert all(os.path.exists(f"/sys/block/{d['name']}") for d in b["disks"])
    if os.path.exists("/proc/pressure/cpu"):
        assert b["psi_cpu_some"] is not None and b["psi_io_full"] is not None
    assert all(c["freq_mhz"] is None for c in b["cores"]) == (not s._freq)
    assert b["ib"] == b["rapl"] == b["gpus"] == b["fs"] == []
    assert s.sources == []


def test_record_batch_round_trip():
    s = Sampler(cmdline=True)
    rows = [s.sample(), s.sample()]
    meta = s.metadata(1.0)
    batch = pa.RecordBatch.from_pylist(rows, schema=schema.arrow_schema(meta))
    assert batch.num_rows == 2
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    back = pa.ipc.open_stream(sink.getvalue()).read_all()
    assert schema.trace_metadata(back.schema) == meta
    got = back.to_pylist()
    for want, have in zip(rows, got):
        assert have["ts"] == dt.datetime.fromtimestamp(want["ts"] / 1e6, dt.timezone.utc)
        for k in want:
            if k != "ts" and not isinstance(want[k], float):
                assert have[k] == want[k], k
        assert have["load1"] == pytest.approx(want["load1"], rel=1e-6)   # float32


@pytest.mark.parametrize("name", ["debian12", "el7", "hpcnode"])
def test_trees_go_through_arrow(name):
    s = tree(name, cmdline=True)
    rows = [s.sample(), s.sample()]
    for r in rows:
        assert_schema_shape(r)
    batch = pa.RecordBatch.from_pylist(rows, schema=schema.arrow_schema(s.metadata(2.0)))
    assert batch.num_rows == 2 and batch.schema.metadata[b"paratune.interval_s"] == b"2.0"


def test_fixed_clock():
    clock = types.SimpleNamespace(time_ns=lambda: 1_700_000_000_123_456_789, monotonic_ns=lambda: 42)
    s = tree("debian12", clock=clock)
    row = s.sample()
    assert (row["ts"], row["mono_ns"]) == (1_700_000_000_123_456, 42)
    assert s.metadata(1)["start"].startswith(
        dt.datetime.fromtimestamp(1_700_000_000, dt.timezone.utc).astimezone().strftime("%Y-%m-%dT%H"))


# -- trees: values known from their files ---------------------------------------------

def test_debian12_tree():
    row = tree("debian12").sample()
    assert (row["cpu_user"], row["ctxt"], row["forks"], row["load1"]) == (57211, 1242358, 9554, 3.58)
    assert row["mem_total"] == 24684084 * 1024 and row["swap_used"] == 0
    assert (row["psi_cpu_some"], row["psi_io_some"], row["psi_io_full"]) == (104520080, 6851051, 3634350)
    assert [d["name"] for d in row["disks"]] == ["vda", "zram0"]        # loop0-7 skipped
    assert [n["name"] for n in row["nets"] if n["loopback"]] == ["lo"]
    assert row["net_rx_bytes"] == 309767684 and row["net_tx_packets"] == 4783   # eth0 + ifb*
    assert row["nprocs"] == 4 and row["procs"] == []      # root's sh and sleep used no CPU


def test_el7_tree():
    s = tree("el7")
    row = s.sample()
    assert [c["freq_mhz"] for c in row["cores"]] == [2400.0, 1200.0, 2401.0, 3300.0]
    assert [d["name"] for d in row["disks"]] == ["sda", "sr0", "dm-0", "nvme0n1"]
    assert row["psi_cpu_some"] is None and row["psi_mem_full"] is None      # 3.10: no PSI
    assert s.warnings == [f"no {DATA}/el7/proc/pressure (kernel before 4.20, or booted with "
                          "psi=0): the psi_* columns are null"]
    assert row["pgscan"] == 440 and row["swap_used"] == 100000 * 1024
    assert row["net_rx_bytes"] == 9876543210 + 555555555                   # eth0 + ib0, not lo
    assert row["net_rx_drop"] == 12 + 2
    assert {p["pid"]: p["job"] for p in row["procs"]}[2201] == "13"


def test_hpcnode_tree_with_every_optional_source():
    s = tree("hpcnode")
    assert s.sources == ["ib", "rapl", "nfs", "lustre"]
    row = s.sample()
    assert len(row["ib"]) == 2 and len(row["rapl"]) == 4 and row["gpus"] == []
    assert [(f["kind"], f["mount"]) for f in row["fs"]] == [
        ("nfs", "/home"), ("nfs", "/scratch data"),
        ("lustre", "scratch-ffff9a2b3c4d5000"), ("lustre", "work-ffff8e1a2b3c4000")]
    assert row["psi_cpu_some"] == 123456789                 # the cpu "full" line has no column
    assert [d["name"] for d in row["disks"]] == ["nvme0n1", "md127"]        # 20-field lines
    assert row["pgscan"] == 6780 and row["pgsteal"] == 3450
    assert s.metadata(1)["sources"] == "ib,rapl,nfs,lustre"
    assert tree("hpcnode", sources={"rapl"}).sources == ["rapl"]


def test_partitions_by_name_when_sys_block_is_missing(tmp_path):
    s = Sampler(proc_root=str(DATA / "el7" / "proc"), sys_root=str(tmp_path))
    row = s.sample()
    assert [d["name"] for d in row["disks"]] == ["sda", "sr0", "dm-0", "nvme0n1"]
    assert [n["name"] for n in row["nets"] if n["loopback"]] == ["lo"]      # by name
    assert all(c["freq_mhz"] is None for c in row["cores"])


# -- metadata --------------------------------------------------------------------------

def test_metadata_keys_and_values(tmp_path):
    conf = tmp_path / "slurm.conf"
    conf.write_text("# test\nClusterName=frontera\nSlurmctldHost=localhost\n")
    md = tree("el7", slurm_conf=str(conf)).metadata(0.5)
    assert set(md) == set(schema.METADATA_KEYS)
    assert all(isinstance(v, str) for v in md.values())
    assert md["host"] == "c401-101" and md["kernel"] == "3.10.0-1160.el7.x86_64"
    assert md["cpu_model"] == "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz"
    assert (md["cores"], md["mem_total"]) == ("4", str(65808032 * 1024))
    assert md["clk_tck"] == str(os.sysconf("SC_CLK_TCK")) and md["page_size"] == str(os.sysconf("SC_PAGE_SIZE"))
    assert md["interval_s"] == "0.5" and md["cluster"] == "frontera" and md["sources"] == ""
    start = dt.datetime.fromisoformat(md["start"])
    assert start.tzinfo is not None
    assert abs((dt.datetime.now(dt.timezone.utc) - start).total_seconds()) < 60
    assert md["format_version"] == str(schema.FORMAT_VERSION)


def test_metadata_live_without_slurm(tmp_path):
    md = Sampler(slurm_conf=str(tmp_path / "none.conf")).metadata(1)
    assert md["cluster"] == "" and md["host"] == os.uname().nodename.split(".")[0]
    assert md["kernel"] == os.uname().release and int(md["cores"]) == os.cpu_count()


# -- what cannot be read ------------------------------------------------------------------

def test_unreadable_files_are_null_and_said_once(tmp_path, caplog):
    proc = tmp_path / "proc"
    shutil.copytree(DATA / "hpcnode" / "proc", proc)
    (proc / "vmstat").unlink()
    (proc / "diskstats").write_text(" 259       0 nvme0n1 1 2 3 four 5 6 7 8 9 10 11\n")
    s = Sampler(proc_root=str(proc), sys_root=str(DATA / "hpcnode" / "sys"))
    with caplog.at_level("WARNING", logger="paratune.collector"):
        rows = [s.sample(), s.sample(), s.sample()]
    row = rows[-1]
    assert row["pgfault"] is None and row["pgscan"] is None and row["disks"] is None
    assert row["mem_total"] == 263842300 * 1024                     # the rest still goes out
    assert len(s.warnings) == 2 and len(caplog.records) == 2
    assert any("vmstat" in w for w in s.warnings) and any("diskstats" in w for w in s.warnings)
    pa.RecordBatch.from_pylist(rows, schema=schema.arrow_schema())


def test_bad_roots_are_one_line_errors(tmp_path):
    with pytest.raises(ParatuneError, match="not a proc file system"):
        Sampler(proc_root=str(tmp_path))
    with pytest.raises(ParatuneError, match="top_n"):
        Sampler(top_n=-1)
