"""What limits a stretch of time, and so a run: the one bottleneck classifier.

Phases, the run's label and the fleet's node-days all come from ``classify``
with the thresholds of ``analyzer.config`` (chosen on the calibration set by
scripts/calibrate.py), so a run's label and its phases' labels cannot
disagree: the run's label is where its time went (``of_phases``).

``classify`` reads a mean profile; the first rule that holds wins:

    unknown        no CPU sample.
    idle           cpu_busy < IDLE_BUSY_PCT, disk read+write < IDLE_DISK_BPS,
                   net rx+tx < IDLE_NET_BPS and iowait < IO_IOWAIT_PCT.
    memory-bound   psi_mem_some >= MEM_PSI_PCT, or majflt >= MEM_MAJFLT_RATE,
                   or swap-in+out >= MEM_SWAP_PAGES_RATE pages/s (swap_used
                   moving >= MEM_SWAP_PCT_PER_MIN when those rates are absent),
                   or mem_used climbing >= MEM_CLIMB_PCT_PER_MIN and by
                   >= MEM_CLIMB_MIN_PCT.  Before io: paging is disk traffic too.
    io-bound       iowait >= IO_IOWAIT_PCT, disk_util >= IO_UTIL_PCT,
                   psi_io_some >= IO_PSI_PCT or disk read+write >= IO_DISK_BPS.
    network-bound  net rx+tx >= NET_BOUND_BPS and >= NET_BPS_PER_BUSY_PCT per
                   percent of cpu_busy (MPI codes spin while they wait, so
                   high CPU does not rule communication out; the ratio asks
                   whether the bytes are large for the CPU spent).
    compute-bound  anything busier than idle (evidence says how much of it
                   is user time).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from analyzer import config as C

LABELS = ("compute-bound", "memory-bound", "io-bound", "network-bound", "idle", "mixed", "unknown")
"""``mixed``: a run in which no label holds DOMINANT_SHARE of the time (never a phase)."""
SHORT = {"compute-bound": "compute", "memory-bound": "memory", "io-bound": "io", "network-bound": "network",
         "idle": "idle", "unknown": "unknown", "mixed": "mixed"}
"""A phase's name for its bottleneck."""


@dataclass
class Characterization:
    label: str
    evidence: list[str] = field(default_factory=list)
    shares: dict[str, float] = field(default_factory=dict)     # label -> share of the time (runs)

    def to_dict(self) -> dict:
        return {"label": self.label, "evidence": self.evidence,
                "shares": {k: round(v, 4) for k, v in self.shares.items()}}


