"""The recorder under the unit's address-family sandbox, for real.

PID 1 here is not systemd, so the unit's RestrictAddressFamilies= is applied the
way systemd applies it: a seccomp filter on socket(2), loaded (libseccomp through
ctypes) in the child before it execs a real recorder with --prometheus.  With the
families the shipped unit allows the endpoint serves; with AF_UNIX alone the
recorder stops with one line and exit 2, which the unit does not restart.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "paratune-record.service"
LIB = ctypes.util.find_library("seccomp")
pytestmark = pytest.mark.skipif(LIB is None, reason="libseccomp is not installed (Debian: libseccomp2)")

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ, SCMP_CMP_GT = 4, 6
AF_LIMIT = 64                       # above every address family Linux defines (AF_MAX is 46)
AF = {"AF_UNIX": socket.AF_UNIX, "AF_INET": socket.AF_INET, "AF_INET6": socket.AF_INET6}


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def _restrict(families: list[int]):
    """A preexec_fn: socket() of any other family fails with EAFNOSUPPORT, as under
    systemd's RestrictAddressFamilies= (a rule per other family, and one above them all)."""
    def apply():
        lib = ctypes.CDLL(LIB)
        lib.seccomp_init.restype = ctypes.c_void_p
        ctx = ctypes.c_void_p(lib.seccomp_init(ctypes.c_uint32(SCMP_ACT_ALLOW)))
        nr = lib.seccomp_syscall_resolve_name(b"socket")
        deny = ctypes.c_uint32(0x00050000 | errno.EAFNOSUPPORT)
        rules = [_ArgCmp(0, SCMP_CMP_EQ, d, 0) for d in range(AF_LIMIT) if d not in families]
        rules.append(_ArgCmp(0, SCMP_CMP_GT, AF_LIMIT - 1, 0))
        for rule in rules:
            if lib.seccomp_rule_add_array(ctx, deny, nr, 1, ctypes.byref(rule)) != 0:
                raise OSError("cannot add a seccomp rule")
        if lib.seccomp_load(ctx) != 0:
            raise OSError("cannot load the seccomp filter")
    return apply


def _unit_families() -> list[int]:
    line = next(x for x in UNIT.read_text().splitlines() if x.startswith("RestrictAddressFamilies="))
    return [AF[name] for name in line.split("=", 1)[1].split()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _record(tmp_path, families, seconds: float):
    port = _free_port()
    cmd = [sys.executable, "-m", "paratune.cli", "record", "-o", str(tmp_path / "out"), "--duration",
           str(seconds), "--flush", "1", "--prometheus", f"127.0.0.1:{port}"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_restrict(families)), port


def test_the_shipped_units_families_let_the_endpoint_serve(tmp_path):
    proc, port = _record(tmp_path, _unit_families(), 6)
    body = ""
    deadline = time.time() + 5
    while time.time() < deadline and not body:
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
        except OSError:
            time.sleep(0.3)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert re.search(r"^paratune_samples_total ", body, re.M), body[:300]      # the endpoint answered
    assert list((tmp_path / "out").rglob("*.arrow")), "no trace written"


def test_unix_sockets_alone_stop_the_recorder_with_one_line(tmp_path):
    proc, _ = _record(tmp_path, [socket.AF_UNIX], 3)
    out, err = proc.communicate(timeout=60)
    lines = [x for x in err.splitlines() if x.strip()]
    assert proc.returncode == 2 and "Traceback" not in err    # 2: the unit's RestartPreventExitStatus, no crash loop
    assert any("cannot listen" in x or "Address family not supported" in x for x in lines), err
