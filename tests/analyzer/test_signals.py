"""Finding the run: the grouped fast path (through ``Derived.proc_order``)
against the plain group-by over every process row."""
from pathlib import Path

import pytest

from analyzer.derive import derive
from analyzer.load import load
from analyzer.signals import identify_run
from collector.schema import trace_metadata
from tests.analyzer.synth import proc, row, table

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"


def _procs(i):
    out = [proc(10, 40 * i, comm="app", ppid=5), proc(11, 39 * i, comm="app", ppid=5),
           # exec: pid 12 is bash, then app; reparented: pid 13 loses its parent at 20
           proc(12, 30 * i, comm="bash" if i < 15 else "app", ppid=5),
           proc(13, 5 * i, comm="app", ppid=5 if i < 20 else 1),
           proc(14, 50 * i, comm=None, ppid=2), proc(15, 45 * i, comm="other", ppid=3)]
    return out if i != 7 else out[:2]          # a sample where most are missing: NaN rates after it


def test_grouped_path_finds_the_same_run():
    t = table([row(i, user=100 * i, idle=100 * i, procs=_procs(i)) for i in range(40)])
    d = derive(t, trace_metadata(t.schema))
    fast, plain = identify_run(d.procs, None, d.proc_order), identify_run(d.procs, None)
    assert fast == plain
    assert fast.comm == "app" and fast.pids == {10, 11, 12, 13}


def test_an_empty_or_one_row_table():
    for rows in ([row(0)], [row(0, procs=[proc(10, 1)])]):
        t = table(rows)
        d = derive(t, trace_metadata(t.schema))
        assert identify_run(d.procs, None, d.proc_order) == identify_run(d.procs, None)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.arrow")), ids=lambda p: p.stem)
def test_grouped_path_on_every_recording(path):
    (tr,) = load([path])
    d = derive(tr.table, tr.metadata)
    assert identify_run(d.procs, None, d.proc_order) == identify_run(d.procs, None)


def _spread(procs_of):
    from analyzer.signals import run_signals
    t = table([row(i, user=200 * i, idle=0, procs=procs_of(i)) for i in range(20)])
    d = derive(t, trace_metadata(t.schema))
    sig, _ = run_signals(d.procs, d.n, identify_run(d.procs, None, d.proc_order))
    return sig["rank_spread"][5:]


def test_ranks_are_siblings_of_the_run_command():
    """Two busy ranks of one launcher are unevenly loaded; a client and a
    server of one name with different parents (iperf3) are not ranks of one
    run; a stressor's idle forking parent is not a rank beside its workers."""
    siblings = _spread(lambda i: [proc(10, 90 * i, ppid=5), proc(11, 20 * i, ppid=5)])
    assert siblings == pytest.approx([70.0] * 15)
    strangers = _spread(lambda i: [proc(10, 90 * i, ppid=1), proc(11, 20 * i, ppid=7)])
    assert all(x != x for x in strangers)                      # one rank: no spread
    forked = _spread(lambda i: [proc(12, 0, ppid=1), proc(10, 90 * i, ppid=12), proc(11, 90 * i, ppid=12)])
    assert forked == pytest.approx([0.0] * 15)
