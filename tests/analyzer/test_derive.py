import math

import numpy as np
import pyarrow as pa
import pytest

from analyzer.derive import derive, process_order
from analyzer.kernels._rates import _counter_rate, _grid_counter_rate, _keyed_counter_rate
from collector.schema import CPU_STATES, trace_metadata
from tests.analyzer.synth import row, proc, table
from tests.naive import rates as naive

U64 = 2**64


def _rate(values, valid=None, dt=None, ok=None, modulus=0.0):
    n = len(values)
    valid = np.ones(n, bool) if valid is None else np.asarray(valid)
    dt = np.ones(n) if dt is None else np.asarray(dt, float)
    ok = np.ones(n, bool) if ok is None else np.asarray(ok)
    got = _counter_rate(np.asarray(values, np.uint64), valid, dt, ok, modulus)
    want = naive.counter_rate(values, valid, dt, ok, modulus)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], np.array(want)[~np.isnan(want)])
    return got


@pytest.mark.parametrize("values", [[], [5], [5, 5], [0, 10, 30, 60], [7] * 20])
def test_counter_rate_simple(values):
    got = _rate(values)
    assert len(got) == len(values)
    if values:
        assert math.isnan(got[0])


def test_counter_rate_32bit_wrap_and_reset():
    got = _rate([2**32 - 10, 5, 15, 3])  # wrap, then normal, then a reset
    assert got[1] == 15.0 and got[2] == 10.0 and math.isnan(got[3])


def test_counter_rate_64bit_wrap():
    got = _rate([U64 - 100, 50])
    assert got[1] == 150.0


def test_counter_rate_reset_of_big_counter_is_nan():
    assert math.isnan(_rate([10**12, 10**3])[1])


def test_counter_rate_known_modulus():
    assert _rate([990, 10], modulus=1000.0)[1] == 20.0


def test_counter_rate_nulls_and_gaps():
    got = _rate([0, 10, 20, 30, 40], valid=[1, 1, 0, 1, 1], ok=[1, 1, 1, 1, 0])
    assert got[1] == 10 and np.isnan(got[2:]).all()


def test_counter_rate_random_against_reference():
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(0, 40))
        v = np.cumsum(rng.integers(0, 2**20, n)).astype(np.uint64)
        if n > 3:
            v[n // 2:] = v[n // 2:] % np.uint64(2**32)  # a wrap or a reset midway
        _rate(list(map(int, v)), valid=rng.random(n) > 0.1, dt=rng.uniform(0.5, 2, n),
              ok=rng.random(n) > 0.1)


@pytest.mark.parametrize("seed", range(6))
def test_keyed_rate_against_reference(seed):
    """Entries in any order (a long process table is in sample order), found
    through ``order``; keys skip samples, go backwards and are null."""
    rng = np.random.default_rng(seed)
    m = int(rng.integers(0, 200)) if seed else 200
    key = np.sort(rng.integers(0, 10, m))
    same = np.r_[False, key[1:] == key[:-1]][:m]
    row_ = np.zeros(m, np.int64)
    for j in range(1, m):
        row_[j] = row_[j - 1] + int(rng.integers(1, 3)) if same[j] else 0
    t = np.cumsum(rng.uniform(0.5, 1.5, int(row_.max(initial=0)) + 1))
    t[1::7] = t[0::7][:t[1::7].size]                 # a clock that stood still: dt <= 0
    v = np.cumsum(rng.integers(-5, 100, m)).astype(np.uint64)   # now and then backwards
    valid = rng.random(m) > 0.05
    shuffle = rng.permutation(m)                     # entry j of the sorted table is at shuffle[j]
    at = np.empty(m, np.int64)
    at[shuffle] = np.arange(m)
    args = v[at], valid[at], shuffle, row_[at], t, same, 1
    got = _keyed_counter_rate(*args)
    want = np.array(naive.keyed_counter_rate(list(map(int, args[0])), *args[1:]), dtype=float)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)])
    if m > 1:        # unshuffled, the sorted table's own rates
        np.testing.assert_allclose(got[shuffle], _keyed_counter_rate(v, valid, np.arange(m), row_, t, same, 1))


def test_keyed_rate_empty_and_one_entry():
    one = np.ones(1, dtype=np.uint64), np.ones(1, dtype=bool), np.zeros(1, np.int64), np.zeros(1, np.int64)
    assert np.isnan(_keyed_counter_rate(*one, np.zeros(1), np.zeros(1, dtype=bool), 1)).all()
    empty = _keyed_counter_rate(np.empty(0, np.uint64), np.empty(0, bool), np.empty(0, np.int64),
                                np.empty(0, np.int64), np.empty(0), np.empty(0, bool), 1)
    assert empty.shape == (0,)


