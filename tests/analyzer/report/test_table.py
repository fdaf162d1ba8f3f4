"""The listing commands' table (analyzer.report.table) on terminals of every width.

Rendered by rich into a Console of a fixed width, as a terminal of that width
would show it; tests/paratune/test_jobs_terminal.py runs ``paratune jobs`` in
a real one."""
from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from analyzer.report.format import human_bytes, iso, span
from analyzer.report.table import fit, header_lines, show

T = 1_767_607_200.0                                  # 2026-01-05 10:00:00 UTC
JOB_COLUMNS = (("job", "left"), ("user", "left"), ("nodes", "right"), ("first seen", "left"),
               ("last seen", "left"), ("span", "right"), ("CPU-hours", "right"),
               ("peak memory/node", "right"), ("processes", "right"))
JOBS = [("8765432", "alice", 2, T, T + 3600), ("8765433", "bob", 1, T + 600, T + 90_000),
        ("8765434", "carol", 16, T + 2 * 86_400, T + 2 * 86_400 + 50)]


def _rows(jobs=JOBS):
    """Cells as ``paratune jobs`` makes them."""
    return [(j, u, str(n), iso(a), iso(b), span(b - a), f"{n * (b - a) / 3600:.3f}", human_bytes(2.5e9 * n),
             str(4 * n)) for j, u, n, a, b in jobs]


def _render(width: int, columns=JOB_COLUMNS, rows=None, terminal: bool = True) -> str:
    console = Console(width=width, file=io.StringIO(), force_terminal=terminal, color_system=None)
    show(console, "3 job(s)", columns, _rows() if rows is None else rows)
    return console.file.getvalue()


def _time_tokens(text: str) -> list[str]:
    """Every run of digits with - or : in it: what is left of a date or a time, whole or not."""
    return re.findall(r"\d[\d:-]*[:-][\d:-]*", text)


def _assert_times_whole(text: str, width: int) -> None:
    lines = text.rstrip("\n").split("\n")
    assert max(len(line) for line in lines) <= width, text
    assert "…" not in text, text
    tokens = _time_tokens(text)
    assert tokens and all(re.fullmatch(r"\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d", t) for t in tokens), text


@pytest.mark.parametrize("width", [80, 100, 60])
def test_no_time_is_cut_on_a_narrow_terminal(width):
    text = _render(width)
    _assert_times_whole(text, width)
    for time in ("10:00:00", "11:00:00", "10:10:00", "10:00:50"):
        assert re.search(rf"(?<![\d:]){time}(?![\d:])", text), time
    for day in ("2026-01-05", "2026-01-06", "2026-01-07"):
        assert day in text
    assert "times in UTC" in text


def test_80_columns_wrap_without_folding_anything():
    """At 80 columns the jobs table drops its box and wraps at spaces: every job id,
    user, span and number is whole on its line, a dated time is two lines."""
    text = _render(80)
    words = set(text.split())
    for job, user, *_ in JOBS:
        assert job in words and user in words
    for cell in ("1h00m00s", "24h50m00s", "50s", "2.000", "24.833", "0.222", "memory/", "processes"):
        assert cell in words, cell
    assert "┃" not in text and "─" * 40 in text
    first = next(line for line in text.splitlines() if line.startswith("8765432"))
    assert re.search(r"2026-01-05\s+2026-01-05", first)          # the dates, then the times below
    below = text.splitlines()[text.splitlines().index(first) + 1]
    assert re.search(r"10:00:00\s+11:00:00", below)


def test_dates_only_where_they_change():
    text = _render(200)                                        # room for everything: one line a row
    rows = [line for line in text.splitlines() if line.startswith("│ 87654")]
    assert len(rows) == 3
    first_seen = [re.split(r"\s*│\s*", r)[4] for r in rows]
    last_seen = [re.split(r"\s*│\s*", r)[5] for r in rows]
    assert first_seen == ["2026-01-05 10:00:00", "10:10:00", "2026-01-07 10:00:00"]
    assert last_seen == ["2026-01-05 11:00:00", "2026-01-06 11:00:00", "2026-01-07 10:00:50"]
    assert "┏" in text                                         # it keeps its box


def test_times_are_shown_in_utc():
    rows = [("a", "2026-01-05T12:00:00+02:00"), ("b", "2026-01-05T23:30:00-01:00"), ("c", "")]
    text = _render(120, (("what", "left"), ("when", "left")), rows)
    assert "2026-01-05 10:00:00" in text and "2026-01-06 00:30:00" in text


def test_a_pipe_gets_every_value_whole():
    text = _render(80, terminal=False)
    lines = text.splitlines()
    assert lines[0].split("\t") == [name for name, _ in JOB_COLUMNS]
    assert lines[1].split("\t")[3:5] == ["2026-01-05T10:00:00+00:00", "2026-01-05T11:00:00+00:00"]
    assert len(lines) == 1 + len(JOBS)


def test_columns_that_are_not_all_times_are_left_alone():
    rows = [("x", "2026-01-05T10:00:00+00:00"), ("y", "soon")]
    text = _render(120, (("what", "left"), ("when", "left")), rows)
    assert "2026-01-05T10:00:00+00:00" in text and "times in UTC" not in text


def test_more_columns_than_fit_still_keep_times_whole():
    """Three more columns (the efficiencies another change adds) at 80 and 60: other
    words may fold, times never do."""
    columns = JOB_COLUMNS + (("CPU eff", "right"), ("mem eff", "right"), ("time eff", "right"))
    rows = [r + ("85%", "40%", "12%") for r in _rows()]
    for width in (80, 60):
        _assert_times_whole(_render(width, columns, rows), width)


def test_fit_chooses_box_then_gap_then_wraps():
    names = ["job", "first seen"]
    cells = [["1", "2026-01-05 10:00:00"]]
    assert fit(names, cells, [1], 40) == ([None, None], None)     # 3 + 19 + 3 * 2 + 1 = 29
    assert fit(names, cells, [1], 24) == ([None, None], 2)        # 3 + 19 + 2
    assert fit(names, cells, [1], 16) == ([3, 11], 2)             # wrapped at the space: 10 + 1 spare
    assert fit(names, cells, [1], 14) == ([3, 10], 1)


def test_headers_break_at_spaces_and_after_slashes_and_dashes():
    assert header_lines("peak memory/node", 7) == "peak\nmemory/\nnode"
    assert header_lines("peak memory/node", 11) == "peak\nmemory/node"
    assert header_lines("CPU-hours", 5) == "CPU-\nhours"
    assert header_lines("first seen", 20) == "first seen"
