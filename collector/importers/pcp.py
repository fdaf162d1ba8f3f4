"""Performance Co-Pilot pmlogger archives -> ``Imported`` hosts, through PCP's own ``pmdumplog``.

An archive is ``X.meta`` (metric descriptions, instance domains), ``X.0``
(values) and ``X.index``; pmlogger writes one record per logging group, so
metrics of one moment can sit in records a few milliseconds apart: records
are merged into one sample until a metric repeats or 2 s have passed.  A
``<mark>`` record is a logging discontinuity (pmlogger restarted, values
missed): the sample clock restarts there, so no rate is computed across it.
PCP's Python bindings are not needed (nor always importable); ``pmdumplog``
ships with every PCP install.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from collector.importers.build import Imported, ext_field, iso, job_process, median_interval, short_host, utc
from collector.schema import COUNTER, GAUGE, LABEL
from paratune_base.errors import ParatuneError

MERGE_S = 2.0
"""Records this close together, with no metric repeated, are one sample."""
TIMEOUT_S = 600
_JOB_NAME = re.compile(r"job-(\d+)-")
_JOB_FOLDER = re.compile(r"^(\d+)-\d{9,11}$")
_STAMP = re.compile(r"^(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d\.\d+ \d{4})\s+(.*)$")
_METRIC = re.compile(r"^    (\S+) \((.+?)\):\s*(.*)$")
_INST = re.compile(r'^\s*inst \[(\d+) or "(.*)"\] value (.*)$')
_TYPES = {"64-bit unsigned int": pa.uint64(), "32-bit unsigned int": pa.uint64(), "64-bit int": pa.int64(),
          "32-bit int": pa.int64(), "float": pa.float64(), "double": pa.float64(), "string": pa.string()}

# PCP metric -> (paratune target, unit PCP must report it in, factor to paratune's unit)
PERCPU = {f"kernel.percpu.cpu.{k}": v for k, v in (
    ("user", "user"), ("nice", "nice"), ("sys", "system"), ("idle", "idle"), ("wait.total", "iowait"),
    ("irq.hard", "irq"), ("irq.soft", "softirq"), ("steal", "steal"), ("guest", "guest"),
    ("guest_nice", "guest_nice"))}
ALLCPU = {m.replace("percpu", "all"): s for m, s in PERCPU.items()}
NODE = {
    "kernel.all.pswitch": ("ctxt", "count", 1), "kernel.all.intr": ("intr", "count", 1),
    "kernel.all.sysfork": ("forks", "count", 1), "kernel.all.running": ("procs_running", "none", 1),
    "kernel.all.blocked": ("procs_blocked", "none", 1), "kernel.all.nprocs": ("nprocs", "none", 1),
    "mem.physmem": ("mem_total", "Kbyte", 1024), "mem.util.free": ("mem_free", "Kbyte", 1024),
    "mem.util.available": ("mem_available", "Kbyte", 1024), "mem.util.bufmem": ("mem_buffers", "Kbyte", 1024),
    "mem.util.cached": ("mem_cached", "Kbyte", 1024), "mem.util.dirty": ("mem_dirty", "Kbyte", 1024),
    "mem.util.writeback": ("mem_writeback", "Kbyte", 1024), "mem.util.anonpages": ("mem_anon", "Kbyte", 1024),
    "mem.util.slab": ("mem_slab", "Kbyte", 1024), "mem.util.shmem": ("mem_shmem", "Kbyte", 1024),
    "mem.vmstat.pgfault": ("pgfault", "count", 1), "mem.vmstat.pgmajfault": ("pgmajfault", "count", 1),
    "mem.vmstat.pswpin": ("pswpin", "count", 1), "mem.vmstat.pswpout": ("pswpout", "count", 1),
}
LOAD = {"1 minute": "load1", "5 minute": "load5", "15 minute": "load15"}
NET = {f"network.interface.{d}.{k}": f"{'rx' if d == 'in' else 'tx'}_{v}" for d in ("in", "out")
       for k, v in (("bytes", "bytes"), ("packets", "packets"), ("errors", "errs"), ("drops", "drop"))}
DISK = {"disk.dev.read": ("reads", "count", 1), "disk.dev.write": ("writes", "count", 1),
        "disk.dev.read_merge": ("reads_merged", "count", 1), "disk.dev.write_merge": ("writes_merged", "count", 1),
        "disk.dev.read_bytes": ("read_sectors", "Kbyte", 2), "disk.dev.write_bytes": ("write_sectors", "Kbyte", 2),
        "disk.dev.read_rawactive": ("read_ticks", "millisec", 1),
        "disk.dev.write_rawactive": ("write_ticks", "millisec", 1),
        "disk.dev.avactive": ("io_ticks", "millisec", 1), "disk.dev.aveq": ("time_in_queue", "millisec", 1)}
GPFS = {"gpfs.fsios.read_bytes": "read_bytes", "gpfs.fsios.write_bytes": "write_bytes"}


@dataclass(frozen=True)
class Desc:
    name: str
    type: str
    indom: bool
    semantics: str
    units: str


@dataclass
class Sample:
    t: float
    session: int                                    # bumped at every <mark>
    values: dict[str, object] = field(default_factory=dict)   # metric -> value, or {instance: value}


@dataclass
class Archive:
    path: Path
    host: str
    descs: dict[str, Desc]
    samples: list[Sample]


def check_pmdumplog() -> str:
    exe = shutil.which("pmdumplog")
    if exe is None:
        raise ParatuneError("pmdumplog not found: PCP archives are read with PCP's pmdumplog "
                            "(install PCP, e.g. apt install pcp)")
    return exe


def _run(args: list[str], archive: Path) -> str:
    try:
        res = subprocess.run([check_pmdumplog(), "-Z", "UTC", *args, str(archive)], capture_output=True,
                             text=True, errors="replace", timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ParatuneError(f"{archive}: pmdumplog did not finish in {TIMEOUT_S} s") from None
    if res.returncode != 0:
        why = next((ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("Note:")),
                   f"exit status {res.returncode}")
        raise ParatuneError(f"{archive}: not a readable PCP archive ({why.strip()[:160]})")
    return res.stdout


def _time(text: str) -> float:
    return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S.%f %Y").replace(
        tzinfo=timezone.utc).timestamp()


def _value(text: str):
    text = text.strip()
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_descs(text: str) -> tuple[str, dict[str, Desc]]:
    """Host name (from the label) and metric descriptions of ``pmdumplog -L -d`` output."""
    m = re.search(r"Performance metrics from host (\S+)", text)
    host = m.group(1) if m else ""
    descs = {}
    for block in re.finditer(r"PMID: \S+ \((\S+)\)\n\s+Data Type: (.+?)\s+InDom: (\S+).*\n"
                             r"\s+Semantics: (\S+)\s+Units: (.*)", text):
        name, type_, indom, sem, units = block.groups()
        descs[name] = Desc(name, type_.strip(), indom != "PM_INDOM_NULL", sem, units.strip())
    return host, descs


def parse_values(text: str) -> list[Sample]:
    """Samples of ``pmdumplog -x -m -M`` output, records merged as described above."""
    samples: list[Sample] = []
    session, cur, metric, new_group = 0, None, None, False
    for line in text.splitlines():
        m = _STAMP.match(line)
        if m:
            t, rest = _time(m.group(1)), m.group(2)
            if "<mark>" in rest:
                session += 1
                cur = None
                continue
            new_group = True
            metric = None
            stamp = t
            continue
        m = _METRIC.match(line)
        if m:
            metric, rest = m.group(2), m.group(3)
            if new_group:
                if cur is None or cur.session != session or stamp - cur.t > MERGE_S or metric in cur.values:
                    cur = Sample(stamp, session)
                    samples.append(cur)
                new_group = False
            elif metric in cur.values:          # a metric twice in one record: keep the first
                metric = None
                continue
            if rest.startswith("value "):
                cur.values[metric] = _value(rest[6:])
            elif rest.startswith("inst "):
                i = _INST.match(rest)
                if i:
                    cur.values.setdefault(metric, {})[i.group(2)] = _value(i.group(3))
            # anything else ("Timeout waiting for a response from PMCD") is no value
            continue
        i = _INST.match(line)
        if i and metric is not None and cur is not None:
            v = cur.values.setdefault(metric, {})
            if isinstance(v, dict):
                v[i.group(2)] = _value(i.group(3))
    return samples


def read_archive(base: Path) -> Archive:
    host, descs = parse_descs(_run(["-L", "-d"], base))
    samples = parse_values(_run(["-x", "-m", "-M"], base))
    if not samples:
        raise ParatuneError(f"{base}: a PCP archive without any values")
    return Archive(base, short_host(host) if host else base.name, descs, samples)


_PART = re.compile(r"(.+)\.(meta|index|\d+)")
"""One physical file of an archive: its base name, then .meta, .index or a data volume .N."""


def _meta(base: Path) -> Path:
    return base.with_name(base.name + ".meta")


def archive_base(p: Path) -> Path:
    """The archive ``p`` names, as PCP's tools read a name: ``p`` itself when ``p.meta``
    exists (pmlogger's own ``20161229.00.10`` is a base, not volume 10 of ``20161229.00``),
    else ``p`` less one .meta, .index or .N suffix."""
    if _meta(p).is_file():
        return p
    part = _PART.fullmatch(p.name)
    if part and _meta(p.with_name(part.group(1))).is_file():
        return p.with_name(part.group(1))
    if not p.exists():
        raise ParatuneError(f"{p}: no such file or directory")
    raise ParatuneError(f"{p}: not a PCP archive (no {part.group(1) if part else p.name}.meta next to it)")


def find_archives(paths) -> list[Path]:
    """Archive base names from bases, any of their files, or directories of them (searched)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            bases = sorted(q.with_suffix("") for q in p.rglob("*.meta") if q.is_file())
            if not bases:
                raise ParatuneError(f"{p}: no PCP archive in it (no .meta file)")
            found += bases
        else:
            found.append(archive_base(p))
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------- mapping

def _unit_ok(a: Archive, metric: str, unit: str) -> bool:
    d = a.descs.get(metric)
    return d is not None and d.units == unit


def _scaled(v, factor):
    return v * factor if isinstance(v, int) else None


def _cpu_index(name: str):
    m = re.fullmatch(r"cpu(\d+)", name)
    return int(m.group(1)) if m else None


def _row(s: Sample, a: Archive, used: set[str]) -> dict:
    v = s.values
    row: dict = {"ts": utc(s.t)}
    percpu: dict[str, dict] = {}
    for metric, state in PERCPU.items():
        if isinstance(v.get(metric), dict) and _unit_ok(a, metric, "millisec"):
            used.add(metric)
            for inst, x in v[metric].items():
                percpu.setdefault(inst, {"cpu": _cpu_index(inst), "freq_mhz": None})[state] = _scaled(x, 1)
    row["cores"] = list(percpu.values())
    for metric, state in ALLCPU.items():
        if metric in v and _unit_ok(a, metric, "millisec"):
            used.add(metric)
            row[f"cpu_{state}"] = _scaled(v[metric], 1)
        elif percpu and any(state in c for c in percpu.values()):
            vals = [c.get(state) for c in percpu.values()]
            row[f"cpu_{state}"] = None if None in vals else sum(vals)
    for metric, (col, unit, factor) in NODE.items():
        if metric in v and _unit_ok(a, metric, unit):
            used.add(metric)
            row[col] = _scaled(v[metric], factor)
    if isinstance(v.get("kernel.all.load"), dict):
        used.add("kernel.all.load")
        for inst, col in LOAD.items():
            x = v["kernel.all.load"].get(inst)
            row[col] = float(x) if isinstance(x, (int, float)) else None
    nets: dict[str, dict] = {}
    for metric, col in NET.items():
        if isinstance(v.get(metric), dict):
            used.add(metric)
            for inst, x in v[metric].items():
                nets.setdefault(inst, {"name": inst, "loopback": inst == "lo"})[col] = _scaled(x, 1)
    row["nets"] = list(nets.values())
    for col in set(NET.values()):
        vals = [n.get(col) for n in nets.values() if not n["loopback"]]
        row[f"net_{col}"] = None if not vals or None in vals else sum(vals)
    disks: dict[str, dict] = {}
    for metric, (col, unit, factor) in DISK.items():
        if isinstance(v.get(metric), dict) and _unit_ok(a, metric, unit):
            used.add(metric)
            for inst, x in v[metric].items():
                disks.setdefault(inst, {"name": inst})[col] = _scaled(x, factor)
    row["disks"] = list(disks.values())
    fs: dict[str, dict] = {}
    for metric, col in GPFS.items():
        if isinstance(v.get(metric), dict) and _unit_ok(a, metric, "byte"):
            used.add(metric)
            for inst, x in v[metric].items():
                fs.setdefault(inst, {"kind": "gpfs", "mount": inst, "ops": None})[col] = _scaled(x, 1)
    row["fs"] = list(fs.values())
    row["ib"], row["rapl"], row["gpus"] = [], [], []
    return row


def _ext_columns(a: Archive, imp: Imported, used: set[str]) -> None:
    """Every metric not mapped onto paratune's columns: ``ext_pcp_<metric with . as _>``, raw."""
    seen = {m for s in a.samples for m in s.values}
    for metric in sorted(seen - used):
        d = a.descs.get(metric, Desc(metric, "string", False, "", ""))
        t = _TYPES.get(d.type, pa.string())
        kind = COUNTER if d.semantics == "counter" else GAUGE
        name = "ext_pcp_" + re.sub(r"[^A-Za-z0-9_]", "_", metric)

        def cast(x, t=t):
            if t == pa.string():
                return None if x is None else str(x)
            if t == pa.float64():
                return float(x) if isinstance(x, (int, float)) else None
            return x if isinstance(x, int) and (t != pa.uint64() or x >= 0) else None

        if d.indom:
            item = pa.struct([pa.field("instance", pa.string(), metadata={"kind": LABEL, "unit": ""}),
                              ext_field("value", t, kind, d.units)])
            values = [[{"instance": k, "value": cast(x)} for k, x in s.values[metric].items()]
                      if isinstance(s.values.get(metric), dict) else None for s in a.samples]
            f = ext_field(name, pa.list_(item), LABEL, "", pcp_metric=metric)
        else:
            values = [cast(s.values.get(metric)) for s in a.samples]
            f = ext_field(name, t, kind, d.units, pcp_metric=metric)
        imp.add_extra(name, f, values)


def job_of(base: Path) -> str | None:
    """The job of an archive laid out as SUPReMM keeps them: named
    ``job-<ID>-begin-...``, or in a per-job folder ``<ID>-<end epoch>/``."""
    m = _JOB_NAME.search(base.name) or _JOB_FOLDER.match(base.parent.name)
    return m.group(1) if m else None


def to_imported(a: Archive, job: str | None = None) -> Imported:
    used: set[str] = set()
    rows = [_row(s, a, used) for s in a.samples]
    firsts: dict[int, float] = {}
    for s, row in zip(a.samples, rows):
        t0 = firsts.setdefault(s.session, s.t)
        row["mono_ns"] = int(round((s.t - t0) * 1e9))        # the clock restarts at every <mark>
    job = job or job_of(a.path)
    for row in rows:
        row["procs"] = []
        if job is not None:
            busy = None if row.get("cpu_user") is None else row["cpu_user"] + (row.get("cpu_nice") or 0)
            sys_ = None if row.get("cpu_system") is None else (
                row["cpu_system"] + (row.get("cpu_irq") or 0) + (row.get("cpu_softirq") or 0))
            row["procs"] = [job_process(job, 0, busy, sys_, None)]
    ncpu = next((s.values["hinv.ncpu"] for s in a.samples if isinstance(s.values.get("hinv.ncpu"), int)), None)
    cores = ncpu if ncpu is not None else max((len(r["cores"]) for r in rows), default=0) or ""
    mem = next((r.get("mem_total") for r in rows if r.get("mem_total")), None)
    meta = {"host": a.host, "kernel": "", "cpu_model": "", "cores": str(cores), "mem_total": str(mem or ""),
            "clk_tck": "1000", "page_size": "", "interval_s": str(median_interval([s.t for s in a.samples])),
            "start": iso(a.samples[0].t), "cluster": "", "sources": "gpfs" if any(r["fs"] for r in rows) else "",
            "source": "pcp pmlogger archive", "source_file": a.path.name, "jobs": job or ""}
    imp = Imported(a.host, a.path.name, rows, meta)
    _ext_columns(a, imp, used)
    marks = max(s.session for s in a.samples)
    if marks:
        imp.notes.append(f"{a.path.name}: {marks} logging discontinuit{'y' if marks == 1 else 'ies'} (<mark>); "
                         "no rate is computed across them")
    return imp
