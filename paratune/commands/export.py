"""Write traces as Parquet or CSV, for tools that do not read Arrow (spreadsheets, BI, pandas, R, DuckDB).

By default one row per sample with the per-second node metrics that `paratune
analyze` uses (CPU %, memory, pressure, network and disk rates, ...), times in
UTC.  --raw writes the recorded values instead (counters cumulative, one column
per core, interface, disk, ... and field); --procs writes the process table,
one row per sample and process (with --raw: as recorded).  Several hosts go
into one file with a host column.  The file appears whole or not at all.
docs/export.md lists the columns.
"""
from __future__ import annotations

import sys
from pathlib import Path

from paratune_base.errors import ParatuneError
from paratune_base.files import output_file

_SUFFIX = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="TRACE", help="trace files or directories")
    p.add_argument("--format", "-f", choices=("parquet", "csv"),
                   help="output format (default: from the -o suffix, else parquet)")
    p.add_argument("--procs", action="store_true", help="the process table instead of node metrics")
    p.add_argument("--raw", action="store_true", help="recorded values instead of per-second metrics")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output file, or - for stdout (CSV unless --format parquet); "
                        "default: <first trace name>[-raw][-procs].<format> here")
    p.add_argument("--from", dest="start", metavar="T", help="start time: ISO 8601 (UTC), epoch s or +N[smhd]")
    p.add_argument("--to", dest="end", metavar="T", help="end time, same forms")
    p.add_argument("--job", metavar="ID", help="only the span of this batch job on each host")


def _output(args, fmt: str) -> Path:
    if args.output is not None:
        return Path(args.output)
    stem = Path(args.paths[0]).resolve().name
    for suffix in (".arrow.part", ".arrow"):
        stem = stem.removesuffix(suffix)
    return Path(f"{stem}{'-raw' if args.raw else ''}{'-procs' if args.procs else ''}.{fmt}")


def run(args) -> int:
    from analyzer import export
    from analyzer.load import load

    stdout = args.output == "-"
    if stdout:
        fmt = args.format or "csv"
        if fmt == "parquet" and sys.stdout.isatty():
            raise ParatuneError("-o - with --format parquet would write binary to the terminal; redirect it")
    else:
        fmt = args.format or _SUFFIX.get(Path(args.output or "").suffix.lower(), "parquet")
    out = None if stdout else output_file(_output(args, fmt))   # a device, FIFO or directory: refused now
    traces = load(args.paths, args.start, args.end, args.job, skip=frozenset())
    shape = ("raw-" if args.raw else "") + "procs" if args.procs else ("raw" if args.raw else "samples")
    if out is not None and out.resolve() in {p.resolve() for t in traces for p in t.files}:
        raise ParatuneError(f"{out} is one of the traces being exported; choose another -o")
    df = export.table(traces, shape)
    if stdout:
        export.write_stream(df, sys.stdout.buffer, fmt)
        return 0
    meta = {"paratune.shape": shape, "paratune.hosts": ",".join(t.host for t in traces)}
    if len(traces) == 1:
        meta.update({f"paratune.{k}": v for k, v in traces[0].metadata.items()})
    export.write(df, out, fmt, meta)
    hosts = ", ".join(t.host for t in traces)
    print(f"wrote {out}: {df.height} rows x {df.width} columns ({shape}, {fmt}) from {hosts}")
    return 0
