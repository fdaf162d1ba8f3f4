"""paratune advise on real sbatch jobs that over-request on purpose, and the
epilog that delivers the advice when a job ends."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.slurm.jobs import ROOT, sbatch, show_job, wait_done

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

BUSY = "python3 -c 'import time; e=time.time()+{s}\nwhile time.time()<e: pass'"
HOLD = ("python3 -c 'import time; b=bytearray({mib}<<20)\nfor i in range(0,len(b),4096): b[i]=1\n"
        "e=time.time()+{s}\nwhile time.time()<e: pass'")


def _advise(out: Path, job: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paratune.cli", "advise", str(out), "--job", job, *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=180)


@pytest.fixture(scope="module")
def jobs(slurm, tmp_path_factory):
    out = tmp_path_factory.mktemp("advise-traces")
    rec = subprocess.Popen([sys.executable, "-m", "paratune.cli", "record", "--output", str(out),
                            "--interval", "1", "--flush", "2"], cwd=ROOT, stderr=subprocess.PIPE)
    try:
        time.sleep(2)
        ids = {
            "serial": sbatch("-c", "2", wrap=BUSY.format(s=25)),
            "memory": sbatch("-c", "1", "--mem=16G", wrap=HOLD.format(mib=300, s=25)),
            "time": sbatch("-c", "1", "--time=1:00:00", wrap=BUSY.format(s=60)),
            "idle": sbatch("-c", "1", wrap="sleep 65; " + BUSY.format(s=10)),
        }
        for job in ids.values():
            wait_done(job)
        time.sleep(4)                      # samples after the last job: it ended
    finally:
        rec.terminate()
        rec.wait(timeout=60)
    return out, ids


def _notes(out, job) -> dict:
    r = _advise(out, job, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["job"] == job
    return doc, {n["kind"]: n for n in doc["notes"]}


def test_serial_job_on_two_cpus(jobs):
    out, ids = jobs
    doc, notes = _notes(out, ids["serial"])
    assert doc["allocation"]["cpus"] == 2 and doc["allocation"]["source"] == "scontrol"
    assert notes["serial"]["suggest"] == "--cpus-per-task=1"
    assert "cpus" not in notes


def test_sixteen_gigabytes_for_three_hundred_megabytes(jobs):
    out, ids = jobs
    doc, notes = _notes(out, ids["memory"])
    assert doc["allocation"]["mem_bytes"] == 16 << 30
    n = notes["memory"]
    assert n["suggest"] in ("--mem=400M", "--mem=500M"), n
    assert "300" in n["evidence"] or "3" in n["evidence"]


def test_an_hour_for_a_minute(jobs):
    out, ids = jobs
    doc, notes = _notes(out, ids["time"])
    assert doc["allocation"]["time_limit_s"] == 3600
    assert notes["time"]["suggest"] == "--time=00:05:00"
    assert 55 <= doc["elapsed_s"] <= 75


def test_idle_first_minute(jobs):
    out, ids = jobs
    _, notes = _notes(out, ids["idle"])
    assert notes["idle"]["severity"] == "warn"
    assert "first 1m" in notes["idle"]["message"]


def test_text_report_names_the_options(jobs):
    out, ids = jobs
    r = _advise(out, ids["serial"])
    assert r.returncode == 0, r.stderr
    assert "--cpus-per-task=1" in r.stdout and "next time: sbatch" in r.stdout
    r = _advise(out, "999999")
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and "job 999999" in r.stderr


# ---------------------------------------------------------------- the epilog

EPILOG_CONF = Path("/etc/paratune/epilog.conf")


@pytest.fixture
def epilog(slurm, tmp_path):
    """The repository's epilog as slurmd's Epilog, writing to this test's files."""
    conf = Path("/etc/slurm/slurm.conf")
    text = conf.read_text()
    script = ROOT / "packaging" / "paratune-epilog"
    runner = tmp_path / "paratune"
    runner.write_text(f"#!/bin/sh\nexec {sys.executable} -m paratune.cli \"$@\"\n")
    runner.chmod(0o755)
    traces = tmp_path / "traces"
    log = tmp_path / "epilog.log"
    saved = EPILOG_CONF.read_bytes() if EPILOG_CONF.exists() else None
    EPILOG_CONF.parent.mkdir(parents=True, exist_ok=True)

    def configure(paratune: Path, limit: int = 30):
        EPILOG_CONF.write_text(f"PARATUNE={paratune}\nTRACES={traces}\nLIMIT={limit}\nLOG={log}\n")

    configure(runner)
    lines = [x for x in text.splitlines() if not x.startswith("Epilog=")] + [f"Epilog={script}"]
    conf.write_text("\n".join(lines) + "\n")
    subprocess.run(["scontrol", "reconfigure"], check=True, timeout=30)
    rec = subprocess.Popen([sys.executable, "-m", "paratune.cli", "record", "--output", str(traces),
                            "--interval", "1", "--flush", "2"], cwd=ROOT, stderr=subprocess.PIPE)
    time.sleep(2)
    try:
        yield tmp_path, log, configure
    finally:
        rec.terminate()
        rec.wait(timeout=60)
        conf.write_text(text)
        subprocess.run(["scontrol", "reconfigure"], timeout=30)
        if saved is None:
            EPILOG_CONF.unlink(missing_ok=True)
        else:
            EPILOG_CONF.write_bytes(saved)