def classify(profile: dict[str, float], mem_slope: float = 0.0, swap_slope: float = 0.0,
             duration_s: float = 0.0, explain: bool = True) -> Characterization:
    """The bottleneck of one stretch of time from its mean profile (see the module doc).

    mem_slope / swap_slope: mem_used_pct / swap_used_pct trends in percentage
    points per minute over the stretch.  ``explain=False`` leaves the evidence
    out: merging phases asks for thousands of labels and reads none of it."""
    # the finite values once; a missing or NaN metric reads as 0 (a phase is classified thousands of times)
    finite = {k: v for k, v in profile.items() if v is not None and math.isfinite(v)}
    busy = profile.get("cpu_busy_pct", math.nan)
    if busy is None or not math.isfinite(busy):
        if not any(math.isfinite(profile.get(k, math.nan) or math.nan) for k in ("cpu_user_pct", "cpu_system_pct")):
            return Characterization("unknown", ["no CPU samples"])
        busy = finite.get("cpu_user_pct", 0.0) + finite.get("cpu_system_pct", 0.0)
    user = finite.get("cpu_user_pct", 0.0) + finite.get("cpu_nice_pct", 0.0)
    iowait = finite.get("cpu_iowait_pct", 0.0)
    disk = finite.get("disk_read_Bps", 0.0) + finite.get("disk_write_Bps", 0.0)
    net = finite.get("net_rx_Bps", 0.0) + finite.get("net_tx_Bps", 0.0)
    mb = 1e6

    def verdict(label: str, reasons) -> Characterization:
        return Characterization(label, ["; ".join(r() for r in reasons)] if explain else [])

    if busy < C.IDLE_BUSY_PCT and disk < C.IDLE_DISK_BPS and net < C.IDLE_NET_BPS and iowait < C.IO_IOWAIT_PCT:
        return verdict("idle", [lambda: f"cpu_busy {busy:.1f}% < {C.IDLE_BUSY_PCT:g}%, disk {disk / mb:.2f} MB/s, "
                                        f"net {net / mb:.2f} MB/s"])
    swap = finite.get("swapin_rate", 0.0) + finite.get("swapout_rate", 0.0)
    has_swap_rates = "swapin_rate" in profile or "swapout_rate" in profile
    climb = mem_slope * duration_s / 60.0
    mem = [r for ok, r in (
        (finite.get("psi_mem_some_pct", 0.0) >= C.MEM_PSI_PCT,
         lambda: f"psi_mem_some {profile['psi_mem_some_pct']:.1f}% >= {C.MEM_PSI_PCT:g}%"),
        (finite.get("majflt_rate", 0.0) >= C.MEM_MAJFLT_RATE,
         lambda: f"major faults {profile['majflt_rate']:.0f}/s >= {C.MEM_MAJFLT_RATE:g}/s"),
        (has_swap_rates and swap >= C.MEM_SWAP_PAGES_RATE,
         lambda: f"swapping {swap:.0f} pages/s >= {C.MEM_SWAP_PAGES_RATE:g}"),
        (not has_swap_rates and abs(swap_slope) >= C.MEM_SWAP_PCT_PER_MIN,
         lambda: f"swap_used moving {swap_slope:+.1f} pp/min"),
        (mem_slope >= C.MEM_CLIMB_PCT_PER_MIN and climb >= C.MEM_CLIMB_MIN_PCT,
         lambda: f"mem_used climbing {mem_slope:+.1f} pp/min ({climb:+.0f} pp)")) if ok]
    if mem:
        return verdict("memory-bound", mem)
    io = [r for ok, r in (
        (iowait >= C.IO_IOWAIT_PCT, lambda: f"iowait {iowait:.1f}% >= {C.IO_IOWAIT_PCT:g}%"),
        (finite.get("disk_util_pct", 0.0) >= C.IO_BOUND_UTIL_PCT,
         lambda: f"disk_util {profile['disk_util_pct']:.0f}% >= {C.IO_BOUND_UTIL_PCT:g}%"),
        (finite.get("psi_io_some_pct", 0.0) >= C.IO_BOUND_PSI_PCT,
         lambda: f"psi_io_some {profile['psi_io_some_pct']:.1f}% >= {C.IO_BOUND_PSI_PCT:g}%"),
        (disk >= C.IO_DISK_BPS, lambda: f"disk {disk / mb:.0f} MB/s >= {C.IO_DISK_BPS / mb:g} MB/s")) if ok]
    if io:
        return verdict("io-bound", io)
    per_pct = net / max(busy, 1.0)
    if net >= C.NET_BOUND_BPS and per_pct >= C.NET_BPS_PER_BUSY_PCT:
        return verdict("network-bound", [lambda: f"net {net / mb:.0f} MB/s, {per_pct / mb:.1f} MB/s per busy % "
                                                 f">= {C.NET_BPS_PER_BUSY_PCT / mb:g}"])
    return verdict("compute-bound", [lambda: f"cpu_busy {busy:.0f}% (user {user:.0f}%, system "
                                             f"{finite.get('cpu_system_pct', 0.0):.0f}%) with no I/O, memory "
                                             "or network pressure"])


def of_phases(labels: Sequence[str], seconds: Sequence[float], evidence: Sequence[str] = ()) -> Characterization:
    """A run's label from its phases' labels and lengths: the label holding at
    least DOMINANT_SHARE of the time, else ``mixed``; the shares say where
    the time went either way."""
    total: dict[str, float] = {}
    longest: dict[str, tuple[float, str]] = {}          # label -> its longest phase's (seconds, evidence)
    for k, (label, s) in enumerate(zip(labels, seconds)):
        s = max(float(s), 0.0)
        total[label] = total.get(label, 0.0) + s
        if k < len(evidence) and s >= longest.get(label, (-1.0, ""))[0]:
            longest[label] = (s, evidence[k])
    whole = sum(total.values())
    if whole <= 0:
        return Characterization("unknown", ["no samples"])
    shares = dict(sorted(((k, v / whole) for k, v in total.items()), key=lambda kv: -kv[1]))
    top, share = next(iter(shares.items()))
    label = top if share >= C.DOMINANT_SHARE else "mixed"
    where = ", ".join(f"{k} {v:.0%}" for k, v in shares.items())
    lead = (f"{share:.0%} of the time {top}" if label != "mixed"
            else f"no label holds {C.DOMINANT_SHARE:.0%} of the time")
    out = [f"{lead} ({where})"]
    if top in longest:
        out.append(f"{top}: {longest[top][1]}")
    return Characterization(label, out, shares)


def mean_profile(metrics: dict, lo: int = 0, hi: int | None = None) -> dict[str, float]:
    """Mean of every metric over samples [lo, hi), NaN-aware."""
    out = {}
    for k, v in metrics.items():
        x = np.asarray(v[lo:hi], dtype=np.float64)
        x = x[np.isfinite(x)]
        out[k] = float(x.mean()) if x.size else math.nan
    return out
