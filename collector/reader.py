"""Trace files back into Arrow tables, including what a killed recorder left behind.

A finished segment is an Arrow IPC *file*; the segment being written is an IPC
*stream* (``*.arrow.part``).  A stream is a sequence of self-delimiting
messages, so every record batch that reached the disk before a crash can be read
back: the reader walks the messages one by one, keeps each complete batch and
reports the bytes after the last one as dropped.  An IPC file whose footer never
got written is the magic ``ARROW1\\0\\0`` followed by the same stream, so it is
recovered the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from collector.schema import FIELDS, FORMAT_VERSION, trace_metadata
from paratune_base.errors import ParatuneError

FILE_MAGIC = b"ARROW1\x00\x00"
FINAL_SUFFIX = ".arrow"
PART_SUFFIX = ".arrow.part"
_REQUIRED = ("ts", "mono_ns")
_NAMES = list(FIELDS)


@dataclass
class TraceFile:
    """One segment as read: its rows, its ``paratune.*`` metadata and how it ended."""
    path: Path
    table: pa.Table
    metadata: dict[str, str]
    recovered: bool = False     # the writer never finished it (no end marker / no footer)
    dropped_bytes: int = 0      # bytes after the last complete message
    batches: int = 0


@dataclass
class HostTrace:
    """All segments of one host, concatenated in time order."""
    host: str
    table: pa.Table
    metadata: dict[str, str]    # of the earliest segment
    segments: list[TraceFile] = field(default_factory=list)


class StreamScan:
    """The complete messages of the IPC stream in ``buf[start:]``, in order.

    Construction reads the schema (``ValueError`` when not even that is
    complete); iterating yields the record batches and stops quietly at the
    first message that is cut short or damaged: that is where a crash hit.
    Afterwards ``end`` is the offset just past the last complete message and
    ``clean`` says whether the stream closed with its end-of-stream marker.
    """

    def __init__(self, buf: pa.Buffer, start: int = 0):
        self._source = pa.BufferReader(buf)
        self._source.seek(start)
        self._messages = pa.ipc.MessageReader.open_stream(self._source)
        try:
            first = self._messages.read_next_message()
        except StopIteration:
            raise ValueError("no Arrow schema at the start") from None
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"not an Arrow IPC stream ({_short(exc)})") from None
        if first.type != "schema":
            raise ValueError(f"starts with an Arrow {first.type} message, not a schema")
        try:
            self.schema = pa.ipc.read_schema(first)
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"unreadable Arrow schema ({_short(exc)})") from None
        self.end = self._source.tell()
        self.clean = False
        self.batches = 0

    def __iter__(self):
        while True:
            try:
                msg = self._messages.read_next_message()
            except StopIteration:
                if self._source.tell() > self.end:      # consumed an end-of-stream marker
                    self.clean, self.end = True, self._source.tell()
                return
            except (pa.ArrowException, OSError):
                return                                  # a message cut short
            if msg.type != "record batch":
                return
            try:
                batch = pa.ipc.read_record_batch(msg, self.schema)
                batch.validate(full=True)       # offsets too: a flipped bit must not reach numpy
            except (pa.ArrowException, OSError, ValueError):
                return
            self.batches += 1
            self.end = self._source.tell()
            yield batch


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__


def _shown(text: str, limit: int = 100) -> str:
    """Text from a file, fit for a one-line message: control characters escaped, long text cut."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _version(meta: dict[str, str], path: Path) -> int:
    raw = meta.get("format_version")
    if raw is None:
        raise ParatuneError(f"{path}: an Arrow file but not a paratune trace "
                            "(no paratune.format_version in its schema metadata)")
    try:
        major = int(raw.split(".")[0])
    except ValueError:
        raise ParatuneError(f"{path}: unreadable paratune.format_version {_shown(repr(raw))}") from None
    if major < 1:
        raise ParatuneError(f"{path}: unreadable paratune.format_version {_shown(repr(raw))}")
    if major > FORMAT_VERSION:
        raise ParatuneError(f"{path}: written by a newer paratune (trace format {_shown(raw)}); "
                            f"this version reads format {FORMAT_VERSION} and older: upgrade paratune")
    return major


