"""A job over several nodes: time alignment, whole-job features, cross-node imbalance."""
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from tests.analyzer.synth import proc, row, table

ROOT = Path(__file__).resolve().parents[2]


def _node(host: str, path: Path, busy_pct, job="77", n=150, offset=0.0):
    """Two ranks of job 77 at busy_pct(i) % each on a 2-core node."""
    rows, ut, user, idle = [], [0, 0], 0, 0
    for i in range(n):
        c = int(busy_pct(i))
        ut = [u + c for u in ut]
        user, idle = user + 2 * c, idle + 2 * (100 - c)
        rows.append(row(i, t=1.76e9 + offset + i, user=user, idle=idle,
                        procs=[proc(10 + r, ut[r], comm="lmp", job=job, ppid=5) for r in range(2)]))
    t = table(rows, host=host)
    with pa.ipc.new_file(path, t.schema) as w:
        w.write_table(t)
    return path


def _analyze(*paths, job="77"):
    r = subprocess.run([sys.executable, "-m", "paratune.cli", "analyze", *map(str, paths), "--job", job, "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_balanced_job_has_no_cross_node_imbalance(tmp_path):
    a = _node("node1", tmp_path / "a.arrow", lambda i: 95)
    b = _node("node2", tmp_path / "b.arrow", lambda i: 93, offset=0.4)
    doc = _analyze(a, b)
    assert [h["trace"]["host"] for h in doc["hosts"]] == ["node1", "node2"]
    job = doc["job"]
    assert job["job"] == "77" and len(job["nodes"]) == 2 and job["anomalies"] == []
    assert job["fingerprint"]["features"]["job.nodes"] == 2
    assert 90 <= job["nodes"][0]["mean_job_cpu_pct"] <= 96


def test_a_node_that_falls_behind_is_reported(tmp_path):
    a = _node("node1", tmp_path / "a.arrow", lambda i: 95)
    b = _node("node2", tmp_path / "b.arrow", lambda i: 20 if 40 <= i < 110 else 95)
    job = _analyze(a, b)["job"]
    (x,) = job["anomalies"]
    assert x["kind"] == "imbalance" and x["metric"] == "node_cpu" and x["process"] == "node2"
    assert "node2 at 20%" in x["message"]
