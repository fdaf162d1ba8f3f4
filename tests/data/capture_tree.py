"""Capture the /proc and /sys files the collector reads into a test tree.

    python tests/data/capture_tree.py tests/data/debian12

writes DEST/proc/... and DEST/sys/... byte for byte as the kernel gave them,
so parser tests compare against what a real kernel printed.

Privacy: other processes' command lines and environments can hold secrets
and say nothing of the kernel's formats, so the only process directories
captured are kthreadd (pid 2), one other kernel thread, and a small family
this script starts itself with a clean environment:

    sh (SLURM_JOB_ID=777)  ->  sleep (started through ``env -i``: no environ)

cgroup paths outside a Slurm job are written as "/" so no host detail stays.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

NODE_FILES = ("stat", "meminfo", "vmstat", "loadavg", "cpuinfo", "diskstats",
              "net/dev", "pressure/cpu", "pressure/memory", "pressure/io",
              "sys/kernel/hostname", "sys/kernel/osrelease")
PID_FILES = ("stat", "status", "io", "cgroup", "environ", "cmdline")
KTHREAD_FILES = ("stat", "status")


def _copy(src: str, dst: str, transform=None) -> bool:
    try:
        with open(src, "rb", buffering=0) as f:
            chunks = []
            while chunk := f.read(65536):
                chunks.append(chunk)
    except OSError as e:
        print(f"skip {src}: {e.strerror}", file=sys.stderr)
        return False
    data = b"".join(chunks)
    if transform:
        data = transform(data)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "wb") as f:
        f.write(data)
    return True


def _plain_cgroup(data: bytes) -> bytes:
    out = []
    for line in data.split(b"\n"):
        hid, _, rest = line.partition(b":")
        ctrl, _, path = rest.partition(b":")
        if line and not re.search(rb"(^|/)job_\d+(/|$)", path):
            path = b"/"
        out.append(b":".join((hid, ctrl, path)) if line else line)
    return b"\n".join(out)


def _family():
    """sh with SLURM_JOB_ID=777 whose child sleep has an empty environment."""
    env = {"PATH": "/usr/bin:/bin", "SLURM_JOB_ID": "777"}
    sh = subprocess.Popen(["sh", "-c", "env -i sleep 30 & wait"], env=env)
    for _ in range(100):
        kids = _children(sh.pid)
        if kids and _comm(kids[0]) == "sleep":
            return sh, kids[0]
        time.sleep(0.02)
    sh.kill()
    raise SystemExit("the sleep child did not start")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def capture(dest: str, proc: str = "/proc", sys_root: str = "/sys") -> dict:
    for name in NODE_FILES:
        _copy(f"{proc}/{name}", f"{dest}/proc/{name}")
    kthreads = [2]
    for name in sorted(os.listdir(proc), key=lambda n: int(n) if n.isdigit() else 0):
        if name.isdigit() and int(name) > 2:
            try:
                with open(f"{proc}/{name}/stat", "rb") as f:
                    if int(f.read().rsplit(b")", 1)[1].split()[6]) & 0x00200000:
                        kthreads.append(int(name))
                        break
            except (OSError, IndexError, ValueError):
                continue
    for pid in kthreads:
        for name in KTHREAD_FILES:
            _copy(f"{proc}/{pid}/{name}", f"{dest}/proc/{pid}/{name}")
    sh, child = _family()
    try:
        for pid in (sh.pid, child):
            for name in PID_FILES:
                _copy(f"{proc}/{pid}/{name}", f"{dest}/proc/{pid}/{name}",
                      _plain_cgroup if name == "cgroup" else None)
    finally:
        subprocess.run(["kill", str(child)], check=False)
        sh.wait(timeout=10)
    for name in os.listdir(f"{sys_root}/block"):
        _copy(f"{sys_root}/block/{name}/dev", f"{dest}/sys/block/{name}/dev")
    for name in os.listdir(f"{sys_root}/class/net"):
        _copy(f"{sys_root}/class/net/{name}/type", f"{dest}/sys/class/net/{name}/type")
    cpus = f"{sys_root}/devices/system/cpu"
    for name in os.listdir(cpus):
        path = f"{cpus}/{name}/cpufreq/scaling_cur_freq"
        if re.fullmatch(r"cpu\d+", name) and os.path.exists(path):
            _copy(path, f"{dest}/sys/devices/system/cpu/{name}/cpufreq/scaling_cur_freq")
    return {"kthreads": kthreads, "sh": sh.pid, "sleep": child}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    dest = argv[1]
    if os.path.exists(dest):
        shutil.rmtree(dest)
    print(capture(dest))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
