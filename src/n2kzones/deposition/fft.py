"""FFT convolution path for deposition on a regular grid.

1. Emissions are splatted onto an emission raster that extends the output grid by ``P``
   cells on every side (``P = ceil(pad / cell) + 1``, the pad being the cut-off, or
   ``fft_pad_m`` without one), with bilinear cloud-in-cell (CIC) weights between the four
   nearest cell centres, so a source keeps its sub-cell position to first order.
2. The kernel image holds the kernel at the offsets between cell centres (with the wind-rose
   weight of each offset's bearing), the centre cell holding the kernel's average over one
   cell (:meth:`RadialKernel.cell_average`); offsets beyond the cut-off are 0.
3. Emission raster and kernel image are convolved with real FFTs (``scipy.fft``, rather than
   ``scipy.signal.fftconvolve``, so the kernel transform is computed once and reused for every
   attribution group). The circular size is the smallest fast length that keeps wrap-around
   out of the cropped output.
4. Near-field correction (particle-particle / particle-mesh): bilinear CIC is poor where the
   kernel curves strongly, i.e. within a few cells of a source (pure CIC: p99 error 13 % on
   a 100 m grid with 1.4 farms/km2). For the cells within ``near_cells`` (default 3) of each
   source's CIC nodes, the CIC contribution is replaced by the exact pair value of the direct
   path (same lookup table, same cell average below half a cell, same wind-rose weight).

Accuracy against the direct path: the p99 relative error over cells with non-negligible
deposition (>= 1e-3 of the maximum) is about 1 % in tests with a 5 km cut-off and 0.4 % for
the national benchmark (50,000 farms, 100 m, 25 km); tested to be <= 2 %. The remaining error
is largest at the cut-off ring, where the hard cut-off of the direct path (a source counts
or not) is smoothed by CIC; without a cut-off it comes from the CIC far field. FFT round-off
is about 1e-15 of the largest value; negative round-off is clipped to 0.

Sources outside the padded raster (more than about ``pad + cell/2`` outside the grid): with a
cut-off they are farther than the cut-off from every cell centre and are dropped (exact).
Without a cut-off they raise :class:`InputError` (``outside_sources="raise"``, default) or are
dropped and reported in the log (``outside_sources="drop"``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from n2kzones.deposition import _numba
from n2kzones.deposition.kernel import KernelLookup, LookupStack, RadialKernel, WindRose
from n2kzones.errors import InputError
from n2kzones.io.grid import GridSpec

logger = logging.getLogger(__name__)

#: Working bytes per cell of the circular FFT domain (float raster, two complex spectra,
#: result) plus per attribution group (its emission raster).
FFT_BYTES_PER_CELL = 48.0
FFT_BYTES_PER_CELL_PER_GROUP = 16.0


def fft_shape(grid: GridSpec, pad_cells: int, half_rows: int, half_cols: int) -> tuple[int, int]:
    """Circular FFT size ``(rows, cols)`` for a grid, pad and kernel half-sizes (in cells)."""

    # no wrap-around into the cropped output needs n >= n_out + pad + half; the padded
    # raster (n_out + 2 pad) and the kernel image (2 half + 1) must fit as well
    def one(n_out: int, half: int) -> int:
        return scipy.fft.next_fast_len(
            max(n_out + pad_cells + half, n_out + 2 * pad_cells, 2 * half + 1), real=True
        )

    return one(grid.n_rows, half_rows), one(grid.n_cols, half_cols)


def kernel_image(
    kernel: RadialKernel,
    cell_m: float,
    half_rows: int,
    half_cols: int,
    *,
    wind_rose: WindRose | None = None,
    cutoff_m: float | None = None,
    lookup: KernelLookup | None = None,
) -> np.ndarray:
    """Kernel at cell-centre offsets, shape ``(2*half_rows+1, 2*half_cols+1)``.

    Element ``[half_rows + di, half_cols + dj]`` is the deposition (mol N/ha/yr per kg
    NH3/yr) ``di`` rows south and ``dj`` columns east of a source at the centre cell.
    Values come from ``lookup`` if given (as in the direct path), else from the exact kernel.
    """
    di = np.arange(-half_rows, half_rows + 1, dtype=np.float64)[:, None]
    dj = np.arange(-half_cols, half_cols + 1, dtype=np.float64)[None, :]
    dx = dj * cell_m
    dy = -di * cell_m
    r = np.hypot(dx, dy)
    img = kernel(r) if lookup is None else lookup.evaluate_s(dx * dx + dy * dy)
    if wind_rose is not None and not wind_rose.is_isotropic:
        img = img * wind_rose.weight_dxdy(dx, dy)
    img[half_rows, half_cols] = kernel.cell_average(cell_m)
    if cutoff_m is not None:
        img[r > cutoff_m] = 0.0
    return img


def splat_cic(
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    grid: GridSpec,
    pad_cells: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear (cloud-in-cell) emission rasters on the grid padded by ``pad_cells``.

    Returns
    -------
    rasters
        ``(n_groups, n_rows + 2P, n_cols + 2P)``, kg NH3/yr per cell centre.
    inside
        Boolean mask of the sources that lie within the padded raster (the others are left out).
    """
    h = grid.n_rows + 2 * pad_cells
    w = grid.n_cols + 2 * pad_cells
    col_f = (source_x_m - grid.x_min) / grid.cell_m - 0.5 + pad_cells
    row_f = (grid.y_max - source_y_m) / grid.cell_m - 0.5 + pad_cells
    inside = (col_f >= 0) & (col_f <= w - 1) & (row_f >= 0) & (row_f <= h - 1)
    col_f, row_f = col_f[inside], row_f[inside]
    e, g = emission_kg_nh3[inside], groups[inside]
    c0 = np.floor(col_f).astype(np.int64)
    r0 = np.floor(row_f).astype(np.int64)
    fx = col_f - c0
    fy = row_f - r0
    # one spare row and column receive only zero weights (sources exactly on the last centre)
    hp, wp = h + 1, w + 1
    base = g * (hp * wp) + r0 * wp + c0
    idx = np.concatenate((base, base + 1, base + wp, base + wp + 1))
    wts = np.concatenate(
        (e * (1 - fx) * (1 - fy), e * fx * (1 - fy), e * (1 - fx) * fy, e * fx * fy)
    )
    flat = np.bincount(idx, weights=wts, minlength=n_groups * hp * wp)
    rasters = flat.reshape(n_groups, hp, wp)[:, :h, :w]
    return rasters, inside


