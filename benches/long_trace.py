"""Build a long trace (a node-day and more) from the real recordings in sample_traces/.

    .venv/bin/python benches/long_trace.py OUT.arrow [--seconds 86400]
    .venv/bin/python benches/long_trace.py OUTDIR --hourly     # as the recorder writes a day

The recordings are laid end to end, over and over, with their timestamps
(wall and monotonic) shifted so the result is one continuous 1 Hz trace.
Counters restart at each seam, which the analyzer sees as a counter reset
(one NaN rate per seam), as it would after a daemon restart.  Used by the
end-to-end and kernel benchmarks, which need real signal shapes at a length
no one wants to record.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.reader import read_trace  # noqa: E402
from collector.writer import write_finished  # noqa: E402


def _day(seconds: int, sources=None) -> pa.Table:
    """The recordings laid end to end, shifted into one continuous 1 Hz table."""
    sources = sources or sorted((ROOT / "sample_traces").glob("*.arrow"))
    if not sources:
        raise SystemExit("no recordings in sample_traces/")
    tables = [read_trace(p).table for p in sources]
    schema = tables[0].schema
    ts0 = tables[0].column("ts")[0].value
    parts, written, k = [], 0, 0
    next_ts, next_mono = ts0, 1_000_000_000_000
    while written < seconds:
        t = tables[k % len(tables)]
        k += 1
        t = t.slice(0, min(t.num_rows, seconds - written))
        ts = t.column("ts").cast(pa.int64()).to_numpy()
        mono = t.column("mono_ns").to_numpy().astype("int64")
        new_ts = next_ts + (ts - ts[0])
        new_mono = next_mono + (mono - mono[0])
        next_ts, next_mono = int(new_ts[-1]) + 1_000_000, int(new_mono[-1]) + 1_000_000_000
        t = t.set_column(t.schema.get_field_index("ts"), schema.field("ts"),
                         pa.array(new_ts, pa.int64()).cast(schema.field("ts").type))
        t = t.set_column(t.schema.get_field_index("mono_ns"), schema.field("mono_ns"),
                         pa.array(new_mono.astype("uint64"), pa.uint64()))
        parts.append(t.cast(schema))
        written += t.num_rows
    return pa.concat_tables(parts).combine_chunks()


def shifted(table: pa.Table, seconds: int) -> pa.Table:
    """``table`` moved ``seconds`` later, wall and monotonic clocks alike
    (the same day recorded again, for a history of many days)."""
    ts = table.schema.get_field_index("ts")
    mono = table.schema.get_field_index("mono_ns")
    moved = pa.array(table.column("ts").cast(pa.int64()).to_numpy() + seconds * 1_000_000, pa.int64())
    table = table.set_column(ts, table.schema.field("ts"), moved.cast(table.schema.field("ts").type))
    return table.set_column(mono, table.schema.field("mono_ns"),
                            pa.array(table.column("mono_ns").to_numpy() + seconds * 1_000_000_000, pa.uint64()))


def _write(path: Path, table: pa.Table, compression: str = "zstd") -> None:
    """One finished file, written as the recorder's finaliser writes it: from
    the 10-sample batches of its flushes, merged."""
    write_finished(path, table.schema, table.to_batches(max_chunksize=10), compression)


def _with_host(table: pa.Table, host: str | None) -> pa.Table:
    if host is None:
        return table
    meta = dict(table.schema.metadata or {})
    meta[b"paratune.host"] = host.encode()
    return table.replace_schema_metadata(meta)


def build(out: Path, seconds: int, sources=None, host: str | None = None) -> Path:
    """One file of ``seconds`` samples (rotation off)."""
    _write(out, _with_host(_day(seconds, sources), host))
    return out


def build_node_day(out_dir: Path, seconds: int = 86_400, sources=None, host: str | None = None,
                   rotate: int = 3600, day: pa.Table | None = None, compression: str = "zstd") -> Path:
    """``seconds`` samples in the recorder's layout: one finished file per
    ``rotate`` seconds under ``out_dir/<UTC date>/<host>-<UTC time>.arrow``,
    compressed as a recorder set to ``compression`` writes them.  Pass ``day``
    (from a previous call's ``_day``) to reuse the shifted table."""
    table = _with_host(day if day is not None else _day(seconds, sources), host)
    name = (table.schema.metadata or {}).get(b"paratune.host", b"node").decode()
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    for a in range(0, table.num_rows, rotate):
        first = datetime.fromtimestamp(ts[a] / 1e6, timezone.utc)
        folder = out_dir / first.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / f"{name}-{first.strftime('%Y%m%dT%H%M%SZ')}.arrow", table.slice(a, rotate), compression)
    return out_dir


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="a file, or with --hourly a directory")
    ap.add_argument("--seconds", type=int, default=86_400)
    ap.add_argument("--hourly", action="store_true",
                    help="the recorder's layout: one finished file per hour under OUT/<date>/")
    ap.add_argument("--host", help="the host name the files are recorded under (default: the recordings')")
    args = ap.parse_args()
    if args.hourly:
        build_node_day(args.out, args.seconds, host=args.host)
        files = sorted(args.out.rglob("*.arrow"))
    else:
        files = [build(args.out, args.seconds, host=args.host)]
    size = sum(f.stat().st_size for f in files)
    print(f"{args.out}: {args.seconds} samples in {len(files)} file(s), {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
