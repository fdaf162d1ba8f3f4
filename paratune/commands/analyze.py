"""Analyse node traces: run characterisation, phases, bottleneck and anomalies.

PATH is a trace file (.arrow, or .arrow.part of a recorder still running or
killed) or a directory of them; segments of one host are stitched in time
order.  With --job over several nodes' traces, each node is reported and the
job as a whole: nodes aligned in time, a whole-job fingerprint and
cross-node imbalance.  Times for --from/--to are ISO 8601, epoch seconds or +N[smhd] after
the first sample.
"""
from __future__ import annotations

import sys
from pathlib import Path

from paratune.errors import ParatuneError


def add_arguments(p):
    p.add_argument("paths", nargs="+", metavar="PATH", help="trace files or directories")
    p.add_argument("--job", help="analyse only the span and processes of this job id")
    p.add_argument("--from", dest="start", metavar="T", help="first time to include")
    p.add_argument("--to", dest="end", metavar="T", help="last time to include")
    p.add_argument("--json", action="store_true", help="print one JSON document (docs/analyze-json.md)")
    p.add_argument("--plot", metavar="FILE", help="write key metrics with phases and anomalies (.png or .html)")


def run(args) -> int:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from analyzer.analysis import analyze_trace
    from analyzer.load import load

    if args.plot and Path(args.plot).suffix.lower() not in (".png", ".html"):
        raise ParatuneError(f"--plot {args.plot}: the file must end in .png or .html")
    err = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("reading traces", total=None)
        traces = load(args.paths, args.start, args.end, args.job)
        analyses = []
        for tr in traces:
            progress.update(task, description=f"analysing {tr.host} ({tr.n} samples)")
            analyses.append(analyze_trace(tr))
    job = None
    if args.job and len(analyses) > 1:
        from analyzer.job import analyze_job
        job = analyze_job(args.job, analyses)
    if args.plot:
        from analyzer.report.plot import write_plot
        write_plot(analyses, Path(args.plot))
    if args.json:
        from analyzer.report.json_out import render
        sys.stdout.write(render(analyses, job) + "\n")
    else:
        from analyzer.report.text import render
        render(analyses, Console(), job)
    return 0
