"""Record node telemetry at a fixed interval into Arrow trace files.

Samples /proc and /sys every --interval seconds (aligned to the wall clock) and
writes <output>/<YYYY-MM-DD>/<host>-<start>.arrow, one file per --rotate
seconds.  The file being written is <name>.arrow.part, an Arrow IPC stream
that stays readable if the recorder is killed; it becomes <name>.arrow when
the segment ends.  SIGTERM/SIGINT stop cleanly, SIGHUP starts a new file.

--prometheus [HOST:]PORT also serves the latest sample to Prometheus
(node_exporter's metric names where they overlap; docs/prometheus.md).  A bare
port listens on 127.0.0.1 only; give 0.0.0.0:PORT to open it to the network.

Settings: defaults, then the [record] table of --config (without it,
/etc/paratune/paratune.toml when it exists), then the options.  Under
systemd's StateDirectory= the default output is that directory.
"""
from __future__ import annotations

import logging
import os
import sys

from collector.config import COMPRESSIONS, SYSTEM_CONFIG, Config, load_config


def add_arguments(parser) -> None:
    d = Config()
    parser.add_argument("--output", "-o", metavar="DIR",
                        help=f"where trace files go (default: $STATE_DIRECTORY under systemd, else ./{d.output})")
    parser.add_argument("--interval", "-i", type=float, metavar="S",
                        help=f"seconds between samples, at least 0.1 (default: {d.interval:g})")
    parser.add_argument("--duration", "-d", type=float, metavar="S",
                        help="stop after this many seconds (default: until SIGTERM/SIGINT)")
    parser.add_argument("--flush", type=float, metavar="S",
                        help=f"seconds between writes to disk: the most a crash loses (default: {d.flush:g})")
    parser.add_argument("--rotate", type=float, metavar="S",
                        help=f"seconds per file; files also change at UTC midnight (default: {d.rotate:g})")
    parser.add_argument("--top-n", "--top", type=int, metavar="N", dest="top_n",
                        help=f"besides every process of non-system users, record the N busiest others "
                             f"(default: {d.top_n})")
    parser.add_argument("--min-uid", type=int, metavar="UID", dest="min_uid",
                        help=f"record every process of users from this uid up (default: {d.min_uid}; 0: every "
                             "process, e.g. for jobs run as root)")
    parser.add_argument("--cmdline", action="store_true", default=None,
                        help="record command lines (secrets redacted); off by default")
    parser.add_argument("--compression", choices=COMPRESSIONS,
                        help=f"compression of the record batches (default: {d.compression})")
    parser.add_argument("--prometheus", metavar="[HOST:]PORT",
                        help="serve the latest sample as Prometheus metrics at http://HOST:PORT/metrics "
                             "(HOST defaults to 127.0.0.1: this node only)")
    parser.add_argument("--config", metavar="FILE.toml",
                        help=f"read settings from this TOML file (default: {SYSTEM_CONFIG} if it exists)")
    parser.add_argument("--proc-root", metavar="DIR", help="read /proc from here (default: /proc)")
    parser.add_argument("--sys-root", metavar="DIR", help="read /sys from here (default: /sys)")


def _setup_logging() -> None:
    """One line per event on stderr; journald adds its own timestamps under systemd."""
    fmt = "%(levelname)s %(message)s" if os.environ.get("JOURNAL_STREAM") \
        else "%(asctime)s paratune record: %(levelname)s %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt, "%Y-%m-%dT%H:%M:%S%z"))
    root = logging.getLogger("paratune")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def _small_memory_pool() -> None:
    """Arrow's buffers from malloc rather than the wheel's default mimalloc pool,
    which maps and touches ~4 MiB of its own at the first allocation: a tenth of
    the recorder's memory, for a few kB of rows a flush where the pool's speed
    does not show.  Arrow reads the variable when pyarrow is imported (its C++
    code keeps using that pool whatever ``pa.set_memory_pool`` says later), so
    this must run before anything on the record path imports pyarrow; once it
    is imported (a caller in the same process) nothing changes.  A value the
    user set still decides."""
    if "pyarrow" not in sys.modules:
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def run(args) -> int:
    _small_memory_pool()
    from collector.daemon import Recorder

    config = load_config(args.config, SYSTEM_CONFIG, output=args.output, interval=args.interval,
                         duration=args.duration, flush=args.flush, rotate=args.rotate,
                         top_n=args.top_n, min_uid=args.min_uid, cmdline=args.cmdline, compression=args.compression,
                         proc_root=args.proc_root, sys_root=args.sys_root, prometheus=args.prometheus)
    _setup_logging()
    return Recorder(config).run()