@pytest.mark.parametrize("seed", range(8))
def test_grid_rate_against_reference(seed):
    """Per-item counters (CPUs, disks): items come and go, wrap, reset and are null."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(0, 30)), int(rng.integers(1, 5))
    present = rng.random((n, k)) > 0.15
    rows_, col = np.nonzero(present)                 # row-major: rows ascending
    # 32-bit counters started near their top wrap; one column resets midway
    counters = (np.uint64(2**32 - 2**19) + np.cumsum(rng.integers(0, 2**16, (n, k)), axis=0)
                .astype(np.uint64)) % np.uint64(2**32)
    if n > 4:
        counters[n // 2:, 0] = np.cumsum(rng.integers(0, 50, n - n // 2)).astype(np.uint64)
    assert n < 12 or (np.diff(counters.astype(np.int64), axis=0) < 0).any()   # it goes backwards
    values = counters[rows_, col]
    valid = rng.random(values.size) > 0.1
    dt = rng.uniform(0.5, 2.0, n)
    ok = rng.random(n) > 0.1
    got = _grid_counter_rate(values, valid, rows_.astype(np.int64), col.astype(np.int64), n, k, dt, ok, 0.0)
    want = np.array(naive.grid_counter_rate(list(map(int, values)), valid, rows_, col, n, k, dt, ok),
                    dtype=np.float64).reshape(n, k)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)])


def test_row_sums_and_extremes_skip_nan():
    from analyzer.derive import _nansum_rows, _row_extreme
    g = np.array([[1.0, 2.0], [np.nan, 3.0], [np.nan, np.nan], [0.0, -1.0]])
    np.testing.assert_array_equal(_nansum_rows(g), [3.0, 3.0, np.nan, -1.0])
    np.testing.assert_array_equal(_row_extreme(g, np.fmax), [2.0, 3.0, np.nan, 0.0])
    np.testing.assert_array_equal(_row_extreme(g, np.fmin), [1.0, 3.0, np.nan, -1.0])
    assert _nansum_rows(np.empty((0, 3))).shape == (0,)
    assert np.isnan(_nansum_rows(np.empty((4, 0)))).all() and np.isnan(_row_extreme(np.empty((4, 0)), np.fmax)).all()


@pytest.mark.parametrize("values", [[1, 2, 3], [1, None, 3], [None, None], []])
def test_arrow_columns_become_fresh_writable_arrays(values):
    import pyarrow as pa

    from analyzer.derive import _numpy
    v, valid = _numpy(pa.array(values, pa.uint64()), np.uint64)
    assert v.flags.writeable and v.dtype == np.uint64      # numba sees one array type
    assert valid.tolist() == [x is not None for x in values]
    assert v.tolist() == [0 if x is None else x for x in values]


def _derive(rows, **meta):
    tab = table(rows, **meta)
    return derive(tab, trace_metadata(tab.schema))


def test_cpu_percent_from_counters():
    rows = [row(i, user=60 * i, system=20 * i, idle=20 * i) for i in range(5)]
    d = _derive(rows)
    assert np.isnan(d.metrics["cpu_user_pct"][0])
    np.testing.assert_allclose(d.metrics["cpu_user_pct"][1:], 60.0)
    np.testing.assert_allclose(d.metrics["cpu_busy_pct"][1:], 80.0)


def test_gap_is_nan_and_reported():
    times = [0, 1, 2, 10, 11]
    rows = [row(i, t=1e9 + s, user=100 * s) for i, s in enumerate(times)]
    rows = [dict(r, cpu_idle=50 * s) for r, s in zip(rows, times)]
    d = _derive(rows)
    assert len(d.gaps) == 1 and d.gaps[0].missing_s == 8
    assert np.isnan(d.metrics["cpu_user_pct"][3]) and not np.isnan(d.metrics["cpu_user_pct"][4])


def test_wall_clock_jump_uses_monotonic_interval():
    rows = [row(i, t=1e9 + i + (3600 if i >= 3 else 0), mono=100.0 + i, net_rx=1000 * i) for i in range(6)]
    d = _derive(rows)
    assert not d.gaps
    np.testing.assert_allclose(d.metrics["net_rx_Bps"][1:], 1000.0)


def test_reboot_breaks_rates():
    rows = [row(i, mono=(100.0 + i) if i < 3 else (1.0 + i), net_rx=(1000 * i if i < 3 else 10 * i))
            for i in range(6)]
    d = _derive(rows)
    assert np.isnan(d.metrics["net_rx_Bps"][3]) and d.metrics["net_rx_Bps"][4] == 10.0


def test_process_cpu_and_pid_reuse():
    rows = []
    for i in range(6):
        ps = [proc(10, utime=50 * i, comm="lmp", job="7")]
        start = 1 if i < 3 else 999  # pid 11 reused by another process at i = 3
        ps.append(proc(11, utime=100 * i if i < 3 else 5 * (i - 3), starttime=start, comm="x"))
        rows.append(row(i, procs=ps))
    d = _derive(rows)
    lmp = d.procs.filter(d.procs["comm"] == "lmp").sort("i")["cpu_pct"].to_numpy()
    assert np.isnan(lmp[0]) and np.allclose(lmp[1:], 50.0)
    x = d.procs.filter(d.procs["comm"] == "x").sort("i")["cpu_pct"].to_numpy()
    assert np.allclose(x[1:3], 100.0) and np.isnan(x[3]) and np.allclose(x[4:], 5.0)
    jobs = d.jobs()
    assert set(jobs["job"].to_list()) == {"7"}


def test_disks_sum_and_util():
    def disk(name, i, k):
        return {"name": name, "reads": i * k, "reads_merged": 0, "read_sectors": 8 * i * k,
                "read_ticks": 0, "writes": 0, "writes_merged": 0, "write_sectors": 0,
                "write_ticks": 0, "in_flight": 0, "io_ticks": 500 * i * (k == 2),
                "time_in_queue": 0}
    rows = [row(i, disks=[disk("vda", i, 1), disk("vdb", i, 2)]) for i in range(4)]
    d = _derive(rows)
    np.testing.assert_allclose(d.metrics["disk_read_iops"][1:], 3.0)
    np.testing.assert_allclose(d.metrics["disk_read_Bps"][1:], 3 * 8 * 512)
    np.testing.assert_allclose(d.metrics["disk_util_pct"][1:], 50.0)


def test_single_sample_and_per_core_imbalance():
    d = _derive([row(0)])
    assert d.n == 1 and all(len(v) == 1 for v in d.metrics.values())
    zero = {st: 0 for st in CPU_STATES}
    cores = lambda i: [dict(zero, cpu=0, user=100 * i), dict(zero, cpu=1, idle=100 * i)]
    d = _derive([row(i, user=100 * i, idle=100 * i, cores=cores(i)) for i in range(3)])
    np.testing.assert_allclose(d.core_busy[1:], [[100, 0], [100, 0]])
    np.testing.assert_allclose(d.metrics["core_imbalance_pct"][1:], 100.0)


@pytest.mark.parametrize("big", [None, "pid", "starttime"])
def test_process_order_is_the_three_key_sort(big):
    """Grouped radix order equals lexsort by (pid, starttime, row), ties and
    all, and falls back to lexsort for keys that do not pack into 64 bits."""
    rng = np.random.default_rng(5)
    m = 5000
    pid = rng.integers(1, 60, m).astype(np.int64)
    start = rng.integers(0, 4, m).astype(np.uint64) * np.uint64(1000)
    if big == "pid":
        pid[::7] = 2**31 - 1
    elif big == "starttime":
        start[::7] = np.uint64(2**50)
    rows = np.sort(rng.integers(0, 800, m))
    np.testing.assert_array_equal(process_order(pid, start, rows), np.lexsort((rows, start, pid)))
    empty = np.empty(0, np.int64)
    assert process_order(empty, empty.astype(np.uint64), empty).size == 0


def test_chunked_trace_derives_as_one_table():
    """A node-day is 24 files' chunks, some sliced by --from/--to and with null
    lists: each chunk is flattened on its own, with the same result."""
    def procs(i):
        return [proc(10, 5 * i, comm="a"), proc(11 + i % 3, 2 * i, comm="b")] if i != 7 else None
    rows = [row(i, user=10 * i, idle=90 * i, procs=procs(i) or [],
                cores=[{"cpu": c, "user": 5 * i, "idle": 45 * i} for c in range(2)],
                disks=[{"name": "sda", "reads": i, "read_sectors": 8 * i}]) for i in range(30)]
    whole = table(rows)
    procs_col = whole.schema.get_field_index("procs")
    with_null = whole.set_column(procs_col, whole.schema.field("procs"),
                                 pa.array([r["procs"] if i != 7 else None for i, r in enumerate(rows)],
                                          whole.schema.field("procs").type))
    chunked = pa.concat_tables([with_null.slice(0, 5), with_null.slice(5, 11), with_null.slice(16)])
    assert chunked.column("procs").num_chunks == 3
    meta = trace_metadata(whole.schema)
    a, b = derive(chunked, meta), derive(with_null.combine_chunks(), meta)
    assert a.procs.equals(b.procs) and a.procs.height == 58
    # pid 10 is rated at every sample but the first and the one after the null list,
    # across the chunk seams too; the other pid changes every sample
    assert a.procs["cpu_pct"].is_not_nan().sum() == 27
    np.testing.assert_array_equal(a.proc_order, b.proc_order)
    np.testing.assert_array_equal(a.core_busy, b.core_busy)
    for k in b.metrics:
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k], err_msg=k)


def test_null_items_are_no_items():
    """A null core, disk or process (a foreign or imported trace may hold
    one) is left out, as if the sample did not list it."""
    def rows(with_nulls):
        extra = [None] if with_nulls else []
        return [row(i, user=10 * i, idle=90 * i, procs=[proc(10, 5 * i), *extra],
                    cores=[{"cpu": 0, "user": 5 * i, "idle": 45 * i}, *extra],
                    disks=[{"name": "sda", "reads": i, "read_sectors": 8 * i}, *extra]) for i in range(10)]
    a, b = table(rows(True)), table(rows(False))
    da, db = derive(a, trace_metadata(a.schema)), derive(b, trace_metadata(b.schema))
    assert da.procs.equals(db.procs) and da.procs.height == 10
    np.testing.assert_array_equal(da.core_busy, db.core_busy)
    for k in db.metrics:
        np.testing.assert_array_equal(da.metrics[k], db.metrics[k], err_msg=k)
