"""One sample of a Linux node as one trace row.

``Sampler.sample()`` reads /proc and /sys (roots are parameters, so a
captured tree samples like a live node) and returns a dict keyed by the
columns of ``collector.schema``: counters raw as the kernel reports them,
nested columns as lists of dicts.  ``pa.RecordBatch.from_pylist(rows,
schema=arrow_schema(meta))`` takes the rows unchanged.

Whatever cannot be read is left None and said once on the
"paratune.collector" logger (also in ``.warnings``); the sample still goes out.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import time

import paratune_base
from collector import optional, schema
from collector.licences import Licences
from collector.processes import ProcessTable
from collector.procfs import (WarnOnce, looks_like_partition, parse_cpu_mhz, parse_cpu_model,
                              parse_diskstats, parse_loadavg, parse_meminfo, parse_net_dev, parse_pressure,
                              parse_slurm_cluster, parse_stat, parse_vmstat, read_file,
                              skipped_disk)
from collector.slurm import Scontrol, SlurmJobs, Worker
from paratune_base.errors import ParatuneError

LOG = logging.getLogger("paratune.collector")

ARPHRD_LOOPBACK = 772
"""/sys/class/net/X/type of loopback devices (include/uapi/linux/if_arp.h)."""

_PSI = (("cpu", "psi_cpu_some", None),        # cpu "full" (5.13+) has no column
        ("memory", "psi_mem_some", "psi_mem_full"),
        ("io", "psi_io_some", "psi_io_full"))
_NET_COUNTERS = tuple(f.name for f in schema.NET_FIELDS if f.kind == schema.COUNTER)
_NET_TOTALS = tuple((f"net_{k}", k) for k in _NET_COUNTERS)


class Sampler:
    """Reads node samples.  ``clock`` has ``time_ns()`` and ``monotonic_ns()``
    (the ``time`` module; tests may pass their own).  ``licences``: the
    ``[licences]`` settings (``collector.config.LicenceSettings``);
    ``scontrol``: the command that answers for this machine's Slurm, asked
    only when ``proc_root`` is /proc (None: never; the jobs' cgroups and
    environ still give their allocations)."""

    def __init__(self, proc_root: str = "/proc", sys_root: str = "/sys", top_n: int = 20,
                 cmdline: bool = False, clock=time, *, min_uid: int = 1000,
                 slurm_conf: str = "/etc/slurm/slurm.conf", sources=None, licences=None,
                 scontrol: str | None = "scontrol"):
        if not os.path.isfile(os.path.join(proc_root, "stat")):
            raise ParatuneError(f"{proc_root} is not a proc file system (no stat file)")
        if top_n < 0:
            raise ParatuneError(f"top_n must be >= 0, got {top_n}")
        self.proc_root = proc_root.rstrip("/") or "/"
        self.sys_root = sys_root.rstrip("/") or "/"
        self.clock = clock
        self.slurm_conf = slurm_conf
        self._warn = WarnOnce(LOG)
        self.processes = ProcessTable(self.proc_root, top_n=top_n, cmdline=cmdline,
                                      min_uid=min_uid, warn=self._warn)
        self._sources = optional.discover(optional.Roots(self.proc_root, self.sys_root),
                                          self._warn, sources)
        self.sources: list[str] = [s.name for s in self._sources]
        """Names of the optional sources found at start (ib, rapl, gpus, nfs, lustre)."""
        # Slurm allocations and licence counts: asked on a worker thread, never here.
        # scontrol answers for this machine's Slurm: not for a captured tree's jobs.
        worker = Worker("paratune-slurm")
        sc = Scontrol(scontrol) if scontrol and self.proc_root == "/proc" else None
        self.slurm = SlurmJobs(self.proc_root, self.sys_root, self._warn, worker=worker, scontrol=sc)
        self.licences = Licences(licences, self._warn, worker=worker, scontrol=sc)
        self._template = dict.fromkeys(schema.FIELDS)
        for col in ("ib", "rapl", "gpus", "fs", "slurm_jobs", "licences"):
            self._template[col] = []             # "empty when the node has none"
        self._loopback: dict[str, bool] = {}
        self._whole_disk: dict[str, bool] = {}
        self._has_sys_block = os.path.isdir(f"{self.sys_root}/block")
        self._freq = self._cpufreq_paths()
        self._psi = os.path.isdir(f"{self.proc_root}/pressure")
        if not self._psi:
            self._warn("psi", f"no {self.proc_root}/pressure (kernel before 4.20, or booted "
                              "with psi=0): the psi_* columns are null")

    @property
    def warnings(self) -> list[str]:
        """What could not be read so far, each said once."""
        return list(self._warn.messages)

    # -- one sample ----------------------------------------------------------

    def sample(self) -> dict:
        """One row: every column of schema.NODE_FIELDS, None where unknown."""
        row = self._template.copy()
        row["ts"] = self.clock.time_ns() // 1000
        row["mono_ns"] = self.clock.monotonic_ns()
        p = self.proc_root
        stat = self._parse(f"{p}/stat", parse_stat)
        if stat is not None:
            row.update(stat)
            if self._freq:
                self._fill_freq(row["cores"])
        for path, parser in ((f"{p}/loadavg", parse_loadavg), (f"{p}/meminfo", parse_meminfo),
                             (f"{p}/vmstat", parse_vmstat)):
            vals = self._parse(path, parser)
            if vals is not None:
                row.update(vals)
        for kind, some, full in _PSI if self._psi else ():
            psi = self._parse(f"{p}/pressure/{kind}", parse_pressure)
            if psi is not None:
                row[some] = psi["some"]
                if full is not None:
                    row[full] = psi["full"]
        nets = self._parse(f"{p}/net/dev", parse_net_dev)
        if nets is not None:
            totals = dict.fromkeys(_NET_COUNTERS, 0)
            for n in nets:
                n["loopback"] = lo = self._is_loopback(n["name"])
                if not lo:
                    for key in _NET_COUNTERS:
                        totals[key] += n[key]
            for col, key in _NET_TOTALS:
                row[col] = totals[key]
            row["nets"] = nets
        row["disks"] = self._parse(f"{p}/diskstats",
                                   lambda d: parse_diskstats(d, self._is_whole_disk))
        row["procs"] = procs = self.processes.sample()
        row["nprocs"] = self.processes.nprocs
        jobs = None
        for proc in procs:
            job = proc["job"]
            if job is not None:
                if jobs is None:
                    jobs = {}
                jobs.setdefault(job, []).append(proc["pid"])
        if jobs or self.slurm.busy:
            row["slurm_jobs"] = self.slurm.update(jobs or {}, row["mono_ns"])
        if jobs or self.licences.active:
            row["licences"] = self.licences.update(row["mono_ns"], bool(jobs))
        for src in self._sources:
            try:
                row[src.column] = row[src.column] + src.read()
            except Exception as e:      # a source must never stop the sample
                self._warn((src.name, "read"), f"{src.name}: read failed: {e!r}; left empty")
        return row

    def _parse(self, path: str, parser):
        try:
            data = read_file(path)
        except OSError as e:
            self._warn(path, f"cannot read {path}: {e.strerror}; its columns are null")
            return None
        try:
            return parser(data)
        except (ValueError, IndexError) as e:
            self._warn((path, "parse"), f"cannot parse {path} ({e}); its columns are null")
            return None

    # -- device decisions, made once per name ---------------------------------

    def _is_loopback(self, name: str) -> bool:
        lo = self._loopback.get(name)
        if lo is None:
            try:
                lo = int(read_file(f"{self.sys_root}/class/net/{name}/type")) == ARPHRD_LOOPBACK
            except (OSError, ValueError):
                lo = False
            lo = lo or name == "lo"
            self._loopback[name] = lo
        return lo

    def _is_whole_disk(self, name: str) -> bool:
        whole = self._whole_disk.get(name)
        if whole is None:
            if skipped_disk(name):
                whole = False
            elif self._has_sys_block:   # partitions are not in /sys/block; "/" is "!" there
                whole = os.path.exists(f"{self.sys_root}/block/{name.replace('/', '!')}")
            else:
                whole = not looks_like_partition(name)
            self._whole_disk[name] = whole
        return whole

    def _cpufreq_paths(self) -> dict[int, str]:
        base = f"{self.sys_root}/devices/system/cpu"
        paths = {}
        try:
            names = os.listdir(base)
        except OSError:
            return paths
        for name in names:
            if name.startswith("cpu") and name[3:].isdigit():
                path = f"{base}/{name}/cpufreq/scaling_cur_freq"
                if os.path.exists(path):
                    paths[int(name[3:])] = path
        return paths

    def _fill_freq(self, cores: list[dict]) -> None:
        for core in cores:
            path = self._freq.get(core["cpu"])
            if path is not None:
                try:
                    core["freq_mhz"] = int(read_file(path)) / 1000.0     # kHz
                except (OSError, ValueError) as e:
                    self._warn(("cpufreq", type(e)), f"cannot read {path}: {e}; freq_mhz is null")

    # -- trace metadata -------------------------------------------------------

    def metadata(self, interval_s: float) -> dict[str, str]:
        """Every key of schema.METADATA_KEYS, as text."""
        p = self.proc_root
        uname = os.uname()
        host = self._text(f"{p}/sys/kernel/hostname") or uname.nodename
        kernel = self._text(f"{p}/sys/kernel/osrelease") or uname.release
        stat = self._quiet(f"{p}/stat", parse_stat)
        mem = self._quiet(f"{p}/meminfo", parse_meminfo)
        model = self._quiet(f"{p}/cpuinfo", parse_cpu_model)
        mhz = self._quiet(f"{p}/cpuinfo", parse_cpu_mhz)
        try:
            with open(self.slurm_conf, encoding="utf-8", errors="replace") as f:
                cluster = parse_slurm_cluster(f.read())
        except OSError:
            cluster = ""
        start = _dt.datetime.fromtimestamp(self.clock.time_ns() / 1e9, _dt.timezone.utc)
        return {
            "format_version": str(schema.FORMAT_VERSION),
            "collector_version": paratune_base.__version__,
            "host": host.split(".")[0],
            "kernel": kernel,
            "cpu_model": model or "",
            "cpu_mhz": f"{mhz:.0f}" if mhz else "",
            "cores": str(len(stat["cores"]) if stat else os.cpu_count() or ""),
            "mem_total": "" if not mem or mem["mem_total"] is None else str(mem["mem_total"]),
            "clk_tck": str(os.sysconf("SC_CLK_TCK")),
            "page_size": str(os.sysconf("SC_PAGE_SIZE")),
            "interval_s": repr(float(interval_s)),
            "start": start.astimezone().isoformat(timespec="seconds"),
            "cluster": cluster,
            "sources": ",".join(self.sources),
            "licence_sources": ",".join(self.licences.sources()),
        }

    @staticmethod
    def _quiet(path: str, parser):
        try:
            return parser(read_file(path))
        except (OSError, ValueError, IndexError):
            return None

    @staticmethod
    def _text(path: str) -> str:
        try:
            return read_file(path).decode(errors="replace").strip()
        except OSError:
            return ""
