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
from n2kzones.deposition.classes import LANDUSES
from n2kzones.deposition.model import DepositionModel
from n2kzones.deposition.receptors import hexagon_receptors
from n2kzones.deposition.tiles import GridClasses, GridInputs, grid_tile, sensitive_habitats
from n2kzones.errors import InputError
from n2kzones.habitats import HABITAT_MAP, habitat_source_by_area
from n2kzones.io.raster import Raster, TiledGeoTIFFWriter
from n2kzones.io.writers import write_geopackage, write_parquet, write_text
from n2kzones.overload import area_overload_table, flag_overload
from n2kzones.render.qgis import raster_styles, receptors_style
from n2kzones.stages.catalogue import (
    HABITAT_SOURCE,
    HABITAT_SOURCE_COUNTS,
    RASTER_BANDS,
    RASTER_STYLES,
)
from n2kzones.stages.common import (
    check_deposition_size,
    habitats_of_chosen_areas,
    model_from_config,
    with_source_heights,
)
from n2kzones.stages.framework import StageRun, stage_run

log = logging.getLogger(__name__)

#: Source groups for attribution (farms inside any zone / outside every zone).
GROUPS = ("in_zone", "outside_zone")
NODATA = -9999.0


def farm_groups(farms: pd.DataFrame) -> np.ndarray:
    """Group index per farm: 0 inside a zone, 1 outside every zone."""
    return np.where(farms["zone_key"].fillna("").to_numpy() != "", 0, 1).astype(np.int64)


#: ``landuse_source`` of a receptor: the land-use raster, or the habitat-type mapping.
LANDUSE_RASTER, LANDUSE_HABITAT_MAPPING = "raster", "habitat_mapping"
#: Per-area column: share of receptors whose land use came from the habitat-type mapping.
LANDUSE_SHARE_COLUMN = "landuse_from_habitat_mapping_share"

#: The ``[inputs]`` rasters only the class-aware model reads (receptor classes).
CLASS_INPUTS = ("nh3_background", "receptor_landuse", "receptor_z0")

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
        writers = {
            n: stack.enter_context(
                TiledGeoTIFFWriter(
                    paths[n], grid, nodata=NODATA, cog=cog,
                    descriptions=[RASTER_BANDS[RASTERS[n]][0]],
                    units=[RASTER_BANDS[RASTERS[n]][1]],
                    tags={"source": "n2kzones", "units": RASTER_BANDS[RASTERS[n]][1]},
                )
            )
            for n in names
        }
        for i, arrays in backend.map(grid_tile, tiles, shared={"inputs": inputs}, name="grid-tile"):
            for n in names:
                writers[n].write(tiles[i], arrays[n])
    log.info(
        "grid %d x %d cells of %g m (%s) in %d tiles of <= %d cells on %s in %.1f s",
        *grid.shape, grid.cell_m, inputs.method, len(tiles), tile_cells, backend.name, time.perf_counter() - t0,
    )
    return [paths[n] for n in names]


def run_deposition(cfg: Config, *, progress: bool = False, backend: Backend | None = None) -> dict[str, pd.DataFrame]:
    """Stage ``deposition``: deposition (mol N/ha/yr) on receptors and grid; KDW overload.

    ``progress`` shows a progress bar over the receptor tiles (:func:`hexagon_receptors`).
    """
    if backend is None:
        with open_backend(cfg.compute) as backend:
            return run_deposition(cfg, progress=progress, backend=backend)
    with stage_run(cfg, "deposition") as run:
        return _deposition(run, backend, progress=progress)


