"""Numba kernels of :func:`n2kzones.io.validate.matched_polygons` (the edge matching that
lets the coverage check give GEOS only the polygons that need it).

:func:`n2kzones.io.validate.matched_polygons_reference` is the NumPy version of the same
steps, which the tests compare against. Plain arrays go in and out:

``xy``, ``bits``
    Ring vertices (m, float64, shape (n, 2)) and the same memory as uint64 (``xy.view``).
``ring_of``
    The ring of each vertex (int64, rings contiguous and in order).

An edge is ``k -> k + 1`` for consecutive vertices of one ring, left out if of zero
length. Its *segment* is its lower end point (x, then y) and its higher one; ``up`` says
whether the edge runs from the lower to the higher, after the ring is turned the right
way (exterior counter-clockwise, hole clockwise).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_SEED = np.uint64(0x9E3779B97F4A7C15)
_MUL = np.uint64(0xBF58476D1CE4E5B9)
_SHIFT = np.uint64(31)


@njit(cache=True, nogil=True)
def _mix(h: np.uint64, v: np.uint64) -> np.uint64:
    h = (h ^ v) * _MUL
    return h ^ (h >> _SHIFT)


@njit(cache=True, nogil=True)
def edges(xy: np.ndarray, bits: np.ndarray, ring_of: np.ndarray, wrong_way: np.ndarray):  # noqa: ANN201
    """The edges: start vertex (int64), segment hash (uint64), lower end first (bool) and
    runs up (bool) per edge; ``wrong_way`` per ring turns its edges round."""
    n = len(ring_of)
    start = np.empty(n, np.int64)
    hashes = np.empty(n, np.uint64)
    flip = np.empty(n, np.bool_)
    up = np.empty(n, np.bool_)
    m = 0
    for k in range(n - 1):
        if ring_of[k] != ring_of[k + 1]:
            continue
        ax, ay, bx, by = xy[k, 0], xy[k, 1], xy[k + 1, 0], xy[k + 1, 1]
        if ax == bx and ay == by:
            continue
        f = ax > bx or (ax == bx and ay > by)
        lo, hi = (k + 1, k) if f else (k, k + 1)
        h = _mix(_mix(_mix(_mix(_SEED, bits[lo, 0]), bits[lo, 1]), bits[hi, 0]), bits[hi, 1])
        start[m], hashes[m], flip[m] = k, h, f
        up[m] = f != wrong_way[ring_of[k]]
        m += 1
    return start[:m], hashes[:m], flip[:m], up[:m]


@njit(cache=True, nogil=True)
def twice_ring_areas(xy: np.ndarray, ring_of: np.ndarray, n_rings: int) -> np.ndarray:
    """Twice the signed area (m2) of every ring (shoelace; counter-clockwise positive)."""
    out = np.zeros(n_rings)
    for k in range(len(ring_of) - 1):
        if ring_of[k] == ring_of[k + 1]:
            out[ring_of[k]] += xy[k, 0] * xy[k + 1, 1] - xy[k + 1, 0] * xy[k, 1]
    return out


@njit(cache=True, nogil=True)
def matched_edges(order: np.ndarray, hashes: np.ndarray, start: np.ndarray, flip: np.ndarray,
                  up: np.ndarray, owner: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Per edge: matched, i.e. the only two edges of their hash (``order`` sorts them), the
    same segment bit for bit, running opposite ways, of two polygons (``owner`` per edge)."""
    m = len(order)
    matched = np.zeros(m, np.bool_)
    p = 0
    while p < m:
        q = p + 1
        while q < m and hashes[order[q]] == hashes[order[p]]:
            q += 1
        if q - p == 2:
            i, j = order[p], order[p + 1]
            if up[i] != up[j] and owner[i] != owner[j]:
                ki, kj = start[i], start[j]
                li, hi_ = (ki + 1, ki) if flip[i] else (ki, ki + 1)
                lj, hj = (kj + 1, kj) if flip[j] else (kj, kj + 1)
                same = (bits[li, 0] == bits[lj, 0] and bits[li, 1] == bits[lj, 1]
                        and bits[hi_, 0] == bits[hj, 0] and bits[hi_, 1] == bits[hj, 1])
                if same:
                    matched[i] = True
                    matched[j] = True
        p = q
    return matched
