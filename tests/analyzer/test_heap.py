"""keep_freed_memory: a worker's next node-day reuses the pages of the last."""
import platform
import subprocess
import sys

import pytest

from analyzer.heap import keep_freed_memory

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc only")

FAULTS = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from analyzer.heap import keep_freed_memory
    assert keep_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):                 # ten node-days: 80 MiB of arrays alive at once, then freed
    arrays = [np.ones(500_000) for _ in range(20)]
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_freed_arrays_are_not_faulted_in_again():
    day = 20 * 500_000 * 8 // 4096               # pages of one round
    plain, kept = _page_faults("plain"), _page_faults("keep")
    assert plain > 4 * day                       # each round's arrays mapped and zeroed afresh
    assert kept < 2 * day                        # the first round's only


def test_once_per_process():
    assert keep_freed_memory() is keep_freed_memory() is True
