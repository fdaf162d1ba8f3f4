"""End-to-end `paratune analyze` of one node-day (86,400 samples at 1 Hz).

    .venv/bin/python -m pytest benches/bench_analyze.py --benchmark-enable --benchmark-only -q

Wall time of the whole command as a user runs it (a new interpreter, imports,
reading the trace, every kernel, JSON out), with the numba cache warm (target
<= 1.5 s) and cold (a fresh, empty NUMBA_CACHE_DIR: every kernel compiles).
The day is built from the real recordings in sample_traces/ (benches/long_trace.py)
in the recorder's layout: 24 finished hourly files, written as its finaliser does.
The periodic day is a real recording of a 20 s cycle (CPU load, then a direct-I/O
burst: corpus/cal2/cal2-periodic-2r-120s.arrow) laid end to end for a day and
written as one uncompressed file: thousands of phases and short-lived processes.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from long_trace import build_node_day  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PERIODIC = ROOT / "corpus" / "cal2" / "cal2-periodic-2r-120s.arrow"
pytestmark = pytest.mark.skipif(not list((ROOT / "sample_traces").glob("*.arrow")),
                                reason="needs the recordings in sample_traces/")


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    return build_node_day(tmp_path_factory.mktemp("day"), 86_400)


def _analyze(path, env=None):
    r = subprocess.run([sys.executable, "-m", "paratune.cli", "analyze", str(path), "--json"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stderr


def test_analyze_node_day_warm_cache(benchmark, day):
    _analyze(day)   # fills the numba cache if this checkout's is empty
    benchmark.pedantic(_analyze, args=(day,), rounds=5, warmup_rounds=1)


def test_analyze_node_day_cold_cache(benchmark, day, tmp_path):
    def cold():
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / f"cache-{os.urandom(4).hex()}"))
        _analyze(day, env)
    benchmark.pedantic(cold, rounds=2, warmup_rounds=0)


@pytest.fixture(scope="module")
def periodic_day(tmp_path_factory):
    if not PERIODIC.exists():
        pytest.skip(f"needs {PERIODIC} (scripts/record_corpus.py cal2)")
    from long_trace import _day, _write
    out = tmp_path_factory.mktemp("periodic") / "periodic-day.arrow"
    _write(out, _day(86_400, [PERIODIC]), compression="none")
    return out


def test_analyze_periodic_day_warm_cache(benchmark, periodic_day):
    _analyze(periodic_day)
    benchmark.pedantic(_analyze, args=(periodic_day,), rounds=5, warmup_rounds=1)
