"""``paratune analyze --json``: the document described in docs/analyze-json.md."""
from __future__ import annotations

import json

from analyzer.pipeline import Analysis
from analyzer.report.format import finite_or_none, iso
from analyzer.report.strict_json import _clean, dumps  # noqa: F401  (re-exported)

SCHEMA_VERSION = 1


def to_document(a: Analysis) -> dict:
    d, tr = a.derived, a.trace
    start, end = float(d.t[0]), float(d.t[-1])
    doc = {
        "schema_version": SCHEMA_VERSION,
        "trace": {
            "host": tr.host, "start": iso(start), "end": iso(end),
            "duration_s": round(end - start + d.interval_s, 3), "interval_s": d.interval_s,
            "samples": d.n, "gaps": len(d.gaps), "gap_seconds": round(d.missing_s, 3),
            "jobs": a.jobs, "job": tr.job, "files": [str(f) for f in tr.files], "notes": tr.notes,
            "kernel": tr.metadata.get("kernel"), "cpu_model": tr.metadata.get("cpu_model"),
            "cores": int(tr.metadata["cores"]) if tr.metadata.get("cores", "").isdigit() else None,
        },
        "run": {"job": a.run.job, "command": a.run.comm},
        "characterization": a.characterization.to_dict(),
        "phases": [{"start": iso(p.start), "end": iso(p.end), "duration_s": round(p.duration_s, 3),
                    "label": p.label, "bottleneck": p.bottleneck, "evidence": p.evidence,
                    "profile": {k: finite_or_none(v) for k, v in p.profile.items()}}
                   for p in a.phases],
        "anomalies": [dict(x.to_dict(), start=iso(x.start), end=iso(x.end)) for x in a.anomalies],
        "fingerprint": a.fingerprint.to_dict(),
        "processes": a.processes.to_dicts(),
    }
    return _clean(doc)


def render(analyses: list[Analysis], job=None) -> str:
    """One host: its document; several: ``{"hosts": [...]}`` plus ``"job"`` for a whole job."""
    docs = [to_document(a) for a in analyses]
    if len(docs) == 1:
        return json.dumps(docs[0], indent=2, allow_nan=False)
    out = {"hosts": docs}
    if job is not None:
        out["job"] = _clean(job.to_dict())
    return json.dumps(out, indent=2, allow_nan=False)
