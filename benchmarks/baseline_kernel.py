"""The isotropic gather kernel as it was before the one-driver refactoring (baseline only).

A verbatim copy of ``gather_iso_range`` / ``gather_iso_parallel`` and their helpers from
``n2kzones.deposition._numba`` at commit 0429da7 (24-25 positional arguments each). Kept
here, not in the package, so that ``bench_deposition.py`` can measure the new driver's
isotropic pairs/s against it in the same run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

ngjit = njit(nogil=True, cache=True)
ngjit_sum = njit(nogil=True, cache=True, fastmath={"reassoc", "nsz"})
BLOCK = 64
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
