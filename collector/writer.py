"""Samples -> trace segment files that survive a crash at any byte.

A segment is written as an Arrow IPC *stream* named ``X.arrow.part``: each
flush appends one record batch and fsyncs, so a killed recorder leaves a file
whose every complete batch can be read back (``collector.reader``).  When the
segment ends cleanly it is rewritten as an IPC *file* ``X.arrow`` (the format
``polars.scan_ipc`` and ``pyarrow.ipc.open_file`` want) into ``X.arrow.tmp``,
fsynced, renamed over ``X.arrow`` and only then is the ``.part`` deleted: at
every instant a complete copy of the data exists under a name the reader finds.
The rewrite also merges the many small flush batches into a few large ones,
which is where most of the size saving comes from.

Bytes reach the file through ``os.write`` on a descriptor we own, not through
pyarrow's writer, so a write that fails half-way (disk full) can be cut back to
the last complete batch with ``ftruncate`` and retried later without leaving a
torn message in the middle of the stream.
"""
from __future__ import annotations

import collections
import errno
import fcntl
import logging
import os
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from collector.reader import FINAL_SUFFIX, PART_SUFFIX, StreamScan
from collector.schema import arrow_schema
from paratune_base.errors import ParatuneError
from paratune_base.absent import absent

log = logging.getLogger("paratune.record")

FILE_MODE = 0o640
DIR_MODE = 0o750
FINAL_BATCH_ROWS = 3600
"""Most rows per record batch of a finished file (an hour at 1 Hz) ...
Every buffer of a batch is compressed on its own, so fewer, larger batches read
faster and are smaller: a 2-core node-day in 24 hourly files is 15.0 MB and
reads in 0.42 s with 600-row batches, 11.5 MB and 0.16 s with 3600-row ones
(benches/long_trace.py --hourly)."""
FINAL_BATCH_BYTES = 8 << 20
"""... and at most about this many uncompressed bytes: the rewrite holds one
merged batch in memory, and a busy 64-core node's hour is ~50 MB (its batches
stay ~600 rows; larger ones would gain it 1%)."""
FINAL_ZSTD_LEVEL = 6
"""zstd level of finished files: 16% smaller than level 1 for ~0.5 s CPU per node-hour."""
EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def write_options(compression: str, final: bool = False) -> pa.ipc.IpcWriteOptions:
    """IPC options for ``none``, ``lz4`` or ``zstd``; single-threaded, the collector must stay small.

    Flushes use zstd's fastest level; the once-an-hour rewrite (``final``) a stronger one.
    """
    codec = None if compression == "none" else compression
    if codec == "zstd" and final:
        codec = pa.Codec("zstd", compression_level=FINAL_ZSTD_LEVEL)
    return pa.ipc.IpcWriteOptions(compression=codec, use_threads=False)


def make_dirs(path: Path) -> None:
    """Create ``path`` and missing parents with mode 0750, whatever the umask."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def safe_host(host: str) -> str:
    """A host name usable in a file name, never a hidden one (readers skip those)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", host).lstrip(".") or "unknown"    # ".x" would be hidden


def segment_path(output: Path, host: str, ts_us: int) -> Path:
    """``<output>/<YYYY-MM-DD>/<host>-<YYYYmmddTHHMMSSZ>.arrow`` (UTC), made unique with ``-N``."""
    when = datetime.fromtimestamp(ts_us / 1e6, timezone.utc)
    folder = output / when.strftime("%Y-%m-%d")
    stem = f"{safe_host(host)}-{when:%Y%m%dT%H%M%SZ}"
    name, n = stem, 0
    while any((folder / (name + sfx)).exists() for sfx in (FINAL_SUFFIX, PART_SUFFIX)):
        n += 1
        name = f"{stem}-{n}"
    return folder / (name + FINAL_SUFFIX)


def skip_pandas() -> None:
    """Let pyarrow settle, without importing it, that pandas is absent.

    pyarrow imports pandas at its first conversion of Python objects, to
    recognise pandas values; a recorder has none, and the import costs ~1 s of
    CPU and ~45 MB of memory.  Call once, before any conversion; pyarrow keeps
    the answer for the life of the process.  No effect if pandas is loaded.
    """
    with absent("pandas"):
        pa.array([0])


