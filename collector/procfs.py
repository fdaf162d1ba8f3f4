"""Pure parsers of /proc and /sys text, plus the one cheap file read they share.

Every ``parse_*`` takes the bytes of a file exactly as the kernel wrote it and
returns plain values keyed by the column names of ``collector.schema``; none
touches the file system, so tests feed them captured trees of several kernels.
Bytes rather than str: decoding 70 small files a second is measurable, and
``int(b"123")`` works on bytes directly.

Kernel-version quirks are noted where a parser handles them.
"""
from __future__ import annotations

import logging
import os
import re

_O_RDONLY = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)

# --------------------------------------------------------------------------
# Reading


def read_file(path: str) -> bytes:
    """Whole file through os.open/os.read: the cheapest read CPython has.

    Reads until EOF because multi-record seq_files (/proc/vmstat, net/dev,
    diskstats) return about one page per read(2) whatever the count asked.
    """
    fd = os.open(path, _O_RDONLY)
    try:
        data = os.read(fd, 65536)
        if not data:
            return data
        chunks = [data]
        while True:
            more = os.read(fd, 65536)
            if not more:
                break
            chunks.append(more)
        return data if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


def read_once(path: str, size: int = 4096) -> bytes:
    """One read(2): enough for single_open files (/proc/PID/stat, status, io,
    cgroup), whose whole text the kernel builds and returns in one call."""
    fd = os.open(path, _O_RDONLY)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


class WarnOnce:
    """Logs each distinct problem once: a 1 Hz collector must not flood its log.

    Call it with a key (what failed) and a message; ``messages`` keeps what
    was said so callers (``Sampler.warnings``) can show it again.
    """

    def __init__(self, logger: logging.Logger | None = None):
        self.logger = logger or logging.getLogger("paratune.collector")
        self.seen: set = set()
        self.messages: list[str] = []

    def __call__(self, key, message: str) -> None:
        if key in self.seen:
            return
        self.seen.add(key)
        self.messages.append(message)
        self.logger.warning(message)


# --------------------------------------------------------------------------
# Node: /proc/stat, loadavg, meminfo, vmstat, pressure

CPU_STATES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq",
              "steal", "guest", "guest_nice")
_CPU_KEYS = tuple(f"cpu_{s}" for s in CPU_STATES)


def _cpu_values(fields: list[bytes]) -> list[int | None]:
    # steal since 2.6.11, guest 2.6.24, guest_nice 2.6.33: older lines are short.
    vals: list[int | None] = [int(x) for x in fields[:10]]
    if len(vals) < 10:
        vals.extend([None] * (10 - len(vals)))
    return vals


def _find_int(data: bytes, key: bytes) -> int | None:
    """Integer after ``key`` (which starts with a newline) up to the next
    blank: one C-speed scan instead of a Python loop over every line."""
    i = data.find(key)
    if i < 0:
        return None
    i += len(key)
    j = data.find(b"\n", i)
    return int(data[i:j if j >= 0 else len(data)].split(None, 1)[0])


def parse_stat(data: bytes) -> dict:
    """/proc/stat -> node cpu_* ticks, ctxt, intr (total), forks,
    procs_running, procs_blocked, and ``cores``: one dict per online CPU.

    ``freq_mhz`` of each core is None here; the sampler fills it from cpufreq.
    Offline CPUs have no ``cpuN`` line, so ``cores`` lists only online ones.
    """
    out: dict = dict.fromkeys(_CPU_KEYS)
    cores = []
    end = data.find(b"\nintr ")
    for line in data[:end if end >= 0 else len(data)].split(b"\n"):
        if not line.startswith(b"cpu"):
            continue
        f = line.split()
        vals = _cpu_values(f[1:])
        if f[0] == b"cpu":
            out.update(zip(_CPU_KEYS, vals))
        else:
            core = {"cpu": int(f[0][3:])}
            core.update(zip(CPU_STATES, vals))
            core["freq_mhz"] = None
            cores.append(core)
    data = b"\n" + data[end + 1:] if end >= 0 else data
    out["intr"] = _find_int(data, b"\nintr ")        # the total; the rest is per IRQ
    out["ctxt"] = _find_int(data, b"\nctxt ")
    out["forks"] = _find_int(data, b"\nprocesses ")
    out["procs_running"] = _find_int(data, b"\nprocs_running ")
    out["procs_blocked"] = _find_int(data, b"\nprocs_blocked ")
    out["cores"] = cores
    return out


