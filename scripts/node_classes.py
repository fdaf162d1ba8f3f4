"""Emulated node classes on this machine, and real runs measured on each (issue #15).

    .venv/bin/python scripts/node_classes.py --catalog           # probe the machine, write scripts/node_classes.toml
    .venv/bin/python scripts/node_classes.py --measure           # every workload on every class -> corpus/classes/
    .venv/bin/python scripts/node_classes.py --measure --only lammps
    .venv/bin/python scripts/node_classes.py --check             # ratios to `full` from corpus/classes/measured.json

A node class is a set of cgroup v1 groups (cpu, cpuacct, cpuset, memory,
blkio), made fresh for each run and removed after it.  A run is a shell put
into the groups that then execs the workload, so everything the workload
starts is inside.  Each workload (a fixed input, the same on every class)
runs 3 times on each class, the classes interleaved, after waiting (at most
WAIT_S) for the 1-minute load to drop below QUIET_LOAD: other work on this
2-core machine would otherwise be measured too.  On `full` it also runs once
more under ``paratune record`` (not one of the 3 timed runs): the reference
trace the class model predicts from, corpus/classes/WORKLOAD.arrow.

`half-clock` is not a plain CFS quota on the group: a group quota of one
core's time (100000/100000) is shared by the group's threads, so one busy
thread would still run at full speed.  Each thread of the workload is moved
(within ~10 ms of its start) into a child group of its own with half a
core (THREAD_QUOTA), under the group's quota of one core: one thread runs at
half speed and two ranks at half speed each, as on a half-clock node.

Needs root, cgroup v1 controllers under /sys/fs/cgroup, and the Debian
packages lammps, gromacs, hpcc, fio and openmpi-bin.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workloads as W  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "corpus" / "classes"
CATALOG = ROOT / "scripts" / "node_classes.toml"
PARATUNE = [str(ROOT / ".venv" / "bin" / "paratune")]

CGROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "blkio")
REPEATS = 3
DISTURBED = 0.1                  # other work's CPU seconds per wall second above which a run is redone
RETRIES = 2                      # a disturbed run is redone at most this often (the cleanest is kept)
QUIET_LOAD = 0.7
WAIT_S = 120
QUIET_S = 3                      # recorder alone before and after the recorded run
TIMEOUT_S = 900                  # a run still going then is killed: it did not fit
HALF_CORE = (50000, 100000)      # half-clock: cfs quota per busy thread, period (us)
PACE_TICK_S = 0.05               # half-clock: how often the group's threads' states are read
PACE_S = 0.5                     # half-clock: the quota follows the mean busy threads over this window
MIB = 1 << 20
THREADS_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "GMX_MAXBACKUP": "-1"}
"""Every workload: one thread per rank whatever cpuset it sees (so the work is
the same on every class), and GROMACS overwrites its outputs."""


# ---------------------------------------------------------------- the machine

def root_disk(path: Path) -> str:
    """major:minor of the whole disk holding ``path`` (blkio throttles whole disks)."""
    dev = os.stat(path).st_dev
    node = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}").resolve()
    if (node / "partition").exists():
        node = node.parent
    return (node / "dev").read_text().strip()


def clock_ghz() -> float:
    """The cores' clock: cpufreq's maximum when there is one, else /proc/cpuinfo's MHz."""
    cpufreq = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if cpufreq.exists():
        return round(int(cpufreq.read_text()) / 1e6, 2)
    mhz = [float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
           if line.startswith("cpu MHz")]
    return round(max(mhz) / 1e3, 2)


def disk_mbps(directory: Path, repeats: int = 3) -> float:
    """Sequential direct write, 1 MiB blocks, 1536 MiB: fio's MB/s (10^6), median of ``repeats``."""
    rates = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="pt-nc-disk-", dir=directory) as d:
            out = subprocess.run(["fio", "--name=probe", f"--directory={d}", "--rw=write", "--bs=1m",
                                  "--size=1536m", "--ioengine=libaio", "--direct=1", "--iodepth=16",
                                  "--output-format=json"], check=True, capture_output=True, text=True).stdout
        rates.append(json.loads(out)["jobs"][0]["write"]["bw_bytes"] / 1e6)
    return round(statistics.median(rates))


def _version(package: str) -> str | None:
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    return r.stdout or None


