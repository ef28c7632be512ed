"""Stage ``maps``: ``maps/index.html`` (national overview) and one map per area.

Reads the zones, parcel pieces, farms, receptors, rasters and RKO sources of the earlier
stages and renders them with :mod:`n2kzones.render.maps`; every map is one self-contained
HTML file.

The area maps are independent of each other: :func:`build_area_maps` builds and writes them
in ``[compute] n_workers`` worker processes (each reads the large layers once, see
:func:`read_area_layers`), or in this process with one worker; the files are the same either
way. Workers write only the staging paths this stage gives them.
"""

from __future__ import annotations

import gc
import logging
import logging.handlers
import multiprocessing
import pickle
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pyogrio

from n2kzones.config import Config
from n2kzones.errors import ComputeError, OutputError
from n2kzones.io.writers import read_table
from n2kzones.render.maps import (
    NOT_COVERED,
    PARTLY_COVERED,
    MapContext,
    area_extent,
    area_map,
    area_map_name,
    context_from_layers,
    grid_coverage,
    index_area_rows,
    overview_map,
    raster_range,
    sample_context,
    write_map,
)
from n2kzones.rko import NO_RANGE
from n2kzones.stages.catalogue import OUTPUTS, rko_below_column
from n2kzones.stages.common import config_name, data_date, habitats_of_chosen_areas
from n2kzones.stages.framework import StageRun, stage_run
from n2kzones.threads import exit_with_parent

log = logging.getLogger(__name__)

#: Rasters shown on the area maps: raster key -> (catalogue key, symmetric colour scale).
RASTERS = {"deposition_farms": ("deposition_farms_tif", False), "exceedance": ("exceedance_tif", True)}


#: The upstream outputs only the area maps need (catalogue keys), read by
#: :func:`read_area_layers` where the maps are built.
AREA_LAYERS = {
    "pieces": "parcel_pieces", "farms": "farms", "receptors": "receptors", "rko": "rko_sources",
}
#: Columns of the parcel pieces an area map uses (:func:`n2kzones.render.maps.area_map`).
PIECE_COLUMNS = ("parcel_id", "zone_key", "category", "gewas", "share")


def read_area_layers(paths: dict[str, Path]) -> dict:
    """The large layers of the area maps: parcel pieces (only :data:`PIECE_COLUMNS` and the
    geometry), farms, receptors and RKO sources (farm ids as text).

    Parameters
    ----------
    paths
        :data:`AREA_LAYERS` key -> path of that upstream output.

    Returns
    -------
    dict
        The frames under the keys of :data:`AREA_LAYERS`.
    """
    names = pq.read_schema(paths["pieces"]).names
    columns = [c for c in PIECE_COLUMNS if c in names] + ["geometry"]
    farms = gpd.read_parquet(paths["farms"])
    src = pyogrio.read_dataframe(paths["rko"], layer="sources", read_geometry=False)
    src["farm_id"] = src["farm_id"].astype(str)
    return {
        "pieces": gpd.read_parquet(paths["pieces"], columns=columns),
        "farms": farms.assign(farm_id=farms["farm_id"].astype(str)),
        "receptors": gpd.read_parquet(paths["receptors"]),
        "rko": src,
    }


def _read(run: StageRun) -> dict:
    """The small layers every map needs (areas, zones, habitats, context); the large ones are
    read where the area maps are built (:func:`read_area_layers`)."""
    data: dict = {
        "areas": run.read_upstream("areas"),
        "zones_by_area": run.read_upstream("zones_by_area"),
    }
    if run.cfg.inputs.habitats is not None:
        habitats, _ = run.read_layer("habitats")
        data["habitats"] = habitats_of_chosen_areas(run.cfg, habitats, data["areas"])
    data["context"] = _context(run, data["areas"])
    return data


