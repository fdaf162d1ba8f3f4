"""The one declarative field table of a paratune trace.

Every column of a trace is declared here once (name, kind, unit, Arrow type,
description).  The Arrow schema, ``docs/trace-format.md`` and the labels of the
reports are all built from this table, so they cannot disagree.

A trace holds one row per sample.  Node-wide values are plain columns; things
that come in varying numbers (cores, interfaces, disks, processes and the
optional sources) are ``list<struct>`` columns, one struct per item, so one
Arrow stream carries everything of a sample and a flush is one record batch.

Kinds:
  ``counter`` raw cumulative value as the kernel reports it (never a rate);
              the analyzer turns it into a rate and handles wraps and resets.
  ``gauge``   an instantaneous value.
  ``label``   an identifier (name, id, flag).
  ``time``    a timestamp.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

FORMAT_VERSION = 2
"""Bump on any incompatible change, with a migration in ``collector.reader.upgrade``.

2: ``slurm_jobs`` and ``licences`` (a version-1 file reads with them null)."""

COUNTER, GAUGE, LABEL, TIME = "counter", "gauge", "label", "time"


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    unit: str
    type: pa.DataType
    description: str
    nullable: bool = True

    def arrow(self) -> pa.Field:
        meta = {b"kind": self.kind.encode(), b"unit": self.unit.encode()}
        return pa.field(self.name, self.type, nullable=self.nullable, metadata=meta)


u64, u32, i32, f32, f64, s, b = (pa.uint64(), pa.uint32(), pa.int32(),
                                 pa.float32(), pa.float64(), pa.string(), pa.bool_())


def _c(name, unit, desc, type_=u64):
    return Field(name, COUNTER, unit, type_, desc)


def _g(name, unit, desc, type_=u64):
    return Field(name, GAUGE, unit, type_, desc)


def _l(name, desc, type_=s):
    return Field(name, LABEL, "", type_, desc)


CPU_STATES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq",
              "steal", "guest", "guest_nice")
"""Columns of a /proc/stat cpu line, in kernel order."""

_STATE_DOC = {
    "user": "time in user mode (includes guest)",
    "nice": "time in user mode at low priority (includes guest_nice)",
    "system": "time in kernel mode",
    "idle": "idle time",
    "iowait": "idle time with I/O outstanding",
    "irq": "time servicing hardware interrupts",
    "softirq": "time servicing soft interrupts",
    "steal": "time stolen by the hypervisor",
    "guest": "time running a guest (already counted in user)",
    "guest_nice": "time running a niced guest (already counted in nice)",
}

CORE_FIELDS = (
    _l("cpu", "logical CPU number", u32),
    *(_c(st, "ticks", f"{_STATE_DOC[st]}, in USER_HZ ticks (see clk_tck)") for st in CPU_STATES),
    _g("freq_mhz", "MHz", "current frequency from cpufreq (null where not readable)", f32),
)

NET_FIELDS = (
    _l("name", "interface name"),
    _l("loopback", "true for loopback devices; the analyzer leaves them out by default", b),
    _c("rx_bytes", "bytes", "bytes received"),
    _c("rx_packets", "packets", "packets received"),
    _c("rx_errs", "packets", "receive errors"),
    _c("rx_drop", "packets", "received packets dropped"),
    _c("tx_bytes", "bytes", "bytes sent"),
    _c("tx_packets", "packets", "packets sent"),
    _c("tx_errs", "packets", "transmit errors"),
    _c("tx_drop", "packets", "packets dropped on transmit"),
)

SECTOR_BYTES = 512
"""/proc/diskstats counts 512-byte sectors whatever the device's own sector size."""

DISK_FIELDS = (
    _l("name", "whole-disk device name (partitions, loop and ram devices are skipped)"),
    _c("reads", "ops", "reads completed"),
    _c("reads_merged", "ops", "reads merged"),
    _c("read_sectors", "sectors", "512-byte sectors read"),
    _c("read_ticks", "ms", "time spent reading"),
    _c("writes", "ops", "writes completed"),
    _c("writes_merged", "ops", "writes merged"),
    _c("write_sectors", "sectors", "512-byte sectors written"),
    _c("write_ticks", "ms", "time spent writing"),
    _g("in_flight", "ops", "I/Os currently in flight"),
    _c("io_ticks", "ms", "time the device had I/O in flight (utilisation)"),
    _c("time_in_queue", "ms", "weighted time spent doing I/O"),
)

PROC_FIELDS = (
    _l("pid", "process id", i32),
    _l("ppid", "parent process id", i32),
    _l("uid", "real user id", u32),
    _l("user", "user name (uid as text when it has no name)"),
    _l("comm", "command name (/proc/PID/comm, at most 15 characters)"),
    _l("state", "scheduler state letter (R running, S sleeping, D disk wait, Z zombie, T stopped, ...)"),
    _g("threads", "threads", "number of threads", u32),
    _c("utime", "ticks", "user time of the process (all threads), USER_HZ ticks"),
    _c("stime", "ticks", "system time of the process (all threads), USER_HZ ticks"),
    _l("starttime", "start time in ticks after boot: with pid it identifies a process across pid reuse", u64),
    _g("rss", "bytes", "resident set size"),
    _c("read_bytes", "bytes", "bytes read from storage (/proc/PID/io; null when not readable)"),
    _c("write_bytes", "bytes", "bytes written to storage (/proc/PID/io; null when not readable)"),
    _l("job", "batch job id (Slurm), null when the process belongs to no job"),
    _l("cmdline", "full command line with secrets redacted; null unless recorded with --cmdline"),
)

