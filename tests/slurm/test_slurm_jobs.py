"""Job attribution with a real Slurm: sbatch jobs recorded by `paratune record`.

.ci/run starts Slurm (scripts/slurm-up.sh); here the fixture starts it too
when it can, and the tests skip with the reason when it cannot."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest

from collector.reader import read_traces
from tests.slurm.jobs import ROOT, sbatch, wait_done

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _sbatch(*wrap: str) -> str:
    return sbatch("-n", "1", wrap=" ".join(wrap))


@pytest.fixture(scope="module")
def recorded(slurm, tmp_path_factory):
    out = tmp_path_factory.mktemp("slurm-traces")
    rec = subprocess.Popen([sys.executable, "-m", "paratune.cli", "record", "--output", str(out),
                            "--interval", "0.5", "--flush", "2"], cwd=ROOT, stderr=subprocess.PIPE)
    time.sleep(2)
    # stress-ng workers rewrite their title and lose their environ: attribution must
    # come from the nearest ancestor that still has SLURM_JOB_ID
    retitled = _sbatch("stress-ng", "--cpu", "1", "-t", "8", "-q")
    # a worker started with an empty environment, its parent shell keeps it
    no_env = _sbatch("sh", "-c", "'env -i /usr/bin/stress-ng --cpu 1 -t 6 -q; true'")
    for job in (retitled, no_env):
        wait_done(job)
    time.sleep(2)
    rec.send_signal(signal.SIGTERM)
    assert rec.wait(timeout=60) == 0, rec.stderr.read()
    return out, retitled, no_env


def _jobs_of(out: Path, comm: str) -> set:
    (host,) = read_traces([out])
    flat = pc.list_flatten(host.table.column("procs"))
    mask = pc.equal(pc.struct_field(flat, "comm"), comm)
    return set(pc.struct_field(flat, "job").filter(mask).to_pylist())


def test_retitled_and_env_less_workers_carry_their_job_ids(recorded):
    out, retitled, no_env = recorded
    jobs = _jobs_of(out, "stress-ng-cpu")
    assert {retitled, no_env} <= jobs, jobs
    assert None not in jobs or jobs - {None} >= {retitled, no_env}


def test_paratune_jobs_lists_them(recorded):
    out, retitled, no_env = recorded
    r = subprocess.run([sys.executable, "-m", "paratune.cli", "jobs", str(out), "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = {row["job"]: row for row in json.loads(r.stdout)}
    assert {retitled, no_env} <= rows.keys()
    row = rows[retitled]
    assert row["nodes"] == 1 and row["user"] == "root"
    assert 0.0005 < row["cpu_hours"] < 0.01      # ~8 s of one core
    assert row["peak_rss_node"] > 0
    for extra, expect in ((["--user", "root"], True), (["--user", "nobody-here"], False),
                          (["--to", "+0s"], False)):
        r = subprocess.run([sys.executable, "-m", "paratune.cli", "jobs", str(out), "--json", *extra],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert r.returncode == 0, r.stderr
        assert (retitled in {row["job"] for row in json.loads(r.stdout)}) == expect, extra


def test_analyze_one_job(recorded):
    out, retitled, _ = recorded
    r = subprocess.run([sys.executable, "-m", "paratune.cli", "analyze", str(out), "--job", retitled, "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["trace"]["job"] == retitled and doc["run"]["job"] == retitled
    assert 6 <= doc["trace"]["duration_s"] <= 14
    assert doc["processes"][0]["comm"].startswith("stress-ng")
    assert {p["job"] for p in doc["processes"]} == {retitled}      # not the recorder, not slurmctld
