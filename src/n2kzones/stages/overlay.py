"""Pipeline stages: each reads its inputs, computes, and writes its outputs atomically.

Stage outputs live in the config's ``output_dir``: intermediates as GeoParquet under
``stages/`` (fast, typed), deliverables as GeoPackage and CSV for GIS users, and a
``manifest_<stage>.json`` per stage that records inputs (with checksums), config,
versions and what happened to every input feature.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from n2kzones import __version__
from n2kzones.compute import Backend, chunk_bounds, gather_ordered, open_backend
from n2kzones.config import Config
from n2kzones.io.readers import read_layer
from n2kzones.io.writers import atomic_dir, write_csv, write_geopackage, write_json, write_parquet
from n2kzones.overlay import farm_land_use, land_by_farm, overlay_farms, overlay_parcels
from n2kzones.summary import area_summary, farm_summary, land_by_zone
from n2kzones.validate import LayerReport
from n2kzones.zones import ZoneLayers, build_zones, read_width_overrides, resolve_widths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagePaths:
    """Where each stage writes, below the config's output folder."""

    root: Path

    @property
    def stages(self) -> Path:
        return self.root / "stages"

    @property
    def areas(self) -> Path:
        return self.stages / "areas.parquet"

    @property
    def zones_by_area(self) -> Path:
        return self.stages / "zones_by_area.parquet"

    @property
    def zones(self) -> Path:
        return self.stages / "zones.parquet"

    @property
    def parcel_pieces(self) -> Path:
        return self.stages / "parcel_pieces.parquet"

    @property
    def farms(self) -> Path:
        return self.stages / "farms.parquet"

    @property
    def geopackage(self) -> Path:
        return self.root / "n2kzones.gpkg"

    @property
    def area_summary(self) -> Path:
        return self.root / "area_summary.csv"

    @property
    def farm_summary(self) -> Path:
        return self.root / "farm_summary.csv"

    def manifest(self, stage: str) -> Path:
        return self.root / f"manifest_{stage}.json"


def sha256(path: Path) -> str:
    """Checksum of a file (or of all files below a folder, in sorted order)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _write_manifest(cfg: Config, stage: str, reports: dict[str, LayerReport], outputs: list[Path], started: datetime, extra: dict[str, Any] | None = None) -> None:
    import geopandas
    import numba
    import shapely

    manifest = {
        "stage": stage,
        "n2kzones_version": __version__,
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "config_file": str(cfg.source_path) if cfg.source_path else None,
        "config": cfg.model_dump(mode="json"),
        "parameters": cfg.params.model_dump(mode="json"),
        "inputs": {
            kind: {**r.as_dict(), "sha256": sha256(Path(r.source)) if Path(r.source).exists() else None}
            for kind, r in reports.items()
        },
        "outputs": {str(p.relative_to(cfg.output_dir)): sha256(p) for p in outputs if p.exists()},
        "versions": {
            "python": platform.python_version(),
            "geopandas": geopandas.__version__,
            "shapely": shapely.__version__,
            "numba": numba.__version__,
            "pandas": pd.__version__,
        },
        **(extra or {}),
    }
    write_json(StagePaths(cfg.output_dir).manifest(stage), manifest)


def _read(cfg: Config, kind: str) -> tuple[gpd.GeoDataFrame, LayerReport]:
    spec = getattr(cfg.inputs, kind)
    return read_layer(kind, spec, crs=cfg.project.crs, params=cfg.params, base_dir=cfg.base_dir)  # type: ignore[arg-type]


def zone_widths(cfg: Config, areas: gpd.GeoDataFrame) -> pd.Series:
    """Zone width per area from the config's rules (default, official list, overrides)."""
    overrides: dict[str, float] = {}
    if cfg.zones.overrides_csv is not None:
        overrides.update(read_width_overrides(cfg.resolve(cfg.zones.overrides_csv)))
    overrides.update(cfg.zones.overrides)
    return resolve_widths(
        areas,
        default_width_m=cfg.default_width_m,
        overrides=overrides,
        only_nitrogen_sensitive=cfg.zones.only_nitrogen_sensitive,
    )


