"""The recorder's latest sample as Prometheus metrics, for sites that already run Prometheus/Grafana.

Nothing here samples: the recording loop hands each row to ``Exporter.publish``
(a reference swap plus the per-job bookkeeping, no lock), and a scrape, on
prometheus_client's own HTTP thread, turns the latest row into metric
families.  A slow or stuck scraper therefore never delays a sample.

Names follow node_exporter wherever both expose the same kernel counter, in
node_exporter's units (seconds and bytes, not ticks and sectors), so existing
dashboards work; what node_exporter does not have is ``paratune_*``.  The
table ``METRICS`` is the one list of what is exposed; ``docs/prometheus.md``
shows it.  Labels carry device names, CPU numbers and job ids, never command
lines.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
from dataclasses import dataclass

from prometheus_client import ProcessCollector
from prometheus_client.core import (CollectorRegistry, CounterMetricFamily, GaugeMetricFamily,
                                    UntypedMetricFamily)

from collector.schema import SECTOR_BYTES
from paratune_base.errors import ParatuneError

log = logging.getLogger("paratune.record")

IB_WORD_BYTES = 4           # port_rcv_data / port_xmit_data count 4-byte words
JOB_LINGER = 60
"""Samples a job's counter survives after its last process is gone (a job between steps)."""


@dataclass(frozen=True)
class Metric:
    """One exposed family: where its values come from and how they are scaled."""
    name: str               # as exposed (counters end in _total)
    kind: str               # counter | gauge | untyped
    labels: tuple[str, ...]
    source: str             # trace column, or nested column.field, or what computes it
    help: str
    scale: float = 1.0


def _m(name, kind, source, help_, labels=(), scale=1.0):
    return Metric(name, kind, tuple(labels), source, help_, scale)


_CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
_MEMINFO = (("mem_total", "MemTotal"), ("mem_free", "MemFree"), ("mem_available", "MemAvailable"),
            ("mem_buffers", "Buffers"), ("mem_cached", "Cached"), ("mem_dirty", "Dirty"),
            ("mem_writeback", "Writeback"), ("mem_anon", "AnonPages"), ("mem_slab", "Slab"),
            ("mem_shmem", "Shmem"), ("swap_total", "SwapTotal"))

# Node-wide scalar columns: (column, metric).
SCALARS = (
    ("ctxt", _m("node_context_switches_total", "counter", "ctxt", "Context switches.")),
    ("intr", _m("node_intr_total", "counter", "intr", "Interrupts serviced.")),
    ("forks", _m("node_forks_total", "counter", "forks", "Processes and threads created.")),
    ("procs_running", _m("node_procs_running", "gauge", "procs_running", "Runnable tasks.")),
    ("procs_blocked", _m("node_procs_blocked", "gauge", "procs_blocked", "Tasks blocked on I/O.")),
    *((c, _m(f"node_{c}", "gauge", c, f"{c[4:]}-minute load average.")) for c in ("load1", "load5", "load15")),
    *((c, _m(f"node_memory_{k}_bytes", "gauge", c, f"Memory information field {k}_bytes.")) for c, k in _MEMINFO),
    ("hugepages_total", _m("node_memory_HugePages_Total", "gauge", "hugepages_total",
                           "Memory information field HugePages_Total.")),
    ("hugepages_free", _m("node_memory_HugePages_Free", "gauge", "hugepages_free",
                          "Memory information field HugePages_Free.")),
    *((c, _m(f"node_vmstat_{c}", "untyped", c, f"/proc/vmstat information field {c}."))
      for c in ("pgfault", "pgmajfault", "pswpin", "pswpout")),
    ("pgscan", _m("paratune_vmstat_pgscan_total", "counter", "pgscan",
                  "Pages scanned by reclaim (kswapd, direct, khugepaged, proactive summed).")),
    ("pgsteal", _m("paratune_vmstat_pgsteal_total", "counter", "pgsteal",
                   "Pages reclaimed (kswapd, direct, khugepaged, proactive summed).")),
    ("psi_cpu_some", _m("node_pressure_cpu_waiting_seconds_total", "counter", "psi_cpu_some",
                        "Total time in seconds that processes have waited for CPU time.", scale=1e-6)),
    ("psi_mem_some", _m("node_pressure_memory_waiting_seconds_total", "counter", "psi_mem_some",
                        "Total time in seconds that processes have waited for memory.", scale=1e-6)),
    ("psi_mem_full", _m("node_pressure_memory_stalled_seconds_total", "counter", "psi_mem_full",
                        "Total time in seconds no process could make progress due to memory "
                        "congestion.", scale=1e-6)),
    ("psi_io_some", _m("node_pressure_io_waiting_seconds_total", "counter", "psi_io_some",
                       "Total time in seconds that processes have waited due to IO congestion.", scale=1e-6)),
    ("psi_io_full", _m("node_pressure_io_stalled_seconds_total", "counter", "psi_io_full",
                       "Total time in seconds no process could make progress due to IO congestion.",
                       scale=1e-6)),
    ("nprocs", _m("paratune_processes", "gauge", "nprocs", "Processes on the node (all of them).")),
)
SWAP_FREE = _m("node_memory_SwapFree_bytes", "gauge", "swap_total - swap_used",
               "Memory information field SwapFree_bytes.")
