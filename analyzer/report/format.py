"""Numbers, times and colours as every report shows them (terminal, JSON,
plot, fleet), without the analyzer behind them: a fleet's parent and the
``jobs`` and ``db`` commands format results they did not compute."""
from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

PHASE_COLOURS = {"idle": "grey50", "compute": "green", "io": "yellow", "network": "cyan",
                 "memory": "magenta", "startup": "blue", "shutdown": "blue"}
BOTTLENECK_COLOURS = {"compute-bound": "green", "memory-bound": "magenta", "io-bound": "yellow",
                      "network-bound": "cyan", "idle": "grey50", "mixed": "white"}
SPARK = "▁▂▃▄▅▆▇█"


def hms(t: float, dated: bool = False) -> str:
    """A UTC time of day; with ``dated`` (a table that spans days) the date too."""
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S" if dated else "%H:%M:%S")


def spans_days(start: float, end: float) -> bool:
    """Whether UTC times from ``start`` to ``end`` fall on more than one day."""
    return int(start // 86400) != int(end // 86400)


def span(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def human_bytes(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(x) < 1024 or unit == "TiB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024


def iso(t: float | None) -> str | None:
    if t is None or not math.isfinite(t):
        return None
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds")


def percent(share: float | None) -> str:
    """A 0-1 share as whole percent, "-" when unknown."""
    return "-" if share is None or share != share else f"{share:.0%}"


def sparkline(values, width: int, hi: float | None = None) -> str:
    """``values`` (oldest first) as at most ``width`` block characters: the report's
    history columns and the live view's graphs.

    Each character is the mean of the finite values of one bin of consecutive
    values (the bins split the values as evenly as they can), blank when the bin
    has none.  Eight levels of equal height from 0 to ``hi`` (by default the
    highest bin): ``█`` from 7/8 of it up, ``▁`` below 1/8 and for negative
    means; all ``▁`` when no bin is above 0.
    """
    x = np.asarray(values, dtype=np.float64)
    if width <= 0 or x.size == 0:
        return ""
    starts = np.linspace(0, x.size, min(width, x.size) + 1).astype(np.int64)[:-1]
    ok = np.isfinite(x)
    counts = np.add.reduceat(ok.astype(np.int64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.add.reduceat(np.where(ok, x, 0.0), starts) / counts
    top = hi if hi is not None else (float(np.max(means[counts > 0])) if counts.any() else 0.0)
    levels = (np.clip(np.maximum(means, 0.0) / top * len(SPARK), 0, len(SPARK) - 1) if top > 0
              else np.zeros(means.size))
    return "".join(SPARK[int(v)] if n else " " for v, n in zip(levels, counts))


def finite_or_none(x) -> float | None:
    """A number for JSON: None where it is NaN or infinite."""
    x = float(x)
    return x if math.isfinite(x) else None
