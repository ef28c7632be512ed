"""Deposition, total deposition and KDW exceedance on one tile of the grid.

The deposition stage computes its grid tile by tile with :func:`grid_tile` on either compute
backend, so the rasters of the local and the Dask backend are identical; a tile takes every
source within the cut-off plus its halo, so tiled and untiled grids agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from rasterio import features

from n2kzones.deposition.engine import deposition_on_grid
from n2kzones.deposition.kernel import RadialKernel, WindRose
from n2kzones.io.grid import GridSpec, Tile
from n2kzones.io.raster import Raster


def sensitive_habitats(habitats: gpd.GeoDataFrame, not_sensitive_from: float) -> gpd.GeoDataFrame:
    """Habitat polygons with a KDW below ``not_sensitive_from``, highest KDW first (burn order)."""
    sens = habitats.loc[habitats["kdw_mol_ha"] < not_sensitive_from, ["kdw_mol_ha", "geometry"]]
    return sens.sort_values("kdw_mol_ha", ascending=False, kind="stable").reset_index(drop=True)


def kdw_grid(habitats: gpd.GeoDataFrame, grid: GridSpec, not_sensitive_from: float) -> np.ndarray:
    """Lowest KDW of the sensitive habitat whose polygon covers each cell centre (NaN elsewhere)."""
    sens = sensitive_habitats(habitats, not_sensitive_from)
    if sens.empty:
        return np.full(grid.shape, np.nan)
    shapes = zip(sens.geometry, sens["kdw_mol_ha"].astype(float), strict=True)  # later (lower) wins
    return features.rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=np.nan, dtype="float64")


@dataclass(frozen=True)
class GridInputs:
    """What every grid tile needs (shipped once to each Dask worker)."""

    source_x_m: np.ndarray
    source_y_m: np.ndarray
    emission_kg_nh3: np.ndarray
    kernel: RadialKernel
    wind_rose: WindRose | None
    cutoff_m: float | None
    method: str
    engine: str
    background: Raster
    crs: str
    sensitive_habitats: gpd.GeoDataFrame  # KDW below the 'not sensitive' value, highest KDW first
    parallel: bool
    #: class-aware grids: (kernel, source indices, emission shares) per pass; None: ``kernel``
    grid_kernels: list | None = None


def grid_tile(tile: Tile, *, inputs: GridInputs) -> dict[str, np.ndarray]:
    """Farm deposition, total deposition and exceedance of the KDW on one tile (mol N/ha/yr).

    Sources farther than the cut-off from the tile are left out (they add nothing); without
    a cut-off every source counts and the FFT pad reaches the farthest one. Both engines
    compute the grid with this function, tile by tile, so their rasters are identical.
    """
    g = tile.grid
    sx, sy, e = inputs.source_x_m, inputs.source_y_m, inputs.emission_kg_nh3
    x0, y0, x1, y1 = g.bounds
    if inputs.cutoff_m is not None:
        # the FFT path's padded raster reaches a cell beyond the cut-off (cloud-in-cell
        # weights of a source there still land inside it); take every source it would take
        c = inputs.cutoff_m + 2 * g.cell_m
        near = (sx >= x0 - c) & (sx <= x1 + c) & (sy >= y0 - c) & (sy <= y1 + c)
        sx, sy, e = sx[near], sy[near], e[near]
        pad = None
    else:
        pad = max(x0 - sx.min(), sx.max() - x1, y0 - sy.min(), sy.max() - y1, 0.0) if sx.size else 0.0
        pad = math.ceil(pad / g.cell_m) * g.cell_m if pad > 0 else None
    passes = [(inputs.kernel, None, None)] if inputs.grid_kernels is None else inputs.grid_kernels
    in_tile = np.flatnonzero(near) if inputs.cutoff_m is not None else np.arange(inputs.source_x_m.size)
    farm = np.zeros(g.shape)
    for kernel, s_idx, share in passes:  # one pass per source height node (class-aware grids)
        if s_idx is None:
            px, py, pe = sx, sy, e
        else:
            w = np.zeros(inputs.source_x_m.size)
            w[s_idx] = share
            sel = in_tile[w[in_tile] > 0]
            px, py, pe = inputs.source_x_m[sel], inputs.source_y_m[sel], inputs.emission_kg_nh3[sel] * w[sel]
        part = deposition_on_grid(
            px, py, pe, kernel, g, method=inputs.method, wind_rose=inputs.wind_rose,  # type: ignore[arg-type]
            cutoff_m=inputs.cutoff_m, engine=inputs.engine, parallel=inputs.parallel, fft_pad_m=pad,  # type: ignore[arg-type]
        )
        farm = part if s_idx is None else farm + part
    total = inputs.background.onto(g.transform, g.shape, inputs.crs)  # + scenario change (zero in the base run)
    hab = inputs.sensitive_habitats
    near_hab = np.sort(hab.sindex.query(shapely.box(x0, y0, x1, y1))) if len(hab) else np.zeros(0, int)
    kdw = kdw_grid(hab.iloc[near_hab], g, math.inf)
    exceed = np.where(np.isfinite(kdw) & np.isfinite(total), total - kdw, np.nan)
    return {"deposition_farms": farm, "deposition_total": total, "exceedance": exceed}
