"""Config -> domain objects, shared by the stage modules (the only readers of the config).

The deposition model is translated from the config here once, so every stage that computes
deposition uses the same :class:`~n2kzones.deposition.model.DepositionModel`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from typing import TYPE_CHECKING

from n2kzones.config import Config
from n2kzones.errors import ConfigError
from n2kzones.io.readers import read_wind_rose_json
from n2kzones.stages.framework import StageRun

# The deposition package (its engine compiles with Numba) is imported in the functions that
# build the model, so that the stages that only read its outputs (maps, report) do not.
if TYPE_CHECKING:
    from n2kzones.deposition import RadialKernel, WindRose
    from n2kzones.deposition.model import DepositionModel

log = logging.getLogger(__name__)


def kernel_from_config(cfg: Config, run: StageRun | None = None) -> RadialKernel:
    """The configured kernel: a user's CSV profile, or the packaged OPS fit."""
    from n2kzones.deposition import RadialKernel, default_kernel

    d = cfg.deposition
    if d.kernel_csv is None:
        return default_kernel()
    path = cfg.resolve(d.kernel_csv)
    if run is not None:
        run.record_input("kernel_csv", path)
    return RadialKernel.from_csv(path, value_col=d.kernel_value_column)


def wind_rose_from_config(cfg: Config, run: StageRun | None = None) -> WindRose | None:
    """The configured wind rose: None (isotropic), a packaged one, or a JSON file."""
    from n2kzones.deposition import WindRose, load_wind_rose

    name = cfg.deposition.wind_rose
    if name == "isotropic":
        return None
    path = cfg.resolve(Path(name))
    if path.suffix == ".json" and path.exists():
        if run is not None:
            run.record_input("wind_rose", path)
        weights, provenance = read_wind_rose_json(path)  # checked: clear errors, no traceback
        return WindRose.from_ratios(weights, provenance)
    return load_wind_rose(name)


def receptor_radius_m(cfg: Config) -> float:
    """Radius (m) of the disc with the receptor hexagon's area (near-source averaging)."""
    from n2kzones.deposition.receptors import hexagon_side_m

    return float(hexagon_side_m(cfg.deposition.hexagon_ha) * np.sqrt(3 * np.sqrt(3) / (2 * np.pi)))


def model_from_config(cfg: Config, run: StageRun | None = None) -> DepositionModel:
    """The deposition model exactly as every stage uses it (kernel, classes, rose, range, radius)."""
    from n2kzones.deposition.classes import KernelTable
    from n2kzones.deposition.model import DepositionModel

    d = cfg.deposition
    classes = None
    if d.kernel == "ops_classes":
        if d.kernel_csv is not None:
            raise ConfigError(
                "[deposition] kernel = 'ops_classes' uses the packaged OPS-LT tables; remove kernel_csv "
                "or set kernel = 'grass' to use your own profile"
            )
        classes = KernelTable.from_ops()
    model = DepositionModel(
        kernel_from_config(cfg, run), wind_rose_from_config(cfg, run), d.cutoff_m, d.implementation,
        receptor_radius_m(cfg), classes,
    )
    if run is not None:
        run.extra["deposition_model"] = {
            "kernel": d.kernel, "classes": None if classes is None else classes.provenance,
        }
    return model


def with_source_heights(cfg: Config, farms: pd.DataFrame, run: StageRun | None = None) -> pd.DataFrame:
    """The farms with ``source_height_m`` (m) filled where missing with the sector default
    (``[source_classes] default_height_m``); the count goes to the log and the manifest."""
    default = cfg.params.source_classes.default_height_m
    h = farms["source_height_m"].astype(float) if "source_height_m" in farms else pd.Series(np.nan, index=farms.index)
    missing = int(h.isna().sum())
    if missing:
        log.info("%d of %d sources have no emission height: %g m (AERIUS animal housing) assumed", missing, len(farms), default)
    if run is not None:
        run.extra["sources_with_default_height"] = missing
    return farms.assign(source_height_m=h.fillna(default).to_numpy())


def data_date(root: Path) -> str:
    """Date (YYYY-MM-DD) of the newest stage run in output folder ``root``."""
    dates = []
    for p in Path(root).glob("manifest_*.json"):
        try:
            dates.append(str(json.loads(p.read_text()).get("finished", ""))[:10])
        except (OSError, ValueError):
            continue
    return max((d for d in dates if d), default="unknown")


def config_name(cfg: Config) -> str:
    """The config file's name, for footers."""
    return cfg.source_path.name if cfg.source_path else "(no file)"


