"""Stage ``zones``: read the protected areas, build the zone per area and the national layer.

Writes ``stages/areas.parquet`` (areas with ``zone_width_m``), ``stages/zones_by_area.parquet``
(ring and inner part per area) and ``stages/zones.parquet`` (the national layer in which
overlapping zones keep every area and the largest width).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import pandas as pd

from n2kzones.config import Config
from n2kzones.errors import ConfigError
from n2kzones.io.writers import write_parquet
from n2kzones.stages.framework import StageRun, stage_run
from n2kzones.zones import (
    PROVINCE_RULE,
    ZONE_WIDTH_COLUMN,
    ZoneLayers,
    build_zones,
    choose_areas,
    choose_areas_by_province,
    national_zones,
    read_width_overrides,
    resolve_widths,
)

log = logging.getLogger(__name__)


def official_widths(cfg: Config, run: StageRun | None = None) -> dict[str, float]:
    """The official widths in m from ``zones.overrides_csv`` and ``zones.overrides`` (which wins)."""
    out: dict[str, float] = {}
    if cfg.zones.overrides_csv is not None:
        path = cfg.resolve(cfg.zones.overrides_csv)
        if run is not None:
            run.record_input("zones.overrides_csv", path)
        out.update(read_width_overrides(path))
    out.update(cfg.zones.overrides)
    # site codes are compared as the areas reader normalises them (trimmed, upper-case)
    norm = {"".join(str(k).split()).upper(): v for k, v in out.items()}
    changed = sum(1 for k in out if "".join(str(k).split()).upper() != k)
    if changed:
        log.warning("zone widths: %d site codes in the official list / overrides normalised (case, spaces) to match the areas", changed)
    return norm


def zone_widths(cfg: Config, areas: gpd.GeoDataFrame, run: StageRun | None = None) -> pd.Series:
    """Zone width (m) per area from the config's rules (default, official list, overrides)."""
    return resolve_widths(
        areas,
        default_width_m=cfg.default_width_m,
        overrides=official_widths(cfg, run),
        only_nitrogen_sensitive=cfg.zones.only_nitrogen_sensitive,
    )


def chosen_areas(cfg: Config, areas: gpd.GeoDataFrame, run: StageRun) -> gpd.GeoDataFrame:
    """The areas ``[project] areas`` and ``[project] province`` choose (both: the areas both
    choose), logged and recorded in the manifest under ``areas_chosen`` (what was asked, the
    matched provinces, the rule, the site codes, how many of how many, and per area the
    province(s) with the overlap in ha). Polygons stay in the working CRS (m)."""
    layer, n_all = areas, len(areas)
    project = cfg.project
    codes: list[str] | None = None
    record: dict = {"asked": list(project.areas)}
    why = []
    if project.areas:
        areas, codes = choose_areas(layer, project.areas)
        why.append("[project] areas")
    if project.province:
        provinces, _ = run.read_layer("provinces")
        choice = choose_areas_by_province(layer, provinces, project.province, within=codes)
        areas, codes = choice.areas, choice.site_codes
        why.append(f"[project] province {', '.join(choice.provinces)}")
        record |= {
            "province": list(project.province),
            "provinces": choice.provinces,
            "rule": PROVINCE_RULE,
            "in_province": {
                code: {
                    p: round(float(ha), 2)
                    for p, ha in zip(g["province"], g["overlap_ha"], strict=True)
                }
                for code, g in choice.pairs.groupby("site_code", sort=False)
            },
        }
        log.info("zones: %s", PROVINCE_RULE)
    assert codes is not None
    log.info(
        "zones: kept %d of %d areas (%s): %s", len(areas), n_all, "; ".join(why), ", ".join(codes)
    )
    run.extra["areas_chosen"] = {**record, "site_codes": codes, "kept": len(areas), "of": n_all}
    return areas


def run_zones(cfg: Config) -> ZoneLayers:
    """Stage ``zones`` (widths in m); returns the zone layers it wrote."""
    with stage_run(cfg, "zones") as run:
        areas, _ = run.read_layer("areas")
        widths = zone_widths(cfg, areas, run)  # on the whole layer: overrides of unchosen areas are no typos
        if cfg.project.chooses_areas:
            areas = chosen_areas(cfg, areas, run)
            widths = widths[widths.index.isin(set(areas["site_code"].astype(str)))]
        else:
            log.info("zones: all %d areas (no [project] areas or province chosen)", len(areas))
        areas = areas.assign(**{ZONE_WIDTH_COLUMN: areas["site_code"].map(widths).to_numpy()})
        layers = build_zones(areas, widths, include_inner=cfg.zones.include_inner, quad_segs=cfg.quad_segs)
        parts = [layers.by_area]
        for extra in cfg.zones.extra_layers:
            extra_areas, _ = run.read_layer("areas", extra.input, name=f"extra:{extra.name}")
            clash = set(extra_areas["site_code"]) & set(areas["site_code"])
            if clash:
                raise ConfigError(
                    f"zones.extra_layers {extra.name!r}: site codes also used by the areas layer: "
                    f"{sorted(clash)[:5]}; give the extra layer its own codes"
                )
            w = pd.Series(extra.width_m, index=extra_areas["site_code"].astype(str))
            parts.append(
                build_zones(extra_areas, w, include_inner=extra.include_inner, quad_segs=cfg.quad_segs, layer=extra.name).by_area
            )
        if len(parts) > 1:
            by_area = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=areas.crs)
            layers = ZoneLayers(by_area=by_area, national=national_zones(by_area))
        write_parquet(run.output("areas"), areas)
        write_parquet(run.output("zones_by_area"), layers.by_area)
        write_parquet(run.output("zones"), layers.national)
    return layers
