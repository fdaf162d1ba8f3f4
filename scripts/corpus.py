"""The evaluation corpus: which runs make the calibration set and which the test set.

Two sets, recorded apart (different runs, onsets, durations and seeds):

- ``cal``: every threshold of the analyzer is chosen on these
  (``scripts/calibrate.py``); its clean runs are also the recognition database.
- ``test``: every quality figure of docs/evaluation.md is measured on these
  (``scripts/evaluate.py``) and nothing is tuned on them.

A run is an application (or a stressor) on 1 or 2 ranks, cut at ``length_s``,
with faults from scripts/faults.py injected at given seconds.  Applications in
``HELD_OUT`` are never put in the database: the test set uses them to measure
how often a run of an unknown application is rejected.
"""
from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import workloads as W

APPS = ("lammps", "gromacs", "qe", "cp2k", "nwchem", "hpcc")
"""Real MPI applications (Debian packages)."""
TOOLS = ("stress-cpu", "stress-vm", "stress-iomix", "fio", "iperf3")
"""Synthetic workloads, each a class of its own."""
PERIODIC = ("sh -c 'while :; do stress-ng --cpu {ranks} -t 14 -q; "
            "timeout 6 dd if=/dev/zero of=burst bs=1M count=100000 oflag=direct status=none; done'")
"""A 20 s cycle of CPU load and a direct-I/O burst (the periodic node-day of benches/bench_analyze.py)."""
HELD_OUT = ("nwchem", "hpcc", "stress-iomix")
"""Never in the database: the test set's runs of these must come back `unknown`."""
BINARIES = {"lammps": "lmp", "gromacs": "gmx_mpi", "qe": "pw.x", "cp2k": "cp2k.psmp", "nwchem": "nwchem",
            "hpcc": "hpcc"}
RENAMED = "solver"
"""What a renamed binary is called: recognition then has only behaviour to go on."""


@dataclass
class Run:
    name: str
    app: str
    ranks: int
    length_s: int
    faults: list[tuple] = field(default_factory=list)    # (fault kind, at s, seconds[, mib])
    rename: bool = False

    def argv(self, d: Path) -> list[str]:
        """The command line, its inputs written into ``d``; sized to outlast length_s
        (the run is cut there, as a job at its time limit)."""
        s, r = self.length_s, self.ranks
        if self.app == "stress-cpu":
            return ["stress-ng", "--cpu", str(r), "--cpu-method", "all", "-t", str(s + 5), "-q"]
        if self.app == "stress-vm":
            return ["stress-ng", "--vm", str(r), "--vm-bytes", "1G", "-t", str(s + 5), "-q"]
        if self.app == "stress-iomix":
            return ["stress-ng", "--iomix", str(r), "--temp-path", str(d), "-t", str(s + 5), "-q"]
        if self.app == "fio":
            return W.fio_cmd(d, s + 5) + [f"--numjobs={r}"]
        if self.app == "periodic":
            return ["sh", "-c", PERIODIC.format(ranks=r)[len("sh -c '"):-1]]
        if self.app == "iperf3":
            W.iperf3_server()
            return ["iperf3", "-c", W.NS_ADDR, "-t", str(s + 5), "-P", str(r)]
        size = W.size_for(self.app, s * 1.5 + 10, r)
        argv = getattr(W, f"setup_{self.app}")(d, size, ranks=r)
        if self.rename:
            binary = BINARIES[self.app]
            k = next(k for k, a in enumerate(argv) if Path(a).name == binary)
            copy = d / RENAMED
            shutil.copy2(shutil.which(argv[k]) or argv[k], copy)
            argv[k] = str(copy)
        return argv


def _faulted(set_name: str, seed: int) -> list[Run]:
    """One run per fault kind and condition: early (10 s in) and late onsets,
    durations from {10, 20, 60, 180} s, on varied applications and rank counts."""
    rng = random.Random(seed)
    kinds = ("cpuoccupy", "cachecopy", "membw", "memeater", "memleak", "netoccupy", "iobandwidth",
             "iometadata", "stall")
    hosts = ["lammps", "gromacs", "qe", "cp2k"] + (["nwchem", "hpcc"] if set_name == "test" else [])
    conditions = ((10, (10, 20)), (None, (20, 60)), (None, (60, 180))) if set_name == "test" \
        else ((10, (10, 20)), (None, (10, 20, 60)))
    if set_name == "test":
        conditions = ((10, (10, 20)), (None, (20, 60, 180)))
    runs = []
    for kind in kinds:
        for early, durations in conditions:
            dur = rng.choice(durations)
            at = early if early is not None else rng.randint(25, 45)
            app, ranks = rng.choice(hosts), rng.choice((1, 2))
            extra = (rng.choice((4, 8, 16)),) if kind == "memleak" else ()
            length = at + dur + rng.randint(12, 20)
            tag = "early" if early is not None else "late"
            runs.append(Run(f"{set_name}-{kind}-{tag}-{dur}s-{app}-{ranks}r", app, ranks, length,
                            [(kind, at, dur) + extra]))
    return runs


def calibration() -> list[Run]:
    runs = []
    for app in APPS + TOOLS:
        if app in HELD_OUT:
            continue
        for ranks, length in ((1, 20), (2, 30)):
            runs.append(Run(f"cal-{app}-{ranks}r-{length}s", app, ranks, length))
    return runs + _faulted("cal", seed=1)


def test() -> list[Run]:
    runs = []
    for app in APPS + TOOLS:
        for ranks, length in ((1, 40), (2, 15)) if app not in HELD_OUT else ((1, 30), (2, 30)):
            runs.append(Run(f"test-{app}-{ranks}r-{length}s", app, ranks, length))
        if app in APPS and app not in HELD_OUT:
            runs.append(Run(f"test-{app}-renamed-2r-40s", app, 2, 40, rename=True))
    runs.append(Run("test-lammps-1r-300s", "lammps", 1, 300))
    runs.append(Run("test-periodic-2r-120s", "periodic", 2, 120))
    return runs + _faulted("test", seed=2)


SETS = {"cal": calibration, "test": test}
