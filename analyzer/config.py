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
FINGERPRINT_VERSION = 2

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
"""Processes in the report's table, and commands in Fingerprint.processes."""
GAP_FILL_MAX_S = 86400.0
"""A gap longer than this counts as this long on the time axis of slope and spectrum."""

BEHAVIOUR_TRIM = 0.1
"""Share of the run's window dropped at each end (start-up, tail) for the
behaviour features, between 2 and 30 samples."""
BEHAVIOUR_MIN_SAMPLES = 5
"""Fewer steady samples than this: no behaviour features (NaN)."""

# ---------------------------------------------------------------- phases
PHASE_METRICS = ("cpu_user_pct", "cpu_system_pct", "cpu_iowait_pct", "mem_used_pct",
                 "net_rx_Bps", "net_tx_Bps", "disk_read_Bps", "disk_write_Bps")
PHASE_MIN_SECONDS = 10.0
"""No phase shorter than this (in seconds of samples)."""
PHASE_PENALTY_SCALE = 3.0
"""PELT penalty = scale * d * log(n), on robustly standardised signals."""
PHASE_MAX = 50
"""Keep at most this many phases (merge the most similar neighbours)."""
PHASE_GAP_INTERVALS = 3
"""A step longer than this many sampling intervals ends a phase (missing time is no phase's)."""
BYTES_KNEE = 65536.0
"""Byte rates are log1p(x / BYTES_KNEE) for segmentation: linear below, logarithmic above."""
SCALE_FLOOR_PCT = 1.0
"""Smallest noise sigma of a percent metric (percentage points)."""
SCALE_FLOOR_LOG = 0.1
"""Smallest noise sigma of a log byte rate (~10 % of the rate above the knee)."""
EDGE_MAX_S = 60.0
EDGE_MAX_FRAC = 0.10
"""A short first/last phase (< EDGE_MAX_S or < EDGE_MAX_FRAC of the run) is startup/shutdown."""

# ---------------------------------------------------------------- compare (A vs B)
EFFECT_LARGE = 0.8
"""A metric differs when its effect size (Glass's delta against the reference) reaches this ..."""
REL_MIN = 0.10
"""... and its mean moved by at least this fraction."""
Z_SIGNIFICANT = 3.0
"""Against an application's history: this many robust z from its runs."""
COMPARE_FLOOR_FRACTION = 0.02
"""A metric's noise floor in comparisons: this fraction of its FINGERPRINT_METRICS threshold ..."""
COMPARE_FLOORS = {"mem_used_pct": 0.25}
"""... except these (units of the metric): used memory barely moves within a run,
so a quarter of a point (~60 MB of 24 GiB) is already a change."""

# ---------------------------------------------------------------- anomalies
# Each rule's score is 1.0 at its threshold.  An event opens when the score
# reaches 1.0, is reported once it has lasted `min_s`, and closes after the
# score stayed below RELEASE for `hold_s`.  docs/anomalies.md explains each.
# The values of HOG_*, LEAK_RATE_BPS/TAU_S/MIN_S, IO_UTIL_PCT/PSI_PCT/MIN_S,
# NET_SAT_BPS/MIN_S and STALL_FRACTION/WARMUP_SAMPLES/MIN_S are written by
# scripts/calibrate.py from the calibration set (docs/evaluation.md); the
# others are definitions.
RELEASE = 0.7
HOLD_S = 5.0

HOG_CPU_PCT = 40.0          # a process outside the run using this much of a core ...
HOG_BUSY_PCT = 90.0         # ... while the node is this busy (or has more runnable tasks than cores)
HOG_MIN_S = 5.0

LEAK_RATE_BPS = 4194304     # sustained growth in bytes/s ...
LEAK_TAU_S = 3.0            # ... of an exponentially weighted trend over about this many seconds ...
LEAK_MIN_S = 55.0           # ... lasting at least this long
LEAK_MIN_RSS = 32 << 20     # processes smaller than this are not considered

