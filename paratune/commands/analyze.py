"""Analyse node traces: run characterisation, phases, bottleneck and anomalies.

PATH is a trace file (.arrow, or .arrow.part of a recorder still running or
killed) or a directory of them; segments of one host are stitched in time
order.  With --job over several nodes' traces, each node is reported and the
job as a whole: nodes aligned in time, a whole-job fingerprint and
cross-node imbalance.  Times for --from/--to are ISO 8601, epoch seconds or +N[smhd] after
the first sample.

Over several hosts (without --job), or with --fleet, the result is a fleet
summary: each host's day is analysed on its own, in parallel (--workers,
default all cores this process may use, or a Dask cluster with --scheduler),
then nodes, jobs and outlier nodes -- nodes unlike the other nodes of their
job or their day -- are tabulated (docs/fleet.md).
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from paratune_base.errors import ParatuneError
from paratune_base.files import output_file


def add_arguments(p):
    p.add_argument("paths", nargs="+", metavar="PATH", help="trace files or directories")
    p.add_argument("--job", help="analyse only the span and processes of this job id")
    p.add_argument("--from", dest="start", metavar="T",
                   help="first time to include: ISO 8601 (UTC unless it names a zone), epoch s or +N[smhd]")
    p.add_argument("--to", dest="end", metavar="T", help="last time to include, same forms")
    p.add_argument("--json", action="store_true", help="print one JSON document (docs/analyze-json.md)")
    p.add_argument("--plot", metavar="FILE", help="write key metrics with phases and anomalies (.png or .html)")
    fleet = p.add_argument_group("fleets (many hosts)")
    fleet.add_argument("--fleet", action="store_true", help="a fleet summary even for one host")
    fleet.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: all cores)")
    fleet.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on this Dask scheduler (tcp://host:8786) instead of local workers")
    fleet.add_argument("-o", "--output", "--out", dest="out", metavar="FILE.parquet|-",
                       help="also write the node table here (jobs, outliers, anomalies next to it); - is stdout only")
    fleet.add_argument("--cache", metavar="DIR", type=Path,
                       help="keep node-day summaries here (default $PARATUNE_CACHE/fleet, else "
                            "$XDG_CACHE_HOME or ~/.cache, /paratune/fleet): finished node-days are analysed once")
    fleet.add_argument("--no-cache", action="store_true", help="analyse every node-day, keep nothing")


def run(args) -> int:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from collector.writer import skip_pandas

    if args.plot:
        from analyzer.report.plot import check_path
        check_path(Path(args.plot))
    skip_pandas()   # pyarrow would import pandas (~0.6 s) on its first conversion; nothing here needs it
    if args.out == "-":
        args.out = None            # -o -: stdout, where the report (or --json) goes anyway
    err = Console(stderr=True)
    if not args.job:
        from analyzer.fleet_units import hosts, plan
        units = plan(args.paths)
        if args.fleet or hosts(units) > 1:
            return _fleet(args, units, err)
    if args.out or args.workers or args.scheduler or args.cache:
        raise ParatuneError("--out, --workers, --scheduler and --cache are for fleets: several hosts or --fleet")
    # imported here, not above: a fleet's parent only plans and tabulates, and
    # numba's ~1 s import would delay every worker's start
    from analyzer.pipeline import analyze_trace
    from analyzer.load import load
    from paratune_base.collector import spare_what_exists
    with spare_what_exists(), Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
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
        from analyzer.advice_job import advise_analyses
        from analyzer.report.text import render
        advice = advise_analyses(analyses, args.job, cross=job.anomalies if job else None)
        render(analyses, Console(), job, advice)
    return 0


def _fleet(args, units, err) -> int:
    from rich.console import Console

    from analyzer.fleet import assemble
    from analyzer.fleet_units import within
    from analyzer.report import fleet as report

    if not units:
        raise ParatuneError("no trace files in " + ", ".join(map(str, args.paths)))
    planned = len(units)
    units = within(units, args.start, args.end)      # before any file is read
    if not units:
        raise ParatuneError(f"no samples between --from and --to in {planned} node-days")
    if args.plot:
        raise ParatuneError("--plot draws one node's run; for a fleet use --json or --out")
    if args.out and Path(args.out).suffix.lower() != ".parquet":
        raise ParatuneError(f"--out {args.out}: the file must end in .parquet")
    if args.out:
        output_file(Path(args.out))                 # before hours of analysis, not after
    fleet = assemble(_summaries(args, units, err))
    if fleet.nodes.height == 0:
        raise ParatuneError(f"no samples between --from and --to in {planned} node-days")
    if fleet.errors.height == fleet.nodes.height:
        raise ParatuneError(f"no readable trace among {len(units)} node-days: {fleet.errors['error'][0]}")
    if args.out:
        report.write_parquet(fleet, Path(args.out))
    if args.json:
        report.write_json(fleet, sys.stdout)
        sys.stdout.write("\n")
    else:
        out = Console()
        # a fleet table has a dozen columns: wider than 80 when written to a file or pipe
        report.render_text(fleet, out if out.is_terminal else Console(width=max(out.width, 120)))
    return 0


def _summaries(args, units, err) -> Iterator[dict]:
    """Every unit's summary (analyzer.summary_cache.summaries), with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from analyzer.summary_cache import SummaryCache, default_root, summaries

    if args.cache and args.no_cache:
        raise ParatuneError("--cache and --no-cache: choose one")
    cache = None if args.no_cache else SummaryCache(args.cache or default_root())
    if cache and not cache.usable:
        err.print(f"paratune: not using the cache {cache.root}: it must be a directory of yours that "
                  "nobody else may write to", highlight=False)
        cache = None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("analysing node-days", total=len(units))
        for result in summaries(units, args.start, args.end, cache, args.workers, args.scheduler,
                                on_done=lambda: progress.advance(task)):
            yield result
    if cache and cache.hits:
        err.print(f"paratune: {cache.hits} of {len(units)} node-days from the cache ({cache.dir.parent})",
                  highlight=False)
