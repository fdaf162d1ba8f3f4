"""The derived-metric table matches what derive makes, and docs/metrics.md matches the table."""
from pathlib import Path

import pytest

from analyzer import metrics
from analyzer.metrics import key_series
from analyzer.derive import derive
from analyzer.load import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("trace", ["lammps.arrow", "fio-randrw.arrow"])
def test_every_derived_metric_is_in_the_table(trace):
    tr = load([ROOT / "sample_traces" / trace])[0]
    made = set(derive(tr.table, tr.metadata).metrics)
    assert made == set(metrics.METRICS), (made ^ set(metrics.METRICS))


def test_key_series_labels_come_from_the_table():
    assert [n for n, _ in key_series()] == list(metrics.KEY_SERIES)
    assert dict(key_series())["net_rx_Bps"] == "net rx B/s"
    assert dict(key_series())["cpu_busy_pct"] == "CPU busy %"


def test_values_shown_in_their_unit():
    assert metrics.METRICS["disk_read_Bps"].show(2.5e6) == "2.5 MB/s"
    assert metrics.METRICS["cpu_busy_pct"].show(49.6) == "50%"
    assert metrics.METRICS["mem_used_bytes"].show(2**31) == "2.00 GiB"
    assert metrics.METRICS["load1"].show(float("nan")) == "-"
    assert metrics.label("no_such_metric") == "no_such_metric" and metrics.unit("no_such_metric") == ""


def test_docs_table_is_generated_from_the_table():
    page = (ROOT / "docs" / "metrics.md").read_text()
    assert metrics.doc_table() in page, "docs/metrics.md is stale: paste analyzer.metrics.doc_table() into it"
