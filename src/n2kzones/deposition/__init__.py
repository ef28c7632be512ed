"""Array-level NH3 deposition engine.

Deposition in mol N/ha/yr from point sources emitting kg NH3/yr, via a radial kernel
(mol N/ha/yr per kg NH3/yr versus distance, optionally weighted by a wind rose). Everything
is in EPSG:28992 (RD New, metres).

Public API
----------
:func:`deposition_at_points`, :func:`deposition_on_grid`
    Sum over sources (direct Numba/NumPy engines, or FFT on grids), optionally split by
    source group in one pass.
:class:`RadialKernel`, :func:`default_kernel`
    Tabulated kernel; the default is a fit to OPS-LT v5.3.1.0 (5 m source, grass, z0 0.1 m).
:class:`WindRose`, :func:`load_wind_rose`
    Direction weights (mean 1); packaged ``"ops_2005_region5"``.
:class:`GridSpec`
    Aligned RD New grid with GeoTIFF output.
"""

from __future__ import annotations

from n2kzones.deposition.engine import deposition_at_points, deposition_on_grid
from n2kzones.deposition.kernel import (
    HECTARE_DISC_RADIUS_M,
    KernelLookup,
    RadialKernel,
    WindRose,
    default_kernel,
    load_wind_rose,
)
from n2kzones.io.grid import GridSpec

__all__ = [
    "HECTARE_DISC_RADIUS_M",
    "GridSpec",
    "KernelLookup",
    "RadialKernel",
    "WindRose",
    "default_kernel",
    "deposition_at_points",
    "deposition_on_grid",
    "load_wind_rose",
]
