"""Stage ``rko``: the RKO threshold sweep on the configured farms and receptors.

Reads the farms and receptors of the earlier stages and the deposition model of the config,
and writes:

``rko_sweep.csv``
    One row per range x threshold: sources and emission below the threshold (counts and
    shares), max / habitat-weighted mean / P95 of the summed sub-threshold deposition
    (mol N/ha/yr), hectares where that sum exceeds 1 mol/ha/yr, and hectares where it alone
    makes the difference between overload and none (and near overload, KDW - 70).
``rko_by_area.csv``
    The same per Natura 2000 area (a source belongs to the area of its maximum).
``rko_sources.gpkg``
    Layer ``sources``: farm_id, emission, max contribution, its receptor and site_code per
    range, and the flags :func:`~n2kzones.stages.catalogue.rko_below_column` names for the
    map threshold; layer ``projects`` when projects are configured.
``rko_projects.csv``
    With ``[rko.projects]``: permit-free projects and their cumulative effect per range x
    threshold.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from n2kzones.compute import Backend, open_backend
from n2kzones.config import Config
from n2kzones.io.writers import write_geopackage
from n2kzones.rko import projects_rko, range_labels, rko_sweep
from n2kzones.stages.catalogue import rko_below_column, rko_max_column
from n2kzones.stages.common import model_from_config, with_source_heights
from n2kzones.stages.framework import stage_run


def run_rko(cfg: Config, *, backend: Backend | None = None) -> dict[str, pd.DataFrame]:
    """Stage ``rko`` (thresholds and sums in mol N/ha/yr, emissions in kg NH3/yr, areas in ha);
    returns the written tables."""
    if backend is None:
        with open_backend(cfg.compute) as backend:
            return run_rko(cfg, backend=backend)
    with stage_run(cfg, "rko") as run:
        farms = run.read_upstream("farms")
        receptors = run.read_upstream("receptors")
        model = model_from_config(cfg, run)
        if model.classes is not None:
            farms = with_source_heights(cfg, farms, run)
        margin = cfg.params.kdw.near_overload_margin_mol_ha
        thresholds = cfg.rko.thresholds_mol_ha
        ranges = cfg.rko.ranges_m
        common = dict(
            thresholds_mol_ha=thresholds, ranges_m=ranges, wind_rose=model.wind_rose,
            receptor_radius_m=model.receptor_radius_m, near_margin_mol_ha=margin, classes=model.classes,
        )
        res = rko_sweep(farms, receptors, model.kernel, engine=model.implementation, backend=backend, **common)
        src = farms[["farm_id", "geometry"]].assign(farm_id=farms["farm_id"].astype(str))
        layer = res.sources.merge(src, on="farm_id", how="left", validate="one_to_one")
        t_map = cfg.rko.map_threshold_mol_ha
        for label, _ in range_labels(ranges):
            layer[rko_below_column(t_map, label)] = layer[rko_max_column(label)] < t_map
        layers = {"sources": gpd.GeoDataFrame(layer, geometry="geometry", crs=farms.crs)}
        run.write_table("rko_sweep", res.national)
        run.write_table("rko_by_area", res.by_area)
        tables = {"rko_sweep": res.national, "rko_by_area": res.by_area, "rko_sources": res.sources}
        if cfg.rko.projects is not None:
            projects, _ = run.read_layer("farms", cfg.rko.projects, name="projects")
            if model.classes is not None:
                projects = with_source_heights(cfg, projects)
            per, cum = projects_rko(projects, receptors, model.kernel, **common)
            pgeo = projects[["farm_id", "geometry"]].assign(farm_id=projects["farm_id"].astype(str))
            layers["projects"] = gpd.GeoDataFrame(
                per.merge(pgeo, on="farm_id", how="left", validate="one_to_one"), geometry="geometry", crs=projects.crs
            )
            run.write_table("rko_projects", cum)
            tables["rko_projects"] = cum
            tables["rko_project_flags"] = per
        write_geopackage(run.output("rko_sources"), layers)
        run.extra.update(
            kernel=model.kernel.provenance, wind_rose=cfg.deposition.wind_rose,
            receptor_radius_m=model.receptor_radius_m, ranges=[lbl for lbl, _ in range_labels(ranges)],
            engine=backend.name,
        )
    return tables
