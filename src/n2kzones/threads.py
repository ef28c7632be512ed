"""Threads for GEOS work in this process: shapely's vectorised operations release the GIL.

:func:`thread_map` runs independent pieces of geometry work (a chunk of parcels, a strip of
a layer) on this machine's cores and returns their results in input order, so a caller that
concatenates them gets the same arrays as a serial loop: the result never depends on the
number of threads.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

T = TypeVar("T")
R = TypeVar("R")

#: At most this many threads (GEOS work does not gain from more on one machine's memory bus).
MAX_THREADS = 8


def available_threads() -> int:
    """Threads for GEOS work here, at most :data:`MAX_THREADS`.

    ``N2KZONES_THREADS`` if set; in a Dask worker, the worker's own threads (the cluster
    already spreads the work over the cores); else the cores this process may run on (its
    CPU affinity).
    """
    env = os.environ.get("N2KZONES_THREADS", "").strip()
    if env:
        return max(1, min(int(env), MAX_THREADS))
    distributed = sys.modules.get("distributed")  # only where Dask is already in use
    if distributed is not None:
        try:
            return max(1, min(distributed.get_worker().state.nthreads, MAX_THREADS))
        except (ValueError, AttributeError):  # not in a worker
            pass
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_THREADS))


def thread_map(fn: Callable[[T], R], items: Sequence[T], *, threads: int | None = None) -> list[R]:
    """``[fn(x) for x in items]``, on up to ``threads`` threads (default :func:`available_threads`).

    Results are in the order of ``items``; an exception in one call is raised here.
    """
    n = available_threads() if threads is None else max(1, threads)
    if n == 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(n, len(items))) as pool:
        return list(pool.map(fn, items))


#: Arrays shorter than this are not split by :func:`array_map` (a thread's start costs more).
ARRAY_MAP_MIN = 50_000


def thread_chunks(values: np.ndarray, *, threads: int | None = None) -> list[np.ndarray]:
    """``values`` in one contiguous chunk per thread (one chunk if short: under
    :data:`ARRAY_MAP_MIN`), in order: ``np.concatenate`` of them is ``values``."""
    n = available_threads() if threads is None else max(1, threads)
    if n == 1 or len(values) < ARRAY_MAP_MIN:
        return [values]
    return np.array_split(values, n)


def array_map(fn: Callable[[np.ndarray], np.ndarray], values: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """``fn(values)`` for an element-wise vectorised ``fn`` (``shapely.is_valid``), on up to
    ``threads`` threads: the results of :func:`thread_chunks` are joined in order, so the
    result is the same array as ``fn(values)``.
    """
    parts = thread_chunks(values, threads=threads)
    if len(parts) == 1:
        return fn(values)
    return np.concatenate(thread_map(fn, parts, threads=len(parts)))


#: Seconds between two looks of :func:`exit_with_parent` at the parent process.
PARENT_POLL_S = 1.0


def exit_with_parent(poll_s: float = PARENT_POLL_S) -> None:
    """In a worker process: end it soon after its parent process has gone.

    A pool's worker waits for work on a pipe whose other end it holds itself, so a parent
    that is killed (an interrupted run, a timeout) would leave its workers waiting forever,
    each holding the layers it read. A daemon thread looks every ``poll_s`` seconds whether
    the process has been handed to another parent, and then ends it. Call it in the pool's
    initializer.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="n2kzones-parent-watch", daemon=True).start()
