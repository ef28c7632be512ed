"""Stage ``deposition``: farm emissions -> NH3 deposition on hexagon receptors and a grid,
compared with the KDW of the habitat there.

Total deposition = background raster + modelled change (scenario minus current). In the
base run the change is zero, so the overload flags follow the background; the farms'
modelled contribution is reported alongside (split into farms inside / outside the zones,
in one pass) and is what scenarios change.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio import features

from n2kzones.config import Config
from n2kzones.deposition import GridSpec, RadialKernel, WindRose, default_kernel, deposition_at_points, deposition_on_grid, load_wind_rose
from n2kzones.deposition.receptors import hexagon_receptors, hexagon_side_m
from n2kzones.io.raster import read_raster
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


def kdw_grid(habitats: gpd.GeoDataFrame, grid: GridSpec, not_sensitive_from: float) -> np.ndarray:
    """Lowest KDW of the sensitive habitat whose polygon covers each cell centre (NaN elsewhere)."""
    sens = habitats.loc[habitats["kdw_mol_ha"] < not_sensitive_from].sort_values("kdw_mol_ha", ascending=False)
    if sens.empty:
        return np.full(grid.shape, np.nan)
    shapes = zip(sens.geometry, sens["kdw_mol_ha"].astype(float), strict=True)  # later (lower) wins
    return features.rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=np.nan, dtype="float64")


def run_deposition(cfg: Config) -> dict[str, pd.DataFrame]:
    """Compute deposition on receptors and grid; flag overload; write rasters and tables."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    stage = StagePaths(cfg.output_dir)
    paths = DepositionPaths(cfg.output_dir)
    if not stage.farms.exists():
        run_overlay(cfg)
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
    by_group = deposition_at_points(
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
    t2 = time.perf_counter()
    farm_grid = deposition_on_grid(sx, sy, emission, kernel, grid, method=d.grid_method, wind_rose=rose, cutoff_m=d.cutoff_m, engine=d.engine)
    log.info("grid %d x %d cells of %g m (%s) in %.1f s", *grid.shape, d.cell_m, d.grid_method, time.perf_counter() - t2)
    bg_grid = background.onto(grid.transform, grid.shape, cfg.project.crs)
    total_grid = bg_grid  # + scenario change (zero in the base run)
    kdw = kdw_grid(habitats, grid, params.kdw.not_sensitive_from_mol_ha)
    exceed = np.where(np.isfinite(kdw) & np.isfinite(total_grid), total_grid - kdw, np.nan)

    write_parquet(paths.receptors, receptors)
    outputs = [
        grid.write_geotiff(paths.tif("deposition_farms"), farm_grid, nodata=NODATA, overwrite=True),
        grid.write_geotiff(paths.tif("deposition_total"), total_grid, nodata=NODATA, overwrite=True),
        grid.write_geotiff(paths.tif("exceedance"), exceed, nodata=NODATA, overwrite=True),
        write_geopackage(paths.geopackage, {"receptors": receptors}),
        write_csv(paths.area_table, table),
    ]
    _write_manifest(
        cfg, "deposition", {"habitats": hab_report}, [paths.receptors, *outputs], started,
        extra={"kernel": kernel.provenance, "wind_rose": cfg.deposition.wind_rose, "grid": {"x_min": grid.x_min, "y_min": grid.y_min, "cell_m": grid.cell_m, "shape": list(grid.shape)}},
    )
    log.info("stage deposition done in %.1f s", time.perf_counter() - t0)
    return {"receptors": receptors, "area_deposition": table}