def run_zones(cfg: Config) -> ZoneLayers:
    """Stage ``zones``: read the protected areas, build zones per area and the national layer."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    paths = StagePaths(cfg.output_dir)
    areas, report = _read(cfg, "areas")
    widths = zone_widths(cfg, areas)
    areas = areas.assign(zone_width_m=areas["site_code"].map(widths).to_numpy())
    layers = build_zones(areas, widths, include_inner=cfg.zones.include_inner, quad_segs=cfg.quad_segs)
    reports = {"areas": report}
    parts = [layers.by_area]
    for extra in cfg.zones.extra_layers:
        extra_areas, extra_report = read_layer("areas", extra.input, crs=cfg.project.crs, params=cfg.params, base_dir=cfg.base_dir)
        clash = set(extra_areas["site_code"]) & set(areas["site_code"])
        if clash:
            raise ValueError(f"zones.extra_layers {extra.name!r}: site codes also used by the areas layer: {sorted(clash)[:5]}")
        w = pd.Series(extra.width_m, index=extra_areas["site_code"].astype(str))
        parts.append(build_zones(extra_areas, w, include_inner=extra.include_inner, quad_segs=cfg.quad_segs, layer=extra.name).by_area)
        reports[f"extra:{extra.name}"] = extra_report
    if len(parts) > 1:
        from n2kzones.zones import national_zones

        by_area = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=areas.crs)
        layers = ZoneLayers(by_area=by_area, national=national_zones(by_area))
    write_parquet(paths.areas, areas)
    write_parquet(paths.zones_by_area, layers.by_area)
    write_parquet(paths.zones, layers.national)
    _write_manifest(cfg, "zones", reports, [paths.areas, paths.zones_by_area, paths.zones], started)
    log.info("stage zones done in %.1f s", time.perf_counter() - t0)
    return layers


def run_overlay(cfg: Config, *, progress: bool = False, backend: Backend | None = None) -> dict[str, pd.DataFrame]:
    """Stage ``overlay``: parcels and farms against the zones; GeoPackage and CSV tables.

    With the Dask engine the parcels are read and cut in partitions on the cluster and the
    pieces are written as a partitioned GeoParquet folder (``stages/parcel_pieces.parquet/``)
    instead of one file; every table is the same as the local engine's.

    Returns
    -------
    dict
        ``farms``, ``area_summary``, ``land_by_zone`` (hectares per zone face and crop, exact
        integer units) and, on the local engine, ``pieces`` (the parcel pieces).
    """
    if backend is None:
        with open_backend(cfg) as backend:
            return run_overlay(cfg, progress=progress, backend=backend)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    paths = StagePaths(cfg.output_dir)
    if not paths.zones.exists():
        run_zones(cfg)
    areas = gpd.read_parquet(paths.areas)
    by_area = gpd.read_parquet(paths.zones_by_area)
    national = gpd.read_parquet(paths.zones)
    params = cfg.params
    reports: dict[str, LayerReport] = {}
    if cfg.inputs.parcels is None or cfg.inputs.farms is None:
        raise ValueError("the overlay stage needs inputs.parcels and inputs.farms in the config")
    farms, reports["farms"] = _read(cfg, "farms")
    per_task = cfg.compute.chunk_points if backend.name != "local" else len(farms)
    farm_parts = [farms.iloc[a:b] for a, b in chunk_bounds(len(farms), per_task)]
    shared = {"zones": national, "areas": areas}
    farms_z = pd.concat(gather_ordered(backend.map(_overlay_farms_task, farm_parts, shared=shared, name="farms"), len(farm_parts)), ignore_index=True)
    farms_z = gpd.GeoDataFrame(farms_z, geometry=farms.geometry.name, crs=farms.crs)

    with contextlib.ExitStack() as stack:
        if backend.name == "local":
            parcels, reports["parcels"] = _read(cfg, "parcels")
            pieces = overlay_parcels(parcels, national, progress=progress)
            land, farm_land = land_by_zone(pieces), land_by_farm(parcels)
            pieces_layer: Any = pieces
        else:
            from n2kzones.overlay_partitioned import overlay_parcels_dask, pieces_frames

            pieces_dir = stack.enter_context(atomic_dir(paths.parcel_pieces))
            land, farm_land, reports["parcels"], _ = overlay_parcels_dask(
                backend, cfg.inputs.parcels, national, crs=cfg.project.crs, params=params,
                base_dir=cfg.base_dir, partition_rows=cfg.compute.partition_rows, out_dir=pieces_dir,
                progress=progress,
            )
            pieces_layer = pieces_frames(pieces_dir)
        land_use = farm_land_use(farms_z, farm_land, params)
        farms_z = farms_z.merge(land_use, on="farm_id", how="left", validate="one_to_one")
        summary = area_summary(by_area, national, land, farms_z, params)
        farms_table = farm_summary(farms_z, params)

        if backend.name == "local":
            write_parquet(paths.parcel_pieces, pieces)
        write_parquet(paths.farms, farms_z)
        layers = {"areas": areas, "zones": national, "zones_by_area": by_area, "parcel_pieces": pieces_layer, "farms": farms_z}
        if not cfg.compute.pieces_in_geopackage:
            del layers["parcel_pieces"]
            log.info("parcel pieces not written into %s ([compute] pieces_in_geopackage = false); they are in %s", paths.geopackage.name, paths.parcel_pieces)
        write_geopackage(paths.geopackage, layers)
        write_csv(paths.area_summary, summary)
        write_csv(paths.farm_summary, farms_table)
    outputs = [paths.parcel_pieces, paths.farms, paths.geopackage, paths.area_summary, paths.farm_summary]
    _write_manifest(cfg, "overlay", reports, outputs, started, extra={"engine": backend.name})
    log.info("stage overlay done in %.1f s (%s engine)", time.perf_counter() - t0, backend.name)
    result = {"farms": farms_z, "area_summary": summary, "land_by_zone": land}
    if backend.name == "local":
        result["pieces"] = pieces  # on Dask they stay on disk: stages/parcel_pieces.parquet/
    return result


def _overlay_farms_task(farms: gpd.GeoDataFrame, *, zones: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return overlay_farms(farms, zones, areas)
