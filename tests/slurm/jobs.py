"""The real single-node Slurm for tests: start it, submit, wait."""
import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def slurm_ready() -> str | None:
    """None when Slurm answers (started by scripts/slurm-up.sh if need be), else why not."""
    if not shutil.which("sbatch"):
        return "Slurm is not installed (Debian: slurm-wlm slurm-client munge)"
    if os.geteuid() != 0:
        return "starting Slurm needs root"
    r = subprocess.run(["bash", str(ROOT / "scripts" / "slurm-up.sh")], capture_output=True, text=True,
                       timeout=90)
    return None if r.returncode == 0 else f"Slurm did not start: {r.stderr.strip()[-200:]}"


def sbatch(*options: str, wrap: str, output: str = "/dev/null") -> str:
    out = subprocess.run(["sbatch", "--parsable", "-o", output, *options, "--wrap", wrap],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    return out.strip().split(";")[0]


def wait_done(job: str, timeout: float = 300) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if not subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True).stdout.strip():
            return
        time.sleep(0.5)
    subprocess.run(["scancel", job])
    raise AssertionError(f"job {job} did not finish in {timeout:g} s")


def show_job(job: str) -> dict[str, str]:
    """scontrol show job -o as a dict (values with spaces are not split right; fine for the keys used)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True, timeout=30).stdout
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
