"""Reading traces back: finished files, streams cut at any byte, and everything that is not a trace."""
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from collector import reader, schema, writer
from collector.reader import find_traces, read_buffer, read_trace, read_traces
from paratune_base.errors import ParatuneError
from tests.helpers import T0, make_row, schema_for, ts_us, write_segment


def stream_with_ends(tmp_path, flushes=3, compression="none", rows=1, **row_kw):
    """A closed .part stream and the offset where each of its messages ends (from the writer)."""
    sch = schema_for()
    seg = writer.SegmentWriter(writer.segment_path(tmp_path, "n1", T0), sch, compression)
    ends = [seg.size]                                 # schema message
    for f in range(flushes):
        seg.append(writer.rows_to_batch([make_row(f * rows + j, **row_kw) for j in range(rows)], sch))
        ends.append(seg.size)
    seg.close(finalise_file=False)                    # adds the end-of-stream marker
    data = seg.part.read_bytes()
    assert len(data) == ends[-1] + len(writer.EOS)
    return data, ends


def expect(cut: int, ends: list[int]) -> tuple[int, int]:
    """(complete batches, dropped bytes) for a stream cut after ``cut`` bytes."""
    done = [e for e in ends if e <= cut]
    if cut == ends[-1] + len(writer.EOS):             # the end-of-stream marker is complete too
        return len(done) - 1, 0
    return len(done) - 1, cut - done[-1]


def check_cut(data: bytes, ends: list[int], cut: int) -> None:
    name = Path(f"cut-{cut}.arrow.part")
    if cut < ends[0]:
        with pytest.raises(ParatuneError, match="not a paratune trace"):
            read_buffer(pa.py_buffer(data[:cut]), name)
        return
    tf = read_buffer(pa.py_buffer(data[:cut]), name)
    batches, dropped = expect(cut, ends)
    assert (tf.batches, tf.dropped_bytes, tf.table.num_rows) == (batches, dropped, batches), cut
    assert tf.recovered is (cut != len(data))
    assert ts_us(tf.table) == [make_row(i)["ts"] for i in range(batches)]


def offsets_near_ends(ends, total, span=24, stride=17):
    """Every offset near a message boundary and every ``stride``-th one between: the fast sweep."""
    lo = ends[-3]
    near = {c for e in ends[-3:] + [total] for c in range(e - span, e + span + 1)}
    return sorted(c for c in near | set(range(lo, total + 1, stride)) if lo <= c <= total)


def test_cut_stream_recovers_every_complete_batch(tmp_path):
    data, ends = stream_with_ends(tmp_path, procs=0, cores=0)
    for cut in offsets_near_ends(ends, len(data)):
        check_cut(data, ends, cut)


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_cut_stream_at_every_byte_of_the_last_batches(tmp_path, compression):
    data, ends = stream_with_ends(tmp_path, flushes=2, compression=compression, procs=0, cores=0)
    for cut in range(ends[0] - 16, len(data) + 1):     # end of the schema, both batches, the marker
        check_cut(data, ends, cut)


def test_cut_compressed_stream_and_real_files(tmp_path):
    data, ends = stream_with_ends(tmp_path, compression="zstd", rows=2)
    cuts = [ends[0] - 1, ends[0], ends[1] - 1, ends[1], ends[1] + 3, ends[2] + 8, ends[3] - 200,
            ends[3], len(data) - 4, len(data)]
    for cut in cuts:                                  # through real files, as a crash leaves them
        p = tmp_path / f"x-{cut}.arrow.part"
        p.write_bytes(data[:cut])
        if cut < ends[0]:
            with pytest.raises(ParatuneError):
                read_trace(p)
            continue
        tf = read_trace(p)
        batches, dropped = expect(cut, ends)
        assert (tf.batches, tf.dropped_bytes, tf.table.num_rows) == (batches, dropped, 2 * batches)


def test_finished_file_without_footer_reads_as_stream(tmp_path):
    seg = write_segment(tmp_path, flushes=4)
    data = seg.path.read_bytes()
    assert data[:8] == reader.FILE_MAGIC and data[-6:] == b"ARROW1"
    footer = struct.unpack("<i", data[-10:-6])[0]
    stream_end = len(data) - 10 - footer              # where the stream (with its EOS) ends
    for cut in (len(data) - 1, len(data) - 6, len(data) - 10, stream_end + 3, stream_end):
        p = tmp_path / f"cut-{cut}.arrow"
        p.write_bytes(data[:cut])
        tf = read_trace(p)
        assert tf.recovered and tf.table.num_rows == 12 and tf.dropped_bytes == cut - stream_end
    p = tmp_path / "deep.arrow"
    p.write_bytes(data[:stream_end - 100])            # into the last batch
    tf = read_trace(p)
    assert tf.recovered and tf.table.num_rows == 0 and tf.batches == 0


def test_finished_file(tmp_path):
    seg = write_segment(tmp_path, flushes=2)
    tf = read_trace(seg.path)
    assert tf.path == seg.path and not tf.recovered and tf.dropped_bytes == 0 and tf.batches == 1
    assert tf.table.schema.names == list(schema.FIELDS)
    assert tf.metadata["host"] == "n1" and tf.metadata["format_version"] == str(schema.FORMAT_VERSION)
    assert tf.table.column("ts").type == pa.timestamp("us", tz="UTC")


def test_skipped_columns_are_left_out_and_the_rest_is_unchanged(tmp_path):
    seg = write_segment(tmp_path, flushes=2)
    whole = read_trace(seg.path).table
    skip = frozenset({"nets", "procs"})
    part = read_trace(seg.path, skip).table
    assert part.schema.names == [n for n in schema.FIELDS if n not in skip]
    assert part.equals(whole.drop_columns(sorted(skip)))
    data = seg.path.read_bytes()                          # the footer gone: read as a stream
    cut = tmp_path / "cut.arrow"
    cut.write_bytes(data[:len(data) - 40])
    tf = read_trace(cut, skip)
    assert tf.recovered and tf.table.schema.names == part.schema.names
    assert tf.table.equals(part.slice(0, tf.table.num_rows))