@dataclass(frozen=True)
class FFTLayout:
    """Pad, kernel half-sizes and circular transform size of one FFT grid (cells)."""

    pad_cells: int
    half_rows: int
    half_cols: int
    n_rows: int
    n_cols: int

    @classmethod
    def of(cls, grid: GridSpec, pad_m: float, cutoff_m: float | None) -> FFTLayout:
        cell = grid.cell_m
        # one extra cell so that sources between the outer cell centres and the edge can splat
        pad_cells = (math.ceil(pad_m / cell - 1e-9) if pad_m > 0 else 0) + 1
        if cutoff_m is not None:
            half_r = half_c = math.ceil(cutoff_m / cell - 1e-9)
        else:
            half_r, half_c = grid.n_rows - 1 + pad_cells, grid.n_cols - 1 + pad_cells
        n_r, n_c = fft_shape(grid, pad_cells, half_r, half_c)
        return cls(pad_cells, half_r, half_c, n_r, n_c)

    def lookup_distance_m(self, cell_m: float, near_cells: int) -> float:
        """Distance (m) the lookup tables of the kernel images and the near field cover."""
        return math.hypot(self.half_rows + near_cells + 2, self.half_cols + near_cells + 2) * cell_m

    def crop(self, conv: np.ndarray, grid: GridSpec) -> np.ndarray:
        r0, c0 = self.pad_cells + self.half_rows, self.pad_cells + self.half_cols
        return conv[r0 : r0 + grid.n_rows, c0 : c0 + grid.n_cols]


