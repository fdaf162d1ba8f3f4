"""A job's allocation and licence use in a trace, with the real single-node Slurm.

scripts/slurm-up.sh configures Licenses=fluent:4.  The job is submitted and
running before `paratune record` starts, so the recorder's first look at
Slurm (its allocation, the cluster's licences) sees it."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest

from collector.reader import read_traces
from collector.slurm import parse_job
from tests.slurm.jobs import ROOT, sbatch

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
MIB = 1 << 20
JOB = ["-c", "2", "--mem=300M", "--time=5", "-L", "fluent:1"]


def _run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout


@pytest.fixture(scope="module")
def fluent(slurm):
    """Slurm with the fluent licences (a slurmctld started before the line was added
    reads it on reconfigure)."""
    if "LicenseName=fluent" not in _run("scontrol", "show", "licenses", "-o"):
        subprocess.run(["scontrol", "reconfigure"], capture_output=True, timeout=30)
        time.sleep(2)
        if "LicenseName=fluent" not in _run("scontrol", "show", "licenses", "-o"):
            pytest.skip("the running Slurm has no fluent licences (Licenses=fluent:4 in slurm.conf)")


def _running_job() -> str:
    """Submit the test's job and wait until it runs (it needs both CPUs of the VM)."""
    job = sbatch(*JOB, wrap="sleep 20")
    end = time.time() + 120
    while time.time() < end:
        state = _run("squeue", "-h", "-j", job, "-o", "%T").strip()
        if state == "RUNNING":
            return job
        assert state in ("PENDING", "CONFIGURING"), f"job {job} is {state or 'gone'}"
        time.sleep(0.5)
    subprocess.run(["scancel", job])
    pytest.fail(f"job {job} did not start in 120 s")


def _record(out: Path, seconds: float, env=None) -> str:
    """`paratune record` for ``seconds`` (every process kept: the job is root's); its stderr."""
    rec = subprocess.Popen([sys.executable, "-m", "paratune.cli", "record", "--output", str(out),
                            "--interval", "0.5", "--flush", "2", "--min-uid", "0"],
                           cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(seconds)
    rec.send_signal(signal.SIGTERM)
    _, err = rec.communicate(timeout=60)
    assert rec.returncode == 0, err
    return err


def _rows(out: Path, column: str, job: str | None = None):
    (host,) = read_traces([out])
    col = host.table.column(column)
    rows = [(i, r) for i, lst in enumerate(col.to_pylist()) for r in lst or []]
    return host, [(i, r) for i, r in rows if job is None or r["job"] == job]


def test_allocation_and_licences_from_scontrol(fluent, tmp_path):
    job = _running_job()
    try:
        expect = parse_job(_run("scontrol", "show", "job", "-d", "-o", job), job)
        err = _record(tmp_path, 8)
    finally:
        subprocess.run(["scancel", job])
    host, rows = _rows(tmp_path, "slurm_jobs", job)
    assert host.metadata["format_version"] == "2" and host.metadata["licence_sources"] == "slurm"
    assert host.table.num_rows >= 10
    jobs_in_procs = set(pc.struct_field(pc.list_flatten(host.table.column("procs")), "job").to_pylist())
    assert job in jobs_in_procs
    assert len(rows) == 1, rows                         # recorded once, not every sample
    i, row = rows[0]
    assert i <= 3                                       # the sample after the job was first seen
    start = row.pop("start")
    assert row == {"job": job, "user": "root", "partition": "debug", "nodes": 1, "cpus": 2,
                   "cpu_ids": expect["cpu_ids"], "mem_bytes": 300 * MIB, "time_limit_s": 300, "gpus": 0,
                   "gres": "", "licenses": "fluent:1", "source": "scontrol"}
    assert len(expect["cpu_ids"].replace("-", ",").split(",")) == 2      # "0-1" on the 2-CPU VM
    assert int(start.timestamp()) * 10**6 == expect["start"]
    _, lic = _rows(tmp_path, "licences")
    assert [r for _, r in lic] == [{"name": "fluent", "server": "", "total": 4, "used": 1, "source": "slurm"}]
    assert lic[0][0] <= 3                               # asked when the job appeared, once in 8 s
    assert "scontrol" not in err


BROKEN = """#!/bin/sh
echo "slurm_load_jobs error: Unable to contact slurm controller (connect failure)" >&2
exit 1
"""


def test_broken_slurm_falls_back_to_the_environ_and_says_so_once(fluent, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "scontrol").write_text(BROKEN)
    (bindir / "scontrol").chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    job = _running_job()
    try:
        err = _record(tmp_path / "out", 6, env)
    finally:
        subprocess.run(["scancel", job])
    host, rows = _rows(tmp_path / "out", "slurm_jobs", job)
    assert host.table.num_rows >= 8                     # recording went on
    assert [r for _, r in rows] == [{"job": job, "user": "root", "partition": "debug", "nodes": 1, "cpus": 2,
                                     "cpu_ids": "", "mem_bytes": 300 * MIB, "time_limit_s": None, "start": None,
                                     "gpus": None, "gres": None, "licenses": None, "source": "environ"}]
    said = [line for line in err.splitlines() if "Unable to contact slurm controller" in line]
    assert len(said) == 2, err      # once for job allocations, once for licences
    assert any("job allocations come from cgroups and environ" in line for line in said)
    _, lic = _rows(tmp_path / "out", "licences")
    assert lic == []
