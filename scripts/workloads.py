"""Real workloads recorded into sample_traces/ and used by the detection evaluation.

Each workload is a command line (plus the input files it needs, written into
a scratch directory).  Faults are extra processes started into a running
workload at a given second: a CPU hog, a leaking process, an fio burst, an
iperf3 flood over a veth pair, and SIGSTOP of the workload itself.
"""
from __future__ import annotations

import math
import os
import subprocess
import time
from pathlib import Path


def mpirun(ranks: int) -> list[str]:
    """OpenMPI launcher for `ranks` ranks (root and more ranks than cores allowed)."""
    return ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks)]


MPIRUN = mpirun(2)   # the recorded traces' default
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

QE_SI = """\
&control
  calculation = 'md', nstep = {steps}, dt = 20.0,
  pseudo_dir = '/usr/share/espresso/pseudo', outdir = '{outdir}', disk_io = 'none'
/
&system
  ibrav = 1, celldm(1) = 10.26, nat = 8, ntyp = 1, ecutwfc = 24.0, nosym = .true.
/
&electrons
  conv_thr = 1.0d-8
/
&ions
  ion_temperature = 'initial', tempw = 600.0
/
ATOMIC_SPECIES
Si 28.086 Si.pz-vbc.UPF
ATOMIC_POSITIONS crystal
Si 0.00 0.00 0.00
Si 0.50 0.50 0.00
Si 0.50 0.00 0.50
Si 0.00 0.50 0.50
Si 0.25 0.25 0.25
Si 0.75 0.75 0.25
Si 0.75 0.25 0.75
Si 0.25 0.75 0.75
K_POINTS automatic
2 2 2 0 0 0
"""

CP2K_WATER = """\
&GLOBAL
  PROJECT water
  RUN_TYPE MD
  PRINT_LEVEL LOW
&END GLOBAL
&MOTION
  &MD
    ENSEMBLE NVT
    STEPS {steps}
    TIMESTEP 0.5
    TEMPERATURE 300
    &THERMOSTAT
      TYPE CSVR
      &CSVR
        TIMECON 20
      &END CSVR
    &END THERMOSTAT
  &END MD
  &PRINT
    &TRAJECTORY OFF
    &END TRAJECTORY
    &RESTART OFF
    &END RESTART
    &RESTART_HISTORY OFF
    &END RESTART_HISTORY
  &END PRINT
&END MOTION
&FORCE_EVAL
  METHOD Quickstep
  &DFT
    BASIS_SET_FILE_NAME /usr/share/cp2k/BASIS_MOLOPT
    POTENTIAL_FILE_NAME /usr/share/cp2k/GTH_POTENTIALS
    &MGRID
      CUTOFF 200
      REL_CUTOFF 30
    &END MGRID
    &SCF
      EPS_SCF 1.0E-5
      MAX_SCF 30
      &OT
        MINIMIZER DIIS
        PRECONDITIONER FULL_SINGLE_INVERSE
      &END OT
    &END SCF
    &XC
      &XC_FUNCTIONAL PBE
      &END XC_FUNCTIONAL
    &END XC
  &END DFT
  &SUBSYS
    &CELL
      ABC 6.2 6.2 6.2
    &END CELL
    &COORD
{coords}
    &END COORD
    &KIND H
      BASIS_SET SZV-MOLOPT-SR-GTH
      POTENTIAL GTH-PBE-q1
    &END KIND
    &KIND O
      BASIS_SET SZV-MOLOPT-SR-GTH
      POTENTIAL GTH-PBE-q6
    &END KIND
  &END SUBSYS
&END FORCE_EVAL
"""

