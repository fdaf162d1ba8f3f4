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

import numpy as np

from analyzer.analysis import Analysis
from analyzer.report.format import PHASE_COLOURS
from paratune.errors import ParatuneError

PANELS = ((("cpu_busy_pct", "busy"), ("cpu_user_pct", "user"), ("cpu_iowait_pct", "iowait")), "CPU %"), \
         ((("mem_used_pct", "used"), ("psi_mem_some_pct", "PSI mem"), ("psi_io_some_pct", "PSI io")), "memory / PSI %"), \
         ((("net_rx_Bps", "net rx"), ("net_tx_Bps", "net tx")), "network MB/s"), \
         ((("disk_read_Bps", "read"), ("disk_write_Bps", "write")), "disk MB/s")
MPL_COLOURS = {"grey50": "#999999", "green": "#4caf50", "yellow": "#e6c229", "cyan": "#26c6da",
               "magenta": "#ba68c8", "blue": "#64b5f6", "white": "#dddddd"}


def _figure(a: Analysis):
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ParatuneError("--plot needs matplotlib: pip install 'paratune[plot]'") from None
    d = a.derived
    when = np.array([datetime.fromtimestamp(t, tz=timezone.utc) for t in d.t])
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(12, 9), sharex=True)
    for ax, (series, ylabel) in zip(axes, PANELS):
        for name, label in series:
            x = d.metrics.get(name)
            if x is None:
                continue
            ax.plot(when, x / 1e6 if name.endswith("Bps") else x, label=label, lw=1)
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
    pngs = []
    for a in analyses:
        fig, plt = _figure(a)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        pngs.append((a.trace.host, buf.getvalue()))
    tmp = path.with_name(path.name + ".tmp")
    try:
        if path.suffix.lower() == ".png":
            tmp.write_bytes(pngs[0][1])
        else:
            body = "".join(f"<h2>{html.escape(h)}</h2><img src='data:image/png;base64,"
                           f"{base64.b64encode(p).decode()}'/>" for h, p in pngs)
            tmp.write_text(f"<!doctype html><meta charset='utf-8'><title>paratune</title>{body}")
        tmp.replace(path)            # never a half-written plot under the real name
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ParatuneError(f"cannot write {path}: {exc.strerror}") from None
