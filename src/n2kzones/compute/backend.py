"""Compute backends: where the heavy, embarrassingly parallel steps run.

A backend offers three things the stages need:

``map(fn, items, shared=...)``
    Run ``fn(item, **shared)`` for every item; yields ``(index, result)`` as results come
    in (any order). ``shared`` holds read-only objects every call needs (the zone layer,
    the kernel): the Dask backend ships them to each worker once.
``deposition_at_points(...)``
    :func:`n2kzones.deposition.deposition_at_points`, split over receptors.
``max_contribution(...)``
    :func:`n2kzones.rko.max_contribution`, split over sources.

:class:`LocalBackend` runs everything in this process (Numba uses all cores);
:class:`~n2kzones.compute.dask_backend.DaskBackend` runs on a Dask cluster. Split runs use
the whole run's kernel lookup range, so every chunk computes bitwise what one call would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from n2kzones.deposition.engine import deposition_at_points, max_pair_distance_m

if TYPE_CHECKING:
    from n2kzones.config import Config

log = logging.getLogger(__name__)


class Backend(Protocol):
    """What a compute backend offers (see the module docstring)."""

    name: str
    #: Numba kernels called from ``map`` tasks may use all threads (local) or one (Dask).
    parallel_kernels: bool

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        shared: dict[str, Any] | None = None,
        name: str = "task",
    ) -> Iterator[tuple[int, Any]]: ...

    def deposition_at_points(self, *args: Any, **kwargs: Any) -> np.ndarray: ...

    def max_contribution(self, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]: ...


class LocalBackend:
    """Everything in this process, in item order."""

    name = "local"
    parallel_kernels = True

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

    def deposition_at_points(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return deposition_at_points(*args, **kwargs)

    def max_contribution(self, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        from n2kzones.rko import max_contribution

        return max_contribution(*args, **kwargs)


def chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive chunks of at most ``size`` of ``n`` items (none for 0)."""
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def gather_ordered(results: Iterable[tuple[int, Any]], n: int) -> list[Any]:
    """Results of :meth:`Backend.map` in item order."""
    out: list[Any] = [None] * n
    for i, r in results:
        out[i] = r
    return out


def lookup_range(sx: np.ndarray, sy: np.ndarray, rx: np.ndarray, ry: np.ndarray) -> float | None:
    """The lookup range one unsplit call would use (None when there is nothing to compute)."""
    if len(sx) == 0 or len(rx) == 0:
        return None
    return max_pair_distance_m(sx, sy, rx, ry)


@contextmanager
def open_backend(cfg: Config) -> Iterator[Backend]:
    """The configured backend; a Dask cluster is started (or connected to) and closed again."""
    if cfg.compute.engine == "local":
        yield LocalBackend()
        return
    from n2kzones.compute.dask_backend import DaskBackend, dask_client

    with dask_client(cfg.compute) as client:
        yield DaskBackend(client, cfg.compute)
