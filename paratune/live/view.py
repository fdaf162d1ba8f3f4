"""Rich renderables of the live view: a ``Snapshot`` in, one full screen out.

Nothing here computes a metric: every number comes from the model's
snapshot, which comes from ``analyzer.derive``.  The layout is sized from the
terminal each frame, so a resize is just the next render; at 80x24 every
panel still shows its essentials and bigger terminals get more history and
more rows.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from rich.segment import Segment
from rich.text import Text

from analyzer import metrics
from analyzer.report.format import hms, sparkline
from paratune.live.model import SORT_KEYS, Snapshot

HEAT = "▁▂▃▄▅▆▇█"
STATE_STYLES = tuple((name, style, metrics.short(name)) for name, style in (
    ("cpu_user_pct", "green"), ("cpu_nice_pct", "cyan"), ("cpu_system_pct", "red"), ("cpu_iowait_pct", "yellow"),
    ("cpu_irq_pct", "magenta"), ("cpu_steal_pct", "bright_magenta")))
"""CPU states drawn in the CPU bar, labelled from analyzer.metrics."""


@dataclass
class ViewState:
    """What the user changed with keys, and what the header says about the source."""
    sort: str = "cpu"
    offset: int = 0                  # first process row shown
    paused: bool = False
    help: bool = False
    source: str = ""
    status: str = ""
    notes: list[str] = field(default_factory=list)
    page: int = 10                   # process rows on screen at the last render

    def cycle_sort(self) -> None:
        self.sort = SORT_KEYS[(SORT_KEYS.index(self.sort) + 1) % len(SORT_KEYS)]
        self.offset = 0

    def scroll(self, delta: int, total: int) -> None:
        self.offset = max(0, min(self.offset + delta, max(0, total - self.page)))


# ------------------------------------------------------------------ numbers

def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_bytes(v, suffix: str = "") -> str:
    """Binary units, three significant characters: 512B, 4.1M, 23G."""
    if _nan(v):
        return "–"
    v = float(v)
    for unit in ("B", "K", "M", "G", "T", "P"):
        if abs(v) < 1000 or unit == "P":
            break
        v /= 1024.0
    text = f"{v:.0f}" if unit == "B" or abs(v) >= 10 else f"{v:.1f}"
    return f"{text}{unit}{suffix}"


def fmt_count(v, suffix: str = "") -> str:
    """Decimal units for counts and rates: 950, 12k, 3.4M."""
    if _nan(v):
        return "–"
    v = float(v)
    for unit in ("", "k", "M", "G"):
        if abs(v) < 1000 or unit == "G":
            break
        v /= 1000.0
    text = f"{v:.0f}" if abs(v) >= 10 or unit == "" and v == int(v) else f"{v:.1f}"
    return f"{text}{unit}{suffix}"


def fmt_pct(v, width: int = 5) -> str:
    if _nan(v):
        return "–".rjust(width)
    return f"{v:{width}.1f}" if v < 99.95 else f"{v:{width}.0f}"


def pct_style(v) -> str:
    if _nan(v):
        return "dim"
    return "green" if v < 50 else "yellow" if v < 80 else "bold red"


def clock(t: float) -> str:
    """Times as the report prints them (UTC), so an alarm on screen and the
    same anomaly in `paratune analyze` read alike."""
    return hms(t)


def span_text(seconds: float) -> str:
    """How much history the sparklines cover: 45s, 10m, 1.5h."""
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


# ------------------------------------------------------------------ small drawings

def bar(parts, width: int) -> Text:
    """A stacked horizontal bar: ``parts`` are (percent, style); the rest is dim."""
    out = Text()
    used = 0
    for pct, style in parts:
        if _nan(pct) or pct <= 0:
            continue
        n = min(width - used, int(round(pct / 100.0 * width)))
        if n > 0:
            out.append("█" * n, style)
            used += n
    if used < width:
        out.append("░" * (width - used), "grey30")
    return out


def spark_row(label: str, values, width: int, style: str, hi: float | None, now: str) -> Text:
    """``label ▁▂▅█ now`` filling ``width``: the history of one metric."""
    room = width - len(label) - len(now) - 2
    line = sparkline(values if values is not None else (), room, hi).rjust(max(room, 0))
    out = Text(label, "bold")
    out.append(" ")
    out.append(line, style)
    out.append(" ")
    out.append(now, "bold")
    return out


def _line(*parts) -> Text:
    out = Text(no_wrap=True, overflow="crop")
    for p in parts:
        if isinstance(p, Text):
            out.append_text(p)
        elif isinstance(p, tuple):
            out.append(*p)
        else:
            out.append(str(p))
    return out


# ------------------------------------------------------------------ panels

def cpu_lines(s: Snapshot, width: int, lines: int) -> list[Text]:
    m = s.metrics
    busy = m.get("cpu_busy_pct", math.nan)
    parts = [(m.get(k, math.nan), style) for k, style, _ in STATE_STYLES]
    out = [_line(("busy ", "bold"), (fmt_pct(busy) + "% ", pct_style(busy)),
                 bar(parts, max(4, width - 12)))]
    states = Text()
    for k, style, short in STATE_STYLES:
        if k == "cpu_nice_pct" and not (m.get(k) or 0) > 0.05:
            continue
        states.append(f"{short} ", style)
        states.append(f"{fmt_pct(m.get(k, math.nan), 0)}  ")
    out.append(_line(states))
    extra = lines - 5
    core_lines = 1 + (1 if extra >= 2 and len(s.core_busy) > 4 else 0)
    out.extend(core_rows(s.core_busy, width, core_lines))
    imb = m.get("core_imbalance_pct", math.nan)
    load = m.get("load1", math.nan)
    out.append(_line(("load ", "bold"), f"{'–' if _nan(load) else format(load, '.2f')}  ",
                     ("run ", "bold"), f"{fmt_count(m.get('procs_running'))}  ",
                     ("blk ", "bold"), f"{fmt_count(m.get('procs_blocked'))}  ",
                     ("imb ", "bold"), (f"{fmt_pct(imb, 0)}%", pct_style(imb))))
    hist = [("cpu_busy_pct", "green", 100.0, lambda v: f"{fmt_pct(v, 0)}%"),
            ("cpu_iowait_pct", "yellow", 100.0, lambda v: f"{fmt_pct(v, 0)}%"),
            ("load1", "cyan", None, lambda v: "–" if _nan(v) else f"{v:.1f}"),
            ("cpu_system_pct", "red", 100.0, lambda v: f"{fmt_pct(v, 0)}%")]
    for key, style, hi, fmt in hist[:max(0, lines - len(out))]:
        out.append(_line(spark_row(metrics.short(key).ljust(4), s.history.get(key), width, style, hi,
                                   fmt(m.get(key, math.nan)).rjust(5))))
    return out[:lines]


def core_rows(core_busy: np.ndarray, width: int, lines: int) -> list[Text]:
    """Per-core load: small bars when they fit, otherwise one coloured cell per core."""
    n = len(core_busy)
    if n == 0:
        return [_line(("cores ", "bold"), ("not in this trace", "dim"))]
    cols = max(1, width // 14)
    if n <= cols * lines:
        cols = min(cols, math.ceil(n / lines))
        cell = min(width // cols, 30)
        rows = []
        for r in range(math.ceil(n / cols)):
            t = Text(no_wrap=True, overflow="crop")
            for c in range(r * cols, min(n, (r + 1) * cols)):
                v = core_busy[c]
                label = f"cpu{c} " if cell >= 20 else f"{c:>2} "
                t.append(label, "bold")
                t.append_text(bar([(v, pct_style(v))], max(1, cell - len(label) - 7)))
                t.append(f"{fmt_pct(v, 5)}% ")
            rows.append(t)
        return rows
    label = "cores "
    room = max(1, width - len(label))
    per = math.ceil(n / (room * lines))           # more cores than cells: a cell shows the busiest
    cells = []
    for start in range(0, n, per):
        chunk = core_busy[start:start + per]
        v = float(np.nanmax(chunk)) if np.isfinite(chunk).any() else math.nan
        cells.append(("·", "dim") if _nan(v) else (HEAT[min(7, int(v / 100.0 * 7.999))], pct_style(v)))
    rows = []
    for r in range(0, len(cells), room):
        t = Text(label if r == 0 else " " * len(label), "bold", no_wrap=True, overflow="crop")
        for ch, style in cells[r:r + room]:
            t.append(ch, style)
        rows.append(t)
    return rows[:lines]


def mem_io_lines(s: Snapshot, width: int, lines: int) -> list[Text]:
    m = s.metrics
    used = m.get("mem_used_pct", math.nan)
    size = f" {fmt_bytes(m.get('mem_used_bytes'))}/{fmt_bytes(s.mem_total)}"
    out = [_line(("mem  ", "bold"), (fmt_pct(used) + "% ", pct_style(used)),
                 bar([(used, pct_style(used))], max(4, width - 12 - len(size))), size)]
    swap = m.get("swap_used_pct", math.nan)
    out.append(_line(("swap ", "bold"), (fmt_pct(swap) + "%", pct_style(swap)),
                     ("  majflt ", "bold"), fmt_count(m.get("majflt_rate"), "/s"),
                     ("  swpin ", "bold"), fmt_count(m.get("swapin_rate"), "/s")))
    psi = Text("psi  ", "bold")
    for key, label in (("psi_cpu_some_pct", "cpu"), ("psi_mem_some_pct", "mem"),
                       ("psi_io_some_pct", "io")):
        v = m.get(key, math.nan)
        psi.append(f"{label} ")
        # a stall share of 25% is already bad: colour PSI at twice the scale of a load
        psi.append(f"{fmt_pct(v, 0)}%  " if not _nan(v) else "–  ", pct_style(v * 2 if not _nan(v) else v))
    out.append(_line(psi))
    out.append(_line(("net  ", "bold"), ("↓ ", "cyan"), fmt_bytes(m.get("net_rx_Bps"), "/s").ljust(8),
                     ("↑ ", "magenta"), fmt_bytes(m.get("net_tx_Bps"), "/s").ljust(8),
                     ("err ", "bold"), fmt_count(m.get("net_errs_rate"), "/s")))
    util = m.get("disk_util_pct", math.nan)
    out.append(_line(("disk ", "bold"), ("r ", "cyan"), fmt_bytes(m.get("disk_read_Bps"), "/s").ljust(8),
                     ("w ", "magenta"), fmt_bytes(m.get("disk_write_Bps"), "/s").ljust(8),
                     ("util ", "bold"), (f"{fmt_pct(util, 0)}%", pct_style(util))))
    h = s.history

    def total(a, b):
        x, y = h.get(a), h.get(b)
        return None if x is None or y is None else np.nan_to_num(x) + np.nan_to_num(y)

    hist = [(metrics.short("mem_used_pct").ljust(4), h.get("mem_used_pct"), "green", 100.0, f"{fmt_pct(used, 0)}%"),
            ("net ", total("net_rx_Bps", "net_tx_Bps"), "cyan", None,
             fmt_bytes((m.get("net_rx_Bps") or 0) + (m.get("net_tx_Bps") or 0))),
            ("disk", total("disk_read_Bps", "disk_write_Bps"), "magenta", None,
             fmt_bytes((m.get("disk_read_Bps") or 0) + (m.get("disk_write_Bps") or 0))),
            (metrics.short("psi_mem_some_pct").ljust(4), h.get("psi_mem_some_pct"), "yellow", 100.0,
             f"{fmt_pct(m.get('psi_mem_some_pct', math.nan), 0)}%")]
    for label, values, style, hi, now in hist[:max(0, lines - len(out))]:
        out.append(_line(spark_row(label, values, width, style, hi, now.rjust(5))))
    return out[:lines]


def alarm_lines(s: Snapshot, width: int, lines: int) -> list[Text]:
    """Active alarms first (up to three lines each when there is room), then the ended ones."""
    if not s.rules:
        return [_line(("anomaly rules are off", "dim"))]
    out = []
    active = sorted(s.alarms, key=lambda a: a.start, reverse=True)[:lines]
    per = max(1, min(3, lines // max(1, len(active))))
    for a in active:
        head = f"● {clock(a.start)} {a.kind} "
        words = _wrap(_alarm_text(a), width - len(head), width - 2, per)
        out.append(_line(("● ", "bold red"), (clock(a.start) + " ", "red"),
                         (f"{a.kind} ", "bold red"), words[0]))
        out.extend(_line("  ", w) for w in words[1:])
    ended = [e for e in s.events if getattr(e, "end", None) is not None]
    for e in sorted(ended, key=lambda e: e.end, reverse=True):
        if len(out) >= lines:
            break
        out.append(_line(("○ ", "dim"), (f"{clock(e.start)}–{clock(e.end)} ", "dim"),
                         (f"{e.kind} ", "yellow"), (_alarm_text(e), "dim")))
    if not out:
        out.append(_line(("✓ no alarms", "green")))
    return out[:lines]


def _wrap(text: str, first: int, rest: int, lines: int) -> list[str]:
    """``text`` cut at spaces into at most ``lines`` pieces, the first ``first`` wide."""
    out, words = [], text.split()
    while words and len(out) < lines:
        room = first if not out else rest
        line = ""
        while words and len(line) + len(words[0]) + (1 if line else 0) <= room:
            line += (" " if line else "") + words.pop(0)
        if not line:                                  # one word longer than the line
            line, words[0] = words[0][:room], words[0][room:]
        out.append(line)
    if words and out:
        out[-1] = out[-1][:max(0, (first if len(out) == 1 else rest) - 1)] + "…"
    return out or [""]


def _alarm_text(a) -> str:
    text = getattr(a, "message", "") or getattr(a, "metric", "")
    job = getattr(a, "job", None)
    return text + (f" [job {job}]" if job and str(job) not in text else "")


def _cell(text: str, width: int, justify: str = "left") -> str:
    """``text`` cut (with …) or padded to exactly ``width`` characters."""
    if len(text) > width:
        text = text[:max(0, width - 1)] + "…" if width > 0 else ""
    return text.rjust(width) if justify == "right" else text.ljust(width)


def _row(cells, widths, justify, styles=None) -> Text:
    """One table row: cells separated by two spaces, each styled on its own."""
    t = Text(no_wrap=True, overflow="crop")
    for n, (c, w, j) in enumerate(zip(cells, widths, justify)):
        if n:
            t.append("  ")
        t.append(_cell(c, w, j), (styles[n] if styles else "") or "")
    return t


def jobs_lines(s: Snapshot, width: int, lines: int) -> tuple[str, list[Text]]:
    """Each running batch job (or, on a node without jobs, each user): processes, CPU, memory."""
    key, frame, title = ("job", s.jobs, "Jobs") if s.jobs else ("user", s.users,
                                                                "Users (no batch jobs)")
    widths = [0, 5, 6, 5]
    widths[0] = max(3, width - sum(widths[1:]) - 6)
    justify = ("left", "right", "right", "right")
    out = [_row((key.upper(), "PROCS", "CPU%", "RSS"), widths, justify)]
    out[0].stylize("bold")
    for r in frame[:max(0, lines - 1)]:
        out.append(_row((str(r[key]), str(r["nprocs"]), fmt_pct(r["cpu_pct"], 0), fmt_bytes(r["rss"])),
                        widths, justify))
    return title, out


def procs_lines(s: Snapshot, state: ViewState, width: int, lines: int) -> tuple[list[Text], str]:
    """The process table, sorted and scrolled as ``state`` says; and its footer text."""
    procs = s.sorted_procs(state.sort)
    total = len(procs)
    rows = max(0, lines - 1)
    state.page = max(1, rows)
    state.offset = max(0, min(state.offset, max(0, total - rows)))
    view = procs[state.offset:state.offset + rows]
    wide = width >= 100
    names = ["PID", "USER", "JOB", "S", "CPU%", "RSS"]
    names += ["READ/s", "WRITE/s", "THR"] if wide else ["IO/s"]
    sort_col = {"cpu": "CPU%", "rss": "RSS", "io": "READ/s" if wide else "IO/s", "pid": "PID"}[state.sort]
    cells = []
    for r in view:
        row = [str(r["pid"]), str(r["user"] or r["uid"] or "?"), str(r["job"] or "–"),
               str(r["state"] or "?"), fmt_pct(r["cpu_pct"]), fmt_bytes(r["rss"])]
        if wide:
            row += [fmt_bytes(r["read_Bps"]), fmt_bytes(r["write_Bps"]), str(r["threads"] or "")]
        else:
            none = _nan(r["read_Bps"]) and _nan(r["write_Bps"])
            row.append("–" if none else fmt_bytes(r["io_Bps"]))
        row.append(str(r["comm"] or ""))
        cells.append(row)
    header = [n + ("▼" if n == sort_col else "") for n in names] + ["COMMAND"]
    widths = [max([len(header[c])] + [len(row[c]) for row in cells]) for c in range(len(names))]
    widths[1] = min(widths[1], 10)
    widths[2] = min(widths[2], 10)
    widths.append(max(4, width - sum(widths) - 2 * len(widths)))
    justify = ["right", "left", "left", "left"] + ["right"] * (len(names) - 4) + ["left"]
    head = _row(header, widths, justify)
    head.stylize("bold reverse")
    head.truncate(width, pad=True)
    out = [head]
    cpu_at = names.index("CPU%")
    for row, r in zip(cells, view):
        styles = [""] * len(row)
        styles[cpu_at] = pct_style(r["cpu_pct"])
        out.append(_row(row, widths, justify, styles))
    shown = f"{state.offset + 1}–{state.offset + len(view)}" if view else "0"
    return out, f"sort {state.sort} (s) · {shown} of {total} (↑↓)"


HELP = [
    ("q", "quit (Ctrl-C too); the terminal is restored"),
    ("p", "pause / resume the display (live: sampling and recording go on)"),
    ("s", "cycle the process sort: " + " → ".join(SORT_KEYS)),
    ("↑ ↓ PgUp PgDn Home End", "scroll the process table"),
    ("?  Esc", "show / hide this help"),
]
PANEL_HELP = [
    ("CPU", "node time by state (usr sys wait irq steal), per-core busy %, load, "
            "imbalance = busiest minus idlest core; sparklines = recent history"),
    ("Memory & I/O", "used memory (total - available), swap, PSI stall %, network and disk rates"),
    ("Alarms", "online versions of `paratune analyze`'s anomaly rules, same thresholds; "
               "● active since the time shown, ○ ended"),
    ("Jobs", "each running batch job: processes, CPU %, RSS (per user when there are no jobs)"),
    ("Processes", "top processes: CPU % of one core, RSS, storage I/O rate"),
]


def help_lines(state: ViewState, width: int) -> list[Text]:
    out = []
    key_w = max(len(k) for k, _ in HELP + PANEL_HELP) + 2
    for k, v in HELP + [("", "")] + PANEL_HELP:
        for n, piece in enumerate(_wrap(v, width - key_w, width - key_w, 3) if v else [""]):
            out.append(_line((_cell(k if n == 0 else "", key_w), "bold cyan"), piece))
    if state.notes:
        out.append(Text())
        for note in state.notes[-3:]:
            out.append(_line(("note  ", "bold"), (note, "dim")))
    return out


# ------------------------------------------------------------------ the screen

def box(lines: list[Text], width: int, height: int, title: str = "", style: str = "grey50",
        subtitle: str = "", title_style: str = "bold") -> list[Text]:
    """``lines`` inside a rounded border: exactly ``height`` lines of ``width`` cells."""
    inner = max(0, width - 4)
    top = Text("╭─", style, no_wrap=True, overflow="crop")
    if title:
        top.append(" ")
        top.append(_cell(title, max(0, width - 6)).rstrip(), title_style)
        top.append(" ")
    top.append("─" * max(0, width - 1 - top.cell_len) + "╮", style)
    out = [top]
    for n in range(max(0, height - 2)):
        line = lines[n].copy() if n < len(lines) else Text()
        line.truncate(inner, overflow="crop", pad=True)
        row = Text("│ ", style, no_wrap=True, overflow="crop")
        row.append_text(line)
        row.append(" │", style)
        out.append(row)
    sub = f" {subtitle} " if subtitle and len(subtitle) + 6 <= width else ""
    out.append(Text("╰" + "─" * max(0, width - 3 - len(sub)) + sub + "─╯", style,
                    no_wrap=True, overflow="crop"))
    return out[:height]


def beside(*columns: list[Text]) -> list[Text]:
    """Boxes of equal height side by side, line by line."""
    out = []
    for parts in zip(*columns):
        line = Text(no_wrap=True, overflow="crop")
        for part in parts:
            line.append_text(part)
        out.append(line)
    return out


class Screen:
    """Finished lines, handed to rich as they are: no layout or wrapping work per frame."""

    def __init__(self, lines: list[Text]):
        self.lines = lines

    def __rich_console__(self, console, options):
        last = len(self.lines) - 1
        for n, line in enumerate(self.lines):
            yield from line.render(console, "")
            if n < last:
                yield Segment.line()


def header(s: Snapshot | None, state: ViewState, width: int) -> Text:
    left = f" paratune live · {s.host if s else '…'} · {state.source}"
    flags = []
    if state.paused:
        flags.append("PAUSED (p)")
    if state.status:
        flags.append(state.status)
    if state.notes:
        flags.append(f"{len(state.notes)} note{'s' if len(state.notes) > 1 else ''}")
    if s is not None:
        recent = abs(time.time() - s.t) < 43200
        flags.append(hms(s.t, dated=not recent) + " UTC")
    flags.append("? help ")
    right = " · ".join(flags)
    room = max(0, width - len(right) - 1)
    if len(left) > room:                              # narrow: the program name goes first
        left = f" {s.host if s else '…'} · {state.source}"
    if len(left) > room:
        left = left[:max(0, room - 1)] + "…"
    out = Text(left.ljust(room) + " ", "bold white on blue", no_wrap=True, overflow="crop")
    out.append(right, "bold black on yellow" if state.paused else "bold white on blue")
    out.truncate(width, overflow="crop", pad=True)
    return out


def layout_sizes(height: int) -> tuple[int, int, int]:
    """Content lines of the top row, the alarms/jobs row and the process table."""
    spare = max(0, height - 24)
    top = 5 + min(3, spare // 4)
    mid = 3 + min(5, (spare - (top - 5)) // 3)
    if height < 24:                                   # too small: give up history first
        mid = max(1, mid - (24 - height))
    procs = max(1, height - 1 - (top + 2) - (mid + 2) - 2)
    return top, mid, procs


def render(s: Snapshot | None, state: ViewState, width: int, height: int) -> Screen:
    """The whole screen for a terminal of ``width`` x ``height``: exactly ``height`` lines."""
    lines = [header(s, state, width)]
    body = max(0, height - 1)
    if state.help:
        lines += box(help_lines(state, width - 4), width, body, "help — any key closes", "cyan")
    elif s is None:
        lines += box([Text("waiting for the first sample…", "dim")], width, body, "paratune live")
    else:
        top, mid, procs = layout_sizes(height)
        half = width // 2
        busy = s.metrics.get("cpu_busy_pct", math.nan)
        span = len(s.history.get("cpu_busy_pct", ())) * s.interval_s
        cpu_title = (f"CPU {'–' if _nan(busy) else format(busy, '.0f')}% · {len(s.core_busy)} cores"
                     f" · graphs {span_text(span)}")
        lines += beside(box(cpu_lines(s, half - 4, top), half, top + 2, cpu_title, "green"),
                        box(mem_io_lines(s, width - half - 4, top), width - half, top + 2,
                            "Memory & I/O", "blue"))
        active = len(s.alarms)
        alarms_w = width * 3 // 5
        jobs_title, jobs = jobs_lines(s, width - alarms_w - 4, mid)
        lines += beside(
            box(alarm_lines(s, alarms_w - 4, mid), alarms_w, mid + 2,
                f"Alarms: {active} active" if active else f"Alarms ({s.raised} so far)",
                "red" if active else "grey50", title_style="bold red" if active else "bold"),
            box(jobs, width - alarms_w, mid + 2, jobs_title, "magenta"))
        rows, footer = procs_lines(s, state, width - 4, procs)
        lines += box(rows, width, procs + 2, "Processes", subtitle=footer)
    return Screen(lines[:height])