def check_schema(schema: pa.Schema, path: Path) -> dict[str, str]:
    """The trace metadata, after checking the schema is one paratune can read."""
    try:        # names and metadata are bytes on disk: a damaged file can hold non-UTF-8 ones
        meta = trace_metadata(schema)
        names = set(schema.names)
    except UnicodeDecodeError:
        raise ParatuneError(f"{path}: damaged trace file (a column name or metadata key "
                            "is not UTF-8)") from None
    _version(meta, path)
    for name in _REQUIRED:
        if name not in names:
            raise ParatuneError(f"{path}: paratune trace without the {name} column")
    for f in schema:
        want = FIELDS.get(f.name)
        if want is not None and not f.type.equals(want.type):
            raise ParatuneError(f"{path}: column {f.name} has type {_shown(str(f.type))}, "
                                f"expected {_shown(str(want.type))}")
    return meta


TS_RANGE_US = (-62_135_596_800_000_000, 253_402_300_799_999_999)
"""Years 1 to 9999: the times Python's datetime (and every report) can show."""


def check_times(table: pa.Table, path: Path) -> None:
    """Refuse samples without a time or with one no clock could have given (a damaged file)."""
    ts = table.column("ts")
    if ts.null_count:
        raise ParatuneError(f"{path}: damaged trace file ({ts.null_count} samples without a time)")
    if len(ts):
        values = ts.combine_chunks().cast(pa.int64()).to_numpy()
        lo, hi = int(values.min()), int(values.max())
        if lo < TS_RANGE_US[0] or hi > TS_RANGE_US[1]:
            raise ParatuneError(f"{path}: damaged trace file (sample times outside years 1-9999)")


def upgrade(table: pa.Table, metadata: dict[str, str], skip: frozenset[str] = frozenset()) -> pa.Table:
    """A table of any readable format version in the current layout.

    Columns the file lacks are added as nulls (every field is optional) and
    the columns are put in table order; unknown extra columns are kept at the
    end.  Columns in ``skip`` (left unread) are left out.  That is the whole
    migration from version 1: version 2 only added ``slurm_jobs`` and
    ``licences``, which a version-1 file reads as null lists ("not recorded",
    where a version-2 file has empty lists: "nothing new in this sample").
    ``metadata`` is the file's (its version, should a conversion need it).
    """
    wanted = [n for n in _NAMES if n not in skip] if skip else _NAMES
    if table.column_names == wanted:      # already the current layout (types were checked)
        return table
    columns, names = [], []
    for name, f in FIELDS.items():
        if name in skip:
            continue
        if name in table.column_names:
            columns.append(table.column(name))
        else:
            columns.append(pa.nulls(table.num_rows, f.type))
        names.append(name)
    for name in table.column_names:
        if name not in FIELDS:
            columns.append(table.column(name))
            names.append(name)
    fields = [FIELDS[n].arrow() if n in FIELDS else table.schema.field(n) for n in names]
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=table.schema.metadata))