#: Largest deposition grid (cells) a run may ask for: 1e9 cells are 11 GiB of float32 output
#: per raster (three are written) and hours of computing.
MAX_GRID_CELLS = 1_000_000_000
#: Largest number of receptor hexagons: the Netherlands has about 252,000 of 1 ha; 2e7
#: hexagon polygons take ~10 GiB while they are built.
MAX_RECEPTORS = 20_000_000
#: Working memory per cell of a grid tile (three output rasters, FFT work arrays), bytes.
TILE_BYTES_PER_CELL = 64.0


def check_deposition_size(cfg: Config, bounds: tuple[float, float, float, float], sensitive_ha: float) -> dict[str, float]:
    """Estimate the deposition stage's grid, tiles and receptors from the config before any
    allocation; refuse what would not fit, naming the setting and the estimate.

    Parameters
    ----------
    bounds
        Extent (m) of the farms and habitats, before the margin.
    sensitive_ha
        Area of nitrogen-sensitive habitat (ha): receptors ~ sensitive_ha / hexagon_ha.

    Raises
    ------
    GridTooLargeError
        Naming ``[deposition] grid_margin_m`` / ``cell_m``, ``hexagon_ha`` or
        ``[compute] tile_cells`` with the estimate and what to change.
    """
    from n2kzones.errors import GridTooLargeError
    from n2kzones.io.grid import DEFAULT_MEMORY_BUDGET_GIB

    d = cfg.deposition
    w = bounds[2] - bounds[0] + 2 * d.grid_margin_m
    h = bounds[3] - bounds[1] + 2 * d.grid_margin_m
    cells = float(np.ceil(w / d.cell_m)) * float(np.ceil(h / d.cell_m))
    if cells > MAX_GRID_CELLS:
        raise GridTooLargeError(
            f"[deposition] grid_margin_m = {d.grid_margin_m:.12g} and cell_m = {d.cell_m:.12g} make a grid of "
            f"{w / 1000:,.1f} x {h / 1000:,.1f} km = {cells:,.0f} cells (~{cells * 12 / 2**30:,.1f} GiB of "
            f"GeoTIFF output, limit {MAX_GRID_CELLS:,} cells); the data span only "
            f"{(bounds[2] - bounds[0]) / 1000:,.1f} x {(bounds[3] - bounds[1]) / 1000:,.1f} km. Use a "
            "smaller grid_margin_m (default 2000) or a coarser cell_m"
        )
    tile = float(cfg.compute.tile_cells) ** 2 * TILE_BYTES_PER_CELL / 2**30
    if tile > DEFAULT_MEMORY_BUDGET_GIB:
        raise GridTooLargeError(
            f"[compute] tile_cells = {cfg.compute.tile_cells} makes grid tiles of "
            f"{cfg.compute.tile_cells ** 2:,} cells needing ~{tile:.1f} GiB each (budget "
            f"{DEFAULT_MEMORY_BUDGET_GIB:g} GiB per tile); use tile_cells = 1024 (the default) or 2048"
        )
    n_hex = sensitive_ha / d.hexagon_ha
    if n_hex > MAX_RECEPTORS:
        raise GridTooLargeError(
            f"[deposition] hexagon_ha = {d.hexagon_ha:g} over {sensitive_ha:,.0f} ha of sensitive habitat "
            f"makes ~{n_hex:,.0f} receptor hexagons (~{n_hex * 500 / 2**30:,.1f} GiB while built; limit "
            f"{MAX_RECEPTORS:,}); AERIUS uses 1 ha: use hexagon_ha = 1"
        )
    return {"grid_cells": cells, "tile_gib": tile, "receptors": n_hex}


def habitats_of_chosen_areas(cfg: Config, habitats: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The habitat polygons of the areas the zones stage kept, when ``[project] areas`` or
    ``[project] province`` chooses some.

    The habitat layer is read raw (it is no zones output), so without this the deposition
    stage would put receptors (hexagons of ``hexagon_ha`` ha) on the habitat of every area.
    A polygon belongs to a chosen area by its ``site_code``; one without a site code by
    intersecting a chosen area. Without a choice the layer is returned as it is.
    """
    if not cfg.project.chooses_areas:
        return habitats
    codes = set(areas["site_code"].astype(str))
    if "site_code" in habitats.columns:
        site = habitats["site_code"]
        keep = site.astype(str).isin(codes).to_numpy() & site.notna().to_numpy()
        loose = site.isna().to_numpy()
    else:
        keep = np.zeros(len(habitats), dtype=bool)
        loose = np.ones(len(habitats), dtype=bool)
    if loose.any() and len(areas):
        hit = habitats.geometry[loose].intersects(areas.geometry.union_all()).to_numpy()
        keep[np.flatnonzero(loose)[hit]] = True
    log.info("habitats: kept %d of %d polygons, those of the %d chosen areas", int(keep.sum()), len(habitats), len(codes))
    return habitats.loc[keep].copy()
