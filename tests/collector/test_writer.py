"""Segment files: stream while open, IPC file when finished, modes, names, disk-full rollback."""
import errno
import os
import stat

import polars as pl
import pyarrow as pa
import pytest

from collector import writer
from collector.reader import read_trace
from tests.helpers import T0, fill, make_row, schema_for, write_segment


def test_path_layout_is_utc_and_unique(tmp_path):
    p = writer.segment_path(tmp_path, "node01.cluster", T0 + 3_723_000_000)
    assert p == tmp_path / "2026-01-01" / "node01.cluster-20260101T010203Z.arrow"
    p.parent.mkdir()
    p.with_name(p.name + ".part").touch()
    assert writer.segment_path(tmp_path, "node01.cluster", T0 + 3_723_000_000).name \
        == "node01.cluster-20260101T010203Z-1.arrow"
    assert writer.segment_path(tmp_path, "a/b c", T0).name.startswith("a_b_c-")


@pytest.mark.parametrize("codec", ["none", "lz4", "zstd"])
def test_stream_while_open_file_when_closed(tmp_path, codec):
    seg = write_segment(tmp_path, flushes=4, compression=codec, close=False)
    assert seg.part.exists() and not seg.path.exists()
    live = read_trace(seg.part)                       # readable while the recorder holds it
    assert live.table.num_rows == 12 and live.batches == 4 and live.dropped_bytes == 0
    assert live.recovered                             # no end-of-stream marker yet
    final = seg.close()
    assert final == seg.path and final.exists() and not seg.part.exists()
    assert sorted(os.listdir(final.parent)) == [final.name]     # no .tmp left behind
    with pa.ipc.open_file(final) as f:                # a real IPC file, with a footer
        table = f.read_all()
        assert f.num_record_batches == 1              # flush batches merged
    assert table.num_rows == 12
    assert table.column("ts").to_pylist() == live.table.column("ts").to_pylist()
    assert table.column("procs").to_pylist() == [make_row(i)["procs"] for i in range(12)]
    assert pl.scan_ipc(final).select(pl.len()).collect().item() == 12
    tf = read_trace(final)
    assert not tf.recovered and tf.dropped_bytes == 0 and tf.metadata["host"] == "n1"


def test_finished_file_merges_batches_up_to_the_limit(tmp_path):
    sch = schema_for()
    seg = writer.SegmentWriter(writer.segment_path(tmp_path, "n1", T0), sch, "zstd")
    for f in range(7):
        seg.append(writer.rows_to_batch([make_row(f * 3 + j) for j in range(3)], sch))
    seg.close(finalise_file=False)
    out = writer.finalise(seg.part, seg.path, "zstd", batch_rows=6)
    with pa.ipc.open_file(out) as f:
        sizes = [f.get_batch(k).num_rows for k in range(f.num_record_batches)]
    assert sizes == [6, 6, 6, 3]


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_modes_do_not_depend_on_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        seg = write_segment(tmp_path / "out" / "deeper", flushes=1, close=False)
        part_mode = stat.S_IMODE(seg.part.stat().st_mode)
        final = seg.close()
    finally:
        os.umask(old)
    assert part_mode == 0o640
    assert stat.S_IMODE(final.stat().st_mode) == 0o640
    for d in (tmp_path / "out", tmp_path / "out" / "deeper", final.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o750


def test_empty_segment_leaves_nothing(tmp_path):
    seg = write_segment(tmp_path, flushes=0)
    assert not seg.part.exists() and not seg.path.exists()


def test_abandoned_segment_is_recovered_by_the_next_recorder(tmp_path):
    seg = write_segment(tmp_path, flushes=3, close=False)
    seg.abandon()                                     # what SIGKILL leaves
    other = write_segment(tmp_path, flushes=1, host="n1-gpu", close=False)
    other.abandon()
    stale = seg.part.parent / "n1-20250101T000000Z.arrow.tmp"
    stale.write_bytes(b"half a rename")
    done = writer.recover_orphans(tmp_path, "n1", "zstd")
    assert done == [seg.path]
    assert read_trace(seg.path).table.num_rows == 9
    assert not seg.part.exists() and not stale.exists()
    assert other.part.exists()                        # another host's file is not ours to touch


def test_leftover_part_next_to_its_finished_file_is_removed(tmp_path):
    seg = write_segment(tmp_path, flushes=2)
    copy = seg.path.with_name(seg.path.name + ".part")
    copy.write_bytes(b"the same data, deleted after the rename in a normal run")
    assert writer.recover_orphans(tmp_path, "n1", "zstd") == []
    assert not copy.exists() and seg.path.exists()


def test_one_recorder_per_host_and_directory(tmp_path):
    fd = writer.lock_output(tmp_path, "n1")
    try:
        with pytest.raises(BlockingIOError):
            writer.lock_output(tmp_path, "n1")
        os.close(writer.lock_output(tmp_path, "n2"))
    finally:
        os.close(fd)
    os.close(writer.lock_output(tmp_path, "n1"))


def test_write_options():
    assert writer.write_options("none").compression is None
    assert writer.write_options("lz4").compression == "lz4"
    assert writer.write_options("zstd", final=True).compression == "zstd"


# ---- a real full file system (the tmpfs fixture: tests/collector/conftest.py) -----------

def test_disk_full_cuts_back_to_the_last_batch(tmpfs):
    sch = schema_for()
    seg = writer.SegmentWriter(writer.segment_path(tmpfs, "n1", T0), sch, "none")
    seg.append(writer.rows_to_batch([make_row(0)], sch))
    size = seg.part.stat().st_size
    filler = fill(tmpfs)
    big = writer.rows_to_batch([make_row(i, procs=50) for i in range(1, 40)], sch)
    with pytest.raises(OSError) as err:
        seg.append(big)
    assert err.value.errno == errno.ENOSPC and not seg.broken
    assert seg.part.stat().st_size == size            # the torn batch is gone
    assert read_trace(seg.part).table.num_rows == 1
    filler.unlink()
    seg.append(writer.rows_to_batch([make_row(1), make_row(2)], sch))
    assert read_trace(seg.part).table.num_rows == 3
    filler = fill(tmpfs)
    with pytest.raises(OSError):                      # no room for the finished copy
        writer.finalise(seg.part, seg.path, "none")
    assert seg.part.exists() and not seg.path.exists()
    assert not any(p.name.endswith(".tmp") for p in seg.part.parent.iterdir())
    filler.unlink()
    assert read_trace(seg.close()).table.num_rows == 3
