"""The recording loop: sample on a fixed grid, flush to segments, survive signals and full disks.

Deadlines are absolute points on the monotonic clock, aligned to wall-clock
multiples of the interval, so samples of every node of a job share timestamps
and the loop never drifts the way ``sleep(interval)`` does.  A deadline missed by
more than one interval is skipped rather than made up with a burst.

This thread only samples.  Rows go to a bounded buffer that a writing thread
(``collector.writer.TraceWriter``) empties at every flush, so neither a slow
fsync, nor a full disk, nor the rewrite of a finished segment delays a sample.
"""
from __future__ import annotations

import collections
import logging
import math
import os
import select
import signal
import threading
import time

from collector import writer
from collector.config import Config
from paratune_base.errors import ParatuneError

log = logging.getLogger("paratune.record")

_DAY_US = 86_400 * 1_000_000


class Schedule:
    """Deadlines on the monotonic clock at wall-clock multiples of ``interval``."""

    def __init__(self, interval: float, mono: float, wall: float):
        self.interval = interval
        self._anchor(mono, wall)

    def _anchor(self, mono: float, wall: float) -> None:
        self.offset = wall - mono
        self.origin = (math.floor(wall / self.interval) + 1) * self.interval - self.offset
        self.k = 0

    def next(self, now: float) -> tuple[float, int]:
        """The next deadline and how many were skipped to reach it (missed by > 1 interval)."""
        deadline = self.origin + self.k * self.interval
        skipped = 0
        if now - deadline > self.interval:
            k = math.floor((now - self.origin) / self.interval) + 1
            skipped, self.k = k - self.k, k
            deadline = self.origin + k * self.interval
        self.k += 1
        return deadline, skipped

    def realign(self, mono: float, wall: float, tolerance: float = 0.05) -> float:
        """Re-anchor after a wall-clock step larger than ``tolerance`` s; returns the step."""
        step = (wall - mono) - self.offset
        if abs(step) > tolerance:
            self._anchor(mono, wall)
        return step if abs(step) > tolerance else 0.0


def segment_key(ts_us: int, rotate: float, generation: int = 0) -> tuple[int, int, int]:
    """Rows with equal keys share a segment: SIGHUP count, UTC day, slot of ``rotate`` seconds.

    Slots are wall-clock multiples of ``rotate`` (on the hour by default); the
    day term starts a new file at UTC midnight even when ``rotate`` does not
    divide a day.
    """
    return generation, ts_us // _DAY_US, ts_us // int(rotate * 1_000_000)


class Jitter:
    """Lateness of samples (actual - deadline) in 0.1 ms bins: fixed memory for any run length."""

    BIN = 1e-4

    def __init__(self):
        self.bins: dict[int, int] = collections.Counter()
        self.count = 0
        self.max = 0.0

    def add(self, late: float) -> None:
        late = max(late, 0.0)
        self.bins[int(late / self.BIN)] += 1
        self.count += 1
        self.max = max(self.max, late)

    def quantile(self, q: float) -> float:
        """Upper edge of the bin holding the ``q`` quantile (seconds); 0 when empty."""
        if not self.count:
            return 0.0
        rank, seen = q * self.count, 0
        for b in sorted(self.bins):
            seen += self.bins[b]
            if seen >= rank:
                return min((b + 1) * self.BIN, self.max)
        return self.max

    def summary(self) -> str:
        return (f"jitter p50 {self.quantile(0.5) * 1e3:.1f} ms, p99 {self.quantile(0.99) * 1e3:.1f} ms, "
                f"max {self.max * 1e3:.1f} ms")


