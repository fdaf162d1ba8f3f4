"""Recorder settings: TOML file, command-line overrides and one-line errors naming the key."""
import subprocess
import sys
from pathlib import Path

import pytest

from collector.config import Config, load_config
from paratune_base.errors import ParatuneError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "paratune.toml"
    p.write_text(text)
    return p


def test_defaults():
    cfg = load_config()
    assert cfg == Config()
    assert cfg.interval == 1.0 and cfg.duration is None and cfg.flush == 10.0
    assert cfg.rotate == 3600.0 and cfg.cmdline is False and cfg.compression == "zstd"


def test_file_then_command_line(tmp_path):
    path = write(tmp_path, """
[record]
output = "/var/lib/paratune"
interval = 2          # an integer is a number of seconds too
flush = 30.0
rotate = 7200
top_n = 5
cmdline = true
compression = "lz4"
proc_root = "/host/proc"
buffer_limit = 100
min_uid = 0
""")
    cfg = load_config(path)
    assert cfg.output == Path("/var/lib/paratune") and cfg.interval == 2.0
    assert isinstance(cfg.interval, float) and cfg.flush == 30.0 and cfg.rotate == 7200.0
    assert cfg.top_n == 5 and cfg.cmdline is True and cfg.compression == "lz4"
    assert cfg.proc_root == Path("/host/proc") and cfg.buffer_limit == 100 and cfg.min_uid == 0
    cfg = load_config(path, interval=5.0, output="/tmp/x", top_n=None, compression="none")
    assert cfg.interval == 5.0 and cfg.output == Path("/tmp/x") and cfg.top_n == 5
    assert cfg.compression == "none"


def test_tables_nothing_reads_are_refused(tmp_path):
    """An [analyze] or [live] table would be accepted and never read: refused instead."""
    with pytest.raises(ParatuneError, match="unknown key 'analyze'"):
        load_config(write(tmp_path, "[record]\ninterval = 1\n[analyze]\nx = 1\n"))


def test_system_file_and_state_directory(tmp_path, monkeypatch):
    """The unit's case: no --config, /etc/paratune/paratune.toml if it exists, output
    from systemd's $STATE_DIRECTORY unless the file or the command line says otherwise."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    assert load_config(None, tmp_path / "absent.toml").output == tmp_path / "state"
    system = write(tmp_path, "[record]\ninterval = 2\n")
    cfg = load_config(None, system)
    assert cfg.interval == 2.0 and cfg.output == tmp_path / "state"
    assert load_config(None, system, output="/x").output == Path("/x")
    other = tmp_path / "other.toml"
    other.write_text('[record]\noutput = "/from/file"\n')
    assert load_config(other, system).output == Path("/from/file") and load_config(other, system).interval == 1.0


def test_example_file_loads():
    cfg = load_config(ROOT / "packaging" / "paratune.toml.example")
    assert cfg.output == Path("/var/lib/paratune")
    assert cfg.interval == 1.0


@pytest.mark.parametrize("text, needle", [
    ("[record]\nintervall = 1\n", "record.intervall"),
    ("interval = 1\n", "'interval'"),
    ("[recrod]\ninterval = 1\n", "'recrod'"),
    ("record = 3\n", "record must be a table"),
    ('[record]\ninterval = "1s"\n', "interval must be a number"),
    ("[record]\ninterval = true\n", "interval must be a number"),
    ("[record]\ntop_n = 2.5\n", "top_n must be an integer"),
    ('[record]\ncmdline = "yes"\n', "cmdline must be true or false"),
    ("[record]\noutput = 3\n", "output must be a path"),
    ('[record]\noutput = ""\n', "output must be a path"),
    ("[record]\ninterval = 0.05\n", "interval must be at least 0.1"),
    ("[record]\ninterval = -1\n", "interval must be at least 0.1"),
    ("[record]\ninterval = nan\n", "interval must be a number"),
    ("[record]\nduration = 0\n", "duration must be positive"),
    ("[record]\nflush = 0.5\n", "flush (0.5 s) must be at least the interval"),
    ("[record]\nrotate = 5\n", "rotate (5 s) must be at least flush"),
    ("[record]\ntop_n = -1\n", "top_n must be 0 or more"),
    ("[record]\nbuffer_limit = 0\n", "buffer_limit must be at least 1"),
    ('[record]\ncompression = "gzip"\n', "compression must be one of none, lz4, zstd"),
    ("[record\ninterval = 1\n", "not valid TOML"),
])
def test_bad_file_one_line_naming_the_key(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ParatuneError) as err:
        load_config(path)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg
    assert err.value.exit_code == 2


def test_bad_override_names_the_command_line(tmp_path):
    with pytest.raises(ParatuneError, match=r"^command line: interval must be at least"):
        load_config(None, interval=0.01)
    path = write(tmp_path, "[record]\nflush = 2\n")
    with pytest.raises(ParatuneError, match=r"command line: flush \(2 s\)|paratune.toml: flush"):
        load_config(path, interval=5.0)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ParatuneError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ParatuneError, match="cannot read config file"):
        load_config(tmp_path)                     # a directory
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"[record]\noutput = \"\xff\"\n")
    with pytest.raises(ParatuneError, match="not valid TOML"):
        load_config(bad)


def _record(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "paratune.cli", "record", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, needle", [
    (["--interval", "0.01"], "interval must be at least 0.1"),
    (["--config", "BAD"], "record.intervall"),
    (["--config", "/nonexistent/paratune.toml"], "does not exist"),
])
def test_cli_bad_settings_exit_2_with_one_line(tmp_path, args, needle):
    bad = write(tmp_path, "[record]\nintervall = 1\n")
    args = [str(bad) if a == "BAD" else a for a in args]
    res = _record("--output", str(tmp_path / "out"), *args)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert not (tmp_path / "out").exists()        # nothing created before the settings are sound