def _context(run: StageRun, areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The maps' light context layer (:attr:`~n2kzones.render.maps.MapContext.context`): the
    ``[[inputs.context]]`` layers (level = their order), kept where they come within
    :data:`CONTEXT_REACH_M` of an area and simplified by :data:`CONTEXT_SIMPLIFY_M`; without
    them a frame and the areas' names (:func:`~n2kzones.render.maps.sample_context`)."""
    if not run.cfg.inputs.context:
        ctx = sample_context(areas)
        ctx.attrs["n2k_sample"] = True
        return ctx
    layers = [
        run.read_layer("provinces", spec, name=f"context_{i}")[0]
        for i, spec in enumerate(run.cfg.inputs.context)
    ]
    return context_from_layers(
        layers, areas, reach_m=CONTEXT_REACH_M, simplify_m=CONTEXT_SIMPLIFY_M
    )


#: Context polygons farther than this (m) from every area are left out of the maps.
CONTEXT_REACH_M = 5000.0
#: Simplification (m) of the context outlines, once for all maps.
CONTEXT_SIMPLIFY_M = 50.0


#: Manifest keys (``run.extra``) listing the areas whose map extent the grid does not cover.
GRID_KEYS = {NOT_COVERED: "areas_outside_grid", PARTLY_COVERED: "areas_partly_outside_grid"}


def grid_coverage_extra(coverage: dict[str, str]) -> dict[str, object]:
    """Manifest facts of the maps stage from each area's grid coverage.

    Parameters
    ----------
    coverage
        Site code -> coverage of its map extent by the deposition grid
        (:func:`n2kzones.render.maps.grid_coverage`).

    Returns
    -------
    dict
        ``n_areas_outside_grid`` and ``n_areas_partly_outside_grid`` (counts) and
        ``areas_outside_grid`` and ``areas_partly_outside_grid`` (sorted site codes).
    """
    out: dict[str, object] = {}
    for level, key in GRID_KEYS.items():
        codes = sorted(c for c, v in coverage.items() if v == level)
        out[f"n_{key}"] = len(codes)
        out[key] = codes
    return out


#: What a worker process of :func:`build_area_maps` holds: the map context, the layers and
#: whether maps inline Leaflet (set by :func:`_init_worker`).
_WORKER: dict = {}


def _init_worker(
    ctx: MapContext, shared: dict, paths: dict[str, Path], self_contained: bool,
    freeze: bool = False,
) -> None:
    """Worker start: read the large layers once (:func:`read_area_layers`) beside ``shared``;
    with ``freeze`` (a worker process) the garbage collector no longer scans what was read."""
    data = index_area_rows({**shared, **read_area_layers(paths)})
    _WORKER.update(ctx=ctx, data=data, self_contained=self_contained)
    if freeze:
        gc.freeze()


def _init_worker_from(
    state: str, paths: dict[str, Path], self_contained: bool, records: Any = None, level: int = logging.INFO,
) -> None:
    """:func:`_init_worker` of a worker process, with the map context and the small layers
    from the pickle file ``state`` (so that what a new process is sent stays small); its log
    records at ``level`` and above go to the queue ``records`` (the parent logs them)."""
    exit_with_parent()  # a killed run leaves no worker behind
    if records is not None:
        root = logging.getLogger()
        root.handlers[:] = [logging.handlers.QueueHandler(records)]
        root.setLevel(level)
    with open(state, "rb") as f:
        ctx, shared = pickle.load(f)  # noqa: S301 - written by this run, in a private folder
    _init_worker(ctx, shared, paths, self_contained, freeze=True)


def _build_one(code: str, path: Path) -> float:
    """Build and write the map of area ``code`` to ``path`` (a staging path) in this worker;
    returns the seconds it took."""
    t0 = time.perf_counter()
    ctx, data, inline = _WORKER["ctx"], _WORKER["data"], _WORKER["self_contained"]
    write_map(area_map(ctx, code, data, self_contained=inline), path, self_contained=inline)
    seconds = time.perf_counter() - t0
    log.debug("area map %s: %.2f s", code, seconds)
    return seconds


def _progress(n_total: int, t0: float) -> Callable[[int], None]:
    """A logger of the maps built so far: about every tenth of ``n_total`` (count, seconds)."""
    step = max(1, n_total // 10)

    def done(n: int) -> None:
        if n % step == 0 or n == n_total:
            log.info("area maps: %d/%d built (%.1f s)", n, n_total, time.perf_counter() - t0)

    return done


def build_area_maps(
    ctx: MapContext,
    paths: dict[str, Path],
    shared: dict,
    layers: dict[str, Path],
    *,
    workers: int,
    self_contained: bool,
) -> list[Path]:
    """Build and write every area map: in ``workers`` processes, or in this one for 1.

    Parameters
    ----------
    ctx
        What every map shows besides its layers.
    paths
        Site code -> path of its map (in the stage's staging folder), in map order.
    shared
        The small layers (areas, zones, habitats, context), sent to each worker once
        (through a pickle file in a private temporary folder, not through the pipe).
    layers
        :data:`AREA_LAYERS` key -> upstream path: each worker reads these once.
    workers
        Worker processes (at most one per map); 1 builds the maps here. The files do not
        depend on it.
    self_contained
        Inline Leaflet into every map.

    Returns
    -------
    list of pathlib.Path
        The written maps, in the order of ``paths``.

    Raises
    ------
    ComputeError
        A worker process died (killed, out of memory, or a calling script without a
        ``__main__`` guard).
    """
    codes = list(paths)
    t0 = time.perf_counter()
    done = _progress(len(codes), t0)
    workers = min(workers, len(codes))
    if workers <= 1:
        _init_worker(ctx, shared, layers, self_contained)
        try:
            for i, code in enumerate(codes, 1):
                _build_one(code, paths[code])
                done(i)
        finally:
            _WORKER.clear()
        return [paths[c] for c in codes]
    mp = multiprocessing.get_context("spawn")  # no fork of a possibly threaded parent
    log.info("area maps: %d maps in %d worker processes", len(codes), workers)
    with tempfile.TemporaryDirectory(prefix="n2kzones-maps-") as tmp:
        state = Path(tmp) / "state.pickle"
        state.write_bytes(pickle.dumps((ctx, shared), protocol=pickle.HIGHEST_PROTOCOL))
        records = mp.Queue()  # the workers' log records, logged here as this process's
        relay = logging.handlers.QueueListener(records, _Relay(), respect_handler_level=False)
        relay.start()
        try:
            pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=mp, initializer=_init_worker_from,
                initargs=(str(state), layers, self_contained, records, logging.getLogger("n2kzones").getEffectiveLevel()),
            )
            _run_pool(pool, codes, paths, done)
        finally:
            relay.stop()
            records.close()
    return [paths[c] for c in codes]


class _Relay(logging.Handler):
    """Logs a worker's record through this process's logger of the same name (its handlers,
    its level)."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


def _run_pool(
    pool: ProcessPoolExecutor, codes: list[str], paths: dict[str, Path],
    done: Callable[[int], None],
) -> None:
    """Build the maps of ``codes`` in ``pool``; the first error stops the rest."""
    try:
        pending: set[Future] = {pool.submit(_build_one, c, paths[c]) for c in codes}
        n = 0
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                fut.result()  # a worker's error is raised here
                n += 1
                done(n)
    except BrokenProcessPool as exc:
        raise ComputeError(
            "a maps worker process died (out of memory?); a script that runs the maps stage "
            "must guard its top-level code with `if __name__ == '__main__':`; or set "
            "[compute] n_workers = 1"
        ) from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_maps(cfg: Config, *, self_contained: bool = True) -> list[Path]:
    """Stage ``maps``; returns the written map paths (overview first).

    An area whose map extent the deposition grid does not cover (fully) gets its map without
    (part of) the raster layers, a warning names it, and the manifest lists and counts it
    (:func:`grid_coverage_extra`).
    """
    with stage_run(cfg, "maps") as run:
        data = _read(run)
        rasters = {k: run.upstream(key) for k, (key, _) in RASTERS.items()}
        ctx = MapContext(
            data_date=data_date(cfg.output_dir),
            config_name=config_name(cfg),
            map_threshold_mol_ha=cfg.rko.map_threshold_mol_ha,
            below_column=rko_below_column(cfg.rko.map_threshold_mol_ha, NO_RANGE),
            habitat_names={code: h.name for code, h in cfg.params.kdw.habitats.items()},
            rasters=rasters,
            ranges={k: raster_range(p, symmetric=RASTERS[k][1]) for k, p in rasters.items()},
            context=data["context"],
            lang=cfg.project.language,
        )
        out = run.output("maps")
        out.mkdir(parents=True, exist_ok=True)
        codes = list(data["areas"]["site_code"].astype(str))
        names = {code: area_map_name(code) for code in codes}
        clash = pd.Series(list(names.values())).str.lower().duplicated(keep=False)
        if clash.any():  # pragma: no cover - 8 hex digits of SHA-1 colliding
            raise OutputError(f"map file names collide for site codes {[c for c, x in zip(codes, clash, strict=True) if x][:4]}")
        run.extra["map_files"] = names  # site code -> file name in maps/
        coverage = {code: grid_coverage(ctx, area_extent(data, code)) for code in codes}
        run.extra |= grid_coverage_extra(coverage)
        for level, label in ((NOT_COVERED, "outside"), (PARTLY_COVERED, "partly outside")):
            if off := sorted(c for c, v in coverage.items() if v == level):
                log.warning(
                    "%d area map(s) %s the deposition grid, shown without (part of) the "
                    "raster layers: %s",
                    len(off), label, ", ".join(off[:10]) + (", ..." if len(off) > 10 else ""),
                )
        written = build_area_maps(
            ctx, {code: out / names[code] for code in codes}, data,
            {k: run.upstream(key) for k, key in AREA_LAYERS.items()},
            workers=cfg.compute.n_workers, self_contained=self_contained,
        )
        dep = read_table(
            run.upstream("area_deposition"), cfg.project.csv_flavour, dtype={"site_code": str}
        )
        hab = data.get("habitats")
        overview = overview_map(
            ctx, data["areas"], run.read_upstream("zones"), dep, self_contained=self_contained,
            habitat_sites=set(hab["site_code"].dropna().astype(str)) if hab is not None else None,
        )
        written.insert(0, write_map(overview, out / "index.html", self_contained=self_contained))
        log.info("rendered %d maps", len(written))
    final = cfg.output_dir / OUTPUTS["maps"].path
    return [final / p.name for p in written]
