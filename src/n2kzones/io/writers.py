"""Atomic writers: a file appears complete under its final name, or not at all.

Each writer writes to a temporary name in the destination folder and renames it into place
(``os.replace`` is atomic on one filesystem). An interrupted or failed run therefore leaves
the previous output intact, and never a half-written file that looks current.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers (GDAL) want to create the file themselves
    try:
        yield tmp
        if path.is_dir():  # a partitioned dataset from a Dask run: replaced as a whole
            aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, aside / path.name)
            os.replace(tmp, path)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _prepare_for_ogr(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """GDAL cannot store list/dict columns or pandas' nullable booleans with NA everywhere."""
    out = gdf.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, (list, tuple, set, dict))).any():
            out[col] = out[col].map(lambda v: json.dumps(sorted(v) if isinstance(v, set) else v))
    return out


def write_geopackage(path: str | Path, layers: Mapping[str, gpd.GeoDataFrame | Iterable[gpd.GeoDataFrame]]) -> Path:
    """Write several layers into one GeoPackage, atomically (all layers or none).

    Parameters
    ----------
    path
        Destination ``.gpkg``.
    layers
        Layer name -> GeoDataFrame (in the working CRS), or an iterable of GeoDataFrames
        with the same columns, written one after the other (a layer bigger than memory).
    """
    path = Path(path)
    counts: dict[str, int] = {}
    with atomic_path(path) as tmp:
        for name, frames in layers.items():
            if isinstance(frames, pd.DataFrame):
                pyogrio.write_dataframe(_prepare_for_ogr(frames), tmp, layer=name, driver="GPKG", append=tmp.exists())
                counts[name] = len(frames)
                continue
            # In chunks: fix the layer type on the first chunk (polygons as MultiPolygon, as
            # GDAL does for a mixed layer) so that later chunks fit it.
            counts[name] = 0
            multi: dict[str, Any] = {}
            for gdf in frames:
                if counts[name] and gdf.empty:
                    continue
                if not counts[name] and gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all():
                    multi = {"promote_to_multi": True, "geometry_type": "MultiPolygon"}
                pyogrio.write_dataframe(_prepare_for_ogr(gdf), tmp, layer=name, driver="GPKG", append=tmp.exists(), **multi)
                counts[name] += len(gdf)
    log.info("wrote %s (%s)", path, ", ".join(f"{k}: {v}" for k, v in counts.items()))
    return path


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; swap it in for ``path`` when the block succeeds.

    For outputs written as many files (a partitioned GeoParquet dataset). On an exception
    the temporary folder is removed and ``path`` is left as it was. ``path`` may be a file
    or a folder from an earlier run; it is replaced as a whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(path: str | Path, gdf: gpd.GeoDataFrame | pd.DataFrame) -> Path:
    """Write a (Geo)DataFrame as (Geo)Parquet, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        gdf.to_parquet(tmp, index=False)
    return path


def write_csv(path: str | Path, df: pd.DataFrame, *, float_format: str | None = None) -> Path:
    """Write a table as UTF-8 CSV, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=float_format)
    log.info("wrote %s (%d rows)", path, len(df))
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON (UTF-8, indented, sorted keys), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", "utf-8")
    return path
