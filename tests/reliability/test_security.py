"""Security and privacy: no code from input, no paths from traces, no secrets in traces, no
following of files another user planted, least privilege works.

(The Prometheus endpoint's 127.0.0.1 default is tested with the exporter.)
"""
from __future__ import annotations

import ast
import io
import json
import os
import pwd
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pyarrow as pa
import pytest

from collector import writer
from collector.config import load_config
from collector.daemon import Recorder
from collector.reader import read_trace
from collector.sampler import Sampler
from paratune.cli import main
from tests.reliability.bad_inputs import SOURCE

AREA = "security and privacy"
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("collector", "analyzer", "paratune")


# ---- no code from input ----------------------------------------------------------------

UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}
UNSAFE_ATTRS = {("yaml", "load"), ("yaml", "unsafe_load"), ("yaml", "full_load"), ("pd", "read_pickle"),
                ("pandas", "read_pickle"), ("torch", "load")}
"""``np.load`` is safe as long as ``allow_pickle`` stays off (its default): that keyword is checked."""


def unsafe_uses(source: str) -> list[tuple[int, str]]:
    """Imports of object deserialisers and calls that run text as code, found in the syntax tree
    (so a docstring or comment that names them does not count)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names
                      if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            found.append((node.lineno, f"from {node.module} import"))
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in UNSAFE_CALLS:
                found.append((node.lineno, f"{f.id}()"))
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                    and (f.value.id, f.attr) in UNSAFE_ATTRS:
                found.append((node.lineno, f"{f.value.id}.{f.attr}()"))
            elif any(k.arg == "allow_pickle" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                     for k in node.keywords):
                found.append((node.lineno, "allow_pickle"))
    return found


def test_unsafe_use_finder_finds_them():
    text = "import pickle\nfrom marshal import loads\nx = eval('1')\nyaml.load(s)\nnp.load(f)\n" \
           "read(f, allow_pickle=True)\n'''eval(x) in a docstring'''\n"
    assert [w for _, w in unsafe_uses(text)] == ["import pickle", "from marshal import", "eval()",
                                                 "yaml.load()", "allow_pickle"]


def test_no_pickle_eval_exec_or_yaml_load_in_the_package(reliability):
    files = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))
    bad = [f"{p.relative_to(ROOT)}:{line}: {what}" for p in files for line, what in unsafe_uses(p.read_text())]
    reliability.record("no pickle/marshal/eval/exec/yaml.load in the package source", len(files),
                       len(files) - len({b.split(':')[0] for b in bad}), "n/a",
                       "syntax-tree scan of every module of collector/, analyzer/, paratune/"
                       + (f"; found: {'; '.join(bad)}" if bad else ""))
    assert not bad, bad


# ---- paths from trace metadata are never file paths ----------------------------------------

HOSTILE = {"host": "../../escaped-host", "cluster": "/tmp/../escaped-cluster", "start": "../escaped-start",
           "kernel": "$(touch escaped-kernel)", "cpu_model": "`touch escaped-cpu`", "sources": "../escaped,ib"}


@pytest.mark.skipif(not SOURCE.exists(), reason=f"needs {SOURCE}")
def test_trace_metadata_never_names_a_file(tmp_path, capsys, monkeypatch, reliability):
    table = read_trace(SOURCE).table
    meta = {**(table.schema.metadata or {}), **{f"paratune.{k}".encode(): v.encode() for k, v in HOSTILE.items()}}
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    trace = work / "hostile.arrow"
    with pa.ipc.new_file(trace, table.schema.with_metadata(meta)) as w:
        w.write_table(table.replace_schema_metadata(meta))
    monkeypatch.chdir(work)
    runs = [["analyze", "--json", trace], ["analyze", trace, "--plot", work / "p.html"],
            ["live", "--replay", trace, "--once"], ["db", "add", "--db", work / "db", trace, "--label", "x"],
            ["db", "list", "--db", work / "db", "--json"], ["db", "report", "--db", work / "db", "--json"]]
    before = set(tmp_path.rglob("*"))
    ok, out = 0, ""
    for argv in runs:
        assert main([str(a) for a in argv]) == 0, argv
        out += capsys.readouterr().out
        ok += 1
    created = sorted(p for p in set(tmp_path.rglob("*")) - before)
    stray = [p for p in created if "escaped" in str(p) or not (p == work / "p.html" or work / "db" in (p, *p.parents))]
    reliability.record("paths in trace metadata (../, /, $(...)) never used as file paths", len(runs),
                       ok - bool(stray), "n/a",
                       "analyze, --plot, live --replay, db add/list/report on a trace whose host, cluster, "
                       "start, kernel are hostile: files appear only where the user said")
    assert not stray, stray
    assert "../../escaped-host" in out                  # shown as text, where it belongs
    assert not list(Path("/tmp").glob("escaped*")) and not list(tmp_path.rglob("escaped*"))


def test_segment_names_keep_hostile_host_names_inside_the_output(tmp_path):
    for host in ("../../x", "/etc/cron.d/x", "a/../../b", "", "..", "\n"):
        p = writer.segment_path(tmp_path, host, 1_767_225_600_000_000)
        assert p.parent.parent == tmp_path and not p.name.startswith("."), p


# ---- secrets in command lines ------------------------------------------------------------

SECRETS = ("hunter2", "abc123tok", "s3cretpw", "bearer-xyz")


def _secret_process() -> subprocess.Popen:
    """A process of a non-system user whose command line carries secrets in three styles.

    argv[0] is ``mysql`` so that ``-p VALUE`` is a password (for ssh it is a port);
    ``sleep 60; true`` keeps bash from exec-ing sleep over its own command line.
    """
    argv = ["mysql", "-c", "sleep 60; true", "-p", "s3cretpw", "--password=hunter2", "TOKEN=abc123tok",
            "--auth-token", "bearer-xyz", "--host", "db1"]

    def become_user():
        os.setgid(1000)
        os.setuid(1000)
    return subprocess.Popen(argv, executable="/bin/bash", preexec_fn=become_user)


def _sample_to_file(sampler: Sampler, folder: Path) -> tuple[list[dict], bytes]:
    row = sampler.sample()
    sch = pa.schema(writer.arrow_schema(sampler.metadata(1.0)))
    seg = writer.SegmentWriter(writer.segment_path(folder, "n1", writer.ts_us(row)), sch, "none")
    seg.append(writer.rows_to_batch([row], sch))
    part = seg.part.read_bytes()
    seg.close()
    return row["procs"], part


def test_secrets_never_reach_a_trace(tmp_path, reliability):
    if os.getuid() != 0:
        pytest.skip("needs root to start a process as uid 1000")
    proc = _secret_process()
    try:
        time.sleep(0.3)
        kept = {}
        for cmdline in (False, True):
            procs, raw = _sample_to_file(Sampler(cmdline=cmdline, top_n=0), tmp_path / str(cmdline))
            mine = [p for p in procs if p["pid"] == proc.pid]
            assert mine, "the uid-1000 process is always recorded"
            kept[cmdline] = (mine[0]["cmdline"], [s for s in SECRETS if s.encode() in raw])
    finally:
        proc.kill()
        proc.wait()
    default_line, default_leak = kept[False]
    line, leak = kept[True]
    reliability.record("secrets in recorded command lines (--password=, TOKEN=, mysql -p, --auth-token)",
                       2 * len(SECRETS), 2 * len(SECRETS) - len(default_leak) - len(leak), "n/a",
                       f"default: no command line at all; with --cmdline: `{line}`")
    assert default_line is None and not default_leak
    assert not leak, leak
    assert line.startswith("mysql -c sleep 60; true -p *** --password=*** TOKEN=*** --auth-token *** --host db1")


# ---- never following another user's files ------------------------------------------------

NOBODY = pwd.getpwnam("nobody") if "nobody" in {p.pw_name for p in pwd.getpwall()} else None


def as_nobody(fn) -> dict:
    """Run ``fn()`` in a forked child that dropped to ``nobody``; its JSON-able result, or the error.

    A fork, not a new interpreter: the interpreter lives under /root, which nobody cannot read.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                        # the child: never returns
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY.pw_gid)
            os.setuid(NOBODY.pw_uid)
            result = {"ok": fn()}
        except BaseException as exc:                    # reported to the parent, which fails
            result, code = {"error": f"{type(exc).__name__}: {exc}"}, 1
        with os.fdopen(w, "w") as fh:
            json.dump(result, fh, default=str)
        os._exit(code)
    os.close(w)
    with os.fdopen(r) as fh:
        text = fh.read()
    os.waitpid(pid, 0)
    return json.loads(text)


