"""TACC Stats raw files (1.x and 2.x, gzipped or not) -> ``Imported`` hosts.

A raw file is text: ``$key value`` header lines (collector version, host
name, uname, uptime), one ``!type field,flags ...`` schema line per type
(``E`` event counter, ``C`` control register, ``U=`` unit, ``W=`` counter
width in bits), then records: ``<epoch> <jobid> [host]`` followed by
``<type> <device> <values...>`` lines and ``%begin``/``%end`` job marks.
Records come every ~10 minutes plus one at each job's begin and end; job
``0`` or ``-`` means no job.  Counters are kept raw (a ``W=48`` counter
wraps at 2**48; the width is in the column's field metadata).
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from collector.importers.build import (Imported, ext_field, iso, job_process, median_interval,
                                       short_host, utc)
from collector.schema import COUNTER, GAUGE, LABEL
from paratune_base.errors import ParatuneError

CLK_TCK = 100
"""TACC's cpu counters are in centiseconds (``U=cs``): USER_HZ ticks at 100 Hz."""
CPU_STATES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq")
FULLY_MAPPED = ("cpu", "block")
"""Types whose every field has a paratune column (``cores``/``cpu_*``, ``disks``): no ext copy."""
NO_JOB = ("0", "-", "")
_RECORD = re.compile(r"^(\d+(?:\.\d+)?)\s+(\S+)(?:\s+(\S+))?\s*$")
_GZIP = b"\x1f\x8b"


@dataclass(frozen=True)
class Column:
    """One field of a type's schema line, e.g. ``CTR0,E,W=48``."""
    name: str
    event: bool = False
    control: bool = False
    unit: str = ""
    width: int | None = None

    @classmethod
    def parse(cls, spec: str) -> "Column":
        name, *flags = spec.split(",")
        kw: dict = {}
        for f in flags:
            if f == "E":
                kw["event"] = True
            elif f == "C":
                kw["control"] = True
            elif f.startswith("U="):
                kw["unit"] = f[2:]
            elif f.startswith("W="):
                kw["width"] = int(f[2:])
        return cls(name, **kw)

    @property
    def kind(self) -> str:
        return COUNTER if self.event else LABEL if self.control else GAUGE


@dataclass
class Record:
    t: float
    job: str | None
    marks: list[str] = field(default_factory=list)
    stats: dict[str, dict[str, list[int]]] = field(default_factory=dict)   # type -> device -> values


@dataclass
class RawFile:
    path: Path
    header: dict[str, str]
    schemas: dict[str, list[Column]]
    records: list[Record]
    notes: list[str]
    boot: float | None      # epoch of the node's boot (from $uptime), None when unknown


# ---------------------------------------------------------------- reading

def _decompress(data: bytes, path: Path, notes: list[str]) -> bytes:
    """Every gzip member, and what can be decompressed of a cut-short last one."""
    out, rest = [], data
    while rest[:2] == _GZIP:
        d = zlib.decompressobj(wbits=31)
        try:
            out.append(d.decompress(rest))
        except zlib.error as exc:
            if not out and not d.unused_data:
                raise ParatuneError(f"{path}: damaged gzip data ({exc})") from None
            notes.append(f"{path.name}: damaged gzip data after {sum(map(len, out))} bytes; kept what came before")
            break
        if not d.eof:
            notes.append(f"{path.name}: gzip data cut short; kept every complete record before the cut")
            break
        rest = d.unused_data
    return b"".join(out)


