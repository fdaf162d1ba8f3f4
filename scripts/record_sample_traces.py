"""Record the real workloads of scripts/workloads.py into sample_traces/.

    sudo .venv/bin/python scripts/record_sample_traces.py [--only NAME ...] [--out sample_traces]

Each run: start ``paratune record`` (1 s interval), 5 s of quiet, the
workload (faults injected at fixed seconds for the ``*-<fault>`` runs), 5 s of
quiet, SIGTERM.  The finished trace is copied to OUT/<name>.arrow and what
ran, when, and the injected windows go to OUT/manifest.json, which
docs/evaluation.md and the tests read as ground truth.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import faults as F  # noqa: E402
import workloads as W  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pyarrow as pa  # noqa: E402

from collector.reader import read_traces  # noqa: E402

PARATUNE = [sys.executable, "-m", "paratune.cli"]
QUIET_S = 5


SAMPLE_FAULTS = {"cpu_hog": "cpuoccupy", "memory_leak": "memleak", "io_saturation": "iobandwidth",
                 "network_saturation": "netoccupy", "stall": "stall"}
"""The anomaly kind each sample run is named for -> the scripts/faults.py fault that causes it."""


def _fault(kind: str, at: int, seconds: int) -> F.Fault:
    return F.Fault(SAMPLE_FAULTS[kind], at, seconds)


FAULT_RUNS = {  # name -> (lammps steps, faults as (kind, start s, seconds))
    "lammps-clean": (8_000, []),
    "lammps-clean-long": (200_000, []),      # 17 min here; with -2, over the clean hour that
    "lammps-clean-long-2": (420_000, []),    # false alarms per clean hour need
    "lammps-cpu_hog": (8_000, [("cpu_hog", 30, 45)]),
    "lammps-memory_leak": (8_000, [("memory_leak", 25, 80)]),
    "lammps-io_saturation": (8_000, [("io_saturation", 30, 30)]),
    "lammps-network_saturation": (8_000, [("network_saturation", 30, 30)]),
    "lammps-stall": (8_000, [("stall", 40, 25)]),
}


def record(name: str, argv_for, out: Path, faults=()) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"pt-{name}-") as tmp:
        tmp = Path(tmp)
        scratch, traces = tmp / "work", tmp / "traces"
        scratch.mkdir()
        argv = argv_for(scratch)
        rec = subprocess.Popen(PARATUNE + ["record", "--output", str(traces), "--interval", "1",
                                           "--flush", "5", "--rotate", "86400"], stderr=subprocess.DEVNULL)
        time.sleep(QUIET_S)
        t0 = time.time()
        main = subprocess.Popen(argv, cwd=scratch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        injected = [_fault(*f) for f in faults]
        pending, active = list(injected), []
        while main.poll() is None:
            F.advance(pending, active, time.time() - t0, scratch, main)
            time.sleep(0.2)
        t1 = time.time()
        for f in active:
            f.finish()
        time.sleep(QUIET_S)
        rec.send_signal(signal.SIGTERM)
        rec.wait(timeout=60)
        files = sorted(traces.rglob("*.arrow"))
        if len(files) == 1:
            shutil.copyfile(files[0], out / f"{name}.arrow")
        else:  # split at UTC midnight: one file per sample trace is easier to hand around
            (host,) = read_traces(files)
            with pa.ipc.new_file(out / f"{name}.arrow", host.table.schema,
                                 options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
                w.write_table(host.table, max_chunksize=600)
        os.chmod(out / f"{name}.arrow", 0o644)
        return {"name": name, "file": f"{name}.arrow", "command": " ".join(argv),
                "workload_start": t0, "workload_end": t1,
                "faults": [dict(f.record(), kind=F.EXPECTED[f.kind], fault=f.kind) for f in injected]}


def write_readme(out: Path, manifest: dict) -> None:
    """sample_traces/README.md: one line per trace, what ran and when."""
    from datetime import datetime, timezone
    lines = ["# Sample traces", "",
             "Recorded on this project's development VM (2 vCPU Xeon, 24 GiB, Debian 12, kernel 6.18)",
             "by `scripts/record_sample_traces.py`: `paratune record --interval 1`, 5 s of quiet, the",
             "workload, 5 s of quiet.  `manifest.json` has the exact command lines, the workload's",
             "start and end, and the windows of injected faults (the ground truth of",
             "docs/evaluation.md).  All processes ran as root, outside Slurm (no job ids).", "",
             "| trace | what ran | recorded (UTC) | samples | size |", "|---|---|---|---|---|"]
    for name, e in sorted(manifest.items()):
        f = out / e["file"]
        if not f.exists():
            continue
        (host,) = read_traces([f])
        when = datetime.fromtimestamp(e["workload_start"], tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        lines.append(f"| `{e['file']}` | {e['what']} | {when} | {host.table.num_rows} | "
                     f"{f.stat().st_size / 1024:.0f} KiB |")
    (out / "README.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="sample_traces", type=Path)
    ap.add_argument("--only", nargs="*", help="names to (re)record")
    ap.add_argument("--readme-only", action="store_true", help="only rewrite OUT/README.md from the manifest")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each plain workload (NAME, NAME-2, ...): the classifier's reference and test runs")
    args = ap.parse_args()
    args.out.mkdir(exist_ok=True)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if args.readme_only:
        write_readme(args.out, manifest)
        return 0
    todo = {}
    for k, spec in W.WORKLOADS.items():
        for r in range(1, args.repeat + 1):
            todo[k if r == 1 else f"{k}-{r}"] = spec
    for k, (steps, faults) in FAULT_RUNS.items():
        what = f"LAMMPS melt, 32k atoms, 2 MPI ranks, {steps} steps" + "".join(
            f", {kind} injected at +{at} s for {secs} s" for kind, at, secs in faults)
        todo[k] = (what, lambda d, s=steps: W.setup_lammps(d, s), faults)
    W.netns_up()
    try:
        for name, spec in todo.items():
            if args.only and name not in args.only:
                continue
            what, builder = spec[0], spec[1]
            faults = spec[2] if len(spec) > 2 else []
            print(f"recording {name}: {what}", flush=True)
            entry = record(name, builder, args.out, faults)
            entry["what"] = what
            if name in FAULT_RUNS:
                entry["workload"] = "lammps"
            else:
                entry["workload"] = name.rsplit("-", 1)[0] if name[-2:-1] == "-" and name[-1].isdigit() else name
            manifest[name] = entry
            manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    finally:
        W.netns_down()
    write_readme(args.out, manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