IB_FIELDS = (
    _l("device", "InfiniBand HCA name"),
    _l("port", "port number", u32),
    _c("rx_data", "words", "port_rcv_data: 4-byte words received (lanes summed)"),
    _c("tx_data", "words", "port_xmit_data: 4-byte words sent (lanes summed)"),
    _c("rx_packets", "packets", "port_rcv_packets"),
    _c("tx_packets", "packets", "port_xmit_packets"),
    _c("rx_errors", "packets", "port_rcv_errors"),
    _c("tx_wait", "ticks", "port_xmit_wait: ticks the port had data to send but no credits"),
)

RAPL_FIELDS = (
    _l("zone", "powercap zone path, e.g. intel-rapl:0 or intel-rapl:0:0"),
    _l("domain", "zone name, e.g. package-0, dram, core"),
    _c("energy_uj", "uJ", "energy counter; wraps at max_energy_uj"),
    _l("max_energy_uj", "value at which energy_uj wraps", u64),
)

GPU_FIELDS = (
    _l("index", "GPU index", u32),
    _l("name", "GPU model"),
    _g("util_pct", "%", "GPU utilisation", f32),
    _g("mem_util_pct", "%", "memory controller utilisation", f32),
    _g("mem_used", "bytes", "device memory used"),
    _g("mem_total", "bytes", "device memory"),
    _g("power_w", "W", "power draw", f32),
    _g("temp_c", "degC", "temperature", f32),
)

FS_FIELDS = (
    _l("kind", "client file system type: nfs or lustre"),
    _l("mount", "mount point (NFS) or llite instance (Lustre)"),
    _c("read_bytes", "bytes", "bytes read through the client"),
    _c("write_bytes", "bytes", "bytes written through the client"),
    _c("ops", "ops", "metadata and data operations issued"),
)

SLURM_JOB_FIELDS = (
    _l("job", "Slurm job id"),
    _l("user", "user name the job runs as (null when unknown)"),
    _l("partition", "partition the job runs in (null when unknown)"),
    _g("nodes", "nodes", "nodes in the job", u32),
    _g("cpus", "cpus", "CPUs allocated to the job on this node", u32),
    _l("cpu_ids", "this node's CPUs of the job, as Slurm lists them (\"0-1,4\"); \"\" unknown"),
    _g("mem_bytes", "bytes", "memory limit of the job on this node; null when unknown or unlimited"),
    _g("time_limit_s", "s", "time limit; null for UNLIMITED or unknown"),
    Field("start", TIME, "us", pa.timestamp("us", tz="UTC"), "when the job started (UTC)"),
    _g("gpus", "gpus", "GPUs allocated to the job on this node, 0 none (null when unknown)", u32),
    _l("gres", "generic resources as Slurm prints them (\"gpu:a100:2(IDX:0-1)\"); \"\" none"),
    _l("licenses", "licences the job asked for, as Slurm prints them (\"matlab:1,ansys:2\"); \"\" none, "
                   "null when unknown"),
    _l("source", "where the row comes from: scontrol, cgroup (CPUs and memory from the job's cgroup, "
                 "the rest from its environ) or environ (the SLURM_ variables of a job process)"),
)

LICENCE_FIELDS = (
    _l("name", "licence or feature name"),
    _l("server", "FlexLM server as PORT@HOST; \"\" for Slurm's licences"),
    _g("total", "licences", "licences the server has (null for FlexLM's uncounted ones)", u32),
    _g("used", "licences", "licences in use, by anyone on the cluster (null when uncounted)", u32),
    _l("source", "slurm (scontrol show licenses) or flexlm (lmutil lmstat)"),
)


def _struct_list(fields) -> pa.DataType:
    return pa.list_(pa.struct([f.arrow() for f in fields]))


NESTED = {
    "cores": (CORE_FIELDS, "per logical CPU time by state"),
    "nets": (NET_FIELDS, "per network interface counters"),
    "disks": (DISK_FIELDS, "per whole-disk block device counters (/proc/diskstats)"),
    "procs": (PROC_FIELDS, "the process table: every process of non-system users plus the top N by CPU"),
    "ib": (IB_FIELDS, "InfiniBand port counters (empty when the node has none)"),
    "rapl": (RAPL_FIELDS, "RAPL energy counters (empty when the node has none)"),
    "gpus": (GPU_FIELDS, "NVIDIA GPUs through NVML (empty when the node has none)"),
    "fs": (FS_FIELDS, "NFS and Lustre client counters (empty when none are mounted)"),
    "slurm_jobs": (SLURM_JOB_FIELDS, "Slurm allocations of this node's jobs, only in the sample where "
                                     "one is first known or changes (see above)"),
    "licences": (LICENCE_FIELDS, "licence counts, only in the samples where a poll's answer came in "
                                 "(see above)"),
}