PRESSURE_AVAIL_PCT = 10.0   # available memory below this % of RAM
PRESSURE_PSI_PCT = 10.0     # or PSI memory some above this
PRESSURE_SWAP_PPS = 1000.0  # or swapping this many pages/s
PRESSURE_MAJFLT = 1000.0    # or this many major faults/s
PRESSURE_MIN_S = 5.0

SURGE_RATIO = 1.5           # saturation rules: this many times the run's own level (below) ...
SURGE_TAU_S = 60.0          # ... a bias-corrected EWMA over about a minute of the run
SURGE_MEMORY_S = 3600.0     # a saturation the run came back from is its usual for about this long

IO_UTIL_PCT = 50.0          # disk busy this % of the time
IO_PSI_PCT = 10.0           # or PSI io some
IO_MIN_S = 8.0

NET_SAT_BPS = 3e8           # rx+tx over non-loopback links; set to ~80% of the node's link
NET_ERR_RATE = 100.0        # or this many errors+drops per second
NET_MIN_S = 5.0

STALL_FRACTION = 0.1        # the run's CPU falls below this share of its own baseline ...
STALL_MIN_BASELINE = 50.0   # ... a baseline (bias-corrected EWMA, % of a core) of at least this ...
STALL_TAU_S = 60.0
STALL_KEEP_BELOW = 0.5      # (samples below this share of the baseline are not learned)
STALL_WARMUP_SAMPLES = 5.0   # ... learned from at least this many samples of the run
STALL_MIN_S = 5.0

IMBALANCE_SPREAD_PCT = 40.0  # max - min CPU % among the run's ranks (processes of its command)
IMBALANCE_MIN_MEAN = 20.0    # only when the ranks average at least this
IMBALANCE_MIN_S = 30.0

# ---------------------------------------------------------------- bottleneck (analyzer.characterize)
# One classifier labels phases, runs and node-days; the rules are in
# analyzer/characterize.py.  Units: *_PCT percent, *_BPS bytes/s, *_RATE per
# second, *_PER_MIN percentage points per minute.
IDLE_BUSY_PCT = 10.0
IDLE_DISK_BPS = 1e6
IDLE_NET_BPS = 1e6
MEM_PSI_PCT = 10.0
MEM_MAJFLT_RATE = 100.0
MEM_SWAP_PAGES_RATE = 100.0         # pages/s swapped in + out
MEM_SWAP_PCT_PER_MIN = 1.0
MEM_CLIMB_PCT_PER_MIN = 10.0
MEM_CLIMB_MIN_PCT = 5.0
IO_IOWAIT_PCT = 10.0
IO_BOUND_UTIL_PCT = 50.0            # (an io_saturation anomaly needs IO_UTIL_PCT)
IO_BOUND_PSI_PCT = 10.0
IO_DISK_BPS = 5e7
NET_BOUND_BPS = 1e7
NET_BPS_PER_BUSY_PCT = 1e6          # bytes/s per percent of cpu_busy
DOMINANT_SHARE = 0.6
"""A run is labelled by the bottleneck of at least this share of its time,
else ``mixed`` (a definition of "dominates", not a tuned value)."""

