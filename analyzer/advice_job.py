"""One job's advice from its traces: load, analyse each node, find the
allocation, write the notes, rank the node classes."""
from __future__ import annotations

from pathlib import Path

import polars as pl

from analyzer.advice import Advice, advise
from analyzer.allocation import Allocation, from_record, of_trace
from analyzer.pipeline import Analysis, analyze_trace
from analyzer.derive import NOT_DERIVED
from analyzer.load import load
from analyzer.node_classes import NodeClass, predict, reference

READ_SKIP = NOT_DERIVED - {"gpus", "fs"}
"""Advice reads the GPU samples (allocated GPUs left unused) and the NFS/Lustre
counters (I/O through a shared file system) too."""


def advise_paths(paths, job: str | None = None, catalog: list[NodeClass] | None = None,
                 recorded_on: str | None = None, db: Path | None = None, ended: bool | None = None) -> Advice:
    traces = load(paths, job=job, skip=READ_SKIP)
    return advise_analyses([analyze_trace(tr) for tr in traces], job, catalog, recorded_on, history(db), ended)


def advise_analyses(analyses: list[Analysis], job: str | None = None, catalog: list[NodeClass] | None = None,
                    recorded_on: str | None = None, past: pl.DataFrame | None = None,
                    ended: bool | None = None, cross: list | None = None) -> Advice:
    """The advice of analysed nodes (``paratune analyze``'s panel, ``paratune advise``).
    ``cross``: the whole job's cross-node anomalies when the caller has them."""
    allocations = [allocation_of(a.trace, job or a.run.job) for a in analyses]
    if cross is None and job and len(analyses) > 1:
        from analyzer.job import analyze_job
        cross = analyze_job(job, analyses).anomalies
    adv = advise(analyses, allocations, [a.trace.seen_until for a in analyses], past, cross, ended)
    if catalog:
        a, u = analyses[0], adv.usage[0]
        adv.node_classes = predict(a, u, catalog, reference(a, catalog, recorded_on), nodes=len(analyses))
    return adv


def allocation_of(trace, job: str | None) -> Allocation:
    """The trace's record of the job's allocation, else Slurm's own (while it
    still knows the job), else the node."""
    alloc = of_trace(trace.table, trace.metadata, job)
    if alloc.known or job is None:
        return alloc
    from collector.slurm import CommandError, Scontrol, parse_job
    try:
        record = parse_job(Scontrol()("show", "job", "-d", "-o", str(job)), str(job), (trace.host,))
    except CommandError:
        return alloc
    return from_record(record) if record else alloc


def history(db: Path | None) -> pl.DataFrame | None:
    """Earlier runs (command, duration) from the runs database, None without one."""
    from analyzer.database import Database, default_path
    path = db or default_path()
    if not Path(path).exists():
        return None
    table = Database(path).table(["command", "duration_s"])
    return table if table.height else None