def read_text(path: Path) -> tuple[str, list[str]]:
    """The text of a raw file, gunzipped when it is gzip; a torn last line is left out."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParatuneError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data:
        raise ParatuneError(f"{path}: empty file, not a TACC Stats raw file")
    notes: list[str] = []
    if data[:2] == _GZIP:
        data = _decompress(data, path, notes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParatuneError(f"{path}: not a TACC Stats raw file (not text)") from None
    if not text.startswith("$tacc_stats"):
        raise ParatuneError(f"{path}: not a TACC Stats raw file (it does not start with $tacc_stats)")
    if not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
        notes.append(f"{path.name}: the last line was cut short and is left out")
    return text, notes


def parse(path: Path) -> RawFile:
    """Header, schemas and records of one raw file (``ParatuneError`` on anything malformed)."""
    text, notes = read_text(path)
    header: dict[str, str] = {}
    schemas: dict[str, list[Column]] = {}
    records: list[Record] = []
    boot = None
    rec: Record | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        head = line[0]
        if head == "$":
            key, _, value = line[1:].partition(" ")
            if key == "hostname" and header.get("hostname", value) != value:
                raise ParatuneError(f"{path}:{n}: host changes from {header['hostname']} to {value}")
            header[key] = value.strip()
            if key == "uptime":
                header["_uptime_pending"] = value.strip()
            continue
        if head == "!":
            name, *specs = line[1:].split()
            try:
                schemas[name] = [Column.parse(s) for s in specs]
            except ValueError:
                raise ParatuneError(f"{path}:{n}: unreadable schema line for {name}") from None
            continue
        if head == "%":
            if rec is None:
                raise ParatuneError(f"{path}:{n}: a {line.split()[0]} mark before any record")
            rec.marks.append(line[1:].strip())
            continue
        m = _RECORD.match(line)
        if m:
            t = float(m.group(1))
            if records and t <= records[-1].t:
                raise ParatuneError(f"{path}:{n}: record time {m.group(1)} is not after the previous one")
            job = m.group(2)
            rec = Record(t, None if job in NO_JOB else job)
            records.append(rec)
            if "_uptime_pending" in header:       # a header block precedes this record: it gives boot time
                try:
                    boot = t - float(header.pop("_uptime_pending"))
                except ValueError:
                    raise ParatuneError(f"{path}:{n - 1}: unreadable $uptime") from None
            continue
        parts = line.split()
        if rec is None or len(parts) < 2:
            raise ParatuneError(f"{path}:{n}: not a TACC Stats line: {line[:60]!r}")
        type_, dev, raw = parts[0], parts[1], parts[2:]
        cols = schemas.get(type_)
        if cols is None:
            raise ParatuneError(f"{path}:{n}: type {type_!r} has no schema line")
        if len(raw) != len(cols):
            raise ParatuneError(f"{path}:{n}: {type_} {dev} has {len(raw)} values, its schema {len(cols)}")
        try:
            values = [int(v) for v in raw]
        except ValueError:
            raise ParatuneError(f"{path}:{n}: {type_} {dev}: a value is not an integer") from None
        if any(v < 0 or v >= 2**64 for v in values):
            raise ParatuneError(f"{path}:{n}: {type_} {dev}: a value does not fit an unsigned 64-bit counter")
        rec.stats.setdefault(type_, {})[dev] = values
    header.pop("_uptime_pending", None)
    if not records:
        raise ParatuneError(f"{path}: a TACC Stats file without records")
    return RawFile(path, header, schemas, records, notes, boot)


def read_accounting(path: Path) -> dict[str, dict]:
    """Jobs of a TACC ``tacc_jobs_completed`` file (Slurm flavour), by job id.

    Fields: id:uid:project:yesno:start:end:queue_time:queue:requested_minutes:
    name:status:nodes:cores; a job name may itself hold colons.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParatuneError(f"cannot read accounting file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    jobs = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        f = line.split(":")
        if len(f) < 13:
            raise ParatuneError(f"{path}:{n}: not a tacc_jobs_completed line (expected 13 ':'-separated fields)")
        try:
            jobs[f[0]] = {"job": f[0], "uid": int(f[1]), "project": f[2], "start": int(f[4]), "end": int(f[5]),
                          "queue_time": int(f[6]), "queue": f[7], "requested_min": int(f[8]),
                          "name": ":".join(f[9:-3]), "status": f[-3], "nodes": int(f[-2]), "cores": int(f[-1])}
        except ValueError:
            raise ParatuneError(f"{path}:{n}: a number field of the accounting line is not a number") from None
    return jobs


# ---------------------------------------------------------------- mapping

def _get(rec: Record, schemas, type_: str, name: str, dev: str | None = None):
    """One value (summed over devices when ``dev`` is None); None when the source lacks it."""
    cols = schemas.get(type_)
    devs = rec.stats.get(type_)
    if not cols or not devs:
        return None
    idx = next((i for i, c in enumerate(cols) if c.name == name), None)
    if idx is None:
        return None
    if dev is not None:
        return devs[dev][idx] if dev in devs else None
    return sum(v[idx] for v in devs.values())


def _kb(x):
    return None if x is None else x * 1024


def _sum(*xs):
    return None if any(x is None for x in xs) else sum(xs)


def _cores(rec, schemas):
    cols = [c.name for c in schemas.get("cpu", [])]
    out = []
    for dev in sorted(rec.stats.get("cpu", {}), key=lambda d: int(d) if d.isdigit() else -1):
        v = dict(zip(cols, rec.stats["cpu"][dev]))
        out.append({"cpu": int(dev) if dev.isdigit() else None, **{s: v.get(s) for s in CPU_STATES},
                    "freq_mhz": None})
    return out


_NET = {"rx_bytes": "rx_bytes", "rx_packets": "rx_packets", "rx_errs": "rx_errors", "rx_drop": "rx_dropped",
        "tx_bytes": "tx_bytes", "tx_packets": "tx_packets", "tx_errs": "tx_errors", "tx_drop": "tx_dropped"}
_DISK = {"reads": "rd_ios", "reads_merged": "rd_merges", "read_sectors": "rd_sectors", "read_ticks": "rd_ticks",
         "writes": "wr_ios", "writes_merged": "wr_merges", "write_sectors": "wr_sectors",
         "write_ticks": "wr_ticks", "in_flight": "in_flight", "io_ticks": "io_ticks",
         "time_in_queue": "time_in_queue"}


def _items(rec, schemas, type_, mapping, name_key="name", extra=None):
    cols = [c.name for c in schemas.get(type_, [])]
    out = []
    for dev, values in rec.stats.get(type_, {}).items():
        v = dict(zip(cols, values))
        item = {name_key: dev, **{ours: v.get(theirs) for ours, theirs in mapping.items()}}
        if extra:
            item.update(extra(dev, v))
        out.append(item)
    return out


def _ib(rec, schemas):
    """IB ports: data and packets from ``ib_ext`` (64-bit), errors and wait from ``ib`` (32-bit)."""
    ext_cols = [c.name for c in schemas.get("ib_ext", [])]
    ib_cols = [c.name for c in schemas.get("ib", [])]
    out = []
    for dev, values in rec.stats.get("ib_ext", {}).items():
        hca, _, port = dev.partition("/")
        e = dict(zip(ext_cols, values))
        old = dict(zip(ib_cols, rec.stats.get("ib", {}).get(f"{hca}.{port}", [])))
        out.append({"device": hca, "port": int(port) if port.isdigit() else None,
                    "rx_data": e.get("port_rcv_data"), "tx_data": e.get("port_xmit_data"),
                    "rx_packets": e.get("port_rcv_pkts"), "tx_packets": e.get("port_xmit_pkts"),
                    "rx_errors": old.get("port_rcv_errors"), "tx_wait": old.get("port_xmit_wait")})
    return out


def _fs(rec, schemas):
    out = []
    ll = [c.name for c in schemas.get("llite", [])]
    for dev, values in rec.stats.get("llite", {}).items():
        v = dict(zip(ll, values))
        ops = sum(x for k, x in v.items() if k not in ("read_bytes", "write_bytes", "direct_read",
                                                       "direct_write", "dirty_pages_hits",
                                                       "dirty_pages_misses"))
        out.append({"kind": "lustre", "mount": dev, "read_bytes": v.get("read_bytes"),
                    "write_bytes": v.get("write_bytes"), "ops": ops})
    nf = [c.name for c in schemas.get("nfs", [])]
    for dev, values in rec.stats.get("nfs", {}).items():
        v = dict(zip(nf, values))
        out.append({"kind": "nfs", "mount": dev,
                    "read_bytes": _sum(v.get("normal_read"), v.get("direct_read")),
                    "write_bytes": _sum(v.get("normal_write"), v.get("direct_write")),
                    "ops": sum(x for k, x in v.items() if k.endswith("_ops"))})
    return out


def _row(rec: Record, raw: RawFile, job_start: dict[str, float], uids: dict[str, int]) -> dict:
    s = raw.schemas
    g = lambda t, n: _get(rec, s, t, n)  # noqa: E731
    boot = raw.boot if raw.boot is not None else raw.records[0].t
    row = {"ts": utc(rec.t), "mono_ns": max(int(round((rec.t - boot) * 1e9)), 0)}
    for st in CPU_STATES:
        row[f"cpu_{st}"] = g("cpu", st)
    row["cores"] = _cores(rec, s)
    row.update(ctxt=g("ps", "ctxt"), forks=g("ps", "processes"), procs_running=g("ps", "nr_running"))
    for ours, theirs in (("load1", "load_1"), ("load5", "load_5"), ("load15", "load_15")):
        x = g("ps", theirs)                     # TACC stores the load average times 100
        row[ours] = None if x is None else x / 100.0
    for ours, theirs in (("mem_total", "MemTotal"), ("mem_free", "MemFree"), ("mem_dirty", "Dirty"),
                         ("mem_writeback", "Writeback"), ("mem_anon", "AnonPages"), ("mem_slab", "Slab"),
                         ("mem_cached", "FilePages")):
        row[ours] = _kb(g("mem", theirs))
    row.update(hugepages_total=g("mem", "HugePages_Total"), hugepages_free=g("mem", "HugePages_Free"))
    for ours in ("pgfault", "pgmajfault", "pswpin", "pswpout"):
        row[ours] = g("vm", ours)
    row["pgscan"] = _sum(g("vm", "pgscan_kswapd_normal"), g("vm", "pgscan_direct_normal"))
    row["pgsteal"] = g("vm", "pgsteal_normal")
    nets = _items(rec, s, "net", _NET, extra=lambda dev, v: {"loopback": dev == "lo"})
    row["nets"] = nets
    for ours in _NET:
        vals = [n[ours] for n in nets if not n["loopback"]]
        row[f"net_{ours}"] = None if not vals or None in vals else sum(vals)
    row["disks"] = _items(rec, s, "block", _DISK)
    row["ib"] = _ib(rec, s)
    row["fs"] = _fs(rec, s)
    row["rapl"], row["gpus"] = [], []
    procs = []
    if rec.job is not None:
        busy = _sum(row["cpu_user"], row["cpu_nice"])
        sys_ = _sum(row["cpu_system"], row["cpu_irq"], row["cpu_softirq"])
        used = _sum(g("mem", "MemUsed"), None if g("mem", "FilePages") is None else -g("mem", "FilePages"),
                    None if g("mem", "Slab") is None else -g("mem", "Slab"))
        start = int(round((job_start[rec.job] - boot) * CLK_TCK))
        procs.append(job_process(rec.job, max(start, 0), busy, sys_,
                                 None if used is None else max(used, 0) * 1024, uids.get(rec.job)))
    row["procs"] = procs
    return row


def _ext_columns(raw: RawFile, imp: Imported) -> None:
    """Every type not fully mapped, raw: ``ext_tacc_<type>`` = list<struct<device, fields...>>."""
    for type_, cols in sorted(raw.schemas.items()):
        if type_ in FULLY_MAPPED or not any(type_ in r.stats for r in raw.records):
            continue
        fields = [pa.field("device", pa.string(), metadata={"kind": LABEL, "unit": ""})]
        fields += [ext_field(c.name, pa.uint64(), c.kind, c.unit, c.width) for c in cols]
        values = [[{"device": dev, **dict(zip((c.name for c in cols), v))}
                   for dev, v in r.stats.get(type_, {}).items()] for r in raw.records]
        imp.add_extra(f"ext_tacc_{type_}", ext_field(f"ext_tacc_{type_}", pa.list_(pa.struct(fields)), LABEL, "",
                                                     description=f"TACC Stats type {type_}, per device, raw"),
                      values)
    imp.add_extra("ext_tacc_marks", ext_field("ext_tacc_marks", pa.list_(pa.string()), LABEL, "",
                                              description="TACC Stats marks of the record (begin JOB, end JOB)"),
                  [r.marks for r in raw.records])


def to_imported(raw: RawFile, accounting: dict[str, dict] | None = None) -> Imported:
    """One raw file as one host's rows, extra columns and metadata."""
    host = short_host(raw.header.get("hostname", raw.path.parent.name))
    job_start: dict[str, float] = {}
    for r in raw.records:
        if r.job is not None:
            job_start.setdefault(r.job, r.t)
    acct = {j: accounting[j] for j in job_start if accounting and j in accounting}
    uids = {j: a["uid"] for j, a in acct.items()}
    rows = [_row(r, raw, job_start, uids) for r in raw.records]
    cpus = {d for r in raw.records for d in r.stats.get("cpu", {})}
    mem = next((row["mem_total"] for row in rows if row["mem_total"]), None)
    uname = raw.header.get("uname", "").split()
    meta = {"host": host, "kernel": uname[2] if len(uname) > 2 else "", "cpu_model": "",
            "cores": str(len(cpus)) if cpus else "", "mem_total": str(mem or ""), "clk_tck": str(CLK_TCK),
            "page_size": "", "interval_s": str(median_interval([r.t for r in raw.records])),
            "start": iso(raw.records[0].t), "cluster": "",
            "sources": ",".join(x for x, t in (("ib", "ib_ext"), ("lustre", "llite"), ("nfs", "nfs"))
                                if t in raw.schemas),
            "source": f"tacc_stats {raw.header.get('tacc_stats', '?')}", "source_file": raw.path.name,
            "jobs": ",".join(job_start)}
    if acct:
        import json
        meta["accounting"] = json.dumps(list(acct.values()), separators=(",", ":"))
    imp = Imported(host, raw.path.name, rows, meta, notes=list(raw.notes))
    _ext_columns(raw, imp)
    return imp


def find_files(paths) -> list[Path]:
    """Raw files named by ``paths``; directories are searched recursively (hidden files skipped)."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")
                            and not q.name.startswith("hostlist.") and q.name != "tacc_jobs_completed")
        elif p.is_file():
            found.append(p)
        else:
            raise ParatuneError(f"{p}: no such file or directory")
    if not found:
        raise ParatuneError("no TACC Stats files in " + ", ".join(map(str, paths)))
    return found
