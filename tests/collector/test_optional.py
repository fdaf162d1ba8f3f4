"""Optional sources on the hand-built hpcnode tree, and their absence here."""
from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import pytest

from collector import optional, schema
from collector.optional import InfiniBand, Lustre, Nfs, NvidiaGpus, Rapl, Roots
from collector.procfs import WarnOnce

DATA = Path(__file__).resolve().parent.parent / "data"
HPC = Roots(str(DATA / "hpcnode" / "proc"), str(DATA / "hpcnode" / "sys"))
HERE = Roots("/proc", "/sys")


def fields(nested: str) -> list[str]:
    return [f.name for f in schema.NESTED[nested][0]]


def test_infiniband_ports():
    ib = InfiniBand()
    assert ib.found(HPC)
    rows = ib.read()
    assert [(r["device"], r["port"]) for r in rows] == [("mlx5_0", 1), ("mlx5_1", 1)]
    assert rows[0] == {"device": "mlx5_0", "port": 1, "rx_data": 123456789012,
                       "tx_data": 98765432109, "rx_packets": 4567890, "tx_packets": 3456789,
                       "rx_errors": 2, "tx_wait": 77777}
    assert all(list(r) == fields("ib") for r in rows)


def test_infiniband_port_without_counters(tmp_path):
    sys_root = tmp_path / "sys"
    shutil.copytree(HPC.sys, sys_root)
    (sys_root / "class/infiniband/mlx5_1/ports/1/counters/port_xmit_wait").write_text("N/A (no PMA)\n")
    (sys_root / "class/infiniband/mlx5_1/ports/1/counters/port_rcv_errors").unlink()
    warn = WarnOnce()
    ib = InfiniBand(warn)
    assert ib.found(Roots(HPC.proc, str(sys_root)))
    row = ib.read()[1]
    assert row["tx_wait"] is None and row["rx_errors"] is None and row["rx_data"] == 5
    ib.read()
    assert len(warn.messages) == 1                       # the missing file, said once


def test_rapl_zones():
    rapl = Rapl()
    assert rapl.found(HPC)
    rows = rapl.read()
    assert [(r["zone"], r["domain"]) for r in rows] == [
        ("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "dram"),
        ("intel-rapl:1", "package-1"), ("intel-rapl:1:0", "dram")]      # no mmio duplicate
    assert rows[0]["energy_uj"] == 81620346912 and rows[0]["max_energy_uj"] == 262143328850
    assert all(list(r) == fields("rapl") for r in rows)


def test_rapl_unreadable_energy_is_null(tmp_path):
    sys_root = tmp_path / "sys"
    shutil.copytree(HPC.sys, sys_root)
    energy = sys_root / "class/powercap/intel-rapl:1/energy_uj"
    energy.unlink()
    energy.mkdir()                                       # read() fails: EISDIR
    warn = WarnOnce()
    rapl = Rapl(warn)
    assert rapl.found(Roots(HPC.proc, str(sys_root)))
    rows = {r["zone"]: r for r in rapl.read()}
    assert rows["intel-rapl:1"]["energy_uj"] is None
    assert rows["intel-rapl:0"]["energy_uj"] == 81620346912
    assert len(warn.messages) == 1


def test_nfs_mounts():
    nfs = Nfs()
    assert nfs.found(HPC)
    rows = nfs.read()
    assert [r["mount"] for r in rows] == ["/home", "/scratch data"]
    assert rows[0] == {"kind": "nfs", "mount": "/home", "read_bytes": 1030000,
                       "write_bytes": 2040000, "ops": 150}
    assert all(list(r) == fields("fs") for r in rows)


def test_lustre_both_locations():
    lustre = Lustre()
    assert lustre.found(HPC)
    rows = {r["mount"]: r for r in lustre.read()}
    assert rows["scratch-ffff9a2b3c4d5000"]["read_bytes"] == 3221225472       # /proc/fs/lustre
    assert rows["work-ffff8e1a2b3c4000"]["ops"] == 680                        # debugfs (2.15)
    assert all(list(r) == fields("fs") for r in rows.values())


def test_lustre_mounted_later_appears(tmp_path):
    proc = tmp_path / "proc"
    (proc / "fs/lustre/llite").mkdir(parents=True)
    lustre = Lustre()
    assert not lustre.found(Roots(str(proc), str(tmp_path / "sys")))
    inst = proc / "fs/lustre/llite/new-ffff0001"
    inst.mkdir()
    (inst / "stats").write_text("snapshot_time 1.0 secs.nsecs\nopen 3 samples [regs]\n")
    assert lustre.read() == [{"kind": "lustre", "mount": "new-ffff0001", "read_bytes": 0,
                              "write_bytes": 0, "ops": 3}]


@pytest.mark.parametrize("cls", [InfiniBand, Rapl, Nfs, Lustre])
def test_absent_on_this_machine(cls):
    # this VM has no HCA, no RAPL, no NFS or Lustre mounts (shared/ENVIRONMENT.md)
    assert cls().found(HERE) is False


def test_absent_on_an_empty_tree(tmp_path):
    roots = Roots(str(tmp_path / "proc"), str(tmp_path / "sys"))
    assert optional.discover(roots) == []


def test_discover_and_filter():
    assert [s.name for s in optional.discover(HPC)] == ["ib", "rapl", "nfs", "lustre"]
    assert [s.name for s in optional.discover(HPC, names={"rapl", "lustre"})] == ["rapl", "lustre"]
    assert optional.NAMES == ("ib", "rapl", "gpus", "nfs", "lustre")


# -- NVML: no GPU here, and nvidia-ml-py is not installed ------------------------

def test_gpus_absent_without_nvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)     # import pynvml -> ImportError
    assert NvidiaGpus().found(HERE) is False


