"""Tables of the listing commands: boxed on a terminal, tab-separated elsewhere.

A pipe, a cron mail or a log file gets every value whole (rich would cut
times and headers to the console width), one header line, then one line
per row, fields separated by tabs: ``cut``, ``awk`` and spreadsheets read it.

On a terminal the table fits its width and no value is cut.  Times (cells in
ISO 8601 with a zone, as ``format.iso`` writes them) are shown in UTC the way
the analyze report shows them: the time of day, and the date only on the
first row and where it changes down the column.  A table too wide for its box
loses the box (a rule under the header, two spaces between columns), then
wraps: text at spaces, headers also after ``/`` and ``-``, a dated time onto
two lines.  Only when even that does not fit (a very narrow terminal, many
columns) are the longest non-time words folded, never times.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")


def show(console: Console, title: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> None:
    """``columns``: (name, "left" | "right"); ``rows``: the cells as text."""
    if not console.is_terminal:
        console.file.write("\t".join(name for name, _ in columns) + "\n")
        for row in rows:
            console.file.write("\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in row) + "\n")
        return
    cells = [[str(c) for c in row] for row in rows]
    times = [k for k in range(len(columns)) if _is_time_column(cells, k)]
    for k in times:
        _shorten_times(cells, k)
    if times:
        title += " · times in UTC"
    names = [name for name, _ in columns]
    widths, gap = fit(names, cells, times, console.width)
    if gap is None:
        t = Table(title=title, title_justify="left")
    else:                                            # a rule under the header, ``gap`` spaces between columns
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 1) if gap == 2 else 0, collapse_padding=True)
    for (name, justify), w in zip(columns, widths):
        t.add_column(name if w is None else header_lines(name, w), justify=justify, width=w, overflow="fold")
    for row in cells:
        t.add_row(*row)
    console.print(t)


# ---------------------------------------------------------------- times

def _is_time_column(cells: list[list[str]], k: int) -> bool:
    values = [row[k] for row in cells if row[k]]
    return bool(values) and all(_ISO.fullmatch(v) for v in values)


def _shorten_times(cells: list[list[str]], k: int) -> None:
    """ISO times in column ``k`` as UTC ``HH:MM:SS``, preceded by the date on the first
    row and wherever the date differs from the row above's."""
    day = None
    for row in cells:
        if not row[k]:
            continue
        t = datetime.fromisoformat(row[k].replace("Z", "+00:00")).astimezone(timezone.utc)
        clock = t.strftime("%H:%M:%S")
        row[k] = clock if t.date() == day else f"{t:%Y-%m-%d} {clock}"
        day = t.date()


# ---------------------------------------------------------------- widths

def _pieces(text: str) -> list[str]:
    """Where a header may break: at spaces and after / and - ("memory/", "node")."""
    return [p for word in text.split() for p in re.findall(r"[^/-]+[/-]*|[/-]+", word)]


def header_lines(name: str, width: int) -> str:
    """``name`` broken into lines of at most ``width`` cells where ``_pieces`` allows."""
    lines, line = [], ""
    for word in name.split():
        for n, piece in enumerate(_pieces(word)):
            joined = line + (" " if n == 0 and line else "") + piece
            if line and cell_len(joined) > width:
                lines.append(line)
                line = piece
            else:
                line = joined
    return "\n".join(lines + [line])


def fit(names: Sequence[str], cells: list[list[str]], times: Sequence[int],
        width: int) -> tuple[list[int | None], int | None]:
    """Cell widths for a terminal ``width`` wide, and the space between columns:
    None for a boxed table, else 2 or 1 (no box).

    Widths are None where rich may size a column itself (the natural widths
    fit).  Else every column gets at least its longest word, and headers their
    longest piece; what is left goes first to the columns that need least to
    fit unwrapped.  When that does not fit either, headers fold, then the
    longest words of the columns other than times.
    """
    n = len(names)
    natural = [max([cell_len(names[k])] + [cell_len(r[k]) for r in cells]) for k in range(n)]
    if sum(natural) + 3 * n + 1 <= width:            # a box: padding and a border per column, one more
        return [None] * n, None
    if sum(natural) + 2 * (n - 1) <= width:
        return [None] * n, 2
    words = [max([cell_len(w) for r in cells for w in r[k].split()], default=1) for k in range(n)]
    least = [max([words[k]] + [cell_len(p) for p in _pieces(names[k])]) for k in range(n)]
    for gap in (2, 1):
        room = width - gap * (n - 1)
        if sum(least) <= room:
            return _grow(least, natural, room), gap
    room = width - (n - 1)
    if sum(words) <= room:                           # headers fold
        return _grow(words, least, room), 1
    keep = [words[k] if k in times else 1 for k in range(n)]    # other words fold
    return _grow(keep, words, room), 1


def _grow(widths: list[int], goal: list[int], room: int) -> list[int]:
    """``widths`` grown towards ``goal`` within ``room`` cells in all: the columns
    that need least first, the last one as far as what is left allows."""
    widths = widths[:]
    spare = room - sum(widths)
    for k in sorted(range(len(widths)), key=lambda k: goal[k] - widths[k]):
        grow = max(0, min(goal[k] - widths[k], spare))
        widths[k] += grow
        spare -= grow
    return widths
