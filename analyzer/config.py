"""Every tuning constant of the analyzer, in one place.

The live view runs the same anomaly rules online with these same thresholds,
so the screen and the report cannot disagree.  Changing a value here changes
both; changing a fingerprint value means bumping FINGERPRINT_VERSION.
"""
from __future__ import annotations

# ---------------------------------------------------------------- derive
MAX_GAP_FACTOR = 1.5
"""A step longer than this many intervals is a gap: rates across it are NaN."""

# ---------------------------------------------------------------- fingerprint
FINGERPRINT_VERSION = 1

FINGERPRINT_METRICS = {
    # derived metric -> threshold for its "frac_above" feature (documented in
    # docs/fingerprint.md: the fraction of valid seconds above this value)
    "cpu_busy_pct": 90.0,
    "cpu_user_pct": 75.0,
    "cpu_system_pct": 20.0,
    "cpu_iowait_pct": 10.0,
    "core_imbalance_pct": 50.0,
    "mem_used_pct": 80.0,
    "swap_used_pct": 10.0,
    "majflt_rate": 100.0,
    "pgfault_rate": 100_000.0,
    "psi_cpu_some_pct": 20.0,
    "psi_mem_some_pct": 10.0,
    "psi_io_some_pct": 20.0,
    "net_rx_Bps": 100e6,
    "net_tx_Bps": 100e6,
    "net_rx_pps": 100_000.0,
    "net_tx_pps": 100_000.0,
    "disk_read_Bps": 100e6,
    "disk_write_Bps": 100e6,
    "disk_read_iops": 1000.0,
    "disk_write_iops": 1000.0,
    "disk_util_pct": 80.0,
    "ctxt_rate": 50_000.0,
    "intr_rate": 50_000.0,
    "forks_rate": 10.0,
    "procs_running": 2.0,
    "procs_blocked": 1.0,
}

MAX_PERIOD_S = 3600.0
"""Longest period the spectral features look for."""
PERIOD_ALPHA = 0.01
"""A spectral peak is a period only if noise would raise one as far above its
neighbours with less than this probability (over all candidate bins)."""
PERIOD_MIN_STRENGTH = 0.02
"""...and only if it holds at least this share of the detrended signal's power."""
SEGMENT_PERIODS = 4
"""Welch segments span this many MAX_PERIOD_S, so the longest period has 4 cycles."""
TOP_PROCESSES = 10
"""Commands listed in Fingerprint.processes."""
GAP_FILL_MAX_S = 86400.0
"""A gap longer than this counts as this long on the time axis of slope and spectrum."""

# ---------------------------------------------------------------- phases
PHASE_METRICS = ("cpu_user_pct", "cpu_system_pct", "cpu_iowait_pct", "mem_used_pct",
                 "net_rx_Bps", "net_tx_Bps", "disk_read_Bps", "disk_write_Bps")
PHASE_MIN_SECONDS = 10.0
"""No phase shorter than this (in seconds of samples)."""
PHASE_PENALTY_SCALE = 3.0
"""PELT penalty = scale * d * log(n), on robustly standardised signals."""
PHASE_MAX = 50
"""Keep at most this many phases (merge the most similar neighbours)."""

# ---------------------------------------------------------------- anomalies
# Each rule's score is 1.0 at its threshold.  An event opens when the score
# reaches 1.0, is reported once it has lasted `min_s`, and closes after the
# score stayed below RELEASE for `hold_s`.  docs/anomalies.md explains each.
RELEASE = 0.7
HOLD_S = 5.0

HOG_CPU_PCT = 40.0          # a process outside the run using this much of a core ...
HOG_BUSY_PCT = 90.0         # ... while the node is this busy (or has more runnable tasks than cores)
HOG_MIN_S = 15.0

LEAK_RATE_BPS = 1 << 20     # sustained growth of 1 MiB/s ...
LEAK_TAU_S = 60.0           # ... of an exponentially weighted trend over about a minute ...
LEAK_MIN_S = 60.0           # ... lasting at least this long
LEAK_MIN_RSS = 32 << 20     # processes smaller than this are not considered

PRESSURE_AVAIL_PCT = 10.0   # available memory below this % of RAM
PRESSURE_PSI_PCT = 10.0     # or PSI memory some above this
PRESSURE_SWAP_PPS = 1000.0  # or swapping this many pages/s
PRESSURE_MAJFLT = 1000.0    # or this many major faults/s
PRESSURE_MIN_S = 5.0

IO_UTIL_PCT = 90.0          # disk busy this % of the time
IO_PSI_PCT = 30.0           # or PSI io some
IO_MIN_S = 10.0

NET_SAT_BPS = 500e6         # rx+tx over non-loopback links; set to ~80% of the node's link
NET_ERR_RATE = 100.0        # or this many errors+drops per second
NET_MIN_S = 10.0

STALL_FRACTION = 0.2        # the run's CPU falls below this share of its own baseline ...
STALL_MIN_BASELINE = 50.0   # ... a baseline (EWMA, % of a core) of at least this
STALL_TAU_S = 60.0
STALL_MIN_S = 10.0

