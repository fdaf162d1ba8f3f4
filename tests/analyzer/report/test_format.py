"""The one sparkline of the report and the live view (analyzer.report.format)."""
import numpy as np
import pytest

from analyzer.report.format import SPARK, sparkline


def test_empty_and_no_room_draw_nothing():
    assert sparkline([], 10) == ""
    assert sparkline(np.empty(0), 10, hi=100) == ""
    assert sparkline([1.0, 2.0], 0) == ""


def test_length_one():
    assert sparkline([5.0], 10) == "█"                 # its own maximum
    assert sparkline([5.0], 10, hi=100) == "▁"
    assert sparkline([0.0], 1) == "▁"
    assert sparkline([np.nan], 3) == " "


def test_constant():
    assert sparkline([3.0] * 7, 7) == "█" * 7
    assert sparkline([50.0] * 4, 4, hi=100) == "▅" * 4
    assert sparkline([0.0] * 5, 5) == "▁" * 5          # nothing above 0: the bottom, not blank
    assert sparkline([-2.0] * 3, 3) == "▁" * 3


def test_nan_and_inf_are_no_data():
    assert sparkline([np.nan, 1.0], 4) == " █"
    assert sparkline([np.nan] * 4, 2) == "  "
    assert sparkline([np.inf, 1.0, -np.inf, np.nan], 4) == " █  "
    # a bin with some data is the mean of that data only
    assert sparkline([np.nan, 8.0, 2.0, 2.0], 2, hi=8) == "█▃"


def test_eight_equal_levels_from_zero_to_hi():
    """Level k holds [k/8, (k+1)/8) of ``hi``: equal shares of the scale, floored."""
    values = np.array([0, 12.4, 12.5, 37.5, 49.9, 50, 87.4, 87.5, 100, 250, -5])
    assert sparkline(values, values.size, hi=100) == "▁▁▂▄▄▅▇███▁"
    assert [SPARK.index(c) for c in sparkline(np.arange(8) * 12.5, 8, hi=100)] == list(range(8))


def test_bins_split_long_input_evenly_and_cover_all_of_it():
    line = sparkline(np.arange(100.0), 10)              # ten bins of ten: means 4.5 .. 94.5
    assert line == "▁▂▃▃▄▅▆▇██"
    assert len(sparkline(np.arange(1000.0), 37)) == 37
    x = np.zeros(10)
    x[-1] = 1.0                                         # the newest value lands in the last character
    assert sparkline(x, 3) == "▁▁█"
    assert sparkline(np.arange(5.0), 10) == "▁▃▅▇█"     # fewer values than room: one each


@pytest.mark.parametrize("n, width", [(1, 1), (7, 3), (100, 7), (601, 40)])
def test_matches_a_plain_loop(n, width):
    rng = np.random.default_rng(n)
    x = rng.uniform(-10, 100, n)
    x[rng.uniform(size=n) < 0.2] = np.nan
    edges = [int(k * n / min(width, n)) for k in range(min(width, n) + 1)]
    means = []
    for a, b in zip(edges, edges[1:]):
        ok = [v for v in x[a:b] if np.isfinite(v)]
        means.append(sum(ok) / len(ok) if ok else None)
    top = max(m for m in means if m is not None)
    want = "".join(" " if m is None else SPARK[min(7, int(max(m, 0) / top * 8))] for m in means)
    assert sparkline(x, width) == want