CPU = _m("node_cpu_seconds_total", "counter", "cores.<mode> / clk_tck",
         "Seconds the CPUs spent in each mode.", ("cpu", "mode"))
CPU_GUEST = _m("node_cpu_guest_seconds_total", "counter", "cores.guest, cores.guest_nice / clk_tck",
               "Seconds the CPUs spent in guests (VMs) for each mode (also counted in user and nice).",
               ("cpu", "mode"))
CPU_FREQ = _m("node_cpu_scaling_frequency_hertz", "gauge", "cores.freq_mhz",
              "Current scaled CPU thread frequency in hertz.", ("cpu",), 1e6)

# Nested columns: (column, key fields -> label names, [(field, metric)]).
_NET = tuple((f"{d}_{k}", _m(f"node_network_{w}_{k}_total", "counter", f"nets.{d}_{k}",
                             f"Network device statistic {w}_{k}.", ("device",)))
             for d, w in (("rx", "receive"), ("tx", "transmit")) for k in ("bytes", "packets", "errs", "drop"))
_DISK = tuple((f, _m(n, k, f"disks.{f}", h, ("device",), s)) for f, n, k, h, s in (
    ("reads", "node_disk_reads_completed_total", "counter", "The total number of reads completed successfully.", 1),
    ("reads_merged", "node_disk_reads_merged_total", "counter", "The total number of reads merged.", 1),
    ("read_sectors", "node_disk_read_bytes_total", "counter", "The total number of bytes read successfully.",
     SECTOR_BYTES),
    ("read_ticks", "node_disk_read_time_seconds_total", "counter", "The total number of seconds spent by all "
     "reads.", 1e-3),
    ("writes", "node_disk_writes_completed_total", "counter", "The total number of writes completed "
     "successfully.", 1),
    ("writes_merged", "node_disk_writes_merged_total", "counter", "The number of writes merged.", 1),
    ("write_sectors", "node_disk_written_bytes_total", "counter", "The total number of bytes written "
     "successfully.", SECTOR_BYTES),
    ("write_ticks", "node_disk_write_time_seconds_total", "counter", "This is the total number of seconds "
     "spent by all writes.", 1e-3),
    ("in_flight", "node_disk_io_now", "gauge", "The number of I/Os currently in progress.", 1),
    ("io_ticks", "node_disk_io_time_seconds_total", "counter", "Total seconds spent doing I/Os.", 1e-3),
    ("time_in_queue", "node_disk_io_time_weighted_seconds_total", "counter", "The weighted # of seconds spent "
     "doing I/Os.", 1e-3),
))
_IB = tuple((f, _m(f"node_infiniband_{n}", "counter", f"ib.{f}", h, ("device", "port"), s)) for f, n, h, s in (
    ("rx_data", "port_data_received_bytes_total", "Number of data octets received on all links", IB_WORD_BYTES),
    ("tx_data", "port_data_transmitted_bytes_total", "Number of data octets transmitted on all links",
     IB_WORD_BYTES),
    ("rx_packets", "port_packets_received_total", "Number of packets received on all VLs by this port "
     "(including errors)", 1),
    ("tx_packets", "port_packets_transmitted_total", "Number of packets transmitted on all VLs from this port "
     "(including errors)", 1),
    ("rx_errors", "port_errors_received_total", "Number of packets containing an error that were received on "
     "this port", 1),
    ("tx_wait", "port_transmit_wait_total", "Number of ticks during which the port had data to transmit but no "
     "data was sent during the entire tick", 1),
))
_RAPL = (("energy_uj", _m("paratune_rapl_energy_joules_total", "counter", "rapl.energy_uj",
                          "RAPL energy counter of the zone, in joules (wraps at max_energy_uj).",
                          ("zone", "domain"), 1e-6)),)
