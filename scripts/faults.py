"""Faults injected into running workloads, after HPAS's suite (peaclab/HPAS).

Each fault is a process (or a signal) started ``at`` seconds into a workload
and stopped after ``seconds``; ``EXPECTED`` is the anomaly kind paratune must
report for it.  HPAS's anomalies are reproduced with stress-ng's stressors or
a few lines of Python:

| fault          | HPAS          | what runs                                             |
|----------------|---------------|-------------------------------------------------------|
| cpuoccupy      | cpuoccupy     | stress-ng --cpu 1: a busy loop on one core             |
| cachecopy      | cachecopy     | stress-ng --cache 1: cache thrashing                   |
| membw          | membw         | stress-ng --stream 1: memory bandwidth                 |
| memeater       | memeater      | one process that takes all but ~1.5 GiB of free memory |
|                |               | (this VM fills ~0.4 GB/s: memory is short ~50 s later,  |
|                |               | so what is seen at once is fast, steady growth)        |
| memleak        | memleak       | one process that grows by ``mib`` MiB every second     |
| netoccupy      | netoccupy     | iperf3 -P 2 over a veth pair                           |
| iobandwidth    | iobandwidth   | fio sequential direct writes, 1 MiB blocks             |
| iometadata     | iometadata    | 4 processes: create, write 4 KiB, fsync, unlink, loop  |
| stall          | (none)        | SIGSTOP of every process of the workload               |
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import workloads as W

EXPECTED = {"cpuoccupy": "cpu_hog", "cachecopy": "cpu_hog", "membw": "cpu_hog",
            "memeater": "memory_leak", "memleak": "memory_leak", "netoccupy": "network_saturation",
            "iobandwidth": "io_saturation", "iometadata": "io_saturation", "stall": "stall"}

EATER = """\
import time
with open("/proc/meminfo") as fh:
    avail = next(int(l.split()[1]) for l in fh if l.startswith("MemAvailable:")) << 10
block = bytearray(max(avail - (1536 << 20), 1 << 28))
block[::4096] = b"\x01" * len(range(0, len(block), 4096))   # touch every page: resident
time.sleep({seconds})
"""

METADATA = """\
import os, time
end, k = time.time() + {seconds}, 0
for _ in range(3):                 # four writers: one fsync loop barely moves this VM's disk
    if os.fork() == 0:
        break
while time.time() < end:
    p = os.path.join({d!r}, f"md{{os.getpid()}}-{{k % 64}}")
    fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.write(fd, b"x" * 4096)
    os.fsync(fd)
    os.close(fd)
    os.unlink(p)
    k += 1
"""


def _script(d: Path, name: str, text: str) -> list[str]:
    path = d / f"{name}.py"
    path.write_text(text)
    return [sys.executable, str(path)]


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc, so nothing is missed)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


@dataclass
class Fault:
    """One injection: ``kind`` from EXPECTED, ``at`` s into the workload, for ``seconds``."""
    kind: str
    at: float
    seconds: float
    mib: int = 8                      # memleak: MiB a second
    proc: subprocess.Popen | None = None
    stopped: list[int] = field(default_factory=list)
    start: float | None = None
    end: float | None = None

    def argv(self, d: Path) -> list[str] | None:
        s = int(round(self.seconds))
        return {
            "cpuoccupy": ["stress-ng", "--cpu", "1", "-t", str(s), "-q"],
            "cachecopy": ["stress-ng", "--cache", "1", "-t", str(s), "-q"],
            "membw": ["stress-ng", "--stream", "1", "-t", str(s), "-q"],
            "memeater": _script(d, "eater", EATER.format(seconds=s)),
            "memleak": _script(d, "leaker", W.LEAKER.format(seconds=s, mib=self.mib)),
            "netoccupy": W.iperf3_cmd(s),
            "iobandwidth": ["fio", "--name=burst", f"--directory={d}", "--rw=write", "--bs=1m", "--size=2g",
                            "--ioengine=libaio", "--direct=1", "--iodepth=8", "--time_based",
                            f"--runtime={s}", "--output=/dev/null"],
            "iometadata": _script(d, "metadata", METADATA.format(seconds=s, d=str(d))),
        }.get(self.kind)

    def begin(self, scratch: Path, main: subprocess.Popen) -> None:
        self.start = time.time()
        if self.kind == "stall":
            self.stopped = _descendants(main.pid)
            for pid in self.stopped:
                try:
                    os.kill(pid, signal.SIGSTOP)
                except ProcessLookupError:
                    pass
            return
        if self.kind == "netoccupy":
            W.iperf3_server()
            self.start = time.time()
        self.proc = subprocess.Popen(self.argv(scratch), cwd=scratch, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def due(self) -> bool:
        """Over: its time is up (a stall) or its process has exited."""
        if self.kind == "stall":
            return time.time() - self.start >= self.seconds
        return self.proc.poll() is not None or time.time() - self.start >= self.seconds + 5

    def finish(self) -> None:
        for pid in self.stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.stopped = []
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.end is None:
            self.end = time.time()

    def record(self) -> dict:
        return {"kind": self.kind, "start": self.start, "end": self.end,
                "planned_at": self.at, "planned_s": self.seconds}


def advance(pending: list[Fault], active: list[Fault], elapsed: float, scratch: Path,
            main: subprocess.Popen) -> None:
    """Start the faults whose second has come and finish those that are over."""
    for f in [f for f in pending if elapsed >= f.at]:
        f.begin(scratch, main)
        pending.remove(f)
        active.append(f)
    for f in [f for f in active if f.due()]:
        f.finish()
        active.remove(f)
