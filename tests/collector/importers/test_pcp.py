"""PCP archives through pmdumplog: values checked against pmdumplog's own dump, merging, marks,
and archive names as PCP's tools take them."""
import subprocess

import pytest

from collector.importers import pcp
from collector.importers.build import JOB_COMM
from collector.reader import find_traces, read_trace
from paratune_base.errors import ParatuneError

from .conftest import PCP, cli, need, need_pcp_tool, need_pmdumplog

NODE = PCP / "5894431-1622570028" / "cpn-d14-02"
DAY = PCP / "pcp_logs_extracted" / "20161229.00.10"          # pmlogger's own name: YYYYMMDD.HH.MM
BEGIN = PCP / "pcp_logs_extracted" / "job-972366-begin-20161229.23.06.00"
END = PCP / "pcp_logs_extracted" / "job-972366-end-20161230.00.06.00"


@pytest.fixture(scope="module")
def node():
    need_pmdumplog()
    need(NODE.with_name("cpn-d14-02.meta"))
    a = pcp.read_archive(NODE)
    return a, pcp.to_imported(a, "5894431").table()


def test_per_cpu_times_in_milliseconds(node):
    a, t = node
    assert a.host == "cpn-d14-02"
    first = t.slice(0, 1).to_pylist()[0]
    assert first["ts"].timestamp() == pytest.approx(1622569935.008446)
    cpu0 = next(c for c in first["cores"] if c["cpu"] == 0)
    # pmdumplog: kernel.percpu.cpu.user cpu0 377673010, .sys 5437100, .idle 233067060 (ms)
    assert (cpu0["user"], cpu0["system"], cpu0["idle"], cpu0["softirq"]) == (377673010, 5437100, 233067060, 468860)
    assert first["cpu_user"] == sum(c["user"] for c in first["cores"])
    meta = {k.decode(): v.decode() for k, v in t.schema.metadata.items()}
    assert meta["paratune.clk_tck"] == "1000" and meta["paratune.cores"] == "8"
    # kernel.percpu.cpu.intr (hard + soft) is not a paratune column: kept raw
    intr = t.column("ext_pcp_kernel_percpu_cpu_intr")[0].as_py()
    assert intr[0] == {"instance": "cpu0", "value": 468860}
    assert t.schema.field("ext_pcp_kernel_percpu_cpu_intr").type.value_type.field("value").metadata == \
        {b"kind": b"counter", b"unit": b"millisec"}


def test_a_mark_restarts_the_clock_and_the_job_is_a_process(node):
    a, t = node
    # 17:52:44.88 <mark>: samples after it start a new session (no rate across it)
    mono = t.column("mono_ns").to_pylist()
    assert [s.session for s in a.samples] == [0, 0, 0, 0, 0, 1, 1, 1]
    assert mono[5] == 0 and mono[4] > mono[3] > 0
    assert [p[0]["job"] for p in t.column("procs").to_pylist()] == ["5894431"] * 8
    assert t.column("procs")[0].as_py()[0]["comm"] == JOB_COMM


def test_records_of_one_moment_are_one_sample():
    need_pmdumplog()
    need(DAY.with_name(DAY.name + ".meta"))
    a = pcp.read_archive(BEGIN)
    # 04:06:00.834 gpfs (4 metrics) + 04:06:00.900 hinv.ncpu are one sample; 4 samples 10 s apart
    assert len(a.samples) == 4 and a.samples[0].values["hinv.ncpu"] == 12
    imp = pcp.to_imported(a)
    t = imp.table()
    assert imp.metadata["jobs"] == "972366" and imp.metadata["cores"] == "12"       # from the archive name
    fs = t.column("fs")[0].as_py()[0]
    assert fs == {"kind": "gpfs", "mount": "gpfs0", "read_bytes": 0, "write_bytes": 136181732458, "ops": None}
    assert t.column("ext_pcp_gpfs_fsios_writes")[0].as_py() == [{"instance": "gpfs0", "value": 33448}]
    assert t.column("ext_pcp_hinv_ncpu").to_pylist()[:2] == [12, 12]


def test_a_day_archive_with_marks_and_timeouts():
    need_pmdumplog()
    a = pcp.read_archive(need(DAY.with_name(DAY.name + ".meta")).with_suffix(""))
    imp = pcp.to_imported(a)
    assert max(s.session for s in a.samples) == 5 and any("5 logging" in n for n in imp.notes)
    assert float(imp.metadata["interval_s"]) == pytest.approx(30, abs=0.5)
    # "Timeout waiting for a response from PMCD" is no value, not a zero
    assert any("gpfs.fsios.read_bytes" not in s.values for s in a.samples)