def parse_loadavg(data: bytes) -> dict:
    """/proc/loadavg -> load1, load5, load15."""
    f = data.split()
    return {"load1": float(f[0]), "load5": float(f[1]), "load15": float(f[2])}


_MEMINFO = {
    b"MemTotal": "mem_total", b"MemFree": "mem_free", b"MemAvailable": "mem_available",
    b"Buffers": "mem_buffers", b"Cached": "mem_cached", b"Dirty": "mem_dirty",
    b"Writeback": "mem_writeback", b"AnonPages": "mem_anon", b"Slab": "mem_slab",
    b"Shmem": "mem_shmem", b"HugePages_Total": "hugepages_total",
    b"HugePages_Free": "hugepages_free", b"SwapTotal": "swap_total",
}
_MEMINFO_FIND = tuple((b"\n" + k + b":", v) for k, v in _MEMINFO.items())


def parse_meminfo(data: bytes) -> dict:
    """/proc/meminfo -> mem_* in bytes, hugepages_* in pages, swap_total and
    swap_used (SwapTotal - SwapFree).  MemAvailable exists since 3.14 (and
    RHEL 7's 3.10): None before."""
    data = b"\n" + data
    out = {}
    for name, key in _MEMINFO_FIND:
        v = _find_int(data, name)
        out[key] = v if v is None or key.startswith("huge") else v * 1024
    free = _find_int(data, b"\nSwapFree:")
    total = out["swap_total"]
    out["swap_used"] = None if total is None or free is None else max(total - free * 1024, 0)
    return out


_VMSTAT = ((b"\npgfault ", "pgfault"), (b"\npgmajfault ", "pgmajfault"),
           (b"\npswpin ", "pswpin"), (b"\npswpout ", "pswpout"))
# Reclaim scans and steals by who did them.  Since 4.8 one counter per actor:
# pgscan_kswapd, pgscan_direct, pgscan_khugepaged (5.8+), pgscan_proactive
# (6.x, memory.reclaim); before 4.8 one per actor and zone
# (pgscan_kswapd_normal, pgscan_direct_dma32, ...).  pgscan_anon/pgscan_file
# (5.8+) split the same pages again and pgscan_direct_throttle counts
# throttling events: both are left out.
_RECLAIM_ACTORS = (b"kswapd", b"direct", b"khugepaged", b"proactive")
_RECLAIM = tuple((key, tuple(b"\n" + key.encode() + b"_" + a + b" " for a in _RECLAIM_ACTORS))
                 for key in ("pgscan", "pgsteal"))


def _reclaim_per_zone(data: bytes, prefix: bytes) -> int | None:
    total = None
    for line in data.split(b"\n"):
        if line.startswith(prefix):
            name, _, v = line.partition(b" ")
            actor = name[len(prefix):].split(b"_", 1)[0]
            if actor in _RECLAIM_ACTORS and name != b"pgscan_direct_throttle":
                total = (total or 0) + int(v)
    return total


def parse_vmstat(data: bytes) -> dict:
    """/proc/vmstat -> pgfault, pgmajfault, pswpin, pswpout, pgscan, pgsteal."""
    data = b"\n" + data
    out = {key: _find_int(data, name) for name, key in _VMSTAT}
    for key, names in _RECLAIM:
        vals = [v for v in (_find_int(data, n) for n in names) if v is not None]
        out[key] = sum(vals) if vals else _reclaim_per_zone(data, key.encode() + b"_")
    return out


