"""keep_freed_memory: a worker's next node-day reuses the pages of the last.

glibc's thresholds cannot be put back once raised, so every tuning here happens in a
subprocess; pytest's own process is never tuned (tests/conftest.py keeps fleet runs in it
from doing so), and the module checks that."""
import platform
import subprocess
import sys

import pytest

from analyzer.heap import keep_freed_memory
from analyzer.parallel import iter_units
from tests.helpers import ROOT

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

ONCE = """
from analyzer.heap import keep_freed_memory
assert keep_freed_memory() is keep_freed_memory() is True
info = keep_freed_memory.cache_info()
print(info.misses, info.hits)
"""


def _python(code: str, *args: str) -> str:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                          cwd=ROOT, timeout=120).stdout


@pytest.fixture(autouse=True, scope="module")
def _pytest_heap_untouched():
    """keep_freed_memory is cached: an empty cache is a process where it never ran."""
    assert keep_freed_memory.cache_info().currsize == 0, "malloc was tuned in pytest's process before"
    yield
    assert keep_freed_memory.cache_info().currsize == 0, "malloc was tuned in pytest's process"


def test_freed_arrays_are_not_faulted_in_again():
    day = 20 * 500_000 * 8 // 4096               # pages of one round
    plain, kept = int(_python(FAULTS, "plain")), int(_python(FAULTS, "keep"))
    assert plain > 4 * day                       # each round's arrays mapped and zeroed afresh
    assert kept < 2 * day                        # the first round's only


def test_once_per_process():
    assert _python(ONCE).split() == ["1", "1"]   # the second call is the cached first


def test_a_fleet_run_inside_pytest_leaves_its_heap_alone():
    """One worker summarises in the calling process and tunes it (analyzer.parallel):
    not when that process is pytest's."""
    assert list(iter_units([], workers=1)) == []
    assert keep_freed_memory.cache_info().currsize == 0
