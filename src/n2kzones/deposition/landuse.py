"""CORINE Land Cover -> the OPS/DEPAC receptor land-use classes of the class-aware model.

The conversion table is ``n2kzones/data/clc_ops_landuse.csv`` (provenance in
``clc_ops_landuse.provenance.json``): one row per CLC level-3 class (44) with its CLC code
(``111`` .. ``523``), the value the CLMS 100 m raster stores for it (``grid_code`` 1..44),
the OPS/DEPAC class (:data:`~n2kzones.deposition.classes.LANDUSES`, 1..9) and why.

:func:`corine_landuse` reprojects a CLC raster (EPSG:3035 as CLMS publishes it, or any CRS)
by nearest neighbour onto an RD New grid and recodes it, giving class codes 1..9 and 0 where
there is no class (no data, outside the raster, or a value that is no CLC class). The result
is what ``[inputs.receptor_landuse]`` reads (raster role ``landuse_class``).
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from n2kzones.deposition.classes import LANDUSES
from n2kzones.errors import InputError
from n2kzones.io.grid import GridSpec

#: Package data file of the conversion table (in ``n2kzones/data``).
CLC_TABLE = "clc_ops_landuse.csv"
#: Class code written where a cell has no class (the raster's nodata value).
NO_CLASS = 0
#: Largest raster value the lookup covers (3-digit CLC codes stay below it).
_LUT_SIZE = 1024


@functools.lru_cache(maxsize=1)
def clc_table() -> pd.DataFrame:
    """The packaged CLC -> OPS/DEPAC table, checked.

    Returns
    -------
    pandas.DataFrame
        ``clc_code`` (111..523), ``grid_code`` (1..44), ``clc_label``, ``ops_class`` (1..9),
        ``ops_landuse`` (class name of :data:`LANDUSES`) and ``reason``, one row per class.

    Raises
    ------
    InputError
        A duplicated code, a class outside 1..9, or a class number and name that disagree.
    """
    with resources.as_file(resources.files("n2kzones") / "data" / CLC_TABLE) as p:
        table = pd.read_csv(p, dtype={"clc_label": str, "ops_landuse": str, "reason": str})
    for col in ("clc_code", "grid_code"):
        dup = table[col][table[col].duplicated()]
        if len(dup):
            raise InputError(f"{CLC_TABLE}: {col} {sorted(dup.tolist())} appear more than once")
    pairs = zip(table["ops_class"], table["ops_landuse"], strict=True)
    wrong = table[[LANDUSES.get(int(c)) != n for c, n in pairs]]
    if len(wrong):
        raise InputError(
            f"{CLC_TABLE}: ops_class and ops_landuse disagree for CLC {wrong['clc_code'].tolist()} "
            f"(classes: {LANDUSES})"
        )
    return table


def clc_lookup() -> np.ndarray:
    """Lookup array ``value -> OPS/DEPAC class code`` (uint8, :data:`NO_CLASS` elsewhere).

    Both the CLMS raster's grid codes 1..44 and the 3-digit CLC codes 111..523 are keys (the
    two sets do not overlap), so a raster of either kind recodes with the same array.
    """
    t = clc_table()
    lut = np.full(_LUT_SIZE, NO_CLASS, dtype=np.uint8)
    lut[t["grid_code"].to_numpy(int)] = t["ops_class"].to_numpy(np.uint8)
    lut[t["clc_code"].to_numpy(int)] = t["ops_class"].to_numpy(np.uint8)
    return lut


def recode_clc(values: np.ndarray, nodata: float | None = None) -> np.ndarray:
    """OPS/DEPAC class code (uint8, 1..9; :data:`NO_CLASS` = none) of CLC raster values.

    Parameters
    ----------
    values
        CLC grid codes (1..44) or CLC codes (111..523); any other value, NaN or ``nodata``
        gives :data:`NO_CLASS`.
    nodata
        The source raster's no-data value, if any.
    """
    v = np.asarray(values)
    ok = np.isfinite(v) if v.dtype.kind == "f" else np.ones(v.shape, bool)
    if nodata is not None:
        ok &= v != nodata
    idx = np.where(ok, v, 0).astype(np.int64)
    ok &= (idx >= 0) & (idx < _LUT_SIZE) & (idx == np.where(ok, v, 0))
    out = np.full(v.shape, NO_CLASS, dtype=np.uint8)
    out[ok] = clc_lookup()[idx[ok]]
    return out


def corine_landuse(src: str | Path, grid: GridSpec, crs: str = "EPSG:28992") -> np.ndarray:
    """OPS/DEPAC class codes of a CORINE Land Cover raster on ``grid``.

    Parameters
    ----------
    src
        CLC raster (GeoTIFF; CLMS publishes the 100 m raster in EPSG:3035 with grid codes).
    grid
        Target grid (cells in m, ``crs``).
    crs
        CRS of ``grid`` (default RD New).

    Returns
    -------
    numpy.ndarray
        ``grid.shape`` uint8 class codes 1..9, :data:`NO_CLASS` where the source has no data,
        no CLC class, or does not reach. Each cell takes the source cell its centre lies in
        (nearest neighbour): codes are never blended.

    Raises
    ------
    InputError
        The file is unreadable, has no CRS, or holds no CLC class in ``grid``.
    """
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.warp import Resampling, reproject

    path = Path(src)
    try:
        ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"cannot read the CORINE raster {path}: {exc}") from exc
    with ds:
        if ds.crs is None:
            raise InputError(f"the CORINE raster {path} has no CRS (CLMS publishes EPSG:3035)")
        fill = ds.nodata if ds.nodata is not None else 0
        codes = np.full(grid.shape, fill, dtype=ds.dtypes[0])
        reproject(
            rasterio.band(ds, 1), codes, src_nodata=ds.nodata, dst_nodata=fill,
            dst_transform=grid.transform, dst_crs=crs, resampling=Resampling.nearest,
        )
        classes = recode_clc(codes, ds.nodata)
    if not (classes != NO_CLASS).any():
        raise InputError(
            f"the CORINE raster {path} has no CLC class on the grid {grid.bounds} ({crs}): "
            "wrong area, or not a CLC raster (values 1..44 or 111..523)"
        )
    return classes