def _files_of(base, volumes=(0,)):
    """The files of an archive named ``base`` (empty: only their names matter here)."""
    for suffix in ("meta", "index", *map(str, volumes)):
        base.with_name(f"{base.name}.{suffix}").touch()
    return base


def test_pmlogger_names_are_base_names(tmp_path):
    """pmlogger names an archive YYYYMMDD.HH.MM: its ".10" is the minute, not volume 10 of
    ``20161229.00`` (issue #16).  As for PCP's tools, a name is a base when NAME.meta exists,
    else one .meta, .index or .N is taken off."""
    day = _files_of(tmp_path / "20161229.00.10", volumes=(0, 1))
    for name in ("20161229.00.10", "20161229.00.10.0", "20161229.00.10.1", "20161229.00.10.meta",
                 "20161229.00.10.index"):
        assert pcp.find_archives([tmp_path / name]) == [day], name
    assert pcp.find_archives([tmp_path]) == [day]
    hour = _files_of(tmp_path / "20161229.00")         # an archive whose base is the other's less ".10"
    assert pcp.find_archives([day, hour.with_name("20161229.00.0"), hour]) == [day, hour]
    assert pcp.find_archives([tmp_path]) == [hour, day]
    assert pcp.find_archives([tmp_path / "20161229.00.11"]) == [hour]     # its volume 11, to pmdumplog too
    with pytest.raises(ParatuneError, match="20161230.00.10: no such file"):
        pcp.find_archives([tmp_path / "20161230.00.10"])


def test_any_file_of_a_real_archive_names_it():
    need(NODE.with_name(NODE.name + ".meta"))
    for name in (NODE, *(NODE.with_name(f"{NODE.name}.{s}") for s in ("0", "index", "meta"))):
        assert pcp.find_archives([name]) == [NODE], name
    assert pcp.find_archives([need(DAY.with_name(DAY.name + ".0")).with_suffix("")]) == [DAY]
    assert pcp.find_archives([DAY.parent]) == [DAY, BEGIN, END]


def test_cli_imports_a_pmlogger_archive_by_its_name(tmp_path):
    """The case of issue #16: ``paratune import pcp 20161229.00.10`` on PCP's own archive."""
    need_pmdumplog()
    need(DAY.with_name(DAY.name + ".meta"))
    res = cli("import", "pcp", DAY, "-o", tmp_path / "out.arrow")
    assert res.returncode == 0, res.stderr
    [trace] = find_traces([tmp_path / "out.arrow"])
    tf = read_trace(trace)
    assert tf.metadata["source_file"] == "20161229.00.10" and tf.metadata["host"] == "cpn-p26-07"
    assert tf.table.num_rows == 2880                   # a day of pmlogger's 30 s samples


def test_cli_imports_a_pmlogger_name_without_outside_data(tmp_path):
    """The same, on an archive PCP's pmlogpaste writes here under pmlogger's kind of name."""
    need_pmdumplog()
    base = tmp_path / "20161229.00.10"
    subprocess.run([need_pcp_tool("pmlogpaste"), "-o", str(base), "-h", "node7", "-t", "UTC",
                    "-m", "paste.value", "one value"], check=True, capture_output=True, timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"20161229.00.10.{s}" for s in ("0", "index", "meta")]
    res = cli("import", "pcp", base, "-o", tmp_path / "out.arrow")
    assert res.returncode == 0, res.stderr
    [trace] = find_traces([tmp_path / "out.arrow"])
    tf = read_trace(trace)
    assert (tf.metadata["host"], tf.metadata["source_file"]) == ("node7", "20161229.00.10")
    assert tf.table.column("ext_pcp_paste_value").to_pylist() == ["one value"]


def test_archive_names(tmp_path):
    (tmp_path / "x.0").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ParatuneError, match="not a PCP archive"):
        pcp.find_archives([tmp_path / "x.0"])
    with pytest.raises(ParatuneError, match="no PCP archive in it"):
        pcp.find_archives([tmp_path])
    with pytest.raises(ParatuneError, match="no such file"):
        pcp.find_archives([tmp_path / "nope"])


def test_garbage_archive_is_one_clear_error(tmp_path):
    need_pmdumplog()
    for suffix in (".0", ".meta", ".index"):
        (tmp_path / ("x" + suffix)).write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    with pytest.raises(ParatuneError, match="not a readable PCP archive"):
        pcp.read_archive(tmp_path / "x")


def test_job_from_supremm_layout():
    """SUPReMM keeps a job's archives as ``job-<ID>-begin-...`` or in ``<ID>-<end epoch>/``."""
    assert pcp.job_of(NODE) == "5894431"
    assert pcp.job_of(BEGIN) == "972366"
    assert pcp.job_of(DAY) is None
