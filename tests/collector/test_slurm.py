"""Slurm allocations: scontrol parsing on real captured outputs, the cgroup and
environ fallbacks on hand-built trees, the bookkeeping (once, then only
changes), and that a hung scontrol never delays a sample."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from collector import schema, slurm
from collector.sampler import Sampler
from collector.slurm import (CommandError, Scontrol, SlurmJobs, Worker, allocation_from_environ, capture,
                             count_gpus, expand_hostlist, id_list, merge_fallbacks, parse_job, parse_mem,
                             parse_slurm_environ, parse_slurm_time, parse_time_limit,
                             read_cgroup_allocation, split_fields)

DATA = Path(__file__).resolve().parent.parent / "data" / "slurm"
UTC = dt.timezone.utc
MIB = 1 << 20


def job_text(name: str) -> str:
    return (DATA / f"{name}.txt").read_text()


def us(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000


# -- scontrol show job -d -o, captured from the real Slurm 22.05 ------------------

def test_running_job_with_cpus_mem_time_and_licence():
    row = parse_job(job_text("job-running-c2-mem-licence"), "16", tz=UTC)
    assert row == {"job": "16", "user": "root", "partition": "debug", "nodes": 1, "cpus": 2,
                   "cpu_ids": "0-1", "mem_bytes": 300 * MIB, "time_limit_s": 300,
                   "start": us("2026-12-05T22:18:47"), "gpus": 0, "gres": "", "licenses": "fluent:1",
                   "source": "scontrol"}
    assert list(row) == [f.name for f in schema.SLURM_JOB_FIELDS]


def test_days_in_the_time_limit_and_no_memory_limit():
    row = parse_job(job_text("job-running-days-licence"), tz=UTC)
    assert row["job"] == "12" and row["time_limit_s"] == (24 + 2) * 3600 + 4 * 60   # 1-02:04:00
    assert row["cpus"] == 1 and row["cpu_ids"] == "0" and row["licenses"] == "fluent:2"
    assert row["mem_bytes"] is None      # CR_Core: Mem=0 in the detail, MinMemoryNode=0, no TRES mem


def test_unlimited_time_limit():
    row = parse_job(job_text("job-running-unlimited"), "13", tz=UTC)
    assert row["time_limit_s"] is None and row["licenses"] == "" and row["cpu_ids"] == "1"
    assert row["start"] == us("2026-12-05T22:17:17")


def test_two_tasks_memory_per_cpu_and_text_with_spaces():
    row = parse_job(job_text("job-running-n2-mem-per-cpu-spaces"), "17", tz=UTC)
    assert row["cpus"] == 2 and row["mem_bytes"] == 2 * 100 * MIB and row["time_limit_s"] == 90 * 60
    pairs = dict(split_fields(job_text("job-running-n2-mem-per-cpu-spaces")))
    assert pairs["JobName"] == "two words" and pairs["Comment"] == "note: a=b c"
    assert "a" not in pairs


def test_pending_jobs_have_no_start_and_no_cpu_ids():
    held = parse_job(job_text("job-pending-held"), "14", tz=UTC)
    assert held["start"] is None and held["cpu_ids"] == "" and held["time_limit_s"] == (2 * 24 + 12) * 3600
    assert held["cpus"] == 1           # NumCPUs of a one-node request
    waiting = parse_job(job_text("job-pending-resources"), "15", tz=UTC)
    assert waiting["start"] is None and waiting["cpus"] == 2 and waiting["mem_bytes"] == 1 << 30
    assert waiting["time_limit_s"] == 1800


def test_array_tasks_are_told_apart_by_their_own_id():
    text = job_text("job-array")
    assert parse_job(text, "18", tz=UTC)["cpu_ids"] == "1"
    assert parse_job(text, "19", tz=UTC)["cpu_ids"] == "0"
    assert parse_job(text, "20") is None
    assert parse_job((DATA / "job-invalid.stdout").read_text(), "999999") is None


def test_multinode_gpu_job_takes_this_nodes_group():
    text = job_text("handwritten-gpu-multinode")
    g03 = parse_job(text, "4242", node_names=("g03.cluster", "g03"), tz=UTC)
    assert g03 == {"job": "4242", "user": "alice", "partition": "gpu", "nodes": 3, "cpus": 8,
                   "cpu_ids": "0-3,32-35", "mem_bytes": 122880 * MIB, "time_limit_s": 2 * 86400,
                   "start": us("2026-11-30T08:00:05"), "gpus": 2, "gres": "gpu:a100:2(IDX:2-3)",
                   "licenses": "matlab:1,ansys:2", "source": "scontrol"}
    g02 = parse_job(text, "4242", node_names=("g02",), tz=UTC)
    assert g02["cpu_ids"] == "0-15" and g02["cpus"] == 16 and g02["gres"] == "gpu:a100:2(IDX:0-1)"
    elsewhere = parse_job(text, "4242", node_names=("login1",), tz=UTC)
    assert elsewhere["cpu_ids"] == "" and elsewhere["cpus"] is None     # 40 CPUs over 3 nodes: unknown here
    assert elsewhere["mem_bytes"] == 120 << 30 and elsewhere["gpus"] == 2   # MinMemoryNode, TresPerNode


def test_start_time_is_read_in_the_zone_scontrol_printed_it():
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert parse_slurm_time("2026-12-05T22:18:47", plus2) == us("2026-12-05T20:18:47")
    assert parse_slurm_time("Unknown") is None and parse_slurm_time("None") is None
    assert parse_slurm_time("yesterday") is None


@pytest.mark.parametrize("text, seconds", [
    ("UNLIMITED", None), ("INFINITE", None), ("Partition_Limit", None), ("", None), (None, None),
    ("abc", None), ("1:2:3:4", None), ("5", 300), ("5:30", 330), ("01:02:03", 3723),
    ("1-02", 93600), ("1-02:03", 93780), ("2-12:00:00", 216000), ("0-00:00:10", 10),
])
def test_time_limit_formats(text, seconds):
    assert parse_time_limit(text) == seconds


def test_small_parsers():
    assert parse_mem("300M") == 300 * MIB and parse_mem("1.50G") == 3 << 29 and parse_mem("4096") == 4 << 30
    assert parse_mem("0") == 0 and parse_mem("lots") is None and parse_mem(None) is None
    assert id_list("0-1,4") == [0, 1, 4] and id_list("") == []
    with pytest.raises(ValueError):
        id_list("3-1")
    assert expand_hostlist("n[01-03,07],gpu5") == ["n01", "n02", "n03", "n07", "gpu5"]
    assert expand_hostlist("r[1-2]n[8-9]") == ["r1n8", "r1n9", "r2n8", "r2n9"]
    for bad in ("n[1-", "n[a-b]", "n[1-99999999]"):
        with pytest.raises(ValueError):
            expand_hostlist(bad)
    assert count_gpus("gpu:a100:2(IDX:0-1),gpu:v100:1(IDX:3)") == 3
    assert count_gpus("gpu(IDX:0,2)") == 2 and count_gpus("gres/gpu:4") == 4 and count_gpus("gres:gpu:1") == 1
    assert count_gpus("gpu") == 1 and count_gpus("mps:100") == 0 and count_gpus("") == 0


def test_a_job_name_cannot_pass_for_other_fields():
    text = job_text("job-running-c2-mem-licence").replace("JobName=wrap", "JobName=x Partition=fake TimeLimit=1")
    row = parse_job(text, "16", tz=UTC)
    assert row["partition"] == "debug" and row["time_limit_s"] == 300
    assert dict(split_fields(text))["JobName"] == "x Partition=fake TimeLimit=1"


def test_a_key_a_newer_slurm_adds_stays_its_own_pair():
    pairs = split_fields("JobId=7 Licenses=fluent:1 BrandNewKey=x Partition=p")
    assert pairs == [("JobId", "7"), ("Licenses", "fluent:1"), ("BrandNewKey", "x"), ("Partition", "p")]


# -- the fallbacks -----------------------------------------------------------------

REAL_ENVIRON = {        # the SLURM_ variables of job 13's batch step (captured), as in /proc/PID/environ
    "SLURM_CPUS_ON_NODE": "1", "SLURM_JOB_CPUS_PER_NODE": "1", "SLURM_JOB_ID": "13",
    "SLURM_JOB_NUM_NODES": "1", "SLURM_JOB_PARTITION": "debug", "SLURM_JOB_USER": "root",
    "SLURM_JOB_UID": "0", "SLURM_NODEID": "0", "SLURM_NNODES": "1", "SLURM_TOPOLOGY_ADDR": "localhost",
}


def environ_bytes(env: dict, secret: bytes = b"") -> bytes:
    return b"\0".join([b"PATH=/usr/bin", secret, *(f"{k}={v}".encode() for k, v in env.items()),
                       b"HOME=/root"]) + b"\0"


def test_environ_keeps_only_slurm_variables():
    data = environ_bytes(REAL_ENVIRON, secret=b"API_TOKEN=\xff\xfesecret")
    env = parse_slurm_environ(data + b"SLURMD_NODENAME=x\0SLURM_BROKEN\0")
    assert env == REAL_ENVIRON
    row = allocation_from_environ(env, "13")
    assert row == {**slurm.empty_allocation("13", "environ"), "user": "root", "partition": "debug",
                   "nodes": 1, "cpus": 1}
    assert allocation_from_environ(env, "14") is None      # another job's process


def test_environ_memory_gpus_and_cpus_per_node():
    env = {"SLURM_JOB_ID": "5", "SLURM_JOB_CPUS_PER_NODE": "4(x2),2", "SLURM_NODEID": "2",
           "SLURM_MEM_PER_CPU": "100", "SLURM_JOB_GPUS": "0,1", "SLURM_JOB_LICENSES": "fluent:1",
           "SLURM_JOB_START_TIME": "1796509127", "SLURM_JOB_END_TIME": "1796509427"}
    row = allocation_from_environ(env, "5")
    assert row["cpus"] == 2 and row["mem_bytes"] == 200 * MIB and row["gpus"] == 2
    assert row["licenses"] == "fluent:1" and row["time_limit_s"] == 300 and row["start"] == 1796509127 * 10**6
    row = allocation_from_environ({**env, "SLURM_NODEID": "9", "SLURM_MEM_PER_NODE": "300"}, "5")
    assert row["cpus"] is None and row["mem_bytes"] == 300 * MIB      # no index: the counts disagree
    unlimited = {**env, "SLURM_JOB_END_TIME": str(1796509127 + slurm.UNLIMITED_END_S)}   # TimeLimit=UNLIMITED
    assert allocation_from_environ(unlimited, "5")["time_limit_s"] is None


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v1(tmp_path):
    job = tmp_path / "fs/cgroup/cpuset/slurm_node07/uid_0/job_77"
    write(job / "cpuset.cpus", "2-3,6\n")
    write(tmp_path / "fs/cgroup/memory/slurm_node07/uid_0/job_77/memory.limit_in_bytes", "314572800\n")
    row = read_cgroup_allocation(str(tmp_path), "77")
    assert row == {**slurm.empty_allocation("77", "cgroup"), "cpus": 3, "cpu_ids": "2-3,6",
                   "mem_bytes": 314572800, "user": "root"}
    assert read_cgroup_allocation(str(tmp_path), "78") is None


def test_cgroup_v1_without_memory_limit(tmp_path):
    write(tmp_path / "fs/cgroup/memory/slurm/uid_0/job_9/memory.limit_in_bytes", "9223372036854771712\n")
    row = read_cgroup_allocation(str(tmp_path), "9")
    assert row["mem_bytes"] is None and row["cpus"] is None and row["cpu_ids"] == ""


def test_cgroup_v2(tmp_path):
    job = tmp_path / "fs/cgroup/system.slice/slurmstepd.scope/job_31"
    write(job / "cpuset.cpus", "\n")                 # not set by Slurm: the effective set counts
    write(job / "cpuset.cpus.effective", "0-7\n")
    write(job / "memory.max", "1073741824\n")
    row = read_cgroup_allocation(str(tmp_path), "31")
    assert row["cpus"] == 8 and row["cpu_ids"] == "0-7" and row["mem_bytes"] == 1 << 30
    assert row["user"] is None                       # v2 paths carry no uid
    write(job / "memory.max", "max\n")
    assert read_cgroup_allocation(str(tmp_path), "31")["mem_bytes"] is None


def test_fallbacks_merge_cgroup_first(tmp_path):
    write(tmp_path / "sys/fs/cgroup/cpuset/slurm/uid_0/job_13/cpuset.cpus", "1\n")
    proc = tmp_path / "proc"
    (proc / "4242").mkdir(parents=True)
    (proc / "4242" / "environ").write_bytes(environ_bytes({**REAL_ENVIRON, "SLURM_MEM_PER_NODE": "300"}))
    (proc / "4243").mkdir()
    (proc / "4243" / "environ").write_bytes(b"")     # a retitled worker: no environ left
    row, problems = capture("13", (4243, 4241, 4242), str(proc), str(tmp_path / "sys"), None, True)
    assert row == {**slurm.empty_allocation("13", "cgroup"), "user": "root", "partition": "debug",
                   "nodes": 1, "cpus": 1, "cpu_ids": "1", "mem_bytes": 300 * MIB}
    assert problems == []
    assert merge_fallbacks(None, None) is None
    assert capture("14", (4242,), str(proc), str(tmp_path / "sys"), None, True) == (None, [])
    (proc / "4243" / "environ").write_bytes(b"SLURM_JOB_ID=15\0SLURM_STEP_ID=0\0")
    missing = Scontrol(str(tmp_path / "no-scontrol"))
    row, problems = capture("15", (4243,), str(proc), str(tmp_path / "sys"), missing, True)
    assert row is None                              # an id alone tells nothing of the allocation
    assert [k for k, _ in problems] == [("scontrol", "missing"), ("slurm", "nothing")]


def test_missing_scontrol_falls_back_and_says_why(tmp_path):
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    (proc / "1" / "environ").write_bytes(environ_bytes(REAL_ENVIRON))
    sc = Scontrol(str(tmp_path / "no-scontrol"))
    row, problems = capture("13", (1,), str(proc), str(tmp_path), sc, True)
    assert row["source"] == "environ" and row["cpus"] == 1
    (key, message), = problems
    assert key == ("scontrol", "missing") and "not found" in message
    assert not sc.usable()                          # fallbacks only for a while
    row, problems = capture("13", (1,), str(proc), str(tmp_path), sc, True)
    assert row["source"] == "environ" and problems == []


def test_run_command_failures_are_one_line(tmp_path):
    with pytest.raises(CommandError, match="exited with 1: slurm_load_jobs error: Invalid job id"):
        slurm.run_command([sys.executable, "-c", "import sys; print('slurm_load_jobs error: Invalid job id "
                                                 "specified', file=sys.stderr); sys.exit(1)"], 5)
    with pytest.raises(CommandError) as err:
        slurm.run_command([str(tmp_path)], 5)
    assert err.value.kind == "missing"


# -- bookkeeping: once, then only changes ----------------------------------------------

class FakeScontrol:
    """Answers like scontrol from a captured file; counts the calls per job."""

    def __init__(self, text: str):
        self.text, self.calls, self.ok = text, [], True

    def usable(self) -> bool:
        return True

    def __call__(self, *args):
        self.calls.append(args)
        if not self.ok:
            raise CommandError("timeout", "scontrol show job timed out after 5 s")
        return self.text


def drain(jobs: SlurmJobs, live: dict, now_s: float, tries: int = 200) -> list[dict]:
    """update() until the worker has answered (it runs on its own thread)."""
    out = jobs.update(live, int(now_s * 1e9))
    for _ in range(tries):
        if not any(jobs.worker.pending(j) for j in live):
            break
        time.sleep(0.01)
    return out + jobs.update(live, int(now_s * 1e9))


def test_a_job_is_recorded_once_then_only_when_it_changes(tmp_path):
    fake = FakeScontrol(job_text("job-running-c2-mem-licence"))
    said = []
    jobs = SlurmJobs(str(tmp_path), str(tmp_path), lambda k, m: said.append(k), scontrol=fake, tz=UTC)
    first = drain(jobs, {"16": [1]}, 100.0)
    assert [r["cpus"] for r in first] == [2] and len(fake.calls) == 1
    assert fake.calls[0] == ("show", "job", "-d", "-o", "16")
    for t in range(101, 160):                       # within the minute: not asked again
        assert drain(jobs, {"16": [1]}, float(t)) == []
    assert len(fake.calls) == 1
    assert drain(jobs, {"16": [1]}, 161.0) == [] and len(fake.calls) == 2     # asked, unchanged
    fake.text = fake.text.replace("TimeLimit=00:05:00", "TimeLimit=00:10:00")
    changed = drain(jobs, {"16": [1]}, 222.0)
    assert [r["time_limit_s"] for r in changed] == [600]
    fake.ok = False                                 # slurmctld stops answering
    assert drain(jobs, {"16": [1]}, 283.0) == []    # the fallback does not replace scontrol's row
    assert ("scontrol", "timeout") in said
    assert drain(jobs, {}, 300.0) == [] and jobs.busy
    assert jobs.update({}, int((300 + slurm.FORGET_S + 1) * 1e9)) == [] and not jobs.busy


def test_job_ids_that_are_not_numbers_are_not_asked_about(tmp_path):
    fake = FakeScontrol("")
    said = []
    jobs = SlurmJobs(str(tmp_path), str(tmp_path), lambda k, m: said.append(k), scontrol=fake)
    assert drain(jobs, {"-h": [1], "1;x": [2]}, 1.0) == []
    assert fake.calls == [] and set(said) == {("slurm", "id")}


def test_worker_reports_a_crash_as_a_result():
    w = Worker("test")
    assert w.submit("k", lambda: 1 / 0) and not w.submit("k", lambda: 1)
    for _ in range(200):
        done, result = w.collect("k")
        if done:
            break
        time.sleep(0.01)
    assert isinstance(result, ZeroDivisionError) and not w.pending("k")


# -- a hung scontrol never delays a sample -----------------------------------------------

SLOW_SCONTROL = """#!/bin/sh
echo "$$ $*" >> {log}
sleep 30
"""


def test_a_hung_scontrol_does_not_delay_sampling(tmp_path, monkeypatch):
    """A scontrol that sleeps 30 s: samples stay fast, it is killed at 5 s with its
    child, and the allocation comes from the job process's environ instead."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls"
    (bindir / "scontrol").write_text(SLOW_SCONTROL.format(log=log))
    (bindir / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    job = "987654321"
    env = {"PATH": os.environ["PATH"], "SLURM_JOB_ID": job, "SLURM_CPUS_ON_NODE": "3",
           "SLURM_JOB_PARTITION": "fake", "SLURM_JOB_NUM_NODES": "1", "SLURM_MEM_PER_NODE": "512"}
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        s = Sampler(min_uid=0)           # the child is root's here: keep every process
        rows, times = [], []
        end = time.monotonic() + 20
        while time.monotonic() < end:
            t0 = time.perf_counter()
            row = s.sample()
            times.append(time.perf_counter() - t0)
            rows += [r for r in row["slurm_jobs"] if r["job"] == job]
            if rows:
                break
            time.sleep(0.2)
        assert max(times) < 0.5, f"a sample took {max(times):.2f} s"
        assert len(times) > 10                      # sampling went on while scontrol hung
        assert rows == [{**slurm.empty_allocation(job, "environ"), "partition": "fake", "nodes": 1,
                         "cpus": 3, "mem_bytes": 512 * MIB}]
        calls = [line.split(" ", 1) for line in log.read_text().splitlines()]
        assert [c[1] for c in calls].count(f"show job -d -o {job}") == 1
        time.sleep(0.2)
        for pid, _ in calls:                        # killed with its process group, sleep included
            assert not Path(f"/proc/{pid}").exists() or b"sleep" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert any("timed out after 5 s" in w for w in s.warnings)
        for _ in range(5):
            assert [r for r in s.sample()["slurm_jobs"] if r["job"] == job] == []
    finally:
        child.kill()
        child.wait()


def test_a_captured_tree_never_asks_this_machines_slurm(tmp_path, monkeypatch):
    """hpcnode's job 4242 (cgroup v2): the allocation comes from the cgroup under the
    tree's /sys, and the scontrol on PATH is never run."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "scontrol").write_text(f"#!/bin/sh\ntouch {tmp_path}/asked\n")
    (bindir / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    job = tmp_path / "sys/fs/cgroup/system.slice/slurmstepd.scope/job_4242"
    write(job / "cpuset.cpus", "0-31\n")
    write(job / "memory.max", "68719476736\n")
    tree = Path(__file__).resolve().parent.parent / "data" / "hpcnode"
    s = Sampler(str(tree / "proc"), str(tmp_path / "sys"))
    assert s.slurm.worker._thread is None           # nothing started before a job is seen
    rows = []
    for _ in range(100):
        rows += s.sample()["slurm_jobs"]
        if rows:
            break
        time.sleep(0.02)
    assert rows == [{**slurm.empty_allocation("4242", "cgroup"), "cpus": 32, "cpu_ids": "0-31",
                     "mem_bytes": 64 << 30}]
    assert not (tmp_path / "asked").exists()


def test_no_job_no_thread(tmp_path):
    s = Sampler(str(Path(__file__).resolve().parent.parent / "data" / "debian12" / "proc"), str(tmp_path))
    for _ in range(3):
        row = s.sample()
        assert row["slurm_jobs"] == [] and row["licences"] == []
    assert s.slurm.worker._thread is None and not s.slurm.busy and not s.licences.active


def test_rows_go_through_arrow(tmp_path):
    row = parse_job(job_text("job-running-c2-mem-licence"), "16", tz=UTC)
    s = Sampler(proc_root=str(Path(__file__).resolve().parent.parent / "data" / "debian12" / "proc"),
                sys_root=str(tmp_path))
    sample = s.sample()
    assert sample["slurm_jobs"] == [] and sample["licences"] == []
    sample["slurm_jobs"] = [row]
    batch = pa.RecordBatch.from_pylist([sample], schema=schema.arrow_schema())
    got = batch.column(batch.schema.get_field_index("slurm_jobs")).to_pylist()[0][0]
    assert got["start"] == dt.datetime(2026, 12, 5, 22, 18, 47, tzinfo=UTC)
    assert {k: v for k, v in got.items() if k != "start"} == {k: v for k, v in row.items() if k != "start"}