def _landuse_from_raster(run: StageRun, x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
    """OPS/DEPAC class name of ``[inputs.receptor_landuse]`` at each point (m, working CRS);
    ``""`` where the raster has no data or the point lies outside it.

    Raises
    ------
    InputError
        A code at a point that is no OPS/DEPAC class (possible only where
        ``[parameters.raster_roles.landuse_class]`` was widened).
    """
    value = run.read_raster("receptor_landuse", role="landuse_class").sample(x_m, y_m)
    has = np.isfinite(value)
    bad = has & ~np.isin(value, np.array(list(LANDUSES), float))
    if bad.any():
        path = run.cfg.resolve(run.cfg.inputs.receptor_landuse.path)  # type: ignore[union-attr]
        codes = sorted({float(v) for v in value[bad]})[:5]
        known = ", ".join(f"{k} {v}" for k, v in LANDUSES.items())
        raise InputError(
            f"the land-use raster {path} has codes {codes} at {int(bad.sum())} receptors that are "
            f"no OPS/DEPAC class ({known}); recode them, or set them to the raster's nodata "
            "value to use the habitat-type mapping there"
        )
    out = np.full(len(value), "", dtype=object)
    out[has] = [LANDUSES[int(v)] for v in value[has]]
    return out


def _z0_from_raster(run: StageRun, x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
    """z0 (m) of ``[inputs.receptor_z0]`` at each point (m, working CRS); NaN where the raster
    has no data or the point lies outside it.

    Raises
    ------
    InputError
        A z0 <= 0 m at a point (possible only where ``[parameters.raster_roles.z0]`` was widened).
    """
    z0 = run.read_raster("receptor_z0", role="z0").sample(x_m, y_m)
    bad = np.isfinite(z0) & (z0 <= 0)
    if bad.any():
        path = run.cfg.resolve(run.cfg.inputs.receptor_z0.path)  # type: ignore[union-attr]
        raise InputError(
            f"the z0 raster {path} has values <= 0 m at {int(bad.sum())} receptors; a roughness "
            "length is > 0 m: fix those cells, or set them to the raster's nodata value to use "
            "the z0 of the land use there"
        )
    return z0


def receptor_classes(run: StageRun, receptors: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Receptors with their class for the class-aware model.

    Parameters
    ----------
    run
        The deposition stage's run: its config names the optional rasters, and its ``extra``
        (the manifest) receives the counts.
    receptors
        Receptor points with ``habitat_code``, in the working CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        ``receptors`` with ``landuse`` (OPS/DEPAC class name), ``landuse_source``
        (``raster`` or ``habitat_mapping``), ``z0_m`` (m) and ``nh3_bg_ug_m3`` (ug/m3). The
        land use is the class code of
        ``[inputs.receptor_landuse]`` at the receptor, else (no such raster, no data there,
        or the receptor outside it) the class of its habitat type by prefix
        (``[receptor_classes]`` of the parameters). z0 is ``[inputs.receptor_z0]`` there,
        else the z0 of the land use (``[receptor_classes.z0_m]``). NH3 is
        ``[inputs.nh3_background]`` there, else the uniform parameter. How many receptors
        took each from which source goes to the log and to the manifest
        (``receptor_landuse_source``, ``receptor_z0_source``).

    Raises
    ------
    InputError
        A land-use code that is no OPS/DEPAC class, a z0 <= 0, a land use without a z0 in the
        parameters, or an NH3 raster without a value > 0 at a receptor.
    """
    cfg = run.cfg
    rc = cfg.params.receptor_classes
    n = len(receptors)
    x, y = receptors.geometry.x.to_numpy(), receptors.geometry.y.to_numpy()
    codes = receptors["habitat_code"].astype(str)
    landuse = codes.map({c: rc.landuse_of(c) for c in codes.unique()}).to_numpy(object)
    if cfg.inputs.receptor_landuse is not None:
        from_raster = _landuse_from_raster(run, x, y)
        has = from_raster != ""
        landuse[has] = from_raster[has]
        if not has.all():
            log.warning(
                "receptor land use: %d of %d receptors have no value in %s (no data there, or "
                "outside it): the class of their habitat type is used",
                n - int(has.sum()), n, cfg.inputs.receptor_landuse.path.name,
            )
    else:
        has = np.zeros(n, bool)
    n_raster = int(has.sum())
    run.extra["receptor_landuse_source"] = {"raster": n_raster, "habitat_mapping": n - n_raster}
    z0 = _z0_from_raster(run, x, y) if cfg.inputs.receptor_z0 is not None else np.full(n, np.nan)
    from_table = np.isnan(z0)
    unknown = sorted(set(landuse[from_table]) - set(rc.z0_m))
    if unknown:
        raise InputError(f"no z0 for receptor land use {unknown}: add it to [parameters.receptor_classes.z0_m]")
    z0[from_table] = [rc.z0_m[lu] for lu in landuse[from_table]]
    if cfg.inputs.receptor_z0 is not None and from_table.any():
        log.warning(
            "receptor z0: %d of %d receptors have no value in %s (no data there, or outside it): "
            "the z0 of their land use is used",
            int(from_table.sum()), n, cfg.inputs.receptor_z0.path.name,
        )
    n_table = int(from_table.sum())
    run.extra["receptor_z0_source"] = {"raster": n - n_table, "landuse_table": n_table}
    if cfg.inputs.nh3_background is not None:
        reach = cfg.params.raster_roles["nh3_concentration"].fill_nearest_m
        raster = run.read_raster("nh3_background", role="nh3_concentration")
        nh3, near = raster.sample_filled(x, y, reach, positive=True)
        far = np.isnan(nh3)
        nh3[far] = rc.nh3_background_ug_m3
        run.extra["receptor_nh3_source"] = {
            "raster": n - int(near.sum()) - int(far.sum()), "nearest_cell": int(near.sum()), "uniform": int(far.sum())
        }
        if near.any() or far.any():
            log.warning(
                "receptor NH3 background: %d of %d receptors on a cell of %s without a value > 0: "
                "%d took the nearest cell with one within %g m, %d the uniform %g ug/m3 "
                "([receptor_classes] nh3_background_ug_m3)",
                int(near.sum()) + int(far.sum()), n, cfg.inputs.nh3_background.path.name,
                int(near.sum()), reach, int(far.sum()), rc.nh3_background_ug_m3,
            )
    else:
        nh3 = np.full(n, rc.nh3_background_ug_m3)
        run.extra["receptor_nh3_source"] = {"uniform": n}
    counts = pd.Series(landuse).value_counts().sort_index()
    run.extra["receptor_landuse_counts"] = {k: int(v) for k, v in counts.items()}
    source = np.where(has, LANDUSE_RASTER, LANDUSE_HABITAT_MAPPING)
    return receptors.assign(landuse=landuse, landuse_source=source, z0_m=z0, nh3_bg_ug_m3=nh3)


def habitat_mapping_share(site_codes: pd.Series, receptors: pd.DataFrame) -> np.ndarray:
    """Per row of the per-area table: the share (0..1) of the area's receptors whose land use
    came from the habitat-type mapping (``landuse_source``), of all receptors for ``ALL``;
    NaN for an area without receptors."""
    from_map = receptors["landuse_source"].astype(str).eq(LANDUSE_HABITAT_MAPPING)
    by_area = from_map.groupby(receptors["site_code"].astype(str)).mean()
    codes = site_codes.astype(str)
    out = codes.map(by_area).to_numpy(float, copy=True)
    out[(codes == "ALL").to_numpy()] = float(from_map.mean()) if len(from_map) else np.nan
    return out


def grid_classes(run: StageRun, model: DepositionModel, farms: pd.DataFrame, habitats: gpd.GeoDataFrame) -> GridClasses:
    """Where the class-aware grid takes each cell's class: the receptor rasters of
    ``[inputs]`` where given, else the habitat polygon's class, else open land
    (``[receptor_classes] grid_landuse``); the sources' heights from the farm layer."""
    cfg = run.cfg
    rc = cfg.params.receptor_classes
    assert model.classes is not None
    codes = habitats["habitat_code"].astype(str)
    hab = gpd.GeoDataFrame(
        {"landuse": codes.map({c: rc.landuse_of(c) for c in codes.unique()}).to_numpy()},
        geometry=habitats.geometry.to_numpy(), crs=habitats.crs,
    )

    def raster(key: str, role: str) -> Raster | None:
        return run.read_raster(key, role=role) if getattr(cfg.inputs, key) is not None else None

    return GridClasses(
        table=model.classes, source_height_m=farms["source_height_m"].to_numpy(float), habitats=hab,
        default_landuse=rc.grid_landuse, z0_m=rc.z0_m, nh3_default_ug_m3=rc.nh3_background_ug_m3,
        landuse=raster("receptor_landuse", "landuse_class"), z0=raster("receptor_z0", "z0"),
        nh3=raster("nh3_background", "nh3_concentration"),
    )


def area_habitat_sources(site_codes: pd.Series, habitats: pd.DataFrame) -> np.ndarray:
    """``habitat_source`` per row of the per-area table: the area's (see
    :func:`n2kzones.habitats.habitat_source_by_area`), :data:`~n2kzones.habitats.HABITAT_MAP`
    where the layer says nothing, and for ``ALL`` the sources of all areas joined by ``"; "``."""
    by_area = habitat_source_by_area(habitats)
    out = site_codes.astype(str).map(by_area).fillna(HABITAT_MAP).to_numpy(object)
    is_all = site_codes.astype(str).to_numpy() == "ALL"
    labels = sorted(set(out[~is_all])) or [HABITAT_MAP]
    out[is_all] = "; ".join(labels)
    return out


def habitat_source_counts(habitats: pd.DataFrame) -> dict[str, int]:
    """Areas of the habitat layer per ``habitat_source`` (the manifest's
    ``habitat_source_areas``); a layer without ``site_code`` counts as one habitat map."""
    by_area = habitat_source_by_area(habitats)
    if by_area.empty:
        return {HABITAT_MAP: 1} if len(habitats) else {}
    return {str(k): int(v) for k, v in by_area.value_counts().sort_index().items()}


def _deposition(run: StageRun, backend: Backend, *, progress: bool = False) -> dict[str, pd.DataFrame]:
    cfg = run.cfg
    params = cfg.params
    d = cfg.deposition
    farms = run.read_upstream("farms")
    areas = run.read_upstream("areas")
    habitats, _ = run.read_layer("habitats")
    habitats = habitats_of_chosen_areas(cfg, habitats, areas)
    background = run.read_raster("background_deposition")
    model = model_from_config(cfg, run)
    if model.classes is not None:
        farms = with_source_heights(cfg, farms, run)
    fb, hb0, sens = farms.total_bounds, habitats.total_bounds, habitats["kdw_mol_ha"] < params.kdw.not_sensitive_from_mol_ha
    check_deposition_size(cfg, (min(fb[0], hb0[0]), min(fb[1], hb0[1]), max(fb[2], hb0[2]), max(fb[3], hb0[3])), float(habitats.loc[sens].area.sum() / 1e4))

    receptors = hexagon_receptors(habitats, not_sensitive_from_mol_ha=params.kdw.not_sensitive_from_mol_ha, hexagon_ha=d.hexagon_ha, grid=d.receptor_grid, progress=progress)
    if model.classes is not None:
        receptors = receptor_classes(run, receptors)
    elif unused := [k for k in CLASS_INPUTS if getattr(cfg.inputs, k) is not None]:
        log.warning(
            "[inputs] %s: used only with [deposition] kernel = 'ops_classes'; not read",
            ", ".join(unused),
        )
    sx, sy = farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy()
    emission = farms["emission_kg_nh3"].to_numpy(float)
    groups = farm_groups(farms)
    t1 = time.perf_counter()
    by_group = model.at_points(
        sx, sy, emission, receptors.geometry.x.to_numpy(), receptors.geometry.y.to_numpy(),
        groups=groups, n_groups=len(GROUPS), backend=backend, **model.classes_for(farms, receptors),
    )
    log.info("deposition on %d receptors from %d farms in %.1f s", len(receptors), len(farms), time.perf_counter() - t1)
    for g, name in enumerate(GROUPS):
        receptors[f"farms_{name}_mol_ha"] = by_group[g]
    receptors["farms_mol_ha"] = by_group.sum(axis=0)
    reach = params.raster_roles["background_deposition"].fill_nearest_m
    receptors["background_mol_ha"], near = background.sample_filled(
        receptors.geometry.x.to_numpy(), receptors.geometry.y.to_numpy(), reach
    )
    run.extra["receptor_background_nearest_cell"] = int(near.sum())
    if near.any():
        log.warning(
            "background deposition: %d of %d receptors on a no-data cell of %s took the nearest "
            "cell with data within %g m (areas %s)",
            int(near.sum()), len(receptors), cfg.inputs.background_deposition.path.name, reach,  # type: ignore[union-attr]
            sorted(receptors.loc[near, "site_code"].astype(str).unique())[:8],
        )
    missing = receptors["background_mol_ha"].isna()
    if missing.any():
        bg = cfg.resolve(cfg.inputs.background_deposition.path)  # type: ignore[union-attr]
        raise InputError(
            f"the background raster {bg} does not cover {int(missing.sum())} of {len(receptors)} receptors "
            f"(no cell with data within {reach:g} m; e.g. {receptors.loc[missing, 'receptor_id'].head(3).tolist()} in areas "
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
    table[HABITAT_SOURCE] = area_habitat_sources(table["site_code"], habitats)
    if "landuse_source" in receptors:
        table[LANDUSE_SHARE_COLUMN] = habitat_mapping_share(table["site_code"], receptors)
    run.extra[HABITAT_SOURCE_COUNTS] = habitat_source_counts(habitats)

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
        classes=None if model.classes is None else grid_classes(run, model, farms, habitats),
    )
    tifs = {n: run.output(key) for n, key in RASTERS.items()}
    write_grids(backend, grid, inputs, tifs, tile_cells=cfg.compute.tile_cells, cog=cfg.compute.cog)
    write_parquet(run.output("receptors"), receptors)
    write_geopackage(
        run.output("deposition_gpkg"), {"receptors": receptors},
        styles={"receptors": receptors_style()},
    )
    for key, qml in raster_styles().items():  # QGIS loads <name>.qml with <name>.tif
        write_text(run.output(RASTER_STYLES[key]), qml)
    run.write_table("area_deposition", table)
    run.extra.update(
        engine=backend.name, kernel=model.kernel.provenance, wind_rose=cfg.deposition.wind_rose,
        grid={"x_min": grid.x_min, "y_min": grid.y_min, "cell_m": grid.cell_m, "shape": list(grid.shape)},
    )
    return {"receptors": receptors, "area_deposition": table}
