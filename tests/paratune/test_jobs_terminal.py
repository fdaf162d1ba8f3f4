"""``paratune jobs`` in a real 80-column terminal: every time whole.

The command runs in a detached tmux session of a fixed size, so rich sizes the
table from a real terminal, and ``capture-pane`` reads what a user would see.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.writer import SegmentWriter
from tests.analyzer import synth

ROOT = Path(__file__).resolve().parents[2]
TMUX = shutil.which("tmux")
MIDNIGHT = 1_767_657_600.0                  # 2026-01-06 00:00:00 UTC

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed: this test needs a real "
                                "terminal (apt install tmux)")


def _trace(path: Path) -> Path:
    """Three jobs on one node: two across midnight, one the next morning."""
    rows = []
    for i in range(20):                                      # 23:59:50 .. 00:00:09
        procs = [synth.proc(100 + r, 90 * i, comm="solver", job="8765432", starttime=1) for r in range(2)]
        if i >= 10:
            procs.append(synth.proc(200, 50 * (i - 10), comm="post", job="8765433", user="bob", starttime=2))
        rows.append(synth.row(i, MIDNIGHT - 10 + i, user=230 * i, idle=10 * i, procs=procs))
    for i in range(10):                                      # 10:00:00 .. 10:00:09
        rows.append(synth.row(20 + i, MIDNIGHT + 36_000 + i, user=100 * i, idle=100 * i,
                              procs=[synth.proc(300, 95 * i, comm="lmp", job="8765434", user="carol",
                                                starttime=3)]))
    table = synth.table(rows, host="node01")
    w = SegmentWriter(path, table.schema, "zstd", fsync=False)
    for batch in table.to_batches(max_chunksize=10):
        w.append(batch)
    return w.close(finalise_file=True)


def _screen_after(command: list[str], width: int, height: int, home: Path, timeout: float = 60.0) -> str:
    """What a ``width`` x ``height`` terminal shows once ``command`` has exited (tmux)."""
    socket = f"paratune-jobs-{os.getpid()}"
    tmux = [TMUX, "-L", socket, "-f", "/dev/null"]
    line = " ".join(shlex.quote(c) for c in command) + "; echo EXIT=$?; sleep 120"
    subprocess.run([*tmux, "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), "-c", str(ROOT),
                    "env", "-i", f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}", "TERM=xterm-256color",
                    "LANG=C.UTF-8", f"HOME={home}", "sh", "-c", line], check=True, timeout=10)
    try:
        deadline = time.monotonic() + timeout
        while True:
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "t"], capture_output=True, text=True,
                                    check=True, timeout=10).stdout
            if "EXIT=" in screen or time.monotonic() > deadline:
                return screen
            time.sleep(0.2)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=10)


def test_jobs_fit_80_columns_with_every_time_whole(tmp_path):
    trace = _trace(tmp_path / "node01.arrow")
    screen = _screen_after([sys.executable, "-m", "paratune.cli", "jobs", str(trace)], 80, 40, tmp_path)
    assert "EXIT=0" in screen, screen
    assert "…" not in screen, screen
    text = screen[:screen.index("EXIT=")]
    words = text.split()
    for job in ("8765432", "8765433", "8765434"):
        assert job in words, (job, screen)
    # first/last seen: 23:59:50 → 00:00:09, 00:00:00 → 00:00:09, 10:00:00 → 10:00:09, dated on
    # the first row and where the day changes, and nothing else that looks like a time or a date
    stamps = re.findall(r"\d[\d:-]*[:-][\d:-]*", text)
    assert sorted(stamps) == sorted(["2026-01-05", "23:59:50", "2026-01-06", "00:00:09",
                                     "2026-01-06", "00:00:00", "00:00:09", "10:00:00", "10:00:09"]), screen
    # the table used the terminal's width: its header rule spans it, no wider
    rule = max(len(m) for m in re.findall(r"─+", text))
    assert 70 <= rule <= 80, screen
