"""Real workloads recorded into sample_traces/ and used by the detection evaluation.

Each workload is a command line (plus the input files it needs, written into
a scratch directory).  Faults are extra processes started into a running
workload at a given second: a CPU hog, a leaking process, an fio burst, an
iperf3 flood over a veth pair, and SIGSTOP of the workload itself.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2"]
NETNS = "ptnet"
NS_ADDR, HOST_ADDR = "10.231.7.2", "10.231.7.1"   # a private veth link inside this machine only

LAMMPS_MELT = """\
units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 20 0 20 0 20
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 3.0 87287 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
neighbor 0.3 bin
neigh_modify every 20 delay 0 check no
fix 1 all nve
thermo 1000
run ${steps}
"""

GROMACS_MDP = """\
integrator = md
dt = 0.002
nsteps = {steps}
nstlog = 1000
nstenergy = 0
cutoff-scheme = Verlet
coulombtype = PME
rcoulomb = 1.0
rvdw = 1.0
tcoupl = v-rescale
tc-grps = System
tau-t = 0.1
ref-t = 300
constraints = h-bonds
"""

LEAKER = """\
import time
chunks = []
end = time.time() + {seconds}
while time.time() < end:
    chunks.append(bytearray(b"x" * ({mib} << 20)))   # touched, so it is resident
    time.sleep(1)
"""


def _run(cmd, cwd=None, **kw):
    return subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def setup_lammps(d: Path, steps: int) -> list[str]:
    (d / "in.melt").write_text(LAMMPS_MELT)
    return MPIRUN + ["lmp", "-in", "in.melt", "-var", "steps", str(steps), "-log", "none", "-screen", "none"]


def setup_gromacs(d: Path, steps: int) -> list[str]:
    _run(["gmx", "-quiet", "solvate", "-cs", "spc216.gro", "-box", "4", "4", "4", "-o", "water.gro"], cwd=d)
    n = sum(1 for line in (d / "water.gro").read_text().splitlines() if " OW" in line)
    (d / "topol.top").write_text('#include "oplsaa.ff/forcefield.itp"\n#include "oplsaa.ff/spce.itp"\n'
                                 f"[ system ]\nwater\n[ molecules ]\nSOL {n}\n")
    (d / "md.mdp").write_text(GROMACS_MDP.format(steps=steps))
    _run(["gmx", "-quiet", "grompp", "-f", "md.mdp", "-c", "water.gro", "-p", "topol.top", "-o", "md.tpr",
          "-maxwarn", "2"], cwd=d)
    return MPIRUN + ["gmx_mpi", "-quiet", "mdrun", "-s", "md.tpr", "-ntomp", "1", "-nb", "cpu"]


def setup_hpcc(d: Path, n: int) -> list[str]:
    lines = Path("/usr/share/doc/hpcc/examples/_hpccinf.txt").read_text().splitlines()
    lines[5] = f"{n}         Ns"
    lines[10] = "1            Ps"
    lines[11] = "2            Qs"
    (d / "hpccinf.txt").write_text("\n".join(lines) + "\n")
    return MPIRUN + ["hpcc"]


def netns_up() -> None:
    """A veth pair into a private network namespace, so iperf3 traffic crosses a
    real (non-loopback) interface that the collector counts."""
    netns_down()
    for cmd in (["ip", "netns", "add", NETNS],
                ["ip", "link", "add", "ptveth0", "type", "veth", "peer", "name", "ptveth1"],
                ["ip", "link", "set", "ptveth1", "netns", NETNS],
                ["ip", "addr", "add", f"{HOST_ADDR}/30", "dev", "ptveth0"],
                ["ip", "link", "set", "ptveth0", "up"],
                ["ip", "netns", "exec", NETNS, "ip", "addr", "add", f"{NS_ADDR}/30", "dev", "ptveth1"],
                ["ip", "netns", "exec", NETNS, "ip", "link", "set", "ptveth1", "up"],
                ["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"]):
        _run(cmd)


def netns_down() -> None:
    subprocess.run(["ip", "link", "del", "ptveth0"], stderr=subprocess.DEVNULL)
    subprocess.run(["ip", "netns", "del", NETNS], stderr=subprocess.DEVNULL)


def iperf3_cmd(seconds: int) -> list[str]:
    return ["iperf3", "-c", NS_ADDR, "-t", str(seconds), "-P", "2"]


def iperf3_server() -> subprocess.Popen:
    p = subprocess.Popen(["ip", "netns", "exec", NETNS, "iperf3", "-s", "-1", "-B", NS_ADDR],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return p


def fio_cmd(d: Path, seconds: int, name="randrw") -> list[str]:
    return ["fio", f"--name={name}", f"--directory={d}", "--rw=randrw", "--bs=64k", "--size=512m",
            "--ioengine=libaio", "--direct=1", "--iodepth=16", "--numjobs=1", "--time_based",
            f"--runtime={seconds}", "--output=/dev/null"]


# name -> (what, builder(scratch) -> argv)
WORKLOADS = {
    "stress-cpu": ("stress-ng --cpu 2 (matrix/FFT mix) for 45 s",
                   lambda d: ["stress-ng", "--cpu", "2", "--cpu-method", "all", "-t", "45", "-q"]),
    "stress-vm": ("stress-ng --vm 2 --vm-bytes 2G (memory page touching) for 45 s",
                  lambda d: ["stress-ng", "--vm", "2", "--vm-bytes", "2G", "-t", "45", "-q"]),
    "stress-iomix": ("stress-ng --iomix 2 (mixed file I/O) for 45 s",
                     lambda d: ["stress-ng", "--iomix", "2", "--temp-path", str(d), "-t", "45", "-q"]),
    "fio-randrw": ("fio random read/write, 64 KiB, direct I/O, iodepth 16, for 45 s",
                   lambda d: fio_cmd(d, 45)),
    "iperf3": ("iperf3 -P 2 over a veth pair into a network namespace for 45 s",
               lambda d: (iperf3_server(), iperf3_cmd(45))[1]),
    "lammps": ("LAMMPS 3-d Lennard-Jones melt, 32k atoms, 3500 steps, 2 MPI ranks (OpenMPI)",
               lambda d: setup_lammps(d, 3500)),
    "gromacs": ("GROMACS mdrun, SPC/E water box 4 nm (~6.5k atoms), PME, 1200 steps, 2 MPI ranks (OpenMPI)",
                lambda d: setup_gromacs(d, 1200)),
    "hpcc": ("HPC Challenge (HPL N=2500, DGEMM, STREAM, PTRANS, RandomAccess, FFT, b_eff), 2 MPI ranks",
             lambda d: setup_hpcc(d, 2500)),
}
