"""Outputs never destroy what is at their path: every command that writes a file refuses,
with one line and a non-zero exit, a target that exists and is not a regular file (a
device node, a FIFO, a symlink to one, a directory), and leaves it exactly as it was.

As root, renaming a temporary over ``/dev/null`` replaces the device with a file; the
device nodes here are made with mknod (root only) in a scratch directory instead.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from paratune.cli import main
from tests.reliability.bad_inputs import ROOT, SOURCE

AREA = "bad output targets"
pytestmark = pytest.mark.skipif(not SOURCE.exists(), reason=f"needs the real recording {SOURCE}")
IS_ROOT = os.geteuid() == 0


def _targets(d: Path, name: str) -> dict[str, Path]:
    """Special files named ``name`` (with its suffix) in fresh sub-directories of ``d``."""
    made = {}
    d.mkdir(parents=True)
    if IS_ROOT:
        p = d / "dev" / name
        p.parent.mkdir()
        os.mknod(p, 0o644 | stat.S_IFCHR, os.makedev(1, 3))     # what /dev/null is
        made["character device"] = p
        link = d / "devlink" / name
        link.parent.mkdir()
        link.symlink_to(p)
        made["symlink to a device"] = link
    fifo = d / "fifo" / name
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    made["FIFO"] = fifo
    sub = d / "dir" / name
    sub.mkdir(parents=True)
    (sub / "keep").write_text("kept")
    made["directory"] = sub
    dangling = d / "dangling" / name
    dangling.parent.mkdir()
    dangling.symlink_to(d / "nowhere")
    made["dangling symlink"] = dangling
    return made


def _state(p: Path) -> tuple:
    st = os.lstat(p)
    kids = sorted(os.listdir(p)) if stat.S_ISDIR(st.st_mode) else None
    return (stat.S_IFMT(st.st_mode), st.st_rdev, st.st_ino, kids,
            os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)


# (command, target file name, argv with {T} for the target)
WRITERS = [
    ("export", "out.csv", ["export", SOURCE, "-f", "csv", "-o", "{T}"]),
    ("export", "out.parquet", ["export", SOURCE, "-o", "{T}"]),
    ("analyze", "plot.png", ["analyze", SOURCE, "--plot", "{T}"]),
    ("analyze", "plot.html", ["analyze", SOURCE, "--plot", "{T}"]),
    ("analyze", "fleet.parquet", ["analyze", SOURCE.parent, "--fleet", "--no-cache", "--workers", "1",
                                  "--out", "{T}"]),
    ("db", "report.parquet", ["db", "report", "--db", "{DB}", "--out", "{T}"]),
    ("db", "history.html", ["db", "history", "lammps", "--db", "{DB}", "--plot", "{T}"]),
]


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("db") / "db"
    assert main(["db", "add", str(SOURCE), "--label", "lammps", "--db", str(db)]) == 0
    return db


def test_writers_refuse_special_targets(tmp_path, capsys, database, reliability):
    tried = refused = 0
    bad = []
    for i, (command, name, argv) in enumerate(WRITERS):
        for kind, target in _targets(tmp_path / str(i), name).items():
            before = _state(target)
            capsys.readouterr()
            rc = main([str(a).replace("{T}", str(target)).replace("{DB}", str(database)) for a in argv])
            err = capsys.readouterr().err.splitlines()
            tried += 1
            ok = (rc != 0 and len(err) == 1 and err[0].startswith(f"paratune {command}: error: ")
                  and _state(target) == before)
            refused += ok
            if not ok:
                bad.append((command, name, kind, rc, err))
    reliability.record("writes to device nodes, FIFOs, symlinks to them, dangling symlinks and directories",
                       cases=tried, survived=refused, lost="nothing" if not bad else f"{len(bad)} targets changed",
                       note="export -o, analyze --plot/-o, db report -o, db history --plot: one line, "
                            "exit 2, the target untouched" + ("" if IS_ROOT else " (device nodes need root)"))
    assert not bad


def test_database_and_import_directories_refuse_other_files(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for argv, command in ((["db", "add", str(SOURCE), "--db", str(fifo)], "db"),
                          (["import", "pcp", str(tmp_path / "none"), "--out", str(fifo)], "import")):
        capsys.readouterr()
        assert main(argv) != 0
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"paratune {command}: error: "), err
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_symlink_to_a_regular_file_is_written_through(tmp_path, capsys):
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    assert main(["export", str(SOURCE), "-o", str(link)]) == 0
    assert link.is_symlink() and real.read_text().startswith("host,time,")


def test_dash_is_stdout():
    """``-o -``: CSV on stdout, as a real process writes it (nothing named "-" is created)."""
    res = subprocess.run([sys.executable, "-m", "paratune.cli", "export", str(SOURCE), "-o", "-"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("host,time,cpu_user_pct") and len(lines) > 50
    assert not (ROOT / "-").exists()


def test_a_full_disk_is_exit_1_and_a_bad_target_exit_2(tmp_path, capsys):
    """The same split as everywhere: 1 for the machine's failure (the disk is full),
    2 for a request the user can correct (no such directory); nothing left behind."""
    from tests.mounts import tmpfs
    with tmpfs(tmp_path / "small", "size=4k") as small:            # one page: the ~20 KB CSV cannot fit
        capsys.readouterr()
        assert main(["export", str(SOURCE), "-f", "csv", "-o", str(small / "out.csv")]) == 1
        assert "No space left" in capsys.readouterr().err and not list(small.iterdir())
    assert main(["export", str(SOURCE), "-o", str(tmp_path / "missing" / "out.csv")]) == 2
