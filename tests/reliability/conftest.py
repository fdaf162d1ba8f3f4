"""The figures of docs/reliability.md, recorded by the tests that produce them.

A test asks for the ``reliability`` fixture and calls ``reliability.record(title,
cases=..., survived=..., lost=..., note=...)`` once it knows what it tried and
what came through, *before* asserting, so a failure shows in the table too.
With ``PARATUNE_RELIABILITY_REPORT=FILE`` set, the rows of the whole session are
written to FILE as JSON when it ends; ``scripts/reliability_report.py`` sets it
and turns the JSON into the table.  Without it nothing is written.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import pytest

REPORT_ENV = "PARATUNE_RELIABILITY_REPORT"


@dataclass
class Row:
    """One line of the table: what ran, how often, what survived, what was lost."""
    area: str
    title: str
    cases: int
    survived: int
    lost: str
    note: str
    test: str


class Ledger:
    """Rows recorded during the session, in the order the tests ran."""

    def __init__(self):
        self.rows: list[Row] = []

    def write(self, path: str) -> None:
        rows = sorted(self.rows, key=lambda r: (r.area, r.test, r.title))
        tmp = f"{path}.tmp"
        with open(tmp, "w") as fh:
            json.dump([asdict(r) for r in rows], fh, indent=1)
        os.replace(tmp, path)


class Recorder:
    """What one test hands to the ledger."""

    def __init__(self, ledger: Ledger, nodeid: str, area: str):
        self._ledger, self._nodeid, self._area = ledger, nodeid, area

    def record(self, title: str, cases: int, survived: int, lost: str = "nothing",
               note: str = "", area: str | None = None) -> None:
        self._ledger.rows.append(Row(area or self._area, title, int(cases), int(survived), lost,
                                     note, self._nodeid))


@pytest.fixture(scope="session")
def _reliability_ledger():
    ledger = Ledger()
    yield ledger
    path = os.environ.get(REPORT_ENV)
    if path:
        ledger.write(path)


@pytest.fixture
def reliability(request, _reliability_ledger) -> Recorder:
    """``reliability.record(title, cases, survived, lost, note)`` for docs/reliability.md."""
    area = getattr(request.module, "AREA", request.module.__name__.rsplit(".", 1)[-1])
    return Recorder(_reliability_ledger, request.node.nodeid, area)
