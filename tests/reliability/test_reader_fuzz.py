"""Fuzzing the trace reader: damaged real traces and foreign Arrow tables end in one clear error
or a correct table, never another exception or a hang.

The inputs are mutations of real recordings from ``sample_traces/`` (both as the finished
IPC file and re-encoded as the ``.part`` stream the recorder writes): bit flips, cuts,
spliced messages, overwritten spans, and random bytes; plus Arrow tables hypothesis builds
with columns of the wrong type or another schema.  A read that succeeds must give a table
that passes Arrow's full validation in the current layout; a cut stream must give exactly
the batches before the cut.
"""
from __future__ import annotations

import collections
import functools
import io
import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import schema
from collector.reader import TS_RANGE_US, read_buffer
from paratune_base.errors import ParatuneError

AREA = "bad input: trace reader (fuzz)"
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [ROOT / "sample_traces" / f"{n}.arrow" for n in ("stress-cpu", "lammps-cpu_hog", "iperf3")]
pytestmark = pytest.mark.skipif(not all(p.exists() for p in SAMPLES),
                                reason="needs the real recordings in sample_traces/")

FUZZ = settings(max_examples=300, deadline=5000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
"""300 cases per test, 1,500 in all; the same cases on every run (derandomize), so CI is
reproducible and a failure names its input.  The deadline catches a case that hangs."""

NAMES = list(schema.FIELDS)
READABLE_VERSIONS = {str(v).encode() for v in range(1, schema.FORMAT_VERSION + 1)}


def as_stream(table: pa.Table, rows: int = 10) -> tuple[bytes, list[int]]:
    """``table`` as the recorder's ``.part`` stream: one zstd batch per ``rows`` samples,
    and the offset where each message ends."""
    sink = io.BytesIO()
    ends = []
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
        for batch in table.to_batches(max_chunksize=rows):
            w.write_batch(batch)            # the schema message goes out with the first batch
            ends.append(sink.tell())
    data = sink.getvalue()
    schema_end = len(table.schema.serialize())
    assert data[:schema_end] == table.schema.serialize().to_pybytes()
    return data, [schema_end] + ends


class Corpus:
    """The real traces, each as file bytes and as stream bytes, with the rows they hold."""

    def __init__(self):
        self.files, self.streams, self.tables = [], [], []
        for p in SAMPLES:
            data = p.read_bytes()
            table = read_buffer(pa.py_buffer(data), p).table
            self.files.append(data)
            self.streams.append(as_stream(table))
            self.tables.append(table)

    def all_bytes(self) -> list[bytes]:
        return self.files + [s for s, _ in self.streams]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus()


def outcome(data: bytes) -> tuple[str, pa.Table | None]:
    """``("refused", None)`` for a clean ParatuneError, ``("read", table)`` for a checked table.

    Anything else (another exception, an invalid table, a message of several lines) fails.
    """
    name = Path("fuzzed.arrow")
    try:
        tf = read_buffer(pa.py_buffer(data), name)
    except ParatuneError as exc:
        msg = str(exc)
        assert msg.startswith(str(name)) and "\n" not in msg, msg
        return "refused", None
    tf.table.validate(full=True)
    assert tf.table.column_names[:len(NAMES)] == NAMES
    for name_, f in schema.FIELDS.items():
        assert tf.table.schema.field(name_).type.equals(f.type), name_
    assert tf.dropped_bytes >= 0 and tf.batches >= 0
    return "read", tf.table


def ts_list(table: pa.Table) -> list[int]:
    return table.column("ts").cast(pa.int64()).to_pylist()


class Tally:
    """What the cases of one test ended in, for docs/reliability.md."""

    def __init__(self):
        self.counts = collections.Counter()
        self.rows_kept = 0
        self.attempted = self.survived = 0     # a case survives when it ends without a failure

    def counted(self, case):
        """Wrap one fuzz case: counted as tried before it runs, as survived after."""
        @functools.wraps(case)
        def run(*args, **kwargs):
            self.attempted += 1
            case(*args, **kwargs)
            self.survived += 1
        return run

    def add(self, what: str, table: pa.Table | None = None) -> None:
        self.counts[what] += 1
        if table is not None:
            self.rows_kept += table.num_rows

    @property
    def cases(self) -> int:
        return sum(self.counts.values())

    def note(self) -> str:
        return (f"{self.counts['refused']} refused with one line, {self.counts['read']} read "
                f"({self.rows_kept} valid rows)")


def _record(reliability, title: str, tally: Tally, lost: str) -> None:
    reliability.record(title, cases=tally.attempted, survived=tally.survived, lost=lost, note=tally.note())


def test_bit_flips_and_overwritten_spans(corpus, reliability):
    tally = Tally()
    sources = corpus.all_bytes()

    @FUZZ
    @given(st.sampled_from(range(len(sources))), st.data())
    @tally.counted
    def case(which, data):
        buf = bytearray(sources[which])
        if data.draw(st.booleans(), label="flip bits"):
            for pos in data.draw(st.lists(st.integers(0, len(buf) * 8 - 1), min_size=1, max_size=8)):
                buf[pos // 8] ^= 1 << (pos % 8)
        else:
            at = data.draw(st.integers(0, len(buf) - 1))
            buf[at:at + 64] = data.draw(st.binary(min_size=1, max_size=64))
        kind, table = outcome(bytes(buf))
        tally.add(kind, table)

    try:
        case()
    finally:
        _record(reliability, "real traces with bit flips or overwritten spans", tally,
                "no checksums in Arrow IPC: a flip inside an uncompressed value is read as it is")


def test_cut_streams_keep_every_batch_before_the_cut(corpus, reliability):
    tally = Tally()

    @FUZZ
    @given(st.sampled_from(range(len(corpus.streams))), st.data())
    @tally.counted
    def case(which, data):
        stream, ends = corpus.streams[which]
        cut = data.draw(st.integers(0, len(stream)))
        kind, table = outcome(stream[:cut])
        tally.add(kind, table)
        if cut < ends[0]:
            assert kind == "refused"
            return
        batches = sum(e <= cut for e in ends[1:])
        want = ts_list(corpus.tables[which])[:10 * batches]
        assert kind == "read" and ts_list(table) == want

    try:
        case()
    finally:
        _record(reliability, "real .part streams cut at a random byte", tally,
                "only the batch the cut went through (at most one flush)")


def test_spliced_messages_and_random_bytes(corpus, reliability):
    tally = Tally()
    sources = corpus.all_bytes()

    @FUZZ
    @given(st.data())
    @tally.counted
    def case(data):
        how = data.draw(st.sampled_from(["splice", "repeat", "random", "prefix+random"]))
        a = sources[data.draw(st.integers(0, len(sources) - 1))]
        b = sources[data.draw(st.integers(0, len(sources) - 1))]
        if how == "splice":             # the head of one trace, the tail of another
            buf = a[:data.draw(st.integers(0, len(a)))] + b[data.draw(st.integers(0, len(b))):]
        elif how == "repeat":           # a span of a trace written twice (a replayed write)
            i = data.draw(st.integers(0, len(a) - 1))
            j = data.draw(st.integers(i, min(len(a), i + 20_000)))
            buf = a[:j] + a[i:j] + a[j:]
        elif how == "random":
            buf = data.draw(st.binary(max_size=4096))
        else:                           # a valid start then noise
            buf = a[:data.draw(st.integers(0, len(a)))] + data.draw(st.binary(max_size=2048))
        kind, table = outcome(buf)
        tally.add(kind, table)

    try:
        case()
    finally:
        _record(reliability, "spliced traces, repeated spans, random bytes", tally,
                "the rows after the first damaged message")


# ---- Arrow tables that are not (quite) paratune traces -------------------------------

_TYPES = [pa.int8(), pa.int64(), pa.uint64(), pa.float32(), pa.float64(), pa.string(), pa.bool_(),
          pa.timestamp("s"), pa.timestamp("us", tz="UTC"), pa.list_(pa.int32()), pa.null()]


@st.composite
def foreign_tables(draw) -> tuple[pa.Table, str]:
    """A table with paratune metadata (or not), some real column names with random types."""
    n = draw(st.integers(0, 5))
    names = draw(st.lists(st.sampled_from(NAMES[:12] + ["x", "procs", "cores"]), min_size=1,
                          max_size=6, unique=True))
    if draw(st.booleans()):             # half of them have the two required columns
        names = ["ts", "mono_ns"] + [n for n in names if n not in ("ts", "mono_ns")]
    arrays, fields = [], []
    for name in names:
        right = name in schema.FIELDS and draw(st.integers(0, 3)) > 0
        typ = schema.FIELDS[name].type if right else draw(st.sampled_from(_TYPES))
        arrays.append(pa.nulls(n, typ) if draw(st.integers(0, 3)) == 0 else _values(draw, typ, n))
        fields.append(pa.field(name, typ))
    meta = draw(st.sampled_from([None, {"paratune.format_version": "1"}, {"paratune.format_version": "1"},
                                 {"paratune.format_version": draw(st.text(max_size=4))},
                                 {"paratune.format_version": "1", "paratune.host": "../../etc"}]))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=meta))
    return table, draw(st.sampled_from(["file", "stream"]))


