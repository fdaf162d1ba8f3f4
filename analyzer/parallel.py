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
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

from analyzer.fleet import summarize
from analyzer.fleet_units import Unit
from analyzer.heap import keep_freed_memory
from paratune_base.errors import ParatuneError

DASK_CONNECT_TIMEOUT = "10s"


def local_workers() -> int:
    """Cores this process may run on (the affinity mask, as Slurm sets it)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:          # not Linux
        return max(os.cpu_count() or 1, 1)


def run_units(units: list[Unit], start: str | None = None, end: str | None = None,
              workers: int | None = None, scheduler: str | None = None) -> list[dict]:
    """Summaries of every unit, in completion order."""
    return list(iter_units(units, start, end, workers, scheduler))


def iter_units(units: list[Unit], start: str | None = None, end: str | None = None,
               workers: int | None = None, scheduler: str | None = None) -> Iterator[dict]:
    """Summaries of every unit as each is done: the caller keeps what it
    needs of one before the next arrives (a list of a thousand node-days'
    summaries as Python dicts is ~140 MB).  Nothing starts before the first
    is asked for; a caller that stops early (an error, ^C) cancels the units
    not yet started."""
    work = functools.partial(summarize, start=start, end=end)
    if scheduler:
        yield from _on_dask(units, work, scheduler)
        return
    workers = local_workers() if workers is None else workers
    if workers < 1:
        raise ParatuneError(f"--workers {workers}: need at least 1")
    if workers == 1 or len(units) <= 1:
        keep_freed_memory()
        yield from map(work, units)
        return
    yield from _in_pool(units, work, min(workers, len(units)))


THREAD_ENV = ("POLARS_MAX_THREADS", "OMP_NUM_THREADS")
"""Thread pools of polars and Arrow (which reads OMP_NUM_THREADS), sized when they load."""


def _in_pool(units, work, workers: int) -> Iterator[dict]:
    # forkserver: workers start from a clean interpreter, not a fork of a
    # parent that runs a progress-bar thread.  They inherit the environment
    # when the server starts, so each gets its share of the cores for its
    # libraries' threads (5-8 % faster on 2 cores than every worker using all)
    ctx = multiprocessing.get_context("forkserver")
    share = str(max(1, local_workers() // workers))
    saved = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update({k: os.environ.get(k) or share for k in THREAD_ENV})
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=keep_freed_memory)
    try:
        try:
            # the server (and its environment) starts with the first submit; only
            # as_completed holds the futures, and lets go of each once yielded
            done = as_completed([pool.submit(work, u) for u in units])
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        for f in done:
            yield f.result()
    except BaseException:          # an error, ^C, or the caller stopped early
        # waits for the units running (a node-day each at most) and cancels
        # the rest; without waiting the pool may be collected before its
        # manager thread reads the cancel, and then every unit still runs
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()


def _on_dask(units, work, address: str) -> Iterator[dict]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ParatuneError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ParatuneError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        # only as_completed holds the futures: the cluster lets go of each summary once it is here
        done = dask_completed(client.map(work, units, pure=False))
        try:
            for f in done:
                yield f.result()
        except BaseException:
            with done.lock:              # Dask's event loop updates it
                pending = list(done.futures)
            client.cancel(pending)
            raise
