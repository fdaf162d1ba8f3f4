"""A fleet's work, planned from file names alone: one unit per host and UTC day.

The collector writes ``<root>/<date>/<host>-<time>.arrow``; planning years of
history must not open every file, so the host, the day and whether a file can
hold a sample of a time window are read from its name.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from analyzer.times import is_relative, parse_time
from collector.reader import find_traces
from collector.schema import trace_metadata

_STAMP = re.compile(r"-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-\d+)?\.arrow(?:\.part)?$")
"""The recorder's file names: ``<host>-<UTC time of the first sample>[-N].arrow``."""

CLOCK_SLACK_S = 86_400.0
"""How far a sample may lie outside the span its file names imply (a wall
clock stepped back) before ``in_window`` may leave its file out: a day,
since reading a file too many costs one read and one too few loses data."""


@dataclass(frozen=True)
class Unit:
    """The files of one host for one UTC day: the piece of work a worker gets."""
    host: str
    day: str                     # YYYY-MM-DD, "" when the file names carry no date
    files: tuple[str, ...]


_PLAIN_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
"""Host names the recorder writes into file names unchanged (``safe_host``
turns other characters into ``_``, so a name with one may be a rewrite)."""


def _stamp(path: Path) -> tuple[str, datetime] | None:
    """The host part and the first sample's time of a recorder's file name."""
    m = _STAMP.search(path.name)
    if not m:
        return None
    try:
        return path.name[:m.start()], datetime(*map(int, m.groups()), tzinfo=timezone.utc)
    except ValueError:               # digits that are no date: a file named otherwise
        return None


def _named_host(path: Path) -> str | None:
    """The host a recorder's file name gives, when the name can only be that host's."""
    stamp = _stamp(path)
    host = stamp[0] if stamp else ""
    return host if _PLAIN_HOST.fullmatch(host) and host != "unknown" else None


def _host_of(path: Path) -> str:
    """The host that recorded a file: the one its name gives in the recorder's
    layout (planning years of history must not open every file: ~0.15 ms
    each, in the parent, before any work starts), else the one its schema
    names; ``summarize`` checks names against schemas.  A file named
    otherwise that cannot be opened gets its file name, and ``summarize``
    reports why."""
    named = _named_host(path)
    if named is not None:
        return named
    try:
        with pa.memory_map(str(path)) as source:
            try:
                schema = pa.ipc.open_file(source).schema
            except pa.ArrowInvalid:
                source.seek(0)
                schema = pa.ipc.open_stream(source).schema
        return trace_metadata(schema).get("host") or path.name
    except (pa.ArrowException, OSError, ValueError):
        return path.name


def _day_of(path: Path) -> str:
    stamp = _stamp(path)
    return stamp[1].strftime("%Y-%m-%d") if stamp else ""


def in_window(paths: list[Path], start: str | None, end: str | None) -> list[Path]:
    """The files that may hold a sample between ``start`` and ``end``, judged
    from their names alone, so a window over years of history opens only its
    days.  A file's first sample is the time in its name, and it ends before
    the next file of its host under the same root begins (one recorder, one
    sequence); a host's last file may run on.  Files named otherwise, and
    windows relative to each trace's start, keep every file."""
    if is_relative(start) or is_relative(end):
        return paths
    lo, hi = parse_time(start), parse_time(end)
    if lo is None and hi is None:
        return paths
    sequences: dict[tuple[Path, str], list[tuple[float, Path]]] = {}
    kept = []
    for p in paths:
        stamp = _stamp(p)
        if stamp is None:
            kept.append(p)
        else:        # <root>/<date>/<host>-<time>.arrow: one recorder's files
            sequences.setdefault((p.parent.parent, stamp[0]), []).append((stamp[1].timestamp(), p))
    for files in sequences.values():
        files.sort()
        for (begins, p), after in zip(files, [*files[1:], None]):
            ends = after[0] if after else math.inf
            if (hi is None or begins - CLOCK_SLACK_S <= hi) and (lo is None or ends + CLOCK_SLACK_S >= lo):
                kept.append(p)
    return sorted(kept)


def plan(paths) -> list[Unit]:
    """Every (host, day) under ``paths``, in host then day order."""
    groups: dict[tuple[str, str], list[str]] = {}
    for path in find_traces(paths):
        groups.setdefault((_host_of(path), _day_of(path)), []).append(str(path))
    return [Unit(h, d, tuple(sorted(f))) for (h, d), f in sorted(groups.items())]


def within(units: list[Unit], start: str | None, end: str | None) -> list[Unit]:
    """The units, each with only the files that may hold a sample between
    ``start`` and ``end`` (``in_window``); units left with none are dropped."""
    kept = set(in_window([Path(f) for u in units for f in u.files], start, end))
    out = [Unit(u.host, u.day, tuple(f for f in u.files if Path(f) in kept)) for u in units]
    return [u for u in out if u.files]


def hosts(units: list[Unit]) -> int:
    return len({u.host for u in units})