def _splat_checked(
    xs: np.ndarray,
    ys: np.ndarray,
    es: np.ndarray,
    gs: np.ndarray,
    n_groups: int,
    grid: GridSpec,
    layout: FFTLayout,
    cutoff_m: float | None,
    outside_sources: str,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`splat_cic`, with sources outside the padded raster skipped (with a cut-off),
    refused or dropped with a warning (see the module docstring)."""
    rasters, inside = splat_cic(xs, ys, es, gs, n_groups, grid, layout.pad_cells)
    n_out = int((~inside).sum())
    if n_out:
        kg = float(es[~inside].sum())
        reach = (layout.pad_cells - 0.5) * grid.cell_m
        if cutoff_m is not None:
            logger.debug("%d sources farther than the %g m cut-off from the grid were skipped", n_out, cutoff_m)
        elif outside_sources == "raise":
            raise InputError(
                f"{n_out} sources ({kg:.6g} kg NH3/yr) lie more than {reach:g} m outside the grid; "
                "the FFT path cannot place them. Pass cutoff_m=..., a larger fft_pad_m=..., "
                "outside_sources='drop' to leave them out, or use method='direct'"
            )
        else:
            logger.warning("FFT path: dropped %d sources (%.6g kg NH3/yr) more than %g m outside the grid", n_out, kg, reach)
    return rasters, inside


def deposition_fft(
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    kernel: RadialKernel,
    grid: GridSpec,
    *,
    wind_rose: WindRose | None,
    cutoff_m: float | None,
    pad_m: float,
    outside_sources: str,
    memory_budget_gib: float,
    near_cells: int = 3,
) -> np.ndarray:
    """Deposition (mol N/ha/yr) on ``grid`` by FFT, shape ``(n_groups, n_rows, n_cols)``.

    Inputs are already validated by :func:`n2kzones.deposition.engine.deposition_on_grid`.
    """
    cell = grid.cell_m
    lay = FFTLayout.of(grid, pad_m, cutoff_m)
    half_r, half_c, n_r, n_c = lay.half_rows, lay.half_cols, lay.n_rows, lay.n_cols
    grid.check_memory(
        FFT_BYTES_PER_CELL + FFT_BYTES_PER_CELL_PER_GROUP * n_groups,
        memory_budget_gib=memory_budget_gib,
        n_cells=n_r * n_c,
        what=f"FFT deposition ({n_r} x {n_c} padded transform)",
    )
    rasters, inside = _splat_checked(
        source_x_m, source_y_m, emission_kg_nh3, groups, n_groups, grid, lay, cutoff_m, outside_sources
    )
    lu = kernel.lookup(lay.lookup_distance_m(cell, near_cells))
    rose = None if wind_rose is None or wind_rose.is_isotropic else wind_rose
    img = kernel_image(kernel, cell, half_r, half_c, wind_rose=rose, cutoff_m=cutoff_m, lookup=lu)
    k_hat = scipy.fft.rfft2(img, s=(n_r, n_c), workers=-1)
    out = np.empty((n_groups, grid.n_rows, grid.n_cols))
    for g in range(n_groups):
        conv = scipy.fft.irfft2(
            scipy.fft.rfft2(rasters[g], s=(n_r, n_c), workers=-1) * k_hat, s=(n_r, n_c), workers=-1
        )
        out[g] = lay.crop(conv, grid)
    if near_cells > 0:
        c2 = math.inf if cutoff_m is None else float(cutoff_m) ** 2
        luts, nears = _numba.pack_stack(LookupStack.of(lu, kernel.cell_average(cell)), (cell / 2.0) ** 2, c2)
        shape = (1, grid.n_rows, grid.n_cols)  # every cell: the one kernel, weight 1 (no copies)
        _numba.near_field_correction(
            (source_x_m[inside], source_y_m[inside], emission_kg_nh3[inside], groups[inside]),
            (grid.x_min, grid.y_max, cell, grid.n_rows, grid.n_cols, int(near_cells)),
            img[None],
            (luts, nears, _numba.pack_rose(rose)),
            np.broadcast_to(np.zeros(1, dtype=np.int16), shape),
            np.broadcast_to(np.ones(1), shape),
            out,
        )
    np.maximum(out, 0.0, out=out)
    return out


#: Largest relative error of the basis images of the class-aware FFT grid against each
#: corner kernel's image, beyond the near field (:func:`image_basis`): a quarter of the FFT
#: path's own p99 tolerance (2 %).
CLASS_FFT_RANK_TOL = 0.005


def image_basis(images: np.ndarray, rel_tol: float, near_cells: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A few basis images and coefficients that give every image to ``rel_tol`` (relative).

    ``images`` (shape ``(n, rows, cols)``, >= 0, centred) are the kernel images of one FFT
    grid. With ``g`` their per-pixel geometric mean over the images (0 where any image is
    0), the matrix ``images / g`` is reduced by a singular value decomposition to the
    smallest rank ``R`` whose largest relative pixel error is at most ``rel_tol`` on the
    pixels more than ``near_cells + 1`` rows or columns from the centre (nearer pixels are
    replaced by the exact near field of the FFT path, so their error cancels); the basis
    images are ``g * V_k`` and ``images ~ coef @ basis``. Relative weighting keeps the far
    field (four orders of magnitude below the near field at 25 km) as accurate as the peak.

    Returns ``(basis, coef)`` with shapes ``(R, rows, cols)`` and ``(n, R)``.
    """
    n, rows, cols = images.shape
    flat = images.reshape(n, -1)
    pos = (flat > 0).all(axis=0)
    g = np.zeros(flat.shape[1])
    g[pos] = np.exp(np.log(flat[:, pos]).mean(axis=0))
    q = flat[:, pos] / g[pos]
    di = np.abs(np.arange(rows) - (rows - 1) // 2)[:, None]
    dj = np.abs(np.arange(cols) - (cols - 1) // 2)[None, :]
    far = (np.maximum(di, dj) > near_cells + 1).ravel()[pos]
    u, sv, vt = np.linalg.svd(q, full_matrices=False)
    for rank in range(1, n + 1):
        approx = (u[:, :rank] * sv[:rank]) @ vt[:rank][:, far]
        if not far.any() or np.abs(approx / q[:, far] - 1.0).max() <= rel_tol:
            break
    basis = np.zeros((rank, flat.shape[1]))
    basis[:, pos] = vt[:rank] * g[pos]
    return basis.reshape(rank, *images.shape[1:]), u[:, :rank] * sv[:rank]


def deposition_fft_classes(
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    classes: tuple,
    grid: GridSpec,
    *,
    wind_rose: WindRose | None,
    cutoff_m: float | None,
    pad_m: float,
    outside_sources: str,
    memory_budget_gib: float,
    near_cells: int = 3,
    rank_tol: float | None = None,
) -> np.ndarray:
    """Class-aware deposition (mol N/ha/yr) on ``grid`` by FFT, ``(n_groups, n_rows, n_cols)``.

    ``classes = (table, sources, cells)``: the :class:`~n2kzones.deposition.classes.
    KernelTable`, the sources' height terms (:class:`~.classes.SourceTerms`) and every cell's
    class (:class:`~.classes.ReceptorTerms`, cells row-major). A cell's value is its blend
    ``sum_corners w * K_corner``, so by linearity the grid is, per source height node, one
    convolution of that node's emission raster with each corner kernel some cell uses, each
    weighted per cell by that corner's weight there. The corner kernels' images are first
    reduced to a few basis images (:func:`image_basis`, relative error at most ``rank_tol``,
    default :data:`CLASS_FFT_RANK_TOL`), so a node costs one emission transform plus one
    kernel transform and one inverse transform per basis image, and per cell the weights
    ``sum_corners w * coefficient``. The near field (as :func:`deposition_fft`) replaces what
    the transforms gave near each source by the exact pair value of each corner kernel, so
    the reduction errs only beyond ``near_cells`` cells.
    """
    rank_tol = CLASS_FFT_RANK_TOL if rank_tol is None else float(rank_tol)
    table, src_terms, cells = classes
    cell = grid.cell_m
    lay = FFTLayout.of(grid, pad_m, cutoff_m)
    n_r, n_c = lay.n_rows, lay.n_cols
    grid.check_memory(
        FFT_BYTES_PER_CELL + FFT_BYTES_PER_CELL_PER_GROUP * n_groups + 8.0 * n_groups,
        memory_budget_gib=memory_budget_gib,
        n_cells=n_r * n_c,
        what=f"class-aware FFT deposition ({n_r} x {n_c} padded transform)",
    )
    rose = None if wind_rose is None or wind_rose.is_isotropic else wind_rose
    max_d = lay.lookup_distance_m(cell, near_cells)
    c2 = math.inf if cutoff_m is None else float(cutoff_m) ** 2
    out = np.zeros((n_groups, grid.n_rows, grid.n_cols))
    shape = (grid.n_rows, grid.n_cols)
    for node in np.unique(src_terms.node):
        sel = src_terms.node == node
        s_idx = src_terms.source[sel]
        e = emission_kg_nh3[s_idx] * src_terms.share[sel]
        rasters, inside = _splat_checked(
            source_x_m[s_idx], source_y_m[s_idx], e, groups[s_idx], n_groups, grid, lay, cutoff_m,
            outside_sources,
        )
        e_hat = [scipy.fft.rfft2(rasters[g], s=(n_r, n_c), workers=-1) for g in range(n_groups)]
        del rasters
        # the corner kernels of this node that some cell uses, and per cell its term index
        key = (
            (int(node) * len(table.landuses) + cells.landuse[None, :]) * len(table.receptor_z0_m)
            + cells.z0_index
        ) * len(table.nh3_bg_ug_m3) + cells.bg_index
        key = np.where(cells.weight > 0, key, -1)
        present = np.bincount(key[key >= 0], minlength=len(table.kernels)) > 0
        used = np.flatnonzero(present)
        remap = np.cumsum(present) - 1
        term = np.where(key >= 0, remap[np.maximum(key, 0)], -1).astype(np.int16)
        n_lu, n_z, n_b = len(table.landuses), len(table.receptor_z0_m), len(table.nh3_bg_ug_m3)
        imgs, lookups, k_near = [], [], []
        for flat in used:
            a, rest = divmod(int(flat), n_lu * n_z * n_b)
            lu, rest = divmod(rest, n_z * n_b)
            iz, ib = divmod(rest, n_b)
            kernel = table.kernels[(a, lu, iz, ib)]
            lk = kernel.lookup(max_d)
            imgs.append(kernel_image(kernel, cell, lay.half_rows, lay.half_cols, wind_rose=rose, cutoff_m=cutoff_m, lookup=lk))
            lookups.append(lk)
            k_near.append(kernel.cell_average(cell))
        basis, coef = image_basis(np.stack(imgs), rank_tol, near_cells)
        imgs = list(np.einsum("tk,kij->tij", coef, basis))  # what the transforms below convolve with
        logger.debug("class-aware FFT, height node %d: %d corner kernels on %d basis images", node, len(imgs), len(basis))
        # the corner slots some cell uses (a z0 on a node leaves two slots empty everywhere)
        slots = [
            (np.where(term[q] >= 0, cells.weight[q], 0.0), np.maximum(term[q], 0))
            for q in range(4) if (term[q] >= 0).any()
        ]
        for k in range(len(basis)):
            b_hat = scipy.fft.rfft2(basis[k], s=(n_r, n_c), workers=-1)
            # per cell its weight on basis image k: sum over its corners of w * coefficient
            m_k = np.zeros(term.shape[1])
            for w_q, t_q in slots:
                m_k += w_q * coef[:, k][t_q]
            m_k = m_k.reshape(shape)
            for g in range(n_groups):
                out[g] += m_k * lay.crop(scipy.fft.irfft2(e_hat[g] * b_hat, s=(n_r, n_c), workers=-1), grid)
        if near_cells > 0 and imgs:
            stack = LookupStack(np.stack([lk.table for lk in lookups]), np.array(k_near), lookups[0].exp_min, lookups[0].mantissa_bits)
            luts, nears = _numba.pack_stack(stack, (cell / 2.0) ** 2, c2)
            _numba.near_field_correction(
                (source_x_m[s_idx][inside], source_y_m[s_idx][inside], e[inside], groups[s_idx][inside]),
                (grid.x_min, grid.y_max, cell, grid.n_rows, grid.n_cols, int(near_cells)),
                np.stack(imgs),
                (luts, nears, _numba.pack_rose(rose)),
                np.ascontiguousarray(term.reshape(4, *shape)),
                np.ascontiguousarray(np.where(term >= 0, cells.weight, 0.0).reshape(4, *shape)),
                out,
            )
    np.maximum(out, 0.0, out=out)
    return out