_GPU = tuple((f, _m(f"paratune_gpu_{n}", "gauge", f"gpus.{f}", h, ("gpu", "model"), s)) for f, n, h, s in (
    ("util_pct", "utilization_ratio", "GPU utilisation (0-1).", 0.01),
    ("mem_util_pct", "memory_utilization_ratio", "GPU memory controller utilisation (0-1).", 0.01),
    ("mem_used", "memory_used_bytes", "GPU device memory used.", 1),
    ("mem_total", "memory_total_bytes", "GPU device memory.", 1),
    ("power_w", "power_watts", "GPU power draw.", 1),
    ("temp_c", "temperature_celsius", "GPU temperature.", 1),
))
_FS = tuple((f, _m(f"paratune_fs_{n}", "counter", f"fs.{f}", h, ("fstype", "mount"))) for f, n, h in (
    ("read_bytes", "read_bytes_total", "Bytes read through the NFS or Lustre client."),
    ("write_bytes", "written_bytes_total", "Bytes written through the NFS or Lustre client."),
    ("ops", "operations_total", "Operations issued by the NFS or Lustre client."),
))
NESTED = (
    ("nets", ("name",), _NET),
    ("disks", ("name",), _DISK),
    ("ib", ("device", "port"), _IB),
    ("rapl", ("zone", "domain"), _RAPL),
    ("gpus", ("index", "name"), _GPU),
    ("fs", ("kind", "mount"), _FS),
)

JOB_CPU = _m("paratune_job_cpu_seconds_total", "counter", "procs.utime + procs.stime of the job's processes",
             "CPU seconds of the batch job's processes on this node, exited ones included.", ("jobid",))
JOB_RSS = _m("paratune_job_memory_rss_bytes", "gauge", "procs.rss summed over the job",
             "Resident memory of the batch job's processes on this node.", ("jobid",))
JOB_PROCS = _m("paratune_job_processes", "gauge", "procs rows of the job",
               "Processes of the batch job on this node.", ("jobid",))

HEALTH = (
    ("samples", _m("paratune_samples_total", "counter", "Recorder.samples", "Samples taken.")),
    ("failed", _m("paratune_failed_samples_total", "counter", "Recorder.failed",
                  "Samples lost to an error while reading the node (logged once per kind).")),
    ("missed", _m("paratune_missed_samples_total", "counter", "Recorder.skipped",
                  "Deadlines skipped because the recorder was more than one interval late.")),
    ("dropped", _m("paratune_dropped_samples_total", "counter", "Buffer.dropped",
                   "Samples dropped from the memory buffer while the disk had no room.")),
    ("written", _m("paratune_written_samples_total", "counter", "TraceWriter.written", "Samples written to trace files.")),
    ("duration", _m("paratune_sample_duration_seconds", "gauge", "clock around Sampler.sample()",
                    "Time the last sample took to read /proc and /sys.")),
    ("lateness", _m("paratune_sample_lateness_seconds", "gauge", "monotonic clock - deadline",
                    "How late the last sample started after its deadline.")),
)
UNAME = _m("node_uname_info", "gauge", "uname(2); host and kernel from the trace metadata",
           "Labeled system information as provided by the uname system call.",
           ("sysname", "release", "version", "machine", "nodename", "domainname"))
SAMPLE_TIME = _m("paratune_sample_timestamp_seconds", "gauge", "ts",
                 "Wall-clock time of the sample these metrics come from (alert when it stops moving).")

METRICS: tuple[Metric, ...] = (
    CPU, CPU_GUEST, CPU_FREQ, *(m for _, m in SCALARS), SWAP_FREE,
    *(m for _, _, fields in NESTED for _, m in fields),
    JOB_CPU, JOB_RSS, JOB_PROCS, UNAME, SAMPLE_TIME, *(m for _, m in HEALTH),
)
"""Every family the endpoint can expose, in exposition order."""


