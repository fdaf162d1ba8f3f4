"""Trace files -> one time-ordered table per host, optionally cut to a time range or a job."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive import NOT_DERIVED
from analyzer.times import iso_utc, parse_time
from collector.reader import read_traces
from paratune_base.errors import ParatuneError


class NoSamplesSelected(ParatuneError):
    """The files were read, but none of their samples is in the time range or job asked for."""


@dataclass
class Trace:
    """All samples of one host, stitched from its segments in time order."""
    host: str
    metadata: dict[str, str]
    table: pa.Table
    files: list[Path]
    notes: list[str] = field(default_factory=list)   # recovered files, dropped rows
    job: str | None = None
    seen_until: float | None = None    # last sample time before the cut to the job: the job ended if earlier

    @property
    def n(self) -> int:
        return self.table.num_rows


def _dedupe(table: pa.Table) -> pa.Table:
    """A sample present in two segments (a recovered .part and its copy) counts once."""
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    keep = np.ones(len(ts), dtype=bool)
    keep[1:] = np.diff(ts) != 0
    return table if keep.all() else table.filter(pa.array(keep))


def _cut(trace: Trace, start: float | None, end: float | None) -> None:
    if start is None and end is None:
        return
    ts = trace.table.column("ts").cast(pa.int64()).to_numpy() / 1e6
    mask = np.ones(len(ts), dtype=bool)
    if start is not None:
        mask &= ts >= start
    if end is not None:
        mask &= ts <= end
    trace.table = trace.table.filter(pa.array(mask))


def job_span(table: pa.Table, job: str) -> np.ndarray:
    """Rows at which some process of ``job`` was alive."""
    procs = table.column("procs")
    flat = pc.list_flatten(procs)
    rows = pc.list_parent_indices(procs).to_numpy()
    hit = pc.equal(pc.struct_field(flat, "job"), job).fill_null(False).to_numpy(zero_copy_only=False)
    return np.unique(rows[hit])


def _notes(segments) -> list[str]:
    return [f"{tf.path.name}: recovered {tf.table.num_rows} samples of an unfinished file"
            + (f", dropped {tf.dropped_bytes} bytes of a partial batch" if tf.dropped_bytes else "")
            for tf in segments if tf.recovered]


def load(paths, start: str | None = None, end: str | None = None,
         job: str | None = None, skip: frozenset[str] = NOT_DERIVED) -> list[Trace]:
    """Every host found under ``paths``, each cut to [start, end] and to ``job``'s span.

    The columns in ``skip`` are not read and not in the table: by default the
    per-item detail that ``derive`` has no use for; ``export`` passes an empty set."""
    hosts = read_traces([Path(p) for p in paths], skip)
    if not hosts:
        raise ParatuneError("no samples in " + ", ".join(map(str, paths)))
    traces, spans = [], []
    for h in hosts:
        table = _dedupe(h.table.replace_schema_metadata(None))
        trace = Trace(h.host, dict(h.metadata), table, [tf.path for tf in h.segments], _notes(h.segments))
        origin = table.column("ts")[0].value / 1e6
        lo, hi = parse_time(start, origin), parse_time(end, origin)
        if lo is not None and hi is not None and hi < lo:
            raise ParatuneError(f"--to ({iso_utc(hi)}) is before --from ({iso_utc(lo)})")
        spans.append((origin, table.column("ts")[-1].value / 1e6))
        _cut(trace, lo, hi)
        if job is not None:
            if trace.n:
                trace.seen_until = trace.table.column("ts")[-1].value / 1e6
            rows = job_span(trace.table, job)
            if len(rows) == 0:
                continue
            trace.table = trace.table.slice(int(rows[0]), int(rows[-1] - rows[0] + 1))
            trace.job = job
        if trace.n:
            traces.append(trace)
    if not traces:
        what = f"job {job}" if job else "the selected time range"
        have = ""
        if spans and (start or end):
            have = f" (the traces span {iso_utc(min(a for a, _ in spans))} to {iso_utc(max(b for _, b in spans))})"
        raise NoSamplesSelected(f"no samples for {what} in " + ", ".join(map(str, paths)) + have)
    return traces