def _values(draw, typ: pa.DataType, n: int) -> pa.Array:
    if pa.types.is_integer(typ):
        info = (0, 2**64 - 1) if typ == pa.uint64() else (-(2**(typ.bit_width - 1)), 2**(typ.bit_width - 1) - 1)
        return pa.array(draw(st.lists(st.integers(*info), min_size=n, max_size=n)), typ)
    if pa.types.is_floating(typ):
        return pa.array(draw(st.lists(st.floats(width=typ.bit_width), min_size=n, max_size=n)), typ)
    if pa.types.is_timestamp(typ):
        lo, hi = TS_RANGE_US if draw(st.booleans()) else (-2**62, 2**62)    # half of them plausible
        return pa.array(draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)), pa.int64()).cast(typ)
    if typ == pa.string():
        return pa.array(draw(st.lists(st.text(max_size=8), min_size=n, max_size=n)), typ)
    if typ == pa.bool_():
        return pa.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), typ)
    return pa.nulls(n, typ)


def _plausible_times(table: pa.Table) -> bool:
    """Every sample has a time within the years 1-9999 (what the reader accepts)."""
    ts = table.column("ts")
    if ts.null_count:
        return False
    values = ts.cast(pa.int64()).to_pylist()
    return all(TS_RANGE_US[0] <= v <= TS_RANGE_US[1] for v in values)


