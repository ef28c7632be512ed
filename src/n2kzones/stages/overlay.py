"""Stage ``overlay``: parcels and farms against the zones; GeoPackage and CSV tables.

Writes ``stages/parcel_pieces.parquet`` (parcels cut by zone membership; a folder of
partitions on the Dask backend), ``stages/farms.parquet``, ``n2kzones.gpkg`` (layers areas,
zones, zones_by_area, parcel_pieces, farms), ``area_summary.csv`` and ``farm_summary.csv``.
Both backends give the same tables.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import geopandas as gpd
import pandas as pd

from n2kzones.compute import Backend, chunk_bounds, gather_ordered, open_backend
from n2kzones.config import Config
from n2kzones.io.values import BRP_CATEGORIES
from n2kzones.io.writers import atomic_dir, write_geopackage_aside, write_parquet
from n2kzones.overlay import farm_land_use, land_by_farm, overlay_farms, overlay_parcels
from n2kzones.render.qgis import farms_style, parcel_pieces_style, zones_style
from n2kzones.stages.framework import stage_run
from n2kzones.summary import area_summary, farm_summary, land_by_zone

log = logging.getLogger(__name__)

T = TypeVar("T")


def run_overlay(cfg: Config, *, progress: bool = False, backend: Backend | None = None) -> dict[str, pd.DataFrame]:
    """Stage ``overlay`` (areas in ha, emissions in kg NH3/yr).

    Returns
    -------
    dict
        ``farms``, ``area_summary``, ``land_by_zone`` (hectares per zone face and crop, exact
        integer units) and, on the local backend, ``pieces`` (the parcel pieces).
    """
    if backend is None:
        with open_backend(cfg.compute) as backend:
            return run_overlay(cfg, progress=progress, backend=backend)
    with stage_run(cfg, "overlay") as run:
        run.extra["engine"] = backend.name
        areas = run.read_upstream("areas")
        by_area = run.read_upstream("zones_by_area")
        national = run.read_upstream("zones")
        params = cfg.params
        farms, _ = run.read_layer("farms")
        local = backend.name == "local"
        with contextlib.ExitStack() as stack:
            # the farms (one core, GEOS) are placed in a thread while the parcels are read
            farm_thread = ThreadPoolExecutor(1, thread_name_prefix="farms") if local else None
            farms_overlaid = _submit(farm_thread, _overlay_all_farms, backend, farms, national, areas, cfg)
            if farm_thread is not None:
                farm_thread.shutdown(wait=False)  # its thread ends with the task: none is left at the fork
            if local:
                parcels, _ = run.read_layer("parcels")
                pieces = overlay_parcels(parcels, national, progress=progress)
                land, farm_land = land_by_zone(pieces), land_by_farm(parcels)
                pieces_layer: Any = pieces
            else:
                from n2kzones.overlay_dask import overlay_parcels_dask, pieces_frames

                if cfg.inputs.parcels is None:
                    raise ValueError("the overlay stage needs [inputs.parcels] in the config")
                pieces_dir = stack.enter_context(atomic_dir(run.output("parcel_pieces")))
                land, farm_land, run.reports["parcels"], _ = overlay_parcels_dask(
                    backend, cfg.inputs.parcels, national, crs=cfg.project.crs, params=params,
                    base_dir=cfg.base_dir, partition_rows=cfg.compute.partition_rows, out_dir=pieces_dir,
                    progress=progress,
                )
                run.record_input("parcels", cfg.resolve(cfg.inputs.parcels.path))
                pieces_layer = pieces_frames(pieces_dir)
            farms_z = farms_overlaid.result()
            land_use = farm_land_use(farms_z, farm_land, params)
            farms_z = farms_z.merge(land_use, on="farm_id", how="left", validate="one_to_one")
            layers = {"areas": areas, "zones": national, "zones_by_area": by_area, "parcel_pieces": pieces_layer, "farms": farms_z}
            if not cfg.compute.pieces_in_geopackage:
                del layers["parcel_pieces"]
                log.info("parcel pieces left out of the GeoPackage ([compute] pieces_in_geopackage = false); they are in stages/parcel_pieces.parquet")
            styles = {
                "zones": zones_style(national["width_m"]),
                "parcel_pieces": parcel_pieces_style([*BRP_CATEGORIES, "Onbekend"]),
                "farms": farms_style(),
            }
            # GDAL writes the GeoPackage in a forked process while the tables are computed and
            # written here (not beside a Dask client's threads: then before them)
            with write_geopackage_aside(run.output("overlay_gpkg"), layers, styles=styles, fork=local):
                summary = area_summary(by_area, national, land, farms_z, params)
                farms_table = farm_summary(farms_z, params)
                if local:
                    write_parquet(run.output("parcel_pieces"), pieces)
                write_parquet(run.output("farms"), farms_z)
                run.write_table("area_summary", summary)
                run.write_table("farm_summary", farms_table)
    result = {"farms": farms_z, "area_summary": summary, "land_by_zone": land}
    if backend.name == "local":
        result["pieces"] = pieces  # on Dask they stay on disk: stages/parcel_pieces.parquet/
    return result


def _overlay_all_farms(
    backend: Backend, farms: gpd.GeoDataFrame, national: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, cfg: Config
) -> gpd.GeoDataFrame:
    """The farms against the zones and areas (:func:`~n2kzones.overlay.overlay_farms`), in
    tasks of ``[compute] chunk_points`` farms on a cluster, in one piece here."""
    per_task = cfg.compute.chunk_points if backend.name != "local" else max(len(farms), 1)
    farm_parts = [farms.iloc[a:b] for a, b in chunk_bounds(len(farms), per_task)]
    shared = {"zones": national, "areas": areas}
    done = gather_ordered(backend.map(_overlay_farms_task, farm_parts, shared=shared, name="farms"), len(farm_parts))
    return gpd.GeoDataFrame(
        pd.concat(done, ignore_index=True) if done else overlay_farms(farms, national, areas),
        geometry=farms.geometry.name, crs=farms.crs,
    )


def _submit(pool: ThreadPoolExecutor | None, fn: Callable[..., T], *args: Any) -> Future:
    """``fn(*args)`` in ``pool``, or now (a finished future) without one."""
    if pool is not None:
        return pool.submit(fn, *args)
    done: Future = Future()
    try:
        done.set_result(fn(*args))
    except Exception as exc:  # raised where the result is asked for, as from a thread
        done.set_exception(exc)
    return done


def _overlay_farms_task(farms: gpd.GeoDataFrame, *, zones: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return overlay_farms(farms, zones, areas)
