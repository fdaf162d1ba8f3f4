"""Strict JSON for every ``--json`` of paratune: NaN and inf become null,
numpy scalars plain numbers (``json.dumps`` would print ``NaN``, which is
not JSON, or fail on numpy types)."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import TextIO

import numpy as np


def dumps(obj, indent: int = 2) -> str:
    """Strict JSON (NaN and inf become null, numpy scalars plain numbers):
    what every ``--json`` of paratune prints."""
    return json.dumps(_clean(obj), indent=indent, allow_nan=False)


def write_tables(head: dict, tables: dict[str, Iterable[list[str]]], out: TextIO) -> None:
    """One document into ``out``: ``head``'s entries as strict JSON, then each
    table's rows, already encoded as JSON objects (polars writes them), one
    per line -- as readable as an indented document.  Rows come in slices and
    are written as they come: a fleet's hundred thousand rows never become
    Python dicts, nor one string."""
    parts = [f" {json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in _clean(head).items()]
    out.write("{\n" + ",\n".join(parts))
    for n, (key, slices) in enumerate(tables.items()):
        out.write(f"{',' if parts or n else ''}\n {json.dumps(key)}: [")
        first = True
        for rows in slices:
            if rows:
                out.write(("\n  " if first else ",\n  ") + _ascii(",\n  ".join(rows)))
                first = False
        out.write("]" if first else "\n ]")
    out.write("\n}")


def _ascii(text: str) -> str:
    return text if text.isascii() else _NON_ASCII.sub(lambda m: json.dumps(m.group())[1:-1], text)


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
