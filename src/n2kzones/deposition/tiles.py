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
from rasterio.warp import Resampling

from n2kzones.deposition.classes import (
    LANDUSES,
    KernelTable,
    ReceptorTerms,
    SourceTerms,
    class_deposition_on_grid,
)
from n2kzones.deposition.engine import deposition_on_grid
from n2kzones.deposition.kernel import RadialKernel, WindRose
from n2kzones.errors import InputError
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
class GridClasses:
    """Where a class-aware grid takes each cell's class (land use, z0, NH3 background).

    Land use: the class code of ``landuse`` (OPS/DEPAC 1-9) in the cell, else the class of
    the habitat polygon covering its centre (``habitats``: ``landuse`` names, later rows on
    top), else ``default_landuse`` (open land off habitat). z0: ``z0`` there (m), else the
    z0 of the land use (``z0_m``). NH3: ``nh3`` there (ug/m3, bilinear), else
    ``nh3_default_ug_m3``. ``source_height_m`` is each source's height (m).
    """

    table: KernelTable
    source_height_m: np.ndarray
    habitats: gpd.GeoDataFrame
    default_landuse: str
    z0_m: dict[str, float]
    nh3_default_ug_m3: float
    landuse: Raster | None = None
    z0: Raster | None = None
    nh3: Raster | None = None

    def __post_init__(self) -> None:
        names = {self.default_landuse, *map(str, self.habitats["landuse"])} if len(self.habitats) else {self.default_landuse}
        unknown = sorted(names - set(self.table.landuses))
        if unknown:
            raise InputError(f"unknown grid land use {unknown}; allowed: {', '.join(self.table.landuses)}")
        missing = sorted(set(self.table.landuses) - set(self.z0_m))
        if missing:
            raise InputError(f"no z0 for land use {missing}: add it to [parameters.receptor_classes.z0_m]")

    def cells(self, grid: GridSpec, crs: str) -> ReceptorTerms:
        """Each cell's class (cells row-major, as :meth:`GridSpec.cell_centre_points`)."""
        names = list(self.table.landuses)
        code = np.full(grid.shape, float(names.index(self.default_landuse)))
        if len(self.habitats):
            shapes = zip(self.habitats.geometry, [float(names.index(n)) for n in self.habitats["landuse"]], strict=True)
            code = features.rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=np.nan, dtype="float64")
            code = np.where(np.isnan(code), float(names.index(self.default_landuse)), code)
        if self.landuse is not None:
            ops = self.landuse.onto(grid.transform, grid.shape, crs, resampling=Resampling.nearest)
            index_of = {c: names.index(n) for c, n in LANDUSES.items() if n in names}
            has = np.isfinite(ops) & np.isin(ops, list(index_of))
            code[has] = [index_of[int(v)] for v in ops[has]]
        landuse = np.array(names, dtype=object)[code.astype(np.int64).ravel()]
        z0 = np.array([self.z0_m[n] for n in names])[code.astype(np.int64).ravel()]
        if self.z0 is not None:
            z = self.z0.onto(grid.transform, grid.shape, crs).ravel()
            z0 = np.where(np.isfinite(z) & (z > 0), z, z0)
        nh3 = np.full(grid.n_rows * grid.n_cols, self.nh3_default_ug_m3)
        if self.nh3 is not None:
            v = self.nh3.onto(grid.transform, grid.shape, crs).ravel()
            nh3 = np.where(np.isfinite(v) & (v > 0), v, nh3)
        return ReceptorTerms.from_values(self.table, landuse, z0, nh3)


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
    #: class-aware grids: where each cell's class comes from; None: ``kernel`` everywhere
    classes: GridClasses | None = None


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
    if inputs.classes is None:
        farm = deposition_on_grid(
            sx, sy, e, inputs.kernel, g, method=inputs.method, wind_rose=inputs.wind_rose,  # type: ignore[arg-type]
            cutoff_m=inputs.cutoff_m, engine=inputs.engine, parallel=inputs.parallel, fft_pad_m=pad,  # type: ignore[arg-type]
        )
    else:
        heights = inputs.classes.source_height_m
        heights = heights[near] if inputs.cutoff_m is not None else heights
        table = inputs.classes.table
        farm = class_deposition_on_grid(
            sx, sy, e, table, SourceTerms.from_heights(table, heights), inputs.classes.cells(g, inputs.crs), g,
            method=inputs.method, wind_rose=inputs.wind_rose, cutoff_m=inputs.cutoff_m, engine=inputs.engine,
            parallel=inputs.parallel, fft_pad_m=pad,
        )
    total = inputs.background.onto(g.transform, g.shape, inputs.crs)  # + scenario change (zero in the base run)
    hab = inputs.sensitive_habitats
    near_hab = np.sort(hab.sindex.query(shapely.box(x0, y0, x1, y1))) if len(hab) else np.zeros(0, int)
    kdw = kdw_grid(hab.iloc[near_hab], g, math.inf)
    exceed = np.where(np.isfinite(kdw) & np.isfinite(total), total - kdw, np.nan)
    return {"deposition_farms": farm, "deposition_total": total, "exceedance": exceed}
