"""Trace format 2 (slurm_jobs, licences): version-1 files still read, with those
columns null; a newer or a nonsensical version is refused in one line."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from collector import schema
from collector.reader import read_trace, read_traces
from collector.sampler import Sampler
from paratune_base.errors import ParatuneError

TREE = Path(__file__).resolve().parent.parent / "data" / "debian12"
NEW = ("slurm_jobs", "licences")


def rows(tmp_path, n: int = 3) -> list[dict]:
    s = Sampler(str(TREE / "proc"), str(tmp_path))
    out = []
    for i in range(n):
        row = s.sample()
        row["ts"] += i * 1_000_000
        out.append(row)
    return out


def write(path: Path, table: pa.Table) -> Path:
    with pa.ipc.new_file(path, table.schema) as w:
        w.write_table(table)
    return path


def v1_table(tmp_path, host: str = "n1") -> pa.Table:
    """What a version-1 recorder wrote: the same columns without the two new ones."""
    full = schema.arrow_schema({"format_version": "1", "host": host})
    fields = [f for f in full if f.name not in NEW]
    old = pa.schema(fields, metadata=full.metadata)
    return pa.Table.from_pylist([{k: v for k, v in r.items() if k not in NEW} for r in rows(tmp_path)],
                                schema=old)


def test_version_2_declares_the_new_columns():
    assert schema.FORMAT_VERSION == 2
    assert [f.name for f in schema.SLURM_JOB_FIELDS] == [
        "job", "user", "partition", "nodes", "cpus", "cpu_ids", "mem_bytes", "time_limit_s", "start",
        "gpus", "gres", "licenses", "source"]
    types = {f.name: f.type for f in schema.SLURM_JOB_FIELDS}
    assert types["nodes"] == types["cpus"] == types["gpus"] == pa.uint32()
    assert types["mem_bytes"] == types["time_limit_s"] == pa.uint64()
    assert types["start"] == pa.timestamp("us", tz="UTC")
    assert all(types[k] == pa.string() for k in ("job", "user", "partition", "cpu_ids", "gres", "licenses",
                                                  "source"))
    assert [(f.name, f.type) for f in schema.LICENCE_FIELDS] == [
        ("name", pa.string()), ("server", pa.string()), ("total", pa.uint32()), ("used", pa.uint32()),
        ("source", pa.string())]


def test_version_1_reads_with_null_lists(tmp_path):
    tf = read_trace(write(tmp_path / "old.arrow", v1_table(tmp_path)))
    assert tf.metadata["format_version"] == "1"
    assert tf.table.column_names == list(schema.FIELDS)
    for name in NEW:
        col = tf.table.column(name)
        assert col.type == schema.FIELDS[name].type and col.null_count == tf.table.num_rows
        assert len(pc.list_flatten(col)) == 0                  # what the analyzer does with them
        assert pc.list_value_length(col).to_pylist() == [None] * tf.table.num_rows


def test_version_1_and_2_segments_of_one_host_concatenate(tmp_path):
    write(tmp_path / "a.arrow", v1_table(tmp_path))
    new = rows(tmp_path)
    for r in new:
        r["ts"] += 3_600_000_000
    new[1]["licences"] = [{"name": "fluent", "server": "", "total": 4, "used": 1, "source": "slurm"}]
    table = pa.Table.from_pylist(new, schema=schema.arrow_schema({"host": "n1"}))
    write(tmp_path / "b.arrow", table)
    (host,) = read_traces([tmp_path])
    lic = host.table.column("licences").to_pylist()
    assert lic[:3] == [None] * 3 and lic[3:] == [[], new[1]["licences"], []]


@pytest.mark.parametrize("version, needle", [
    ("3", "newer paratune (trace format 3)"),
    ("0", "unreadable paratune.format_version '0'"),
    ("-1", "unreadable paratune.format_version"),
])
def test_other_versions_are_refused_in_one_line(tmp_path, version, needle):
    table = v1_table(tmp_path).replace_schema_metadata({"paratune.format_version": version})
    with pytest.raises(ParatuneError, match=needle.replace("(", r"\(").replace(")", r"\)")) as err:
        read_trace(write(tmp_path / "t.arrow", table))
    assert "\n" not in str(err.value)
