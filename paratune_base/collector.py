"""Keep Python's garbage collector off objects that live as long as the process.

Once numba, polars and pyarrow are imported, some 130,000 tracked objects
exist that are never garbage, and every full collection walks all of them:
about 40 ms over `analyze` of a day, and 0.2 s at shutdown, where Python
runs full collections over whatever is still alive.  A frozen object is
still freed when its last reference goes; only the cycle search skips it.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def spare_what_exists():
    """Inside the block, collections skip every object that existed at its
    start (call it once the heavy imports are done); afterwards they are
    collected as usual again, so a caller that stays alive (tests, a
    notebook) keeps a normal collector."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def spare_at_exit() -> None:
    """Freeze everything for the interpreter's shutdown: for a process about
    to exit, where the last collections would only walk live objects."""
    gc.freeze()
