"""What a job was given on a node: CPUs, memory, time, GPUs, licences.

The recorder stores a job's Slurm allocation in the ``slurm_jobs`` column once,
and again when it changes (docs/trace-format.md).  Advice compares use
against it.  A trace recorded without Slurm, or before the allocation was
captured, falls back to the node itself: the whole node is then what the run
"had", and the advice says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Allocation:
    job: str | None
    cpus: int                      # CPUs allocated on this node
    mem_bytes: float | None        # memory limit on this node, None: unknown or unlimited
    time_limit_s: float | None     # None: unlimited or unknown
    start: float | None            # epoch seconds the job started
    gpus: int = 0
    nodes: int = 1
    user: str | None = None
    partition: str | None = None
    cpu_ids: str = ""
    licenses: str = ""             # as requested: "fluent:1,matlab:2"
    source: str = "node"           # scontrol, cgroup, environ, or node (no allocation known)

    @property
    def known(self) -> bool:
        return self.source != "node"

    def licence_counts(self) -> dict[str, int]:
        """Requested licences by name: "fluent:1,matlab" -> {fluent: 1, matlab: 1}."""
        out: dict[str, int] = {}
        for item in filter(None, (x.strip() for x in self.licenses.split(","))):
            name, _, count = item.partition(":")
            # Slurm also writes name@server; the name is what licence samples carry
            out[name.split("@")[0]] = int(count) if count.isdigit() else 1
        return out

    def to_dict(self) -> dict:
        return {"cpus": self.cpus, "mem_bytes": self.mem_bytes, "time_limit_s": self.time_limit_s,
                "gpus": self.gpus, "nodes": self.nodes, "partition": self.partition,
                "licenses": self.licenses or None, "source": self.source}


def _rows(table: pa.Table, column: str) -> list[dict]:
    """Every struct of a list column, with the sample time it came in."""
    if column not in table.column_names:
        return []
    out = []
    ts = table.column("ts")
    col = table.column(column)
    for i in range(table.num_rows):
        items = col[i].as_py()
        if items:
            t = ts[i].value / 1e6
            out.extend(dict(item, _t=t) for item in items)
    return out


def slurm_rows(table: pa.Table) -> list[dict]:
    return _rows(table, "slurm_jobs")


def licence_rows(table: pa.Table) -> list[dict]:
    return _rows(table, "licences")


def of_trace(table: pa.Table, metadata: dict[str, str], job: str | None) -> Allocation:
    """The job's last recorded allocation on this node, else the node itself."""
    mine = [r for r in slurm_rows(table) if job is not None and str(r.get("job")) == str(job)]
    if mine:
        return from_record(mine[-1])
    return node_allocation(metadata, job)


def from_record(r: dict) -> Allocation:
    start = r.get("start")
    if start is not None and hasattr(start, "timestamp"):
        start = start.timestamp()
    return Allocation(
        job=str(r["job"]) if r.get("job") is not None else None,
        cpus=int(r.get("cpus") or 0), mem_bytes=_num(r.get("mem_bytes")),
        time_limit_s=_num(r.get("time_limit_s")), start=start, gpus=int(r.get("gpus") or 0),
        nodes=int(r.get("nodes") or 1), user=r.get("user"), partition=r.get("partition"),
        cpu_ids=r.get("cpu_ids") or "", licenses=r.get("licenses") or "", source=r.get("source") or "scontrol")


def node_allocation(metadata: dict[str, str], job: str | None) -> Allocation:
    return Allocation(job=job, cpus=int(float(metadata.get("cores") or 0)),
                      mem_bytes=_num(metadata.get("mem_total")), time_limit_s=None, start=None)


def _num(v) -> float | None:
    if v is None or v == "":
        return None
    v = float(v)
    return v if v > 0 else None