def parse_pressure(data: bytes) -> dict:
    """/proc/pressure/{cpu,memory,io} -> {"some": total_us, "full": total_us}.

    Each is None when its line is absent: cpu has only "some" before 5.13.
    """
    out = {"some": None, "full": None}
    for line in data.split(b"\n"):
        f = line.split()
        if f and f[0] in (b"some", b"full") and f[-1].startswith(b"total="):
            out[f[0].decode()] = int(f[-1][6:])
    return out


# --------------------------------------------------------------------------
# Devices: /proc/net/dev, /proc/diskstats

_NET_COLS = {"rx_bytes": 0, "rx_packets": 1, "rx_errs": 2, "rx_drop": 3,
             "tx_bytes": 8, "tx_packets": 9, "tx_errs": 10, "tx_drop": 11}


def parse_net_dev(data: bytes) -> list[dict]:
    """/proc/net/dev -> one dict per interface with the NET_FIELDS counters.

    ``loopback`` is only a guess from the name ("lo"); the sampler corrects
    it from /sys/class/net/X/type.  Kernels before 2.6 glued a large rx_bytes
    to the colon ("eth0:123456"), hence the split on the last colon.
    """
    out = []
    for line in data.split(b"\n")[2:]:
        name, sep, rest = line.rpartition(b":")
        if not sep:
            continue
        f = rest.split()
        if len(f) < 16:
            continue
        name = name.strip().decode()
        row = {"name": name, "loopback": name == "lo"}
        for key, i in _NET_COLS.items():
            row[key] = int(f[i])
        out.append(row)
    return out


DISK_KEYS = ("reads", "reads_merged", "read_sectors", "read_ticks", "writes",
             "writes_merged", "write_sectors", "write_ticks", "in_flight",
             "io_ticks", "time_in_queue")


def parse_diskstats(data: bytes, keep=None) -> list[dict]:
    """/proc/diskstats -> one dict per device (DISK_FIELDS), optionally only
    names for which ``keep(name)`` is true.

    Lines have 14 fields (major, minor, name and 11 counters); 4.18 appends 4
    discard counters (18) and 5.5 two flush counters (20): the extra ones are
    ignored.  2.6.x partition lines with only 4 counters are skipped.
    """
    out = []
    for line in data.split(b"\n"):
        f = line.split()
        if len(f) < 14:
            continue
        name = f[2].decode()
        if keep is not None and not keep(name):
            continue
        row = {"name": name}
        row.update(zip(DISK_KEYS, map(int, f[3:14])))
        out.append(row)
    return out


_PARTITION = re.compile(r"^(?:(?:[shv]|xv)d[a-z]+\d+|(?:nvme\d+n\d+|mmcblk\d+|nbd\d+)p\d+)$")


def looks_like_partition(name: str) -> bool:
    """Name-only fallback when /sys/block cannot be listed (sda1, nvme0n1p2)."""
    return _PARTITION.match(name) is not None


def skipped_disk(name: str) -> bool:
    """loop and ram devices are never interesting and come by the dozen."""
    return name.startswith(("loop", "ram"))


# --------------------------------------------------------------------------
# Per process: /proc/PID/{stat,status,io,cgroup,environ}

PF_KTHREAD = 0x00200000
"""Flag bit of kernel threads in /proc/PID/stat field 9 (include/linux/sched.h)."""


# Indexes into split_pid_stat()'s fields: field N of proc(5) is N - 3.
STAT_STATE, STAT_PPID, STAT_FLAGS, STAT_UTIME, STAT_STIME = 0, 1, 6, 11, 12
STAT_THREADS, STAT_STARTTIME, STAT_RSS = 17, 19, 21


