"""Fleet summaries over many hosts: units, parallel runs, outliers, Dask.

The fleet is made of real recordings from sample_traces/, each given a host
name (and, for the job tests, a Slurm job id on the LAMMPS ranks) as if five
nodes had recorded one job."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from analyzer import config
from analyzer.fleet import assemble, summarize
from analyzer.fleet_outliers import robust_outliers
from analyzer.fleet_units import CLOCK_SLACK_S, in_window, plan
from analyzer.parallel import run_units
from collector.reader import read_trace
from paratune_base.errors import ParatuneError
from tests.helpers import ROOT, SAMPLES, as_node

NODES = {"n01": "lammps-clean", "n02": "lammps-2", "n03": "lammps-3", "n04": "lammps-stall",
         "n05": "lammps"}
JOB = "4242"


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory):
    if not all((SAMPLES / f"{s}.arrow").exists() for s in NODES.values()):
        pytest.skip("needs the LAMMPS recordings in sample_traces/")
    root = tmp_path_factory.mktemp("fleet")
    for host, src in NODES.items():
        as_node(SAMPLES / f"{src}.arrow", root / "2026-11-22" / f"{host}-20261122T030000Z.arrow", host, JOB)
    return root


def test_plan_groups_files_by_host_and_day(fleet_dir, tmp_path):
    units = plan([fleet_dir])
    assert [u.host for u in units] == sorted(NODES)
    assert {u.day for u in units} == {"2026-11-22"}
    # a second day of one host is a second unit; a file with no date in its name is its own
    as_node(SAMPLES / "lammps.arrow", tmp_path / "2026-11-23" / "n01-20261123T000000Z.arrow", "n01")
    as_node(SAMPLES / "lammps.arrow", tmp_path / "odd.arrow", "n01")
    units = plan([tmp_path])
    assert [(u.host, u.day) for u in units] == [("n01", ""), ("n01", "2026-11-23")]


def test_recorder_names_give_the_host_and_the_worker_checks_them(tmp_path):
    """Planning does not open files named in the recorder's layout; a file
    named for one host that holds another's samples is reported, not mixed in."""
    day = tmp_path / "2026-11-23"
    as_node(SAMPLES / "lammps.arrow", day / "n01-20261123T000000Z.arrow", "n01")
    as_node(SAMPLES / "lammps.arrow", day / "n01-20261123T010000Z.arrow", "n02")      # misnamed
    (day / "n03-20261123T000000Z.arrow").write_bytes(b"not a trace")
    units = plan([tmp_path])
    assert [(u.host, len(u.files)) for u in units] == [("n01", 2), ("n03", 1)]
    bad, broken = (summarize(u)["node"]["error"] for u in units)
    assert bad == "files named for host n01 hold samples recorded by n01, n02"
    assert "not a paratune trace" in broken or "damaged" in broken


def test_a_damaged_hour_costs_only_itself(tmp_path):
    """One unreadable file of a host's day is a row of its own; the rest of
    the day is analysed, and nothing of it is cached."""
    day = tmp_path / "t" / "2026-11-23"
    as_node(SAMPLES / "lammps.arrow", day / "n01-20261123T000000Z.arrow", "n01")
    (day / "n01-20261123T010000Z.arrow").write_bytes(b"")
    (unit,) = plan([tmp_path / "t"])
    result = summarize(unit)
    assert result["node"]["error"] is None and result["node"]["files"] == 1
    assert [d["error"] for d in result["damaged"]] == [f"{day / 'n01-20261123T010000Z.arrow'}: empty file, "
                                                      "not a paratune trace"]
    f = assemble([result])
    assert f.nodes["error"].is_null().to_list() == [True, False] and f.errors.height == 1
    r = _cli(tmp_path / "t", "--fleet", "--json", "--cache", tmp_path / "c")
    again = _cli(tmp_path / "t", "--fleet", "--json", "--cache", tmp_path / "c")
    assert r.returncode == 0 and json.loads(r.stdout)["fleet"]["unreadable"] == 1
    assert "from the cache" not in again.stderr


