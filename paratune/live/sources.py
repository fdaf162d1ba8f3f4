"""Where the live view's rows come from: this node, a trace being written, a recording.

Every source has the same small interface, so the model and the view never
know which one they are fed (below and atop work the same way):

  ``metadata``   the trace metadata (host, interval_s, clk_tck, ...)
  ``wait_s()``   seconds until ``poll()`` may have something new
  ``poll()``     the rows that became due since the last call, as an Arrow
                 table of the trace schema (None when there are none)
  ``finished``   True when no row will ever come again
  ``set_paused(flag)``, ``label()`` for the header, ``close()``

Rows stay raw (counters as the kernel gave them); the model derives rates.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from collector.reader import (PART_SUFFIX, StreamScan, check_schema, find_traces, read_trace,
                              upgrade)
from collector.schema import arrow_schema
from paratune_base.errors import ParatuneError

BACKLOG_ROWS = 600
"""Rows a followed trace starts with, so the sparklines are not empty at first."""
GAP_SKIP_INTERVALS = 3.0
"""A replay does not sit through a hole in the trace longer than this many intervals."""


def _ts_seconds(table: pa.Table) -> np.ndarray:
    return table.column("ts").cast(pa.int64()).to_numpy() / 1e6


class LiveSource:
    """This node, sampled every ``interval_s`` by the collector's own sampler.

    With ``record`` (a ``Recording``: ``write(row)``, ``describe()``,
    ``close()``) every sample is also written to disk.
    Sampling goes on while the view is paused, so rates and recordings have
    no holes.
    """
    kind = "live"

    def __init__(self, interval_s: float = 1.0, top_n: int = 20, *, proc_root: str = "/proc",
                 sys_root: str = "/sys", record=None, sampler=None):
        if not interval_s > 0:
            raise ParatuneError(f"--interval must be > 0, got {interval_s}")
        if sampler is None:
            from collector.sampler import Sampler
            sampler = Sampler(proc_root=proc_root, sys_root=sys_root, top_n=top_n)
        self.sampler = sampler
        self.interval_s = float(interval_s)
        self.metadata = sampler.metadata(self.interval_s)
        self.schema = arrow_schema(self.metadata)
        self.record = record
        self.finished = False
        self._next = time.monotonic()

    def label(self) -> str:
        rec = f" · recording {self.record.describe()}" if self.record is not None else ""
        return f"live every {self.interval_s:g}s{rec}"

    def wait_s(self) -> float:
        return max(0.0, self._next - time.monotonic())

    def poll(self) -> pa.Table | None:
        now = time.monotonic()
        if now < self._next:
            return None
        row = self.sampler.sample()
        self._next += self.interval_s
        if self._next <= now:                 # fell behind (suspended?): keep the cadence from now
            self._next = now + self.interval_s
        if self.record is not None:
            self.record.write(row)
        return pa.Table.from_batches([pa.RecordBatch.from_pylist([row], schema=self.schema)])

    def set_paused(self, paused: bool) -> None:
        pass                                  # keep sampling: the view freezes, the data does not

    def close(self) -> None:
        if self.record is not None:
            rec, self.record = self.record, None
            rec.close()


class Recording:
    """``--record DIR``: the live samples also go to disk, exactly as ``paratune record`` writes them.

    The view owns the sampling loop here, so it hands each row to the
    recorder's own buffer and writing thread (``collector.writer``): the
    same segment files, rotation, flush cadence, lock and crash safety.
    """

    def __init__(self, output, sampler, interval_s: float, top_n: int):
        from collector import writer
        from collector.config import load_config
        from collector.daemon import segment_key
        self._segment_key, self._ts_us = segment_key, writer.ts_us
        self.cfg = cfg = load_config(None, output=str(output), interval=interval_s, top_n=top_n)
        host = sampler.metadata(interval_s).get("host") or os.uname().nodename
        self._lock = writer.prepare_output(cfg.output, host, cfg.compression)     # as paratune record does
        self._buffer = writer.Buffer(cfg.buffer_limit)
        self._writer = writer.TraceWriter(cfg.output, host, lambda: sampler.metadata(interval_s),
                                          cfg.compression, self._buffer).start()
        self._last_flush = time.monotonic()
        self._last_key = None

    def describe(self) -> str:
        return f"to {self.cfg.output}"

    def write(self, row: dict) -> None:
        key = self._segment_key(self._ts_us(row), self.cfg.rotate)
        self._buffer.put(key, row)
        now = time.monotonic()
        if now - self._last_flush >= self.cfg.flush or (self._last_key not in (None, key)):
            self._writer.wake()
            self._last_flush = now
        self._last_key = key

    def close(self) -> None:
        try:
            self._writer.close()
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None


class _StreamTail:
    """Reads an IPC stream file (``.arrow.part``) incrementally: only the new complete batches.

    The schema message read first is kept and put in front of the new bytes,
    so each poll parses just what was appended since the last one.
    """

    def __init__(self, path: Path):
        self.path = path
        with open(path, "rb") as fh:
            self.ino = os.fstat(fh.fileno()).st_ino
            data = fh.read()
        try:
            scan = StreamScan(pa.py_buffer(data))
        except ValueError as exc:
            raise ParatuneError(f"{path}: not a paratune trace: {exc}") from None
        self._header = data[:scan.end]
        self.schema = scan.schema
        self.metadata = check_schema(scan.schema, path)
        batches = list(scan)
        self.offset = scan.end
        self.first = self._table(batches)

    def _table(self, batches) -> pa.Table:
        return upgrade(pa.Table.from_batches(batches, schema=self.schema), self.metadata)

    def read_new(self) -> pa.Table | None:
        """Batches appended since the last call; None when the file was replaced or cut."""
        try:
            st = os.stat(self.path)
            if st.st_ino != self.ino or st.st_size < self.offset:
                return None
            if st.st_size == self.offset:
                return self._table([])
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                new = fh.read()
        except FileNotFoundError:
            return None
        scan = StreamScan(pa.py_buffer(self._header + new))
        batches = list(scan)
        self.offset += scan.end - len(self._header)
        return self._table(batches)


class FollowSource:
    """A trace the recorder is writing: a ``.arrow.part`` file, or the newest trace in a directory.

    Complete batches are picked up as they are flushed.  When the followed
    segment is finished (renamed to ``.arrow``) its last rows are read from the
    finished file, and in a directory the view moves on to the next segment.
    """
    kind = "follow"

    def __init__(self, path, poll_s: float | None = None, backlog: int = BACKLOG_ROWS):
        self.path = Path(path)
        if not self.path.exists():
            raise ParatuneError(f"{self.path}: no such file or directory")
        self.finished = False
        self._backlog = backlog
        self._file: Path | None = None
        self._tail: _StreamTail | None = None
        self._last_ts = -math.inf
        first = self._switch(self._pick())
        if first is None:
            raise ParatuneError(f"{self.path}: no trace to follow")
        self.metadata = dict(self._meta)
        self.interval_s = float(self.metadata.get("interval_s") or 1.0)
        self.poll_s = poll_s if poll_s is not None else min(1.0, max(0.2, self.interval_s / 2))
        self._pending = first.slice(max(0, first.num_rows - backlog)) if first.num_rows else first
        self._next = time.monotonic()

    def label(self) -> str:
        name = self._file.name if self._file else str(self.path)
        return f"following {name}" + ("" if self._tail else " (finished)")

    def _pick(self) -> Path | None:
        """The file to read now: the named one (or its finished form), or the newest in the directory."""
        if self.path.is_dir():
            files = find_traces([self.path])
            if not files:
                return None
            return max(files, key=lambda p: (_mtime(p), p.name.endswith(PART_SUFFIX), p.name))
        if self.path.exists():
            return self.path
        if self.path.name.endswith(PART_SUFFIX):
            done = self.path.with_name(self.path.name[:-len(".part")])
            if done.exists():
                return done
        return None

    def _switch(self, path: Path | None) -> pa.Table | None:
        """Start reading ``path``; returns its rows newer than those already shown."""
        if path is None:
            return None
        initial = self._file is None
        self._file, self._tail = path, None
        try:
            if path.name.endswith(PART_SUFFIX):
                self._tail = _StreamTail(path)
                table, self._meta = self._tail.first, self._tail.metadata
            else:
                tf = read_trace(path)
                table, self._meta = tf.table, tf.metadata
        except (ParatuneError, FileNotFoundError) as exc:
            if initial:             # a bad file named on the command line is the user's to fix
                raise ParatuneError(str(exc) if isinstance(exc, ParatuneError)
                                    else f"{path}: disappeared while opening it") from None
            return None             # renamed or half-written under us: the next poll sees it
        return self._newer(table)

    def _newer(self, table: pa.Table) -> pa.Table:
        if table.num_rows == 0:
            return table
        ts = _ts_seconds(table)
        keep = ts > self._last_ts
        if not keep.all():
            table = table.filter(pa.array(keep))
            ts = ts[keep]
        if len(ts):
            self._last_ts = float(ts.max())
        return table

    def wait_s(self) -> float:
        return 0.0 if self._pending is not None else max(0.0, self._next - time.monotonic())

    def poll(self) -> pa.Table | None:
        if self._pending is not None:
            out, self._pending = self._pending, None
            return out
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.poll_s
        parts = []
        if self._tail is not None:
            new = self._tail.read_new()
            if new is not None:
                parts.append(self._newer(new))
            else:                                 # finished or replaced: read what it became
                done = self._pick() if not self.path.is_dir() else self._finished_form()
                if done is not None:
                    got = self._switch(done)
                    if got is not None:
                        parts.append(got)
        if self.path.is_dir():
            newest = self._pick()
            if newest is not None and newest != self._file:
                got = self._switch(newest)
                if got is not None:
                    parts.append(got)
        parts = [p for p in parts if p.num_rows]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else pa.concat_tables(
            [p.replace_schema_metadata(None) for p in parts])

    def _finished_form(self) -> Path | None:
        if self._file is not None and self._file.name.endswith(PART_SUFFIX):
            done = self._file.with_name(self._file.name[:-len(".part")])
            if done.exists():
                return done
        return None

    def set_paused(self, paused: bool) -> None:
        pass                                      # the file keeps growing; we catch up on resume

    def close(self) -> None:
        self._tail = None


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except FileNotFoundError:
        return -math.inf


class ReplaySource:
    """A recorded trace played back at ``speed`` times real time, from ``start`` on.

    ``speed <= 0`` plays everything at once (``--once``).  Holes in the trace
    longer than GAP_SKIP_INTERVALS are skipped rather than waited through.
    """
    kind = "replay"

    def __init__(self, path, speed: float = 1.0, start: str | None = None):
        from analyzer.load import load
        if not math.isfinite(speed):
            raise ParatuneError(f"--speed must be a finite number, got {speed}")
        traces = load([path], start=start)
        if len(traces) > 1:
            raise ParatuneError(f"{path} holds traces of {len(traces)} hosts "
                                f"({', '.join(t.host for t in traces)}): replay one host's file")
        trace = traces[0]
        self.path = Path(path)
        self.metadata = dict(trace.metadata)
        self.table = trace.table.replace_schema_metadata(None)
        self.t = _ts_seconds(self.table)
        self.interval_s = float(self.metadata.get("interval_s") or 1.0)
        self.speed = float(speed)
        self.finished = False
        self._pos = 0
        self._clock = float(self.t[0])       # trace time reached
        self._wall: float | None = None      # the clock starts at the first poll, not at loading
        self._paused = False

    def label(self) -> str:
        speed = "" if self.speed <= 0 else f" x{self.speed:g}"
        return f"replay {self.path.name}{speed} · {self._pos}/{len(self.t)}"

    def _advance(self) -> None:
        now = time.monotonic()
        if not self._paused and self._wall is not None:
            self._clock += (now - self._wall) * self.speed
        self._wall = now

    def wait_s(self) -> float:
        if self.finished or self._paused:
            return math.inf
        if self.speed <= 0:
            return 0.0
        self._advance()
        return max(0.0, (self.t[self._pos] - self._clock) / self.speed)

    def poll(self) -> pa.Table | None:
        if self.finished or self._paused:
            return None
        n = len(self.t)
        if self.speed <= 0:
            end = n
        else:
            self._advance()
            end = int(np.searchsorted(self.t, self._clock, side="right"))
            end = max(end, self._pos)
        if end == self._pos:
            return None
        out = self.table.slice(self._pos, end - self._pos)
        self._pos = end
        if end >= n:
            self.finished = True
        elif self.t[end] - self._clock > GAP_SKIP_INTERVALS * self.interval_s:
            self._clock = float(self.t[end]) - self.interval_s
        return out

    def set_paused(self, paused: bool) -> None:
        self._advance()
        self._paused = paused

    def close(self) -> None:
        pass


def open_source(args):
    """The source the command line asks for (exactly one of live / --follow / --replay)."""
    if args.follow and args.replay:
        raise ParatuneError("--follow and --replay exclude each other")
    if args.replay:
        speed = 0.0 if args.once else args.speed
        return ReplaySource(args.replay, speed=speed, start=args.start)
    if args.follow:
        return FollowSource(args.follow)
    source = LiveSource(args.interval, args.top)
    if args.record:
        source.record = Recording(args.record, source.sampler, source.interval_s, args.top)
    return source