@dataclass(frozen=True)
class Health:
    """The recorder's own counters at one sample."""
    samples: int = 0
    failed: int = 0
    missed: int = 0
    dropped: int = 0
    written: int = 0
    duration: float = 0.0
    lateness: float = 0.0


class JobAccounts:
    """Per-job CPU ticks that only go up while the job runs on this node.

    Summing the live processes' utime+stime would fall every time a process
    exits, which Prometheus reads as a counter reset.  So a process that is
    gone keeps contributing its last value; a job whose processes have all been
    gone for ``JOB_LINGER`` samples is forgotten (its series ends).
    """

    def __init__(self, linger: int = JOB_LINGER):
        self.linger = linger
        self._live: dict[str, dict[tuple, int]] = {}    # job -> (pid, starttime) -> ticks
        self._exited: dict[str, int] = {}               # job -> ticks of its exited processes
        self._last_seen: dict[str, int] = {}
        self._k = 0

    def update(self, procs) -> dict[str, tuple[int, int, int]]:
        """Feed one sample's process rows; returns job -> (CPU ticks, RSS bytes, processes)."""
        live: dict[str, dict[tuple, int]] = {}
        rss: dict[str, int] = {}
        for p in procs or ():
            job = p.get("job")
            if job is None:
                continue
            mine = live.setdefault(job, {})
            if p.get("utime") is not None and p.get("stime") is not None:
                mine[(p["pid"], p["starttime"])] = p["utime"] + p["stime"]
            rss[job] = rss.get(job, 0) + (p.get("rss") or 0)
        for job, before in self._live.items():
            now = live.get(job, {})
            gone = sum(t for key, t in before.items() if key not in now)
            if gone:
                self._exited[job] = self._exited.get(job, 0) + gone
        for job in live:
            self._last_seen[job] = self._k
        for job in [j for j, k in self._last_seen.items() if self._k - k > self.linger]:
            del self._last_seen[job]
            self._exited.pop(job, None)
        self._k += 1
        self._live = live
        return {job: (sum(live.get(job, {}).values()) + self._exited.get(job, 0),
                      rss.get(job, 0), len(live.get(job, {})))
                for job in self._last_seen}


@dataclass(frozen=True)
class _Snapshot:
    row: dict | None
    jobs: dict
    health: Health


def _family(m: Metric):
    if m.kind == "counter":
        return CounterMetricFamily(m.name.removesuffix("_total"), m.help, labels=m.labels)
    if m.kind == "gauge":
        return GaugeMetricFamily(m.name, m.help, labels=m.labels)
    return UntypedMetricFamily(m.name, m.help, labels=m.labels)


def families(row: dict | None, jobs: dict, health: Health, clk_tck: float) -> list:
    """The metric families of one sample (``row`` as the sampler returns it)."""
    out = []
    if row is not None:
        out += _cpu_families(row.get("cores") or (), clk_tck)
        for column, m in SCALARS:
            v = row.get(column)
            if v is not None:
                fam = _family(m)
                fam.add_metric((), v * m.scale)
                out.append(fam)
        if row.get("swap_total") is not None and row.get("swap_used") is not None:
            fam = _family(SWAP_FREE)
            fam.add_metric((), row["swap_total"] - row["swap_used"])
            out.append(fam)
        for column, keys, fields in NESTED:
            items = row.get(column) or ()
            for field, m in fields:
                fam = _family(m)
                for item in items:
                    v = item.get(field)
                    if v is not None:
                        fam.add_metric(tuple(str(item.get(k)) for k in keys), v * m.scale)
                if fam.samples:
                    out.append(fam)
    if jobs:
        cpu, mem, n = _family(JOB_CPU), _family(JOB_RSS), _family(JOB_PROCS)
        for job, (ticks, rss, nprocs) in sorted(jobs.items()):
            cpu.add_metric((job,), ticks / clk_tck)
            mem.add_metric((job,), rss)
            n.add_metric((job,), nprocs)
        out += [cpu, mem, n]
    if row is not None and row.get("ts") is not None:
        fam = _family(SAMPLE_TIME)
        fam.add_metric((), row["ts"] / 1e6)
        out.append(fam)
    for attr, m in HEALTH:
        fam = _family(m)
        fam.add_metric((), getattr(health, attr))
        out.append(fam)
    return out


