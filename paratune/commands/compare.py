"""Compare two runs, or a run against an application's history in the database.

  paratune compare A.arrow B.arrow        how B differs from A (the reference), with effect sizes, phase by phase
  paratune compare A.arrow --app LAMMPS   the run against the stored runs labelled LAMMPS (the reference)
"""
from __future__ import annotations

import sys
from pathlib import Path

from analyzer.report.strict_json import dumps
from paratune_base.errors import ParatuneError


def add_arguments(p):
    p.add_argument("a", metavar="A", help="trace (file or directory of one host)")
    p.add_argument("b", metavar="B", nargs="?", help="the trace to compare with")
    p.add_argument("--app", metavar="APP", help="compare A with the stored runs of this application")
    p.add_argument("--db", type=Path, help="database directory (with --app)")
    p.add_argument("--all", action="store_true", help="show every metric, not only significant differences")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def _one(path):
    from analyzer.pipeline import analyze_trace
    from analyzer.load import load
    traces = load([path])
    if len(traces) != 1:
        raise ParatuneError(f"{path} holds {len(traces)} hosts: compare one host's trace at a time")
    return analyze_trace(traces[0])


def run(args) -> int:
    if (args.b is None) == (args.app is None):
        raise ParatuneError("give either a second trace B or --app APP")
    from analyzer.compare import compare_history, compare_runs
    a = _one(args.a)
    if args.app:
        import polars as pl
        from analyzer.database import Database
        hist = Database(args.db).table().filter(pl.col("label") == args.app)
        if hist.height == 0:
            raise ParatuneError(f"no runs labelled {args.app!r} in the database")
        result = compare_history(a, hist, args.app)
    else:
        result = compare_runs(a, _one(args.b))
    if args.json:
        doc = dict(result, differences=[d.to_dict() for d in result["differences"]])
        sys.stdout.write(dumps(doc) + "\n")
        return 0
    from rich.console import Console

    from analyzer.report.compare import render
    ref, other = ((f"history of {args.app} ({result['runs']} runs, medians)", str(args.a)) if args.app
                  else (str(args.a), str(args.b)))
    render(result, Console(), ref, other, args.all, history=bool(args.app))
    return 0