# ---------------------------------------------------------------- similarity (db classify)
SIMILARITY_NOISE = {
    "shape.user_share": 0.069,
    "shape.system_share": 0.07,
    "shape.iowait_share": 0.05,
    "shape.cores_per_rank": 0.05,
    "shape.cpu_cv": 0.055,
    "shape.cpu_dip": 0.05,
    "shape.cpu_acf1": 0.319,
    "shape.disk_per_cpu": 0.669,
    "shape.write_share": 0.327,
    "shape.net_per_cpu": 0.612,
    "shape.rx_share": 0.395,
    "shape.ctxt_per_cpu": 0.3,
    "shape.pgfault_per_cpu": 1.064,
    "shape.rss_per_rank": 0.3,
    "shape.rss_cv": 0.05,
    "shape.threads_per_rank": 0.05,
    "shape.run_write_per_cpu": 0.579,
}
"""The features recognition compares (analyzer/behaviour.py), each with its
run-to-run noise (pooled standard deviation among the calibration runs of one
application), the unit distances are counted in."""
SIMILARITY_NOISE_FLOOR = 0.05
"""The least noise a feature on a linear scale (a share, cores, a ratio) is given ..."""
SIMILARITY_NOISE_FLOOR_LOG = 0.3
"""... and one in log10 units (an intensity, memory): runs recorded in one sitting agree more closely
than runs of different days, so a near-zero spread among them is no measure of the noise
(scripts/calibrate.py chooses both by how well recognition carries from some calibration sets to another)."""
SIMILARITY_CLIP = 6.0
"""Scaled differences are clipped to +-this many noise levels, so one wild feature cannot decide alone."""
UNKNOWN_SPREAD = 1.0
"""A run belongs to its nearest label within this many times the label's radius ..."""
UNKNOWN_MIN_DISTANCE = 0.5
"""... and never less than this distance (RMS of noise levels)."""
SIMILARITY_FEATURES = 10
"""Features kept for distances (scripts/calibrate.py): the most label-discriminating ones (Fisher ratio)
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

# ---------------------------------------------------------------- advice (analyzer.advice, analyzer.node_classes)
# Policy, not detection: when a request is worth changing and how much room
# the suggested one keeps.  Checked on real sbatch jobs (tests/slurm/test_advise.py).
ADVICE_IDLE_CORES = 0.1
"""A job is idle while its processes use less than this many cores together."""
ADVICE_IDLE_START_S = 60.0
"""An idle start is reported when the job's first idle stretch lasts this long."""
ADVICE_SERIAL_CORES = 1.15
"""A run whose busiest 5 % of samples use at most this many cores is serial."""
ADVICE_CPU_USED_SHARE = 0.5
"""Fewer cores are suggested when the run's 95th percentile uses at most this
share of the allocated ones."""
ADVICE_MEM_USED_SHARE = 0.5
"""Less memory is suggested when the peak is at most this share of the limit ..."""
ADVICE_MEM_HEADROOM = 0.25
"""... and the suggestion is the peak plus this share, rounded up."""
ADVICE_MEM_NEAR_LIMIT = 0.9
"""A peak above this share of the limit is a warning: the next run may be killed."""
ADVICE_TIME_USED_SHARE = 0.5
"""A shorter --time is suggested when the job used at most this share of its limit ..."""
ADVICE_TIME_HEADROOM = 0.5
"""... and the suggestion is the elapsed time plus this share, rounded up to
ADVICE_TIME_ROUND_S."""
ADVICE_TIME_ROUND_S = 300.0
ADVICE_TIME_NEAR_LIMIT = 0.9
ADVICE_PHASE_SHARE = 0.2
"""I/O-bound or network-bound phases are worth a note from this share of the run."""
ADVICE_GPU_UNUSED_PCT = 5.0
"""Allocated GPUs whose mean utilisation stays below this are unused."""
ADVICE_SLOWER_RATIO = 1.5
"""A run this many times slower than the median of its history is a regression ..."""
ADVICE_HISTORY_MIN = 3
"""... judged against at least this many earlier runs of the same command."""
NODE_CLASS_MEM_USABLE = 0.9
"""Share of a node class's memory a job can hold (the rest is the OS's)."""

# ---------------------------------------------------------------- the live view's memory (analyzer.online)
# A live view runs for weeks: what the online rules remember of processes is
# bounded in time and in count, so its memory does not grow with uptime.
LIVE_FORGET_S = 3600.0
"""A process not seen for this long is forgotten: its CPU time no longer counts
for its family when the online rules choose the run, and a family with no
process left is gone.  Families still running keep all their CPU time."""
LIVE_PRUNE_S = 300.0
"""How often (seconds of trace time) the online rules look for processes to forget:
a process goes between LIVE_FORGET_S and LIVE_FORGET_S + this after it was last seen."""
LIVE_MAX_PROCESSES = 4096
"""At most this many processes remembered; beyond it the least recently seen
are forgotten (down to three quarters of it, so a burst costs one clean-up)."""
LIVE_MAX_EVENTS = 200
"""Ended alarms kept for the live view's list (the newest); active ones are always kept."""
