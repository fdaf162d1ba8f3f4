"""The /proc parsers against captured (debian12, kernel 6.18) and hand-built
(el7: RHEL 7 / 3.10, hpcnode: RHEL 9 / 5.14) trees, with the values read off
the files by eye."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from collector import procfs as P

DATA = Path(__file__).resolve().parent.parent / "data"
DEB, EL7, HPC = DATA / "debian12" / "proc", DATA / "el7" / "proc", DATA / "hpcnode" / "proc"


def raw(path: Path) -> bytes:
    return path.read_bytes()


# -- /proc/stat ----------------------------------------------------------------

def test_stat_captured_debian12():
    s = P.parse_stat(raw(DEB / "stat"))
    assert (s["cpu_user"], s["cpu_system"], s["cpu_idle"], s["cpu_iowait"], s["cpu_steal"]) == \
        (57211, 5902, 63375, 673, 3406)
    assert s["cpu_guest_nice"] == 0
    assert (s["ctxt"], s["intr"], s["forks"]) == (1242358, 607928, 9554)
    assert (s["procs_running"], s["procs_blocked"]) == (5, 0)
    assert [c["cpu"] for c in s["cores"]] == [0, 1]
    assert s["cores"][1]["user"] == 29179 and s["cores"][1]["softirq"] == 311
    assert all(c["freq_mhz"] is None for c in s["cores"])
    assert set(s["cores"][0]) == {"cpu", "freq_mhz", *P.CPU_STATES}


def test_stat_el7():
    s = P.parse_stat(raw(EL7 / "stat"))
    assert s["cpu_user"] == 4705 and s["intr"] == 1135425 and s["forks"] == 12345
    assert (s["procs_running"], s["procs_blocked"]) == (3, 1)
    assert len(s["cores"]) == 4


def test_stat_before_guest_columns():
    # 2.6.18 (RHEL 5): 8 states, no guest and guest_nice
    s = P.parse_stat(b"cpu  10 1 5 1000 2 0 3 4\ncpu0 10 1 5 1000 2 0 3 4\n"
                     b"intr 77 0 0\nctxt 5\nbtime 1\nprocesses 9\nprocs_running 1\nprocs_blocked 0\n")
    assert s["cpu_steal"] == 4 and s["cpu_guest"] is None and s["cpu_guest_nice"] is None
    assert s["cores"][0]["guest"] is None and s["intr"] == 77


def test_stat_offline_cpu_has_no_line():
    s = P.parse_stat(b"cpu  1 0 0 9 0 0 0 0 0 0\ncpu0 1 0 0 5 0 0 0 0 0 0\n"
                     b"cpu2 0 0 0 4 0 0 0 0 0 0\nintr 1\nctxt 1\nprocesses 1\n")
    assert [c["cpu"] for c in s["cores"]] == [0, 2]
    assert s["procs_running"] is None


# -- loadavg, meminfo, vmstat, pressure ------------------------------------------

def test_loadavg():
    assert P.parse_loadavg(raw(DEB / "loadavg")) == {"load1": 3.58, "load5": 2.14, "load15": 0.97}


def test_meminfo_debian12():
    m = P.parse_meminfo(raw(DEB / "meminfo"))
    assert m["mem_total"] == 24684084 * 1024
    assert m["mem_available"] == 15042900 * 1024
    assert m["mem_anon"] == 9139112 * 1024 and m["mem_slab"] == 245488 * 1024
    assert m["swap_total"] == 0 and m["swap_used"] == 0
    assert m["hugepages_total"] == 0


def test_meminfo_el7_units_and_swap():
    m = P.parse_meminfo(raw(EL7 / "meminfo"))
    assert m["mem_writeback"] == 8 * 1024
    assert m["hugepages_total"] == 16 and m["hugepages_free"] == 12      # pages, not kB
    assert m["swap_used"] == (4194300 - 4094300) * 1024
    assert m["mem_anon"] == 456000 * 1024           # AnonPages, not AnonHugePages


def test_meminfo_before_memavailable():
    text = b"".join(l + b"\n" for l in raw(EL7 / "meminfo").split(b"\n")
                    if l and not l.startswith(b"MemAvailable"))
    m = P.parse_meminfo(text)
    assert m["mem_available"] is None and m["mem_total"] == 65808032 * 1024


def test_vmstat_kernel_6_18():
    v = P.parse_vmstat(raw(DEB / "vmstat"))
    assert v == {"pgfault": 9261325, "pgmajfault": 696, "pswpin": 0, "pswpout": 0,
                 "pgscan": 0, "pgsteal": 0}


def test_vmstat_5_14_leaves_out_anon_file_and_throttle():
    v = P.parse_vmstat(raw(HPC / "vmstat"))
    assert v["pgscan"] == 6000 + 700 + 80          # not + pgscan_anon/file/direct_throttle
    assert v["pgsteal"] == 3000 + 400 + 50
    assert v["pgfault"] == 55555555555


def test_vmstat_3_10_per_zone_counters():
    v = P.parse_vmstat(raw(EL7 / "vmstat"))
    assert v["pgscan"] == 150 + 250 + 15 + 25
    assert v["pgsteal"] == 100 + 200 + 10 + 20
    assert (v["pswpin"], v["pswpout"]) == (12, 34)


def test_vmstat_missing_counters_are_none():
    assert P.parse_vmstat(b"nr_free_pages 1\npgfault 5\n") == {
        "pgfault": 5, "pgmajfault": None, "pswpin": None, "pswpout": None,
        "pgscan": None, "pgsteal": None}


def test_pressure():
    assert P.parse_pressure(raw(HPC / "pressure" / "cpu")) == {"some": 123456789, "full": 0}
    assert P.parse_pressure(raw(DEB / "pressure" / "io")) == {"some": 6851051, "full": 3634350}
    # cpu before 5.13: no "full" line
    assert P.parse_pressure(b"some avg10=0.00 avg60=0.00 avg300=0.00 total=42\n") == \
        {"some": 42, "full": None}
    assert P.parse_pressure(b"") == {"some": None, "full": None}


# -- net/dev, diskstats ------------------------------------------------------------

def test_net_dev_debian12():
    nets = {n["name"]: n for n in P.parse_net_dev(raw(DEB / "net" / "dev"))}
    assert list(nets) == ["lo", "ifb0", "ifb1", "eth0"]
    assert nets["eth0"]["rx_bytes"] == 309767684 and nets["eth0"]["tx_packets"] == 4783
    assert nets["lo"]["loopback"] is True and nets["eth0"]["loopback"] is False
    assert set(nets["lo"]) == {"name", "loopback", "rx_bytes", "rx_packets", "rx_errs", "rx_drop",
                               "tx_bytes", "tx_packets", "tx_errs", "tx_drop"}


def test_net_dev_el7_errors_and_drops():
    nets = {n["name"]: n for n in P.parse_net_dev(raw(EL7 / "net" / "dev"))}
    assert nets["eth0"]["rx_drop"] == 12 and nets["ib0"]["rx_errs"] == 1
    assert nets["ib0"]["tx_drop"] == 3 and nets["eth0"]["rx_bytes"] == 9876543210


def test_net_dev_glued_colon_of_old_kernels():
    text = (b"Inter-|   Receive\n face |bytes\n"
            b"  eth0:4294967295 10 0 0 0 0 0 0 77 11 0 0 0 0 0 0\n")
    (n,) = P.parse_net_dev(text)
    assert n["name"] == "eth0" and n["rx_bytes"] == 4294967295 and n["tx_bytes"] == 77


def test_diskstats_field_counts():
    text = (b"   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n"                       # 14 fields (< 4.18)
            b"   8      16 sdb 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n"          # 18 (discard, 4.18)
            b" 259       0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"  # 20 (flush, 5.5)
            b"   8       1 sda1 1 2 3 4\n")                                     # 2.6 partition line
    disks = P.parse_diskstats(text)
    assert [d["name"] for d in disks] == ["sda", "sdb", "nvme0n1"]
    for d in disks:
        assert [d[k] for k in P.DISK_KEYS] == list(range(1, 12))


def test_diskstats_captured_and_keep():
    disks = P.parse_diskstats(raw(DEB / "diskstats"), keep=lambda n: not P.skipped_disk(n))
    assert [d["name"] for d in disks] == ["vda", "zram0"]
    vda = disks[0]
    assert (vda["reads"], vda["write_sectors"], vda["io_ticks"], vda["time_in_queue"]) == \
        (274919, 40915016, 56720, 838024)


@pytest.mark.parametrize("name,part", [
    ("sda", False), ("sda1", True), ("sdaa12", True), ("vdb", False), ("vdb3", True),
    ("xvda1", True), ("nvme0n1", False), ("nvme0n1p2", True), ("mmcblk0", False),
    ("mmcblk0p1", True), ("dm-0", False), ("md127", False), ("sr0", False), ("zram0", False)])
def test_partition_name_fallback(name, part):
    assert P.looks_like_partition(name) is part


def test_skipped_disks():
    assert P.skipped_disk("loop7") and P.skipped_disk("ram0")
    assert not P.skipped_disk("zram0") and not P.skipped_disk("sda")


# -- per process -----------------------------------------------------------------------

def test_pid_stat_captured():
    comm, state, ppid, flags, utime, stime, threads, start, rss = P.parse_pid_stat(
        raw(DEB / "9555" / "stat"))
    assert (comm, state, ppid, threads, start, rss) == (b"sleep", b"R", 9554, 1, 65146, 39)
    assert not flags & P.PF_KTHREAD
    assert P.parse_pid_stat(raw(DEB / "2" / "stat"))[3] & P.PF_KTHREAD
    assert P.parse_pid_stat(raw(DEB / "3" / "stat"))[0] == b"pool_workqueue_release"


def test_pid_stat_comm_with_spaces_and_parens():
    line = raw(DEB / "9555" / "stat").replace(b"(sleep)", b"(a) b (c d)")
    st = P.parse_pid_stat(line)
    assert st[0] == b"a) b (c d" and st[2] == 9554 and st[7] == 65146


def test_pid_stat_of_a_dying_process():
    assert P.parse_pid_stat(b"") is None
    assert P.parse_pid_stat(raw(DEB / "9555" / "stat")[:60]) is None


def test_pid_status_uid_is_the_real_uid():
    assert P.parse_pid_status_uid(raw(DEB / "9555" / "status")) == 0
    assert P.parse_pid_status_uid(b"Name:\tx\nUid:\t1001\t0\t0\t0\nGid:\t1\t1\t1\t1\n") == 1001
    assert P.parse_pid_status_uid(b"Name:\tx\n") is None


def test_pid_io():
    assert P.parse_pid_io(raw(EL7 / "2102" / "io")) == (4194304, 8388608)
    assert P.parse_pid_io(b"read_bytes: 5\nwrite_bytes: 6\n") == (5, 6)
    assert P.parse_pid_io(b"rchar: 1\n") == (None, None)


@pytest.mark.parametrize("text,job", [
    (b"5:memory:/slurm/uid_0/job_12/step_0\n4:cpu:/\n", "12"),
    (b"5:memory:/slurm_localhost/uid_0/job_12/step_batch/task_0\n", "12"),
    (b"0::/system.slice/slurmstepd.scope/job_4242/step_0/user/task_0\n", "4242"),
    (b"0::/system.slice/slurmstepd.scope/job_7\n", "7"),
    (b"1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n0::/\n", None),
    (b"0::/system.slice/backup_job_1.service\n", None),
    (b"0::/system.slice/job_12x/step_0\n", None),
    (b"", None),
])
def test_cgroup_job(text, job):
    assert P.parse_cgroup_job(text) == job


def test_cgroup_job_trees():
    assert P.parse_cgroup_job(raw(EL7 / "2102" / "cgroup")) == "12"
    assert P.parse_cgroup_job(raw(HPC / "3001" / "cgroup")) == "4242"
    assert P.parse_cgroup_job(raw(DEB / "9555" / "cgroup")) is None


@pytest.mark.parametrize("text,job", [
    (b"PATH=/bin\0SLURM_JOB_ID=777\0", "777"),
    (b"SLURM_JOB_ID=5\0HOME=/\0", "5"),
    (b"HOME=/\0SLURM_JOBID=13\0", "13"),
    (b"HOME=/\0SLURM_JOB_ID=9", "9"),
    (b"MY_SLURM_JOB_ID=3\0", None),
    (b"SLURM_JOB_ID=\0", None),
    (b"", None),
])
def test_environ_job(text, job):
    assert P.parse_environ_job(text) == job


def test_environ_job_captured():
    assert P.parse_environ_job(raw(DEB / "9554" / "environ")) == "777"
    assert P.parse_environ_job(raw(DEB / "9555" / "environ")) is None     # env -i


# -- metadata sources ----------------------------------------------------------------------

def test_cpu_model():
    assert P.parse_cpu_model(raw(DEB / "cpuinfo")) == "Intel(R) Xeon(R) Processor"
    assert P.parse_cpu_model(raw(HPC / "cpuinfo")) == "AMD EPYC 7763 64-Core Processor"
    assert P.parse_cpu_model(b"processor\t: 0\nBogoMIPS\t: 50.00\n") == ""


def test_cpu_mhz_is_the_mean_of_the_processors():
    assert P.parse_cpu_mhz(b"processor\t: 0\ncpu MHz\t\t: 2000.0\n\nprocessor\t: 1\ncpu MHz\t\t: 3000.5\n") \
        == pytest.approx(2500.25)
    assert P.parse_cpu_mhz(raw(DEB / "cpuinfo")) == pytest.approx(2000.0)
    assert P.parse_cpu_mhz(b"processor\t: 0\nBogoMIPS\t: 50.00\n") is None
    assert P.parse_cpu_mhz(b"cpu MHz : fast\n") is None
    assert P.parse_cpu_model(b"processor\t: 0\ncpu\t\t: POWER9 (raw), altivec supported\n") == \
        "POWER9 (raw), altivec supported"


def test_slurm_cluster():
    assert P.parse_slurm_cluster("# ClusterName=old\nClusterName=frontera  # main\n") == "frontera"
    assert P.parse_slurm_cluster("clustername = linux\n") == "linux"
    assert P.parse_slurm_cluster("SlurmctldHost=localhost\n") == ""


# -- client file systems ---------------------------------------------------------------------

def test_mountstats():
    fs = P.parse_mountstats(raw(HPC / "self" / "mountstats"))
    assert [(f["kind"], f["mount"]) for f in fs] == [("nfs", "/home"), ("nfs", "/scratch data")]
    home, scratch = fs
    assert home["read_bytes"] == 1000000 + 30000 and home["write_bytes"] == 2000000 + 40000
    assert home["ops"] == 1 + 10 + 20 + 2 + 5 + 0 + 5 + 100 + 7
    assert (scratch["read_bytes"], scratch["write_bytes"], scratch["ops"]) == (40, 60, 14)


def test_mountstats_without_nfs():
    assert P.parse_mountstats(b"device proc mounted on /proc with fstype proc\n"
                              b"device nfsd mounted on /proc/fs/nfsd with fstype nfsd\n") == []


def test_llite_stats_2_12():
    v = P.parse_llite_stats(raw(HPC / "fs" / "lustre" / "llite" / "scratch-ffff9a2b3c4d5000" / "stats"))
    assert v["read_bytes"] == 3221225472 and v["write_bytes"] == 1677721600
    # no read/write latency lines before 2.14: the byte counters' samples count the calls
    assert v["ops"] == 6604 + 1500 + 800


def test_llite_stats_2_15():
    path = DATA / "hpcnode" / "sys" / "kernel" / "debug" / "lustre" / "llite" / "work-ffff8e1a2b3c4000" / "stats"
    assert P.parse_llite_stats(raw(path)) == {"read_bytes": 104857600, "write_bytes": 52428800,
                                              "ops": 100 + 50 + 30 + 30 + 70 + 400}


def test_llite_stats_fresh_mount_prints_only_the_snapshot():
    assert P.parse_llite_stats(b"snapshot_time 1.2 secs.nsecs\n") == \
        {"read_bytes": 0, "write_bytes": 0, "ops": 0}
    assert P.parse_llite_stats(b"") == {"read_bytes": None, "write_bytes": None, "ops": None}


# -- reading -------------------------------------------------------------------------------------

def test_read_file_reads_multi_page_seq_files_whole():
    with open("/proc/self/maps", "rb") as f:       # many records, more than one page
        expected_lines = len(f.read().splitlines())
    got = P.read_file("/proc/self/maps")
    assert abs(len(got.splitlines()) - expected_lines) < 5
    assert got.endswith(b"\n")


def test_read_file_large(tmp_path):
    p = tmp_path / "big"
    p.write_bytes(os.urandom(200_000))
    assert P.read_file(str(p)) == p.read_bytes()
    (tmp_path / "empty").write_bytes(b"")
    assert P.read_file(str(tmp_path / "empty")) == b""


def test_warn_once(caplog):
    w = P.WarnOnce()
    with caplog.at_level("WARNING", logger="paratune.collector"):
        for _ in range(3):
            w("k", "cannot read x")
        w("k2", "cannot read y")
    assert w.messages == ["cannot read x", "cannot read y"]
    assert [r.message for r in caplog.records] == ["cannot read x", "cannot read y"]
