"""Right-sizing notes: each note from measured use, with its exact option."""
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analyzer import config as C
from analyzer.advice import (Usage, advise, cpu_notes, gpu_notes, idle_notes, io_notes, licence_notes, mem_option,
                             memory_notes, network_notes, regression_notes, time_notes, time_option, usage_of)
from analyzer.allocation import Allocation, from_record, node_allocation, of_trace
from analyzer.pipeline import analyze_trace
from analyzer.load import load

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
GIB = 1 << 30


def usage(cores, rss=300e6, ranks=1, ended=True, interval=1.0, t0=1000.0):
    cores = np.asarray(cores, dtype=float)
    return Usage(host="n1", t=t0 + np.arange(cores.size) * interval, cores=cores,
                 present=np.ones(cores.size, dtype=bool), interval_s=interval, peak_rss=rss, io_bytes=0.0,
                 ranks=ranks, ended=ended)


def alloc(cpus=2, mem=16 * GIB, limit=3600.0, start=1000.0, **kw):
    return Allocation(job="7", cpus=cpus, mem_bytes=mem, time_limit_s=limit, start=start, source="scontrol", **kw)


def test_options_are_what_sbatch_takes():
    assert mem_option(300e6 * 1.25) == "--mem=400M"          # 357.6 MiB -> 400M
    assert mem_option(10) == "--mem=100M"
    assert mem_option(1.6 * GIB) == "--mem=2G"
    assert time_option(90) == "--time=00:05:00"
    assert time_option(3 * 3600 + 1) == "--time=03:05:00"
    assert time_option(2 * 86400 + 10) == "--time=2-00:05:00"


def test_serial_code_on_two_cpus_gets_one():
    (n,) = cpu_notes(usage([1.0] * 120), alloc(cpus=2))
    assert (n.kind, n.suggest) == ("serial", "--cpus-per-task=1")
    assert "1.00 cores used of 2 CPUs allocated" in n.evidence


def test_ranks_using_part_of_the_node_get_tasks():
    (n,) = cpu_notes(usage([3.9] * 100 + [4.0] * 20, ranks=4), alloc(cpus=16))
    assert (n.kind, n.suggest) == ("cpus", "--ntasks-per-node=4")


def test_busy_allocation_gets_no_cpu_note():
    assert cpu_notes(usage([1.9] * 100), alloc(cpus=2)) == []
    assert cpu_notes(usage([1.0] * 100), alloc(cpus=1)) == []      # one CPU cannot shrink
    assert cpu_notes(usage([np.nan] * 10), alloc(cpus=8)) == []    # no rates: no judgment


def test_idle_start_is_counted_from_the_job_start():
    cores = [0.0] * 90 + [2.0] * 60
    (n,) = idle_notes(usage(cores), alloc(start=1000.0 - 15))    # recorder saw the job 15 s late
    assert n.kind == "idle" and "1m44s" in n.message         # sample 90's rate covers the step from 89
    assert idle_notes(usage([0.0] * 30 + [2.0] * 60), alloc()) == []
    # the idle start is not held against the cores: the serial judgment starts after it
    assert cpu_notes(usage([0.0] * 90 + [2.0] * 60), alloc(cpus=2)) == []


def test_samples_without_a_cpu_rate_are_no_idle_start():
    """A first sample with no rate, 600 s before the next (an imported archive),
    is not 10 minutes of idling; a trace with no CPU data has no idle start."""
    assert idle_notes(usage([np.nan] + [4.0] * 10, interval=600.0), alloc(start=1000.0)) == []
    assert idle_notes(usage([np.nan] * 200), alloc(start=1000.0)) == []


def test_memory_over_request_and_near_limit():
    (n,) = memory_notes(usage([1] * 10, rss=300e6), alloc(mem=16 * GIB))
    assert (n.kind, n.severity, n.suggest) == ("memory", "info", "--mem=400M")
    (n,) = memory_notes(usage([1] * 10, rss=0.95 * GIB), alloc(mem=GIB))
    assert n.severity == "warn" and n.suggest == "--mem=2G"
    assert memory_notes(usage([1] * 10, rss=0.7 * GIB), alloc(mem=GIB)) == []
    assert memory_notes(usage([1] * 10, rss=1e6), node_allocation({"cores": "2", "mem_total": str(GIB)}, None)) == []


def test_time_note_only_for_a_finished_job():
    (n,) = time_notes(usage([1] * 60), alloc(limit=3600), 61.0)
    assert n.suggest == "--time=00:05:00" and "2%" in n.evidence
    assert time_notes(usage([1] * 60, ended=False), alloc(limit=3600), 61.0) == []
    (n,) = time_notes(usage([1] * 60), alloc(limit=600), 590.0)
    assert n.severity == "warn"
    assert time_notes(usage([1] * 60), alloc(limit=None), 61.0) == []


def test_regression_against_the_same_command():
    past = pl.DataFrame({"command": ["lmp"] * 3 + ["gmx"] * 5, "duration_s": [60.0, 62.0, 58.0] + [1.0] * 5})
    (n,) = regression_notes("lmp", 120.0, past)
    assert n.kind == "regression" and "2.0x slower" in n.message
    assert regression_notes("lmp", 80.0, past) == []
    assert regression_notes("gmx", 80.0, past.filter(pl.col("command") == "gmx").head(2)) == []
    assert regression_notes("cp2k", 80.0, past) == []


def test_licence_names_parse():
    a = alloc(licenses="fluent:1,matlab@flex,ansys:3")
    assert a.licence_counts() == {"fluent": 1, "matlab": 1, "ansys": 3}