def test_a_window_does_not_change_what_kind_of_report(tmp_path):
    """Two hosts are a fleet even when the window holds only one's files."""
    ts = read_trace(SAMPLES / "lammps.arrow").table.column("ts").cast(pa.int64()).to_numpy() / 1e6
    first = datetime.fromtimestamp(int(ts[0]), timezone.utc)
    later = first + timedelta(days=9)
    for host, when in (("n01", first), ("n02", later)):
        as_node(SAMPLES / "lammps.arrow", tmp_path / f"{when:%Y-%m-%d}" / f"{host}-{when:%Y%m%dT%H%M%SZ}.arrow", host)
    r = _cli(tmp_path, "--from", str(ts[0] + 10), "--to", str(ts[-1] - 10), "--workers", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert [n["host"] for n in json.loads(r.stdout)["nodes"]] == ["n01"]


def test_names_that_are_no_date_are_named_otherwise(tmp_path):
    odd = tmp_path / "x-20261340T000000Z.arrow"             # month 13
    as_node(SAMPLES / "lammps.arrow", odd, "n07")
    assert [(u.host, u.day) for u in plan([tmp_path])] == [("n07", "")]
    assert in_window([odd], "2026-01-01", "2026-01-02") == [odd]


def test_a_time_window_leaves_out_the_node_days_it_misses(fleet_dir, tmp_path):
    ts = read_trace(next(fleet_dir.rglob("n04-*.arrow"))).table.column("ts").cast(pa.int64()).to_numpy() / 1e6
    others = [read_trace(p).table.column("ts").cast(pa.int64()).to_numpy() / 1e6
              for p in fleet_dir.rglob("*.arrow") if not p.name.startswith("n04-")]
    start, end = ts[0] + 10, ts[-1] - 10
    assert all(t[-1] < start or t[0] > end for t in others)   # the recordings do not overlap
    window = ("--from", str(start), "--to", str(end))
    r = _cli(fleet_dir, "--json", "--workers", "1", "--cache", tmp_path / "c", *window)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [n["host"] for n in doc["nodes"]] == ["n04"] and doc["fleet"]["unreadable"] == 0
    again = _cli(fleet_dir, "--json", "--workers", "1", "--cache", tmp_path / "c", *window)
    assert json.loads(again.stdout) == doc and f"{len(NODES)} of {len(NODES)} node-days" in again.stderr
    none = _cli(fleet_dir, "--from", "2001-01-01", "--to", "2001-01-02")
    assert none.returncode != 0 and "no samples between --from and --to in 5 node-days" in none.stderr
    # named for other days, the recordings hold none of the window's samples: read, and left out
    late = _cli(fleet_dir, "--from", str(start + 86_400 * 3000), "--json")
    assert late.returncode != 0 and "no samples between --from and --to in 5 node-days" in late.stderr


def _hours(host: str, first: int, last: int) -> list[Path]:
    """A host's hourly files of 2026-11-DD in the recorder's layout (names alone)."""
    return [Path(f"/r/2026-11-{d:02d}/{host}-202611{d:02d}T{h:02d}0000Z.arrow")
            for d in range(first, last + 1) for h in range(24)]


def _days(paths: list[Path]) -> list[tuple[str, str]]:
    return sorted({(p.name.split("-")[0], p.parent.name[-2:]) for p in paths})


def test_a_window_opens_only_the_days_around_it():
    """A window over a long history keeps its own files and a day either side
    (a wall clock may have stepped back); a host's last file may run on."""
    assert CLOCK_SLACK_S == 86_400
    paths = _hours("a", 1, 9) + _hours("b", 1, 3)
    kept = in_window(paths, "2026-11-05T06:00:00Z", "2026-11-05T18:00:00Z")
    assert _days(kept) == [("a", "04"), ("a", "05"), ("a", "06"), ("b", "03")]
    assert len([p for p in kept if p.name.startswith("a-")]) == 19 + 24 + 19   # 05:00 on the 4th to 18:00 on the 6th
    assert [p.name for p in kept if p.name.startswith("b-")] == ["b-20261103T230000Z.arrow"]  # its last
    assert _days(in_window(paths, "2026-11-08T06:00", None))[:3] == [("a", "07"), ("a", "08"), ("a", "09")]
    assert _days(in_window(paths, None, "2026-11-01T12:00:00")) == [("a", "01"), ("a", "02"), ("b", "01"), ("b", "02")]
    assert in_window(paths, "2030-01-01", None) == sorted([paths[9 * 24 - 1], paths[-1]])


def test_each_root_is_its_own_sequence():
    """Files of one host under two roots (two recorders' outputs, or an import
    kept apart) do not end each other: a week-long imported file is kept."""
    imported = Path("/import/2026-11-01/a-20261101T000000Z.arrow")
    recorded = _hours("a", 3, 9)
    kept = in_window([imported, *recorded], "2026-11-05T06:00", "2026-11-05T07:00")
    assert imported in kept and _days(kept)[0] == ("a", "01")


def test_a_window_keeps_what_names_cannot_place():
    paths = _hours("a", 1, 9) + [Path("/r/imported.arrow")]
    assert in_window(paths, "+1h", "+2h") == paths                  # relative to each trace's start
    assert in_window(paths, None, None) == paths
    assert Path("/r/imported.arrow") in in_window(paths, "2001-01-01", "2001-01-02")
    with pytest.raises(ParatuneError, match="cannot read time"):
        in_window(paths, "yesterday", None)


def test_summary_of_a_node_matches_its_trace(fleet_dir):
    u = next(u for u in plan([fleet_dir]) if u.host == "n04")
    s = summarize(u)
    node = s["node"]
    assert node["error"] is None and node["host"] == "n04"
    assert node["samples"] == read_trace(u.files[0]).table.num_rows
    assert node["jobs"] == [JOB]
    assert [a["kind"] for a in s["anomalies"]] == ["stall"]
    (job,) = s["jobs"]
    assert job["job"] == JOB and job["samples"] > 0
    assert 0 < job["job_cpu_pct"] <= 100 and job["cpu_s"] > 0


def test_the_stalled_node_is_the_outlier_of_its_job(fleet_dir):
    f = assemble(run_units(plan([fleet_dir]), workers=1))
    assert f.nodes.height == 5 and f.errors.height == 0
    (row,) = f.jobs.iter_rows(named=True)
    assert row["job"] == JOB and row["nodes"] == 5 and row["anomalies"] == 1
    flagged = f.outliers.filter(pl.col("peers") == f"job {JOB}")
    assert set(flagged["host"]) == {"n04"}
    assert "job_cpu_pct" in set(flagged["metric"])


def test_local_pool_gives_the_single_process_result(fleet_dir):
    units = plan([fleet_dir])
    one = assemble(run_units(units, workers=1))
    two = assemble(run_units(units, workers=2))
    for name in ("nodes", "jobs", "job_nodes", "anomalies", "outliers"):
        assert getattr(one, name).equals(getattr(two, name)), name


def test_assembly_does_not_depend_on_arrival_order_nor_on_frame_size(fleet_dir, monkeypatch):
    """Summaries are folded into frames as they arrive, in any order."""
    import analyzer.fleet as fleet
    results = run_units(plan([fleet_dir]), workers=1)
    whole = assemble(results)
    monkeypatch.setattr(fleet, "ROWS_PER_FRAME", 2)
    rng = np.random.default_rng(7)
    for _ in range(3):
        shuffled = assemble(iter([results[i] for i in rng.permutation(len(results))]))
        for name in ("nodes", "jobs", "job_nodes", "anomalies", "outliers"):
            assert getattr(shuffled, name).equals(getattr(whole, name)), name
    assert whole.nodes.height > 2


def _synthetic_results(rng) -> list[dict]:
    """Summaries as workers return them: several hosts and days, damaged
    files, units outside the window, anomalies and jobs, in completion order."""
    out = []
    for host in ("n2", "n10", "nœud", "n1"):
        for day in ("2026-11-23", "2026-11-22", ""):
            if rng.random() < 0.2:
                out.append({"node": {"host": host, "day": day, "error": None, "outside": True},
                            "jobs": [], "anomalies": []})
                continue
            k = int(rng.integers(0, 4))
            result = {"node": {"host": host, "day": day, "files": 24, "error": None, "samples": 100},
                      "jobs": [{"host": host, "day": day, "job": f"j{i}", "first_seen": float(i),
                                "last_seen": float(i + 1), "samples": 1} for i in range(k % 2 + 1)],
                      "anomalies": [{"host": host, "day": day, "kind": f"k{i}", "start": float(10 - i),
                                     "end": float(11 - i), "message": f"{host} {day} {i}"} for i in range(k)]}
            if rng.random() < 0.3:
                result["damaged"] = [{"host": host, "day": day, "files": 1, "error": e}
                                     for e in rng.choice(["torn", "empty", "bad"], size=2)]
            out.append(result)
    return [out[i] for i in rng.permutation(len(out))]


def _reference_tables(results: list[dict]) -> tuple[list, list, list]:
    """The order the tables must have: units by (host, day), each unit's rows
    as it gave them; node rows, damaged files' too, by (host, day, error)."""
    kept = sorted((r for r in results if not r["node"].get("outside")),
                  key=lambda r: (r["node"]["host"], r["node"]["day"]))
    damaged = [d for r in results for d in r.get("damaged", [])]
    nodes = sorted([r["node"] for r in kept] + damaged, key=lambda n: (n["host"], n["day"], n["error"] or ""))
    return ([(n["host"], n["day"], n["error"], n["files"]) for n in nodes],
            [(j["host"], j["day"], j["job"]) for r in kept for j in r["jobs"]],
            [(a["host"], a["day"], a["kind"], a["message"]) for r in kept for a in r["anomalies"]])


def test_assembled_tables_are_in_the_reference_order(monkeypatch):
    import analyzer.fleet as fleet
    rng = np.random.default_rng(11)
    for frame_rows in (1, 2, 5, 10_000):
        monkeypatch.setattr(fleet, "ROWS_PER_FRAME", frame_rows)
        for _ in range(5):
            results = _synthetic_results(rng)
            f = assemble(iter(results))
            nodes, jobs, anomalies = _reference_tables(results)
            assert f.nodes.select("host", "day", "error", "files").rows() == nodes
            assert f.job_nodes.select("host", "day", "job").rows() == jobs
            assert f.anomalies.select("host", "day", "kind", "message").rows() == anomalies


def test_a_damaged_node_is_reported_not_fatal(fleet_dir, tmp_path):
    import shutil
    shutil.copytree(fleet_dir, tmp_path / "f")
    (tmp_path / "f" / "2026-11-22" / "n06-20261122T030000Z.arrow").write_bytes(b"\x89PNG not a trace")
    f = assemble(run_units(plan([tmp_path / "f"]), workers=1))
    # the host its name gives, and the file named in the error
    assert f.errors["host"].to_list() == ["n06"] and "n06-20261122T030000Z.arrow" in f.errors["error"][0]
    assert f.nodes.filter(pl.col("error").is_null()).height == 5


def test_robust_outliers_equal_a_direct_computation():
    rng = np.random.default_rng(1)
    for _ in range(200):
        x = rng.normal(50, rng.uniform(0.1, 20), rng.integers(0, 12))
        x[rng.random(x.size) < 0.1] = np.nan
        if x.size:
            x[rng.integers(0, x.size)] += rng.choice([0, 60])
        flags, med, scores = robust_outliers(x, 10.0, 3.5)
        ok = np.isfinite(x)
        if ok.sum() < config.FLEET_MIN_PEERS:
            assert not flags.any() and np.isnan(med)
            continue
        m = np.median(x[ok])
        mad = np.median(np.abs(x[ok] - m))
        for i in range(x.size):
            expect = ok[i] and abs(x[i] - m) >= 10.0 and abs(x[i] - m) >= 3.5 * max(1.4826 * mad, 10.0 / 3.5)
            assert flags[i] == expect


def test_two_nodes_have_no_outlier():
    flags, _, _ = robust_outliers(np.array([0.0, 100.0]), 1.0, 3.5)
    assert not flags.any()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "paratune.cli", "analyze", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_cli_fleet_summary_json_and_parquet(fleet_dir, tmp_path):
    r = _cli(fleet_dir, "--json", "--workers", "2", "--out", tmp_path / "s.parquet")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["fleet"]["hosts"] == 5 and doc["fleet"]["jobs"] == 1
    assert {o["host"] for o in doc["outliers"] if o["peers"] == f"job {JOB}"} == {"n04"}
    assert doc["nodes"][0]["start"].endswith("+00:00")
    nodes = pl.read_parquet(tmp_path / "s.parquet")
    assert nodes["host"].to_list() == sorted(NODES)
    for part in ("jobs", "outliers", "anomalies"):
        assert (tmp_path / f"s.{part}.parquet").stat().st_mode & 0o777 == 0o640
    text = _cli(fleet_dir)
    assert text.returncode == 0 and "Outlier nodes" in text.stdout and "n04" in text.stdout


@pytest.mark.parametrize("args, message", [
    (("--out", "x.csv"), "must end in .parquet"),
    (("--plot", "x.png"), "--plot draws one node"),
    (("--workers", "0"), "--workers 0"),
    (("--scheduler", "tcp://127.0.0.1:9"), "cannot reach the Dask scheduler"),
])
def test_cli_fleet_bad_arguments_are_one_line(fleet_dir, args, message):
    r = _cli(fleet_dir, *args)
    assert r.returncode != 0 and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_fleet_options_need_a_fleet():
    r = _cli(SAMPLES / "lammps.arrow", "--workers", "2")
    assert r.returncode != 0 and "are for fleets" in r.stderr


def test_cached_summaries_equal_fresh_ones_and_miss_when_a_file_changes(fleet_dir, tmp_path):
    import shutil

    from analyzer.summary_cache import SummaryCache
    root = tmp_path / "f"
    shutil.copytree(fleet_dir, root)
    units = plan([root])
    cache = SummaryCache(tmp_path / "cache")
    fresh = {u.host: summarize(u) for u in units}
    for u in units:
        assert cache.get(cache.key(u, None, None)) is None
        cache.put(cache.key(u, None, None), fresh[u.host])
    entry = next((tmp_path / "cache").rglob("*.json.gz"))
    assert entry.stat().st_mode & 0o777 == 0o600
    for u in units:
        assert cache.get(cache.key(u, None, None)) == fresh[u.host]
    assert cache.key(units[0], "+10s", None) != cache.key(units[0], None, None)
    # a file that changes (appended, rewritten) is another key; a torn entry is a miss
    f = Path(units[0].files[0])
    f.write_bytes(f.read_bytes())
    assert cache.get(cache.key(units[0], None, None)) is None
    torn = cache.path(cache.key(units[1], None, None))
    torn.write_bytes(torn.read_bytes()[:-9])
    assert sum(cache.get(cache.key(u, None, None)) is not None for u in units) == len(units) - 2
    # a file being written and an unreadable unit are never kept
    part = units[1].files[0] + ".part"
    assert cache.key(type(units[1])(units[1].host, units[1].day, (part,)), None, None) is None
    cache.put(cache.key(units[2], None, None), {"node": {"error": "damaged"}, "jobs": [], "anomalies": []})
    assert cache.get(cache.key(units[2], None, None)) == fresh[units[2].host]


def test_entries_of_a_version_unused_for_a_month_are_removed(tmp_path):
    """Each upgrade has its own sub-directory, marked when used; a stale one
    goes.  One still in use (another install), one without a mark (--cache
    may name any directory), anything not named as a version and the
    current one stay."""
    import os
    import time

    from analyzer.summary_cache import STALE_VERSION_S, VERSION_MARK, SummaryCache, code_version
    root = tmp_path / "cache"
    root.mkdir(mode=0o700)
    now = time.time()
    dirs = {"stale": "0123456789abcdef", "recent": "fedcba9876543210", "unmarked": "00000000000000aa",
            "other": "notes"}
    for name in dirs.values():
        (root / name / "ab").mkdir(parents=True)
        (root / name / "ab" / "entry.json.gz").write_bytes(b"x")
    for name, age in (("stale", STALE_VERSION_S + 60), ("recent", STALE_VERSION_S - 3600),
                      ("other", 2 * STALE_VERSION_S)):
        mark = root / dirs[name] / VERSION_MARK
        mark.touch()
        os.utime(mark, (now - age, now - age))
    old = now - 2 * STALE_VERSION_S
    os.utime(root / dirs["unmarked"], (old, old))
    cache = SummaryCache(root)
    assert cache.usable and cache.dir.name == code_version()
    kept = sorted([code_version(), dirs["recent"], dirs["unmarked"], dirs["other"]])
    assert sorted(p.name for p in root.iterdir()) == kept
    assert (root / dirs["recent"] / "ab" / "entry.json.gz").exists()
    assert now - (cache.dir / VERSION_MARK).stat().st_mtime < 60          # marked as used


def test_cli_second_fleet_run_comes_from_the_cache(fleet_dir, tmp_path):
    cache = tmp_path / "cache"
    first = _cli(fleet_dir, "--json", "--workers", "1", "--cache", cache)
    assert first.returncode == 0, first.stderr
    assert len(list(cache.rglob("*.json.gz"))) == len(NODES)
    second = _cli(fleet_dir, "--json", "--workers", "1", "--cache", cache)
    fresh = _cli(fleet_dir, "--json", "--workers", "1", "--no-cache")
    assert "from the cache" not in first.stderr + fresh.stderr
    assert f"{len(NODES)} of {len(NODES)} node-days from the cache" in second.stderr
    assert json.loads(second.stdout) == json.loads(first.stdout) == json.loads(fresh.stdout)
    r = _cli(SAMPLES / "lammps.arrow", "--cache", cache)
    assert r.returncode != 0 and "are for fleets" in r.stderr
    r = _cli(fleet_dir, "--cache", cache, "--no-cache")
    assert r.returncode != 0 and "choose one" in r.stderr


def test_a_cache_others_may_write_to_is_not_used(fleet_dir, tmp_path):
    import os

    from analyzer.summary_cache import SummaryCache
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o777)
    assert not SummaryCache(root).usable
    r = _cli(fleet_dir, "--json", "--workers", "1", "--cache", root)
    assert r.returncode == 0 and "not using the cache" in r.stderr
    assert not list(root.rglob("*.json.gz"))
    root.chmod(0o700)
    assert SummaryCache(root).usable
    if os.geteuid() == 0:                      # someone else's directory (root can make one)
        os.chown(root, 65534, 65534)
        assert not SummaryCache(root).usable


