"""Synthetic trace rows with exactly known counters, for derive and rule tests.

Real recordings are in sample_traces/; these exist because only a synthetic
trace has a known answer for every rate, wrap and gap."""
from __future__ import annotations

import pyarrow as pa

from collector.schema import arrow_schema

T0 = 1_750_000_000.0


def row(i: int, t: float | None = None, *, mono: float | None = None, user=0, system=0, idle=0,
        iowait=0, cores=None, mem_total=8 << 30, mem_available=4 << 30, net_rx=0, net_tx=0,
        disks=(), procs=(), **extra) -> dict:
    t = T0 + i if t is None else t
    mono = (t % 1e6 + 1000.0) if mono is None else mono
    r = {"ts": int(t * 1e6), "mono_ns": int(mono * 1e9), "cpu_user": user, "cpu_nice": 0,
         "cpu_system": system, "cpu_idle": idle, "cpu_iowait": iowait, "cpu_irq": 0,
         "cpu_softirq": 0, "cpu_steal": 0, "cpu_guest": 0, "cpu_guest_nice": 0,
         "mem_total": mem_total, "mem_available": mem_available, "swap_total": 0, "swap_used": 0,
         "net_rx_bytes": net_rx, "net_tx_bytes": net_tx, "cores": cores or [], "nets": [],
         "disks": list(disks), "procs": list(procs), "ib": [], "rapl": [], "gpus": [], "fs": []}
    r.update(extra)
    return r


def proc(pid, utime, stime=0, *, comm="app", starttime=1, job=None, rss=1 << 20, user="alice",
         read_bytes=0, write_bytes=0, ppid=1, state="R", threads=1):
    return {"pid": pid, "ppid": ppid, "uid": 1000, "user": user, "comm": comm, "state": state,
            "threads": threads, "utime": utime, "stime": stime, "starttime": starttime,
            "rss": rss, "read_bytes": read_bytes, "write_bytes": write_bytes, "job": job,
            "cmdline": None}


def table(rows, **meta) -> pa.Table:
    metadata = {"host": "synth", "interval_s": "1", "clk_tck": "100", "cores": "2"}
    metadata.update({k: str(v) for k, v in meta.items()})
    return pa.Table.from_batches([pa.RecordBatch.from_pylist(rows, schema=arrow_schema(metadata))])