class Recorder:
    """``paratune record``: sample every ``interval`` until ``duration`` or a signal."""

    def __init__(self, config: Config, sampler=None):
        self.cfg = config
        if sampler is None:
            from collector.sampler import Sampler
            sampler = Sampler(proc_root=str(config.proc_root), sys_root=str(config.sys_root),
                              top_n=config.top_n, cmdline=config.cmdline, min_uid=config.min_uid,
                              licences=config.licences)
        self.sampler = sampler
        self.jitter = Jitter()
        self.samples = self.skipped = 0
        self.stop_requested = False
        self.generation = 0                   # bumped by SIGHUP: a new segment starts
        self.buffer = writer.Buffer(config.buffer_limit)
        self.writer: writer.TraceWriter | None = None
        self._said_dropping = -1             # the writer's disk-problem episode we said it for
        self._sample_errors: set[str] = set()
        self.failed = 0
        self._wake_r = self._wake_w = -1
        self.exporter = None                 # the Prometheus endpoint, when config.prometheus is set

    # -- setup ---------------------------------------------------------------

    def _prepare_output(self, host: str) -> int | None:
        return writer.prepare_output(self.cfg.output, host, self.cfg.compression)

    def _on_stop(self, signum, frame) -> None:
        self.stop_requested = True

    def _on_hup(self, signum, frame) -> None:
        self.generation += 1

    def _install_signals(self) -> dict:
        old = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        if threading.current_thread() is threading.main_thread():
            old["wakeup"] = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
            for sig, handler in ((signal.SIGTERM, self._on_stop), (signal.SIGINT, self._on_stop),
                                 (signal.SIGHUP, self._on_hup)):
                old[sig] = signal.signal(sig, handler)
        return old

    def _restore_signals(self, old: dict) -> None:
        if "wakeup" in old:
            signal.set_wakeup_fd(old.pop("wakeup"))
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def _wait_until(self, deadline: float) -> None:
        """Sleep to ``deadline``; a signal wakes us at once through the wakeup pipe."""
        while not self.stop_requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([self._wake_r], [], [], left)
            if ready:
                try:
                    while os.read(self._wake_r, 512):
                        pass
                except BlockingIOError:
                    pass

    # -- the loop ------------------------------------------------------------

    def run(self) -> int:
        cfg = self.cfg
        writer.skip_pandas()
        meta = self.sampler.metadata(cfg.interval)
        host = meta.get("host") or os.uname().nodename
        self._start_exporter({**meta, "host": host})
        try:
            lock = self._prepare_output(host)
        except BaseException:
            if self.exporter is not None:
                self.exporter.close()
            raise
        self.writer = writer.TraceWriter(cfg.output, host, lambda: self.sampler.metadata(cfg.interval),
                                         cfg.compression, self.buffer).start()
        old = self._install_signals()
        log.info("recording %s every %gs into %s (flush %gs, rotate %gs, %s%s)", host, cfg.interval,
                 cfg.output, cfg.flush, cfg.rotate, cfg.compression,
                 f", for {cfg.duration:g}s" if cfg.duration else "")
        try:
            status = self._loop()
        finally:
            self.writer.close()
            if self.exporter is not None:
                self.exporter.close()
            self._restore_signals(old)
            if lock is not None:
                os.close(lock)
        w = self.writer
        log.info("stopped: %d samples, %d written in %d file(s), %d skipped deadlines, %d dropped; %s",
                 self.samples, w.written, len(w.files), self.skipped, self.buffer.dropped,
                 self.jitter.summary())
        return 1 if w.dead is not None else status

    def _loop(self) -> int:
        cfg = self.cfg
        start = time.monotonic()
        schedule = Schedule(cfg.interval, start, time.time())
        target = max(1, round(cfg.duration / cfg.interval)) if cfg.duration else None
        last_flush, last_key = start, None
        while not self.stop_requested:
            if self.writer.dead is not None:
                return 1
            deadline, skipped = schedule.next(time.monotonic())
            if skipped:
                self.skipped += skipped
                log.warning("missed %d deadline(s) (the system was busy or suspended); resuming at "
                            "the next one", skipped)
            if target is not None and (self.samples >= target
                                       or deadline > start + cfg.duration + cfg.interval):
                break
            self._wait_until(deadline)
            if self.stop_requested:
                break
            now = time.monotonic()
            self.jitter.add(now - deadline)
            step = schedule.realign(now, time.time())
            if step:
                log.warning("wall clock stepped by %+.3fs; samples realigned to it", step)
            row = self._sample()
            if self.exporter is not None:
                self._publish(row, now - deadline, time.monotonic() - now)
            if row is None:
                continue
            key = segment_key(writer.ts_us(row), cfg.rotate, self.generation)
            if self.buffer.put(key, row) and self._said_dropping != self.writer.episodes:
                self._said_dropping = self.writer.episodes
                log.error("memory buffer full (%d samples): dropping the oldest until the disk has room",
                          cfg.buffer_limit)
            # Flush on time; also at once at a segment boundary or a full buffer, unless the
            # disk is failing (then only on time: retrying every sample would just spin).
            if now - last_flush >= cfg.flush or (self.writer.failing is None and (
                    (last_key is not None and key != last_key) or len(self.buffer) >= cfg.buffer_limit)):
                self.writer.wake()
                last_flush = now
            last_key = key
        return 0

    def _start_exporter(self, metadata: dict) -> None:
        """Open the Prometheus endpoint before the first sample, so a bad address stops us at once."""
        if self.cfg.prometheus is None:
            return
        from collector.config import parse_address
        from collector.prometheus import Exporter
        self.exporter = Exporter(*parse_address(self.cfg.prometheus), metadata=metadata).start()

    def _publish(self, row: dict | None, lateness: float, duration: float) -> None:
        from collector.prometheus import Health
        w = self.writer
        try:
            self.exporter.publish(row, Health(samples=self.samples, failed=self.failed, missed=self.skipped,
                                              dropped=self.buffer.dropped, written=w.written if w else 0,
                                              duration=duration, lateness=max(lateness, 0.0)))
        except Exception as exc:  # the endpoint is a view: it must never cost the trace a sample
            msg = f"Prometheus endpoint: {type(exc).__name__}: {exc}".splitlines()[0]
            if msg not in self._sample_errors:
                self._sample_errors.add(msg)
                log.error("%s; the trace goes on", msg)

    def _sample(self) -> dict | None:
        try:
            row = self.sampler.sample()
        except Exception as exc:  # a sampler bug must cost one sample, not the recording
            self.failed += 1
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if msg not in self._sample_errors:
                self._sample_errors.add(msg)
                log.error("sample failed (%s); skipping it", msg)
            return None
        self.samples += 1
        return row