def _cpu_families(cores, clk_tck: float) -> list:
    cpu, guest, freq = _family(CPU), _family(CPU_GUEST), _family(CPU_FREQ)
    for core in cores:
        n = str(core["cpu"])
        for mode in _CPU_MODES:
            if core.get(mode) is not None:
                cpu.add_metric((n, mode), core[mode] / clk_tck)
        for field, mode in (("guest", "user"), ("guest_nice", "nice")):
            if core.get(field) is not None:
                guest.add_metric((n, mode), core[field] / clk_tck)
        if core.get("freq_mhz") is not None:
            freq.add_metric((n,), core["freq_mhz"] * CPU_FREQ.scale)
    return [f for f in (cpu, guest, freq) if f.samples]


def uname_labels(metadata: dict) -> tuple[str, ...]:
    """Label values of node_uname_info; host and kernel as the trace names them."""
    u = os.uname()
    domain = ""
    try:
        with open("/proc/sys/kernel/domainname") as fh:
            domain = fh.read().strip()
    except OSError:
        pass
    return (u.sysname, metadata.get("kernel") or u.release, u.version, u.machine,
            metadata.get("host") or u.nodename, domain or "(none)")


class Exporter:
    """A prometheus_client collector over the latest published sample, with its HTTP server."""

    def __init__(self, host: str, port: int, clk_tck: float | None = None, metadata: dict | None = None):
        self.host, self.port = host, port
        self.clk_tck = float(clk_tck or os.sysconf("SC_CLK_TCK"))
        self.uname = uname_labels(metadata or {})
        self.jobs = JobAccounts()
        self._snap = _Snapshot(None, {}, Health())
        self._server = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        ProcessCollector(registry=self.registry)     # process_*: the recorder's own CPU and memory

    # -- the recorder's side: one call per sample, never blocks ----------------

    def publish(self, row: dict | None, health: Health) -> None:
        """Make ``row`` (None: the sample failed; keep the last one) what scrapes see."""
        snap = self._snap
        if row is None:
            self._snap = _Snapshot(snap.row, snap.jobs, health)
        else:
            self._snap = _Snapshot(row, self.jobs.update(row.get("procs")), health)

    # -- the scraper's side --------------------------------------------------

    def collect(self):
        snap = self._snap          # one read: a sample published meanwhile waits for the next scrape
        yield from families(snap.row, snap.jobs, snap.health, self.clk_tck)
        info = _family(UNAME)      # what node_exporter dashboards pick the node by
        info.add_metric(self.uname, 1.0)
        yield info

    def start(self) -> "Exporter":
        """Listen on (host, port) from a daemon thread; a bad or busy address is one line."""
        from prometheus_client import start_http_server

        try:
            self._server, _ = start_http_server(self.port, addr=self.host, registry=self.registry)
        except socket.gaierror as exc:
            raise ParatuneError(f"prometheus: cannot resolve host {self.host!r} ({exc.strerror})", 1) from None
        except OSError as exc:
            if exc.errno == errno.EAFNOSUPPORT:   # a sandbox forbids the family: restarting cannot help
                raise ParatuneError(f"prometheus: cannot listen on {self.address}: {exc.strerror} (a sandbox "
                                    "such as systemd's RestrictAddressFamilies= forbids it)", 2) from None
            raise ParatuneError(f"prometheus: cannot listen on {self.address}: "
                                f"{exc.strerror or exc}", 1) from None
        self.port = self._server.server_port
        log.info("serving Prometheus metrics on http://%s/metrics", self.address)
        return self

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def markdown_table() -> str:
    """The metric table of docs/prometheus.md, from ``METRICS``."""
    rows = ["| metric | type | labels | source (trace field) | meaning |", "|---|---|---|---|---|"]
    for m in METRICS:
        src = m.source + (f" × {m.scale:g}" if m.scale > 1 else f" / {round(1 / m.scale)}" if m.scale < 1 else "")
        rows.append(f"| `{m.name}` | {m.kind} | {', '.join(m.labels) or '–'} | {src} | {m.help} |")
    return "\n".join(rows)
