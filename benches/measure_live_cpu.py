"""The live view's own CPU: ``paratune live`` at 1 Hz (sampling this node) in a real terminal.

Starts ``paratune live`` as the only process of a detached tmux pane (100x30
unless told otherwise), lets it settle, then reads utime+stime of that very
process from /proc/<pid>/stat at the start and the end of a window (60 s by
default).  CPU time over wall time is the cost a user pays for watching: the
sampling, the derivation, the online rules and the drawing, all in one
process.  Start-up (imports, first derivation) is outside the window.

    .venv/bin/python benches/measure_live_cpu.py [--seconds 60] [--size 100x30]
                                                 [--target 3] [-- extra live options]

Prints one line and exits 1 when the target (% of one core) is exceeded.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks (fields 14 and 15 of /proc/PID/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=8.0, help="seconds to wait before measuring")
    ap.add_argument("--size", default="100x30")
    ap.add_argument("--target", type=float, default=3.0, help="% of one core")
    ap.add_argument("live_args", nargs="*", help="extra options for paratune live (after --)")
    args = ap.parse_args(argv)
    tmux = shutil.which("tmux")
    if tmux is None:
        print("tmux is not installed: cannot run paratune live in a terminal", file=sys.stderr)
        return 2
    width, height = args.size.split("x")
    sock = f"paratune-bench-{os.getpid()}"
    cmd = " ".join([shlex.quote(sys.executable), "-m", "paratune.cli", "live",
                    *map(shlex.quote, args.live_args)])

    def t(*a):
        return subprocess.run([tmux, "-L", sock, "-f", "/dev/null", *a], capture_output=True,
                              text=True, timeout=10, cwd=ROOT)

    t("new-session", "-d", "-s", "b", "-x", width, "-y", height, "-c", str(ROOT),
      "env", "TERM=xterm-256color", f"PYTHONPATH={ROOT}", "LANG=C.UTF-8", "sh", "-c", f"exec {cmd}")
    try:
        pid = int(t("list-panes", "-t", "b", "-F", "#{pane_pid}").stdout.split()[0])
        deadline = time.monotonic() + 60
        while "Processes" not in t("capture-pane", "-p", "-t", "b").stdout:
            if time.monotonic() > deadline:
                print("paratune live did not draw its screen within 60 s", file=sys.stderr)
                return 2
            time.sleep(0.2)
        time.sleep(args.settle)
        hz = os.sysconf("SC_CLK_TCK")
        t0, c0 = time.monotonic(), cpu_ticks(pid)
        time.sleep(args.seconds)
        t1, c1 = time.monotonic(), cpu_ticks(pid)
        screen = t("capture-pane", "-p", "-t", "b").stdout
        t("send-keys", "-t", "b", "q")
    finally:
        time.sleep(0.5)
        t("kill-server")
    pct = (c1 - c0) / hz / (t1 - t0) * 100.0
    ok = pct < args.target
    print(f"paratune live {' '.join(args.live_args)}: {pct:.2f}% of one core over {t1 - t0:.0f} s "
          f"({(c1 - c0) / hz:.2f} s CPU) in a {args.size} tmux pane; target < {args.target:g}%: "
          f"{'ok' if ok else 'MISSED'}")
    if os.environ.get("PARATUNE_BENCH_SCREEN"):
        print(screen)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