def rows_to_batch(rows: list[dict], schema: pa.Schema) -> pa.RecordBatch:
    """Sampler rows (dicts keyed by column) as one record batch of ``schema``."""
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class _Sink:
    """A file-like object pyarrow writes into; we take the bytes out after each batch."""

    def __init__(self):
        self.buf = bytearray()
        self.closed = False

    def write(self, data) -> int:
        self.buf += data
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self.buf = bytes(self.buf), bytearray()
        return data


class BatchEncoder:
    """Record batches -> the bytes of their IPC stream messages (compressed here)."""

    def __init__(self, schema: pa.Schema, compression: str):
        self.header = schema.serialize().to_pybytes()
        self._sink = _Sink()
        self._writer = pa.ipc.new_stream(self._sink, schema, options=write_options(compression))
        self._started = False

    def encode(self, batch: pa.RecordBatch) -> bytes:
        try:
            self._writer.write_batch(batch)
        finally:
            data = self._sink.take()
        if not self._started:               # pyarrow writes the schema with the first batch
            if not data.startswith(self.header):
                raise RuntimeError("pyarrow emitted an unexpected stream header")
            data = data[len(self.header):]
            self._started = True
        return data


class SegmentWriter:
    """One segment being recorded: ``<path>.part`` grows by one batch per ``append``."""

    def __init__(self, path: Path, schema: pa.Schema, compression: str, fsync: bool = True):
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self.schema = schema
        self.compression = compression
        self.fsync = fsync
        self.rows = self.batches = 0
        self.broken = False             # a torn batch could not be cut off: stop appending
        self._encoder = BatchEncoder(schema, compression)
        make_dirs(path.parent)
        # The schema goes in under a temporary name first, so a .part never exists without it.
        tmp = self.part.with_name(self.part.name + ".tmp")
        fd = create_new(tmp, os.O_APPEND)
        try:
            os.fchmod(fd, FILE_MODE)
            _write_all(fd, self._encoder.header)
            os.fsync(fd)
            os.rename(tmp, self.part)
            fsync_dir(path.parent)
        except BaseException:
            os.close(fd)
            _unlink(tmp)
            raise
        self._fd: int | None = fd
        self.size = len(self._encoder.header)

    def append(self, batch: pa.RecordBatch) -> int:
        """Write and fsync one batch; on failure the file is cut back to its last complete batch."""
        data = self._encoder.encode(batch)
        try:
            _write_all(self._fd, data)
            if self.fsync:
                os.fsync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, self.size)
            except OSError:
                self.broken = True
            raise
        self.size += len(data)
        self.rows += batch.num_rows
        self.batches += 1
        return len(data)

    def close(self, finalise_file: bool = True) -> Path | None:
        """End the stream; with ``finalise_file`` rewrite it as ``path`` (an IPC file).

        Returns the file that now holds the data (``path``, or the ``.part`` when
        finalising is off or fails), or None when the segment had no rows.
        """
        if self._fd is None:
            return self.part
        try:
            _write_all(self._fd, EOS)
            os.fsync(self._fd)
        except OSError:                 # no room for 8 bytes: a stream without its marker reads fine
            try:
                os.ftruncate(self._fd, self.size)
            except OSError:
                pass
        finally:
            os.close(self._fd)
            self._fd = None
        if self.batches == 0:
            _unlink(self.part)
            return None
        if not finalise_file:
            return self.part
        return finalise(self.part, self.path, self.compression)

    def abandon(self) -> None:
        """Close without finishing: the ``.part`` stays, readable up to its last batch."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def finalise(part: Path, path: Path | None = None, compression: str = "zstd",
             batch_rows: int = FINAL_BATCH_ROWS) -> Path | None:
    """Rewrite the stream ``part`` as the IPC file ``path`` (tmp, fsync, rename, unlink).

    Returns ``path``, or None when ``part`` held no complete batch (it is
    removed).  If anything fails the ``.part`` is left as it was.
    """
    if path is None:
        path = part.with_name(part.name[:-len(".part")])
    with open(os.open(part, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as fh:
        buf = pa.py_buffer(fh.read())
    scan = StreamScan(buf)
    if write_finished(path, scan.schema, scan, compression, batch_rows) == 0:
        _unlink(part)
        return None
    _unlink(part)
    fsync_dir(path.parent)
    return path


def write_finished(path: Path, schema: pa.Schema, batches, compression: str = "zstd",
                   batch_rows: int = FINAL_BATCH_ROWS) -> int:
    """Write ``batches`` as the finished IPC file ``path`` (merged, compressed
    harder; tmp, fsync, rename, fsync of the directory) and return the rows
    written.  With no row nothing is renamed and 0 is returned; on any failure
    the temporary file is removed and ``path`` is untouched."""
    tmp = path.with_name(path.name + ".tmp")
    wrote = 0
    try:
        with open(create_new(tmp), "wb") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)
            with pa.ipc.new_file(fh, schema, options=write_options(compression, final=True)) as out:
                for batch in _rebatch(batches, batch_rows):
                    out.write_batch(batch)
                    wrote += batch.num_rows
            fh.flush()
            os.fsync(fh.fileno())
        if wrote == 0:
            _unlink(tmp)
            return 0
        os.rename(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        _unlink(tmp)
        raise
    return wrote


def _rebatch(batches, rows: int, nbytes: int = FINAL_BATCH_BYTES):
    """Merge small batches into ones of up to ``rows`` rows and about ``nbytes``
    bytes, holding one merged batch at a time."""
    group, n, size = [], 0, 0
    for batch in batches:
        group.append(batch)
        n += batch.num_rows
        size += batch.nbytes
        if n >= rows or size >= nbytes:
            yield pa.concat_batches(group)
            group, n, size = [], 0, 0
    if group:
        yield pa.concat_batches(group)


def create_new(path: Path, flags: int = 0) -> int:
    """A new file at ``path`` (mode 0640), for writing; whatever was there is unlinked first.

    Never through a symlink: ``O_EXCL`` refuses one planted at ``path`` after the
    unlink, so a user who can write in the output directory cannot make the
    recorder truncate, chmod or fill a file of theirs choosing.
    """
    _unlink(path)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC | flags,
                   FILE_MODE)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def lock_output(output: Path, host: str) -> int:
    """Hold ``<output>/.paratune-record-<host>.lock`` so one recorder per host writes there.

    Returns the descriptor (the lock lasts until it is closed or the process exits).
    A symlink in place of the lock file is refused (ELOOP), never followed.
    Raises ``BlockingIOError`` when another recorder holds it.
    """
    lock = output / f".paratune-record-{safe_host(host)}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


def prepare_output(out: Path, host: str, compression: str) -> int | None:
    """Create and check the output directory, take its lock (the returned fd;
    None when the file system cannot lock), finish what a crash left.  The
    one setup of ``paratune record`` and ``paratune live --record``."""
    try:
        make_dirs(out)
    except OSError as exc:
        raise ParatuneError(f"cannot create output directory {out}: {exc.strerror}", 1) from None
    probe = out / f".paratune-probe-{os.getpid()}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise ParatuneError(f"cannot write to output directory {out}: {exc.strerror}", 1) from None
        log.warning("output %s is full; samples are kept in memory until it has room", out)
    try:
        lock = lock_output(out, host)
    except BlockingIOError:
        raise ParatuneError(f"another paratune record is already writing {out} for host {host}",
                            1) from None
    except OSError as exc:
        log.warning("cannot lock %s (%s); not checking for a second recorder", out, exc.strerror)
        return None
    try:
        recover_orphans(out, host, compression)
    except OSError as exc:
        log.warning("cannot look for unfinished files in %s: %s", out, exc.strerror)
    return lock


def recover_orphans(output: Path, host: str, compression: str) -> list[Path]:
    """Finish the segments of ``host`` a killed recorder left as ``.part`` (call with the lock held).

    Returns the files written.  A ``.part`` that cannot be finished is left for
    the reader, which recovers it the same way.
    """
    done = []
    ours = re.compile(re.escape(safe_host(host)) + r"-\d{8}T\d{6}Z(-\d+)?\.arrow(\.part)?(\.tmp)?")
    for folder in sorted(p for p in output.iterdir() if p.is_dir()) if output.is_dir() else ():
        for p in sorted(folder.iterdir()):
            if not ours.fullmatch(p.name):      # n1-gpu's files are not n1's
                continue
            if p.name.endswith(".tmp"):
                _unlink(p)
            elif p.name.endswith(PART_SUFFIX):
                final = p.with_name(p.name[:-len(".part")])
                try:
                    if final.exists():      # finished before the crash; the .part is a leftover
                        _unlink(p)
                        continue
                    out = finalise(p, final, compression)
                except (OSError, ValueError, pa.ArrowException) as exc:
                    log.warning("left %s as it is: cannot finish it (%s)", p, exc)
                    continue
                if out is not None:
                    log.info("finished %s left by an earlier recorder", out)
                    done.append(out)
    return done


# ---- the writing thread ----------------------------------------------------------------

def ts_us(row: dict) -> int:
    """A row's ``ts`` as integer microseconds."""
    ts = row["ts"]
    return int(ts.timestamp() * 1_000_000) if isinstance(ts, datetime) else int(ts)


