"""`paratune live --record DIR` sets its output up exactly as `paratune record` does."""
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _paratune(*args, **kw):
    return subprocess.run([sys.executable, "-m", "paratune.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, **kw)


def test_a_directory_another_recorder_holds_is_the_same_error(tmp_path):
    rec = subprocess.Popen([sys.executable, "-m", "paratune.cli", "record", "-o", str(tmp_path)], cwd=ROOT,
                           stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not list(tmp_path.glob(".paratune-record-*.lock")) and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1)          # the file exists a moment before it is locked
        live = _paratune("live", "--record", str(tmp_path), "--once")
        again = _paratune("record", "-o", str(tmp_path), "--duration", "1")
    finally:
        rec.terminate()
        rec.wait(timeout=60)
    assert (live.returncode, again.returncode) == (1, 1)
    assert live.stderr.split(": ", 1)[1] == again.stderr.split(": ", 1)[1]      # same words after the verb
    assert "already writing" in live.stderr


def test_live_record_writes_a_trace_a_recorder_could_have(tmp_path):
    r = _paratune("live", "--record", str(tmp_path), "--once")
    assert r.returncode == 0, r.stderr
    files = list(tmp_path.rglob("*.arrow"))
    assert files, list(tmp_path.rglob("*"))
    r = _paratune("export", str(files[0]), "--format", "csv", "-o", "-")
    assert r.returncode == 0 and r.stdout.count("\n") >= 2, r.stderr
