"""Numba kernels of the direct (source x receptor) deposition sum.

Only plain arrays, numbers and tuples of them go in and out; validation and dispatch live in
:mod:`n2kzones.deposition.engine`. One driver serves every case (isotropic or wind rose, with
or without source groups, serial or parallel): :func:`gather` hands receptors to
:func:`_receptor`, the one per-receptor code path. Every case GATHERS per receptor:
receptor ``i`` sums over sources into a local accumulator and writes only ``out[:, i]``, so
the parallel run has no data race and gives bitwise the same result as the serial one (both
run the same compiled per-receptor code; the parallel driver only hands blocks of receptors
to threads).

The arguments are grouped into small tuples (value objects; build them with the ``pack_*``
functions):

``rec = (rx, ry, tab)``
    Receptor coordinates (m) and each receptor's row of the lookup tables (int64; all 0
    for a radial kernel, a blend of class kernels per receptor for the class-aware model).
``src = (xs, ys, es, gs)``
    Source coordinates (m), emissions (kg NH3/yr) and group per source (int64), or
    ``gs = None`` for one group (a vectorised scalar sum instead of a scatter).
``pairs = (luts, nears, rose)``
    The per-pair value of the gather: ``luts`` is ``lut`` with a 2-D ``table`` (one row per
    kernel, rows of one layout) and ``nears`` is ``near`` with an array ``k_near`` (one per
    row); receptor ``i`` uses row ``tab[i]`` of both. :func:`pair_value` and the FFT near
    field take one kernel, ``pair = (lut, near, rose)``:

    ``lut = (table, shift, base, lowmask, scale, s_lo, s_hi)``
        Kernel lookup (see :class:`n2kzones.deposition.kernel.KernelLookup`): the squared
        distance ``s``, clamped to ``[s_lo, s_hi]``, is reinterpreted as int64;
        ``(bits >> shift) - base`` is the table index (unsigned, so Numba emits no
        negative-index wrap-around) and the low ``shift`` bits (``& lowmask``), times
        ``scale = 2**-shift``, the interpolation weight; ``table`` is
        :attr:`KernelLookup.packed` (float32 start value and step per interpolation step).
    ``near = (s_near, k_near, c2)``
        Pairs with ``s < s_near`` take ``k_near`` (cell or disc average, no wind-rose
        weight); pairs with ``s > c2`` (squared cut-off) contribute nothing.
    ``rose = (packed, kinks, dir_steps)`` or ``None`` (isotropic)
        Wind-rose weight by the direction lookup of
        :meth:`n2kzones.deposition.kernel.WindRose.weight_dxdy`: a pseudo-angle round the
        circle and two small packed tables, one uint64 per step in each (float32 start value
        and step; float32 position of a sector centre in the step and the slope change
        there), 8 KB together, so they stay in the level-1 cache; one gather per pair from
        each, no ``atan2``. Two 1-D tables, not one 2-D: the index then needs no multiply by
        a stride.
``cells = (c, x0, y0, h, ncx, ncy, start)``
    Cell list for a cut-off ``c`` (m): sources are pre-sorted by square cells of side ``h``
    (row-major from ``(x0, y0)``), ``start[k]:start[k+1]`` being cell ``k``. A receptor
    visits, per cell row within the cut-off, the contiguous run of cells whose columns can
    hold a source within ``c`` (exact positions are always used; the cell list only skips
    far pairs). Without a cut-off: ``ncx = ncy = 1`` and ``c = inf``.

Specialisation is by type, at compile time: ``rose is None`` and ``gs is None`` are pruned
by Numba, so the isotropic ungrouped case compiles to the same loop as a kernel written for
it alone.

Segments of the source arrays are passed as slices and looped from 0: with a non-zero start
index Numba cannot rule out negative-index wrap-around, which blocks contiguous vector loads
(measured 2.4x slower).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
from numba import njit

#: The one Numba style for kernels (as in xarray-spatial): nopython, no GIL, cached.
ngjit = njit(nogil=True, cache=True)
#: Inner loops may reassociate the float sum so LLVM can vectorise it (sum order differs
#: from the NumPy reference by rounding only; serial and parallel share this code). Pair
#: values are computed in :data:`ngjit` functions (no fast-math), so they are bitwise those
#: of the NumPy twins (:meth:`KernelLookup.evaluate_s`, :meth:`WindRose.weight_dxdy`).
ngjit_sum = njit(nogil=True, cache=True, fastmath={"reassoc", "nsz"})

#: Receptors per work block handed to a thread.
BLOCK = 64
#: Unpacking of the packed tables: low 32 bits = float32 start value, high = float32 step.
LOW32 = np.uint64(0xFFFFFFFF)
HIGH = np.uint64(32)
#: Floor of ``|dx| + |dy|`` in the direction lookup (a zero offset then points north).
TINY = 1e-300


# -- value objects -----------------------------------------------------------------------------
def pack_lookup(lu: Any) -> tuple:
    """``lut`` tuple of a :class:`~n2kzones.deposition.kernel.KernelLookup`."""
    return (lu.packed, lu.shift, lu.base, (1 << lu.shift) - 1, 2.0**-lu.shift, lu.s_lo, lu.s_hi)


def pack_near(s_near_m2: float, k_near: float, cutoff2_m2: float) -> tuple:
    """``near`` tuple: near-source radius squared (m^2), its value, squared cut-off (m^2)."""
    return (float(s_near_m2), float(k_near), float(cutoff2_m2))


def pack_rose(rose: Any) -> tuple | None:
    """``rose`` tuple of a :class:`~n2kzones.deposition.kernel.WindRose` (``None``: isotropic)."""
    if rose is None:
        return None
    tab = rose.direction_packed
    steps = float(rose.direction_steps)
    return (np.ascontiguousarray(tab[:, 0]), np.ascontiguousarray(tab[:, 1]), steps)


def pack_cells(
    cutoff_m: float, x0: float, y0: float, h: float, ncx: int, ncy: int, start: np.ndarray
) -> tuple:
    """``cells`` tuple of a cell list (see the module docstring)."""
    return (float(cutoff_m), float(x0), float(y0), float(h), int(ncx), int(ncy), start)


def no_cells(n_sources: int) -> tuple:
    """``cells`` tuple without a cut-off: one cell holding every source."""
    return pack_cells(math.inf, 0.0, 0.0, 0.0, 1, 1, np.array([0, n_sources], dtype=np.int64))


# -- per pair ----------------------------------------------------------------------------------
@ngjit
def _unpack(v):
    """Start value and step (float64) of one packed table entry."""
    value = np.float64(np.uint32(v & LOW32).view(np.float32))
    step = np.float64(np.uint32(v >> HIGH).view(np.float32))
    return value, step


@ngjit
def _lookup(s, lut):
    """Kernel at squared distance ``s`` from the packed table (see module docstring)."""
    table, shift, base, lowmask, scale, s_lo, s_hi = lut
    bits = np.float64(min(max(s, s_lo), s_hi)).view(np.int64)
    idx = np.uint64((bits >> shift) - base)
    frac = (bits & lowmask) * scale
    value, step = _unpack(table[idx])
    return value + frac * step


@ngjit
def _rose_weight(dx, dy, rose):
    """Wind-rose weight of the offset ``(dx, dy)`` (source -> receptor), no ``atan2``.

    The formula of :meth:`n2kzones.deposition.kernel.WindRose.weight_dxdy`, operation by
    operation (so the values are bitwise equal).
    """
    packed, kinks, dir_steps = rose
    u = dx / max(abs(dx) + abs(dy), TINY)
    p = 2.0 - u if dy < 0.0 else (4.0 + u if u < 0.0 else u)
    x = p * dir_steps
    i = np.int32(x)  # int32: AVX2 converts those in vectors (int64 it cannot)
    g = x - np.float64(i)
    value, step = _unpack(packed[np.uint32(i)])
    kink, bend = _unpack(kinks[np.uint32(i)])
    return (value + g * step) + max(g - kink, 0.0) * bend


@ngjit
def _kernel_value(dx, dy, s, lut, rose):
    """Kernel (times the wind-rose weight) of a pair outside the near field."""
    k = _lookup(s, lut)
    if rose is None:
        return k
    return k * _rose_weight(dx, dy, rose)


@ngjit
def pair_value(dx, dy, pair):
    """Kernel value of one pair, as in the direct sums (``dx``, ``dy`` source -> receptor)."""
    lut, near, rose = pair
    s_near, k_near, c2 = near
    s = dx * dx + dy * dy
    if s > c2:
        return 0.0
    if s < s_near:
        return k_near
    return _kernel_value(dx, dy, s, lut, rose)


@ngjit
def pair_values(dx, dy, pair, out):
    """:func:`pair_value` of every pair ``(dx[p], dy[p])`` into ``out[p]`` (the per-source
    maxima evaluate their candidate pairs with it: the engines' own pair rule)."""
    for p in range(dx.shape[0]):
        out[p] = pair_value(dx[p], dy[p], pair)


# -- per receptor ------------------------------------------------------------------------------
@ngjit_sum
def _segment_sum(x, y, xs, ys, es, lut, near, rose):
    """Sum over one run of sources, one group (a vectorisable reduction)."""
    s_near, k_near, c2 = near
    acc = 0.0
    for j in range(xs.shape[0]):
        dx = x - xs[j]
        dy = y - ys[j]
        s = dx * dx + dy * dy
        k = _kernel_value(dx, dy, s, lut, rose)
        if s < s_near:
            k = k_near
        if s > c2:
            k = 0.0
        acc += es[j] * k
    return acc


@ngjit_sum
def _segment_groups(x, y, xs, ys, es, gs, lut, near, rose, acc):
    """Sum over one run of sources into ``acc[group]`` (a scatter)."""
    s_near, k_near, c2 = near
    for j in range(xs.shape[0]):
        dx = x - xs[j]
        dy = y - ys[j]
        s = dx * dx + dy * dy
        if s > c2:
            continue
        if s < s_near:
            k = k_near
        else:
            k = _kernel_value(dx, dy, s, lut, rose)
        acc[gs[j]] += es[j] * k


@ngjit
def _segment(x, y, xs, ys, es, gs, pair, acc):
    lut, near, rose = pair
    if gs is None:
        acc[0] += _segment_sum(x, y, xs, ys, es, lut, near, rose)
    else:
        _segment_groups(x, y, xs, ys, es, gs, lut, near, rose, acc)


@ngjit
def _slice(a, j0, j1):
    if a is None:
        return None
    return a[j0:j1]


@ngjit
def _row_span(x, y, cy, c, x0, y0, h, ncx, cell_start):
    """Source index range of cell row ``cy`` that can lie within ``c`` of ``(x, y)``."""
    band_lo = y0 + cy * h
    gap = max(0.0, band_lo - y, y - (band_lo + h))
    if gap > c:
        return 0, 0
    w = math.sqrt(c * c - gap * gap) + 1e-6 * h
    lo = max(math.floor((x - w - x0) / h), 0.0)
    hi = min(math.floor((x + w - x0) / h), ncx - 1.0)
    if lo > hi:
        return 0, 0
    return cell_start[cy * ncx + int(lo)], cell_start[cy * ncx + int(hi) + 1]


@ngjit
def _row_range(y, c, y0, h, ncy):
    lo = max(math.floor((y - c - 1e-6 * h - y0) / h), 0.0)
    hi = min(math.floor((y + c + 1e-6 * h - y0) / h), ncy - 1.0)
    return int(lo), int(hi)


@ngjit
def _receptor(x, y, src, pair, cells, acc):
    """Add every source's deposition at ``(x, y)`` to ``acc`` (``acc[0]``, or ``acc[group]``)."""
    xs, ys, es, gs = src
    c, x0, y0, h, ncx, ncy, start = cells
    if ncx * ncy == 1:
        _segment(x, y, xs, ys, es, gs, pair, acc)
        return
    lo, hi = _row_range(y, c, y0, h, ncy)
    for cy in range(lo, hi + 1):
        j0, j1 = _row_span(x, y, cy, c, x0, y0, h, ncx, start)
        if j1 > j0:
            _segment(x, y, xs[j0:j1], ys[j0:j1], es[j0:j1], _slice(gs, j0, j1), pair, acc)


@ngjit
def _gather_blocks(task, n_tasks, rec, src, pairs, cells, out):
    """Receptor blocks ``task, task + n_tasks, ...`` (of :data:`BLOCK`) into ``out[:, i]``."""
    rx, ry, tab = rec
    luts, nears, rose = pairs
    table, shift, base, lowmask, scale, s_lo, s_hi = luts
    s_near, k_near, c2 = nears
    n = rx.shape[0]
    ng = out.shape[0]
    acc = np.zeros(ng)
    for b in range(task, (n + BLOCK - 1) // BLOCK, n_tasks):
        for i in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            t = tab[i]
            pair = (
                (table[t], shift, base, lowmask, scale, s_lo, s_hi),
                (s_near, k_near[t], c2),
                rose,
            )
            acc[:] = 0.0
            _receptor(rx[i], ry[i], src, pair, cells, acc)
            for g in range(ng):
                out[g, i] = acc[g]


def pack_stack(stack: Any, s_near_m2: float, cutoff2_m2: float) -> tuple:
    """``(luts, nears)`` of :func:`gather` for a :class:`~n2kzones.deposition.kernel.LookupStack`."""
    luts = (stack.packed, *pack_lookup(stack.lookup(0))[1:])
    return luts, (float(s_near_m2), stack.k_near, float(cutoff2_m2))


def gather(
    rec: tuple, src: tuple, pairs: tuple, cells: tuple, out: np.ndarray, parallel: bool
) -> None:
    """Direct sum at every receptor into ``out`` (shape ``(n_groups, n_receptors)``).

    ``parallel``: ``numba.get_num_threads()`` threads each run :func:`_gather_blocks` on
    interleaved receptor blocks (the kernel releases the GIL). Serial and parallel run the
    same compiled function on the same receptors, so the results are bitwise equal.
    """
    n_blocks = (rec[0].shape[0] + BLOCK - 1) // BLOCK
    n_tasks = min(numba.get_num_threads(), n_blocks) if parallel else 1
    if n_tasks <= 1:
        _gather_blocks(0, 1, rec, src, pairs, cells, out)
        return
    with ThreadPoolExecutor(n_tasks, thread_name_prefix="n2k-gather") as pool:
        done = [
            pool.submit(_gather_blocks, t, n_tasks, rec, src, pairs, cells, out)
            for t in range(n_tasks)
        ]
        for f in done:
            f.result()


# -- FFT near field ------------------------------------------------------------------------------
@ngjit
def near_field_correction(src, grid, imgs, pairs, cell_key, cell_w, out):
    """Replace the cloud-in-cell approximation by the exact pair value near each source.

    A cell ``(i, j)`` of the grid takes ``sum_q cell_w[q, i, j] * kernel[cell_key[q, i, j]]``
    (``cell_key`` -1: no term; a radial grid: one slot, kernel 0, weight 1); ``imgs[k]`` is
    kernel ``k``'s image and ``pairs = (luts, nears, rose)`` its lookup table row and
    near-source value (as in :func:`gather`). ``src = (xs, ys, es, gs)``; ``grid = (x_min,
    y_max, cell, n_rows, n_cols, radius_cells)``. For the cells within ``radius_cells`` of a
    source's four CIC nodes, adds ``e * w * (exact_k - sum_n w_n * imgs[k][offset to node
    n])`` per term to ``out[g]`` (``out`` holds the FFT result). Serial over sources (a
    scatter; cheap: about (2R+2)^2 cells per source and term).
    """
    xs, ys, es, gs = src
    x_min, y_max, cell, n_rows, n_cols, radius_cells = grid
    luts, nears, rose = pairs
    table, shift, base, lowmask, scale, s_lo, s_hi = luts
    s_near, k_near, c2 = nears
    hr = (imgs.shape[1] - 1) // 2
    hc = (imgs.shape[2] - 1) // 2
    for j in range(xs.shape[0]):
        e = es[j]
        if e == 0.0:
            continue
        col_f = (xs[j] - x_min) / cell - 0.5
        row_f = (y_max - ys[j]) / cell - 0.5
        c0 = int(math.floor(col_f))
        r0 = int(math.floor(row_f))
        fx = col_f - c0
        fy = row_f - r0
        i_lo = max(r0 - radius_cells, 0)
        i_hi = min(r0 + 1 + radius_cells, n_rows - 1)
        j_lo = max(c0 - radius_cells, 0)
        j_hi = min(c0 + 1 + radius_cells, n_cols - 1)
        g = gs[j]
        for i in range(i_lo, i_hi + 1):
            yc = y_max - (i + 0.5) * cell
            for jj in range(j_lo, j_hi + 1):
                xc = x_min + (jj + 0.5) * cell
                for q in range(cell_key.shape[0]):
                    t = cell_key[q, i, jj]
                    if t < 0:
                        continue
                    pair = (
                        (table[t], shift, base, lowmask, scale, s_lo, s_hi),
                        (s_near, k_near[t], c2),
                        rose,
                    )
                    exact = pair_value(xc - xs[j], yc - ys[j], pair)
                    approx = 0.0
                    for a in range(2):
                        di = i - (r0 + a) + hr
                        if di < 0 or di > 2 * hr:
                            continue
                        wy = fy if a == 1 else 1.0 - fy
                        for b in range(2):
                            dj = jj - (c0 + b) + hc
                            if dj < 0 or dj > 2 * hc:
                                continue
                            wx = fx if b == 1 else 1.0 - fx
                            approx += wy * wx * imgs[t, di, dj]
                    out[g, i, jj] += e * cell_w[q, i, jj] * (exact - approx)
