"""Strict JSON for every ``--json`` of paratune: NaN and inf become null,
numpy scalars plain numbers (``json.dumps`` would print ``NaN``, which is
not JSON, or fail on numpy types)."""
from __future__ import annotations

import json
import math
import re

import numpy as np


def dumps(obj, indent: int = 2) -> str:
    """Strict JSON (NaN and inf become null, numpy scalars plain numbers):
    what every ``--json`` of paratune prints."""
    return json.dumps(_clean(obj), indent=indent, allow_nan=False)


def dumps_tables(head: dict, tables: dict[str, list[str]]) -> str:
    """One document: ``head``'s entries as strict JSON, then each table's
    rows, already encoded as JSON objects (polars writes them), one per
    line -- as readable as an indented document, and a fleet's hundred
    thousand rows never become Python dicts."""
    parts = [f" {json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in _clean(head).items()]
    for key, rows in tables.items():
        body = "[\n  " + ",\n  ".join(rows) + "\n ]" if rows else "[]"
        parts.append(f" {json.dumps(key)}: {body}")
    doc = "{\n" + ",\n".join(parts) + "\n}"
    return doc if doc.isascii() else _NON_ASCII.sub(lambda m: json.dumps(m.group())[1:-1], doc)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
"""What polars writes as UTF-8 and ``json.dumps`` escapes: every ``--json``
is ASCII, whatever the encoding of the terminal or pipe it goes to."""


def _clean(obj):
    if isinstance(obj, (np.generic, np.ndarray)):
        obj = obj.tolist()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj
