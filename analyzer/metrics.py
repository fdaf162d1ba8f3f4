"""The one table of derived metrics: name, label, unit, what it is.

``collector/schema.py`` declares the raw columns of a trace; this declares what
``analyzer.derive`` makes of them.  The report, the plot, the live view and
docs/metrics.md take labels and units from here, so they cannot disagree, and
a test checks that derive makes exactly these.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    label: str          # short, for a legend or a column
    unit: str           # %, B/s, 1/s, bytes, tasks, ...
    description: str
    short: str = ""     # at most 4 characters, for the live view's dense rows

    def show(self, value: float | None) -> str:
        return show(value, self.unit)


def show(value: float | None, unit: str) -> str:
    """A value for a person: rates of bytes in MB/s, bytes in GiB, percent without decimals."""
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "B/s":
        return f"{value / 1e6:.1f} MB/s"
    if unit == "bytes":
        return f"{value / 2**30:.2f} GiB"
    if unit == "%":
        return f"{value:.0f}%"
    return f"{value:.3g} {unit}".rstrip()


_STATES = {"user": "user", "nice": "nice", "system": "system", "idle": "idle", "iowait": "I/O wait",
           "irq": "interrupts (hard + soft)", "steal": "stolen by the hypervisor"}
_SHORT = {"user": "usr", "nice": "nice", "system": "sys", "idle": "idle", "iowait": "wait", "irq": "irq",
          "steal": "st"}

METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("cpu_busy_pct", "CPU busy", "%", "share of all CPU time in user, nice, system, interrupts and steal",
           "busy"),
    *(Metric(f"cpu_{k}_pct", f"CPU {k}", "%", f"share of all CPU time spent {v}", _SHORT[k])
      for k, v in _STATES.items()),
    Metric("core_imbalance_pct", "core imbalance", "%", "busiest minus idlest core's busy %"),
    Metric("load1", "load", "tasks", "1-minute load average", "load"),
    Metric("procs_running", "running", "tasks", "runnable tasks"),
    Metric("procs_blocked", "blocked", "tasks", "tasks blocked on I/O"),
    Metric("nprocs", "processes", "processes", "processes on the node"),
    Metric("ctxt_rate", "context switches", "1/s", "context switches per second"),
    Metric("intr_rate", "interrupts", "1/s", "interrupts per second"),
    Metric("forks_rate", "forks", "1/s", "processes and threads created per second"),
    Metric("mem_used_pct", "memory used", "%", "memory not available (MemTotal - MemAvailable) of MemTotal", "mem"),
    Metric("mem_available_pct", "memory available", "%", "MemAvailable of MemTotal"),
    Metric("mem_used_bytes", "memory used", "bytes", "MemTotal - MemAvailable"),
    Metric("swap_used_pct", "swap used", "%", "swap in use of SwapTotal"),
    Metric("pgfault_rate", "page faults", "1/s", "page faults per second"),
    Metric("majflt_rate", "major faults", "1/s", "major page faults per second (read from disk)"),
    Metric("pgscan_rate", "reclaim scans", "1/s", "pages scanned by reclaim per second"),
    Metric("swapin_rate", "swap in", "1/s", "pages swapped in per second"),
    Metric("swapout_rate", "swap out", "1/s", "pages swapped out per second"),
    *(Metric(f"psi_{r}_{w}_pct", f"PSI {r} {w}", "%",
             f"share of time {'some' if w == 'some' else 'all non-idle'} tasks stalled on {r}", "psi")
      for r, w in (("cpu", "some"), ("mem", "some"), ("mem", "full"), ("io", "some"), ("io", "full"))),
    Metric("net_rx_Bps", "net rx", "B/s", "bytes received per second, non-loopback interfaces"),
    Metric("net_tx_Bps", "net tx", "B/s", "bytes sent per second, non-loopback interfaces"),
    Metric("net_rx_pps", "net rx packets", "1/s", "packets received per second"),
    Metric("net_tx_pps", "net tx packets", "1/s", "packets sent per second"),
    Metric("net_errs_rate", "net errors", "1/s", "receive and send errors and drops per second"),
    Metric("disk_read_Bps", "disk read", "B/s", "bytes read per second, whole disks"),
    Metric("disk_write_Bps", "disk write", "B/s", "bytes written per second, whole disks"),
    Metric("disk_read_iops", "read IOPS", "1/s", "reads completed per second"),
    Metric("disk_write_iops", "write IOPS", "1/s", "writes completed per second"),
    Metric("disk_util_pct", "disk busy", "%", "share of time the busiest disk had I/O in flight"),
    Metric("disk_queue", "disk queue", "requests", "mean requests in flight, summed over disks"),
)}

KEY_SERIES = ("cpu_busy_pct", "cpu_iowait_pct", "mem_used_pct", "psi_mem_some_pct", "net_rx_Bps", "net_tx_Bps",
              "disk_read_Bps", "disk_write_Bps")
"""The metrics drawn as sparklines and plots."""


def short(name: str) -> str:
    """The metric's short label, else the start of its label."""
    m = METRICS.get(name)
    return (m.short or m.label[:4]) if m else name[:4]


def label(name: str) -> str:
    m = METRICS.get(name)
    return m.label if m else name


def unit(name: str) -> str:
    m = METRICS.get(name)
    return m.unit if m else ""


def key_series() -> tuple[tuple[str, str], ...]:
    """KEY_SERIES with their labels, the unit after the label where it helps read a sparkline."""
    return tuple((name, label(name) + (f" {unit(name)}" if unit(name) in ("%", "B/s") else ""))
                 for name in KEY_SERIES)


def doc_table() -> str:
    """The Markdown table of docs/metrics.md."""
    rows = ["| metric | label | unit | what it is |", "|---|---|---|---|"]
    rows += [f"| `{m.name}` | {m.label} | {m.unit} | {m.description} |" for m in METRICS.values()]
    return "\n".join(rows)
