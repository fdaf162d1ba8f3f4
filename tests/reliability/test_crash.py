"""Crash safety figures: SIGKILL at random moments and a power cut at every byte of a real trace.

The mechanics (a real ``paratune record`` killed with SIGKILL, right after a flush or at a
random moment, with ``--rotate 1`` so kills land during rotation too) are the recorder
tests' own (tests/collector/test_daemon.py); this file runs them twenty times and records what
each kill lost.
"""
from __future__ import annotations

import io

import pyarrow as pa
import pytest

from collector.reader import read_buffer
from paratune.errors import ParatuneError
from tests.collector.test_daemon import _kill_many, fast_dir, recorders  # noqa: F401  (fixtures)
from tests.reliability.bad_inputs import SOURCE

AREA = "crash safety"
FLUSH = 0.3     # the --flush of the kill cycles


@pytest.mark.slow
def test_sigkill_twenty_times(fast_dir, recorders, reliability):  # noqa: F811
    lost = _kill_many(fast_dir, recorders, lanes=2, kills=10, seed=10)
    reliability.record("SIGKILL of a running recorder (after a flush, at random, during rotation)",
                       len(lost), len(lost),
                       f"at most {max(lost):.2f} s of samples (median {sorted(lost)[len(lost) // 2]:.2f} s; "
                       f"flush interval {FLUSH} s)",
                       "every file left behind reads back in order; the next recorder finishes them all")


@pytest.mark.slow
@pytest.mark.skipif(not SOURCE.exists(), reason=f"needs {SOURCE}")
def test_power_cut_at_every_byte_of_the_last_batches(reliability):
    """A real recording as the recorder's .part stream (zstd, a batch per 10 samples), cut within
    48 bytes of every message boundary of its last two batches and every 29th byte between (every
    byte of synthetic streams is swept in tests/collector/test_reader.py): each cut keeps every
    batch before it."""
    table = pa.ipc.open_file(SOURCE).read_all()
    sink, ends = io.BytesIO(), []
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
        for batch in table.to_batches(max_chunksize=10):
            w.write_batch(batch)
            ends.append(sink.tell())
    data = sink.getvalue()
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    near = {c for e in ends[-3:] + [len(data)] for c in range(e - 48, e + 49)}
    cuts = sorted(c for c in near | set(range(ends[-3], len(data) + 1, 29)) if ends[-3] <= c <= len(data))
    worst, survived = 0, 0
    for cut in cuts:
        try:
            tf = read_buffer(pa.py_buffer(data[:cut]), SOURCE)
        except ParatuneError as exc:
            pytest.fail(f"cut at {cut}: {exc}")
        batches = sum(e <= cut for e in ends)
        got = tf.table.column("ts").cast(pa.int64()).to_pylist()
        if got == ts[:min(10 * batches, len(ts))] and tf.recovered == (cut < len(data)):
            survived += 1
        worst = max(worst, len(ts[:10 * batches + 10]) - len(got) if cut < len(data) else len(ts) - len(got))
    reliability.record("power cut through the last 2 batches of a real .part", len(cuts), survived,
                       f"at most {worst} samples (the batch being written)",
                       f"{len(cuts):,} of the {len(data) - ends[-3]:,} offsets of {SOURCE.name}; every complete "
                       "batch recovered, "
                       "the dropped bytes reported")
    assert survived == len(cuts)
