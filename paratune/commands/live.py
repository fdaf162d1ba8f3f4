"""Watch a node live in a full-screen terminal view, follow a trace being written, or replay one.

  paratune live                          this node, sampled every second
  paratune live --record DIR             ... and recorded like `paratune record`
  paratune live --follow DIR_OR_PART     a trace the recorder is writing
  paratune live --replay TRACE --speed 10 [--from +5m]

Panels: CPU by state and per core, memory, swap, pressure (PSI), network and
disk rates, alarms from the analyzer's anomaly rules (run online, same
thresholds as `paratune analyze`), running jobs and the top processes.
Keys: q quit, p pause, s cycle the process sort, arrows scroll, ? help.

Needs a terminal; --once prints a single snapshot instead (for pipes and
scripts; with --replay, the screen at the end of the trace).
"""
from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("--interval", "-i", type=float, default=1.0, metavar="S",
                        help="seconds between samples of this node (default: 1)")
    parser.add_argument("--record", metavar="DIR",
                        help="also record the samples into DIR, as `paratune record --output DIR`")
    parser.add_argument("--follow", metavar="PATH",
                        help="tail a trace being written: a .arrow.part file or a recording directory")
    parser.add_argument("--replay", metavar="TRACE", help="play a recorded trace (file or directory)")
    parser.add_argument("--speed", type=float, default=1.0, metavar="N",
                        help="replay speed, times real time (default: 1)")
    parser.add_argument("--from", dest="start", metavar="T",
                        help="replay from T: ISO 8601, epoch seconds or +N[smhd] after the start")
    parser.add_argument("--once", action="store_true",
                        help="print one snapshot and exit (no terminal needed)")
    parser.add_argument("--top", type=int, default=20, metavar="N",
                        help="busiest processes of system users to sample (default: 20)")


def run(args) -> int:
    from collector.writer import skip_pandas
    from paratune_base.errors import ParatuneError
    from paratune.live.loop import print_once
    from paratune.live.loop import run as run_view
    from paratune.live.sources import open_source

    if not args.interval >= 0.1:
        raise ParatuneError(f"--interval must be at least 0.1 s, got {args.interval:g}")
    if not args.speed > 0:
        raise ParatuneError(f"--speed must be > 0, got {args.speed:g}")
    if args.top < 0:
        raise ParatuneError(f"--top must be >= 0, got {args.top}")
    if args.record and (args.follow or args.replay):
        raise ParatuneError("--record records this node: it does not go with --follow or --replay")
    if args.start and not args.replay:
        raise ParatuneError("--from needs --replay")
    if not args.once and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ParatuneError("needs a terminal (stdin and stdout must be a TTY); "
                            "use --once to print one snapshot")
    skip_pandas()                  # ~1 s of start-up and 45 MB that the view never uses
    source = open_source(args)
    try:
        return print_once(source) if args.once else run_view(source)
    finally:
        source.close()
