"""Read a big layer lazily, in partitions, for the Dask engine.

A partition is a slice of the source that a worker reads itself: a GeoParquet file (or a
group of its row groups) of a partitioned dataset, or a range of rows of a GeoPackage /
Shapefile / other OGR source. :func:`plan_partitions` lists them from metadata only;
:func:`dask_layer` turns them into a lazy ``dask_geopandas.GeoDataFrame`` with an
``input_row`` column (the row's position in the whole source, as the in-memory reader
numbers it) and, where the metadata has them, spatial partitions.

Partitions that are spatially compact (a Hilbert-sorted dataset such as
``n2kzones synthetic`` writes) each meet only the zones near them. When they are not,
:func:`spatially_partitioned` reorders the rows along a Hilbert curve first
(``dask_geopandas`` ``spatial_shuffle``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import shapely

from n2kzones.errors import InputError
from n2kzones.io.readers import PARQUET_SUFFIXES, VECTOR_SUFFIXES

log = logging.getLogger(__name__)

#: Reorder along a Hilbert curve when the partitions' bounding boxes together cover more
#: than this many times the layer's bounding box (1 = no overlap at all).
MAX_PARTITION_OVERLAP = 2.0


@dataclass(frozen=True)
class Partition:
    """One slice of a source layer that a worker reads on its own."""

    index: int
    path: str
    fmt: Literal["parquet", "ogr"]
    row_offset: int
    n_rows: int
    layer: str | None = None
    row_groups: tuple[int, ...] | None = None
    bounds: tuple[float, float, float, float] | None = None


def _parquet_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.suffix.lower() in PARQUET_SUFFIXES and not p.name.startswith(".")
        )
        if not files:
            raise InputError(
                f"{path}: folder holds no .parquet files; point inputs.parcels.path at a GeoParquet file or dataset"
            )
        return files
    return [path]


def _geo_metadata(metadata: dict[bytes, bytes] | None) -> dict[str, Any]:
    if not metadata or b"geo" not in metadata:
        raise InputError(
            "a .parquet input has no GeoParquet 'geo' metadata; write it with geopandas.to_parquet"
        )
    return json.loads(metadata[b"geo"])


def plan_partitions(path: Path, *, layer: str | None, partition_rows: int) -> list[Partition]:
    """The partitions of a source, from its metadata (no features are read).

    GeoParquet: one partition per file, or per group of row groups of about
    ``partition_rows`` rows in a bigger file. OGR sources: ranges of ``partition_rows`` rows.
    """
    if not path.exists():
        raise InputError(f"{path} does not exist; check inputs.*.path in the config")
    parts: list[Partition] = []
    offset = 0
    if path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES:
        for f in _parquet_files(path):
            md = pq.read_metadata(f)
            geo = _geo_metadata(md.metadata)
            bbox = geo["columns"][geo["primary_column"]].get("bbox")
            groups: list[list[int]] = [[]]
            rows_in: list[int] = [0]
            for g in range(md.num_row_groups):
                n = md.row_group(g).num_rows
                if groups[-1] and rows_in[-1] + n > partition_rows:
                    groups.append([])
                    rows_in.append(0)
                groups[-1].append(g)
                rows_in[-1] += n
            whole = len(groups) == 1
            for rgs, n in zip(groups, rows_in, strict=True):
                if n == 0:
                    continue
                parts.append(
                    Partition(
                        index=len(parts),
                        path=str(f),
                        fmt="parquet",
                        row_offset=offset,
                        n_rows=n,
                        row_groups=None if whole else tuple(rgs),
                        bounds=tuple(bbox) if (whole and bbox and len(bbox) == 4) else None,
                    )
                )
                offset += n
        return parts
    if path.suffix.lower() not in VECTOR_SUFFIXES:
        raise InputError(
            f"{path}: the Dask engine reads GeoParquet (file or folder) or OGR formats "
            "(GeoPackage, Shapefile, GeoJSON, FlatGeobuf); convert other inputs first"
        )
    n_total = int(pyogrio.read_info(path, layer=layer)["features"])
    for start in range(0, n_total, partition_rows):
        n = min(partition_rows, n_total - start)
        parts.append(
            Partition(
                index=len(parts), path=str(path), fmt="ogr", row_offset=start, n_rows=n, layer=layer
            )
        )
    return parts


def _arrow_to_gdf(table: Any, metadata: dict[bytes, bytes] | None) -> gpd.GeoDataFrame:
    geo = _geo_metadata(metadata)
    col = geo["primary_column"]
    spec = geo["columns"][col]
    if spec.get("encoding", "WKB").upper() != "WKB":
        raise InputError(
            f"GeoParquet geometry encoding {spec.get('encoding')!r} is not supported; write WKB"
        )
    crs = spec.get("crs", "OGC:CRS84")  # GeoParquet: a missing crs means OGC:CRS84
    covering = {
        path[0] for path in spec.get("covering", {}).get("bbox", {}).values()
    }  # as geopandas does
    drop = [c for c in table.column_names if c.startswith("__index_level") or c in covering]
    df = table.drop_columns(drop).to_pandas()
    geoms = shapely.from_wkb(df.pop(col).to_numpy())
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=crs).values, crs=crs)


def read_partition(part: Partition, columns: list[str] | None = None) -> gpd.GeoDataFrame:
    """The rows of one partition as read (source columns, source CRS) plus ``input_row``."""
    if part.fmt == "parquet":
        pf = pq.ParquetFile(part.path)
        meta = pf.schema_arrow.metadata
        if columns is not None:
            geo_col = _geo_metadata(meta)["primary_column"]
            columns = [c for c in dict.fromkeys([*columns, geo_col]) if c in pf.schema_arrow.names]
        table = (
            pf.read(columns=columns)
            if part.row_groups is None
            else pf.read_row_groups(list(part.row_groups), columns=columns)
        )
        gdf = _arrow_to_gdf(table, meta)
    else:
        gdf = pyogrio.read_dataframe(
            part.path,
            layer=part.layer,
            skip_features=part.row_offset,
            max_features=part.n_rows,
            columns=columns,
            use_arrow=True,
        )
    if len(gdf) != part.n_rows:
        raise InputError(
            f"{part.path}: expected {part.n_rows} rows in partition {part.index}, read {len(gdf)}; was the file changed during the run?"
        )
    if "input_row" in gdf.columns:
        gdf = gdf.rename(columns={"input_row": "input_row_source"})
    gdf["input_row"] = np.arange(part.row_offset, part.row_offset + part.n_rows, dtype=np.int64)
    return gdf


def dask_layer(parts: list[Partition]) -> Any:
    """A lazy ``dask_geopandas.GeoDataFrame`` over the partitions (one per partition)."""
    import dask.dataframe as dd
    import dask_geopandas

    if not parts:
        raise InputError("the layer has no rows")
    meta = read_partition(_head(parts[0])).iloc[:0]
    ddf = dd.from_map(read_partition, parts, meta=meta, enforce_metadata=False)
    if not isinstance(ddf, dask_geopandas.GeoDataFrame):  # pragma: no cover - dispatch guard
        ddf = dask_geopandas.from_dask_dataframe(ddf, geometry=meta.geometry.name)
    if all(p.bounds is not None for p in parts):
        ddf.spatial_partitions = gpd.GeoSeries(
            [shapely.box(*p.bounds) for p in parts], crs=meta.crs
        )
    return ddf


def _head(part: Partition) -> Partition:
    """A one-row stand-in of a partition (to learn the columns and types cheaply)."""
    if part.fmt == "ogr":
        return Partition(part.index, part.path, "ogr", part.row_offset, 1, part.layer)
    return part


def partition_overlap(ddf: Any) -> float:
    """Sum of the partitions' bounding-box areas over the layer's bounding-box area."""
    if ddf.spatial_partitions is None:
        ddf.calculate_spatial_partitions()
    env = shapely.envelope(ddf.spatial_partitions.to_numpy())
    total = shapely.area(shapely.box(*shapely.total_bounds(env)))
    return float(shapely.area(env).sum() / total) if total > 0 else 1.0


def spatially_partitioned(ddf: Any) -> tuple[Any, bool]:
    """The layer as is when its partitions are compact, else Hilbert-reordered.

    Returns ``(ddf, shuffled)``.
    """
    overlap = partition_overlap(ddf)
    if ddf.npartitions <= 2 or overlap <= MAX_PARTITION_OVERLAP:
        log.info(
            "%d partitions, spatially compact (bounding boxes cover %.2fx the layer)",
            ddf.npartitions,
            overlap,
        )
        return ddf, False
    log.info(
        "%d partitions overlap (bounding boxes cover %.1fx the layer): reordering along a Hilbert curve",
        ddf.npartitions,
        overlap,
    )
    return ddf.spatial_shuffle(by="hilbert", npartitions=ddf.npartitions), True


def _read_id_column(part: Partition, column: str) -> pd.Series:
    if part.fmt == "parquet":
        pf = pq.ParquetFile(part.path)
        table = (
            pf.read(columns=[column])
            if part.row_groups is None
            else pf.read_row_groups(list(part.row_groups), columns=[column])
        )
        return table.column(column).to_pandas()
    return pyogrio.read_dataframe(
        part.path,
        layer=part.layer,
        skip_features=part.row_offset,
        max_features=part.n_rows,
        columns=[column],
        read_geometry=False,
    )[column]


def _id_hashes(part: Partition, *, column: str) -> pd.DataFrame:
    return pd.DataFrame({"h": pd.util.hash_array(_read_id_column(part, column).to_numpy())})


def _ids_with_hashes(part: Partition, *, column: str, hashes: frozenset[int]) -> pd.DataFrame:
    ids = _read_id_column(part, column)
    keep = np.isin(pd.util.hash_array(ids.to_numpy()), np.fromiter(hashes, dtype=np.uint64))
    return pd.DataFrame({"id": ids[keep].to_numpy()})


def repeated_ids(parts: list[Partition], column: str) -> list[Any]:
    """Values of ``column`` used by more than one row over all partitions.

    Reads the id column alone: 64-bit hashes of the ids are counted on the cluster (hashed
    into one partition per 16 input partitions, so no worker holds every id of a
    continent's parcels); the ids behind repeated hashes are then read back and counted
    exactly, so a hash collision can never make a false repeat.
    """
    import dask.dataframe as dd

    hashes = dd.from_map(
        _id_hashes,
        parts,
        column=column,
        meta=pd.DataFrame({"h": pd.Series(dtype=np.uint64)}),
        enforce_metadata=False,
    )
    counts = hashes["h"].value_counts(split_out=max(1, len(parts) // 16))
    repeated = counts[counts > 1].compute()
    if repeated.empty:
        return []
    meta = _read_id_column(parts[0], column).iloc[:0].to_frame("id")
    ids = dd.from_map(
        _ids_with_hashes,
        parts,
        column=column,
        hashes=frozenset(int(h) for h in repeated.index),
        meta=meta,
        enforce_metadata=False,
    )
    values = ids["id"].compute()
    counted = values.value_counts()
    return counted[counted > 1].index.tolist()
