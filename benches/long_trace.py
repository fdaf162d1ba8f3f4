"""Build a long trace (a node-day and more) from the real recordings in sample_traces/.

    .venv/bin/python benches/long_trace.py OUT.arrow [--seconds 86400]

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
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.reader import read_trace  # noqa: E402


def build(out: Path, seconds: int, sources=None) -> Path:
    sources = sources or sorted((ROOT / "sample_traces").glob("*.arrow"))
    if not sources:
        raise SystemExit("no recordings in sample_traces/")
    tables = [read_trace(p).table for p in sources]
    schema = tables[0].schema
    ts0 = tables[0].column("ts")[0].value
    written, k = 0, 0
    next_ts, next_mono = ts0, 1_000_000_000_000
    with pa.OSFile(str(out), "wb") as sink, pa.ipc.new_file(
            sink, schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
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
            w.write_table(t.cast(schema), max_chunksize=3600)
            written += t.num_rows
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seconds", type=int, default=86_400)
    args = ap.parse_args()
    build(args.out, args.seconds)
    print(f"{args.out}: {args.seconds} samples, {args.out.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
