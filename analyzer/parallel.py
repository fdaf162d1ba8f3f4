"""Run ``fleet.summarize`` over many units: in this process, in a local
process pool, or on a Dask distributed cluster.

The three give the same summaries (``summarize`` is a pure function of file
paths and ``fleet.assemble`` orders its input), so a site can test on a
laptop and run on its cluster.  Work is handed out one unit at a time and
only the small summaries come back: memory stays that of one node-day per
worker, whatever the number of units.  Local workers (and this process when
it is the only one) keep freed memory for their next unit (``analyzer.heap``);
Dask workers are left as their cluster set them up, since other work shares them.
"""
from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed

from analyzer.fleet import Unit, summarize
from analyzer.heap import keep_freed_memory
from paratune.errors import ParatuneError

DASK_CONNECT_TIMEOUT = "10s"


def local_workers() -> int:
    """Cores this process may run on (the affinity mask, as Slurm sets it)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:          # not Linux
        return max(os.cpu_count() or 1, 1)


def run_units(units: list[Unit], start: str | None = None, end: str | None = None,
              workers: int | None = None, scheduler: str | None = None,
              done: Callable[[dict], None] | None = None) -> list[dict]:
    """Summaries of every unit, in completion order; ``done`` is called with
    each as it arrives (for a progress bar)."""
    work = functools.partial(summarize, start=start, end=end)
    done = done or (lambda result: None)
    if scheduler:
        return _on_dask(units, work, scheduler, done)
    workers = local_workers() if workers is None else workers
    if workers < 1:
        raise ParatuneError(f"--workers {workers}: need at least 1")
    if workers == 1 or len(units) <= 1:
        keep_freed_memory()
        out = []
        for u in units:
            out.append(work(u))
            done(out[-1])
        return out
    return _in_pool(units, work, min(workers, len(units)), done)


THREAD_ENV = ("POLARS_MAX_THREADS", "OMP_NUM_THREADS")
"""Thread pools of polars and Arrow (which reads OMP_NUM_THREADS), sized when they load."""


def _in_pool(units, work, workers: int, done) -> list[dict]:
    # forkserver: workers start from a clean interpreter, not a fork of a
    # parent that runs a progress-bar thread.  They inherit the environment
    # when the server starts, so each gets its share of the cores for its
    # libraries' threads (5-8 % faster on 2 cores than every worker using all)
    ctx = multiprocessing.get_context("forkserver")
    share = str(max(1, local_workers() // workers))
    saved = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update({k: os.environ.get(k) or share for k in THREAD_ENV})
    try:
        return _collect(units, work, workers, ctx, done)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _collect(units, work, workers: int, ctx, done) -> list[dict]:
    out = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=keep_freed_memory) as pool:
        futures = [pool.submit(work, u) for u in units]
        try:
            for f in as_completed(futures):
                out.append(f.result())
                done(out[-1])
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return out


def _on_dask(units, work, address: str, done) -> list[dict]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ParatuneError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ParatuneError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    out = []
    with client:
        futures = client.map(work, units, pure=False)
        try:
            for f in dask_completed(futures):
                out.append(f.result())
                done(out[-1])
        except BaseException:
            client.cancel(futures)
            raise
    return out
