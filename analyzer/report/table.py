"""Tables of the listing commands: boxed on a terminal, tab-separated elsewhere.

A pipe, a cron mail or a log file gets every value whole (rich would cut
times and headers to the console width), one header line, then one line
per row, fields separated by tabs: ``cut``, ``awk`` and spreadsheets read it.
"""
from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table


def show(console: Console, title: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> None:
    """``columns``: (name, "left" | "right"); ``rows``: the cells as text."""
    if not console.is_terminal:
        console.file.write("\t".join(name for name, _ in columns) + "\n")
        for row in rows:
            console.file.write("\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in row) + "\n")
        return
    t = Table(title=title, title_justify="left")
    for name, justify in columns:
        t.add_column(name, justify=justify)
    for row in rows:
        t.add_row(*row)
    console.print(t)
