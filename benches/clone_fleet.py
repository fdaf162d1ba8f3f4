"""A fleet of N hosts from one host's recorded files, in seconds instead of an hour.

    .venv/bin/python benches/clone_fleet.py SRC DST --hosts 1000

Building a node-day with ``long_trace.build_node_day`` compresses ~150 MB at
the recorder's zstd level (~2.5 s), so 1000 of them would take ~45 minutes;
these copies take ~30 s (13 GB written).
A host's name is stored only in each file's schema (in the header and again
in the footer), so a copy under a same-length name is a valid trace of
another host with the same samples: this writes such copies, checking each
file holds the name exactly twice.  Every copy reads and analyses like the
original, which is what a throughput measurement needs; outliers there are
none, since all hosts agree.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analyzer.fleet_units import _stamp

NAME_COPIES = 2
"""Times a finished file holds its host's name: its schema at the start and in the footer."""


def clone(src: Path, dst: Path, hosts: int) -> int:
    """Copies of the one host's files under ``src`` for hosts ``node0000``..; returns files written."""
    files = sorted(src.rglob("*.arrow"))
    stamps = [_stamp(f) for f in files]
    if not files or None in stamps:
        raise SystemExit(f"{src}: needs files in the recorder's layout (<host>-<UTC time>.arrow)")
    names = {host for host, _ in stamps}
    if len(names) != 1:
        raise SystemExit(f"{src}: needs the files of exactly one host, found {sorted(names)}")
    host = names.pop()
    width = len(host) - len("node")
    if width < len(str(hosts - 1)):
        raise SystemExit(f"host name {host!r} is too short for {hosts} same-length names")
    written = 0
    for f in files:
        data = f.read_bytes()
        if data.count(host.encode()) != NAME_COPIES:
            raise SystemExit(f"{f}: holds {host!r} {data.count(host.encode())} times, not {NAME_COPIES}")
        out_dir = dst / f.relative_to(src).parent
        out_dir.mkdir(parents=True, exist_ok=True)
        for k in range(hosts):
            new = f"node{k:0{width}d}"
            (out_dir / (new + f.name[len(host):])).write_bytes(data.replace(host.encode(), new.encode()))
            written += 1
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="one host's files in the recorder's layout")
    ap.add_argument("dst", type=Path)
    ap.add_argument("--hosts", type=int, required=True)
    args = ap.parse_args()
    n = clone(args.src, args.dst, args.hosts)
    print(f"{args.dst}: {n} files, {args.hosts} hosts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
