"""What every importer shares: rows + extra columns -> a trace table -> a finished file.

A source's samples become rows of paratune's own columns (``collector.schema``)
where the meaning and unit match; whatever else the source recorded goes in
``ext_*`` columns, raw, with ``kind``/``unit`` (and ``width``) field metadata,
so nothing the source had is dropped.  Files are written like the recorder's
finished segments (same name, modes, batches and IPC options, through
``collector.writer.write_finished``) but in one step: a ``.tmp`` that is
fsynced and renamed, so an interrupted import leaves nothing
a reader would mistake for a trace.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from collector.schema import arrow_schema
from collector.writer import make_dirs, segment_path, write_finished
from paratune_base import __version__

JOB_COMM = "job-total"
"""Command name of the process that stands for a batch job on a node (see ``job_process``)."""


@dataclass
class Imported:
    """One host's samples from one source file, ready to become a trace."""
    host: str
    source: str                                  # file name, for messages
    rows: list[dict]                             # paratune columns (missing keys are null)
    metadata: dict[str, str]
    extra: dict[str, pa.Field] = field(default_factory=dict)    # ext column -> its Arrow field
    extra_values: dict[str, list] = field(default_factory=dict)  # ext column -> one value per row
    notes: list[str] = field(default_factory=list)

    def add_extra(self, name: str, f: pa.Field, values: list) -> None:
        self.extra[name] = f
        self.extra_values[name] = values

    def table(self) -> pa.Table:
        """The rows as a table of the trace schema, extra columns at the end (sorted by name)."""
        meta = {"collector_version": __version__, **self.metadata}
        base = arrow_schema(meta)
        table = pa.Table.from_pylist(self.rows, schema=base)
        for name in sorted(self.extra):
            f = self.extra[name]
            table = table.append_column(f, pa.array(self.extra_values[name], type=f.type))
        return table.replace_schema_metadata(base.metadata)


def ext_field(name: str, type_: pa.DataType, kind: str, unit: str, width: int | None = None,
              **more: str) -> pa.Field:
    """A field of an extra column with the same ``kind``/``unit`` metadata paratune's own carry."""
    meta = {"kind": kind, "unit": unit, **more}
    if width:
        meta["width"] = str(width)
    return pa.field(name, type_, metadata=meta)


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


def iso(t: float) -> str:
    return utc(t).isoformat().replace("+00:00", "Z")


def median_interval(times: list[float]) -> float:
    """The source's real sampling interval: the median step between samples (1.0 for one sample)."""
    steps = [b - a for a, b in zip(times, times[1:]) if b > a]
    return round(statistics.median(steps), 3) if steps else 1.0


def short_host(name: str) -> str:
    """``c414-901.stampede.tacc.utexas.edu`` -> ``c414-901`` (paratune.host is the short name)."""
    return name.strip().split(".")[0] or "unknown"


def job_process(job: str, start_ticks: int, utime, stime, rss, uid: int | None = None) -> dict:
    """The process-table entry that stands for ``job`` on a node.

    Sources like TACC Stats give the job of a whole sample, not of processes:
    the node belonged to the job.  paratune finds jobs through its process
    table (``procs.job``), so the job becomes one process, pid 0 and command
    ``job-total``, whose CPU time is the node's busy time and whose memory is the
    node's memory in use by processes.  ``start_ticks`` (the job's first
    sample, in ticks after boot) keeps two jobs on a node apart.
    """
    return {"pid": 0, "ppid": 0, "uid": uid, "user": None if uid is None else str(uid),
            "comm": JOB_COMM, "state": None, "threads": None, "utime": utime, "stime": stime,
            "starttime": start_ticks, "rss": rss, "read_bytes": None, "write_bytes": None,
            "job": job, "cmdline": None}


def write_trace(table: pa.Table, out: Path) -> Path:
    """Write ``table`` as a finished trace under ``out`` (``<date>/<host>-<UTC>.arrow``)."""
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    path = segment_path(out, meta.get("paratune.host", "unknown"), table.column("ts")[0].value)
    make_dirs(path.parent)
    write_finished(path, table.schema, table.to_batches())
    return path


