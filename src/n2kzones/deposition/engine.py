"""Public deposition functions: validate inputs, pick an engine, return arrays.

Units: coordinates in m (RD New, EPSG:28992), emissions in kg NH3/yr per source, results in
mol N/ha/yr. The kernel gives mol N/ha/yr per kg NH3/yr at a distance.

Engines of the direct sum (identical pairs, identical kernel lookup):

``"numba"``
    Numba gather over receptors (:mod:`._numba`: one kernel for every case, run on
    ``numba.get_num_threads()`` threads by receptor block), with a cell list when a cut-off
    is given. Bitwise equal to its serial run (``parallel=False``).
``"numpy"``
    Plain NumPy reference (:mod:`._reference`), slow; for testing.

Grids can also use ``method="fft"`` (:mod:`.fft`), a fast approximation (p99 relative error
at most 2 % against the direct path, typically well below 1 %).

Near the source the kernel's point value is replaced by an area average so totals do not
blow up: on grids, pairs closer than half a cell take the kernel's average over one cell
(:meth:`RadialKernel.cell_average`); at points, pairs closer than ``receptor_radius_m`` take
the average over a disc of that radius (default: 1 ha, 56.4 m). The wind-rose weight is not
applied to these near-source values.

Sources far outside the grid or away from the receptors still contribute in the direct
path; with a cut-off, pairs farther apart than the cut-off are skipped (exactly, in every
engine). For the FFT path see :mod:`.fft`.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from n2kzones.deposition import _numba, _reference
from n2kzones.deposition.fft import deposition_fft
from n2kzones.deposition.kernel import (
    HECTARE_DISC_RADIUS_M,
    KernelLookup,
    LookupStack,
    RadialKernel,
    WindRose,
)
from n2kzones.errors import InputError
from n2kzones.io.grid import DEFAULT_MEMORY_BUDGET_GIB, GridSpec

logger = logging.getLogger(__name__)

ENGINES = ("numba", "numpy")
METHODS = ("direct", "fft")
OUTSIDE_SOURCES = ("raise", "drop")
#: Cell-list cells per cut-off length (cells of side cutoff/4: a receptor scans ~9 rows).
CELLS_PER_CUTOFF = 4
#: Upper bound on cell-list cells per axis (coarser cells beyond that).
MAX_CELLS_PER_AXIS = 1024


# -- public API ----------------------------------------------------------------------------
def deposition_at_points(
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    receptor_x_m: np.ndarray,
    receptor_y_m: np.ndarray,
    kernel: RadialKernel,
    *,
    wind_rose: WindRose | None = None,
    cutoff_m: float | None = None,
    groups: np.ndarray | None = None,
    n_groups: int | None = None,
    engine: Literal["numba", "numpy"] = "numba",
    receptor_radius_m: float | None = None,
    parallel: bool = True,
    lookup_range_m: float | None = None,
) -> np.ndarray:
    """Deposition at point receptors, summed over all sources.

    Parameters
    ----------
    source_x_m, source_y_m
        Source coordinates in m (EPSG:28992), shape ``(n_sources,)``.
    emission_kg_nh3
        Emission per source in kg NH3/yr, >= 0.
    receptor_x_m, receptor_y_m
        Receptor coordinates in m (EPSG:28992), shape ``(n_receptors,)``.
    kernel
        Radial kernel (mol N/ha/yr per kg NH3/yr), e.g. :func:`default_kernel`.
    wind_rose
        Direction weights (default: isotropic).
    cutoff_m
        Ignore pairs farther apart than this, in m (default: no cut-off; AERIUS uses 25 km).
    groups
        Integer group per source in ``0 .. n_groups-1`` (e.g. inside zone / outside any zone /
        sector); the result is then split by group in one pass.
    n_groups
        Number of groups (default ``groups.max() + 1``).
    engine
        ``"numba"`` (fast) or ``"numpy"`` (reference).
    receptor_radius_m
        Pairs closer than this take the kernel's average over a disc of this radius, in m.
        Default: the radius of a 1 ha disc (56.4 m, an AERIUS hexagon); 0 gives point values.
    parallel
        Use all Numba threads (bitwise the same result as ``False``).
    lookup_range_m
        Largest distance (m) the kernel lookup table covers. Default: the diagonal of the
        bounding box of sources and receptors (or the cut-off if smaller). A run split into
        chunks of receptors passes the whole run's value so that every chunk uses the same
        table and the result is bitwise the same as in one call.

    Returns
    -------
    numpy.ndarray
        Deposition in mol N/ha/yr, shape ``(n_receptors,)``, or ``(n_groups, n_receptors)``
        when ``groups`` is given.
    """
    xs, ys, es = _validate_sources(source_x_m, source_y_m, emission_kg_nh3)
    rx = _coords("receptor_x_m", receptor_x_m)
    ry = _coords("receptor_y_m", receptor_y_m)
    if rx.size != ry.size:
        raise InputError(f"receptor_x_m has {rx.size} values but receptor_y_m has {ry.size}")
    _check_common(kernel, wind_rose, cutoff_m, engine)
    gs, ng = _validate_groups(groups, n_groups, xs.size)
    if receptor_radius_m is None:
        radius = HECTARE_DISC_RADIUS_M
    else:
        radius = float(receptor_radius_m)
        if not (math.isfinite(radius) and radius >= 0):
            raise InputError(
                f"receptor_radius_m must be a finite number >= 0 m, got {receptor_radius_m!r}"
            )
    lu = kernel.lookup(lookup_distance_m(rx, ry, xs, ys, _lookup_range(lookup_range_m), cutoff_m))
    out = _direct(
        rx, ry, xs, ys, es, gs, ng, lu, kernel.disc_average(radius), wind_rose, cutoff_m,
        radius * radius, engine, parallel,
    )
    return out if groups is not None else out[0]


def deposition_on_grid(
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    kernel: RadialKernel,
    grid: GridSpec,
    *,
    method: Literal["direct", "fft"] = "direct",
    wind_rose: WindRose | None = None,
    cutoff_m: float | None = None,
    groups: np.ndarray | None = None,
    n_groups: int | None = None,
    engine: Literal["numba", "numpy"] = "numba",
    parallel: bool = True,
    fft_pad_m: float | None = None,
    fft_near_cells: int = 3,
    outside_sources: Literal["raise", "drop"] = "raise",
    memory_budget_gib: float = DEFAULT_MEMORY_BUDGET_GIB,
) -> np.ndarray:
    """Deposition at the cell centres of a grid (class-aware grids:
    :func:`~n2kzones.deposition.classes.class_deposition_on_grid`).

    Parameters
    ----------
    source_x_m, source_y_m, emission_kg_nh3, kernel, wind_rose, cutoff_m, groups, n_groups
        As in :func:`deposition_at_points`.
    grid
        Output grid (EPSG:28992).
    method
        ``"direct"`` (exact source positions; pairs closer than half a cell take the
        kernel's cell average) or ``"fft"`` (cloud-in-cell splatting and FFT convolution,
        exact pair values near each source; p99 relative error <= 2 %).
    engine, parallel
        Engine of the direct method (ignored by ``"fft"``).
    fft_pad_m
        FFT only, without a cut-off: sources up to this many m outside the grid are included
        (default 0). With a cut-off the pad is the cut-off.
    fft_near_cells
        FFT only: cells within this many cells of a source get the exact pair value of the
        direct path instead of the cloud-in-cell approximation (0 = pure CIC).
    outside_sources
        FFT only, without a cut-off: ``"raise"`` (default) or ``"drop"`` (logged) for sources
        beyond the pad.
    memory_budget_gib
        Raise :class:`~n2kzones.errors.GridTooLargeError` if the computation would need more.

    Returns
    -------
    numpy.ndarray
        Deposition in mol N/ha/yr, shape ``(n_rows, n_cols)`` with row 0 = north, or
        ``(n_groups, n_rows, n_cols)`` when ``groups`` is given.
    """
    if not isinstance(grid, GridSpec):
        raise InputError(f"grid must be a GridSpec, got {type(grid).__name__}")
    xs, ys, es = _validate_sources(source_x_m, source_y_m, emission_kg_nh3)
    _check_common(kernel, wind_rose, cutoff_m, engine)
    _check_choice("method", method, METHODS)
    _check_choice("outside_sources", outside_sources, OUTSIDE_SOURCES)
    gs, ng = _validate_groups(groups, n_groups, xs.size)
    if not (_is_number(memory_budget_gib) and memory_budget_gib > 0):
        raise InputError(f"memory_budget_gib must be > 0, got {memory_budget_gib!r}")
    if method == "fft":
        if cutoff_m is not None:
            pad = float(cutoff_m)
        else:
            pad = 0.0 if fft_pad_m is None else float(fft_pad_m)
            if not (math.isfinite(pad) and pad >= 0):
                raise InputError(f"fft_pad_m must be a finite number >= 0 m, got {fft_pad_m!r}")
        if not isinstance(fft_near_cells, int | np.integer) or fft_near_cells < 0:
            raise InputError(f"fft_near_cells must be an integer >= 0, got {fft_near_cells!r}")
        t0 = time.perf_counter()
        out = deposition_fft(
            xs,
            ys,
            es,
            gs,
            ng,
            kernel,
            grid,
            wind_rose=wind_rose,
            cutoff_m=cutoff_m,
            pad_m=pad,
            outside_sources=outside_sources,
            memory_budget_gib=memory_budget_gib,
            near_cells=int(fft_near_cells),
        )
        logger.debug(
            "FFT deposition on %d x %d cells in %.2f s",
            grid.n_rows,
            grid.n_cols,
            time.perf_counter() - t0,
        )
    else:
        grid.check_memory(
            16.0 + 8.0 * ng, memory_budget_gib=memory_budget_gib, what="direct deposition grid"
        )
        rx, ry = grid.cell_centre_points()
        half = grid.cell_m / 2.0
        lu = kernel.lookup(lookup_distance_m(rx, ry, xs, ys, None, cutoff_m))
        flat = _direct(
            rx, ry, xs, ys, es, gs, ng, lu, kernel.cell_average(grid.cell_m), wind_rose,
            cutoff_m, half * half, engine, parallel,
        )
        out = flat.reshape(ng, grid.n_rows, grid.n_cols)
    return out if groups is not None else out[0]


# -- validation ------------------------------------------------------------------------------
def _is_number(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise InputError(
            f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}"
        )


def _coords(name: str, a: object) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            f"{name} must be numbers (m, EPSG:28992), got {type(a).__name__}"
        ) from None
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(
            f"{name} has {int(bad.sum())} NaN or infinite values (first at index "
            f"{int(np.flatnonzero(bad)[0])}); coordinates must be finite metres in EPSG:28992, "
            "drop or fix those rows"
        )
    return np.ascontiguousarray(arr)


def _validate_sources(x: object, y: object, e: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs = _coords("source_x_m", x)
    ys = _coords("source_y_m", y)
    try:
        es = np.ascontiguousarray(np.asarray(e, dtype=np.float64))
    except (TypeError, ValueError):
        raise InputError(
            f"emission_kg_nh3 must be numbers (kg NH3/yr), got {type(e).__name__}"
        ) from None
    if es.ndim != 1 or not (xs.size == ys.size == es.size):
        raise InputError(
            f"source_x_m, source_y_m and emission_kg_nh3 must be 1-D of equal length, got "
            f"{xs.size}, {ys.size} and shape {es.shape}"
        )
    bad = np.isnan(es)
    if bad.any():
        raise InputError(
            f"emission_kg_nh3 has {int(bad.sum())} NaN values "
            f"(first at index {int(np.flatnonzero(bad)[0])}); "
            "fill them (kg NH3/yr) or drop those sources"
        )
    bad = ~np.isfinite(es) | (es < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"emission_kg_nh3 must be finite and >= 0 kg NH3/yr; {int(bad.sum())} values are not "
            f"(first at index {i}: {es[i]})"
        )
    return xs, ys, es


def _validate_groups(
    groups: object, n_groups: int | None, n_sources: int
) -> tuple[np.ndarray, int]:
    if groups is None:
        if n_groups is not None:
            raise InputError(
                "n_groups was given without groups; pass groups (one integer per source)"
            )
        return np.zeros(n_sources, dtype=np.int64), 1
    g = np.asarray(groups)
    if g.ndim != 1 or g.size != n_sources:
        raise InputError(
            f"groups must be 1-D with one value per source ({n_sources}), got shape {g.shape}"
        )
    if g.size and not np.issubdtype(g.dtype, np.integer):
        raise InputError(f"groups must be integers 0..n_groups-1, got dtype {g.dtype}")
    g = np.ascontiguousarray(g, dtype=np.int64)
    if n_groups is None:
        n_groups = int(g.max()) + 1 if g.size else 1
    if not isinstance(n_groups, int | np.integer) or n_groups < 1:
        raise InputError(f"n_groups must be an integer >= 1, got {n_groups!r}")
    if g.size and (g.min() < 0 or g.max() >= n_groups):
        raise InputError(f"groups must lie in 0..{n_groups - 1}, got values {g.min()}..{g.max()}")
    return g, int(n_groups)


def _check_common(kernel: object, wind_rose: object, cutoff_m: object, engine: object) -> None:
    if not isinstance(kernel, RadialKernel):
        raise InputError(
            f"kernel must be a RadialKernel (e.g. default_kernel()), got {type(kernel).__name__}"
        )
    if wind_rose is not None and not isinstance(wind_rose, WindRose):
        raise InputError(f"wind_rose must be a WindRose or None, got {type(wind_rose).__name__}")
    if cutoff_m is not None and not (
        _is_number(cutoff_m) and math.isfinite(cutoff_m) and cutoff_m > 0
    ):
        raise InputError(f"cutoff_m must be None or a finite number > 0 m, got {cutoff_m!r}")
    _check_choice("engine", engine, ENGINES)


def _lookup_range(lookup_range_m: object) -> float | None:
    if lookup_range_m is None:
        return None
    if not (_is_number(lookup_range_m) and math.isfinite(lookup_range_m) and lookup_range_m > 0):
        raise InputError(f"lookup_range_m must be None or a finite number > 0 m, got {lookup_range_m!r}")
    return float(lookup_range_m)


# -- direct sum ------------------------------------------------------------------------------
def max_pair_distance_m(
    source_x_m: np.ndarray, source_y_m: np.ndarray, receptor_x_m: np.ndarray, receptor_y_m: np.ndarray
) -> float:
    """Diagonal (m) of the bounding box of sources and receptors: the default lookup range."""
    return _max_pair_distance(
        np.asarray(receptor_x_m, float), np.asarray(receptor_y_m, float),
        np.asarray(source_x_m, float), np.asarray(source_y_m, float),
    )


def _max_pair_distance(rx: np.ndarray, ry: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> float:
    x_lo, x_hi = min(rx.min(), xs.min()), max(rx.max(), xs.max())
    y_lo, y_hi = min(ry.min(), ys.min()), max(ry.max(), ys.max())
    return float(math.hypot(x_hi - x_lo, y_hi - y_lo))


def _cell_list(
    xs: np.ndarray, ys: np.ndarray, cutoff_m: float
) -> tuple[np.ndarray, float, float, float, int, int, np.ndarray]:
    """Sort order, origin, cell side and CSR start index of square source cells."""
    x0, y0 = float(xs.min()), float(ys.min())
    wx, wy = float(xs.max()) - x0, float(ys.max()) - y0
    h = max(cutoff_m / CELLS_PER_CUTOFF, wx / MAX_CELLS_PER_AXIS, wy / MAX_CELLS_PER_AXIS, 1e-3)
    ncx, ncy = int(wx // h) + 1, int(wy // h) + 1
    cx = np.minimum(((xs - x0) // h).astype(np.int64), ncx - 1)
    cy = np.minimum(((ys - y0) // h).astype(np.int64), ncy - 1)
    cid = cy * ncx + cx
    order = np.argsort(cid, kind="stable")
    start = np.zeros(ncx * ncy + 1, dtype=np.int64)
    np.cumsum(np.bincount(cid, minlength=ncx * ncy), out=start[1:])
    return order, x0, y0, h, ncx, ncy, start


def lookup_distance_m(
    rx: np.ndarray,
    ry: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    lookup_range_m: float | None,
    cutoff_m: float | None,
) -> float:
    """Distance (m) a direct sum's lookup table must cover: the given range (else the
    bounding-box diagonal of sources and receptors), at most the cut-off."""
    if lookup_range_m is not None:
        max_d = float(lookup_range_m)
    else:
        max_d = _max_pair_distance(rx, ry, xs, ys) if rx.size and xs.size else 0.0
    return max_d if cutoff_m is None else min(max_d, float(cutoff_m))


@dataclass(frozen=True)
class SortedSources:
    """Sources of a direct sum, sorted into the engine's cell list once and reused.

    ``xs, ys`` in m, ``es`` in kg NH3/yr, ``gs`` group per source, ``cells`` the packed cell
    list of :mod:`._numba` (one cell without a cut-off).
    """

    xs: np.ndarray
    ys: np.ndarray
    es: np.ndarray
    gs: np.ndarray
    n_groups: int
    cutoff_m: float | None
    cells: tuple

    @classmethod
    def prepare(
        cls,
        source_x_m: np.ndarray,
        source_y_m: np.ndarray,
        emission_kg_nh3: np.ndarray,
        groups: np.ndarray | None = None,
        n_groups: int = 1,
        cutoff_m: float | None = None,
    ) -> SortedSources:
        xs = np.asarray(source_x_m, dtype=np.float64)
        ys = np.asarray(source_y_m, dtype=np.float64)
        es = np.asarray(emission_kg_nh3, dtype=np.float64)
        gs = np.zeros(xs.size, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
        if cutoff_m is None or xs.size == 0:
            cells = _numba.no_cells(xs.size)
        else:
            order, x0, y0, h, ncx, ncy, start = _cell_list(xs, ys, float(cutoff_m))
            xs, ys, es, gs = xs[order], ys[order], es[order], gs[order]
            cells = _numba.pack_cells(float(cutoff_m), x0, y0, h, ncx, ncy, start)
        return cls(xs, ys, es, gs, int(n_groups), cutoff_m, cells)


def deposition_by_table(
    sources: SortedSources,
    receptor_x_m: np.ndarray,
    receptor_y_m: np.ndarray,
    stack: LookupStack,
    table_index: np.ndarray,
    *,
    wind_rose: WindRose | None,
    s_near_m2: float,
    engine: str = "numba",
    parallel: bool = True,
) -> np.ndarray:
    """Direct sum with a kernel of its own per receptor, shape ``(n_groups, n_receptors)``.

    Receptor ``i`` takes row ``table_index[i]`` of ``stack`` (its lookup table and its
    near-source value, mol N/ha/yr per kg NH3/yr, for pairs closer than ``sqrt(s_near_m2)``
    m); the class-aware model passes one blend of class kernels per receptor group. Inputs
    are taken as validated.
    """
    rx = np.asarray(receptor_x_m, dtype=np.float64)
    ry = np.asarray(receptor_y_m, dtype=np.float64)
    tab = np.asarray(table_index, dtype=np.int64)
    src = sources
    out = np.zeros((src.n_groups, rx.size))
    if rx.size == 0 or src.xs.size == 0:
        return out
    rose = None if wind_rose is None or wind_rose.is_isotropic else wind_rose
    c2 = math.inf if src.cutoff_m is None else float(src.cutoff_m) ** 2
    if engine == "numpy":
        for t in np.unique(tab):
            sel = np.flatnonzero(tab == t)
            out[:, sel] = _reference.gather_reference(
                rx[sel], ry[sel], src.xs, src.ys, src.es, src.gs, src.n_groups, stack.lookup(int(t)),
                float(s_near_m2), float(stack.k_near[t]), c2, rose,
            )
        return out
    luts, nears = _numba.pack_stack(stack, s_near_m2, c2)
    grouped = None if src.n_groups == 1 else src.gs
    _numba.gather(
        (rx, ry, tab), (src.xs, src.ys, src.es, grouped), (luts, nears, _numba.pack_rose(rose)),
        src.cells, out, parallel,
    )
    return out


def _direct(
    rx: np.ndarray,
    ry: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    es: np.ndarray,
    gs: np.ndarray,
    n_groups: int,
    lookup: KernelLookup,
    k_near: float,
    wind_rose: WindRose | None,
    cutoff_m: float | None,
    s_near_m2: float,
    engine: str,
    parallel: bool,
) -> np.ndarray:
    """Direct sum of one radial kernel, shape ``(n_groups, n_receptors)``, mol N/ha/yr."""
    t0 = time.perf_counter()
    sources = SortedSources.prepare(xs, ys, es, gs, n_groups, cutoff_m)
    out = deposition_by_table(
        sources, rx, ry, LookupStack.of(lookup, k_near), np.zeros(rx.size, dtype=np.int64),
        wind_rose=wind_rose, s_near_m2=s_near_m2, engine=engine, parallel=parallel,
    )
    logger.debug(
        "direct deposition (%s): %d sources x %d receptors in %.3f s",
        engine,
        xs.size,
        rx.size,
        time.perf_counter() - t0,
    )
    return out