class Buffer:
    """Rows waiting for the disk, shared by the sampling thread and the writing thread.

    Beyond ``limit`` rows the oldest is dropped (and counted): a full disk
    costs the oldest unwritten samples, never memory without bound.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.dropped = 0
        self._rows: collections.deque = collections.deque()    # (seq, key, row)
        self._seq = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def put(self, key, row: dict) -> bool:
        """Add a row; True when the oldest had to go to make room."""
        with self._lock:
            self._seq += 1
            self._rows.append((self._seq, key, row))
            if len(self._rows) > self.limit:
                self._rows.popleft()
                self.dropped += 1
                return True
        return False

    def head(self) -> tuple[int, object, list[dict]]:
        """The oldest rows that share a segment key: (last seq, key, rows); (0, None, []) when empty."""
        with self._lock:
            if not self._rows:
                return 0, None, []
            key, rows, seq = self._rows[0][1], [], 0
            for seq_k, key_k, row in self._rows:
                if key_k != key:
                    break
                seq = seq_k
                rows.append(row)
        return seq, key, rows

    def release(self, seq: int) -> None:
        """Forget rows up to ``seq``: they are on disk."""
        with self._lock:
            while self._rows and self._rows[0][0] <= seq:
                self._rows.popleft()

    def clear(self) -> int:
        with self._lock:
            n = len(self._rows)
            self._rows.clear()
            return n


class TraceWriter:
    """A thread that moves buffered rows into segment files.

    The sampling loop only fills the ``Buffer`` and calls ``wake()``; every
    write, fsync, rotation and the rewrite of finished segments happen here, so
    a slow disk delays files, never samples.  Rows whose segment key differs
    from the open segment's start a new segment.  A write that fails (disk
    full, quota) is logged once; the rows stay buffered and the next ``wake``
    retries.
    """

    def __init__(self, output: Path, host: str, metadata, compression: str, buffer: Buffer,
                 fsync: bool = True):
        self.output, self.host, self.compression = output, host, compression
        self.metadata = metadata        # callable: the paratune.* metadata of a new segment
        self.buffer = buffer
        self.fsync = fsync
        self.written = 0
        self.files: list[Path] = []     # finished IPC files
        self.failing: str | None = None
        self.episodes = 0               # disk problems seen so far (for log-once per episode)
        self.dead: BaseException | None = None
        self._failing_since = 0.0
        self._dropped_before = 0
        self._said_bad_rows = False
        self._segment: SegmentWriter | None = None
        self._key = None
        self._unfinished: list[tuple[Path, Path]] = []
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="paratune-writer", daemon=True)

    def start(self) -> "TraceWriter":
        self._thread.start()
        return self

    def wake(self) -> None:
        """Ask for a flush now."""
        self._wake.set()

    def close(self, timeout: float | None = None) -> None:
        """Flush, finish every segment, stop the thread."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                stopping = self._stopping
                self.flush()
                if stopping:
                    break
            self._shutdown()
        except BaseException as exc:    # a bug: the loop must know, and stop
            self.dead = exc
            log.critical("the writing thread failed", exc_info=exc)

    def flush(self) -> None:
        """Write the buffer, one batch per segment it spans; on a disk problem keep what is left."""
        while True:
            seq, key, rows = self.buffer.head()
            if not rows:
                break
            try:
                if key != self._key:
                    self._close_segment()
                    self._open_segment(key, rows[0])
                self._append(rows)
            except OSError as exc:
                self._disk_problem(exc)
                return
            self.buffer.release(seq)
            self.written += len(rows)
        if self.failing is not None:
            lost = self.buffer.dropped - self._dropped_before
            log.warning("writing again after %.0fs: the buffered samples are on disk%s",
                        time.monotonic() - self._failing_since,
                        f"; {lost} samples were dropped meanwhile" if lost else "")
            self.failing = None

    def _append(self, rows: list[dict]) -> None:
        try:
            batch = rows_to_batch(rows, self._segment.schema)
        except (pa.ArrowException, TypeError, ValueError, KeyError) as exc:
            batch = self._good_rows(rows, exc)
        if batch.num_rows:
            self._segment.append(batch)

    def _good_rows(self, rows: list[dict], exc: Exception) -> pa.RecordBatch:
        """The rows that fit the schema, when a batch of all of them did not (a sampler bug)."""
        good = []
        for row in rows:
            try:
                rows_to_batch([row], self._segment.schema)
                good.append(row)
            except (pa.ArrowException, TypeError, ValueError, KeyError):
                pass
        if not self._said_bad_rows:
            self._said_bad_rows = True
            log.error("dropped %d sample(s) that do not fit the trace schema (%s)",
                      len(rows) - len(good), str(exc).splitlines()[0])
        return rows_to_batch(good, self._segment.schema)

    def _open_segment(self, key, first: dict) -> None:
        ts = ts_us(first)
        meta = dict(self.metadata())
        meta["start"] = datetime.fromtimestamp(ts / 1e6, timezone.utc).isoformat(timespec="seconds")
        path = segment_path(self.output, self.host, ts)
        self._segment = SegmentWriter(path, arrow_schema(meta), self.compression, self.fsync)
        self._key = key
        log.info("writing %s", self._segment.part)

    def _close_segment(self) -> None:
        seg, self._segment, self._key = self._segment, None, None
        if seg is None:
            return
        try:
            part = seg.close(finalise_file=False)
        except OSError as exc:
            log.error("cannot close %s cleanly (%s); it stays a readable .part", seg.part, exc.strerror)
            return
        if part is not None:
            self._unfinished.append((part, seg.path))
        self._finish_all()

    def _finish_all(self) -> None:
        """Rewrite closed segments as IPC files; ones the disk has no room for wait for the next try."""
        left = []
        for part, final in self._unfinished:
            try:
                out = finalise(part, final, self.compression)
            except FileNotFoundError:
                log.error("%s vanished before it could be finished (deleted?)", part)
                continue
            except OSError as exc:
                log.error("cannot finish %s (%s); it stays a readable .part, retrying at the next "
                          "rotation", part, exc.strerror)
                left.append((part, final))
                continue
            except (ValueError, pa.ArrowException) as exc:
                log.error("cannot finish %s (%s); it stays as it is", part, exc)
                continue
            if out is not None:
                self.files.append(out)
                log.info("finished %s (%d bytes)", out, out.stat().st_size)
        self._unfinished = left

    def _disk_problem(self, exc: OSError) -> None:
        what = exc.strerror or str(exc)
        if self.failing != what:
            if self.failing is None:
                self._failing_since = time.monotonic()
                self._dropped_before = self.buffer.dropped
                self.episodes += 1
            self.failing = what
            log.error("cannot write to %s (%s); keeping up to %d samples in memory and retrying "
                      "at every flush", self.output, what, self.buffer.limit)
        seg = self._segment
        if seg is not None and seg.broken:      # could not cut back a torn batch: start afresh
            seg.abandon()
            self._segment, self._key = None, None
            self._unfinished.append((seg.part, seg.path))

    def _shutdown(self) -> None:
        if len(self.buffer):
            n = self.buffer.clear()
            self.buffer.dropped += n
            log.error("exiting with %d samples unwritten (%s)", n, self.failing)
        self._close_segment()
        for part, _ in self._unfinished:
            log.error("left %s unfinished (readable as a stream)", part)
