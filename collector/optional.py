"""Optional sources: hardware and file systems only some nodes have.

Each source is a small class: ``found(roots)`` looks once, at start, whether
the node has it (and remembers where), ``read()`` returns the rows of its
list column in the trace.  A node without the hardware costs nothing per
sample.  What a source cannot read is said once through ``warn`` and left
null; ``read()`` never raises for that.

    InfiniBand  /sys/class/infiniband/*/ports/*/counters      -> ib
    Rapl        /sys/class/powercap/intel-rapl:*              -> rapl
    NvidiaGpus  NVML through nvidia-ml-py, if installed       -> gpus
    Nfs         /proc/self/mountstats                         -> fs
    Lustre      /proc/fs/lustre/llite/*/stats or the same
                under /sys/kernel/debug/lustre (Lustre >= 2.12) -> fs
"""
from __future__ import annotations

import os
from typing import NamedTuple

from collector.procfs import WarnOnce, parse_llite_stats, parse_mountstats, read_file


class Roots(NamedTuple):
    """Where /proc and /sys are: a live node, or a captured tree in tests."""
    proc: str = "/proc"
    sys: str = "/sys"


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


class _Source:
    name = ""
    column = ""

    def __init__(self, warn=None):
        self.warn = warn or WarnOnce()

    def _int(self, path: str) -> int | None:
        """One integer file; None (said once) when unreadable or not a number."""
        try:
            return int(read_file(path))
        except OSError as e:
            self.warn((self.name, e.errno), f"{self.name}: cannot read {path}: {e.strerror}; "
                                            "left null")
        except ValueError:          # "N/A (no PMA)" from IB ports without counters
            pass
        return None


class InfiniBand(_Source):
    """Port counters of every HCA port.  The data counters count 4-byte words
    summed over lanes (IBA PortCounters); mlx drivers show the 64-bit
    extended counters under the same names."""
    name = column = "ib"
    COUNTERS = {"rx_data": "port_rcv_data", "tx_data": "port_xmit_data",
                "rx_packets": "port_rcv_packets", "tx_packets": "port_xmit_packets",
                "rx_errors": "port_rcv_errors", "tx_wait": "port_xmit_wait"}

    def found(self, roots: Roots) -> bool:
        base = f"{roots.sys}/class/infiniband"
        self._ports = []
        for dev in _listdir(base):
            ports = _listdir(f"{base}/{dev}/ports")
            for port in sorted((p for p in ports if p.isdigit()), key=int):
                counters = f"{base}/{dev}/ports/{port}/counters"
                if os.path.isdir(counters):
                    self._ports.append((dev, int(port), counters))
        return bool(self._ports)

    def read(self) -> list[dict]:
        rows = []
        for dev, port, path in self._ports:
            row = {"device": dev, "port": port}
            for key, fname in self.COUNTERS.items():
                row[key] = self._int(f"{path}/{fname}")
            rows.append(row)
        return rows


class Rapl(_Source):
    """RAPL energy counters (Intel, and AMD since 5.8 under the same names).

    energy_uj is readable by root only since 5.10 (CVE-2020-8694): a non-root
    collector records nulls and says so once.  intel-rapl-mmio zones repeat
    the package counter through another path and are left out.
    """
    name = column = "rapl"

    def found(self, roots: Roots) -> bool:
        base = f"{roots.sys}/class/powercap"
        self._zones = []
        for zone in _listdir(base):
            if not zone.startswith("intel-rapl:"):
                continue
            path = f"{base}/{zone}"
            if not os.path.exists(f"{path}/energy_uj"):
                continue
            try:
                domain = read_file(f"{path}/name").decode().strip()
            except OSError:
                domain = ""
            self._zones.append((zone, domain, path, self._int(f"{path}/max_energy_range_uj")))
        return bool(self._zones)

    def read(self) -> list[dict]:
        return [{"zone": zone, "domain": domain, "energy_uj": self._int(f"{path}/energy_uj"),
                 "max_energy_uj": max_e} for zone, domain, path, max_e in self._zones]


