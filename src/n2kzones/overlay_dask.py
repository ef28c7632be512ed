"""The overlay on a Dask cluster: parcels in partitions, zones broadcast.

Each task reads one parcel partition itself (:mod:`n2kzones.io.partitioned`), checks and
maps it exactly as the in-memory reader does (:func:`~n2kzones.io.readers.normalise_layer`),
keeps only the zone faces that meet its bounding box, and runs the same
:func:`~n2kzones.overlay.overlay_parcels` on them. It writes its pieces as one GeoParquet
file into a temporary folder and returns only small partial results: land per zone face and
crop category, land per farm (exact integer sums, see :data:`n2kzones.summary.AREA_QUANTUM_M2`)
and its account of the rows it read. The stage combines those and swaps the folder into
place once every task has succeeded.

Ids must be unique over the whole layer, not per partition: repeated ids are found on the
cluster first (only the repeats come back) and resolved with the configured policy on just
those rows, the same way :func:`~n2kzones.io.validate.deduplicate_ids` does in memory.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from tqdm.auto import tqdm

from n2kzones.config import LayerInput
from n2kzones.io.partitioned import (
    Partition,
    dask_layer,
    plan_partitions,
    repeated_ids,
    spatially_partitioned,
)
from n2kzones.io.presets import get_preset
from n2kzones.io.readers import normalise_layer
from n2kzones.io.validate import LayerReport, deduplicate_ids
from n2kzones.io.writers import write_parquet
from n2kzones.overlay import land_by_farm, overlay_parcels
from n2kzones.params import Parameters
from n2kzones.summary import land_by_zone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdFixes:
    """What the duplicate-id policy decided for rows whose id is used more than once."""

    drop_rows: frozenset[int] = frozenset()
    rename: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionResult:
    """What an overlay task returns (small; the pieces themselves are on disk)."""

    index: int
    n_parcels: int
    n_pieces: int
    land: pd.DataFrame
    farm_land: pd.DataFrame
    report: dict[str, Any]
    seconds: float


def merge_reports(
    name: str, source: str, parts: list[dict[str, Any]], extra: LayerReport | None = None
) -> LayerReport:
    """One account for a layer read in partitions (counts added, notes kept once each)."""
    report = LayerReport(name=name, source=source)
    notes: dict[str, None] = {}
    for r in parts:
        report.n_read += int(r["n_read"])
        report.n_kept += int(r["n_kept"])
        report.repaired_invalid += int(r["repaired_invalid"])
        for reason, n in r["dropped"].items():
            report.drop(reason, n)
        notes.update(dict.fromkeys(r["notes"]))
    if extra is not None:
        notes.update(dict.fromkeys(extra.notes))
    report.notes = list(notes)
    return report


def _id_source_column(spec: LayerInput, columns: list[str]) -> str | None:
    """The source column the parcel ids come from, or None (ids are row numbers)."""
    mapping = {**get_preset("parcels", spec.preset).columns, **spec.columns}
    source = mapping.get("parcel_id", "parcel_id")
    sources = [source] if isinstance(source, str) else list(source)
    present = [c for c in sources if c in columns]
    if len(present) > 1:
        return None  # first-non-blank of several columns: resolved per row, checked in tasks
    return present[0] if present else None


def resolve_duplicate_ids(
    ddf: Any,
    parts: list[Partition],
    spec: LayerInput,
    *,
    crs: str,
    params: Parameters,
    name: str,
    source: str,
) -> tuple[IdFixes, LayerReport | None]:
    """Find ids used more than once over all partitions and apply the configured policy."""
    column = _id_source_column(spec, list(ddf.columns))
    if column is None:
        return IdFixes(), None
    repeated = repeated_ids(parts, column)
    if not repeated:
        return IdFixes(), None
    rows = ddf[ddf[column].isin(repeated)].compute()
    rows = rows.sort_values("input_row", kind="stable")
    report = LayerReport(name=name, source=source)
    norm = normalise_layer(
        rows,
        "parcels",
        spec,
        crs=crs,
        params=params,
        report=report,
        row_offset=None,
        partition=True,
    )
    kept = deduplicate_ids(norm, "parcel_id", spec.on_duplicate_id, report)  # raises for 'error'
    dropped = frozenset(
        int(r) for r in np.setdiff1d(norm["input_row"].to_numpy(), kept["input_row"].to_numpy())
    )
    before = norm.set_index("input_row")["parcel_id"].astype(str)
    after = kept.set_index("input_row")["parcel_id"].astype(str)
    renamed = {int(r): str(v) for r, v in after.items() if before[r] != v}
    log.info(
        "parcel ids used more than once: %d ids; %d rows dropped, %d renamed",
        len(repeated),
        len(dropped),
        len(renamed),
    )
    return IdFixes(dropped, renamed), report


def overlay_partition(
    raw: gpd.GeoDataFrame,
    *,
    index: int,
    spec: LayerInput,
    crs: str,
    params: Parameters,
    zones: gpd.GeoDataFrame,
    fixes: IdFixes,
    out_dir: str,
    name: str,
    source: str,
) -> PartitionResult:
    """One overlay task (see the module docstring): pure apart from writing its pieces file."""
    t0 = time.perf_counter()
    report = LayerReport(name=name, source=source)
    parcels = normalise_layer(
        raw, "parcels", spec, crs=crs, params=params, report=report, row_offset=None, partition=True
    )
    if fixes.drop_rows:
        drop = parcels["input_row"].isin(fixes.drop_rows).to_numpy()
        report.drop("exact duplicate row", int(drop.sum()))
        report.n_kept -= int(drop.sum())
        parcels = parcels.loc[~drop].reset_index(drop=True)
    if fixes.rename:  # ids become text in every partition, as in memory ("id-2")
        new = parcels["input_row"].map(fixes.rename)
        parcels["parcel_id"] = parcels["parcel_id"].astype(str).where(new.isna(), new)
    if len(parcels):
        near = np.sort(
            shapely.STRtree(zones.geometry.to_numpy()).query(shapely.box(*parcels.total_bounds))
        )
        pieces = overlay_parcels(parcels, zones.iloc[near].reset_index(drop=True))
    else:
        pieces = overlay_parcels(parcels, zones.iloc[:0])
    if not Path(out_dir).is_dir():  # the run was cancelled and its temporary folder removed
        raise FileNotFoundError(f"{out_dir} is gone; not writing partition {index}")
    write_parquet(Path(out_dir) / f"part-{index:05d}.parquet", pieces)
    return PartitionResult(
        index=index,
        n_parcels=len(parcels),
        n_pieces=len(pieces),
        land=land_by_zone(pieces),
        farm_land=land_by_farm(parcels),
        report=report.as_dict(),
        seconds=time.perf_counter() - t0,
    )


def overlay_parcels_dask(
    backend: Any,
    spec: LayerInput,
    zones: gpd.GeoDataFrame,
    *,
    crs: str,
    params: Parameters,
    base_dir: Path,
    partition_rows: int,
    out_dir: Path,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, LayerReport, int]:
    """Overlay every parcel partition on the cluster; pieces go to ``out_dir/part-*.parquet``.

    Returns
    -------
    (land_by_zone, land_by_farm, report, n_pieces)
        Combined partial results and the account of every parcel read.
    """
    import dask

    t0 = time.perf_counter()
    path = spec.path if spec.path.is_absolute() else base_dir / spec.path
    name, source = spec.layer or path.stem, str(path)
    parts: list[Partition] = plan_partitions(path, layer=spec.layer, partition_rows=partition_rows)
    ddf = dask_layer(parts)
    fixes, dup_report = resolve_duplicate_ids(
        ddf, parts, spec, crs=crs, params=params, name=name, source=source
    )
    ddf, shuffled = spatially_partitioned(ddf)
    zones_f = backend.share(zones)
    tasks = [
        dask.delayed(overlay_partition, pure=False)(
            p,
            index=i,
            spec=spec,
            crs=crs,
            params=params,
            zones=zones_f,
            fixes=fixes,
            out_dir=str(out_dir),
            name=name,
            source=source,
            dask_key_name=f"n2kzones-overlay-{i}",
        )
        for i, p in enumerate(ddf.to_delayed())
    ]
    results: list[PartitionResult] = []
    with tqdm(total=len(tasks), desc="overlay", unit="partition", disable=not progress) as bar:
        for _, res in backend.compute(tasks, name="overlay"):
            results.append(res)
            bar.update()
    results.sort(key=lambda r: r.index)
    report = merge_reports(name, source, [r.report for r in results], dup_report)
    if report.n_kept == 0:
        from n2kzones.io.validate import ensure_nonempty

        ensure_nonempty(gpd.GeoDataFrame(), report)
    land = land_by_zone(pd.concat([r.land for r in results], ignore_index=True))
    farm_land = land_by_farm(pd.concat([r.farm_land for r in results], ignore_index=True))
    n_pieces = sum(r.n_pieces for r in results)
    log.info(
        "overlay on Dask: %d parcels in %d partitions%s -> %d pieces (%.1f s; slowest task %.1f s)",
        report.n_kept,
        len(results),
        " (Hilbert-reordered)" if shuffled else "",
        n_pieces,
        time.perf_counter() - t0,
        max((r.seconds for r in results), default=0.0),
    )
    return land, farm_land, report, n_pieces


def pieces_frames(folder: Path, batch_rows: int = 500_000) -> Any:
    """The pieces written by the tasks in partition order, in batches of about ``batch_rows``
    (few large GeoPackage writes are much faster than many small ones)."""
    batch: list[gpd.GeoDataFrame] = []
    n = 0
    for f in sorted(folder.glob("part-*.parquet")):
        batch.append(gpd.read_parquet(f))
        n += len(batch[-1])
        if n >= batch_rows:
            yield pd.concat(batch, ignore_index=True)
            batch, n = [], 0
    if batch:
        yield pd.concat(batch, ignore_index=True)


__all__ = [
    "IdFixes",
    "PartitionResult",
    "overlay_parcels_dask",
    "overlay_partition",
    "pieces_frames",
]
