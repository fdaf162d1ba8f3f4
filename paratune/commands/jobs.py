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
    from rich.console import Console

    from analyzer.jobs import job_table
    from analyzer.load import load
    from analyzer.report.format import human_bytes, iso, percent, span

    import polars as pl
    jobs = job_table(load(args.paths, args.start, args.end))
    if args.user:
        jobs = jobs.filter(pl.col("user") == args.user)
    if args.json:
        rows = [dict(r, first_seen=iso(r["first_seen"]), last_seen=iso(r["last_seen"]))
                for r in jobs.to_dicts()]
        sys.stdout.write(dumps(rows) + "\n")
        return 0
    console = Console()
    if jobs.height == 0:
        console.print("no jobs: no process in these traces was attributed to a batch job")
        return 0
    from analyzer.report.table import show
    show(console, f"{jobs.height} job(s)",
         (("job", "left"), ("user", "left"), ("nodes", "right"), ("first seen", "left"), ("last seen", "left"),
          ("span", "right"), ("CPU-hours", "right"), ("peak memory/node", "right"), ("processes", "right"),
          ("CPU eff", "right"), ("mem eff", "right"), ("time eff", "right")),
         [(r["job"], r["user"] or "?", str(r["nodes"]), iso(r["first_seen"]), iso(r["last_seen"]),
           span(r["last_seen"] - r["first_seen"]), f"{r['cpu_hours']:.3f}", human_bytes(r["peak_rss_node"]),
           str(r["processes"]), percent(r["cpu_eff"]), percent(r["mem_eff"]), percent(r["time_eff"]))
          for r in jobs.iter_rows(named=True)])
    return 0
