"""Licence counts: Slurm's (captured scontrol output), FlexLM's lmstat (text in
the layout of FlexNet Publisher's documented report), the poller's cadence, and
the [licences] settings."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from collector.config import LicenceSettings, load_config
from collector.licences import Licences, parse_lmstat, parse_slurm_licenses
from collector.sampler import Sampler
from paratune_base.errors import ParatuneError

DATA = Path(__file__).resolve().parent.parent / "data"


def lmstat(name: str) -> str:
    return (DATA / "flexlm" / f"lmstat-{name}.txt").read_text()


def test_slurm_licences_captured():
    rows = parse_slurm_licenses((DATA / "slurm" / "licenses-in-use.txt").read_text())
    assert rows == [{"name": "fluent", "server": "", "total": 4, "used": 1, "source": "slurm"}]


def test_slurm_licences_other_versions_and_nothing():
    text = ("LicenseName=fluent Total=4 Used=0 Free=4 Remote=no\n"          # before Reserved=
            "LicenseName=ansys@db Total=10 Used=3 Free=7 Reserved=0 Remote=yes LastConsumed=3 "
            "LastDeficit=0 LastUpdate=2026-12-05T22:00:00\n")
    assert parse_slurm_licenses(text) == [
        {"name": "fluent", "server": "", "total": 4, "used": 0, "source": "slurm"},
        {"name": "ansys@db", "server": "", "total": 10, "used": 3, "source": "slurm"}]
    assert parse_slurm_licenses("") == [] and parse_slurm_licenses("garbage\n") == []


def test_lmstat_counts_uncounted_and_errors():
    rows, errors = parse_lmstat(lmstat("up"), "27000@licsrv")
    assert rows == [
        {"name": "cfd_solver", "server": "27000@licsrv", "total": 32, "used": 5, "source": "flexlm"},
        {"name": "cfd_mesher", "server": "27000@licsrv", "total": 4, "used": 1, "source": "flexlm"},
        {"name": "cfd_post", "server": "27000@licsrv", "total": 1, "used": 0, "source": "flexlm"},
        {"name": "cfd_viewer", "server": "27000@licsrv", "total": None, "used": None, "source": "flexlm"}]
    assert errors == ["cfd_legacy: Error: 2 licenses, unsupported by licensed server"]


def test_lmstat_never_keeps_who_holds_a_licence():
    rows, errors = parse_lmstat(lmstat("up") + lmstat("triad"), "x")
    kept = repr((rows, errors))
    for name in ("hpcuser", "ws-17", "node031", "researcher", "c001", "/dev/pts"):
        assert name not in kept


def test_lmstat_server_down():
    rows, errors = parse_lmstat(lmstat("down"), "27000@licsrv")
    assert rows == [] and len(errors) == 1 and errors[0].startswith("Error getting status: Cannot connect")


def test_lmstat_redundant_servers_and_two_daemons():
    rows, errors = parse_lmstat(lmstat("triad"), "27010@lic1,27010@lic2,27010@lic3")
    assert [(r["name"], r["total"], r["used"]) for r in rows] == [("fea_core", 110, 42), ("fea_gui", 8, 0)]
    assert len(errors) == 1 and errors[0].startswith("lic3: Cannot connect")


def test_lmstat_on_nothing():
    assert parse_lmstat("", "s") == ([], [])
    assert parse_lmstat("Users of :  (Total of 1 licenses issued;  Total of 0 licenses in use)\n", "s") == ([], [])


# -- the poller ------------------------------------------------------------------------

def fake_lmutil(tmp_path: Path, text_file: Path, log: Path) -> Path:
    script = tmp_path / "lmutil"
    script.write_text(f"#!/bin/sh\necho \"$*\" >> {log}\ncat {text_file}\n")
    script.chmod(0o755)
    return script


def settle(lic: Licences, now_s: float, jobs_live: bool = False) -> list[dict]:
    """update() at ``now_s`` until no query is in flight (answers come on a thread)."""
    out = lic.update(int(now_s * 1e9), jobs_live)
    for _ in range(300):
        if not (lic._flexlm.pending or lic._slurm.pending):
            break
        time.sleep(0.01)
        out += lic.update(int(now_s * 1e9), jobs_live)
    return out


def test_flexlm_polled_once_a_minute(tmp_path):
    log = tmp_path / "calls"
    settings = LicenceSettings(slurm=False, flexlm=("27000@licsrv",),
                               lmutil=str(fake_lmutil(tmp_path, DATA / "flexlm" / "lmstat-up.txt", log)))
    lic = Licences(settings)
    assert lic.active and lic.sources() == ["27000@licsrv"]
    first = settle(lic, 1000.0)
    assert [r["name"] for r in first] == ["cfd_solver", "cfd_mesher", "cfd_post", "cfd_viewer"]
    assert log.read_text() == "lmstat -a -c 27000@licsrv\n"
    for t in range(1001, 1060, 5):
        assert settle(lic, float(t)) == []
    assert len(settle(lic, 1061.0)) == 4
    assert log.read_text().count("lmstat") == 2


def test_flexlm_broken_is_said_once_and_recording_goes_on(tmp_path):
    said = []
    down = LicenceSettings(slurm=False, flexlm=("27000@licsrv",),
                           lmutil=str(fake_lmutil(tmp_path, DATA / "flexlm" / "lmstat-down.txt", tmp_path / "l")))
    lic = Licences(down, lambda k, m: said.append((k, m)))
    assert settle(lic, 10.0) == []
    assert said[0][0] == ("flexlm", "error", "27000@licsrv") and "Cannot connect" in said[0][1]
    missing = LicenceSettings(slurm=False, flexlm=("27000@licsrv",), lmutil=str(tmp_path / "nothing"))
    said.clear()
    lic = Licences(missing, lambda k, m: said.append((k, m)))
    assert settle(lic, 10.0) == [] and settle(lic, 80.0) == []      # not asked again so soon
    assert len(said) == 1 and "not found" in said[0][1]


class FakeScontrol:
    def __init__(self, text):
        self.text, self.calls = text, 0

    def usable(self):
        return True

    def __call__(self, *args):
        assert args == ("show", "licenses", "-o")
        self.calls += 1
        return self.text


def test_slurm_licences_only_while_a_job_runs_here():
    fake = FakeScontrol((DATA / "slurm" / "licenses-in-use.txt").read_text())
    lic = Licences(LicenceSettings(), scontrol=fake)
    assert not lic.active
    assert settle(lic, 5.0, jobs_live=False) == [] and fake.calls == 0
    assert [r["used"] for r in settle(lic, 6.0, jobs_live=True)] == [1]
    assert settle(lic, 50.0, jobs_live=True) == [] and fake.calls == 1
    assert len(settle(lic, 67.0, jobs_live=True)) == 1 and fake.calls == 2
    fake.text = ""                                  # a cluster without licences: asked rarely
    assert settle(lic, 130.0, jobs_live=True) == [] and fake.calls == 3
    assert settle(lic, 200.0, jobs_live=True) == [] and fake.calls == 3


# -- settings --------------------------------------------------------------------------

def test_licence_settings_from_toml(tmp_path):
    assert load_config().licences == LicenceSettings()
    path = tmp_path / "p.toml"
    path.write_text('[record]\ninterval = 2\n[licences]\nflexlm = ["27000@licsrv", "@lic2", '
                    '"1@a,2@b,3@c"]\nlmutil = "/opt/flexlm/lmutil"\ninterval = 120\nslurm = false\n')
    cfg = load_config(path)
    assert cfg.interval == 2.0 and cfg.licences == LicenceSettings(
        slurm=False, flexlm=("27000@licsrv", "@lic2", "1@a,2@b,3@c"), lmutil="/opt/flexlm/lmutil", interval=120.0)


@pytest.mark.parametrize("table, needle", [
    ('flexlm = "27000@licsrv"', "licences.flexlm must be a list"),
    ('flexlm = ["licsrv"]', "entry 'licsrv' is not PORT@HOST"),
    ('flexlm = ["27000@lic srv"]', "is not PORT@HOST"),
    ('interval = 10', "licences.interval must be a number of seconds, at least 60"),
    ('interval = true', "licences.interval"),
    ('lmutil = ""', "licences.lmutil must be a command"),
    ('lmutil = "-x"', "licences.lmutil must be a command"),
    ('slurm = "yes"', "licences.slurm must be true or false"),
    ('servers = []', "unknown key licences.servers"),
])
def test_bad_licence_settings_are_one_line(tmp_path, table, needle):
    path = tmp_path / "p.toml"
    path.write_text(f"[licences]\n{table}\n")
    with pytest.raises(ParatuneError, match=needle) as err:
        load_config(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_record_keys_are_not_licence_keys(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[record]\nlicences = 1\n")
    with pytest.raises(ParatuneError, match="unknown key record.licences"):
        load_config(path)
    with pytest.raises(ParatuneError, match="unknown setting 'licences'"):
        load_config(None, licences=LicenceSettings())


def test_metadata_names_the_licence_sources(tmp_path):
    assert Sampler(licences=LicenceSettings(flexlm=("27000@a",))).metadata(1.0)["licence_sources"] \
        == "slurm,27000@a"
    assert Sampler(scontrol=None).metadata(1.0)["licence_sources"] == ""
    tree = DATA / "debian12"             # a captured tree's jobs are not this machine's Slurm's
    assert Sampler(str(tree / "proc"), str(tmp_path)).metadata(1.0)["licence_sources"] == ""
