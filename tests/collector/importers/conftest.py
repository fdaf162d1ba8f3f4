"""Real data from other collectors (../shared/data, see its README); tests skip when it is absent."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
TACC = DATA / "tacc_stats"
PCP = DATA / "pcp_supremm"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real collector data not found at {path} (see ../shared/data/README.md)")
    return path


def need_pcp_tool(name: str) -> str:
    """The path of PCP's ``name`` (pmdumplog, pmlogpaste); the test is skipped without it."""
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} (PCP) is not installed: apt install pcp")
    return exe


def need_pmdumplog() -> None:
    need_pcp_tool("pmdumplog")


def cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paratune.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.fixture(scope="session")
def tacc_out(tmp_path_factory) -> Path:
    """Every TACC Stats file imported once (with the accounting file) for the CLI tests."""
    out = tmp_path_factory.mktemp("tacc") / "traces"
    res = cli("import", "tacc-stats", need(TACC / "archive"), "--accounting", TACC / "tacc_jobs_completed",
              "--out", out)
    assert res.returncode == 0, res.stderr
    return out