def machine(scratch: Path) -> dict:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name"))
    return {"cpu": model, "cores": os.cpu_count(), "clock_ghz": clock_ghz(),
            "mem_gib": round(int(meminfo["MemTotal"].split()[0]) / (1 << 20), 2),
            "swap_gib": round(int(meminfo["SwapTotal"].split()[0]) / (1 << 20), 2),
            "disk": root_disk(scratch), "disk_mbps": disk_mbps(scratch), "kernel": platform.release(),
            "packages": {p: _version(p) for p in ("lammps", "gromacs", "hpcc", "fio", "openmpi-bin")},
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


# ---------------------------------------------------------------- the classes

@dataclass(frozen=True)
class NodeClass:
    name: str
    how: str                           # how it is made here (docs)
    price: float                       # made up for the experiment
    cpus: str | None = None            # cpuset.cpus
    half_core: tuple[int, int] | None = None   # cfs quota per busy thread, period (us)
    bps: int | None = None             # blkio read and write bytes/s on the root disk
    mem_bytes: int | None = None       # memory and memory+swap limit

    def catalog(self, m: dict) -> dict:
        """The catalog entry: what this class differs in from the node a run was
        recorded on (`full` lists the machine's own values)."""
        e = {"name": self.name, "cores": m["cores"], "mem_gib": m["mem_gib"]}
        if self.name == "full":
            e |= {"clock_ghz": m["clock_ghz"], "disk_mbps": m["disk_mbps"]}
        if self.cpus is not None:
            e["cores"] = len(_cpu_list(self.cpus))
        if self.half_core is not None:
            e["clock_ghz"] = round(m["clock_ghz"] * self.half_core[0] / self.half_core[1], 2)
        if self.bps is not None:
            e["disk_mbps"] = self.bps // 1_000_000
        if self.mem_bytes is not None:
            e["mem_gib"] = self.mem_bytes / (1 << 30)
        return e | {"price_per_hour": self.price}


CLASSES = (
    NodeClass("full", "both cores, no limit (the runs are recorded here)", 1.00),
    NodeClass("one-core", "cpuset.cpus = 0", 0.55, cpus="0"),
    NodeClass("half-clock", "cpu.cfs_period_us 100000 and cpu.cfs_quota_us 50000 per busy thread (at most "
              "2): 100000 for two ranks, 50000 for one thread; re-set every 0.1 s from the threads' CPU time",
              0.60, half_core=HALF_CORE),
    NodeClass("slow-disk", "blkio.throttle.read_bps_device and write_bps_device 20000000 on the root disk",
              0.85, bps=20_000_000),
    NodeClass("small-mem", "memory.limit_in_bytes and memory.memsw.limit_in_bytes 512 MiB", 0.70,
              mem_bytes=512 * MIB),
)
BY_NAME = {c.name: c for c in CLASSES}


def _cpu_list(text: str) -> list[int]:
    cpus = []
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        cpus += range(int(lo), int(hi or lo) + 1)
    return cpus


def write_catalog(m: dict, path: Path = CATALOG) -> None:
    lines = ["# Node classes emulated on one 2-core VM by scripts/node_classes.py (cgroup v1), and the",
             "# catalog the class model of analyzer/node_classes.py reads: one [[node_class]] each.",
             "# Required: name, cores, mem_gib.  Optional: clock_ghz, mem_bw_gbs, disk_mbps (MB/s, 10^6),",
             "# net_gbps, gpus, price_per_hour; a missing optional key means `like the node the run was",
             "# recorded on`.  `full` is that node, with its measured values: clock from /proc/cpuinfo,",
             f"# disk_mbps from fio sequential direct writes of 1536 MiB (median of 3), on {m['date'][:10]}.",
             "# The prices are made up for the experiment: roughly proportional to what each class keeps.",
             "# How each class is made: the `how` of each class in corpus/classes/measured.json."]
    for c in CLASSES:
        lines += ["", "[[node_class]]"]
        for k, v in c.catalog(m).items():
            lines.append(f"{k} = {json.dumps(v)}")
    path.write_text("\n".join(lines) + "\n")
    tomllib.loads(path.read_text())      # it must read back


# ---------------------------------------------------------------- cgroups

def _write(path: Path, value) -> None:
    with open(path, "w") as fh:
        fh.write(str(value))


def _pids(path: Path) -> list[int]:
    try:
        return [int(x) for x in path.read_text().split()]
    except FileNotFoundError:
        return []


class Group:
    """A class's cgroup v1 groups, one per controller, for one run; removed on exit
    (whatever is still in them is killed first)."""

    def __init__(self, nc: NodeClass, disk: str):
        self.nc, self.disk = nc, disk
        self.dirs = {c: CGROOT / c / f"paratune-nc-{nc.name}-{os.getpid()}" for c in CONTROLLERS}
        self.ncpus = len(_cpu_list(nc.cpus or (CGROOT / "cpuset" / "cpuset.cpus").read_text()))
        self.busy_max = 0
        self._stop = threading.Event()
        self._pacer: threading.Thread | None = None

    def __enter__(self) -> Group:
        try:
            for c, d in self.dirs.items():
                d.mkdir()
            cs = self.dirs["cpuset"]
            _write(cs / "cpuset.cpus", self.nc.cpus or (CGROOT / "cpuset" / "cpuset.cpus").read_text().strip())
            _write(cs / "cpuset.mems", (CGROOT / "cpuset" / "cpuset.mems").read_text().strip())
            if self.nc.half_core:
                _write(self.dirs["cpu"] / "cpu.cfs_period_us", self.nc.half_core[1])
                _write(self.dirs["cpu"] / "cpu.cfs_quota_us", self.nc.half_core[0])
                self._pacer = threading.Thread(target=self._pace, daemon=True)
                self._pacer.start()
            if self.nc.bps:
                for f in ("blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"):
                    _write(self.dirs["blkio"] / f, f"{self.disk} {self.nc.bps}")
            if self.nc.mem_bytes:
                _write(self.dirs["memory"] / "memory.limit_in_bytes", self.nc.mem_bytes)
                memsw = self.dirs["memory"] / "memory.memsw.limit_in_bytes"
                if memsw.exists():
                    _write(memsw, self.nc.mem_bytes)
        except BaseException:
            self.__exit__()
            raise
        return self

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    # half-clock: the group's quota follows the number of busy threads
    def _pace(self) -> None:
        """Keep the group's quota at HALF_CORE per busy thread (one at least, the
        cores at most).  A busy thread is one that wants a CPU: over the last
        PACE_S, the mean number of the group's threads in state R (running, or
        runnable and throttled).  The threads share the one quota and are
        throttled together, so MPI ranks stay in step, and each gets half a core."""
        cpu, (half, period) = self.dirs["cpu"], self.nc.half_core
        window = deque(maxlen=round(PACE_S / PACE_TICK_S))
        quota = half
        while not self._stop.wait(PACE_TICK_S):
            running = 0
            for tid in _pids(cpu / "tasks"):
                try:
                    running += Path(f"/proc/{tid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "R"
                except (OSError, IndexError):
                    pass
            window.append(running)
            busy = round(sum(window) / len(window))
            want = min(max(busy, 1), self.ncpus) * half
            if want != quota:
                _write(cpu / "cpu.cfs_quota_us", want)
                quota = want
            self.busy_max = max(self.busy_max, busy)

    def usage(self) -> dict:
        """What the run used: CPU seconds, peak memory, OOM kills, bytes on the root disk."""
        mem = self.dirs["memory"]
        oom = dict(line.split() for line in (mem / "memory.oom_control").read_text().splitlines())
        io = {}
        for line in (self.dirs["blkio"] / "blkio.throttle.io_service_bytes").read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == self.disk:
                io[parts[1]] = int(parts[2])
        return {"cpu_s": round(int((self.dirs["cpuacct"] / "cpuacct.usage").read_text()) / 1e9, 1),
                "peak_mem_mib": round(int((mem / "memory.max_usage_in_bytes").read_text()) / MIB),
                "oom_kills": int(oom.get("oom_kill", 0)),
                "disk_read_mb": round(io.get("Read", 0) / 1e6), "disk_write_mb": round(io.get("Write", 0) / 1e6)}

    def members(self) -> set[int]:
        pids = set()
        for d in self.dirs.values():
            pids.update(_pids(d / "cgroup.procs"))
        return pids

    def kill(self) -> None:
        deadline = time.monotonic() + 30
        while (pids := self.members()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    @staticmethod
    def _rmdir(d: Path) -> bool:
        for _ in range(50):
            try:
                d.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError:        # EBUSY for a moment after the last task left
                time.sleep(0.1)
        return False

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._pacer is not None:
            self._pacer.join()
        self.kill()
        left = [d for d in self.dirs.values() if not self._rmdir(d)]
        if left:
            print(f"  warning: could not remove {', '.join(map(str, left))}", file=sys.stderr)


# ---------------------------------------------------------------- the workloads

PY_JOB = """\
# Single-threaded Python: a 280 MB numpy table, and interpreter work beside it.
import numpy as np
table = np.arange(35_000_000, dtype=np.float64)      # every page written: resident
check = 0.0
for r in range({rounds}):
    counts = {{}}
    for i in range(r, r + 400_000):                    # dict and integer work in the interpreter
        k = (i * 2654435761) % 1009
        counts[k] = counts.get(k, 0) + 1
    table[r % 1009::1009] *= 1.000001                  # a strided pass over the table
    check += float(table[::100_003].sum()) + max(counts.values())
print(check)
"""

MEM_JOB = """\
# numpy holding 1 GiB: one float64 block, every page written, updated in place.
import numpy as np
block = np.ones(1 << 27)
for _ in range({passes}):
    block *= 1.0000001
    block += 0.5
print(float(block[::4096].sum()))
"""


def _py(d: Path, name: str, text: str) -> list[str]:
    (d / name).write_text(text)
    return [sys.executable, name]


FIO = ["fio", "--directory=.", "--filename=fio.dat", "--ioengine=libaio", "--direct=1", "--bs=1m",
       "--iodepth=16", "--size=1536m", "--output=/dev/null", "--name=write", "--rw=write",
       "--name=read", "--rw=read", "--stonewall"]


@dataclass(frozen=True)
class Workload:
    name: str
    what: str
    setup: object                      # (scratch) -> argv, relative to the run's directory
    expect: dict = field(default_factory=dict)   # class -> expected runtime ratio to full, or None: must not fit


WORKLOADS = {w.name: w for w in (
    Workload("lammps", "LAMMPS, examples/melt (3-d Lennard-Jones melt) at 20x20x20 fcc cells (32k atoms), "
             "3500 steps, 2 MPI ranks", lambda d: W.setup_lammps(d, 3500),
             {"one-core": 2.0, "half-clock": 2.0, "slow-disk": 1.0, "small-mem": 1.0}),
    Workload("gromacs", "GROMACS mdrun, SPC/E water box 4 nm (~6.5k atoms), PME, 8000 steps, 2 MPI ranks",
             lambda d: W.setup_gromacs(d, 8000),
             {"one-core": 2.0, "half-clock": 2.0, "slow-disk": 1.0, "small-mem": 1.0}),
    Workload("hpcc", "HPC Challenge, HPL N=5000, 1x2 process grid, 2 MPI ranks", lambda d: W.setup_hpcc(d, 5000),
             {"one-core": 2.0, "half-clock": 2.0, "slow-disk": 1.0}),
    Workload("fio", "fio sequential direct write then read of one 1536 MiB file, 1 MiB blocks, libaio, "
             "iodepth 16", lambda d: list(FIO),
             {"one-core": 1.0, "half-clock": 1.0, "small-mem": 1.0}),   # slow-disk: from the bytes
    Workload("python", "single-threaded Python: a 280 MB numpy table and 270 rounds of dict work "
             "(RSS ~300 MB)", lambda d: _py(d, "pyjob.py", PY_JOB.format(rounds=270)),
             {"one-core": 1.0, "half-clock": 2.0, "slow-disk": 1.0, "small-mem": 1.0}),
    Workload("memhog", "numpy holding 1 GiB (one float64 block updated in place, 140 passes), "
             "single-threaded", lambda d: _py(d, "memjob.py", MEM_JOB.format(passes=140)),
             {"one-core": 1.0, "half-clock": 2.0, "slow-disk": 1.0, "small-mem": None}),
)}
SLOW_DISK_BYTES = 2 * 1536 * MIB       # fio's expected time on slow-disk: these bytes at the class's rate

ENTER = 'for f in $PT_NC_PROCS; do echo $$ > "$f" || exit 125; done; exec "$@"'
"""The shell that joins the class's groups, then becomes the workload."""


# ---------------------------------------------------------------- running

def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def others_s(also_ours: int | None = None) -> float:
    """CPU seconds the whole machine has spent in user, nice and system mode, less
    this process's own (the half-clock pacer) and ``also_ours``'s (the recorder):
    with the run's groups' CPU time taken off, what other work did meanwhile."""
    tck = os.sysconf("SC_CLK_TCK")
    f = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    ours = time.process_time()
    if also_ours is not None:
        p = Path(f"/proc/{also_ours}/stat").read_text().rsplit(")", 1)[1].split()
        ours += (int(p[11]) + int(p[12])) / tck
    return (int(f[1]) + int(f[2]) + int(f[3])) / tck - ours


def wait_quiet() -> float:
    """Wait (at most WAIT_S) for the 1-minute load to drop below QUIET_LOAD."""
    deadline = time.monotonic() + WAIT_S
    while load1() >= QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(2)
    return load1()


def run_once(nc: NodeClass, argv: list[str], inputs: Path, disk: str, recorder: int | None = None) -> dict:
    """One run of ``argv`` in a fresh copy of ``inputs`` inside the class: wall time,
    exit status, loads, what the groups counted and what other work used meanwhile
    (``recorder``: the pid of a recorder, not counted as other work)."""
    with tempfile.TemporaryDirectory(prefix="pt-nc-run-", dir=inputs.parent) as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(inputs, work)
        with Group(nc, disk) as g, open(work / "stderr.txt", "wb") as err:
            env = os.environ | THREADS_ENV | {"PT_NC_PROCS": " ".join(g.procs_files())}
            load0, busy0 = load1(), others_s(recorder)
            t0 = time.monotonic()
            p = subprocess.Popen(["sh", "-c", ENTER, "sh", *argv], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
            try:
                rc = p.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                g.kill()
                p.wait()
                rc = "timeout"
            wall = time.monotonic() - t0
            load_end, busy1 = load1(), others_s(recorder)
            if rc == 125:
                raise RuntimeError(f"{nc.name}: the shell could not join the groups")
            g.kill()
            used = g.usage()
            if nc.half_core:
                used["busy_threads_max"] = g.busy_max
        out = {"at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - wall)),
               "runtime_s": round(wall, 2), "exit": rc, "load": [load0, load_end]} | used
        out["others_cpu_s"] = round(max(0.0, busy1 - busy0 - used["cpu_s"]), 1)
        if rc != 0 or used["oom_kills"]:
            tail = (work / "stderr.txt").read_bytes()[-600:].decode(errors="replace").strip()
            out["stderr_tail"] = tail
        return out


def record_run(nc: NodeClass, argv: list[str], inputs: Path, disk: str, trace: Path) -> dict:
    """run_once under ``paratune record`` (1 s), with QUIET_S alone before and after;
    the trace goes to ``trace``."""
    with tempfile.TemporaryDirectory(prefix="pt-nc-trace-") as tmp:
        rec = subprocess.Popen(PARATUNE + ["record", "--output", tmp, "--interval", "1", "--flush", "5",
                                           "--rotate", "86400"], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            time.sleep(QUIET_S)
            run = run_once(nc, argv, inputs, disk, recorder=rec.pid)
            time.sleep(QUIET_S)
        finally:
            rec.send_signal(signal.SIGTERM)
            try:
                rec.wait(timeout=60)
            except subprocess.TimeoutExpired:
                rec.kill()
                rec.wait()
        files = sorted(Path(tmp).rglob("*.arrow"))
        if len(files) != 1:
            raise RuntimeError(f"expected one trace file, found {files}")
        shutil.copyfile(files[0], trace)
        os.chmod(trace, 0o644)
    return run


def measure(w: Workload, results: dict, save, disk: str, resume: bool = False) -> None:
    """The reference trace on `full`, then REPEATS rounds over every class.
    ``resume``: keep what an earlier measurement of the same command left, and
    make only the runs it lacks."""
    with tempfile.TemporaryDirectory(prefix=f"pt-nc-{w.name}-") as tmp:
        inputs = Path(tmp) / "inputs"
        inputs.mkdir()
        argv = w.setup(inputs)
        trace = OUT / f"{w.name}.arrow"
        entry = results["workloads"].get(w.name)
        if not (resume and entry and entry["command"] == argv and trace.exists()):
            entry = results["workloads"][w.name] = {
                "what": w.what, "trace": str(trace.relative_to(ROOT)), "command": argv,
                "cwd": "a fresh copy of the inputs the setup wrote", "env": THREADS_ENV,
                "classes": {c.name: {"runtimes_s": [], "fits": None, "exit": [], "load": [], "runs": [],
                                     "disturbed_runs": []} for c in CLASSES}}
        while "trace_run" not in entry:     # the recorder sees the whole node: other work would be in the trace
            for _ in range(1 + RETRIES):
                wait_quiet()
                run = record_run(BY_NAME["full"], argv, inputs, disk, trace)
                _say(f"{w.name} recorded on full: {_brief(run)}, trace {trace.stat().st_size // 1024} KB")
                if not _disturbed(run):
                    break
            entry["trace_run"] = run
            save()
        for k in range(REPEATS):
            for c in CLASSES:
                if len(entry["classes"][c.name]["runs"]) > k:
                    continue
                tries = []
                for _ in range(1 + RETRIES):
                    wait_quiet()
                    tries.append(run_once(c, argv, inputs, disk))
                    _say(f"{w.name} {c.name} #{k + 1}: {_brief(tries[-1])}")
                    if not _disturbed(tries[-1]):
                        break
                run = min(tries, key=lambda r: r["others_cpu_s"] / r["runtime_s"])
                e = entry["classes"][c.name]
                e["disturbed_runs"] += [r for r in tries if r is not run]
                e["runtimes_s"].append(run["runtime_s"])
                e["exit"].append(run["exit"])
                e["load"].append(run["load"])
                e["runs"].append(run)
                e["fits"] = all(r["exit"] == 0 and not r["oom_kills"] for r in e["runs"])
                save()


def _disturbed(run: dict) -> bool:
    return run["others_cpu_s"] > DISTURBED * run["runtime_s"]


def _brief(run: dict) -> str:
    s = f"{run['runtime_s']} s exit {run['exit']} cpu {run['cpu_s']} s peak {run['peak_mem_mib']} MiB"
    s += f" load {run['load'][0]:.2f}->{run['load'][1]:.2f} others {run['others_cpu_s']} cpu-s"
    return s + (f" OOM x{run['oom_kills']}" if run["oom_kills"] else "") + (" DISTURBED" if _disturbed(run) else "")


def _say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


# ---------------------------------------------------------------- checking and reporting

def median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 1) if xs else None


def expected(w: Workload, c: str, results: dict) -> float | None | str:
    """The runtime ratio to full a class is meant to give (None: must not fit)."""
    if w.name == "fio" and c == "slow-disk":
        full = median(results["workloads"]["fio"]["classes"]["full"]["runtimes_s"])
        return round((SLOW_DISK_BYTES / BY_NAME[c].bps) / full, 1)
    return w.expect.get(c, "-")


def check(results: dict) -> list[str]:
    """Each class's median runtime against full's, beside what the class is meant to do."""
    rows = []
    for name, entry in results["workloads"].items():
        w = WORKLOADS[name]
        full = median(entry["classes"]["full"]["runtimes_s"])
        for c, e in entry["classes"].items():
            m = median(e["runtimes_s"])
            if m is None or full is None:
                continue
            want = expected(w, c, results)
            got = "did not fit" if not e["fits"] else f"{m / full:.2f}x"
            ok = (not e["fits"]) if want is None else (e["fits"] and (want == "-" or abs(m / full / want - 1) < 0.25))
            want_s = "must not fit" if want is None else ("1.00x (reference)" if c == "full" else
                                                            f"{want}x" if want != "-" else "-")
            rows.append(f"{name:8} {c:10} median {m:7.1f} s  {got:12} expected {want_s:18} "
                        f"{'ok' if ok or c == 'full' else 'OFF'}")
    return rows


# ---------------------------------------------------------------- main

def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalog", action="store_true", help="probe this machine and write scripts/node_classes.toml")
    ap.add_argument("--measure", action="store_true", help="run the workloads on every class (corpus/classes/)")
    ap.add_argument("--only", nargs="*", choices=sorted(WORKLOADS), help="with --measure: only these workloads")
    ap.add_argument("--resume", action="store_true",
                    help="with --measure: keep the runs measured.json has for the same command, make the rest")
    ap.add_argument("--check", action="store_true", help="ratios to full against the classes' intent")
    args = ap.parse_args()
    if not (args.catalog or args.measure or args.check):
        ap.error("nothing to do: give --catalog, --measure or --check")
    signal.signal(signal.SIGTERM, _interrupt)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "measured.json"
    results = json.loads(path.read_text()) if path.exists() else {"workloads": {}}
    scratch = Path(tempfile.gettempdir())
    if args.catalog:
        write_catalog(machine(scratch))
        print(CATALOG.read_text())
    if args.measure:
        disk = root_disk(scratch)
        results |= {"catalog": str(CATALOG.relative_to(ROOT)), "machine": machine(scratch),
                    "classes": {c.name: {"how": c.how} for c in CLASSES}}

        def save():
            order = {n: i for i, n in enumerate(WORKLOADS)}
            results["workloads"] = dict(sorted(results["workloads"].items(), key=lambda kv: order[kv[0]]))
            tmp = path.with_suffix(".part")
            tmp.write_text(json.dumps(results, indent=1) + "\n")
            tmp.replace(path)

        for name in args.only or WORKLOADS:
            measure(WORKLOADS[name], results, save, disk, resume=args.resume)
    if args.check or args.measure:
        print("\n".join(check(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
