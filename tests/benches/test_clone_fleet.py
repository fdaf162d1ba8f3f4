"""benches/clone_fleet.py: the copies it makes are valid traces of other hosts.

The 1000-node-day figure of docs/performance.md is measured on such copies, so each must
read and analyse exactly as its original does, under its own name."""
from __future__ import annotations

import sys

import pytest

from analyzer.fleet import summarize
from analyzer.fleet_units import plan
from tests.helpers import ROOT, SAMPLES, as_node

sys.path.insert(0, str(ROOT / "benches"))
from clone_fleet import clone  # noqa: E402


@pytest.fixture()
def one_host(tmp_path):
    """A stalled LAMMPS run (anomalies) whose ranks are in a Slurm job (job rows), as node0000 recorded it."""
    if not (SAMPLES / "lammps-stall.arrow").exists():
        pytest.skip("needs sample_traces/lammps-stall.arrow")
    src = tmp_path / "src"
    as_node(SAMPLES / "lammps-stall.arrow", src / "2026-11-22" / "node0000-20261122T030000Z.arrow",
            "node0000", job="4242")
    return src


def _as(rows: list[dict], host: str) -> list[dict]:
    return [{**r, "host": host} for r in rows]


def test_copies_are_the_original_under_other_names(one_host, tmp_path):
    assert clone(one_host, tmp_path / "fleet", 3) == 3
    units = plan([tmp_path / "fleet"])
    assert [u.host for u in units] == ["node0000", "node0001", "node0002"]
    original = summarize(plan([one_host])[0])
    assert original["anomalies"] and original["jobs"]
    for unit in units:
        copy = summarize(unit)
        assert copy["node"]["error"] is None
        assert copy["node"] == {**original["node"], "host": unit.host}
        assert copy["anomalies"] == _as(original["anomalies"], unit.host)
        assert copy["jobs"] == _as(original["jobs"], unit.host)


def test_a_name_too_short_for_the_fleet_is_refused(tmp_path):
    if not (SAMPLES / "lammps-clean.arrow").exists():
        pytest.skip("needs sample_traces/lammps-clean.arrow")
    src = tmp_path / "src"
    as_node(SAMPLES / "lammps-clean.arrow", src / "2026-11-22" / "node0-20261122T030000Z.arrow", "node0")
    with pytest.raises(SystemExit, match="too short"):
        clone(src, tmp_path / "fleet", 11)


def test_files_of_several_hosts_are_refused(one_host, tmp_path):
    (one_host / "2026-11-22" / "node0001-20261122T030000Z-1.arrow").write_bytes(b"")
    with pytest.raises(SystemExit, match="exactly one host"):
        clone(one_host, tmp_path / "fleet", 2)


def test_a_recorder_segment_number_is_not_a_host(one_host, tmp_path):
    """``<host>-<time>-N.arrow`` is the same host's N-th file of that second."""
    (one_host / "2026-11-22" / "node0000-20261122T030000Z.arrow").rename(
        one_host / "2026-11-22" / "node0000-20261122T030000Z-1.arrow")
    assert clone(one_host, tmp_path / "fleet", 2) == 2
    assert (tmp_path / "fleet" / "2026-11-22" / "node0001-20261122T030000Z-1.arrow").exists()