@pytest.mark.slow
def test_dask_local_cluster_gives_the_single_process_result(fleet_dir):
    distributed = pytest.importorskip("distributed")
    units = plan([fleet_dir])
    one = assemble(run_units(units, workers=1))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        on_dask = assemble(run_units(units, scheduler=cluster.scheduler_address))
        r = _cli(fleet_dir, "--json", "--scheduler", cluster.scheduler_address, "--no-cache")
    for name in ("nodes", "jobs", "job_nodes", "anomalies", "outliers"):
        assert getattr(one, name).equals(getattr(on_dask, name)), name
    assert r.returncode == 0, r.stderr
    local = _cli(fleet_dir, "--json", "--workers", "1")
    assert json.loads(r.stdout) == json.loads(local.stdout)


TACC = ROOT / ".." / "shared" / "data" / "tacc_stats"


def test_real_tacc_stats_fleet_finds_the_odd_node_of_a_job(tmp_path):
    """Five Stampede nodes (TACC Stats, Oct 2013): job 1836850 ran on four of
    them; c414-901 was swapping while its three peers read from local disk."""
    if not TACC.is_dir():
        pytest.skip(f"real TACC Stats data not found at {TACC} (see ../shared/data/README.md)")
    imp = subprocess.run([sys.executable, "-m", "paratune.cli", "import", "tacc-stats", str(TACC),
                          "--out", str(tmp_path / "t")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert imp.returncode == 0, imp.stderr
    f = assemble(run_units(plan([tmp_path / "t"]), workers=1))
    job = f.jobs.filter(pl.col("job") == "1836850").row(0, named=True)
    assert job["nodes"] == 4
    odd = f.outliers.filter(pl.col("peers") == "job 1836850")
    assert set(odd["host"]) == {"c414-901"} and "disk_Bps" in set(odd["metric"])
    assert f.errors.height == 0


def test_fleet_cpu_hours_are_those_of_paratune_jobs(fleet_dir):
    from analyzer.jobs import job_table
    from analyzer.load import load
    f = assemble(run_units(plan([fleet_dir]), workers=1))
    jobs = job_table(load([fleet_dir]))
    assert f.jobs["cpu_hours"].to_list() == pytest.approx(jobs["cpu_hours"].to_list(), rel=1e-12)
    assert f.jobs["nodes"].to_list() == jobs["nodes"].cast(pl.UInt32).to_list()
