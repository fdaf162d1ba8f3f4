"""The command line: one verb per module, one place that turns errors into exit codes.

Each module in ``paratune.commands`` is one verb: its docstring is its help,
``add_arguments(parser)`` declares its options and ``run(args) -> int`` does the
work by calling the library.  Every expected problem is a ``ParatuneError``;
this is the one place that prints it.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from paratune_base import __version__
from paratune_base.collector import spare_at_exit
from paratune_base.errors import ParatuneError

DESCRIPTION = ("paratune: a per-second HPC job profiler. It records nodes, then says what a run "
               "looked like, what kind of application it is, what went wrong and when, and what to change.")

COMMANDS = tuple(m for m in ("record", "analyze", "advise", "live", "jobs", "db", "compare",
                                "export", "import")
                 if importlib.util.find_spec(f"paratune.commands.{m}"))


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other error
        self.exit(2, f"paratune: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="paratune", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"paratune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"paratune.commands.{name}")
        doc = (module.__doc__ or "").strip()
        p = sub.add_parser(name, help=doc.splitlines()[0] if doc else None, description=doc,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except ParatuneError as exc:
        print(f"paratune {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:             # a reader that stopped early (| head): nothing to say
        _stdout_to_devnull()
        return 0
    except OSError as exc:              # the machine's, not the input's: a full disk, an I/O error
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"paratune {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        _stdout_to_devnull()
        return 1


def _stdout_to_devnull() -> None:
    """What is left in stdout's buffer cannot be written either: let the
    flush at exit go nowhere instead of printing a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def entry() -> int:
    """The console script: ``main``, then an exit without the shutdown's
    walk over every live object (about 0.2 s after an ``analyze``; see
    paratune_base.collector).  Not in ``main``: callers that stay alive
    (tests, a notebook) keep a normal collector."""
    rc = main()
    spare_at_exit()
    return rc


if __name__ == "__main__":
    sys.exit(entry())
