"""List the batch jobs seen in traces: id, user, nodes, first/last seen, CPU-hours, peak memory, efficiencies.

Jobs are the Slurm job ids the collector attributed to processes (through the
cgroup path or SLURM_JOB_ID).  Use `paratune analyze PATH... --job ID` to
analyse one of them, `paratune advise PATH... --job ID` to right-size it.
Efficiencies compare use with the job's recorded Slurm allocation: CPU time
over allocated CPUs x elapsed, peak memory over the limit, elapsed over the
time limit ("-" where the trace has no allocation).
"""
from __future__ import annotations

import sys

from analyzer.report.strict_json import dumps


def add_arguments(p):
    p.add_argument("paths", nargs="+", metavar="PATH", help="trace files or directories")
    p.add_argument("--from", dest="start", metavar="T",
                   help="only samples from this time: ISO 8601 (UTC unless it names a zone), epoch s or +N[smhd]")
    p.add_argument("--to", dest="end", metavar="T", help="only samples up to this time, same forms")
    p.add_argument("--user", metavar="USER", help="only this user's jobs")
    p.add_argument("--json", action="store_true", help="print the table as JSON")


def run(args) -> int:
    import polars as pl
    from rich.console import Console

    from analyzer.jobs import job_table
    from analyzer.load import load
    from analyzer.report.jobs import render, rows_for_json

    jobs = job_table(load(args.paths, args.start, args.end))
    if args.user:
        jobs = jobs.filter(pl.col("user") == args.user)
    if args.json:
        sys.stdout.write(dumps(rows_for_json(jobs)) + "\n")
        return 0
    render(jobs, Console())
    return 0