# ---- things that are not paratune traces -------------------------------------------

def _arrow_file(path: Path, table: pa.Table) -> Path:
    with pa.ipc.new_file(path, table.schema) as w:
        w.write_table(table)
    return path


def _bad_inputs(tmp_path):
    good = pa.Table.from_pylist([make_row(0)], schema=schema_for())
    wrong_type = good.set_column(good.schema.get_field_index("load1"), pa.field("load1", pa.string()),
                                 pa.array(["high"]))
    newer = good.replace_schema_metadata({"paratune.format_version": str(schema.FORMAT_VERSION + 1),
                                          "paratune.host": "n1"})
    odd_version = good.replace_schema_metadata({"paratune.format_version": "one"})
    no_ts = good.drop_columns(["ts"])
    (tmp_path / "empty.arrow").write_bytes(b"")
    (tmp_path / "random.arrow").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "image.arrow").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 400)
    (tmp_path / "text.arrow").write_text("ts,cpu\n1,2\n")
    pq.write_table(good, tmp_path / "trace.parquet")
    _arrow_file(tmp_path / "other.arrow", pa.table({"a": [1, 2], "b": ["x", "y"]}))
    _arrow_file(tmp_path / "wrongtype.arrow", wrong_type)
    _arrow_file(tmp_path / "newer.arrow", newer)
    _arrow_file(tmp_path / "oddversion.arrow", odd_version)
    _arrow_file(tmp_path / "nots.arrow", no_ts)
    return {
        "empty.arrow": "empty file",
        "random.arrow": "not a paratune trace",
        "image.arrow": "not a paratune trace",
        "text.arrow": "not a paratune trace",
        "trace.parquet": "a Parquet file",
        "other.arrow": "no paratune.format_version",
        "wrongtype.arrow": "column load1 has type string, expected float",
        "newer.arrow": f"newer paratune (trace format {schema.FORMAT_VERSION + 1})",
        "oddversion.arrow": "unreadable paratune.format_version 'one'",
        "nots.arrow": "without the ts column",
        "missing.arrow": "no such file",
        ".": "is a directory",
    }


def test_non_traces_give_one_clear_line(tmp_path):
    for name, needle in _bad_inputs(tmp_path).items():
        with pytest.raises(ParatuneError) as err:
            read_trace(tmp_path / name)
        msg = str(err.value)
        assert needle in msg and "\n" not in msg, (name, msg)
        assert str(tmp_path / name) in msg or name == ".", (name, msg)


def test_stream_with_other_schema_is_rejected(tmp_path):
    p = tmp_path / "foreign.arrow.part"
    with pa.ipc.new_stream(p, pa.schema([("x", pa.int64())])) as w:
        w.write_batch(pa.record_batch([pa.array([1])], names=["x"]))
    with pytest.raises(ParatuneError, match="not a paratune trace"):
        read_trace(p)


def test_older_layout_gets_missing_columns_as_nulls(tmp_path):
    full = pa.Table.from_pylist([make_row(0), make_row(1)], schema=schema_for())
    slim = full.select(["ts", "mono_ns", "cpu_user", "procs"])
    tf = read_trace(_arrow_file(tmp_path / "slim.arrow", slim))
    assert tf.table.schema.names == list(schema.FIELDS)
    assert tf.table.column("load1").null_count == 2
    assert tf.table.column("cpu_user").to_pylist() == full.column("cpu_user").to_pylist()


# ---- finding and joining segments --------------------------------------------------

def test_find_traces(tmp_path):
    a = write_segment(tmp_path / "d1", flushes=1)                 # finished
    b = write_segment(tmp_path / "d2" / "deep", flushes=1, host="n2", close=False)   # live .part
    leftover = a.path.with_name(a.path.name + ".part")
    leftover.write_bytes(b"same data as the finished file")
    (tmp_path / "d1" / "empty.arrow.part").write_bytes(b"")      # crash debris
    (tmp_path / "d1" / ".hidden.arrow").write_bytes(b"x")
    (tmp_path / "d1" / "notes.txt").write_text("x")
    found = find_traces([tmp_path])
    assert found == sorted([a.path, b.part])
    assert find_traces([leftover]) == [leftover]                  # named explicitly: kept
    assert find_traces([a.path, tmp_path / "d1"]) == [a.path]
    with pytest.raises(ParatuneError, match="no such file or directory"):
        find_traces([tmp_path / "nope"])


def test_read_traces_groups_hosts_in_time_order(tmp_path):
    sch1, sch2 = schema_for("n1"), schema_for("n2")
    for host, sch, start in (("n1", sch1, 100), ("n1", sch1, 0), ("n2", sch2, 50)):
        seg = writer.SegmentWriter(writer.segment_path(tmp_path, host, T0 + start * 1_000_000), sch, "zstd")
        seg.append(writer.rows_to_batch([make_row(start + i) for i in range(5)], sch))
        if start == 100:
            seg.abandon()                                          # one unfinished segment
        else:
            seg.close()
    traces = read_traces([tmp_path])
    assert [t.host for t in traces] == ["n1", "n2"]
    n1 = traces[0]
    assert ts_us(n1.table) == [make_row(i)["ts"] for i in (0, 1, 2, 3, 4, 100, 101, 102, 103, 104)]
    assert len(n1.segments) == 2 and n1.segments[1].recovered
    assert n1.metadata["host"] == "n1" and traces[1].table.num_rows == 5
