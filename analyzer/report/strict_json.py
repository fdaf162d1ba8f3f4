"""Strict JSON for every ``--json`` of paratune: NaN and inf become null,
numpy scalars plain numbers (``json.dumps`` would print ``NaN``, which is
not JSON, or fail on numpy types)."""
from __future__ import annotations

import json
import math

import numpy as np


def dumps(obj, indent: int = 2) -> str:
    """Strict JSON (NaN and inf become null, numpy scalars plain numbers):
    what every ``--json`` of paratune prints."""
    return json.dumps(_clean(obj), indent=indent, allow_nan=False)


def dumps_tables(doc: dict) -> str:
    """``dumps`` of a document whose lists are tables, one record per line:
    as readable, and ~5x faster on a fleet's hundred thousand rows (json's C
    encoder only runs without ``indent``)."""
    parts = []
    for key, value in _clean(doc).items():
        head = json.dumps(key)
        if isinstance(value, list) and value:
            rows = ",\n  ".join(json.dumps(r, allow_nan=False) for r in value)
            parts.append(f" {head}: [\n  {rows}\n ]")
        else:
            parts.append(f" {head}: {json.dumps(value, allow_nan=False)}")
    return "{\n" + ",\n".join(parts) + "\n}"


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