def read_trace(path: Path | str, skip: frozenset[str] = frozenset()) -> TraceFile:
    """One trace segment: a finished IPC file, or a stream / cut-short file, recovered.

    Columns named in ``skip`` are left out of the table, and a finished file
    does not even decompress them (a reader that never looks at per-interface
    detail saves a fifth of the work); a stream is decoded whole first."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:        # a copy, not a mapping: the writer may truncate
            data = fh.read()
    except FileNotFoundError:
        raise ParatuneError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ParatuneError(f"{path}: is a directory, not a trace file") from None
    except OSError as exc:
        raise ParatuneError(f"cannot read {path}: {exc.strerror or _short(exc)}") from None
    return read_buffer(pa.py_buffer(data), path, skip)


def read_buffer(buf: pa.Buffer, path: Path, skip: frozenset[str] = frozenset()) -> TraceFile:
    """``read_trace`` of bytes already in memory (``path`` names them in messages)."""
    if buf.size == 0:
        raise ParatuneError(f"{path}: empty file, not a paratune trace")
    head = buf.slice(0, min(8, buf.size)).to_pybytes()
    if head[:4] == b"PAR1":
        raise ParatuneError(f"{path}: a Parquet file, not a paratune trace (Arrow IPC)")
    if head == FILE_MAGIC:
        whole = _read_ipc_file(buf, path, skip)
        if whole is not None:
            return whole
        start = len(FILE_MAGIC)             # footer missing: the stream inside
    else:
        start = 0
    try:
        scan = StreamScan(buf, start)
    except ValueError as exc:
        raise ParatuneError(f"{path}: not a paratune trace: {exc}") from None
    meta = check_schema(scan.schema, path)
    table = pa.Table.from_batches(list(scan), schema=scan.schema)
    check_times(table, path)
    dropped = buf.size - scan.end
    return TraceFile(path, upgrade(table, meta, skip), meta, not scan.clean or start > 0 or dropped > 0,
                     dropped, scan.batches)


def _read_ipc_file(buf: pa.Buffer, path: Path, skip: frozenset[str]) -> TraceFile | None:
    try:
        reader = pa.ipc.open_file(buf)
    except (pa.ArrowException, OSError):
        return None
    meta = check_schema(reader.schema, path)
    try:
        # with one core to itself (a fleet worker's share) Arrow's pool costs CPU
        # it cannot win back (benches/measure_fleet_stages.py --reader-pool)
        options = {"use_threads": pa.cpu_count() > 1}
        if skip & set(reader.schema.names):
            options["included_fields"] = [i for i, name in enumerate(reader.schema.names) if name not in skip]
        if options != {"use_threads": True}:
            reader = pa.ipc.open_file(buf, options=pa.ipc.IpcReadOptions(**options))
        table = reader.read_all()
        table.validate(full=True)
    except (pa.ArrowException, OSError) as exc:
        raise ParatuneError(f"{path}: damaged trace file ({_short(exc)})") from None
    check_times(table, path)
    return TraceFile(path, upgrade(table, meta, skip), meta, False, 0, reader.num_record_batches)


def find_traces(paths) -> list[Path]:
    """Trace files named by ``paths``; directories are searched recursively.

    A ``X.arrow.part`` next to its finished ``X.arrow`` is the same data (the
    recorder stopped between renaming and deleting), so only ``X.arrow`` counts.
    Empty ``.part`` files found in directories are crash debris and are skipped.
    """
    found: set[Path] = set()
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for q in p.rglob("*"):
                if q.name.startswith(".") or not q.is_file():
                    continue
                if q.name.endswith(FINAL_SUFFIX):
                    found.add(q)
                elif q.name.endswith(PART_SUFFIX) and q.stat().st_size > 0:
                    found.add(q)
        elif p.is_file():
            found.add(p)
        else:
            raise ParatuneError(f"{p}: no such file or directory")
    finished = {q for q in found if q.name.endswith(FINAL_SUFFIX)}
    return sorted(q for q in found
                  if not (q.name.endswith(PART_SUFFIX)
                          and q.with_name(q.name[:-len(".part")]) in finished))


def _first_ts(tf: TraceFile) -> int:
    ts = tf.table.column("ts")
    return ts[0].value if len(ts) else 0


def read_traces(paths, skip: frozenset[str] = frozenset()) -> list[HostTrace]:
    """Every trace under ``paths``, one ``HostTrace`` per host, rows in time order
    (``skip``: columns to leave unread, as in ``read_trace``)."""
    by_host: dict[str, list[TraceFile]] = {}
    found = find_traces(paths)
    for path in found:
        if path.name.endswith(PART_SUFFIX) and not path.exists():
            # finished by a running recorder since it was listed: read the result instead
            done = path.with_name(path.name[:-len(".part")])
            if done in found or not done.exists():
                continue
            path = done
        tf = read_trace(path, skip)
        if tf.table.num_rows:
            by_host.setdefault(tf.metadata.get("host", ""), []).append(tf)
    out = []
    for host, parts in sorted(by_host.items()):
        parts.sort(key=_first_ts)
        table = pa.concat_tables([p.table.replace_schema_metadata(None) for p in parts],
                                 promote_options="permissive")
        ts = table.column("ts")
        if len(ts) > 1 and not _is_sorted(ts):
            table = table.sort_by("ts")
        out.append(HostTrace(host, table.replace_schema_metadata(parts[0].table.schema.metadata),
                             parts[0].metadata, parts))
    return out


def _is_sorted(ts: pa.ChunkedArray) -> bool:
    values = ts.combine_chunks().cast(pa.int64())
    # numpy, not pyarrow.compute: the recorder imports this module, and
    # pyarrow.compute alone costs it ~9 MB of resident memory
    ts = values.to_numpy()
    return len(ts) < 2 or bool(np.all(ts[1:] >= ts[:-1]))