@pytest.fixture
def shared_dir():
    """A directory under /tmp that nobody can reach (pytest's tmp_path is root-only)."""
    d = Path(tempfile.mkdtemp(prefix="paratune-sec-", dir="/tmp"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        subprocess.run(["rm", "-rf", str(d)], check=False)


pytestmark_nobody = pytest.mark.skipif(os.getuid() != 0 or NOBODY is None, reason="needs root and a nobody user")


@pytestmark_nobody
def test_sampler_as_nobody_reads_what_it_may(reliability):
    def sample():
        s = Sampler(cmdline=True, top_n=1000)
        row = s.sample()
        root = [p for p in row["procs"] if p["uid"] == 0]
        return {"procs": len(row["procs"]), "root_procs": len(root),
                "root_io_null": sum(p["read_bytes"] is None for p in root),
                "cpu_user": row["cpu_user"], "warnings": list(s.warnings)}
    got = as_nobody(sample)
    assert "ok" in got, got
    res = got["ok"]
    reliability.record("the sampler as `nobody` (no privileges)", 1, 1, "only what /proc hides from it",
                       f"{res['procs']} processes sampled; /proc/PID/io of root's {res['root_procs']} "
                       f"unreadable -> null for {res['root_io_null']}")
    assert res["root_procs"] > 0 and res["root_io_null"] == res["root_procs"]
    assert res["cpu_user"] > 0


@pytestmark_nobody
def test_recorder_never_follows_planted_symlinks(shared_dir, reliability):
    """A user who can write in the output directory plants symlinks where the recorder will create
    files; the recorder (here run as nobody) must not truncate, chmod or write the victim."""
    out, victims = shared_dir / "out", shared_dir / "victims"
    for d in (out, victims):
        d.mkdir()
        os.chown(d, NOBODY.pw_uid, NOBODY.pw_gid)
    victim = victims / "precious"
    victim.write_text("nobody's precious data\n")
    os.chown(victim, NOBODY.pw_uid, NOBODY.pw_gid)
    os.chmod(victim, 0o600)
    host = Sampler().metadata(1.0)["host"]
    # Every name the recorder may create in the next seconds, and its lock, point at the victim.
    start = int(time.time())
    day = out / time.strftime("%Y-%m-%d", time.gmtime(start))
    day.mkdir()
    os.chown(day, NOBODY.pw_uid, NOBODY.pw_gid)
    planted = [out / f".paratune-record-{writer.safe_host(host)}.lock"]
    for t in range(start, start + 8):
        stem = f"{writer.safe_host(host)}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(t))}"
        planted += [day / f"{stem}.arrow.part.tmp", day / f"{stem}.arrow.tmp"]
    for p in planted:
        p.symlink_to(victim)
    before = (victim.read_bytes(), victim.stat().st_mode)

    def record():
        import logging
        logging.getLogger("paratune").addHandler(logging.NullHandler())
        cfg = load_config(output=str(out), interval=0.2, flush=0.4, duration=1.5)
        with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
            rc = Recorder(cfg, Sampler()).run()
        return {"rc": rc, "files": sorted(str(p.relative_to(out)) for p in out.rglob("*.arrow"))}
    got = as_nobody(record)
    after = (victim.read_bytes(), victim.stat().st_mode)
    reliability.record("symlinks planted at the lock and at every temporary name the recorder uses",
                       len(planted), len(planted) if after == before else 0,
                       "nothing" if after == before else "the victim file was modified",
                       f"recorder run as nobody: exit {got.get('ok', {}).get('rc')}, "
                       f"{len(got.get('ok', {}).get('files', []))} trace file(s); victim untouched")
    assert after == before, "the recorder wrote through a planted symlink"
    assert got.get("ok", {}).get("rc") == 0 and got["ok"]["files"], got
    for f in got["ok"]["files"]:
        assert read_trace(out / f).table.num_rows > 0