def split_pid_stat(data: bytes):
    """/proc/PID/stat -> (comm, fields from state to rss, as bytes), or None
    for an empty or cut line (the process died while we read).

    comm may hold spaces and parentheses, so the fields start after the LAST
    ')'.  Nothing is converted: the process table turns into ints only what
    it needs, which matters at one read per process per second.
    """
    r = data.rfind(b")")
    if r < 0:
        return None
    f = data[r + 2:].split(None, STAT_RSS + 1)
    if len(f) <= STAT_RSS:
        return None
    return data[data.find(b"(") + 1:r], f


def parse_pid_stat(data: bytes):
    """/proc/PID/stat -> (comm, state, ppid, flags, utime, stime, threads,
    starttime, rss_pages), or None when the line is empty or cut."""
    s = split_pid_stat(data)
    if s is None:
        return None
    comm, f = s
    return (comm, f[STAT_STATE], int(f[STAT_PPID]), int(f[STAT_FLAGS]), int(f[STAT_UTIME]),
            int(f[STAT_STIME]), int(f[STAT_THREADS]), int(f[STAT_STARTTIME]), int(f[STAT_RSS]))


def parse_pid_status_uid(data: bytes) -> int | None:
    """Real uid: the first number of the ``Uid:`` line of /proc/PID/status."""
    i = data.find(b"\nUid:")
    if i < 0:
        return None
    f = data[i + 5:data.find(b"\n", i + 5)].split()
    return int(f[0]) if f else None


def parse_pid_io(data: bytes) -> tuple[int | None, int | None]:
    """/proc/PID/io -> (read_bytes, write_bytes): bytes that reached storage."""
    f = data.split()
    # rchar wchar syscr syscw read_bytes write_bytes cancelled_write_bytes,
    # in this order since 2.6.20; search by name only if it ever changes.
    if len(f) >= 12 and f[8] == b"read_bytes:" and f[10] == b"write_bytes:":
        return int(f[9]), int(f[11])
    vals = dict(zip(f[::2], f[1::2]))
    rb, wb = vals.get(b"read_bytes:"), vals.get(b"write_bytes:")
    return (int(rb) if rb is not None else None, int(wb) if wb is not None else None)


_CGROUP_JOB = re.compile(rb"(?:^|/)job_(\d+)(?=/|$)", re.M)


def parse_cgroup_job(data: bytes) -> str | None:
    """Slurm job id from /proc/PID/cgroup: a ``job_<id>`` path component.

    cgroup v1 (``4:memory:/slurm/uid_0/job_12/step_0``, or ``/slurm_<node>/``
    with several slurmd per host) and v2
    (``0::/system.slice/slurmstepd.scope/job_12/step_0/user/task_0``).
    """
    m = _CGROUP_JOB.search(data)
    return m.group(1).decode() if m else None


def parse_environ_job(data: bytes) -> str | None:
    """SLURM_JOB_ID (or the older alias SLURM_JOBID) from /proc/PID/environ."""
    for name in (b"SLURM_JOB_ID=", b"SLURM_JOBID="):
        if data.startswith(name):
            i = 0
        else:
            i = data.find(b"\0" + name)
            if i < 0:
                continue
            i += 1
        start = i + len(name)
        end = data.find(b"\0", start)
        value = data[start:end if end >= 0 else len(data)]
        if value:
            return value.decode(errors="replace")
    return None


# --------------------------------------------------------------------------
# Metadata: cpuinfo, slurm.conf


def parse_cpu_mhz(data: bytes) -> float | None:
    """Mean ``cpu MHz`` of /proc/cpuinfo's processors (x86 prints it; a VM
    without cpufreq has no other clock), None where no line gives it."""
    mhz = []
    for line in data.split(b"\n"):
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"cpu mhz":
            try:
                mhz.append(float(value))
            except ValueError:
                pass
    return sum(mhz) / len(mhz) if mhz else None


def parse_cpu_model(data: bytes) -> str:
    """CPU model from /proc/cpuinfo: ``model name`` (x86), else ``Processor``,
    ``cpu model`` or ``uarch`` lines other architectures use; "" if none."""
    found = {}
    for line in data.split(b"\n"):
        name, sep, value = line.partition(b":")
        if sep:
            found.setdefault(name.strip().lower(), value.strip())
    for key in (b"model name", b"processor", b"cpu model", b"cpu", b"uarch"):
        v = found.get(key)
        if v and not v.isdigit():
            return v.decode(errors="replace")
    return ""


