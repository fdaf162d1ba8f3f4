"""Right-size a job: what it used against what it asked for, the sbatch options that fit, and the node class to run it on.

Each note has its evidence and, where one exists, the exact option to use next
time (--cpus-per-task, --mem, --time, ...).  The allocation comes from the
trace (the recorder captures it from Slurm once per job); without one the run
is compared with the whole node.  --catalog predicts the run's runtime and
cost on each node class of a TOML catalog (docs/advice.md,
packaging/node-classes.example.toml).  Runs of the same command in the
database (--db, $PARATUNE_DB) tell whether this one was unusually slow.
"""
from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(p):
    p.add_argument("paths", nargs="+", metavar="PATH", help="trace files or directories (every node of the job)")
    p.add_argument("--job", help="the Slurm job id (default: the run the analysis picks)")
    p.add_argument("--catalog", type=Path, metavar="FILE.toml", help="node classes to predict the run on")
    p.add_argument("--recorded-on", metavar="CLASS",
                   help="the catalog class the run was recorded on (default: the one with the node's cores and memory)")
    p.add_argument("--db", type=Path, metavar="DIR",
                   help="runs database for the regression note (default $PARATUNE_DB, else the user's own)")
    p.add_argument("--ended", action="store_true",
                   help="the job has finished (the epilog says so), even if the trace ends with it")
    p.add_argument("--json", action="store_true", help="print one JSON document (docs/advice.md)")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="write the report (or the JSON) to FILE instead of stdout")
    p.add_argument("--summary", action="store_true",
                   help="also print one line (the notes' kinds and the options): the job's AdminComment")


def run(args) -> int:
    from rich.console import Console

    from analyzer.advice_job import advise_paths
    from analyzer.report.advice import render, summary
    from analyzer.report.strict_json import dumps
    from paratune_base.files import output_file, write_atomic

    if args.output:
        output_file(args.output)                      # refused before any work
    catalog = None
    if args.catalog:
        from analyzer.node_classes import load_catalog
        catalog = load_catalog(args.catalog)          # before any trace is read
    adv = advise_paths(args.paths, args.job, catalog=catalog, recorded_on=args.recorded_on,
                       db=args.db, ended=True if args.ended else None)
    if args.json:
        text = dumps(adv.to_dict()) + "\n"
    else:
        import io
        console = Console(file=io.StringIO(), width=100) if args.output else Console()
        render(adv, console)
        text = console.file.getvalue() if args.output else ""
    if args.output:
        write_atomic(args.output, lambda tmp: tmp.write_text(text, encoding="utf-8"), "advice")
    elif args.json:
        sys.stdout.write(text)
    if args.summary:
        sys.stdout.write(summary(adv) + "\n")
    return 0
