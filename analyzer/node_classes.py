"""Which node type a run should use: its runtime and cost predicted on each
class of a site's catalog, from the run's phases.

The model (docs/advice.md) scales each phase by the resource its bottleneck
names, relative to the node the run was recorded on:
- compute-bound phases by cores and clock, up to the parallel width the run
  actually used (a run that kept 1.3 cores busy gains nothing from a third);
- I/O-bound phases by disk throughput;
- network-bound phases by network bandwidth;
- memory-bound phases by memory bandwidth;
- idle phases not at all.
Every phase also takes at least as long as moving its bytes through the
class's disk and network.  Memory capacity (and GPUs) are hard limits: a
class that cannot hold the run's peak does not fit.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from analyzer import config as C
from analyzer.pipeline import Analysis
from analyzer.advice import Usage
from paratune_base.errors import ParatuneError

GIB = 1 << 30
MB = 1e6
REQUIRED = ("name", "cores", "mem_gib")
OPTIONAL = ("clock_ghz", "mem_bw_gbs", "disk_mbps", "net_gbps", "gpus", "price_per_hour")


@dataclass(frozen=True)
class NodeClass:
    name: str
    cores: int
    mem_gib: float
    clock_ghz: float | None = None        # None: like the node the run was recorded on
    mem_bw_gbs: float | None = None
    disk_mbps: float | None = None
    net_gbps: float | None = None
    gpus: int | None = None
    price_per_hour: float | None = None


@dataclass
class Prediction:
    name: str
    fits: bool
    predicted_runtime_s: float | None
    predicted_cost: float | None
    why: list[str]
    confidence: float                     # 0-1: share of the run's time scaled by known ratios

    def to_dict(self) -> dict:
        d = asdict(self)
        d["why"] = "; ".join(self.why)
        return d


@dataclass
class Reference:
    """The recording node, in catalog terms; None where unknown."""
    cores: int
    mem_gib: float
    clock_ghz: float | None
    mem_bw_gbs: float | None
    disk_mbps: float | None
    net_gbps: float | None
    gpus: int
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- catalog

def load_catalog(path: Path) -> list[NodeClass]:
    """The ``[[node_class]]`` tables of a TOML file, checked."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ParatuneError(f"{path}: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ParatuneError(f"{path}: not valid TOML: {e}") from None
    tables = data.get("node_class")
    if not isinstance(tables, list) or not tables:
        raise ParatuneError(f"{path}: no [[node_class]] table")
    out, names = [], set()
    for i, t in enumerate(tables, 1):
        where = f"{path}: node_class {t.get('name', i)!s}"
        missing = [k for k in REQUIRED if k not in t]
        if missing:
            raise ParatuneError(f"{where}: missing {', '.join(missing)}")
        unknown = sorted(set(t) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            raise ParatuneError(f"{where}: unknown key {unknown[0]} (keys: {', '.join(REQUIRED + OPTIONAL)})")
        if not isinstance(t["name"], str) or not t["name"]:
            raise ParatuneError(f"{where}: name must be a non-empty string")
        for k in set(t) - {"name"}:
            v = t[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 \
                    or (v == 0 and k not in ("gpus", "price_per_hour")):
                raise ParatuneError(f"{where}: {k} must be a positive number, not {v!r}")
        if t["name"] in names:
            raise ParatuneError(f"{where}: the name is used twice")
        names.add(t["name"])
        out.append(NodeClass(**{f.name: t.get(f.name) for f in fields(NodeClass)}))
    return out


# ---------------------------------------------------------------- the recording node

def reference(a: Analysis, catalog: list[NodeClass], recorded_on: str | None = None) -> Reference:
    """The recording node: its metadata, completed by the catalog class it is
    (``recorded_on``, else the one class with its cores and memory)."""
    md = a.trace.metadata
    cores = int(float(md.get("cores") or 0)) or 1
    mem_gib = float(md.get("mem_total") or 0) / GIB
    ref = Reference(cores, mem_gib, _clock_ghz(a), None, None, None, 0)
    match = None
    if recorded_on is not None:
        match = next((c for c in catalog if c.name == recorded_on), None)
        if match is None:
            raise ParatuneError(f"--recorded-on {recorded_on}: no such class in the catalog "
                                f"({', '.join(c.name for c in catalog)})")
    else:
        same = [c for c in catalog if c.cores == cores and abs(c.mem_gib - mem_gib) <= 0.1 * max(mem_gib, 1e-9)
                and (ref.clock_ghz is None or c.clock_ghz is None or abs(c.clock_ghz - ref.clock_ghz) <= 0.1 * ref.clock_ghz)]
        match = same[0] if len(same) == 1 else None
    if match is not None:
        ref.notes.append(f"recorded on a {match.name} node")
        ref.clock_ghz = match.clock_ghz or ref.clock_ghz
        ref.mem_bw_gbs, ref.disk_mbps, ref.net_gbps = match.mem_bw_gbs, match.disk_mbps, match.net_gbps
        ref.gpus = match.gpus or 0
    d = a.derived
    disk = _peak(d.metrics.get("disk_read_Bps"), d.metrics.get("disk_write_Bps"))
    if ref.disk_mbps is None and disk > 0:       # at least what the run reached
        ref.disk_mbps = disk / MB
        ref.notes.append(f"recording node's disk taken as the run's peak {disk / MB:.0f} MB/s")
    net = _peak(d.metrics.get("net_rx_Bps"), d.metrics.get("net_tx_Bps"))
    if ref.net_gbps is None and net > 0:
        ref.net_gbps = net * 8 / 1e9
    return ref


def _clock_ghz(a: Analysis) -> float | None:
    """Median core clock of the trace (cpufreq), else the metadata's."""
    table = a.trace.table
    if "cores" in table.column_names:
        import pyarrow.compute as pc
        flat = pc.list_flatten(table.column("cores"))
        if len(flat):
            f = pc.struct_field(flat, "freq_mhz").drop_null()
            if len(f):
                return float(np.median(f.to_numpy())) / 1000.0
    mhz = a.trace.metadata.get("cpu_mhz")           # /proc/cpuinfo at the start (VMs have no cpufreq)
    return float(mhz) / 1000.0 if mhz else None


def _peak(*series) -> float:
    """99th percentile of the sum of the series: a capability, not a spike."""
    parts = [s for s in series if s is not None]
    if not parts:
        return 0.0
    x = np.nansum(np.vstack(parts), axis=0)
    return float(np.percentile(x, 99)) if x.size else 0.0


# ---------------------------------------------------------------- the model

def _ratio(ref: float | None, new: float | None) -> tuple[float, bool]:
    """ref/new time factor of a throughput, and whether both were known."""
    if new is None:
        return 1.0, True          # "like the recording node"
    if ref is None:
        return 1.0, False
    return ref / new, True


def predict(a: Analysis, u: Usage, catalog: list[NodeClass], ref: Reference, nodes: int = 1,
            gpus_used: int = 0) -> list[Prediction]:
    """Every class's prediction, best first: classes that fit by cost (or runtime
    without prices), then those that do not."""
    d = a.derived
    lo, hi = u.first, u.last + u.interval_s
    step = np.nan_to_num(d.step_s)
    disk = np.nan_to_num(d.metrics.get("disk_read_Bps", np.zeros(d.n))) + \
        np.nan_to_num(d.metrics.get("disk_write_Bps", np.zeros(d.n)))
    net = np.nan_to_num(d.metrics.get("net_rx_Bps", np.zeros(d.n))) + \
        np.nan_to_num(d.metrics.get("net_tx_Bps", np.zeros(d.n)))
    phases = []
    for p in a.phases:
        t0, t1 = max(p.start, lo), min(p.end, hi)
        if t1 <= t0:
            continue
        inside = (d.t >= t0) & (d.t < t1)
        cores = u.cores[inside & np.isfinite(u.cores)]
        width = float(np.mean(cores)) if cores.size else 1.0
        phases.append((p.bottleneck, t1 - t0, max(width, 1e-3), float(np.sum(disk[inside] * step[inside])),
                       float(np.sum(net[inside] * step[inside]))))
    if not phases:                    # no phase inside the run: one compute stretch
        phases = [("compute-bound", hi - lo, float(np.nanmean(u.cores)) if np.isfinite(u.cores).any() else 1.0,
                   0.0, 0.0)]
    total = sum(p[1] for p in phases)
    out = []
    for c in catalog:
        out.append(_one(c, phases, total, ref, u, nodes, gpus_used))
    fitting = sorted((p for p in out if p.fits),
                     key=lambda p: (p.predicted_cost if p.predicted_cost is not None else math.inf,
                                    p.predicted_runtime_s))
    return fitting + [p for p in out if not p.fits]


def _one(c: NodeClass, phases, total: float, ref: Reference, u: Usage, nodes: int, gpus_used: int) -> Prediction:
    why: list[str] = []
    need = u.peak_rss / GIB
    if need > c.mem_gib * C.NODE_CLASS_MEM_USABLE:
        return Prediction(c.name, False, None, None,
                          [f"the run's peak {need:.2f} GiB does not fit in {C.NODE_CLASS_MEM_USABLE:.0%} "
                           f"of {c.mem_gib:g} GiB"], 1.0)
    if gpus_used and (c.gpus or 0) < gpus_used:
        return Prediction(c.name, False, None, None, [f"the run used {gpus_used} GPU(s), the class has {c.gpus or 0}"],
                          1.0)
    clock, clock_known = _ratio(ref.clock_ghz, c.clock_ghz)
    disk, disk_known = _ratio(ref.disk_mbps, c.disk_mbps)
    netf, net_known = _ratio(ref.net_gbps, c.net_gbps)
    membw, mem_known = _ratio(ref.mem_bw_gbs, c.mem_bw_gbs)
    disk_Bps = (c.disk_mbps or ref.disk_mbps or math.inf) * MB
    net_Bps = (c.net_gbps or ref.net_gbps or math.inf) * 1e9 / 8
    runtime, known = 0.0, 0.0
    by_label: dict[str, float] = {}
    unknown: set[str] = set()
    for label, seconds, width, disk_bytes, net_bytes in phases:
        if label == "compute-bound":
            par = min(width, ref.cores) / min(width, c.cores)
            factor, ok, what = clock * par, clock_known, "clock"
        elif label == "io-bound":
            factor, ok, what = disk, disk_known, "disk"
        elif label == "network-bound":
            factor, ok, what = netf, net_known, "network"
        elif label == "memory-bound":
            factor, ok, what = membw, mem_known, "memory bandwidth"
        else:                                # idle, startup/shutdown, unknown: as recorded
            factor, ok, what = 1.0, label == "idle", "bottleneck"
        t = max(seconds * factor, disk_bytes / disk_Bps, net_bytes / net_Bps)
        runtime += t
        known += seconds if ok else 0.0
        if not ok:
            unknown.add(what)
        by_label[label] = by_label.get(label, 0.0) + t - seconds
    for label, delta in sorted(by_label.items(), key=lambda kv: -abs(kv[1])):
        if abs(delta) >= 0.05 * total:
            why.append(f"{label} time {'+' if delta > 0 else '-'}{abs(delta):.0f} s")
    if not why:
        why.append("about as fast as the recording node")
    why += [f"recording node's {what} unknown: taken as equal" for what in sorted(unknown - {"bottleneck"})]
    cost = runtime / 3600.0 * c.price_per_hour * nodes if c.price_per_hour is not None else None
    return Prediction(c.name, True, runtime, cost, why, known / total if total > 0 else 0.0)