_CLUSTER = re.compile(r"^\s*ClusterName\s*=\s*([^\s#]+)", re.I | re.M)


def parse_slurm_cluster(text: str) -> str:
    """ClusterName from slurm.conf text, "" when not set."""
    m = _CLUSTER.search(text)
    return m.group(1) if m else ""


# --------------------------------------------------------------------------
# Client file systems: /proc/self/mountstats (NFS), llite stats (Lustre)

_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(path: str) -> str:
    # the kernel writes space, tab, newline and backslash in mount paths as \ooo
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), path)


def parse_mountstats(data: bytes) -> list[dict]:
    """NFS client mounts of /proc/self/mountstats -> FS_FIELDS dicts.

    read/write_bytes are what applications moved through the mount (normal +
    O_DIRECT, the first four values of the ``bytes:`` line); ops is the sum of
    the first column (operations issued) over the per-op RPC statistics.
    ``fstype nfsd`` (the server's control file system) is not a client mount.
    """
    out = []
    cur = None
    in_ops = False
    for raw in data.split(b"\n"):
        line = raw.strip()
        if raw.startswith(b"device "):
            cur = None
            in_ops = False
            f = raw.split()
            # device SERVER:/PATH mounted on MOUNT with fstype TYPE [statvers=..]
            if len(f) >= 8 and f[2:4] == [b"mounted", b"on"] and f[7] in (b"nfs", b"nfs4"):
                cur = {"kind": "nfs", "mount": _unescape(f[4].decode(errors="replace")),
                       "read_bytes": None, "write_bytes": None, "ops": None}
                out.append(cur)
        elif cur is None:
            continue
        elif line.startswith(b"bytes:"):
            v = [int(x) for x in line[6:].split()]
            if len(v) >= 4:
                cur["read_bytes"] = v[0] + v[2]
                cur["write_bytes"] = v[1] + v[3]
        elif line == b"per-op statistics":
            in_ops = True
            cur["ops"] = 0
        elif in_ops:
            name, sep, rest = line.partition(b":")
            f = rest.split()
            if sep and f:
                cur["ops"] += int(f[0])
    return out


_LUSTRE_VOLUME_UNITS = (b"[bytes]", b"[pages]")


def parse_llite_stats(data: bytes) -> dict:
    """Lustre client llite ``stats`` -> read_bytes, write_bytes, ops.

    Lines are ``name count samples [unit] [min max sum [sumsq]]``.  Bytes are
    the sums of read_bytes and write_bytes.  ops is the sample count of every
    operation line; volume lines ([bytes], [pages]) repeat operations counted
    elsewhere, except that Lustre before 2.14 has no ``read``/``write`` latency
    lines, and then read_bytes/write_bytes samples stand for them.
    """
    counts: dict[bytes, int] = {}
    sums: dict[bytes, int] = {}
    ops = 0
    for line in data.split(b"\n"):
        f = line.split()
        if len(f) < 4 or f[2] != b"samples":
            continue                     # snapshot_time, start_time, elapsed_time
        counts[f[0]] = n = int(f[1])
        if f[3] in _LUSTRE_VOLUME_UNITS:
            if len(f) >= 7:
                sums[f[0]] = int(f[6])
        else:
            ops += n
    for op in (b"read", b"write"):
        if op not in counts:
            ops += counts.get(op + b"_bytes", 0)
    if not counts and b"snapshot_time" not in data:
        return {"read_bytes": None, "write_bytes": None, "ops": None}
    # counters that never moved are not printed at all: absent means zero
    return {"read_bytes": sums.get(b"read_bytes", 0),
            "write_bytes": sums.get(b"write_bytes", 0), "ops": ops}
