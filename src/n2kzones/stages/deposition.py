"""Stage ``deposition``: farm emissions -> NH3 deposition on hexagon receptors and a grid,
compared with the KDW of the habitat there.

Total deposition = background raster + modelled change (scenario minus current). In the
base run the change is zero, so the overload flags follow the background; the farms'
modelled contribution is reported alongside (split into farms inside / outside the zones,
in one pass) and is what scenarios change.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio import features

from n2kzones.compute import Backend, open_backend
from n2kzones.config import Config
from n2kzones.deposition import (
    GridSpec,
    RadialKernel,
    WindRose,
    default_kernel,
    deposition_on_grid,
    load_wind_rose,
)
from n2kzones.deposition.grid import Tile
from n2kzones.deposition.receptors import hexagon_receptors, hexagon_side_m
from n2kzones.io.raster import Raster, TiledGeoTIFFWriter, read_raster
from n2kzones.io.readers import read_layer
from n2kzones.io.writers import write_csv, write_geopackage, write_parquet
from n2kzones.overload import area_overload_table, flag_overload
from n2kzones.pipeline import StagePaths, _write_manifest, run_overlay

log = logging.getLogger(__name__)

#: Source groups for attribution (farms inside any zone / outside every zone).
GROUPS = ("in_zone", "outside_zone")
NODATA = -9999.0


@dataclass(frozen=True)
class DepositionPaths:
    root: Path

    @property
    def receptors(self) -> Path:
        return self.root / "stages" / "receptors.parquet"

    @property
    def geopackage(self) -> Path:
        return self.root / "deposition.gpkg"

    @property
    def area_table(self) -> Path:
        return self.root / "area_deposition.csv"

    def tif(self, name: str) -> Path:
        return self.root / f"{name}.tif"


def kernel_from_config(cfg: Config) -> RadialKernel:
    """The configured kernel: a user's CSV profile, or the packaged OPS fit."""
    d = cfg.deposition
    if d.kernel_csv is None:
        return default_kernel()
    return RadialKernel.from_csv(cfg.resolve(d.kernel_csv), value_col=d.kernel_value_column)


def wind_rose_from_config(cfg: Config) -> WindRose | None:
    name = cfg.deposition.wind_rose
    if name == "isotropic":
        return None
    path = cfg.resolve(Path(name))
    return WindRose.from_json(path) if path.suffix == ".json" and path.exists() else load_wind_rose(name)


def farm_groups(farms: pd.DataFrame) -> np.ndarray:
    """Group index per farm: 0 inside a zone, 1 outside every zone."""
    return np.where(farms["zone_key"].fillna("").to_numpy() != "", 0, 1).astype(np.int64)


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
    farm = deposition_on_grid(
        sx, sy, e, inputs.kernel, g, method=inputs.method, wind_rose=inputs.wind_rose,  # type: ignore[arg-type]
        cutoff_m=inputs.cutoff_m, engine=inputs.engine, parallel=inputs.parallel, fft_pad_m=pad,  # type: ignore[arg-type]
    )
    total = inputs.background.onto(g.transform, g.shape, inputs.crs)  # + scenario change (zero in the base run)
    hab = inputs.sensitive_habitats
    near_hab = np.sort(hab.sindex.query(shapely.box(x0, y0, x1, y1))) if len(hab) else np.zeros(0, int)
    kdw = kdw_grid(hab.iloc[near_hab], g, math.inf)
    exceed = np.where(np.isfinite(kdw) & np.isfinite(total), total - kdw, np.nan)
    return {"deposition_farms": farm, "deposition_total": total, "exceedance": exceed}


def write_grids(backend: Backend, grid: GridSpec, inputs: GridInputs, paths: DepositionPaths, *, tile_cells: int, cog: bool) -> list[Path]:
    """Compute the grid tile by tile on ``backend`` and write the three rasters as they come."""
    tiles = grid.tiles(tile_cells)
    names = ("deposition_farms", "deposition_total", "exceedance")
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        writers = {n: stack.enter_context(TiledGeoTIFFWriter(paths.tif(n), grid, nodata=NODATA, cog=cog)) for n in names}
        for i, arrays in backend.map(grid_tile, tiles, shared={"inputs": inputs}, name="grid-tile"):
            for n in names:
                writers[n].write(tiles[i], arrays[n])
    log.info(
        "grid %d x %d cells of %g m (%s) in %d tiles of <= %d cells on %s in %.1f s",
        *grid.shape, grid.cell_m, inputs.method, len(tiles), tile_cells, backend.name, time.perf_counter() - t0,
    )
    return [paths.tif(n) for n in names]