def _fake_nvml(count: int, fail_power: bool = False, init_error: bool = False):
    """Stands in for nvidia-ml-py's module, whose calls need an NVIDIA driver
    this machine does not have; only the mapping to GPU_FIELDS is under test."""
    class NVMLError(Exception):
        pass
    m = types.ModuleType("pynvml")
    m.NVMLError = NVMLError
    m.NVML_TEMPERATURE_GPU = 0

    def init():
        if init_error:
            raise NVMLError("Driver Not Loaded")
    m.nvmlInit = init
    m.nvmlDeviceGetCount = lambda: count
    m.nvmlDeviceGetHandleByIndex = lambda i: ("h", i)
    m.nvmlDeviceGetName = lambda h: b"NVIDIA A100-SXM4-40GB" if h[1] == 0 else "NVIDIA A100-SXM4-40GB"
    m.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=97, memory=41)
    m.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=30 << 30, total=40 << 30, free=10 << 30)

    def power(h):
        if fail_power:
            raise NVMLError("Not Supported")
        return 312456                                    # mW
    m.nvmlDeviceGetPowerUsage = power
    m.nvmlDeviceGetTemperature = lambda h, sensor: 61
    return m


def test_gpus_through_nvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(2))
    gpus = NvidiaGpus()
    assert gpus.found(HERE)
    rows = gpus.read()
    assert rows[0] == {"index": 0, "name": "NVIDIA A100-SXM4-40GB", "util_pct": 97.0,
                       "mem_util_pct": 41.0, "mem_used": 30 << 30, "mem_total": 40 << 30,
                       "power_w": 312.456, "temp_c": 61.0}
    assert rows[1]["name"] == "NVIDIA A100-SXM4-40GB"
    assert all(list(r) == fields("gpus") for r in rows)


def test_gpu_field_not_supported_is_null_and_said_once(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(1, fail_power=True))
    warn = WarnOnce()
    gpus = NvidiaGpus(warn)
    assert gpus.found(HERE)
    assert gpus.read()[0]["power_w"] is None
    gpus.read()
    assert len(warn.messages) == 1


def test_nvml_without_driver_is_absent(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(1, init_error=True))
    warn = WarnOnce()
    assert NvidiaGpus(warn).found(HERE) is False
    assert "NVML" in warn.messages[0]
