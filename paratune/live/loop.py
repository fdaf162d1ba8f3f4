"""``paratune live``: a full-screen view of a node, fed live, from a growing trace or a recording.

One loop for every source: wait for a key or for the source to have rows,
push the rows through the model (``analyzer.derive`` + the online rules),
draw one frame.  The screen is drawn only when something changed and at most
MAX_FPS times a second, with rich's alternate screen and no auto-refresh, so
there is no flicker and an idle view costs next to nothing.
"""
from __future__ import annotations

import gc
import logging
import signal
import sys
import time
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live

from paratune.live.keys import DOWN, END, ESC, HOME, PGDN, PGUP, RESIZE, UP, KeyReader
from paratune.live.model import Model, Snapshot
from paratune.live.view import ViewState, render

MAX_FPS = 20.0
ONCE_TIMEOUT_INTERVALS = 5.0
"""``--once`` waits at most this many intervals (plus 2 s) for a sample with rates."""


class _Notes(logging.Handler):
    """Keeps log records (the sampler says what it cannot read) off the drawn screen."""

    def __init__(self, state: ViewState):
        super().__init__(logging.WARNING)
        self.state = state

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:               # a bad log call must not end the view
            return
        if msg not in self.state.notes:
            self.state.notes.append(msg)
            del self.state.notes[:-20]


@contextmanager
def _captured_logs(state: ViewState):
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = _Notes(state)
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


@contextmanager
def _exit_on_hangup():
    """SIGTERM and SIGHUP end the view through the normal cleanup (terminal restored)."""
    saved = {s: signal.signal(s, _raise_exit) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def snapshot_once(source, model: Model | None = None) -> Snapshot | None:
    """Feed ``source`` until the latest sample has rates (or the source ends, or time is up)."""
    model = model or Model(source.metadata)
    model.warm_up()
    deadline = time.monotonic() + ONCE_TIMEOUT_INTERVALS * float(
        source.metadata.get("interval_s") or 1.0) + 2.0
    while not source.finished and not model.has_rates and time.monotonic() < deadline:
        time.sleep(min(source.wait_s(), max(0.0, deadline - time.monotonic())))
        model.push(source.poll())
    return model.snapshot()


def print_once(source, console: Console | None = None) -> int:
    """One frame printed as plain output: for pipes, logs and ``watch``."""
    console = console or Console()
    width, height = console.size if console.is_terminal else (100, 30)
    console = Console(width=width, height=height, file=console.file,
                      force_terminal=console.is_terminal)
    state = ViewState(source=source.label())
    snap = snapshot_once(source)
    state.source = source.label()
    state.status = "end of trace" if source.finished else ""
    console.print(render(snap, state, width, height))
    console.line()
    return 0


def run(source, console: Console | None = None) -> int:
    """The interactive view until ``q``; the terminal is restored on every way out."""
    console = console or Console()
    state = ViewState(source=source.label())
    model = Model(source.metadata)
    model.warm_up()
    # Everything loaded so far (numba, polars, pyarrow: ~160k objects) lives as long as the
    # view; a full collection scanning it costs ~90 ms, so keep it out of the collector.
    gc.freeze()
    fd = sys.stdin.fileno()
    with _captured_logs(state), _exit_on_hangup(), KeyReader(fd) as keys, \
            Live(console=console, screen=True, auto_refresh=False, transient=False,
                 redirect_stdout=False, redirect_stderr=False) as live:
        try:
            return _loop(source, model, state, keys, live, console)
        finally:
            # A blank alternate screen before leaving it: a terminal that was resized
            # meanwhile (tmux) may otherwise reflow part of the last frame into the shell's.
            console.clear()


def _loop(source, model: Model, state: ViewState, keys: KeyReader, live: Live,
          console: Console) -> int:
    snap: Snapshot | None = None
    last_draw = -1.0
    dirty, shown = True, 0
    while True:
        now = time.monotonic()
        wait = source.wait_s()
        if dirty:
            wait = min(wait, max(0.0, last_draw + 1.0 / MAX_FPS - now))
        for key in keys.read(min(wait, 1.0)):
            if key in ("q", "Q", "ctrl-c", "eof"):
                return 0
            dirty |= _on_key(key, state, snap, source)
        rows = source.poll()
        if rows is not None:
            model.push(rows)
        if not state.paused and model.samples != shown:
            snap, shown, dirty = model.snapshot(), model.samples, True
        if source.finished and not state.status:
            state.status = "end of trace · q quits"
            dirty = True
        now = time.monotonic()
        if dirty and now - last_draw >= 1.0 / MAX_FPS:
            state.source = source.label()
            width, height = console.size
            live.update(render(snap, state, width, height), refresh=True)
            last_draw, dirty = now, False


def _on_key(key: str, state: ViewState, snap: Snapshot | None, source) -> bool:
    """Apply one key to the view state; True when the screen must be redrawn."""
    total = len(snap.procs) if snap is not None else 0
    if state.help and key != RESIZE:
        state.help = False
    elif key == "?":
        state.help = True
    elif key in ("p", "P", " "):
        state.paused = not state.paused
        source.set_paused(state.paused)
    elif key in ("s", "S"):
        state.cycle_sort()
    elif key == UP:
        state.scroll(-1, total)
    elif key == DOWN:
        state.scroll(1, total)
    elif key == PGUP:
        state.scroll(-state.page, total)
    elif key == PGDN:
        state.scroll(state.page, total)
    elif key == HOME:
        state.scroll(-total, total)
    elif key == END:
        state.scroll(total, total)
    elif key not in (RESIZE, ESC):
        return False
    return True