def test_allocation_from_a_record_and_fallback():
    import datetime as dt
    r = {"job": "12", "user": "ann", "partition": "debug", "nodes": 1, "cpus": 2, "cpu_ids": "0-1",
         "mem_bytes": 300 << 20, "time_limit_s": 300, "start": dt.datetime(2026, 12, 5, tzinfo=dt.timezone.utc),
         "gpus": 0, "gres": "", "licenses": "fluent:1", "source": "scontrol"}
    a = from_record(r)
    assert (a.cpus, a.mem_bytes, a.time_limit_s, a.known) == (2, 300 << 20, 300, True)
    assert a.start == dt.datetime(2026, 12, 5, tzinfo=dt.timezone.utc).timestamp()
    tr = load([SAMPLES / "hpcc.arrow"])[0]
    b = of_trace(tr.table, tr.metadata, "12")       # a trace without slurm_jobs
    assert not b.known and b.cpus == 2 and b.mem_bytes == float(tr.metadata["mem_total"])


def test_a_real_run_against_a_generous_request():
    """HPCC on 2 ranks, judged as if it had asked for 8 CPUs, 64 GiB and an hour."""
    tr = load([SAMPLES / "hpcc.arrow"])[0]
    a = analyze_trace(tr)
    adv = advise([a], [alloc(cpus=8, mem=64 * GIB, limit=3600.0, start=None)], ended=True)
    got = {n.kind: n.suggest for n in adv.notes}
    assert got["cpus"] == "--ntasks-per-node=2"
    assert got["memory"].startswith("--mem=") and got["memory"].endswith("M")
    assert got["time"] == "--time=00:05:00"
    doc = adv.to_dict()
    assert set(doc) >= {"job", "allocation", "notes", "node_classes"}
    assert set(doc["allocation"]) >= {"cpus", "mem_bytes", "time_limit_s", "gpus"}
    for n in doc["notes"]:
        assert set(n) >= {"kind", "severity", "message", "evidence", "suggest"}
    u = adv.usage[0]
    assert adv.elapsed_s == pytest.approx(u.last + 1.0 - u.first)


def test_thresholds_live_in_config():
    assert 0 < C.ADVICE_MEM_USED_SHARE < C.ADVICE_MEM_NEAR_LIMIT < 1
    assert C.ADVICE_TIME_ROUND_S > 0


def test_serial_and_cpus_never_both():
    assert [n.kind for n in cpu_notes(usage([1.0] * 50), alloc(cpus=16))] == ["serial"]
    assert [n.kind for n in cpu_notes(usage([3.0] * 50), alloc(cpus=16))] == ["cpus"]


def _analysed(name):
    a = analyze_trace(load([SAMPLES / f"{name}.arrow"])[0])
    return a, usage_of(a)


def test_io_bound_run_on_the_local_disk():
    a, u = _analysed("fio-randrw")              # fio on the VM's own disk, no NFS
    (n,) = io_notes(a, u)
    assert n.kind == "io" and n.suggest is None and "own disk" in n.message
    assert "io-bound phases at 0s+" in n.evidence
    assert "the run read and wrote" in n.evidence and u.io_bytes > 0


def test_io_not_recorded_per_process_is_not_zero_bytes():
    """An imported archive has no per-process I/O: the note says so instead of '0 B'."""
    import dataclasses
    a, u = _analysed("fio-randrw")
    u = dataclasses.replace(u, io_bytes=float("nan"))
    (n,) = io_notes(a, u)
    assert "no per-process I/O" in n.evidence and "0 B" not in n.evidence


def test_io_through_a_shared_file_system_suggests_scratch():
    a, u = _analysed("fio-randrw")
    fs = [[{"kind": "nfs", "mount": "/home", "read_bytes": 0, "write_bytes": i * (1 << 30), "ops": i}]
          for i in range(a.trace.table.num_rows)]
    (note,) = io_notes(_with_column(a, "fs", fs), u)
    assert note.suggest is not None and note.suggest.startswith("--tmp=") and "shared file system" in note.message


def test_network_bound_across_nodes_and_on_one():
    a, u = _analysed("iperf3")
    (n,) = network_notes(a, u, nodes=2)
    assert n.suggest == "--switches=1"
    (n,) = network_notes(a, u, nodes=1)
    assert n.suggest is None and "one node" in n.message
    a, u = _analysed("gromacs")
    assert network_notes(a, u, nodes=2) == [] and io_notes(a, u) == []


def _with_column(a, name, rows):
    """The trace with column ``name`` replaced (an older trace reads it as nulls) by ``rows``."""
    import pyarrow as pa
    t = a.trace.table
    if name in t.column_names:
        t = t.drop_columns([name])
    a.trace.table = t.append_column(name, pa.array(rows))
    return a


def test_allocated_gpus_left_idle():
    a, _ = _analysed("gromacs")
    n = a.trace.table.num_rows
    (note,) = gpu_notes(a, alloc(gpus=2))
    assert note.kind == "gpu" and "none seen" in note.message            # no GPU samples at all
    gpus = [[{"index": 0, "util_pct": 90.0}, {"index": 1, "util_pct": 0.5}] for _ in range(n)]
    (note,) = gpu_notes(_with_column(a, "gpus", gpus), alloc(gpus=2))
    assert note.suggest == "--gpus-per-node=1" and "GPU1 0%" in note.evidence
    assert gpu_notes(a, alloc(gpus=0)) == []


def test_licence_all_in_use():
    a, _ = _analysed("gromacs")
    n = a.trace.table.num_rows
    rows = [[{"name": "fluent", "server": "", "total": 4, "used": 4 if i < 3 else 1, "source": "slurm"}]
            for i in range(n)]
    _with_column(a, "licences", rows)
    (note,) = licence_notes(a, alloc(licenses="fluent:1"))
    assert note.kind == "licence" and "3 minute samples" in note.evidence
    assert licence_notes(a, alloc(licenses="matlab:1")) == []
