"""Record the evaluation corpus of scripts/corpus.py on this machine.

    .venv/bin/python scripts/record_corpus.py cal  [--only NAME ...] [--out corpus]
    .venv/bin/python scripts/record_corpus.py test [--only NAME ...] [--out corpus]

Each run: ``paratune record`` at 1 s, 3 s of quiet, the workload (cut at its
length, as a job at its time limit) with its faults injected, 3 s of quiet.
The trace goes to OUT/SET/NAME.arrow, and what ran, when, and each injected
window to OUT/SET/manifest.json: the ground truth of scripts/evaluate.py.
Runs already in the manifest are skipped, so an interrupted recording resumes.

Nothing else should run on the machine meanwhile: the recorder sees the whole
node, so any other work becomes part of the run.  With --isolated the recorder
and the workloads run in a PID namespace of their own, so other processes (a
developer's shell, a test run) are out of the process table, though their CPU,
memory and I/O stay in the node's counters; the iperf3 server then runs
throughout in the network namespace, outside that PID namespace, as a server
on another node would.  While the file named by
--pause-file exists, no new run starts (the current one finishes).
Needs root (SIGSTOP of any process, the veth pair) and the Debian packages of
.ci/run plus lammps, gromacs, quantum-espresso(-data), cp2k, nwchem, hpcc.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
import faults as F  # noqa: E402
import workloads as W  # noqa: E402

PARATUNE = [sys.executable, "-m", "paratune.cli"]
ROOT = Path(__file__).resolve().parents[1]
QUIET_S = 3


def _stop(main: subprocess.Popen) -> None:
    """End the workload and everything it started (mpirun's ranks included)."""
    pids = F._descendants(main.pid)
    for sig in (signal.SIGCONT, signal.SIGTERM):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    try:
        main.wait(timeout=10)
    except subprocess.TimeoutExpired:
        for pid in F._descendants(main.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        main.wait()


def _cpu_seconds(pids: set[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def record(run: corpus.Run, out: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"pt-{run.name}-") as tmp:
        tmp = Path(tmp)
        scratch, traces = tmp / "work", tmp / "traces"
        scratch.mkdir()
        argv = run.argv(scratch)
        rec = subprocess.Popen(PARATUNE + ["record", "--output", str(traces), "--interval", "1", "--flush", "5",
                                           "--rotate", "86400"], cwd=ROOT, stderr=subprocess.DEVNULL)
        time.sleep(QUIET_S)
        injected = [F.Fault(kind, at, secs, *extra) for kind, at, secs, *extra in run.faults]
        t0 = time.time()
        main = subprocess.Popen(argv, cwd=scratch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        pending, active, cpu, seen = list(injected), [], {}, set()
        while main.poll() is None and time.time() - t0 < run.length_s:
            F.advance(pending, active, time.time() - t0, scratch, main)
            seen.update(F._descendants(main.pid))
            cpu.update({p: _cpu_seconds({p}) for p in seen})    # kept after a rank exits
            time.sleep(0.2)
        t1 = time.time()
        exited = main.poll()
        for f in active:
            f.finish()
        _stop(main)
        time.sleep(QUIET_S)
        rec.send_signal(signal.SIGTERM)
        rec.wait(timeout=60)
        files = sorted(traces.rglob("*.arrow"))
        if len(files) != 1:
            raise RuntimeError(f"{run.name}: expected one trace file, found {files}")
        shutil.copyfile(files[0], out / f"{run.name}.arrow")
        os.chmod(out / f"{run.name}.arrow", 0o644)
        return {"name": run.name, "file": f"{run.name}.arrow", "app": run.app, "ranks": run.ranks,
                "renamed": run.rename, "length_s": run.length_s, "command": " ".join(map(str, argv)),
                "workload_start": t0, "workload_end": t1, "exit_before_cut": exited,
                "workload_cpu_s": round(sum(cpu.values()), 1), "faults": [f.record() for f in injected]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("set", choices=sorted(corpus.SETS))
    ap.add_argument("--out", default=ROOT / "corpus", type=Path)
    ap.add_argument("--only", nargs="*", help="names to (re)record")
    ap.add_argument("--pause-file", type=Path, default=Path("/tmp/paratune-corpus.pause"))
    ap.add_argument("--isolated", action="store_true",
                    help="record in a PID namespace of its own, the iperf3 server outside it")
    args = ap.parse_args()
    if args.isolated:
        return _isolated(sys.argv[1:])
    out = args.out / args.set
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    inside = bool(os.environ.get(W.OUTSIDE_SERVER))
    if not inside:
        W.netns_up()
    try:
        for run in corpus.SETS[args.set]():
            if (args.only and run.name not in args.only) or (not args.only and run.name in manifest):
                continue
            while args.pause_file.exists():
                time.sleep(1)
            print(f"{time.strftime('%H:%M:%S')} recording {run.name} ({run.length_s} s)", flush=True)
            manifest[run.name] = record(run, out)
            if manifest[run.name]["workload_cpu_s"] < 0.5 * run.length_s and run.app not in ("fio", "iperf3"):
                print(f"  warning: {run.name} used only {manifest[run.name]['workload_cpu_s']} CPU s", flush=True)
            manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    finally:
        if not inside:
            W.netns_down()
    return 0


def _isolated(argv: list[str]) -> int:
    """Run this script again inside a new PID namespace (``sh`` its init, so
    orphans are no siblings of a run), with a standing iperf3 server outside it."""
    W.netns_up()
    server = subprocess.Popen(["ip", "netns", "exec", W.NETNS, "iperf3", "-s", "-B", W.NS_ADDR],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        inner = shlex.join([sys.executable, str(Path(__file__).resolve())]
                         + [a for a in argv if a != "--isolated"])
        return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", f"{inner}; exit $?"],
                              env=dict(os.environ, **{W.OUTSIDE_SERVER: "1"})).returncode
    finally:
        server.terminate()
        server.wait()
        W.netns_down()


if __name__ == "__main__":
    sys.exit(main())
