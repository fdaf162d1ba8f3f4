"""TACC Stats raw files: values checked against the raw text, units, jobs, widths, what is kept."""
import gzip
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from analyzer.kernels._rates import _counter_rate
from collector.importers import tacc_stats
from collector.importers.build import JOB_COMM
from paratune_base.errors import ParatuneError

from .conftest import TACC, need

C414 = TACC / "archive" / "c414-901.platform.extension" / "1380603606.gz"
SMALL = TACC / "archive" / "compute-0-1.platform.extension" / "1414794601.gz"


@pytest.fixture(scope="module")
def c414():
    raw = tacc_stats.parse(need(C414))
    imp = tacc_stats.to_imported(raw, tacc_stats.read_accounting(TACC / "tacc_jobs_completed"))
    return raw, imp, imp.table()


def test_values_match_the_raw_file(c414):
    raw, imp, t = c414
    first = t.slice(0, 1).to_pylist()[0]
    # record "1380603606 1830387": read by hand from the raw file
    assert first["ts"].timestamp() == 1380603606
    cpu0 = next(c for c in first["cores"] if c["cpu"] == 0)      # cpu 0 28432363 0 1447747 1189487 22522 0 13104
    assert (cpu0["user"], cpu0["system"], cpu0["idle"], cpu0["iowait"], cpu0["softirq"]) == \
        (28432363, 1447747, 1189487, 22522, 13104)
    assert cpu0["steal"] is None                                 # not recorded by TACC Stats
    assert first["cpu_user"] == sum(c["user"] for c in first["cores"])
    assert first["mem_total"] == (16726644 + 16777216) * 1024    # mem 0 + mem 1, KB -> bytes
    assert first["mem_free"] == (7922744 + 11881752) * 1024
    assert first["load1"] == pytest.approx(16.04)                # ps load_1 1604 = load x 100
    assert first["ctxt"] == 5832934678 and first["forks"] == 49923
    sda = first["disks"][0]                                      # block sda 69867 21082 2722060 ...
    assert (sda["name"], sda["reads"], sda["read_sectors"], sda["time_in_queue"]) == ("sda", 69867, 2722060, 1000933)
    eth0 = next(n for n in first["nets"] if n["name"] == "eth0")
    assert eth0["rx_bytes"] == 4061143012 and eth0["tx_bytes"] == 27420691
    assert first["net_rx_bytes"] == sum(n["rx_bytes"] for n in first["nets"] if n["name"] != "lo")
    assert imp.metadata["host"] == "c414-901" and imp.metadata["clk_tck"] == "100"
    assert imp.metadata["interval_s"] == "600.0" and imp.metadata["cores"] == "16"


def test_jobs_are_processes_with_the_accounting_user(c414):
    raw, imp, t = c414
    rows = t.select(["ts", "procs", "ext_tacc_marks"]).to_pylist()
    by_job = {}
    for r in rows:
        for p in r["procs"]:
            assert p["comm"] == JOB_COMM and p["pid"] == 0
            by_job.setdefault(p["job"], []).append(p)
    assert list(by_job)[:2] == ["1830387", "1835740"]
    assert all(p["user"] == "809035" for p in by_job["1835740"])     # uid from tacc_jobs_completed
    assert all(p["user"] is None for p in by_job["1830387"])         # not in the accounting file
    assert len({p["starttime"] for p in by_job["1835740"]}) == 1
    assert by_job["1835740"][0]["starttime"] != by_job["1830387"][0]["starttime"]
    # record "1380663055 1830387" carries the mark "%end 1830387"; job 0 records have no process
    end = next(r for r in rows if r["ts"].timestamp() == 1380663055)
    assert end["ext_tacc_marks"] == ["end 1830387"]
    assert sum(1 for r in rows if not r["procs"]) == 5        # the five "<epoch> 0" records
    assert "1835740" in imp.metadata["accounting"]


def test_everything_else_is_kept_raw_with_units_and_widths(c414):
    raw, imp, t = c414
    kept = {n for n in t.column_names if n.startswith("ext_tacc_")}
    assert kept == {f"ext_tacc_{k}" for k in raw.schemas if k not in ("cpu", "block")
                    and any(k in r.stats for r in raw.records)} | {"ext_tacc_marks"}
    llite = t.column("ext_tacc_llite")[0].as_py()
    scratch = next(x for x in llite if x["device"] == "/scratch")
    assert scratch["read_bytes"] == 22327843262 and scratch["write_bytes"] == 9784706074
    item = t.schema.field("ext_tacc_intel_snb").type.value_type
    assert item.field("CTR0").metadata == {b"kind": b"counter", b"unit": b"", b"width": b"48"}
    assert item.field("CTL0").metadata[b"kind"] == b"label"
    assert t.schema.field("ext_tacc_mem").type.value_type.field("MemUsed").metadata[b"unit"] == b"KB"