NODE_FIELDS = (
    Field("ts", TIME, "us", pa.timestamp("us", tz="UTC"), "wall-clock time of the sample (UTC)", False),
    Field("mono_ns", TIME, "ns", u64, "monotonic clock at the sample: honest intervals across wall-clock jumps", False),
    *(_c(f"cpu_{st}", "ticks", f"node total: {_STATE_DOC[st]}") for st in CPU_STATES),
    _c("ctxt", "switches", "context switches"),
    _c("intr", "interrupts", "interrupts serviced"),
    _c("forks", "processes", "processes and threads created"),
    _g("procs_running", "tasks", "runnable tasks", u32),
    _g("procs_blocked", "tasks", "tasks blocked on I/O", u32),
    _g("load1", "tasks", "1-minute load average", f32),
    _g("load5", "tasks", "5-minute load average", f32),
    _g("load15", "tasks", "15-minute load average", f32),
    _g("nprocs", "processes", "processes on the node (all, not only those in procs)", u32),
    _g("mem_total", "bytes", "MemTotal"),
    _g("mem_free", "bytes", "MemFree"),
    _g("mem_available", "bytes", "MemAvailable"),
    _g("mem_buffers", "bytes", "Buffers"),
    _g("mem_cached", "bytes", "Cached"),
    _g("mem_dirty", "bytes", "Dirty"),
    _g("mem_writeback", "bytes", "Writeback"),
    _g("mem_anon", "bytes", "AnonPages"),
    _g("mem_slab", "bytes", "Slab"),
    _g("mem_shmem", "bytes", "Shmem"),
    _g("hugepages_total", "pages", "HugePages_Total"),
    _g("hugepages_free", "pages", "HugePages_Free"),
    _g("swap_total", "bytes", "SwapTotal"),
    _g("swap_used", "bytes", "SwapTotal - SwapFree"),
    _c("pgfault", "faults", "page faults (/proc/vmstat)"),
    _c("pgmajfault", "faults", "major page faults"),
    _c("pswpin", "pages", "pages swapped in"),
    _c("pswpout", "pages", "pages swapped out"),
    _c("pgscan", "pages", "pages scanned by reclaim (kswapd, direct, khugepaged, proactive)"),
    _c("pgsteal", "pages", "pages reclaimed (kswapd, direct, khugepaged, proactive)"),
    _c("psi_cpu_some", "us", "PSI: time some tasks stalled on CPU (null without /proc/pressure)"),
    _c("psi_mem_some", "us", "PSI: time some tasks stalled on memory"),
    _c("psi_mem_full", "us", "PSI: time all non-idle tasks stalled on memory"),
    _c("psi_io_some", "us", "PSI: time some tasks stalled on I/O"),
    _c("psi_io_full", "us", "PSI: time all non-idle tasks stalled on I/O"),
    *(_c(f"net_{f.name}", f.unit, f"node total over non-loopback interfaces: {f.description}")
      for f in NET_FIELDS if f.kind == COUNTER),
    *(Field(name, LABEL, "", _struct_list(fields), desc) for name, (fields, desc) in NESTED.items()),
)

FIELDS = {f.name: f for f in NODE_FIELDS}

METADATA_KEYS = {
    "format_version": "trace format version (this document describes version 2)",
    "collector_version": "paratune version that wrote the file",
    "host": "short host name",
    "kernel": "kernel release (uname -r)",
    "cpu_model": "CPU model name from /proc/cpuinfo",
    "cpu_mhz": "mean core clock in MHz at the start, from /proc/cpuinfo (empty where it does not say)",
    "cores": "logical CPUs online",
    "mem_total": "memory in bytes",
    "clk_tck": "USER_HZ: ticks per second of the tick counters",
    "page_size": "bytes per page",
    "interval_s": "sampling interval in seconds",
    "start": "ISO 8601 time the recorder started this file",
    "cluster": "Slurm ClusterName when known, else empty",
    "sources": "comma-separated optional sources found at start (ib, rapl, gpus, nfs, lustre)",
    "licence_sources": "comma-separated licence sources polled: slurm, and each FlexLM server as PORT@HOST",
}


def arrow_schema(metadata: dict[str, str] | None = None) -> pa.Schema:
    """The Arrow schema of a trace, with ``paratune.*`` keys as schema metadata."""
    meta = {f"paratune.{k}": str(v) for k, v in (metadata or {}).items()}
    meta.setdefault("paratune.format_version", str(FORMAT_VERSION))
    return pa.schema([f.arrow() for f in NODE_FIELDS], metadata=meta)


def trace_metadata(schema: pa.Schema) -> dict[str, str]:
    """The ``paratune.*`` metadata of a schema as a plain dict (prefix removed)."""
    raw = schema.metadata or {}
    return {k.decode()[9:]: v.decode() for k, v in raw.items() if k.startswith(b"paratune.")}