IMBALANCE_SPREAD_PCT = 40.0  # max - min CPU % among the run's ranks (processes of its command)
IMBALANCE_MIN_MEAN = 20.0    # only when the ranks average at least this
IMBALANCE_MIN_S = 30.0

# ---------------------------------------------------------------- characterisation
# A profile's bottleneck is the resource whose mean pressure is the highest
# multiple of its threshold; below 1.0 everywhere it is compute-bound when
# the CPU is busy and idle otherwise.  Without hardware counters (no PMU on
# most VMs) "memory-bound" means memory pressure: stalls, paging, faulting.
BOTTLENECK_THRESHOLDS = {
    "io-bound": {"cpu_iowait_pct": 20.0, "disk_util_pct": 60.0, "psi_io_some_pct": 20.0},
    "memory-bound": {"psi_mem_some_pct": 10.0, "majflt_rate": 200.0, "swapin_rate": 200.0,
                     "swapout_rate": 200.0, "pgfault_rate": 200_000.0},
    "network-bound": {"net_rx_Bps": 100e6, "net_tx_Bps": 100e6, "net_rx_pps": 100_000.0,
                      "net_tx_pps": 100_000.0},
}
COMPUTE_BUSY_PCT = 25.0
"""Below this mean CPU use, and with no other pressure, a profile is idle."""

# ---------------------------------------------------------------- similarity (db classify)
SIMILARITY_EXCLUDE = ("run.duration_s", "run.samples", "run.gap_fraction")
"""Features that say how long or how well a run was recorded, not what it is."""
SIMILARITY_EXCLUDE_SUFFIXES = (".slope", ".period_s")
"""Trends and periods depend on the run length and input deck more than on the code."""
SIMILARITY_CLIP = 6.0
"""Robust z-scores are clipped to +-this, so one wild feature cannot decide alone."""
SIMILARITY_FLOOR_FRACTION = 0.02
"""A feature's scale is at least this fraction of its metric's frac_above threshold
(value features), so background noise on an unused resource is not a signature."""
SIMILARITY_UNIT_FLOORS = {"skew": 0.5, "kurtosis": 1.0, "acf1": 0.1, "period_strength": 0.05,
                          "frac_above": 0.05, "top1_share": 0.05, "top3_share": 0.05,
                          "distinct_comms": 2.0, "nprocs_mean": 5.0}
COMMAND_PENALTY = 1.0
"""Added to the distance to a stored run whose main command differs: the
programs a run executes are evidence of what it is (never the host or job)."""
UNKNOWN_DISTANCE = 1.25
"""Distance beyond which a run is `unknown`.  Calibrated on the 24 recorded runs
of docs/evaluation.md: between the farthest run from its own application's
references (1.20) and the nearest run of an application missing from the
database (1.28) -- a thin margin from a small data set; recalibrate per site."""
SIMILARITY_FEATURES = 200
"""Features kept for distances: the most label-discriminating ones (Fisher ratio)
once the database holds at least two labels, all usable ones before."""
SIMILARITY_SAMPLE = 100_000
"""Robust centre/scale are estimated on at most this many stored runs."""
SIMILARITY_SHORTLIST = 8192
"""Stored runs with the smallest distance bounds measured exactly first; the
shortlist grows 8x until no run outside it can change the answer
(analyzer/nearest.py).  Large enough to hold five labels of ~1,000 runs each."""

# ---------------------------------------------------------------- whole jobs (several nodes)
NODE_SPREAD_PCT = 40.0
"""Cross-node imbalance: the busiest and idlest node of a job differ by this
many points of their job's CPU share of the node ..."""
NODE_SPREAD_MIN_MEAN = 20.0
"""... while the job's nodes average at least this share."""
NODE_SPREAD_MIN_S = 30.0

# ---------------------------------------------------------------- fleets (many nodes, analyzer.fleet)
FLEET_MIN_PEERS = 3
"""A node is compared with its peers only in a group of at least this many
nodes (with two, neither is the odd one out)."""
FLEET_OUTLIER_Z = 3.5
"""Outlier nodes: at least this many robust standard deviations (1.4826 x MAD)
from the peers' median -- the modified z-score cut of Iglewicz and Hoaglin ..."""
FLEET_JOB_METRICS = {"job_cpu_pct": 15.0, "cpu_busy_pct": 15.0, "cpu_iowait_pct": 10.0,
                     "mem_used_pct": 15.0, "net_Bps": 10e6, "disk_Bps": 10e6}
"""... and at least this far from it (units of the metric: percentage points,
bytes/s), compared between the nodes of one job."""
FLEET_WINDOW_METRICS = {"gap_s": 300.0, "anomalies": 3.0, "cpu_iowait_pct": 10.0,
                        "psi_io_some_pct": 10.0, "psi_mem_some_pct": 10.0}
"""Compared between all nodes of one day: node health (missing samples,
anomalies, I/O wait, pressure), not workload, which differs between jobs by design."""