def test_a_48_bit_counter_that_wrapped_gives_the_right_rate():
    """compute-0-1, intel_nhm cpu 1 FIXED_CTR1 (W=48): 281473165821745 -> 31593354357."""
    t = tacc_stats.to_imported(tacc_stats.parse(need(SMALL))).table()
    col = t.column("ext_tacc_intel_nhm").to_pylist()
    v = np.array([next(x["FIXED_CTR1"] for x in row if x["device"] == "1") for row in col], dtype=np.uint64)
    assert v[1] == 281473165821745 and v[2] == 31593354357
    width = int(t.schema.field("ext_tacc_intel_nhm").type.value_type.field("FIXED_CTR1").metadata[b"width"])
    ts = t.column("ts").cast(pa.int64()).to_numpy() / 1e6
    dt = np.r_[np.nan, np.diff(ts)]
    ok = np.r_[False, np.ones(len(v) - 1, dtype=bool)]
    rate = _counter_rate(v, np.ones(len(v), dtype=bool), dt, ok, float(2 ** width))
    assert rate[2] * dt[2] == pytest.approx(2 ** 48 - 281473165821745 + 31593354357)
    assert np.isnan(_counter_rate(v, np.ones(len(v), dtype=bool), dt, ok, 0.0)[2])  # without the width: a reset


def test_tacc_2_header_and_begin_marks():
    imp = tacc_stats.to_imported(tacc_stats.parse(need(SMALL)))
    t = imp.table()
    assert imp.host == "compute-0-1" and imp.metadata["source"] == "tacc_stats 2.0.0"
    assert t.column("ext_tacc_marks").to_pylist() == [[], ["begin 20"], ["end 20"]]
    assert [len(p) for p in t.column("procs").to_pylist()] == [0, 1, 1]     # job 0 is no job


def test_a_cut_short_gzip_keeps_every_complete_record(tmp_path):
    data = need(C414).read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) // 2])
    raw = tacc_stats.parse(cut)
    full = tacc_stats.parse(C414)
    assert 0 < len(raw.records) < len(full.records)
    assert any("cut short" in n for n in raw.notes)
    # the last record may have lost its tail lines; every earlier one is whole
    assert raw.records[-2].stats == full.records[len(raw.records) - 2].stats


@pytest.mark.parametrize("content, says", [
    (b"", "empty file"),
    (bytes(range(256)) * 4, "not text"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not text"),
    (b"hello world\n", "does not start with $tacc_stats"),
    (b"$tacc_stats 1.0.5\n$hostname n1\n!cpu user,E\n", "without records"),
    (b"$tacc_stats 1.0.5\n!cpu user,E nice,E\n1 7\ncpu 0 1\n", "has 1 values, its schema 2"),
    (b"$tacc_stats 1.0.5\n!cpu user,E\n1 7\nmem 0 1\n", "no schema line"),
    (b"$tacc_stats 1.0.5\n!cpu user,E\n5 7\ncpu 0 1\n4 7\ncpu 0 2\n", "not after the previous"),
    (b"$tacc_stats 1.0.5\n!cpu user,E\n1 7\ncpu 0 -3\n", "does not fit"),
])
def test_bad_input_is_one_clear_error(tmp_path, content, says):
    p = tmp_path / "bad"
    p.write_bytes(content)
    with pytest.raises(ParatuneError, match=re.escape(says)):
        tacc_stats.parse(p)
    gz = tmp_path / "bad.gz"
    gz.write_bytes(gzip.compress(content) if content else b"")
    with pytest.raises(ParatuneError, match=re.escape(says)):
        tacc_stats.parse(gz)


def test_accounting_names_may_hold_colons(tmp_path):
    acct = tacc_stats.read_accounting(need(TACC / "tacc_jobs_completed"))
    assert acct["1835740"]["name"] == "co::no" and acct["1835740"]["cores"] == 224
    assert acct["20"]["name"] == "jobname-nehalem" and acct["20"]["status"] == "COMPLETED"
    bad = tmp_path / "acct"
    bad.write_text("1:2:3\n")
    with pytest.raises(ParatuneError, match="not a tacc_jobs_completed line"):
        tacc_stats.read_accounting(bad)