def run_deposition(cfg: Config, *, backend: Backend | None = None) -> dict[str, pd.DataFrame]:
    """Compute deposition on receptors and grid; flag overload; write rasters and tables."""
    if backend is None:
        with open_backend(cfg) as backend:
            return run_deposition(cfg, backend=backend)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    stage = StagePaths(cfg.output_dir)
    paths = DepositionPaths(cfg.output_dir)
    if not stage.farms.exists():
        run_overlay(cfg, backend=backend)
    params = cfg.params
    d = cfg.deposition
    if cfg.inputs.habitats is None or cfg.inputs.background_deposition is None:
        raise ValueError("the deposition stage needs inputs.habitats and inputs.background_deposition")
    farms = gpd.read_parquet(stage.farms)
    areas = gpd.read_parquet(stage.areas)
    habitats, hab_report = read_layer("habitats", cfg.inputs.habitats, crs=cfg.project.crs, params=params, base_dir=cfg.base_dir)
    background = read_raster(cfg.resolve(cfg.inputs.background_deposition.path), crs=cfg.project.crs, assume_crs=cfg.inputs.background_deposition.assume_crs)
    kernel = kernel_from_config(cfg)
    rose = wind_rose_from_config(cfg)

    receptors = hexagon_receptors(habitats, not_sensitive_from_mol_ha=params.kdw.not_sensitive_from_mol_ha, hexagon_ha=d.hexagon_ha)
    sx, sy = farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy()
    emission = farms["emission_kg_nh3"].to_numpy(float)
    groups = farm_groups(farms)
    t1 = time.perf_counter()
    by_group = backend.deposition_at_points(
        sx, sy, emission, receptors.geometry.x.to_numpy(), receptors.geometry.y.to_numpy(), kernel,
        wind_rose=rose, cutoff_m=d.cutoff_m, groups=groups, n_groups=len(GROUPS), engine=d.engine,
        receptor_radius_m=hexagon_side_m(d.hexagon_ha) * np.sqrt(3 * np.sqrt(3) / (2 * np.pi)),
    )
    log.info("deposition on %d receptors from %d farms in %.1f s", len(receptors), len(farms), time.perf_counter() - t1)
    for g, name in enumerate(GROUPS):
        receptors[f"farms_{name}_mol_ha"] = by_group[g]
    receptors["farms_mol_ha"] = by_group.sum(axis=0)
    receptors["background_mol_ha"] = background.sample(receptors.geometry.x.to_numpy(), receptors.geometry.y.to_numpy())
    missing = receptors["background_mol_ha"].isna()
    if missing.any():
        raise ValueError(
            f"the background raster does not cover {int(missing.sum())} receptors "
            f"(e.g. {receptors.loc[missing, 'receptor_id'].head(3).tolist()}); extend it to all habitat"
        )
    receptors["change_mol_ha"] = 0.0  # base run: scenario == current
    receptors["total_mol_ha"] = receptors["background_mol_ha"] + receptors["change_mol_ha"]
    receptors = pd.concat(
        [receptors, flag_overload(receptors["total_mol_ha"], receptors["kdw_mol_ha"], near_margin_mol_ha=params.kdw.near_overload_margin_mol_ha)],
        axis=1,
    )
    receptors = gpd.GeoDataFrame(receptors, geometry="geometry", crs=habitats.crs)

    table = area_overload_table(receptors)
    contrib = pd.DataFrame(
        {
            f"mean_farms_{n}_mol_ha": [
                np.average(g[f"farms_{n}_mol_ha"], weights=g["habitat_ha"])
                for g in (receptors.loc[receptors["site_code"] == code] if code != "ALL" else receptors for code in table["site_code"])
            ]
            for n in GROUPS
        },
        index=table["site_code"],
    )
    names = areas.set_index("site_code")["name"]
    table.insert(1, "name", table["site_code"].map(names).fillna("all areas"))
    table = table.merge(contrib, left_on="site_code", right_index=True, how="left")

    # Grid outputs
    bounds = np.array([*farms.total_bounds[:2], *farms.total_bounds[2:]])
    hb = habitats.total_bounds
    ext = (min(bounds[0], hb[0]) - d.grid_margin_m, min(bounds[1], hb[1]) - d.grid_margin_m,
           max(bounds[2], hb[2]) + d.grid_margin_m, max(bounds[3], hb[3]) + d.grid_margin_m)
    grid = GridSpec.from_bounds(ext, d.cell_m)
    inputs = GridInputs(
        source_x_m=sx, source_y_m=sy, emission_kg_nh3=emission, kernel=kernel, wind_rose=rose,
        cutoff_m=d.cutoff_m, method=d.grid_method, engine=d.engine, background=background,
        crs=cfg.project.crs, parallel=backend.parallel_kernels,
        sensitive_habitats=sensitive_habitats(habitats, params.kdw.not_sensitive_from_mol_ha),
    )
    grids = write_grids(backend, grid, inputs, paths, tile_cells=cfg.compute.tile_cells, cog=cfg.compute.cog)
    write_parquet(paths.receptors, receptors)
    outputs = [
        *grids,
        write_geopackage(paths.geopackage, {"receptors": receptors}),
        write_csv(paths.area_table, table),
    ]
    _write_manifest(
        cfg, "deposition", {"habitats": hab_report}, [paths.receptors, *outputs], started,
        extra={"engine": backend.name, "kernel": kernel.provenance, "wind_rose": cfg.deposition.wind_rose, "grid": {"x_min": grid.x_min, "y_min": grid.y_min, "cell_m": grid.cell_m, "shape": list(grid.shape)}},
    )
    log.info("stage deposition done in %.1f s", time.perf_counter() - t0)
    return {"receptors": receptors, "area_deposition": table}
