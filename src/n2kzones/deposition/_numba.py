"""Numba kernels of the direct (source x receptor) deposition sum.

Only plain arrays and numbers go in and out; validation and dispatch live in
:mod:`n2kzones.deposition.engine`. Every kernel GATHERS per receptor: receptor ``i`` sums
over sources into a local accumulator and writes only ``out[..., i]``, so the parallel
version has no data race and gives bitwise the same result as the serial one (both run the
same compiled per-receptor code; the parallel driver only hands blocks of receptors to
threads).

Kernel lookup (see :class:`n2kzones.deposition.kernel.KernelLookup`): the squared distance
``s``, clamped to ``[s_lo, s_hi]``, is reinterpreted as int64; ``(bits >> shift) - base`` is
the table index (unsigned, so Numba emits no negative-index wrap-around) and the low
``shift`` bits, times ``scale = 2**-shift``, the interpolation weight; ``table`` is
:attr:`KernelLookup.packed` (float32 start value and step of each interpolation step). Pairs with
``s < s_near`` take ``k_near`` (cell or disc average, no wind-rose weight); pairs with
``s > c2`` (squared cut-off) contribute nothing.

Segments of the source arrays are passed as slices and looped from 0: with a non-zero start
index Numba cannot rule out negative-index wrap-around, which blocks contiguous vector loads
(measured 2.4x slower).

Cell list (for a cut-off): sources are pre-sorted by square cells of side ``h`` (row-major
from ``(x0, y0)``), ``cell_start[c]:cell_start[c+1]`` being cell ``c``. A receptor visits,
per cell row within the cut-off, the contiguous run of cells whose columns can hold a source
within ``cutoff`` (exact positions are always used; the cell list only skips far pairs).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

#: The one Numba style for kernels (as in xarray-spatial): nopython, no GIL, cached.
ngjit = njit(nogil=True, cache=True)
#: Inner loops may reassociate the float sum so LLVM can vectorise it (sum order differs
#: from the NumPy reference by rounding only; serial and parallel share this code).
ngjit_sum = njit(nogil=True, cache=True, fastmath={"reassoc", "nsz"})

#: Receptors per work block handed to a thread.
BLOCK = 64
#: Unpacking of the lookup table: low 32 bits = float32 start value, high = float32 step.
LOW32 = np.uint64(0xFFFFFFFF)
HIGH = np.uint64(32)


@ngjit
def _lookup(s, table, shift, base, lowmask, scale, s_lo, s_hi):
    """Kernel at squared distance ``s`` from the packed table (see module docstring)."""
    bits = np.float64(min(max(s, s_lo), s_hi)).view(np.int64)
    idx = np.uint64((bits >> shift) - base)
    frac = (bits & lowmask) * scale
    v = table[idx]
    value = np.float64(np.uint32(v & LOW32).view(np.float32))
    step = np.float64(np.uint32(v >> HIGH).view(np.float32))
    return value + frac * step


@ngjit
def _rose_weight(dx, dy, rose_w, rose_scale):
    """Wind-rose weight, linear between sector centres; bearing 0 = north (+y), clockwise."""
    nsec = rose_w.shape[0]
    p = math.atan2(dx, dy) * rose_scale
    if p < 0.0:
        p += nsec
    fl = math.floor(p)
    f = p - fl
    i0 = int(fl)
    if i0 >= nsec:
        i0 -= nsec
    i1 = i0 + 1
    if i1 == nsec:
        i1 = 0
    w0 = rose_w[i0]
    return w0 + f * (rose_w[i1] - w0)


@ngjit_sum
def _seg_iso(
    xr, yr, xs, ys, es, table, shift, base, lowmask, scale, s_lo, s_hi, s_near, k_near, c2
):
    acc = 0.0
    for j in range(xs.shape[0]):
        dx = xr - xs[j]
        dy = yr - ys[j]
        s = dx * dx + dy * dy
        k = _lookup(s, table, shift, base, lowmask, scale, s_lo, s_hi)
        if s < s_near:
            k = k_near
        if s > c2:
            k = 0.0
        acc += es[j] * k
    return acc


@ngjit_sum
def _seg_general(
    xr,
    yr,
    xs,
    ys,
    es,
    gs,
    table,
    shift,
    base,
    lowmask,
    scale,
    s_lo,
    s_hi,
    s_near,
    k_near,
    c2,
    rose_w,
    rose_scale,
    acc,
):
    nsec = rose_w.shape[0]
    for j in range(xs.shape[0]):
        dx = xr - xs[j]
        dy = yr - ys[j]
        s = dx * dx + dy * dy
        if s > c2:
            continue
        if s < s_near:
            k = k_near
        else:
            k = _lookup(s, table, shift, base, lowmask, scale, s_lo, s_hi)
            if nsec > 0:
                k = k * _rose_weight(dx, dy, rose_w, rose_scale)
        acc[gs[j]] += es[j] * k


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
def gather_iso_range(
    i0,
    i1,
    rx,
    ry,
    xs,
    ys,
    es,
    table,
    shift,
    base,
    lowmask,
    scale,
    s_lo,
    s_hi,
    s_near,
    k_near,
    c,
    c2,
    x0,
    y0,
    h,
    ncx,
    ncy,
    cell_start,
    out,
):
    """Isotropic, ungrouped sum for receptors ``i0 <= i < i1`` into ``out[i]``."""
    for i in range(i0, i1):
        x = rx[i]
        y = ry[i]
        if ncx * ncy == 1:
            out[i] = _seg_iso(
                x, y, xs, ys, es, table, shift, base, lowmask, scale, s_lo, s_hi, s_near, k_near, c2
            )
            continue
        acc = 0.0
        lo, hi = _row_range(y, c, y0, h, ncy)
        for cy in range(lo, hi + 1):
            j0, j1 = _row_span(x, y, cy, c, x0, y0, h, ncx, cell_start)
            if j1 > j0:
                acc += _seg_iso(
                    x,
                    y,
                    xs[j0:j1],
                    ys[j0:j1],
                    es[j0:j1],
                    table,
                    shift,
                    base,
                    lowmask,
                    scale,
                    s_lo,
                    s_hi,
                    s_near,
                    k_near,
                    c2,
                )
        out[i] = acc


@ngjit
def gather_general_range(
    i0,
    i1,
    rx,
    ry,
    xs,
    ys,
    es,
    gs,
    table,
    shift,
    base,
    lowmask,
    scale,
    s_lo,
    s_hi,
    s_near,
    k_near,
    c,
    c2,
    x0,
    y0,
    h,
    ncx,
    ncy,
    cell_start,
    rose_w,
    rose_scale,
    out,
):
    """Grouped and/or wind-rose sum for receptors ``i0 <= i < i1`` into ``out[:, i]``."""
    ng = out.shape[0]
    acc = np.zeros(ng)
    for i in range(i0, i1):
        x = rx[i]
        y = ry[i]
        acc[:] = 0.0
        if ncx * ncy == 1:
            _seg_general(
                x,
                y,
                xs,
                ys,
                es,
                gs,
                table,
                shift,
                base,
                lowmask,
                scale,
                s_lo,
                s_hi,
                s_near,
                k_near,
                c2,
                rose_w,
                rose_scale,
                acc,
            )
        else:
            lo, hi = _row_range(y, c, y0, h, ncy)
            for cy in range(lo, hi + 1):
                j0, j1 = _row_span(x, y, cy, c, x0, y0, h, ncx, cell_start)
                if j1 > j0:
                    _seg_general(
                        x,
                        y,
                        xs[j0:j1],
                        ys[j0:j1],
                        es[j0:j1],
                        gs[j0:j1],
                        table,
                        shift,
                        base,
                        lowmask,
                        scale,
                        s_lo,
                        s_hi,
                        s_near,
                        k_near,
                        c2,
                        rose_w,
                        rose_scale,
                        acc,
                    )
        for g in range(ng):
            out[g, i] = acc[g]


@njit(parallel=True, nogil=True, cache=True)
def gather_iso_parallel(
    n_tasks,
    rx,
    ry,
    xs,
    ys,
    es,
    table,
    shift,
    base,
    lowmask,
    scale,
    s_lo,
    s_hi,
    s_near,
    k_near,
    c,
    c2,
    x0,
    y0,
    h,
    ncx,
    ncy,
    cell_start,
    out,
):
    """Parallel driver: task ``t`` takes receptor blocks ``t, t + n_tasks, ...``."""
    n = rx.shape[0]
    nb = (n + BLOCK - 1) // BLOCK
    for t in prange(n_tasks):
        for b in range(t, nb, n_tasks):
            gather_iso_range(
                b * BLOCK,
                min(n, (b + 1) * BLOCK),
                rx,
                ry,
                xs,
                ys,
                es,
                table,
                shift,
                base,
                lowmask,
                scale,
                s_lo,
                s_hi,
                s_near,
                k_near,
                c,
                c2,
                x0,
                y0,
                h,
                ncx,
                ncy,
                cell_start,
                out,
            )


@njit(parallel=True, nogil=True, cache=True)
def gather_general_parallel(
    n_tasks,
    rx,
    ry,
    xs,
    ys,
    es,
    gs,
    table,
    shift,
    base,
    lowmask,
    scale,
    s_lo,
    s_hi,
    s_near,
    k_near,
    c,
    c2,
    x0,
    y0,
    h,
    ncx,
    ncy,
    cell_start,
    rose_w,
    rose_scale,
    out,
):
    """Parallel driver of :func:`gather_general_range` (interleaved receptor blocks)."""
    n = rx.shape[0]
    nb = (n + BLOCK - 1) // BLOCK
    for t in prange(n_tasks):
        for b in range(t, nb, n_tasks):
            gather_general_range(
                b * BLOCK,
                min(n, (b + 1) * BLOCK),
                rx,
                ry,
                xs,
                ys,
                es,
                gs,
                table,
                shift,
                base,
                lowmask,
                scale,
                s_lo,
                s_hi,
                s_near,
                k_near,
                c,
                c2,
                x0,
                y0,
                h,
                ncx,
                ncy,
                cell_start,
                rose_w,
                rose_scale,
                out,
            )


@ngjit
def _pair_value(
    dx, dy, table, shift, base, lowmask, scale, s_lo, s_hi, s_near, k_near, c2, rose_w, rose_scale
):
    """Kernel value of one pair, as in the direct sums (``dx``, ``dy`` source -> receptor)."""
    s = dx * dx + dy * dy
    if s > c2:
        return 0.0
    if s < s_near:
        return k_near
    k = _lookup(s, table, shift, base, lowmask, scale, s_lo, s_hi)
    if rose_w.shape[0] > 0:
        k = k * _rose_weight(dx, dy, rose_w, rose_scale)
    return k


@ngjit
def near_field_correction(
    xs,
    ys,
    es,
    gs,
    x_min,
    y_max,
    cell,
    n_rows,
    n_cols,
    radius_cells,
    img,
    table,
    shift,
    base,
    lowmask,
    scale,
    s_lo,
    s_hi,
    s_near,
    k_near,
    c2,
    rose_w,
    rose_scale,
    out,
):
    """Replace the cloud-in-cell approximation by the exact pair value near each source.

    For the cells within ``radius_cells`` of a source's four CIC nodes, adds
    ``e * (exact - sum_n w_n * img[offset to node n])`` to ``out[g]`` (``out`` holds the FFT
    result). Serial over sources (a scatter; cheap: about (2R+2)^2 cells per source).
    """
    hr = (img.shape[0] - 1) // 2
    hc = (img.shape[1] - 1) // 2
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
                exact = _pair_value(
                    xc - xs[j],
                    yc - ys[j],
                    table,
                    shift,
                    base,
                    lowmask,
                    scale,
                    s_lo,
                    s_hi,
                    s_near,
                    k_near,
                    c2,
                    rose_w,
                    rose_scale,
                )
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
                        approx += wy * wx * img[di, dj]
                out[g, i, jj] += e * (exact - approx)
