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
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from n2kzones.compute import Backend, open_backend
from n2kzones.config import Config
from n2kzones.deposition import GridSpec
from n2kzones.deposition.receptors import hexagon_receptors
from n2kzones.deposition.tiles import GridInputs, grid_tile, sensitive_habitats
from n2kzones.errors import InputError
from n2kzones.io.raster import TiledGeoTIFFWriter
from n2kzones.io.writers import write_csv, write_geopackage, write_parquet
from n2kzones.overload import area_overload_table, flag_overload
from n2kzones.stages.common import check_deposition_size, model_from_config
from n2kzones.stages.framework import StageRun, stage_run

log = logging.getLogger(__name__)

#: Source groups for attribution (farms inside any zone / outside every zone).
GROUPS = ("in_zone", "outside_zone")
NODATA = -9999.0


def farm_groups(farms: pd.DataFrame) -> np.ndarray:
    """Group index per farm: 0 inside a zone, 1 outside every zone."""
    return np.where(farms["zone_key"].fillna("").to_numpy() != "", 0, 1).astype(np.int64)


#: Raster name (as :func:`grid_tile` returns it) -> catalogue key of its GeoTIFF.
RASTERS = {"deposition_farms": "deposition_farms_tif", "deposition_total": "deposition_total_tif", "exceedance": "exceedance_tif"}


def write_grids(backend: Backend, grid: GridSpec, inputs: GridInputs, paths: dict[str, Path], *, tile_cells: int, cog: bool) -> list[Path]:
    """Compute the grid tile by tile on ``backend`` and write the three rasters as they come.

    ``paths`` maps each raster name of :func:`grid_tile` to the GeoTIFF to write.
    """
    tiles = grid.tiles(tile_cells)
    names = tuple(RASTERS)
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        writers = {n: stack.enter_context(TiledGeoTIFFWriter(paths[n], grid, nodata=NODATA, cog=cog)) for n in names}
        for i, arrays in backend.map(grid_tile, tiles, shared={"inputs": inputs}, name="grid-tile"):
            for n in names:
                writers[n].write(tiles[i], arrays[n])
    log.info(
        "grid %d x %d cells of %g m (%s) in %d tiles of <= %d cells on %s in %.1f s",
        *grid.shape, grid.cell_m, inputs.method, len(tiles), tile_cells, backend.name, time.perf_counter() - t0,
    )
    return [paths[n] for n in names]


def run_deposition(cfg: Config, *, backend: Backend | None = None) -> dict[str, pd.DataFrame]:
    """Stage ``deposition``: deposition (mol N/ha/yr) on receptors and grid; KDW overload."""
    if backend is None:
        with open_backend(cfg.compute) as backend:
            return run_deposition(cfg, backend=backend)
    with stage_run(cfg, "deposition") as run:
        return _deposition(run, backend)


def _deposition(run: StageRun, backend: Backend) -> dict[str, pd.DataFrame]:
    cfg = run.cfg
    params = cfg.params
    d = cfg.deposition
    farms = run.read_upstream("farms")
    areas = run.read_upstream("areas")
    habitats, _ = run.read_layer("habitats")
    background = run.read_raster("background_deposition")
    model = model_from_config(cfg, run)
    fb, hb0, sens = farms.total_bounds, habitats.total_bounds, habitats["kdw_mol_ha"] < params.kdw.not_sensitive_from_mol_ha
    check_deposition_size(cfg, (min(fb[0], hb0[0]), min(fb[1], hb0[1]), max(fb[2], hb0[2]), max(fb[3], hb0[3])), float(habitats.loc[sens].area.sum() / 1e4))

    receptors = hexagon_receptors(habitats, not_sensitive_from_mol_ha=params.kdw.not_sensitive_from_mol_ha, hexagon_ha=d.hexagon_ha)
    sx, sy = farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy()
    emission = farms["emission_kg_nh3"].to_numpy(float)
    groups = farm_groups(farms)
    t1 = time.perf_counter()
    by_group = model.at_points(
        sx, sy, emission, receptors.geometry.x.to_numpy(), receptors.geometry.y.to_numpy(),
        groups=groups, n_groups=len(GROUPS), backend=backend,
    )
    log.info("deposition on %d receptors from %d farms in %.1f s", len(receptors), len(farms), time.perf_counter() - t1)
    for g, name in enumerate(GROUPS):
        receptors[f"farms_{name}_mol_ha"] = by_group[g]
    receptors["farms_mol_ha"] = by_group.sum(axis=0)
    receptors["background_mol_ha"] = background.sample(receptors.geometry.x.to_numpy(), receptors.geometry.y.to_numpy())
    missing = receptors["background_mol_ha"].isna()
    if missing.any():
        bg = cfg.resolve(cfg.inputs.background_deposition.path)  # type: ignore[union-attr]
        raise InputError(
            f"the background raster {bg} does not cover {int(missing.sum())} of {len(receptors)} receptors "
            f"(e.g. {receptors.loc[missing, 'receptor_id'].head(3).tolist()} in areas "
            f"{sorted(receptors.loc[missing, 'site_code'].astype(str).unique())[:5]}); extend it to all "
            "habitat, or leave those areas out of the habitat layer"
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
        source_x_m=sx, source_y_m=sy, emission_kg_nh3=emission, kernel=model.kernel, wind_rose=model.wind_rose,
        cutoff_m=model.cutoff_m, method=d.grid_method, engine=model.implementation, background=background,
        crs=cfg.project.crs, parallel=backend.parallel_kernels,
        sensitive_habitats=sensitive_habitats(habitats, params.kdw.not_sensitive_from_mol_ha),
    )
    tifs = {n: run.output(key) for n, key in RASTERS.items()}
    write_grids(backend, grid, inputs, tifs, tile_cells=cfg.compute.tile_cells, cog=cfg.compute.cog)
    write_parquet(run.output("receptors"), receptors)
    write_geopackage(run.output("deposition_gpkg"), {"receptors": receptors})
    write_csv(run.output("area_deposition"), table)
    run.extra.update(
        engine=backend.name, kernel=model.kernel.provenance, wind_rose=cfg.deposition.wind_rose,
        grid={"x_min": grid.x_min, "y_min": grid.y_min, "cell_m": grid.cell_m, "shape": list(grid.shape)},
    )
    return {"receptors": receptors, "area_deposition": table}
