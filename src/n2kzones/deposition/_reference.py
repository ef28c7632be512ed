"""Plain-NumPy reference of the direct deposition sum (readable, slow).

Evaluates every source-receptor pair, a block of receptors at a time, with the same kernel
lookup table (:meth:`KernelLookup.evaluate_s`) and the same wind-rose formula
(:meth:`WindRose.weight_dxdy`) as the Numba engine, so the two agree to rounding of the
summation order (tests require a max relative difference <= 1e-9).
"""

from __future__ import annotations

import numpy as np

from n2kzones.deposition.kernel import KernelLookup, WindRose

#: Source-receptor pairs per block (bounds the temporary arrays to ~2 MB each).
PAIRS_PER_BLOCK = 1 << 18


def gather_reference(
    receptor_x_m: np.ndarray,
    receptor_y_m: np.ndarray,
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    lookup: KernelLookup,
    s_near_m2: float,
    k_near: float,
    cutoff2_m2: float,
    wind_rose: WindRose | None,
) -> np.ndarray:
    """Deposition (mol N/ha/yr) at each receptor, shape ``(n_groups, n_receptors)``.

    Parameters match :mod:`n2kzones.deposition._numba`: pairs closer than
    ``sqrt(s_near_m2)`` get ``k_near`` (no wind-rose weight), pairs farther than
    ``sqrt(cutoff2_m2)`` nothing.
    """
    n_rec = receptor_x_m.size
    out = np.zeros((n_groups, n_rec))
    if n_rec == 0 or source_x_m.size == 0:
        return out
    onehot = np.zeros((source_x_m.size, n_groups))
    onehot[np.arange(source_x_m.size), groups] = emission_kg_nh3
    step = max(1, PAIRS_PER_BLOCK // source_x_m.size)
    for start in range(0, n_rec, step):
        sl = slice(start, min(n_rec, start + step))
        dx = receptor_x_m[sl, None] - source_x_m[None, :]
        dy = receptor_y_m[sl, None] - source_y_m[None, :]
        s = dx * dx + dy * dy
        k = lookup.evaluate_s(s)
        if wind_rose is not None:
            k = k * wind_rose.weight_dxdy(dx, dy)
        k = np.where(s < s_near_m2, k_near, k)
        k = np.where(s > cutoff2_m2, 0.0, k)
        out[:, sl] = (k @ onehot).T
    return out
