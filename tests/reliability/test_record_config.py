"""Bad settings for ``paratune record``: one line naming the problem, a non-zero exit, nothing created."""
from __future__ import annotations

import pytest

from paratune.cli import main
from tests.mounts import tmpfs

AREA = "bad configuration and arguments"

TOML = [
    ("[record]\nintervall = 1\n", "unknown key record.intervall"),
    ("[recorder]\ninterval = 1\n", "unknown key 'recorder'"),
    ("[record]\ninterval = \"fast\"\n", "interval must be a number"),
    ("[record]\ninterval = -1\n", "interval must be at least 0.1"),
    ("[record]\nflush = -5\n", "flush"),
    ("[record]\nrotate = 0\n", "rotate"),
    ("[record]\ntop_n = 2.5\n", "top_n must be an integer"),
    ("[record]\nbuffer_limit = 0\n", "buffer_limit must be at least 1"),
    ("[record]\ncompression = \"gzip\"\n", "compression must be one of"),
    ("[record]\noutput = 5\n", "output must be a path"),
    ("[record]\ncmdline = \"yes\"\n", "cmdline must be true or false"),
    ("record = 3\n", "record must be a table"),
    ("[record\ninterval = 1\n", "not valid TOML"),
    ("\xff\xfe binary", "not valid TOML"),
]

ARGS = [
    (["--interval", "-1"], "interval must be at least 0.1"),
    (["--interval", "0"], "interval must be at least 0.1"),
    (["--interval", "nan"], "interval must be a number"),
    (["--interval", "inf"], "interval must be a number"),
    (["--interval", "fast"], "invalid float value"),
    (["--flush", "-1"], "flush"),
    (["--duration", "-3"], "duration must be positive"),
    (["--rotate", "-60"], "rotate"),
    (["--top", "-1"], "top_n must be 0 or more"),
    (["--top-n", "-1"], "top_n must be 0 or more"),
    (["--min-uid", "-1"], "min_uid must be 0 or more"),
    (["--compression", "gzip"], "invalid choice"),
    (["--config", "{tmp}/missing.toml"], "does not exist"),
    (["--config", "{tmp}"], "cannot read config file"),
    (["--no-such-option"], "unrecognized arguments"),
    (["--output", "{tmp}/a-file/sub"], "cannot create output directory"),
]


def run_record(capsys, argv: list[str]) -> tuple[int, str]:
    capsys.readouterr()
    try:
        rc = main(["record", *argv])
    except SystemExit as exc:           # argparse's own errors: one line, exit 2
        rc = exc.code
    return rc, capsys.readouterr().err


def test_bad_config_files_and_arguments(tmp_path, capsys, reliability):
    (tmp_path / "a-file").write_text("not a directory")
    cases, survived = [], 0
    for k, (text, needle) in enumerate(TOML):
        cfg = tmp_path / f"bad{k}.toml"
        cfg.write_bytes(text.encode("latin-1"))
        cases.append((["--config", str(cfg)], needle))
    cases += [([a.replace("{tmp}", str(tmp_path)) for a in argv], needle) for argv, needle in ARGS]
    out = tmp_path / "never"
    try:
        for argv, needle in cases:
            argv = ["--output", str(out), "--duration", "1", *argv]     # argv comes last: it wins
            rc, err = run_record(capsys, argv)
            assert rc not in (0, None) and err.count("\n") == 1 and needle in err, (argv, rc, err)
            assert "Traceback" not in err and not out.exists(), argv
            survived += 1
    finally:
        reliability.record("paratune record with a bad TOML file or bad options", len(cases), survived,
                           "nothing: no output directory is created",
                           f"{len(TOML)} config files (unknown keys, wrong types, negative or zero "
                           f"intervals, bad TOML), {len(ARGS)} command lines (negative/NaN/inf "
                           "values, unknown options, unwritable output)")


def test_read_only_output(tmp_path, capsys):
    """An existing directory the recorder may not write (as root, only a read-only mount does it)."""
    with tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        rc, err = run_record(capsys, ["--output", str(ro), "--duration", "1"])
    assert rc == 1 and err == f"paratune record: error: cannot write to output directory {ro}: " \
                              "Read-only file system\n"
