"""Crash safety figures: SIGKILL at random moments and a power cut at every byte of a real trace.

The mechanics (a real ``paratune record`` killed with SIGKILL, right after a flush or at a
random moment, with ``--rotate 1`` so kills land during rotation too) are the recorder
tests' own (tests/helpers.py, run by tests/collector/test_daemon.py); this file runs them
twenty times and records what each kill lost and how many kills left everything readable.
"""
from __future__ import annotations

import io

import pyarrow as pa
import pytest

from collector.reader import read_buffer
from paratune_base.errors import ParatuneError
from tests.helpers import KILL_FLUSH, Kill, kill_lanes, ts_us
from tests.reliability.bad_inputs import SOURCE

AREA = "crash safety"


def kill_figures(kills, unfinished) -> tuple[int, str]:
    """How many kills left everything readable, in order and within the loss bound, and the
    row's "lost" text: the seconds of samples lost, and whatever did not survive."""
    lost = sorted(k.lost for k in kills if k.lost is not None)
    text = (f"at most {lost[-1]:.2f} s of samples (median {lost[len(lost) // 2]:.2f} s; "
            f"flush interval {KILL_FLUSH} s)" if lost else "every sample")
    broken = [k.problem for k in kills if k.problem] + unfinished
    return len(kills) - sum(bool(k.problem) for k in kills), "; ".join([text, *broken])


def test_a_kill_that_loses_is_not_counted_as_survived():
    """The row can show a loss: survived counts the kills that passed every check."""
    kills = [Kill(0.2), Kill(None, "the files left behind do not read back"), Kill(1.5, "lost 1.50 s")]
    survived, lost = kill_figures(kills, ["lane0: x.arrow.part left unfinished"])
    assert survived == 1
    assert lost == ("at most 1.50 s of samples (median 1.50 s; flush interval 0.3 s); the files left "
                    "behind do not read back; lost 1.50 s; lane0: x.arrow.part left unfinished")


@pytest.mark.slow
def test_sigkill_twenty_times(fast_dir, recorders, reliability):
    kills, unfinished = kill_lanes(fast_dir, recorders, lanes=2, kills=10, seed=10)
    survived, lost = kill_figures(kills, unfinished)
    reliability.record("SIGKILL of a running recorder (after a flush, at random, during rotation)",
                       len(kills), survived, lost,
                       "every file left behind reads back in order; the next recorder finishes them all")
    assert survived == len(kills) and not unfinished, lost


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
    ts = ts_us(table)
    near = {c for e in ends[-3:] + [len(data)] for c in range(e - 48, e + 49)}
    cuts = sorted(c for c in near | set(range(ends[-3], len(data) + 1, 29)) if ends[-3] <= c <= len(data))
    worst, survived, refused = 0, 0, []
    for cut in cuts:
        try:
            tf = read_buffer(pa.py_buffer(data[:cut]), SOURCE)
        except ParatuneError as exc:                    # every sample lost
            refused.append(f"cut at {cut}: {exc}")
            worst = len(ts)
            continue
        batches = sum(e <= cut for e in ends)
        got = ts_us(tf.table)
        if got == ts[:min(10 * batches, len(ts))] and tf.recovered == (cut < len(data)):
            survived += 1
        worst = max(worst, len(ts[:10 * batches + 10]) - len(got) if cut < len(data) else len(ts) - len(got))
    reliability.record("power cut through the last 2 batches of a real .part", len(cuts), survived,
                       f"at most {worst} samples " + (f"({len(refused)} cuts refused)" if refused
                                                      else "(the batch being written)"),
                       f"{len(cuts):,} of the {len(data) - ends[-3]:,} offsets of {SOURCE.name}; every complete "
                       "batch recovered, "
                       "the dropped bytes reported")
    assert survived == len(cuts), refused[:3]
