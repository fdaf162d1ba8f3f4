"""One CLI vocabulary: every option and sub-command says what it does, and the
output option has the same name everywhere."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from paratune.cli import build_parser, main


def _parsers(parser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, path + (name,))


PARSERS = list(_parsers(build_parser()))


@pytest.mark.parametrize("path,parser", PARSERS, ids=[" ".join(p) or "paratune" for p, _ in PARSERS])
def test_every_option_has_help(path, parser):
    missing = [a.option_strings or a.dest for a in parser._actions
               if not isinstance(a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction))
               and not a.help]
    assert not missing, f"paratune {' '.join(path)}: {missing}"
    parser.format_help()                         # renders without error


def test_output_is_dash_o_everywhere():
    """Every command that writes a file or directory takes -o/--output."""
    writers = {("record",), ("export",), ("analyze",), ("db", "report"), ("import", "tacc-stats"), ("import", "pcp")}
    for path, parser in PARSERS:
        if path in writers:
            opts = {o for a in parser._actions for o in a.option_strings}
            assert {"-o", "--output"} <= opts, path


def test_db_goes_before_or_after_the_action(tmp_path, capsys):
    trace = Path(__file__).resolve().parents[2] / "sample_traces" / "stress-cpu.arrow"
    db = str(tmp_path / "db")
    assert main(["db", "--db", db, "add", str(trace), "--label", "stress"]) == 0
    for argv in (["db", "--db", db, "list", "--json"], ["db", "list", "--db", db, "--json"]):
        capsys.readouterr()
        assert main(argv) == 0
        assert [r["label"] for r in json.loads(capsys.readouterr().out)] == ["stress"]


def test_paratune_db_environment_names_a_shared_database(tmp_path, monkeypatch):
    from analyzer.database import default_path
    monkeypatch.setenv("PARATUNE_DB", str(tmp_path / "site"))
    assert default_path() == tmp_path / "site"
