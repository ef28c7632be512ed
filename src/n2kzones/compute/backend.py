"""Compute backends: where the heavy, embarrassingly parallel steps run.

A backend knows nothing of the domain. It offers one thing:

``map(fn, items, shared=...)``
    Run ``fn(item, **shared)`` for every item; yields ``(index, result)`` as results come
    in (any order). ``shared`` holds read-only objects every call needs (the zone layer,
    the kernel): the Dask backend ships them to each worker once.

and two facts its callers split work by: ``parallel_kernels`` (may a task's Numba kernel use
every thread?) and ``chunk_points`` (items per task when a caller splits an array).

:class:`LocalBackend` runs everything in this process (Numba uses all cores);
:class:`~n2kzones.compute.dask_backend.DaskBackend` runs on a Dask cluster. How deposition
and per-source maxima are split lives beside those algorithms, in
:mod:`n2kzones.deposition.distributed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from n2kzones.config import ComputeSettings

log = logging.getLogger(__name__)


class Backend(Protocol):
    """What a compute backend offers (see the module docstring)."""

    name: str
    #: Numba kernels called from ``map`` tasks may use all threads (local) or one (Dask).
    parallel_kernels: bool
    #: Items per task when a caller splits an array over tasks.
    chunk_points: int

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        shared: dict[str, Any] | None = None,
        name: str = "task",
    ) -> Iterator[tuple[int, Any]]: ...


class LocalBackend:
    """Everything in this process, in item order."""

    name = "local"
    parallel_kernels = True
    chunk_points = 2**62

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        shared: dict[str, Any] | None = None,
        name: str = "task",
    ) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(item, **(shared or {}))


def chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive chunks of at most ``size`` of ``n`` items (none for 0)."""
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def gather_ordered(results: Iterable[tuple[int, Any]], n: int) -> list[Any]:
    """Results of :meth:`Backend.map` in item order."""
    out: list[Any] = [None] * n
    for i, r in results:
        out[i] = r
    return out


@contextmanager
def open_backend(settings: ComputeSettings) -> Iterator[Backend]:
    """The backend of ``[compute]``; a Dask cluster is started (or connected to) and closed again."""
    if settings.backend == "local":
        yield LocalBackend()
        return
    from n2kzones.compute.dask_backend import DaskBackend, dask_client

    with dask_client(settings) as client:
        yield DaskBackend(client, settings)