NWCHEM_QMD = """\
start md
scratch_dir {d}
permanent_dir {d}
geometry noautosym
  C   0.000  0.000  0.000
  C   1.520  0.000  0.000
  O   2.030  1.330  0.000
  H  -0.380 -1.020  0.000
  H  -0.380  0.510  0.880
  H  -0.380  0.510 -0.880
  H   1.890 -0.510  0.890
  H   1.890 -0.510 -0.890
  H   2.990  1.300  0.000
end
basis
  * library 6-31G
end
dft
  xc b3lyp
  grid coarse
  noprint "final vectors analysis"
end
qmd
  nstep_nucl {steps}
  dt_nucl 10.0
  targ_temp 300.0
  thermostat svr 100.0
end
task dft qmd
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


def setup_lammps(d: Path, steps: int, ranks: int = 2) -> list[str]:
    """LJ melt, 32k atoms; size = MD steps.

    Measured here: 16 ms/step on 1 rank, 7.8 ms/step on 2 ranks (start-up < 0.5 s).
    """
    (d / "in.melt").write_text(LAMMPS_MELT)
    return mpirun(ranks) + ["lmp", "-in", "in.melt", "-var", "steps", str(steps), "-log", "none", "-screen", "none"]


def setup_gromacs(d: Path, steps: int, ranks: int = 2) -> list[str]:
    """SPC/E water box 4 nm, PME; size = MD steps.

    Measured here: 6.5 ms/step on 1 rank, 3.6 ms/step on 2 ranks, + ~0.5-1 s start-up
    (solvate/grompp run here, before the timed command).
    """
    _run(["gmx", "-quiet", "solvate", "-cs", "spc216.gro", "-box", "4", "4", "4", "-o", "water.gro"], cwd=d)
    n = sum(1 for line in (d / "water.gro").read_text().splitlines() if " OW" in line)
    (d / "topol.top").write_text('#include "oplsaa.ff/forcefield.itp"\n#include "oplsaa.ff/spce.itp"\n'
                                 f"[ system ]\nwater\n[ molecules ]\nSOL {n}\n")
    (d / "md.mdp").write_text(GROMACS_MDP.format(steps=steps))
    _run(["gmx", "-quiet", "grompp", "-f", "md.mdp", "-c", "water.gro", "-p", "topol.top", "-o", "md.tpr",
          "-maxwarn", "2"], cwd=d)
    return mpirun(ranks) + ["gmx_mpi", "-quiet", "mdrun", "-s", "md.tpr", "-ntomp", "1", "-nb", "cpu"]


def setup_hpcc(d: Path, n: int, ranks: int = 2) -> list[str]:
    """HPC Challenge; size = HPL N.  Not linear: every benchmark's problem grows with N.

    Measured here (1 / 2 ranks): N=3000 17 s / 8 s, N=5000 67 s / 28 s, N=8000 232 s / 107 s
    (HPL itself is only 1/4-1/3 of that).
    """
    lines = Path("/usr/share/doc/hpcc/examples/_hpccinf.txt").read_text().splitlines()
    lines[5] = f"{n}         Ns"
    lines[10] = "1            Ps"
    lines[11] = f"{ranks}            Qs"   # a 1 x ranks process grid
    (d / "hpccinf.txt").write_text("\n".join(lines) + "\n")
    return mpirun(ranks) + ["hpcc"]


def _omp1(ranks: int) -> list[str]:
    """mpirun exporting OMP_NUM_THREADS=1, so hybrid MPI/OpenMP codes (and OpenBLAS)
    run one thread per rank instead of oversubscribing the cores."""
    return mpirun(ranks) + ["-x", "OMP_NUM_THREADS=1"]


def setup_qe(d: Path, size: int, ranks: int = 2) -> list[str]:
    """Quantum ESPRESSO pw.x, Born-Oppenheimer MD of an 8-atom Si cell; size = MD steps
    (each step one SCF).

    Measured here: 1.73 s/step + 2 s on 1 rank, 1.07 s/step on 2 ranks.
    """
    (d / "pw.in").write_text(QE_SI.format(steps=size, outdir=d))
    return _omp1(ranks) + ["pw.x", "-input", "pw.in"]


def setup_cp2k(d: Path, size: int, ranks: int = 2) -> list[str]:
    """CP2K Quickstep (GPW, PBE, SZV basis) NVT MD of 8 water molecules; size = MD steps.

    Measured here: 1.55 s/step + 8 s on 1 rank, 0.88 s/step + 5 s on 2 ranks
    (the start-up is mostly the first SCF from an atomic guess).
    """
    coords = "\n".join(f"O {x:.3f} {y:.3f} {z:.3f}\nH {x + .757:.3f} {y + .586:.3f} {z:.3f}\n"
                       f"H {x - .757:.3f} {y + .586:.3f} {z:.3f}"
                       for x in (0.8, 3.9) for y in (0.8, 3.9) for z in (0.8, 3.9))
    (d / "md.inp").write_text(CP2K_WATER.format(steps=size, coords=coords))
    return _omp1(ranks) + ["cp2k.psmp", "-i", "md.inp", "-o", "md.out"]


def setup_nwchem(d: Path, size: int, ranks: int = 2) -> list[str]:
    """NWChem B3LYP/6-31G Born-Oppenheimer MD (qmd) of ethanol; size = MD steps.

    Measured here: 1.73 s/step + 3 s on 1 rank, 0.96 s/step + 2 s on 2 ranks.
    """
    (d / "md.nw").write_text(NWCHEM_QMD.format(steps=size, d=d))
    return _omp1(ranks) + ["nwchem", "md.nw"]


# Wall seconds measured on this 2-core machine: app -> ranks -> [(size, seconds), ...].
TIMINGS = {
    "lammps": {1: [(500, 7.9), (3000, 47.9)], 2: [(500, 4.0), (4000, 31.3)]},
    "gromacs": {1: [(1000, 7.0), (10000, 65.9)], 2: [(1000, 4.4), (10000, 36.4)]},
    "hpcc": {1: [(2000, 4.5), (3000, 16.6), (5000, 66.9), (8000, 232.1)],
             2: [(3000, 8.2), (5000, 27.6), (8000, 107.0)]},
    "qe": {1: [(5, 10.9), (20, 36.8)], 2: [(5, 5.2), (20, 21.3)]},
    "cp2k": {1: [(5, 15.6), (40, 69.9)], 2: [(5, 9.3), (40, 40.0)]},
    "nwchem": {1: [(5, 11.5), (40, 72.2)], 2: [(5, 6.7), (40, 40.3)]},
}
SETUP = {"lammps": setup_lammps, "gromacs": setup_gromacs, "hpcc": setup_hpcc,
         "qe": setup_qe, "cp2k": setup_cp2k, "nwchem": setup_nwchem}
HPCC_SECONDS = (15, 120)   # hpcc's range: beyond it N (memory, ~N^3 time) gets out of hand


def size_for(app: str, seconds: float, ranks: int = 2) -> int:
    """The `size` for SETUP[app] that runs about `seconds` wall time on `ranks` ranks (1 or 2).

    MD codes: a fixed start-up plus a cost per step, fitted through the first and last
    measured points.  hpcc: a power law between neighbouring measured N, with `seconds`
    clamped to HPCC_SECONDS."""
    pts = TIMINGS[app].get(ranks)
    if pts is None:
        raise ValueError(f"{app}: no timing measured for {ranks} ranks")
    if app == "hpcc":
        seconds = min(max(seconds, HPCC_SECONDS[0]), HPCC_SECONDS[1])
        seg = next((seg for seg in zip(pts, pts[1:]) if seconds <= seg[1][1]), (pts[-2], pts[-1]))
        (n0, t0), (n1, t1) = seg
        n = n0 * (seconds / t0) ** (math.log(n1 / n0) / math.log(t1 / t0))
        return int(round(n, -2))
    (s0, t0), (s1, t1) = pts[0], pts[-1]
    return max(1, round(s0 + (seconds - t0) * (s1 - s0) / (t1 - t0)))


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


OUTSIDE_SERVER = "PARATUNE_IPERF3_SERVER_OUTSIDE"
"""Set (by scripts/record_corpus.py --isolated) when a standing iperf3 server runs
in the namespace, outside the recorder's view: the one-off server below is then not started."""


def iperf3_server() -> None:
    """A one-off iperf3 server in the namespace, for one client."""
    if os.environ.get(OUTSIDE_SERVER):
        return
    subprocess.Popen(["ip", "netns", "exec", NETNS, "iperf3", "-s", "-1", "-B", NS_ADDR],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)


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
