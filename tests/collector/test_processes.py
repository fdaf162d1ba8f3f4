"""The process table: selection, job attribution, caching, dying processes,
first on hand-built trees (exact answers), then on this machine's /proc with
processes the tests start themselves."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.processes import ProcessTable
from collector.schema import PROC_FIELDS

DATA = Path(__file__).resolve().parent.parent / "data"
EL7, HPC = DATA / "el7" / "proc", DATA / "hpcnode" / "proc"
ROOT = Path(__file__).resolve().parents[2]
STRESS = shutil.which("stress-ng")


def by_pid(rows):
    return {r["pid"]: r for r in rows}


@pytest.fixture
def el7(tmp_path):
    """A writable copy of the el7 tree: tests make processes come and go."""
    dst = tmp_path / "proc"
    shutil.copytree(EL7, dst)
    return dst


# -- hand-built trees ---------------------------------------------------------

def test_rows_have_exactly_the_schema_fields():
    rows = ProcessTable(str(EL7), cmdline=True).sample()
    assert rows and all(list(r) == [f.name for f in PROC_FIELDS] for r in rows)


def test_selection_on_first_sample():
    t = ProcessTable(str(EL7), top_n=20)
    rows = by_pid(t.sample())
    assert t.nprocs == 12                                # kernel threads count as processes
    assert 2 not in rows and 3 not in rows               # ... but are never listed
    assert {2101, 2102, 2200, 2201, 2500} <= set(rows)   # every process of uid >= 1000
    assert 2300 in rows and 1 in rows                    # root, but used CPU
    assert 2301 not in rows                              # root, idle: left out
    assert 2400 not in rows                              # nobody (65534) is a system user
    assert list(rows) == sorted(rows)


def test_values_of_one_row():
    r = by_pid(ProcessTable(str(EL7)).sample())[2102]
    try:
        user = pwd.getpwuid(1001).pw_name
    except KeyError:
        user = "1001"                                    # no such user here: uid as text
    assert r == {"pid": 2102, "ppid": 2101, "uid": 1001, "user": user, "comm": "lmp",
                 "state": "R", "threads": 4, "utime": 52000, "stime": 800, "starttime": 90020,
                 "rss": 250000 * os.sysconf("SC_PAGE_SIZE"), "read_bytes": 4194304,
                 "write_bytes": 8388608, "job": "12", "cmdline": None}


def test_idle_root_processes_drop_out_once_cpu_deltas_exist():
    t = ProcessTable(str(EL7), top_n=20)
    t.sample()
    rows = by_pid(t.sample())                            # nothing moved in a static tree
    assert set(rows) == {2101, 2102, 2200, 2201, 2500}


def test_min_uid_zero_keeps_idle_root_processes():
    """A site whose jobs run as root sets min_uid = 0: their idle processes stay."""
    t = ProcessTable(str(EL7), top_n=20, min_uid=0)
    t.sample()
    rows = by_pid(t.sample())
    assert {2300, 2301, 1} <= set(rows) and 2400 not in rows     # nobody stays a system account


def test_top_n_limits_the_busy_ones():
    rows = by_pid(ProcessTable(str(EL7), top_n=1, min_uid=10**6).sample())
    assert set(rows) == {2102}                           # the busiest: 52800 ticks
    assert ProcessTable(str(EL7), top_n=0, min_uid=10**6).sample() == []


def test_jobs_from_cgroup_v1_environ_and_ancestor():
    rows = by_pid(ProcessTable(str(EL7)).sample())
    assert rows[2101]["job"] == "12"                     # cgroup v1 /slurm/uid_1001/job_12
    assert rows[2102]["job"] == "12"                     # /slurm_<node>/... naming
    assert rows[2500]["job"] == "12"                     # zombie, still in the cgroup
    assert rows[2200]["job"] == "13"                     # environ SLURM_JOBID (old alias)
    assert rows[2201]["job"] == "13"                     # empty environ: from its parent
    assert rows[1]["job"] is None and rows[2300]["job"] is None


def test_jobs_from_cgroup_v2():
    rows = by_pid(ProcessTable(str(HPC)).sample())
    assert rows[3001]["job"] == rows[3002]["job"] == "4242"
    assert rows[3000]["job"] == "4242"                   # slurmstepd sits in the job's scope
    assert rows[3102]["job"] is None and rows[3103]["job"] is None


def test_cmdline_off_by_default_and_redacted_when_on():
    assert all(r["cmdline"] is None for r in ProcessTable(str(HPC)).sample())
    rows = by_pid(ProcessTable(str(HPC), cmdline=True).sample())
    assert rows[3001]["cmdline"] == "gmx_mpi mdrun -deffnm md -ntomp 8"
    assert rows[3103]["cmdline"] == \
        "curl -H Authorization: Bearer *** https://bob:***@repo.example.org/x.tar"


def test_pid_reuse_is_a_new_process(el7):
    t = ProcessTable(str(el7), cmdline=True)
    assert by_pid(t.sample())[2201]["job"] == "13"
    d = el7 / "2201"
    stat = (d / "stat").read_text().replace("(python3)", "(cc1)").replace(" 95100 ", " 99999 ")
    (d / "stat").write_text(stat)
    (d / "status").write_text((d / "status").read_text().replace("Uid:\t1001", "Uid:\t1002"))
    (d / "cmdline").write_bytes(b"cc1\0-O2\0")
    (d / "environ").write_bytes(b"SLURM_JOB_ID=99\0")
    (d / "cgroup").write_text("0::/\n")
    r = by_pid(t.sample())[2201]
    assert (r["starttime"], r["comm"], r["uid"], r["job"], r["cmdline"]) == \
        (99999, "cc1", 1002, "99", "cc1 -O2")


def test_exec_refreshes_the_command_line(el7):
    t = ProcessTable(str(el7), cmdline=True)
    assert by_pid(t.sample())[2200]["cmdline"] == "-bash"
    d = el7 / "2200"
    (d / "stat").write_text((d / "stat").read_text().replace("(bash)", "(vim)"))
    (d / "cmdline").write_bytes(b"vim\0notes.txt\0")
    r = by_pid(t.sample())[2200]
    assert (r["comm"], r["cmdline"], r["starttime"]) == ("vim", "vim notes.txt", 95000)


def test_cpu_delta_picks_the_process_that_is_busy_now(el7):
    t = ProcessTable(str(el7), top_n=1, min_uid=10**6)
    t.sample()
    d = el7 / "2301"                                     # idle crond starts working
    (d / "stat").write_text((d / "stat").read_text().replace(" 0 0 0 0 20 ", " 30 5 0 0 20 ", 1))
    rows = t.sample()
    assert [(r["pid"], r["utime"], r["stime"]) for r in rows] == [(2301, 30, 5)]


def test_dead_pids_leave_the_cache(el7):
    t = ProcessTable(str(el7))
    t.sample()
    assert 2201 in t._cache
    shutil.rmtree(el7 / "2201")
    assert 2201 not in by_pid(t.sample())
    assert 2201 not in t._cache


def test_processes_dying_mid_read_are_skipped_silently(el7):
    (el7 / "7001").mkdir()                               # listed, gone before stat
    (el7 / "7002").mkdir()
    (el7 / "7002" / "stat").write_bytes(b"")             # exited: empty read
    (el7 / "7003").mkdir()
    (el7 / "7003" / "stat").write_bytes((el7 / "2201" / "stat").read_bytes()[:40])   # cut
    shutil.copytree(el7 / "2201", el7 / "7004")
    (el7 / "7004" / "status").unlink()                   # gone between stat and status
    shutil.copytree(el7 / "2201", el7 / "7005")
    for name in ("io", "cgroup", "environ", "cmdline"):  # gone before its details
        (el7 / "7005" / name).unlink()
    t = ProcessTable(str(el7), cmdline=True)
    rows = by_pid(t.sample())
    assert not {7001, 7002, 7003, 7004} & set(rows)
    assert rows[7005]["read_bytes"] is None and rows[7005]["cmdline"] is None
    assert rows[7005]["job"] == "13"                     # still has its parent's environ
    assert t.warn.messages == []


def test_garbage_stat_is_said_once(el7):
    shutil.copytree(el7 / "2201", el7 / "7006")
    (el7 / "7006" / "stat").write_text("7006 (x) S notanumber 1 1 0 -1 0 0 0 0 0 x y z "
                                       "0 0 20 0 1 0 5 0 0 0 0\n")
    t = ProcessTable(str(el7))
    t.sample()
    t.sample()
    assert len([m for m in t.warn.messages if "unparsable" in m]) == 1


def test_kernel_threads_are_not_reread_until_their_pid_changes(el7):
    t = ProcessTable(str(el7))
    t.sample()
    assert set(t._kthreads) == {2, 3}
    # pid 3 exits and a user process takes its number: a new /proc/3 inode
    new = el7 / "3.new"
    shutil.copytree(el7 / "2201", new)
    (new / "stat").write_text((new / "stat").read_text().replace("2201 (python3)", "3 (reused)", 1))
    os.rename(el7 / "3", el7 / "3.old")
    os.rename(new, el7 / "3")
    shutil.rmtree(el7 / "3.old")
    rows = by_pid(t.sample())
    assert rows[3]["comm"] == "reused" and set(t._kthreads) == {2}


# -- this machine's /proc --------------------------------------------------------

def _wait_for(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return None


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.skipif(STRESS is None, reason="stress-ng not installed")
def test_stress_ng_shows_up_with_growing_cpu():
    t = ProcessTable()
    t.sample()
    p = subprocess.Popen([STRESS, "--cpu", "1", "-t", "5", "-q"])
    try:
        worker = _wait_for(lambda: _children(p.pid))
        assert worker, "stress-ng started no worker"
        worker = worker[0]
        time.sleep(0.5)
        first = by_pid(t.sample()).get(worker)
        time.sleep(0.5)
        second = by_pid(t.sample()).get(worker)
        assert first and second, "busy stress-ng worker missing from the top N"
        assert second["comm"].startswith("stress-ng")
        assert second["utime"] + second["stime"] > first["utime"] + first["stime"]
        assert second["starttime"] == first["starttime"] and second["ppid"] == p.pid
        assert second["uid"] == os.getuid() and second["rss"] > 0
    finally:
        p.terminate()                                    # stress-ng stops its workers
        p.wait(timeout=10)


@pytest.mark.skipif(STRESS is None, reason="stress-ng not installed")
def test_job_from_an_ancestors_environ():
    # sh carries SLURM_JOB_ID; stress-ng runs under env -i (no environ) and its
    # worker rewrites its title: the job comes from the grandparent.
    sh = subprocess.Popen(["sh", "-c", f"env -i {STRESS} --cpu 1 -t 5 -q & wait"],
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SLURM_JOB_ID": "4242"})
    try:
        def worker():
            for parent in _children(sh.pid):
                kids = _children(parent)
                if kids:
                    return parent, kids[0]
            return None
        found = _wait_for(worker)
        assert found, "stress-ng did not start"
        parent, wpid = found
        assert b"SLURM_JOB_ID" not in Path(f"/proc/{parent}/environ").read_bytes()
        time.sleep(0.3)
        rows = by_pid(ProcessTable(min_uid=0).sample())
        assert rows[wpid]["job"] == "4242"
        assert rows[parent]["job"] == "4242"
        assert rows[sh.pid]["job"] == "4242"
        assert rows[os.getpid()]["job"] in (None, os.environ.get("SLURM_JOB_ID"))
    finally:
        for pid in _children(sh.pid):                    # stress-ng stops its workers
            os.kill(pid, signal.SIGTERM)
        sh.wait(timeout=10)


@pytest.mark.parametrize("hierarchy,path,job", [
    ("memory", "paratune_test/uid_0/job_4343/step_0", "4343"),            # cgroup v1
    ("unified", "paratune_test/job_4344/step_0/user/task_0", "4344"),     # cgroup v2
])
def test_job_from_a_real_cgroup(hierarchy, path, job):
    base = Path("/sys/fs/cgroup") / hierarchy
    if os.geteuid() != 0 or not (base / "cgroup.procs").exists():
        pytest.skip(f"needs root and a {hierarchy} cgroup hierarchy")
    d = base / path
    p = subprocess.Popen(["sleep", "20"], env={})
    try:
        try:
            d.mkdir(parents=True, exist_ok=True)
            (d / "cgroup.procs").write_text(str(p.pid))
        except OSError as e:
            pytest.skip(f"cannot create a test cgroup: {e}")
        row = by_pid(ProcessTable(min_uid=0).sample())[p.pid]
        assert row["job"] == job and row["comm"] == "sleep"
    finally:
        p.kill()
        p.wait(timeout=10)
        for i in range(len(Path(path).parts), 0, -1):
            try:
                (base / Path(*Path(path).parts[:i])).rmdir()
            except OSError:
                pass


def test_short_lived_processes_never_raise():
    churn = subprocess.Popen(["timeout", "10", "sh", "-c",
                              "i=0; while [ $i -lt 4000 ]; do /bin/true & i=$((i+1)); done; wait"])
    t = ProcessTable(min_uid=0, cmdline=True)
    n = 0
    try:
        end = time.monotonic() + 3
        while churn.poll() is None and time.monotonic() < end:
            rows = t.sample()
            assert all(isinstance(r["pid"], int) for r in rows)
            n += 1
    finally:
        churn.terminate()                                # timeout passes it on to sh
        churn.wait(timeout=10)
    assert n > 3
    assert not [m for m in t.warn.messages if "stat" in m or "status" in m]


NON_ROOT = """
import json, os, sys, time
sys.path.insert(0, {root!r})
import pyarrow as pa
from collector import schema
from collector.sampler import Sampler
os.setgroups([]); os.setgid(65534); os.setuid(65534)
s = Sampler()
first = s.sample(); time.sleep(0.4); row = s.sample()
batch = pa.RecordBatch.from_pylist([first, row], schema=schema.arrow_schema(s.metadata(1.0)))
print(json.dumps({{"uid": os.getuid(), "rows": batch.num_rows, "nprocs": row["nprocs"],
                  "procs": [[p["pid"], p["read_bytes"]] for p in row["procs"]],
                  "mem_total": row["mem_total"], "warnings": s.warnings}}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody")
def test_a_non_root_collector_samples_without_error():
    import json
    busy = subprocess.Popen([STRESS, "--cpu", "1", "-t", "6", "-q"]) if STRESS else None
    try:
        if busy:
            _wait_for(lambda: _children(busy.pid))
        out = subprocess.run([sys.executable, "-c", NON_ROOT.format(root=str(ROOT))],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        res = json.loads(out.stdout)
        assert res["uid"] == 65534 and res["rows"] == 2
        assert res["nprocs"] > 10 and res["mem_total"] > 0
        if busy:
            worker = _children(busy.pid)[0]
            io = dict(res["procs"]).get(worker, "missing")
            assert io is None, io                         # root's io is not ours to read
            assert any("/PID/io" in w for w in res["warnings"])
            assert len([w for w in res["warnings"] if "/PID/io" in w]) == 1
    finally:
        if busy:
            busy.terminate()
            busy.wait(timeout=10)
