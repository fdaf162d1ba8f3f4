"""Keys from the terminal, one at a time, without echo or waiting for Enter.

The terminal goes into cbreak mode (no line buffering, no echo) but keeps
ISIG, so Ctrl-C still raises KeyboardInterrupt, and keeps output
post-processing, which rich relies on.  ``KeyReader`` is a context manager:
the saved terminal attributes come back in ``__exit__`` whatever happened.

The same ``select`` that waits for a key also waits on a wake-up pipe that
SIGWINCH writes to, so a resize redraws at once instead of at the next sample.
"""
from __future__ import annotations

import os
import select
import signal
import termios
import tty

UP, DOWN, PGUP, PGDN, HOME, END, ESC, RESIZE = ("up", "down", "pgup", "pgdn", "home", "end",
                                                "esc", "resize")

_SEQUENCES = {
    b"\x1b[A": UP, b"\x1bOA": UP, b"\x1b[B": DOWN, b"\x1bOB": DOWN,
    b"\x1b[5~": PGUP, b"\x1b[6~": PGDN,
    b"\x1b[H": HOME, b"\x1bOH": HOME, b"\x1b[1~": HOME, b"\x1b[7~": HOME,
    b"\x1b[F": END, b"\x1bOF": END, b"\x1b[4~": END, b"\x1b[8~": END,
}


def parse_keys(data: bytes) -> list[str]:
    """Bytes read from a terminal -> key names ("q", "up", "esc", ...).

    Unknown escape sequences are swallowed whole rather than read as letters.
    """
    keys: list[str] = []
    i = 0
    while i < len(data):
        if data[i] == 0x1b:
            for seq, name in _SEQUENCES.items():
                if data.startswith(seq, i):
                    keys.append(name)
                    i += len(seq)
                    break
            else:
                if i + 1 < len(data) and data[i + 1] in b"[O":
                    j = i + 2               # CSI/SS3 we do not know: skip to its final byte
                    while j < len(data) and not (0x40 <= data[j] <= 0x7e):
                        j += 1
                    i = j + 1
                else:
                    keys.append(ESC)
                    i += 1
            continue
        ch = data[i:i + 1]
        keys.append({b"\x03": "ctrl-c", b"\r": "enter", b"\n": "enter"}.get(
            ch, ch.decode("latin-1")))
        i += 1
    return keys


class KeyReader:
    """cbreak mode on ``fd`` while in use; ``read(timeout)`` -> key names."""

    def __init__(self, fd: int):
        self.fd = fd
        self._saved = None
        self._pipe: tuple[int, int] | None = None
        self._old_wakeup = -1
        self._old_winch = None

    def __enter__(self) -> "KeyReader":
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd, termios.TCSANOW)
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self._pipe = (r, w)
        self._old_winch = signal.signal(signal.SIGWINCH, lambda *_: None)
        self._old_wakeup = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._pipe is not None:
                signal.set_wakeup_fd(self._old_wakeup)
                signal.signal(signal.SIGWINCH, self._old_winch or signal.SIG_DFL)
                for fd in self._pipe:
                    os.close(fd)
                self._pipe = None
        finally:
            if self._saved is not None:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
                self._saved = None

    def read(self, timeout: float) -> list[str]:
        """Keys typed within ``timeout`` seconds (empty when none); "resize" on SIGWINCH."""
        assert self._pipe is not None, "use KeyReader as a context manager"
        try:
            ready, _, _ = select.select([self.fd, self._pipe[0]], [], [], max(0.0, timeout))
        except InterruptedError:            # pragma: no cover - PEP 475 retries for us
            return []
        keys: list[str] = []
        if self._pipe[0] in ready:
            try:
                woke = os.read(self._pipe[0], 512)
            except BlockingIOError:
                woke = b""
            if signal.SIGWINCH in woke:
                keys.append(RESIZE)
        if self.fd in ready:
            data = os.read(self.fd, 256)
            if not data:                    # the terminal went away
                keys.append("eof")
            keys.extend(parse_keys(data))
        return keys
