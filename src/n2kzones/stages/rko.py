"""Stage ``rko``: the RKO threshold sweep on the configured farms and receptors.

Reads ``stages/farms.parquet`` and ``stages/receptors.parquet`` (running the deposition
stage first if the receptors are missing), the configured kernel and wind rose, and writes
atomically:

``rko_sweep.csv``
    One row per range x threshold: sources and emission below the threshold (counts and
    shares), max / habitat-weighted mean / P95 of the summed sub-threshold deposition
    (mol N/ha/yr), hectares where that sum exceeds 1 mol/ha/yr, and hectares where it alone
    makes the difference between overload and none (and near overload, KDW - 70).
``rko_by_area.csv``
    The same per Natura 2000 area (a source belongs to the area of its maximum).
``rko_sources.gpkg``
    Layer ``sources``: farm_id, emission, max contribution, its receptor and site_code per
    range, and ``below_<T>_<range>`` flags for the map threshold; layer ``projects`` when
    projects are configured.
``rko_projects.csv``
    With ``[rko.projects]``: permit-free projects and their cumulative effect per range x
    threshold.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from n2kzones.compute import Backend, open_backend
from n2kzones.config import Config
from n2kzones.deposition.receptors import hexagon_side_m
from n2kzones.io.readers import read_layer
from n2kzones.io.writers import write_csv, write_geopackage
from n2kzones.pipeline import StagePaths, _write_manifest
from n2kzones.rko import projects_rko, range_labels, rko_sweep
from n2kzones.validate import LayerReport

log = logging.getLogger(__name__)


def receptor_radius_from_config(cfg: Config) -> float:
    """Radius (m) of the disc with the receptor hexagon's area, as the deposition stage uses."""
    return float(hexagon_side_m(cfg.deposition.hexagon_ha) * np.sqrt(3 * np.sqrt(3) / (2 * np.pi)))


def _points(df: pd.DataFrame, crs: object) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        df.drop(columns=["x", "y"], errors="ignore"),
        geometry=gpd.points_from_xy(df["x"], df["y"]),
        crs=crs,
    )


def run_rko(cfg: Config, *, backend: Backend | None = None) -> dict[str, pd.DataFrame]:
    """Run the RKO sweep (see the module docstring); returns the written tables."""
    if backend is None:
        with open_backend(cfg) as backend:
            return run_rko(cfg, backend=backend)
    from n2kzones.deposition_stage import (
        DepositionPaths,
        kernel_from_config,
        run_deposition,
        wind_rose_from_config,
    )

    started = datetime.now(UTC)
    t0 = time.perf_counter()
    root = cfg.output_dir
    stage = StagePaths(root)
    dpaths = DepositionPaths(root)
    if not dpaths.receptors.exists() or not stage.farms.exists():
        run_deposition(cfg, backend=backend)
    farms = gpd.read_parquet(stage.farms)
    receptors = gpd.read_parquet(dpaths.receptors)
    kernel = kernel_from_config(cfg)
    rose = wind_rose_from_config(cfg)
    radius = receptor_radius_from_config(cfg)
    params = cfg.params
    margin = params.kdw.near_overload_margin_mol_ha
    thresholds = cfg.rko.thresholds_mol_ha
    ranges = cfg.rko.ranges_m

    res = rko_sweep(
        farms,
        receptors,
        kernel,
        thresholds_mol_ha=thresholds,
        ranges_m=ranges,
        wind_rose=rose,
        receptor_radius_m=radius,
        near_margin_mol_ha=margin,
        engine=cfg.deposition.engine,
        backend=backend,
    )
    src = farms[["farm_id", "geometry"]].assign(farm_id=farms["farm_id"].astype(str))
    layer = res.sources.merge(src, on="farm_id", how="left", validate="one_to_one")
    t_map = cfg.rko.map_threshold_mol_ha
    for label, _ in range_labels(ranges):
        layer[f"below_{t_map:g}_{label}"] = layer[f"max_{label}_mol_ha"] < t_map
    layers = {"sources": gpd.GeoDataFrame(layer, geometry="geometry", crs=farms.crs)}

    reports: dict[str, LayerReport] = {}
    outputs: list[Path] = [
        write_csv(root / "rko_sweep.csv", res.national),
        write_csv(root / "rko_by_area.csv", res.by_area),
    ]
    tables = {"rko_sweep": res.national, "rko_by_area": res.by_area, "rko_sources": res.sources}
    if cfg.rko.projects is not None:
        projects, reports["projects"] = read_layer(
            "farms", cfg.rko.projects, crs=cfg.project.crs, params=params, base_dir=cfg.base_dir
        )
        per, cum = projects_rko(
            projects,
            receptors,
            kernel,
            thresholds_mol_ha=thresholds,
            ranges_m=ranges,
            wind_rose=rose,
            receptor_radius_m=radius,
            near_margin_mol_ha=margin,
        )
        pgeo = projects[["farm_id", "geometry"]].assign(farm_id=projects["farm_id"].astype(str))
        layers["projects"] = gpd.GeoDataFrame(
            per.merge(pgeo, on="farm_id", how="left", validate="one_to_one"),
            geometry="geometry",
            crs=projects.crs,
        )
        outputs.append(write_csv(root / "rko_projects.csv", cum))
        tables["rko_projects"] = cum
        tables["rko_project_flags"] = per
    outputs.append(write_geopackage(root / "rko_sources.gpkg", layers))
    _write_manifest(
        cfg,
        "rko",
        reports,
        outputs,
        started,
        extra={
            "kernel": kernel.provenance,
            "wind_rose": cfg.deposition.wind_rose,
            "receptor_radius_m": radius,
            "ranges": [lbl for lbl, _ in range_labels(ranges)],
            "engine": backend.name,
        },
    )
    log.info("stage rko done in %.1f s", time.perf_counter() - t0)
    return tables