def _wait_for(check, timeout=90):
    end = time.time() + timeout
    while time.time() < end:
        got = check()
        if got:
            return got
        time.sleep(1)
    return None


def _accounting() -> bool:
    """slurmdbd answers: AdminComment can be stored for a finished job."""
    r = subprocess.run(["sacctmgr", "-n", "show", "cluster"], capture_output=True, text=True, timeout=30)
    return r.returncode == 0 and "supported" not in r.stderr


def test_epilog_leaves_advice_beside_the_output_and_in_admincomment(epilog):
    tmp, log, _ = epilog
    job = sbatch("-c", "2", wrap=BUSY.format(s=12), output=str(tmp / "slurm-%j.out"))
    wait_done(job)
    report = tmp / f"paratune-{job}.txt"
    assert _wait_for(report.exists), log.read_text() if log.exists() else "no epilog log"
    assert "--cpus-per-task=1" in report.read_text()
    done = _wait_for(lambda: f"job {job}: paratune: serial" in log.read_text())
    assert done, log.read_text()
    if _accounting():
        r = subprocess.run(["sacct", "-n", "-X", "-j", job, "-o", "AdminComment%200"], capture_output=True,
                           text=True, timeout=30)
        assert r.stdout.strip().startswith("paratune: serial"), r.stdout
    else:       # no slurmdbd here: the epilog says why, once, and the job is not held up by it
        assert f"job {job}: AdminComment not stored:" in log.read_text()
        assert show_job(job).get("JobState") == "COMPLETED"


def test_a_failing_or_hanging_advise_never_fails_the_job(epilog, tmp_path):
    tmp, log, configure = epilog
    configure(Path("/bin/false"))
    job = sbatch(wrap="true", output=str(tmp / "slurm-%j.out"))
    wait_done(job)
    assert show_job(job).get("JobState") == "COMPLETED"
    assert _wait_for(lambda: log.exists() and f"job {job}: paratune advise failed" in log.read_text())
    hang = tmp_path / "hang"
    hang.write_text("#!/bin/sh\nexec sleep 600\n")
    hang.chmod(0o755)
    configure(hang, limit=10)            # the epilog gives up after 10 s, the job still completes
    started = time.time()
    job = sbatch(wrap="true", output=str(tmp / "slurm-%j.out"))
    wait_done(job, timeout=120)
    assert time.time() - started < 60
    assert show_job(job).get("JobState") == "COMPLETED"
    assert _wait_for(lambda: f"job {job}: paratune advise failed" in log.read_text(), timeout=120), log.read_text()


def test_jobs_table_shows_efficiencies(jobs):
    out, ids = jobs
    r = subprocess.run([sys.executable, "-m", "paratune.cli", "jobs", str(out), "--json"], capture_output=True,
                       text=True, cwd=ROOT, timeout=180)
    assert r.returncode == 0, r.stderr
    rows = {row["job"]: row for row in json.loads(r.stdout)}
    # one busy core of two: at most a half (start-up and a loaded machine take some of it)
    assert 0.2 <= rows[ids["serial"]]["cpu_eff"] <= 0.6
    assert rows[ids["memory"]]["mem_eff"] < 0.05                    # ~300 MiB of 16 GiB
    assert rows[ids["time"]]["time_eff"] < 0.05                     # a minute of an hour
    assert 0.5 <= rows[ids["memory"]]["cpu_eff"] <= 1.1            # one busy core of one