class NvidiaGpus(_Source):
    """NVIDIA GPUs through NVML.  nvidia-ml-py (module ``pynvml``) is imported
    only here and only if installed: nodes without GPUs need neither."""
    name = column = "gpus"

    def found(self, roots: Roots) -> bool:
        try:
            import pynvml
        except ImportError:
            return False
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self._nvml = pynvml
            self._gpus = []
            for i in range(count):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                name = pynvml.nvmlDeviceGetName(h)
                self._gpus.append((i, name.decode() if isinstance(name, bytes) else name, h))
        except Exception as e:          # NVMLError: no driver, no device, ...
            self.warn(("gpus", "init"), f"gpus: NVML is installed but unusable: {e}")
            return False
        return bool(self._gpus)

    def _call(self, what: str, fn, *args):
        try:
            return fn(*args)
        except Exception as e:          # NVMLError_NotSupported on some boards
            self.warn(("gpus", what), f"gpus: {what} not available: {e}; left null")
            return None

    def read(self) -> list[dict]:
        nv = self._nvml
        rows = []
        for index, name, h in self._gpus:
            util = self._call("utilization", nv.nvmlDeviceGetUtilizationRates, h)
            mem = self._call("memory", nv.nvmlDeviceGetMemoryInfo, h)
            power = self._call("power", nv.nvmlDeviceGetPowerUsage, h)
            temp = self._call("temperature", nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU)
            rows.append({"index": index, "name": name,
                         "util_pct": None if util is None else float(util.gpu),
                         "mem_util_pct": None if util is None else float(util.memory),
                         "mem_used": None if mem is None else int(mem.used),
                         "mem_total": None if mem is None else int(mem.total),
                         "power_w": None if power is None else power / 1000.0,
                         "temp_c": None if temp is None else float(temp)})
        return rows


class Nfs(_Source):
    """NFS client mounts from /proc/self/mountstats (mounts of this process's
    mount namespace: run the collector in the host's)."""
    name = "nfs"
    column = "fs"

    def found(self, roots: Roots) -> bool:
        self._path = f"{roots.proc}/self/mountstats"
        try:
            return bool(parse_mountstats(read_file(self._path)))
        except OSError:
            return False

    def read(self) -> list[dict]:
        try:
            return parse_mountstats(read_file(self._path))
        except OSError as e:
            self.warn(("nfs", e.errno), f"nfs: cannot read {self._path}: {e.strerror}")
            return []


class Lustre(_Source):
    """Lustre client (llite) instances; the directory is listed again at each
    read so file systems mounted later appear."""
    name = "lustre"
    column = "fs"

    def found(self, roots: Roots) -> bool:
        self._bases = [b for b in (f"{roots.proc}/fs/lustre/llite",
                                   f"{roots.sys}/kernel/debug/lustre/llite") if os.path.isdir(b)]
        return bool(self._instances())

    def _instances(self) -> list[tuple[str, str]]:
        seen, out = set(), []
        for base in self._bases:
            for inst in _listdir(base):
                path = f"{base}/{inst}/stats"
                if inst not in seen and os.path.exists(path):
                    seen.add(inst)
                    out.append((inst, path))
        return out

    def read(self) -> list[dict]:
        rows = []
        for inst, path in self._instances():
            try:
                vals = parse_llite_stats(read_file(path))
            except OSError as e:
                self.warn(("lustre", e.errno), f"lustre: cannot read {path}: {e.strerror}")
                continue
            rows.append({"kind": "lustre", "mount": inst, **vals})
        return rows


SOURCES = (InfiniBand, Rapl, NvidiaGpus, Nfs, Lustre)
NAMES = tuple(cls.name for cls in SOURCES)


def discover(roots: Roots, warn=None, names=None) -> list[_Source]:
    """The optional sources this node has, among ``names`` (default: all)."""
    found = []
    for cls in SOURCES:
        if names is not None and cls.name not in names:
            continue
        src = cls(warn)
        if src.found(roots):
            found.append(src)
    return found
