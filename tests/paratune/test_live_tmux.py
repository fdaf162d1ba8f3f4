"""``paratune live`` in a real terminal, driven the way a person would: tmux types
the keys and ``capture-pane`` reads the screen.

Each test runs the command from an interactive shell inside a detached tmux
session of a fixed size, so what is checked is what a user sees: the panels,
numbers that agree with /proc, a screen that refreshes, the keys, and a shell
whose terminal settings are exactly as they were once the view has exited.
"""
from __future__ import annotations

import itertools
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
from tests.helpers import ROOT, fault_table

TMUX = shutil.which("tmux")
STARTUP_S = 45.0          # imports and the first two samples; generous for a loaded CI machine

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed: the live view's "
                                "terminal tests need a real terminal (apt install tmux)")

_ids = itertools.count()


class Term:
    """A shell in a detached tmux session of ``width`` x ``height`` on a private server."""

    def __init__(self, width: int, height: int, tmp: Path):
        self.socket = f"paratune-test-{os.getpid()}-{next(_ids)}"
        self.tmp = tmp
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                   "env", "-i", f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}", "TERM=xterm-256color",
                   "LANG=C.UTF-8", f"HOME={tmp}", "bash", "--norc", "--noprofile")
        self._tmux("set-option", "-t", "t", "status", "off")

    def _tmux(self, *args) -> str:
        r = subprocess.run([TMUX, "-L", self.socket, "-f", "/dev/null", *args],
                           capture_output=True, text=True, timeout=10)
        if r.returncode:
            raise AssertionError(f"tmux {args[0]} failed: {r.stderr.strip()}")
        return r.stdout

    def run(self, command: str) -> None:
        """Type ``command`` at the prompt, bracketed by records of the terminal settings."""
        before, after = self.tmp / "stty.before", self.tmp / "stty.after"
        line = (f"cd {shlex.quote(str(ROOT))}; stty -g > {before}; {command}; "
                f"echo EXIT=$?; stty -g > {after}")
        self._tmux("send-keys", "-t", "t", "-l", line)
        self._tmux("send-keys", "-t", "t", "Enter")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, pattern: str, timeout: float = 15.0) -> str:
        """The screen once ``pattern`` (a regex) is on it."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if re.search(pattern, text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not on the screen after {timeout:g}s:\n{text}")
            time.sleep(0.1)

    def terminal_restored(self) -> bool:
        before, after = self.tmp / "stty.before", self.tmp / "stty.after"
        deadline = time.monotonic() + 5
        while not (after.exists() and after.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return before.read_text() == after.read_text()

    def close(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def term(tmp_path):
    made = []

    def make(width, height):
        t = Term(width, height, tmp_path)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def _live(*args: str) -> str:
    return " ".join([shlex.quote(sys.executable), "-m", "paratune.cli", "live", *args])


def _header_time(screen: str) -> str:
    return re.search(r"(\d\d:\d\d:\d\d) UTC · \? help", screen.splitlines()[0]).group(1)


def _mem_used_pct() -> float:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    kb = {k: int(v.split()[0]) for k, v in info.items() if v.strip().split()[0].isdigit()}
    return (kb["MemTotal"] - kb["MemAvailable"]) / kb["MemTotal"] * 100


def test_live_view_of_this_node(term):
    t = term(100, 30)
    t.run(_live())
    screen = t.wait_for(r"CPU \d+% · \d+ cores", STARTUP_S)       # a sample with rates

    for panel in ("paratune live", "CPU", "Memory & I/O", "Alarms", "Processes", "PID", "COMMAND",
                  "? help"):
        assert panel in screen, panel
    assert f"· {os.cpu_count()} cores" in screen
    busy = float(re.search(r"busy\s+([\d.]+)%", screen).group(1))
    assert 0 <= busy <= 100
    mem = float(re.search(r"mem\s+([\d.]+)%", screen).group(1))
    assert abs(mem - _mem_used_pct()) < 5, (mem, _mem_used_pct())
    assert re.search(r"│\s+\d+\s+\S+\s+\S+\s+[RSDIZT]\s", screen), "no process rows"
    assert all(len(line) <= 100 for line in screen.splitlines())

    first = _header_time(screen)                                     # it refreshes by itself
    t.wait_for(r"(?!.*" + first + r")\d\d:\d\d:\d\d UTC · \? help")

    t.keys("s")
    t.wait_for(r"sort rss \(s\)")
    t.keys("s")
    t.wait_for(r"sort io \(s\)")
    t.keys("Down")
    t.wait_for(r"· 2–\d+ of \d+|· 1–\d+ of \d+")                    # scrolls when there is room

    t.keys("p")
    paused = t.wait_for("PAUSED")
    frozen = _header_time(paused)
    time.sleep(2.2)
    assert _header_time(t.screen()) == frozen, "the screen moved while paused"
    t.keys("p")
    t.wait_for(r"^(?!.*PAUSED)")

    t.keys("?")
    t.wait_for("cycle the process sort")
    t.keys("x")                                                      # any key closes the help
    t.wait_for("Processes")

    t.keys("q")
    after = t.wait_for("EXIT=0", 10)
    assert "Processes" not in after, "the alternate screen was not left"
    assert t.terminal_restored()


def _fault_trace(path: Path) -> Path:
    """The synthetic node with 40 s of memory pressure, as a finished trace file."""
    table = fault_table()
    w = SegmentWriter(path, table.schema, "zstd", fsync=False)
    for batch in table.to_batches(max_chunksize=10):
        w.append(batch)
    return w.close(finalise_file=True)


def test_replay_of_a_faulty_trace_shows_the_alarm(term, tmp_path):
    trace = _fault_trace(tmp_path / "faulty.arrow")
    t = term(80, 24)
    t.run(_live("--replay", str(trace), "--speed", "20"))
    screen = t.wait_for(r"CPU \d+% · 2 cores", STARTUP_S)
    assert "replay faulty.arrow x20" in screen
    assert all(len(line) <= 80 for line in screen.splitlines())
    assert "1234" in screen and "solver" in screen                   # the jobs panel and the table

    screen = t.wait_for(r"Alarms: 1 active", 15)                     # during the fault ...
    assert "memory_pressure" in screen and "3% available" in screen
    mem = float(re.search(r"mem\s+([\d.]+)%", screen).group(1))
    assert mem == pytest.approx(97, abs=0.1)

    t.resize(100, 30)                                                # redrawn at the new size
    t.wait_for(r"(?m)^ paratune live.{60,}\? help\s*$")

    screen = t.wait_for("end of trace", 15)                          # ... and after it
    assert "○" in screen and "memory_pressure" in screen and "Alarms: 1 active" not in screen

    t.keys("C-c")                                                    # Ctrl-C restores too
    after = t.wait_for(r"EXIT=130", 10)
    assert "Processes" not in after, after
    assert t.terminal_restored()
