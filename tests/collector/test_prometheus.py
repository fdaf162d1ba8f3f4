"""The Prometheus endpoint of ``paratune record``: a real recorder, scraped over HTTP while it runs.

The scrapes are parsed with prometheus_client's own parsers (text and
OpenMetrics), the CPU counters are checked against /proc/stat read around the
scrape, and the trace written meanwhile is checked for a sample every second.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from collector.prometheus import JOB_LINGER, METRICS, Health, JobAccounts, families, markdown_table
from collector.reader import read_traces
from collector.sampler import Sampler
from collector.schema import NODE_FIELDS

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
TCK = os.sysconf("SC_CLK_TCK")
SERVING = r"serving Prometheus metrics on http://(\S+)/metrics"


class Running:
    """``paratune record`` in a subprocess with its stderr in a file we can read while it runs."""

    def __init__(self, out: Path, *args: str):
        self.out = out
        self.log = out.parent / f"{out.name}.log"
        self._fh = open(self.log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "paratune.cli", "record", "--output", str(out),
                                      "--flush", "1", *args], cwd=ROOT, env=ENV,
                                     stdout=subprocess.DEVNULL, stderr=self._fh)

    def wait_log(self, pattern: str, timeout: float = 20.0) -> re.Match:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.log.read_text())
            if m or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        assert m, f"no {pattern!r} in the log:\n{self.log.read_text()}"
        return m

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        assert self.proc.wait(30) == 0, self.log.read_text()
        self._fh.close()
        return self.log.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._fh.close()


def scrape(address: str, accept: str | None = None) -> tuple[str, str]:
    req = urllib.request.Request(f"http://{address}/metrics", headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers["Content-Type"], resp.read().decode()


def by_name(text: str, parser=parse_text) -> dict:
    return {f.name: f for f in parser(text)}


def proc_stat_seconds() -> dict[tuple[str, str], float]:
    modes = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    out = {}
    with open("/proc/stat") as fh:
        for line in fh:
            name, *vals = line.split()
            if name.startswith("cpu") and name[3:].isdigit():
                for mode, v in zip(modes, vals):
                    out[(name[3:], mode)] = int(v) / TCK
    return out


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """One recorder serving on an explicit loopback address with a kernel-chosen port."""
    rec = Running(tmp_path_factory.mktemp("prom") / "out", "--prometheus", "127.0.0.1:0")
    try:
        rec.address = rec.wait_log(SERVING).group(1)
        end = time.monotonic() + 20
        while "node_cpu_seconds_total" not in scrape(rec.address)[1]:
            assert time.monotonic() < end, "no sample served"
            time.sleep(0.1)
        yield rec
    finally:
        rec.kill()


def test_cpu_seconds_agree_with_proc_stat(endpoint):
    before = proc_stat_seconds()
    ctype, text = scrape(endpoint.address)
    after = proc_stat_seconds()
    assert ctype.startswith("text/plain")
    fams = by_name(text)
    cpu = {(s.labels["cpu"], s.labels["mode"]): s.value for s in fams["node_cpu_seconds"].samples}
    assert set(cpu) == set(before)
    for key, value in cpu.items():
        # the served sample is at most one interval (plus scheduling) older than `before`
        assert before[key] - 2.0 <= value <= after[key] + 1e-9, (key, before[key], value, after[key])
    assert fams["node_cpu_seconds"].type == "counter"
    with open("/proc/meminfo") as fh:
        mem_total = int(re.search(r"^MemTotal:\s+(\d+) kB", fh.read(), re.M).group(1)) * 1024
    assert fams["node_memory_MemTotal_bytes"].samples[0].value == mem_total
    stamp = fams["paratune_sample_timestamp_seconds"].samples[0].value
    assert time.time() - 3 < stamp <= time.time()
    assert fams["paratune_samples"].samples[0].value >= 1
    assert fams["process_cpu_seconds"].samples[0].value > 0         # the recorder's own CPU


def test_exposes_node_exporter_names_and_no_command_lines(endpoint):
    text = scrape(endpoint.address)[1]
    fams = by_name(text)
    for name in ("node_load1", "node_memory_MemAvailable_bytes", "node_network_receive_bytes",
                 "node_context_switches", "node_procs_running"):
        assert name in fams, name
    devices = {s.labels["device"] for s in fams["node_network_receive_bytes"].samples}
    with open("/proc/net/dev") as fh:
        assert devices == {line.split(":")[0].strip() for line in fh.readlines()[2:]}
    labels = {k for f in fams.values() for s in f.samples for k in s.labels}
    assert not labels & {"cmdline", "command", "comm", "args"}
    own = " ".join(open(f"/proc/{endpoint.proc.pid}/cmdline").read().split("\0"))
    assert "--prometheus" in own and "--prometheus" not in text


def test_openmetrics_on_request(endpoint):
    ctype, text = scrape(endpoint.address, "application/openmetrics-text; version=1.0.0")
    assert ctype.startswith("application/openmetrics-text") and text.rstrip().endswith("# EOF")
    fams = by_name(text, parse_openmetrics)
    assert fams["node_cpu_seconds"].type == "counter"
    assert fams["node_vmstat_pgfault"].type == "unknown"    # node_exporter exposes it untyped too


def test_stuck_and_busy_scrapers_do_not_delay_samples(endpoint):
    """Hold a connection half-open and scrape in a tight loop for 4 s: no second goes unsampled."""
    host, port = endpoint.address.rsplit(":", 1)
    stuck = socket.create_connection((host, int(port)))
    stuck.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")      # never finishes its request
    stop, done = threading.Event(), []

    def hammer():
        while not stop.is_set():
            scrape(endpoint.address)
            done.append(1)

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        time.sleep(4.0)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        stuck.close()
    assert len(done) >= 8
    fams = by_name(scrape(endpoint.address)[1])
    assert fams["paratune_missed_samples"].samples[0].value == 0
    assert fams["paratune_failed_samples"].samples[0].value == 0


def test_the_trace_is_unaffected(endpoint):
    """Runs last in this module: stops the recorder and reads what it wrote while being scraped."""
    served = by_name(scrape(endpoint.address)[1])["paratune_samples"].samples[0].value
    log = endpoint.stop()
    assert "Traceback" not in log
    m = re.search(r"stopped: (\d+) samples, (\d+) written in \d+ file\(s\), (\d+) skipped", log)
    assert m and m.group(1) == m.group(2) and m.group(3) == "0", log
    (host,) = read_traces([endpoint.out])
    table = host.table
    assert table.num_rows == int(m.group(1)) >= served
    assert table.schema.names == [f.name for f in NODE_FIELDS]
    ts = table.column("ts").cast(pa.int64()).to_numpy() / 1e6
    steps = ts[1:] - ts[:-1]
    assert steps.min() > 0.5 and steps.max() < 1.5, steps


# ---- address handling -----------------------------------------------------------------

def listening_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on ``port`` (/proc/net/tcp and tcp6, hex as the kernel prints)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if state == "0A" and int(p, 16) == port:
                found.add(addr)
    return found


def test_a_bare_port_from_the_config_file_listens_on_loopback_only(tmp_path):
    conf = tmp_path / "paratune.toml"
    conf.write_text("[record]\nprometheus = 0\n")
    rec = Running(tmp_path / "out", "--config", str(conf))
    try:
        address = rec.wait_log(SERVING).group(1)
        host, port = address.rsplit(":", 1)
        assert host == "127.0.0.1"
        assert listening_addresses(int(port)) == {"0100007F"}          # 127.0.0.1, nothing else
        assert scrape(address)[0].startswith("text/plain")              # reachable on loopback
    finally:
        rec.kill()


def record_fails(tmp_path, *args) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "paratune.cli", "record", "--output", str(tmp_path / "out"),
                          "--duration", "2", *args], cwd=ROOT, env=ENV, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "out").exists()          # refused before anything was created
    return res


@pytest.mark.parametrize("address, needle", [
    ("nine", "port from 0 to 65535"),
    ("127.0.0.1:65536", "port from 0 to 65535"),
    (":9464", "a host before"),
    ("::1:9464", "[ADDRESS]:PORT"),
    ("[nope]:9464", "an IPv6 address inside"),
])
def test_bad_address_is_one_line(tmp_path, address, needle):
    res = record_fails(tmp_path, "--prometheus", address)
    assert res.returncode == 2 and "prometheus" in res.stderr and needle in res.stderr, res.stderr


def test_busy_port_and_foreign_address_are_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = record_fails(tmp_path, "--prometheus", f"127.0.0.1:{port}")
    assert res.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in res.stderr, res.stderr
    res = record_fails(tmp_path, "--prometheus", "192.0.2.1:9464")    # TEST-NET-1: not ours
    assert res.returncode == 1 and "cannot listen on 192.0.2.1:9464" in res.stderr, res.stderr


# ---- the metric families of one sample, without a server -----------------------------------

def test_hpc_node_tree_gives_infiniband_rapl_fs_and_job_metrics():
    """A captured HPC node (IB, RAPL, NFS, Lustre, a Slurm job): units as node_exporter's."""
    tree = DATA / "hpcnode"
    row = Sampler(str(tree / "proc"), str(tree / "sys")).sample()
    jobs = JobAccounts().update(row["procs"])
    fams = {f.name: f for f in families(row, jobs, Health(samples=1), 100.0)}
    ib = {(s.labels["device"], s.labels["port"]): s.value
          for s in fams["node_infiniband_port_data_received_bytes"].samples}
    words = {(i["device"], str(i["port"])): i["rx_data"] for i in row["ib"]}
    assert ib == {k: 4 * v for k, v in words.items()}
    joules = {s.labels["zone"]: s.value for s in fams["paratune_rapl_energy_joules"].samples}
    assert joules == {z["zone"]: z["energy_uj"] / 1e6 for z in row["rapl"]}
    sectors = {d["name"]: d["read_sectors"] for d in row["disks"]}
    assert {s.labels["device"]: s.value for s in fams["node_disk_read_bytes"].samples} == \
        {k: 512 * v for k, v in sectors.items()}
    mine = [p for p in row["procs"] if p["job"] == "4242"]
    (cpu,) = fams["paratune_job_cpu_seconds"].samples
    assert cpu.labels == {"jobid": "4242"}
    assert cpu.value == sum(p["utime"] + p["stime"] for p in mine) / 100.0
    assert fams["paratune_job_memory_rss_bytes"].samples[0].value == sum(p["rss"] for p in mine)
    assert fams["paratune_job_processes"].samples[0].value == len(mine)


def _proc(pid, ticks, job="7", start=100, rss=1000):
    return {"pid": pid, "starttime": start, "utime": ticks, "stime": 0, "rss": rss, "job": job}


def test_job_cpu_counter_keeps_exited_processes_and_forgets_ended_jobs():
    acc = JobAccounts(linger=2)
    assert acc.update([_proc(1, 10), _proc(2, 5)])["7"] == (15, 2000, 2)
    assert acc.update([_proc(1, 12)])["7"] == (17, 1000, 1)            # pid 2 exited: its 5 stay
    assert acc.update([_proc(1, 12), _proc(2, 1, start=900)])["7"] == (18, 2000, 2)  # pid reused
    assert acc.update([_proc(3, 4, job="8")]) == {"7": (18, 0, 0), "8": (4, 1000, 1)}
    acc.update([])
    assert "7" not in acc.update([])                                   # gone longer than linger
    assert JOB_LINGER >= 10


def test_docs_table_is_current():
    doc = (ROOT / "docs" / "prometheus.md").read_text()
    assert markdown_table() in doc
    assert len({m.name for m in METRICS}) == len(METRICS)
