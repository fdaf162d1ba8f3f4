"""Keep freed memory for the next node-day in a process that analyses many.

A node-day allocates a few hundred MB of arrays and frees them.  glibc hands every
block above its mmap threshold straight back to the kernel, so the next
node-day faults the same pages in again, zeroed: a tenth of a fleet worker's
time, most of it in the kernel, and it scales badly with workers.  Raising
the mmap and trim thresholds keeps those pages in the heap for reuse: the
process's memory stays at its largest node-day's instead of going back down
between node-days, which is what a fleet worker that analyses nothing else
wants (``analyzer.parallel`` calls this in its local workers only).
"""
from __future__ import annotations

import ctypes
import functools

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 2**20
"""glibc's ceiling for the mmap threshold on 64-bit (larger blocks are always mapped)."""
TRIM_THRESHOLD = 2**31 - 1
"""Free memory kept at the top of the heap before any is given back (mallopt takes an int)."""


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's thresholds once per process; False where there is no
    mallopt or it refuses (musl's always does)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt       # the C library this process runs on
    except (OSError, AttributeError):             # no mallopt (macOS): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) & bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
