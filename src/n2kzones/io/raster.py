"""Reading rasters (background deposition) and sampling them at points or onto a grid."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject

from n2kzones.errors import CRSError, InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Raster:
    """A single-band raster in memory; NaN where the source had no data."""

    values: np.ndarray
    transform: Affine
    crs: CRS
    source: str

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Value of the cell containing each point (NaN outside the raster or on no-data)."""
        inv = ~self.transform
        x, y = np.asarray(x, float), np.asarray(y, float)
        col = np.floor(inv.a * x + inv.b * y + inv.c).astype(np.int64)
        row = np.floor(inv.d * x + inv.e * y + inv.f).astype(np.int64)
        n_rows, n_cols = self.values.shape
        ok = (row >= 0) & (row < n_rows) & (col >= 0) & (col < n_cols)
        out = np.full(len(col), np.nan)
        out[ok] = self.values[row[ok], col[ok]]
        return out

    def onto(self, transform: Affine, shape: tuple[int, int], crs: str) -> np.ndarray:
        """Resample (bilinear) onto another grid; NaN where there is no data."""
        dst = np.full(shape, np.nan, dtype="float64")
        reproject(
            self.values.astype("float64"), dst,
            src_transform=self.transform, src_crs=self.crs, src_nodata=np.nan,
            dst_transform=transform, dst_crs=CRS.from_user_input(crs), dst_nodata=np.nan,
            resampling=Resampling.bilinear,
        )
        return dst


def read_raster(path: str | Path, *, crs: str, assume_crs: str | None = None) -> Raster:
    """Read band 1 of a raster, in (or reprojected to) the working CRS.

    Raises
    ------
    InputError
        Missing or unreadable file.
    CRSError
        No CRS in the file and none assumed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist; check inputs.background_deposition.path")
    try:
        with rasterio.open(path) as src:
            values = src.read(1, masked=True).astype("float64").filled(np.nan)
            transform, src_crs = src.transform, src.crs
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{path}: cannot be read as a raster ({exc})") from exc
    if src_crs is None:
        if assume_crs is None:
            raise CRSError(f"{path}: raster has no CRS; set assume_crs for it in the config (e.g. EPSG:28992)")
        src_crs = CRS.from_user_input(assume_crs)
    raster = Raster(values, transform, src_crs, str(path))
    if not pyproj.CRS.from_user_input(src_crs.to_wkt()).equals(pyproj.CRS.from_user_input(crs)):
        log.info("%s: reprojecting raster from %s to %s", path.name, src_crs, crs)
        from rasterio.warp import calculate_default_transform

        height, width = values.shape
        bounds = rasterio.transform.array_bounds(height, width, transform)
        dst_transform, w, h = calculate_default_transform(src_crs, crs, width, height, *bounds)
        raster = Raster(raster.onto(dst_transform, (h, w), crs), dst_transform, CRS.from_user_input(crs), str(path))
    finite = np.isfinite(raster.values)
    if not finite.any():
        raise InputError(f"{path}: raster has no data values")
    log.info(
        "background %s: %d x %d cells, %.0f..%.0f (mean %.0f)",
        path.name, *raster.values.shape, np.nanmin(raster.values), np.nanmax(raster.values), np.nanmean(raster.values),
    )
    return raster
