"""Import other collectors' data as paratune traces: TACC Stats raw files, PCP archives.

  paratune import tacc-stats PATH... [--accounting tacc_jobs_completed] [--out DIR]
  paratune import pcp ARCHIVE... [--job ID] [--out DIR]

Each source file becomes one finished trace per host under DIR
(<date>/<host>-<UTC>.arrow, like `paratune record`); `paratune analyze` and
`paratune jobs` read them.  What paratune records itself is mapped onto its
own columns; everything else the source had is kept in ext_* columns
(docs/importers.md).  Every input is read and checked before anything is
written: a bad input stops the import with one line and writes nothing.
PCP archives are read with PCP's own pmdumplog.
"""
from __future__ import annotations

import sys
from pathlib import Path

from paratune_base.errors import ParatuneError
from paratune_base.files import output_dir


def add_arguments(p):
    sub = p.add_subparsers(dest="source", metavar="SOURCE", parser_class=type(p))
    sub.required = True
    t = sub.add_parser("tacc-stats", help="TACC Stats raw files (gzipped or not) or directories of them")
    t.add_argument("paths", nargs="+", metavar="PATH", help="raw stats files or directories (searched recursively)")
    t.add_argument("--accounting", metavar="FILE", help="tacc_jobs_completed: attach user and job times")
    t.add_argument("-o", "--output", "--out", dest="out", default="paratune-traces", metavar="DIR",
                   help="output directory (default %(default)s)")
    c = sub.add_parser("pcp", help="Performance Co-Pilot pmlogger archives (read with pmdumplog)")
    c.add_argument("paths", nargs="+", metavar="ARCHIVE",
                   help="archive base names (X for X.0, X.meta, X.index), any of their files, or directories")
    c.add_argument("--job", metavar="ID", help="the batch job the archives belong to "
                   "(default: from job-<ID>-... archive names)")
    c.add_argument("-o", "--output", "--out", dest="out", default="paratune-traces", metavar="DIR",
                   help="output directory (default %(default)s)")


def _read_all(inputs, read_one, progress, task) -> list:
    out = []
    for item in inputs:
        progress.update(task, description=f"reading {Path(item).name}")
        out.append(read_one(item))
        progress.advance(task)
    return out


def run(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from collector.importers.build import write_trace
    from collector.writer import skip_pandas

    skip_pandas()
    err = Console(stderr=True)
    if args.source == "tacc-stats":
        from collector.importers import tacc_stats as src
        inputs = src.find_files(args.paths)
        acct = src.read_accounting(Path(args.accounting)) if args.accounting else None
        read_one = lambda p: [src.to_imported(src.parse(p), acct)]  # noqa: E731
    else:
        from collector.importers import pcp as src
        inputs = src.find_archives(args.paths)
        src.check_pmdumplog()
        read_one = lambda a: [src.to_imported(src.read_archive(a), args.job)]  # noqa: E731
    out = output_dir(Path(args.out))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("reading", total=len(inputs))
        hosts = [h for group in _read_all(inputs, read_one, progress, task) for h in group]
        tables = [(h, h.table()) for h in hosts]
        written: list[Path] = []
        try:
            for h, table in tables:
                progress.update(task, description=f"writing {h.host}")
                written.append(write_trace(table, out))
        except OSError as exc:
            for p in written:                       # all or nothing
                p.unlink(missing_ok=True)
            raise ParatuneError(f"cannot write under {out}: {exc.strerror or exc}") from None
    for note in (n for h in hosts for n in h.notes):
        err.print(f"note: {note}", highlight=False)
    for (h, table), path in zip(tables, written):
        jobs = h.metadata.get("jobs") or "none"
        sys.stdout.write(f"{path}  {h.host}  {table.num_rows} samples every ~{float(h.metadata['interval_s']):g} s"
                         f"  jobs: {jobs}\n")
    return 0