def _serialise(table: pa.Table, how: str) -> bytes:
    sink = io.BytesIO()
    opener = pa.ipc.new_file if how == "file" else pa.ipc.new_stream
    with opener(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def test_foreign_and_mistyped_arrow_tables(reliability):
    tally = Tally()

    @FUZZ
    @given(foreign_tables())
    @tally.counted
    def case(generated):
        table, how = generated
        kind, got = outcome(_serialise(table, how))
        tally.add(kind, got)
        meta = table.schema.metadata or {}
        paratune_ok = meta.get(b"paratune.format_version") in READABLE_VERSIONS
        typed_ok = all(f.type.equals(schema.FIELDS[f.name].type) for f in table.schema
                       if f.name in schema.FIELDS)
        should_read = paratune_ok and typed_ok and {"ts", "mono_ns"} <= set(table.column_names) \
            and _plausible_times(table)
        assert (kind == "read") == should_read, (table.schema, kind)
        if kind == "read":              # every column of the input, the rest as nulls
            assert got.num_rows == table.num_rows
            for name in table.column_names:     # compared as Arrow: a timestamp may not fit datetime
                assert got.column(name).equals(table.column(name)), name

    try:
        case()
    finally:
        _record(reliability, "generated Arrow tables: other schemas, wrong column types", tally,
                "nothing: a table is read whole or refused whole")


# ---- the analyzer on fuzzed files --------------------------------------------------

ANALYZED = 25


def test_analyze_on_damaged_files(corpus, tmp_path, capsys, reliability):
    """Flipped bits in an *uncompressed* stream mostly survive the reader as wrong values:
    the analyzer must take whatever values it is given."""
    import random

    from paratune.cli import main

    table = corpus.tables[1]
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        for batch in table.to_batches(max_chunksize=10):
            w.write_batch(batch)
    clean = sink.getvalue()
    body = len(table.schema.serialize())
    rng = random.Random(7)
    tally, files = Tally(), []
    try:
        for k in range(ANALYZED):
            tally.attempted += 1
            buf = bytearray(clean)
            for _ in range(rng.randint(1, 6)):
                pos = rng.randrange(body * 8, len(buf) * 8)
                buf[pos // 8] ^= 1 << (pos % 8)
            path = tmp_path / f"flipped-{k}.arrow.part"
            path.write_bytes(bytes(buf))
            files.append(path)
            capsys.readouterr()
            rc = main(["analyze", "--json", str(path)])
            out, err = capsys.readouterr()
            if rc == 0:
                json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON of {path.name}"))
                tally.add("read")
            else:
                assert err.count("\n") == 1 and err.startswith("paratune analyze: error: "), err
                tally.add("refused")
            tally.survived += 1
    finally:
        reliability.record("paratune analyze --json on bit-flipped uncompressed streams", tally.attempted,
                           tally.survived, "the damaged values are analysed as recorded",
                           f"{tally.counts['refused']} refused with one line, "
                           f"{tally.counts['read']} analysed")
