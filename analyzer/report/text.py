"""The rich terminal report of ``paratune analyze``."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from analyzer import metrics
from analyzer.pipeline import Analysis
from analyzer.metrics import key_series
from analyzer.report.format import (BOTTLENECK_COLOURS, PHASE_COLOURS, hms, human_bytes, span, sparkline,
                                    spans_days)


def _header(a: Analysis) -> Panel:
    d, tr = a.derived, a.trace
    start, end = d.t[0], d.t[-1]
    start_day = datetime.fromtimestamp(start, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"[bold]{tr.host}[/]  {tr.metadata.get('cpu_model', '')}  {tr.metadata.get('cores', '?')} cores  "
        f"kernel {tr.metadata.get('kernel', '?')}",
        f"{start_day} → {hms(end)}  ({span(end - start + d.interval_s)}), {d.n} samples every "
        f"{d.interval_s:g} s, {len(d.gaps)} gap(s) ({span(d.missing_s)} missing)",
        f"jobs: {', '.join(a.jobs) if a.jobs else 'none'}    run: [bold]{a.run.describe()}[/]",
    ]
    lines += [f"[yellow]note:[/] {n}" for n in tr.notes]
    return Panel("\n".join(lines), title="paratune analyze", border_style="blue")


def _characterization(a: Analysis) -> Panel:
    c = a.characterization
    colour = BOTTLENECK_COLOURS.get(c.label, "white")
    body = Text.from_markup(f"[bold {colour}]{c.label}[/]\n" + "\n".join(f"• {e}" for e in c.evidence))
    return Panel(body, title="bottleneck", border_style=colour)


def _timeline(a: Analysis, width: int) -> Group:
    d = a.derived
    total = max(d.t[-1] - d.t[0] + d.interval_s, 1e-9)
    dated = spans_days(d.t[0], d.t[-1])
    bar = Text()
    used = 0
    for k, p in enumerate(a.phases):
        missing = max(round((p.start - d.t[0]) / total * width) - used, 0)     # a gap: no phase
        bar.append(" " * missing)
        used += missing
        cells = round((p.end - d.t[0]) / total * width) - used if k < len(a.phases) - 1 else width - used
        cells = max(cells, 0)
        used += cells
        bar.append("█" * cells, style=PHASE_COLOURS.get(p.label, "white"))
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    for col in ("#", "start", "end", "length", "phase", "bottleneck", "evidence"):
        table.add_column(col, overflow="fold")
    for k, p in enumerate(a.phases, 1):
        table.add_row(str(k), hms(p.start, dated), hms(p.end, dated), span(p.duration_s),
                      Text(p.label, style=PHASE_COLOURS.get(p.label, "white")),
                      Text(p.bottleneck, style=BOTTLENECK_COLOURS.get(p.bottleneck, "white")), p.evidence)
    return Group(Text("phases", style="bold"), bar, table)


def _processes(a: Analysis) -> Table:
    t = Table(title="top processes by CPU time", title_justify="left", title_style="bold")
    for col, just in (("pid", "right"), ("command", "left"), ("user", "left"), ("job", "left"),
                      ("CPU s", "right"), ("share", "right"), ("mean CPU %", "right"),
                      ("peak RSS", "right"), ("read", "right"), ("written", "right")):
        t.add_column(col, justify=just)
    for r in a.processes.iter_rows(named=True):
        t.add_row(str(r["pid"]), r["comm"] or "?", r["user"] or "?", r["job"] or "",
                  f"{r['cpu_s'] or 0:,.1f}", f"{(r['share'] or 0) * 100:.1f}%",
                  f"{r['cpu_pct_mean'] or 0:.0f}", human_bytes(r["rss_max"]),
                  human_bytes(r["read_bytes"]), human_bytes(r["write_bytes"]))
    return t


def _anomalies(a: Analysis):
    if not a.anomalies:
        return Text("anomalies: none found", style="green")
    t = Table(title="anomalies", title_justify="left", title_style="bold red")
    dated = spans_days(a.derived.t[0], a.derived.t[-1])
    for col in ("kind", "start", "end", "length", "score", "what happened"):
        t.add_column(col, overflow="fold")
    for x in a.anomalies:
        t.add_row(Text(x.kind, style="red"), hms(x.start, dated), hms(x.end, dated),
                  span(x.end - x.start + a.derived.interval_s), f"{x.score:.1f}", x.message)
    return t


def _sparklines(a: Analysis, width: int) -> Table:
    t = Table(box=None, show_header=False, pad_edge=False, title="key metrics over the run",
              title_justify="left", title_style="bold")
    t.add_column("metric")
    t.add_column("history")
    t.add_column("mean", justify="right")
    t.add_column("max", justify="right")
    for name, label in key_series():
        x = a.derived.metrics.get(name)
        if x is None or not np.isfinite(x).any():
            continue
        unit = metrics.unit(name)
        fmt = (lambda v: human_bytes(v) + "/s") if unit == "B/s" else (lambda v: f"{v:.1f}")
        # percentages on their own scale: a steady 2 % is a low line, not a full one
        hi = 100.0 if unit == "%" else None
        t.add_row(label, Text(sparkline(x, width, hi), style="cyan"), fmt(float(np.nanmean(x))),
                  fmt(float(np.nanmax(x))))
    return t


def _job(j) -> Panel:
    t = Table(box=None, show_header=True, header_style="bold")
    for col in ("node", "job CPU % of node", "history", "bottleneck", "anomalies"):
        t.add_column(col)
    for a, row in zip(j.nodes, j.node_cpu):
        mean = f"{np.nanmean(row):.0f}" if np.isfinite(row).any() else "-"
        t.add_row(a.trace.host, mean, Text(sparkline(row, 40), style="cyan"),
                  a.characterization.label, str(len(a.anomalies)))
    lines = [t]
    for x in j.anomalies:
        lines.append(Text(f"{x.kind} {hms(x.start)}–{hms(x.end)}: {x.message}", style="red"))
    if not j.anomalies:
        lines.append(Text("no cross-node imbalance", style="green"))
    return Panel(Group(*lines), title=f"job {j.job} on {len(j.nodes)} nodes", border_style="magenta")


def render(analyses: list[Analysis], console: Console, job=None, advice=None) -> None:
    """``advice``: the run's right-sizing (analyzer.advice_job), shown last."""
    width = max(min(console.width, 160) - 40, 20)
    if job is not None:
        console.print(_job(job))
    for a in analyses:
        console.print(_header(a))
        console.print(_characterization(a))
        console.print(_timeline(a, min(console.width, 160)))
        console.print(_anomalies(a))
        console.print(_processes(a))
        console.print(_sparklines(a, width))
    if advice is not None:
        from analyzer.report.advice import panel
        console.print(panel(advice))
