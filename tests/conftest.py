"""Session-wide: no test reads or fills the user's own paratune cache, nor tunes pytest's own
malloc; the recorder fixtures of tests/collector and tests/reliability."""
import os
import subprocess

import pytest

from tests.helpers import Recorder


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    saved = os.environ.get("PARATUNE_CACHE")
    os.environ["PARATUNE_CACHE"] = str(tmp_path_factory.mktemp("paratune-cache"))
    yield
    if saved is None:
        os.environ.pop("PARATUNE_CACHE", None)
    else:
        os.environ["PARATUNE_CACHE"] = saved


@pytest.fixture(autouse=True, scope="session")
def _malloc_as_glibc_sets_it():
    """A fleet run of one worker tunes malloc in its own process, for good (analyzer.heap: there
    is no undo).  In pytest's process that would change the heap of every later test, so here it
    does what it does where there is no mallopt: nothing, returning False (``bool()``, which
    pickles for a pool's initializer too).  tests/analyzer/test_heap.py measures the tuning
    itself in subprocesses and checks that this process was never tuned."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("analyzer.parallel.keep_freed_memory", bool)
        yield


@pytest.fixture
def recorders():
    """``recorders(out, *args)`` starts a real ``paratune record``; any still running at the end
    is killed."""
    started = []
    yield lambda *a, **k: started.append(Recorder(*a, **k)) or started[-1]
    for r in started:
        r.kill()


@pytest.fixture
def fast_dir(tmp_path):
    """A tmpfs when we may mount one: SIGKILL keeps what write() returned for, so a disk's
    fsync latency would only add noise to the loss bound; else plain tmp_path."""
    mnt = tmp_path / "mem"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)],
                      capture_output=True).returncode:
        yield tmp_path
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
