"""``--plot``: key metrics over time, phases shaded, anomalies marked.

matplotlib draws it (an optional dependency: ``pip install paratune[plot]``);
``.html`` embeds the same PNG in a self-contained page.
"""
from __future__ import annotations

import base64
import html
import io
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from analyzer.pipeline import Analysis

from analyzer import metrics
from analyzer.report.format import PHASE_COLOURS
from paratune_base.errors import ParatuneError
from paratune_base.files import output_file, write_atomic

PANELS = ((("cpu_busy_pct", "cpu_user_pct", "cpu_iowait_pct"), "CPU %"),
          (("mem_used_pct", "psi_mem_some_pct", "psi_io_some_pct"), "memory / PSI %"),
          (("net_rx_Bps", "net_tx_Bps"), "network MB/s"),
          (("disk_read_Bps", "disk_write_Bps"), "disk MB/s"))
MPL_COLOURS = {"grey50": "#999999", "green": "#4caf50", "yellow": "#e6c229", "cyan": "#26c6da",
               "magenta": "#ba68c8", "blue": "#64b5f6", "white": "#dddddd"}


FORMATS = (".png", ".html")
"""What every ``--plot`` writes: a PNG, or a self-contained page of PNGs."""


def check_path(path: Path) -> None:
    """Refuse a --plot name of another format, or a target that is not a
    regular file, before any work is done."""
    if Path(path).suffix.lower() not in FORMATS:
        raise ParatuneError(f"--plot {path}: the file must end in .png or .html")
    output_file(Path(path))


def pyplot():
    """matplotlib's pyplot on the Agg backend (an optional dependency)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ParatuneError("--plot needs matplotlib: pip install 'paratune[plot]'") from None
    return plt


def png(fig, plt) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def write_pngs(pngs: list[tuple[str, bytes]], path: Path) -> None:
    """``path`` as the first PNG, or (``.html``) a page with each titled PNG;
    written whole or not at all, never over anything but a regular file."""
    check_path(path)

    def write(tmp: Path) -> None:
        if path.suffix.lower() == ".png":
            tmp.write_bytes(pngs[0][1])
        else:
            body = "".join(f"<h2>{html.escape(h)}</h2><img src='data:image/png;base64,"
                           f"{base64.b64encode(p).decode()}'/>" for h, p in pngs)
            tmp.write_text(f"<!doctype html><meta charset='utf-8'><title>paratune</title>{body}")
    write_atomic(path, write)


def _figure(a: Analysis):
    plt = pyplot()
    d = a.derived
    when = np.array([datetime.fromtimestamp(t, tz=timezone.utc) for t in d.t])
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(12, 9), sharex=True)
    for ax, (series, ylabel) in zip(axes, PANELS):
        for name in series:
            x = d.metrics.get(name)
            if x is None:
                continue
            ax.plot(when, x / 1e6 if metrics.unit(name) == "B/s" else x, label=metrics.label(name), lw=1)
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper right", fontsize=8)
        for p in a.phases:
            ax.axvspan(datetime.fromtimestamp(p.start, tz=timezone.utc), datetime.fromtimestamp(p.end, tz=timezone.utc),
                       color=MPL_COLOURS.get(PHASE_COLOURS.get(p.label, "white"), "#dddddd"), alpha=0.15, lw=0)
        for x in a.anomalies:
            ax.axvspan(datetime.fromtimestamp(x.start, tz=timezone.utc), datetime.fromtimestamp(x.end, tz=timezone.utc),
                       color="red", alpha=0.12, lw=0, hatch="//")
    for x in a.anomalies:
        axes[0].annotate(x.kind, (datetime.fromtimestamp(x.start, tz=timezone.utc), 100), color="red", fontsize=8)
    axes[0].set_ylim(0, 105)
    axes[0].set_title(f"{a.trace.host}: {a.characterization.label}, {len(a.phases)} phases, "
                      f"{len(a.anomalies)} anomalies (red)")
    axes[-1].set_xlabel("time (UTC)")
    fig.tight_layout()
    return fig, plt


def write_plot(analyses: list[Analysis], path: Path) -> None:
    write_pngs([(a.trace.host, png(*_figure(a))) for a in analyses], path)


def history_figure(df, label: str):
    """An application's runs in the database: duration and CPU busy over time.
    Both axes start at zero, so run-to-run noise is not drawn as a cliff."""
    plt = pyplot()
    when = [datetime.fromtimestamp(t, tz=timezone.utc) for t in df["start"]]
    fig, ax = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    ax[0].plot(when, df["duration_s"], "o-")
    ax[0].set_ylabel("duration (s)")
    ax[0].set_ylim(0, max(1.0, float(df["duration_s"].max() or 0)) * 1.1)
    ax[1].plot(when, df["cpu_busy_pct"], "o-", color="green")
    ax[1].set_ylabel("CPU busy %")
    ax[1].set_ylim(0, 105)
    ax[0].set_title(f"{label}: {df.height} runs")
    ax[1].set_xlabel("run start (UTC)")
    fig.tight_layout()
    return fig, plt
