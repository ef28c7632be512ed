"""Deposition and per-source maxima split over a compute backend's workers.

:func:`deposition_at_points_on` splits the receptors into chunks, :func:`max_contribution_on`
the sources; each chunk runs the single-process function on a worker. Every chunk uses the
whole run's kernel lookup range (``lookup_range_m``), so each gives bitwise what one unsplit
call would, and the concatenated result equals the local one exactly.

On the local backend both call the single-process functions directly (Numba on all cores).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from n2kzones.compute import Backend, chunk_bounds, gather_ordered
from n2kzones.deposition.classes import class_deposition_at_points, class_max_contribution
from n2kzones.deposition.engine import deposition_at_points, max_pair_distance_m
from n2kzones.deposition.maxima import max_contribution


def _one_pass(sx, sy, e, rx, ry, kernel, classes=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
    """One process: the radial engine, or the class-aware sum when ``classes`` is given."""
    if classes is None:
        return deposition_at_points(sx, sy, e, rx, ry, kernel, **kwargs)
    table, src, rec = classes
    return class_deposition_at_points(sx, sy, e, rx, ry, table, src, rec, **kwargs)


def _one_max(sx, sy, e, rx, ry, kernel, classes=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
    if classes is None:
        return max_contribution(sx, sy, e, rx, ry, kernel, **kwargs)
    table, src, rec = classes
    return class_max_contribution(sx, sy, e, rx, ry, table, src, rec, **kwargs)


def lookup_range(sx: np.ndarray, sy: np.ndarray, rx: np.ndarray, ry: np.ndarray) -> float | None:
    """The lookup range (m) one unsplit call would use (None when there is nothing to compute)."""
    if len(sx) == 0 or len(rx) == 0:
        return None
    return max_pair_distance_m(sx, sy, rx, ry)


def deposition_at_points_on(
    backend: Backend | None,
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    receptor_x_m: np.ndarray,
    receptor_y_m: np.ndarray,
    kernel: Any,
    **kwargs: Any,
) -> np.ndarray:
    """:func:`~n2kzones.deposition.engine.deposition_at_points` (mol N/ha/yr) on ``backend``,
    in chunks of ``backend.chunk_points`` receptors."""
    if backend is None or backend.name == "local":
        return _one_pass(source_x_m, source_y_m, emission_kg_nh3, receptor_x_m, receptor_y_m, kernel, **kwargs)
    sx, sy = np.asarray(source_x_m, float), np.asarray(source_y_m, float)
    e = np.asarray(emission_kg_nh3, float)
    rx, ry = np.asarray(receptor_x_m, float), np.asarray(receptor_y_m, float)
    kwargs.setdefault("lookup_range_m", lookup_range(sx, sy, rx, ry))
    kwargs["parallel"] = backend.parallel_kernels
    classes = kwargs.pop("classes", None)
    bounds = chunk_bounds(rx.size, backend.chunk_points)
    # the class table and the sources' terms are shipped once (shared), receptor classes per chunk
    if classes is None:
        items = [(rx[a:b], ry[a:b], None) for a, b in bounds]
        table_and_sources = None
    else:
        table, src, rec = classes
        items = [(rx[a:b], ry[a:b], rec.take(np.arange(a, b))) for a, b in bounds]
        table_and_sources = (table, src)
    if not items:
        return _one_pass(sx, sy, e, rx, ry, kernel, classes=classes, **kwargs)
    shared = {"sources": (sx, sy, e), "kernel": kernel, "kwargs": kwargs, "classes": table_and_sources}
    parts = gather_ordered(backend.map(_deposition_chunk, items, shared=shared, name="receptors"), len(items))
    return np.concatenate(parts, axis=-1)


def max_contribution_on(
    backend: Backend | None,
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    receptor_x_m: np.ndarray,
    receptor_y_m: np.ndarray,
    kernel: Any,
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~n2kzones.deposition.maxima.max_contribution` on ``backend``, in chunks of
    ``backend.chunk_points`` sources; returns (largest contribution in mol N/ha/yr, receptor index)."""
    if backend is None or backend.name == "local":
        return _one_max(source_x_m, source_y_m, emission_kg_nh3, receptor_x_m, receptor_y_m, kernel, **kwargs)
    sx, sy = np.asarray(source_x_m, float), np.asarray(source_y_m, float)
    e = np.asarray(emission_kg_nh3, float)
    rx, ry = np.asarray(receptor_x_m, float), np.asarray(receptor_y_m, float)
    kwargs.setdefault("lookup_range_m", lookup_range(sx, sy, rx, ry))
    kwargs["workers"] = -1 if backend.parallel_kernels else 1
    classes = kwargs.pop("classes", None)
    items = [
        (sx[a:b], sy[a:b], e[a:b], None if classes is None else classes[1].subset(a, b))
        for a, b in chunk_bounds(sx.size, backend.chunk_points)
    ]
    if not items:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    table_and_receptors = None if classes is None else (classes[0], classes[2])
    shared = {"receptors": (rx, ry), "kernel": kernel, "kwargs": kwargs, "classes": table_and_receptors}
    parts = gather_ordered(backend.map(_max_chunk, items, shared=shared, name="rko-maxima"), len(items))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _deposition_chunk(
    item: tuple, *, sources: tuple, kernel: Any, kwargs: dict, classes: tuple | None
) -> np.ndarray:
    rx, ry, rec = item
    terms = None if classes is None else (*classes, rec)
    return _one_pass(*sources, rx, ry, kernel, classes=terms, **kwargs)


def _max_chunk(
    item: tuple, *, receptors: tuple, kernel: Any, kwargs: dict, classes: tuple | None
) -> tuple[np.ndarray, np.ndarray]:
    sx, sy, e, src = item
    terms = None if classes is None else (classes[0], src, classes[1])
    return _one_max(sx, sy, e, *receptors, kernel, classes=terms, **kwargs)
