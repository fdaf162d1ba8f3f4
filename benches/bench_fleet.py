"""Throughput of `paratune analyze DIR` over a fleet of node-days.

    .venv/bin/python -m pytest benches/bench_fleet.py --benchmark-enable --benchmark-only -q

N node-days (PARATUNE_BENCH_NODE_DAYS, default 8) in the recorder's layout
(24 finished hourly files per host, built from the real recordings in
sample_traces/ by long_trace.py for one host and copied to the others by
clone_fleet.py), analysed by the whole command -- new
interpreter, planning, every unit, the fleet summary as JSON -- with 1 and 2
local workers and on a Dask LocalCluster of 2 worker processes, side by side.
Each result carries node-days per second, the projected time for 1000
node-days at that rate, the peak RSS of the command's own process
(``peak_rss_mb``: with one worker, the one doing the work) and of its largest
local worker (``worker_peak_rss_mb``), and how many cores were busy meanwhile (from
/proc/stat, machine-wide).  The command's peak is ``wait4``'s (from a small
process that forks it: Linux carries a peak across ``exec``); its local
workers are children of multiprocessing's fork server, which the command
does not wait for, so they are not in it, and their peaks are their VmHWM
read while they run.  Dask's workers are not the command's at all.
PARATUNE_BENCH_COMPRESSION=lz4 builds the files as a recorder set to lz4
writes them (default zstd, the recorder's default), to compare the codecs.
A worker's memory is independent of N if its peak does not grow with
PARATUNE_BENCH_NODE_DAYS (run with 4 and 16 to see); the command's holds the
summary tables, which grow with N.  Every run but the
cached one passes --no-cache; test_fleet_from_the_cache times the run after
one that filled a fresh cache (every node-day finished, unchanged): what a
nightly re-analysis of a cluster's history costs.  test_fleet_history_window
times a one-hour --from/--to over a history of PARATUNE_BENCH_HISTORY_DAYS
days of 4 hosts (default 8) against the whole history: the window is cut
from the file names before anything is read.
"""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from analyzer.heap import MMAP_THRESHOLD_MAX

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clone_fleet import clone  # noqa: E402
from long_trace import _day, build_node_day, shifted  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NODE_DAYS = int(os.environ.get("PARATUNE_BENCH_NODE_DAYS", "8"))
COMPRESSION = os.environ.get("PARATUNE_BENCH_COMPRESSION", "zstd")
HISTORY_DAYS = int(os.environ.get("PARATUNE_BENCH_HISTORY_DAYS", "8"))
HISTORY_HOSTS = 4
MMAP_ENV = "MALLOC_MMAP_THRESHOLD_"
pytestmark = pytest.mark.skipif(not list((ROOT / "sample_traces").glob("*.arrow")),
                                reason="needs the recordings in sample_traces/")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    return _hosts(tmp_path_factory, [_day(86_400)], NODE_DAYS)


def _hosts(tmp_path_factory, days, hosts: int) -> Path:
    """``hosts`` hosts that recorded ``days``: built once (the recorder's
    zstd, ~2.5 s a node-day), copied under the other names."""
    one, root = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("fleet")
    for day in days:
        build_node_day(one, host="node0000", day=day, compression=COMPRESSION)
    clone(one, root, hosts)
    return root


def _busy_jiffies() -> int:
    """CPU time of the whole machine so far, idle and iowait left out."""
    with open("/proc/stat") as fh:
        v = list(map(int, fh.readline().split()[1:]))
    return sum(v) - v[3] - v[4]


BUSY: list[float] = []
"""Cores kept busy by each run of ``_analyze`` (machine-wide: run nothing else)."""


def _watch_workers(pid: int, stop: threading.Event, peaks: dict[int, int]) -> None:
    """VmHWM (KiB) of the local workers of the command ``pid``, read every
    0.5 s (seldom enough to cost nothing; a worker's memory levels off within
    its first node-day) until ``stop`` is set.

    The workers are the children of the fork server, a child of the command
    (as is multiprocessing's resource tracker), a child of ``pid`` (``_MAXRSS``)."""
    while not stop.wait(0.5):
        try:
            workers = [w.pid for cmd in psutil.Process(pid).children() for c in cmd.children()
                       for w in c.children()]
        except psutil.Error:
            return
        for w in workers:
            try:
                with open(f"/proc/{w}/status") as fh:
                    hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
            except (OSError, StopIteration):
                continue
            peaks[w] = max(peaks.get(w, 0), hwm)


