"""PCP archives through pmdumplog: values checked against pmdumplog's own dump, merging, marks."""
import pytest

from collector.importers import pcp
from collector.importers.build import JOB_COMM
from paratune.errors import ParatuneError

from .conftest import PCP, need, need_pmdumplog

NODE = PCP / "5894431-1622570028" / "cpn-d14-02"
DAY = PCP / "pcp_logs_extracted" / "20161229.00.10"
BEGIN = PCP / "pcp_logs_extracted" / "job-972366-begin-20161229.23.06.00"


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
    assert imp.metadata["interval_s"] == pytest.approx(30, abs=0.5) or float(imp.metadata["interval_s"]) == \
        pytest.approx(30, abs=0.5)
    # "Timeout waiting for a response from PMCD" is no value, not a zero
    assert any("gpfs.fsios.read_bytes" not in s.values for s in a.samples)


def test_archive_names(tmp_path):
    assert pcp.find_archives([NODE.with_name("cpn-d14-02.0")]) == [NODE] if NODE.with_name("cpn-d14-02.0").exists() \
        else True
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
