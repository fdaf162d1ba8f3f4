"""The run-characteristic database: add runs, list them, recognise a new run.

  paratune db add TRACE... [--label APP] [--job ID]   store one fingerprint per run (per job with --job)
  paratune db list [--label APP]                      the stored runs
  paratune db show ID                                 one run, with its fingerprint
  paratune db remove ID
  paratune db classify TRACE [--json]                 the nearest known applications, or `unknown`
  paratune db history APP [--plot F.png|F.html]       how an application's runs evolved
  paratune db report [-o FILE.parquet]                site summary by application and bottleneck

The database is a directory of Parquet files (--db DIR before or after the
action; default $PARATUNE_DB, which a site sets for a shared one, else
$XDG_DATA_HOME/paratune/db); polars and DuckDB read it directly.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analyzer.report.strict_json import dumps
from paratune_base.errors import ParatuneError


DB_HELP = ("database directory (default: $PARATUNE_DB, else $XDG_DATA_HOME/paratune/db); "
           "before or after the action")


def add_arguments(p):
    p.add_argument("--db", type=Path, metavar="DIR", help=DB_HELP)
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: when given only before the action, the action's parser must not reset it to None
    common.add_argument("--db", type=Path, metavar="DIR", default=argparse.SUPPRESS, help=DB_HELP)
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    sub.required = True

    def action(name, help_):
        return sub.add_parser(name, help=help_, parents=[common])

    a = action("add", "store the fingerprint of each run (trace or directory of one host)")
    a.add_argument("paths", nargs="+", metavar="TRACE", help="trace files or directories, one run each")
    a.add_argument("--label", help="the application's name, e.g. LAMMPS")
    a.add_argument("--job", help="store this job only (all its nodes' traces)")
    ls = action("list", "the stored runs")
    ls.add_argument("--label", metavar="APP", help="only the runs of this application")
    ls.add_argument("--json", action="store_true", help="print the runs as JSON")
    sh = action("show", "one stored run")
    sh.add_argument("id", help="the run's id (db list)")
    sh.add_argument("--json", action="store_true", help="print the run as JSON")
    action("remove", "delete one stored run").add_argument("id", help="the run's id (db list)")
    c = action("classify", "recognise the application of a run")
    c.add_argument("paths", nargs="+", metavar="TRACE", help="trace files or directories, one run each")
    c.add_argument("--job", metavar="ID", help="classify this job (all its nodes' traces)")
    c.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    h = action("history", "how an application's runs evolved")
    h.add_argument("label", metavar="APP", help="the application's label")
    h.add_argument("--plot", metavar="FILE.png|FILE.html", help="also draw duration and CPU busy per run")
    h.add_argument("--json", action="store_true", help="print the runs as JSON")
    r = action("report", "site summary")
    r.add_argument("-o", "--output", "--out", dest="out", type=Path, metavar="FILE.parquet",
                   help="also write the summary as Parquet")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")


def _analyses(paths, job=None):
    """One analysis per run: each PATH on its own (a file, or a directory of
    one run's segments), except for a job, whose nodes' traces belong together."""
    from analyzer.pipeline import analyze_trace
    from analyzer.load import load
    if job is not None:
        return [analyze_trace(t) for t in load(paths, job=job)]
    return [analyze_trace(t) for p in paths for t in load([p])]


def _add(db, args):
    from analyzer.database import job_record, record_of
    analyses = _analyses(args.paths, args.job)
    if args.job and len(analyses) > 1:       # one run = the whole job over its nodes
        from analyzer.job import analyze_job
        rows = [job_record(analyze_job(args.job, analyses), args.label)]
    else:
        rows = [record_of(a, args.label) for a in analyses]
    for row in rows:
        if not row.get("finished", True):
            print(f"warning: {row['source']} is still being written (.part): storing the run as it is now",
                  file=sys.stderr)
    ids = db.add(rows)
    for rid, row in zip(ids, rows):
        what = f"{row['label'] or '(no label)'}  {row['hosts'][0]}  {row['duration_s']:.0f} s  {row['bottleneck']}"
        print(f"added {rid}  {what}" if rid else f"already stored: {what} ({row['source']})")
    return 0


def _list(db, args):
    import polars as pl
    from rich.console import Console

    from analyzer.report.format import iso
    from analyzer.report.table import show
    df = db.table(["id", "label", "job", "user", "hosts", "start", "duration_s", "bottleneck",
                   "cpu_busy_pct", "anomalies"])
    if args.label:
        df = df.filter(pl.col("label") == args.label)
    df = df.sort("start")
    if args.json:
        print(dumps([dict(r, start=iso(r["start"])) for r in df.to_dicts()]))
        return 0
    show(Console(), f"{df.height} run(s) in {db.path}",
         [(c, "left") for c in ("id", "label", "job", "user", "hosts", "start", "duration", "bottleneck",
                                "CPU busy", "anomalies")],
         [(r["id"], r["label"] or "", r["job"] or "", r["user"] or "", ",".join(r["hosts"] or []),
           iso(r["start"]) or "", f"{r['duration_s']:.0f} s", r["bottleneck"], f"{r['cpu_busy_pct']:.0f}%",
           str(r["anomalies"])) for r in df.iter_rows(named=True)])
    return 0


def _show(db, args):
    from analyzer.report.format import iso
    row = db.get(args.id)
    doc = dict(row)
    doc["start"] = iso(row["start"])
    if args.json:
        print(dumps(doc))
        return 0
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"run {args.id}", title_justify="left", show_header=False)
    t.add_column("field")
    t.add_column("value")
    for k, v in doc.items():
        if not k.startswith("f.") and v not in (None, 0) or k in ("anomalies",):
            t.add_row(k, str(v))
    feats = {k[2:]: v for k, v in doc.items() if k.startswith("f.") and v is not None}
    t.add_row("features", f"{len(feats)} (use --json for all)")
    for k in ("cpu_busy_pct.mean", "cpu_user_pct.mean", "mem_used_pct.max", "net_rx_Bps.mean",
              "disk_write_Bps.mean", "run.top1_share"):
        if k in feats:
            t.add_row(f"  {k}", f"{feats[k]:.4g}")
    Console().print(t)
    return 0


def _remove(db, args):
    db.remove(args.id)
    print(f"removed {args.id}")
    return 0


def _classify(db, args):
    from analyzer.fingerprint import feature_names
    from analyzer.recognition import classify
    index = db.index()
    names = list(feature_names())
    results = [(a, classify(index, a.fingerprint.vector(names), names, command=a.run.comm))
               for a in _analyses(args.paths, args.job)]
    if args.json:
        docs = [c.to_dict() for _, c in results]
        print(dumps(docs[0] if len(docs) == 1 else docs))
        return 0
    from rich.console import Console
    from rich.table import Table
    console = Console()
    for a, c in results:
        verdict = f"[bold green]{c.label}[/]" if c.label != "unknown" else "[bold yellow]unknown[/]"
        how = (f"by its command {a.run.comm}, behaviour distance {c.distance:.2f}" if c.by == "name" else
               f"by behaviour: distance {c.distance:.2f}, within {c.threshold:.2f} for that label")
        console.print(f"{a.trace.host}: looks like {verdict} ({how}; score {c.score:.2f})")
        t = Table(show_header=True)
        for col in ("label", "score", "distance", "threshold", "nearest run"):
            t.add_column(col)
        for cand in c.candidates:
            t.add_row(cand["label"], f"{cand['score']:.2f}", f"{cand['distance']:.2f}", f"{cand['threshold']:.2f}",
                      cand["id"])
        console.print(t)
    return 0


def _history(db, args):
    import polars as pl
    from rich.console import Console

    from analyzer.report.format import iso
    from analyzer.report.table import show
    df = (db.table(["id", "label", "start", "duration_s", "cpu_busy_pct", "cpu_hours", "bottleneck", "anomalies",
                    "hosts"]).filter(pl.col("label") == args.label).sort("start"))
    if df.height == 0:
        raise ParatuneError(f"no runs labelled {args.label!r} in {db.path}")
    if args.plot:
        from analyzer.report.plot import check_path, history_figure, png, write_pngs
        check_path(Path(args.plot))
        write_pngs([(args.label, png(*history_figure(df, args.label)))], Path(args.plot))
    if args.json:
        print(dumps([dict(r, start=iso(r["start"])) for r in df.to_dicts()]))
        return 0
    med = df["duration_s"].median()
    show(Console(), f"{args.label}: {df.height} run(s)",
         [(c, "left") for c in ("start", "id", "hosts", "duration", "vs median", "CPU busy", "CPU-hours",
                                "bottleneck", "anomalies")],
         [(iso(r["start"]), r["id"], ",".join(r["hosts"]), f"{r['duration_s']:.0f} s",
           f"{r['duration_s'] / med:.2f}x" + (" slow" if r["duration_s"] > 1.2 * med else ""),
           f"{r['cpu_busy_pct']:.0f}%", f"{r['cpu_hours']:.3f}", r["bottleneck"], str(r["anomalies"]))
          for r in df.iter_rows(named=True)])
    return 0


def _report(db, args):
    import polars as pl
    from rich.console import Console
    from rich.table import Table

    df = db.table(["label", "bottleneck", "cpu_hours", "anomalies", "duration_s"]).with_columns(
        pl.col("label").fill_null("(unlabelled)"))
    by_app = (df.group_by("label").agg(pl.len().alias("runs"), pl.col("cpu_hours").sum(),
                                       pl.col("anomalies").sum(), (pl.col("anomalies").sum() / pl.len()).alias("anomalies_per_run"),
                                       pl.col("bottleneck").mode().first().alias("usual_bottleneck"))
              .sort("cpu_hours", descending=True))
    by_bottleneck = df.group_by("bottleneck").agg(pl.len().alias("runs"), pl.col("cpu_hours").sum()).sort("runs", descending=True)
    if args.out and str(args.out) != "-":        # -o -: stdout, where the summary goes anyway
        from paratune_base.files import write_atomic
        write_atomic(Path(args.out), by_app.write_parquet)
    if args.json:
        print(dumps({"by_application": by_app.to_dicts(), "by_bottleneck": by_bottleneck.to_dicts()}))
        return 0
    console = Console()
    for title, frame in ((f"runs and CPU-hours by application ({df.height} runs)", by_app),
                         ("by bottleneck", by_bottleneck),
                         ("most anomalous applications", by_app.sort("anomalies_per_run", descending=True).head(5))):
        t = Table(title=title, title_justify="left")
        for col in frame.columns:
            t.add_column(col)
        for r in frame.iter_rows():
            t.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in r])
        console.print(t)
    return 0


def run(args) -> int:
    from analyzer.database import Database
    db = Database(args.db)
    if args.action not in ("add",) and not db.files():
        if args.action in ("list", "report"):
            print(f"the database at {db.path} is empty: add runs with `paratune db add TRACE --label APP`")
            return 0
        raise ParatuneError(f"the database at {db.path} is empty: add runs with `paratune db add TRACE --label APP`")
    return {"add": _add, "list": _list, "show": _show, "remove": _remove,
            "classify": _classify, "history": _history, "report": _report}[args.action](db, args)