def _analyze(root: Path, *args: str) -> tuple[int, int | None]:
    """Run the command; return the peak RSS (KiB) of its process and of its largest worker."""
    args = args if "--cache" in args else (*args, "--no-cache")
    busy, t0 = _busy_jiffies(), time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", _MAXRSS, sys.executable, "-m", "paratune.cli", "analyze",
                          str(root), "--json", *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    stop, workers = threading.Event(), {}
    watch = threading.Thread(target=_watch_workers, args=(p.pid, stop, workers), daemon=True)
    watch.start()
    err = p.stderr.read().decode()
    stop.set()
    watch.join()
    p.wait()
    BUSY.append((_busy_jiffies() - busy) / os.sysconf("SC_CLK_TCK") / (time.perf_counter() - t0))
    p.stderr.close()
    assert p.returncode == 0, err
    own = int(err.rsplit("maxrss_kib=", 1)[1])
    return own, max(workers.values()) if workers else None


_MAXRSS = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"maxrss_kib={usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""
"""Runs the command and prints its peak RSS: the command must be forked from
a small process, since Linux carries a process's peak across ``exec`` and a
child of this benchmark would start from the benchmark's own (~390 MB)."""


def _record(benchmark, peaks, node_days=NODE_DAYS):
    median = benchmark.stats.stats.median
    rounds = BUSY[-len(benchmark.stats.stats.data):]
    benchmark.extra_info.update(node_days=node_days, node_days_per_s=round(node_days / median, 3),
                                compression=COMPRESSION, cores_busy=round(sorted(rounds)[len(rounds) // 2], 2),
                                projected_1000_node_days_s=round(1000 * median / node_days, 1),
                                peak_rss_mb=_largest([p for p, _ in peaks]),
                                worker_peak_rss_mb=_largest([w for _, w in peaks if w is not None]))


def _largest(kib: list[int]) -> float | None:
    return round(max(kib) / 1024, 1) if kib else None


@pytest.mark.parametrize("workers", [1, 2])
def test_fleet_local_workers(benchmark, fleet, workers):
    _analyze(fleet, "--workers", str(workers))          # numba cache warm
    peaks = []
    benchmark.pedantic(lambda: peaks.append(_analyze(fleet, "--workers", str(workers))),
                       rounds=3, warmup_rounds=0)
    _record(benchmark, peaks)


def test_fleet_from_the_cache(benchmark, fleet, tmp_path):
    cache = str(tmp_path / "cache")
    _analyze(fleet, "--workers", "2", "--cache", cache)      # fills it
    peaks = []
    benchmark.pedantic(lambda: peaks.append(_analyze(fleet, "--workers", "2", "--cache", cache)),
                       rounds=3, warmup_rounds=0)
    _record(benchmark, peaks)


@pytest.mark.parametrize("heap", ["dask's", "kept"])
def test_fleet_dask_local_cluster(benchmark, fleet, heap):
    """``kept``: the workers start with MALLOC_MMAP_THRESHOLD_ raised, as
    docs/fleet.md advises for workers that only run paratune (what local
    workers do with ``analyzer.heap``); ``dask's``: as Dask starts them."""
    distributed = pytest.importorskip("distributed")
    saved = os.environ.pop(MMAP_ENV, None)
    if heap == "kept":
        os.environ[MMAP_ENV] = str(MMAP_THRESHOLD_MAX)      # the workers inherit it when they start
    try:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
    finally:
        if saved is None:
            os.environ.pop(MMAP_ENV, None)
        else:
            os.environ[MMAP_ENV] = saved
    with cluster:
        address = cluster.scheduler_address
        _analyze(fleet, "--scheduler", address)       # workers import and load the numba cache
        time.sleep(1)
        benchmark.pedantic(lambda: _analyze(fleet, "--scheduler", address), rounds=3, warmup_rounds=0)
    _record(benchmark, [])


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    day = _day(86_400)
    root = _hosts(tmp_path_factory, [shifted(day, d * 86_400) for d in range(HISTORY_DAYS)], HISTORY_HOSTS)
    return root, day.column("ts")[0].value / 1e6


@pytest.mark.parametrize("window", ["whole history", "one hour"])
def test_fleet_history_window(benchmark, history, window):
    root, first = history
    middle = first + HISTORY_DAYS // 2 * 86_400
    args = ("--from", str(middle), "--to", str(middle + 3600)) if window == "one hour" else ()
    _analyze(root, "--workers", "2", *args)
    peaks = []
    benchmark.pedantic(lambda: peaks.append(_analyze(root, "--workers", "2", *args)), rounds=3, warmup_rounds=0)
    _record(benchmark, peaks, HISTORY_DAYS * HISTORY_HOSTS)
    benchmark.extra_info["window"] = window
