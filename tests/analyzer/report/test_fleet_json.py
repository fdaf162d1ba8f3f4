"""The fleet's --json: polars writes the rows; the result must be what
strict JSON of the tables' Python values would be."""
import json
import math

import polars as pl

from analyzer.fleet import Fleet
from analyzer.report.fleet import TIME_COLUMNS, to_json
from analyzer.report.format import iso


def _reference(df: pl.DataFrame) -> list[dict]:
    rows = df.to_dicts()
    for r in rows:
        for k, v in r.items():
            if k in TIME_COLUMNS:
                r[k] = iso(v)
            elif isinstance(v, float) and not math.isfinite(v):
                r[k] = None
    return rows


def _fleet() -> Fleet:
    nodes = pl.DataFrame({
        "host": ["n1", "nœud-2", "\U0001f600"], "day": ["2026-11-22", "", "2026-11-23"],
        "start": [1_763_782_416.9999996, 0.25, float("nan")], "end": [1_763_868_815.5, None, float("inf")],
        "cpu_busy_pct": [12.5, float("nan"), -float("inf")], "samples": [86_400, 1, 0],
        "error": [None, 'bad "file"\\n', None], "jobs": [["4242", "17"], [], None],
        "bottleneck": ["cpu-bound", None, "idle"], "anomalies": [3, 0, 1],
    })
    empty = pl.DataFrame(schema={"job": pl.Utf8, "first_seen": pl.Float64})
    return Fleet(nodes=nodes, jobs=empty, job_nodes=empty, anomalies=nodes.select("host", "start", "end"),
                 outliers=empty)


def test_rows_are_strict_json_with_iso_times():
    f = _fleet()
    nodes = f.nodes
    text = to_json(f)
    assert text.isascii() and "n\\u0153ud-2" in text          # escaped as json.dumps would
    doc = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert doc["nodes"] == _reference(nodes)
    assert doc["anomalies"] == _reference(f.anomalies)
    assert doc["jobs"] == [] and doc["outliers"] == []
    assert doc["nodes"][0]["start"] == "2025-11-22T03:33:37+00:00"      # rounded to the microsecond first
    assert doc["fleet"]["node_days"] == 3 and doc["schema_version"] == 1


def test_a_document_written_in_slices_is_the_one_written_whole(monkeypatch):
    """--json writes rows a slice at a time; where the slices fall changes nothing."""
    from analyzer.report import fleet as report
    f = _fleet()
    whole = to_json(f)
    for rows in (1, 2, 3):
        monkeypatch.setattr(report, "ROWS_PER_SLICE", rows)
        assert to_json(f) == whole
    assert len(json.loads(whole)["anomalies"]) == 3 and json.loads(whole)["jobs"] == []
