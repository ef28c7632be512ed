"""Reading rasters (background deposition) and sampling them at points or onto a grid;
writing a grid tile by tile (:class:`TiledGeoTIFFWriter`)."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
import pyproj
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject

from n2kzones.errors import CRSError, InputError

if TYPE_CHECKING:
    from n2kzones.io.grid import GridSpec, Tile
    from n2kzones.params import RasterRole

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Raster:
    """A single-band raster in memory; NaN where the source had no data."""

    values: np.ndarray
    transform: Affine
    crs: CRS
    source: str
    notes: tuple[str, ...] = ()

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

    def sample_filled(
        self, x: np.ndarray, y: np.ndarray, max_distance_m: float, *, positive: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`sample`, with points on no data taking the nearest cell that has data.

        A point whose cell has no data (NaN; with ``positive`` also a value <= 0) or lies
        outside the raster takes the value of the nearest cell with data whose centre is
        within ``max_distance_m`` (m) of it: the edge of a coarse grid along a coast or a
        border. Points farther from data keep NaN.

        Parameters
        ----------
        x, y
            Coordinates in the raster's CRS (m).
        max_distance_m
            Largest distance (m) from the point to the centre of the cell it takes.
        positive
            Treat values <= 0 as no data as well.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            The values (NaN where no cell with data is near enough) and a boolean mask of
            the points that took a neighbouring cell's value.
        """
        values = self.sample(x, y)
        bad = ~np.isfinite(values) | ((values <= 0) if positive else False)
        filled = np.zeros(len(values), bool)
        if not bad.any() or max_distance_m <= 0:
            values[bad] = np.nan
            return values, filled
        from scipy.spatial import cKDTree

        grid = self.values
        good = np.isfinite(grid) & ((grid > 0) if positive else True)
        rows, cols = np.nonzero(good)
        if len(rows) == 0:
            values[bad] = np.nan
            return values, filled
        cx, cy = self.transform * (cols + 0.5, rows + 0.5)
        dist, k = cKDTree(np.column_stack([cx, cy])).query(
            np.column_stack([np.asarray(x, float)[bad], np.asarray(y, float)[bad]]),
            distance_upper_bound=max_distance_m,
        )
        near = np.isfinite(dist)
        idx = np.flatnonzero(bad)
        values[bad] = np.nan
        values[idx[near]] = grid[rows[k[near]], cols[k[near]]]
        filled[idx[near]] = True
        return values, filled

    def onto(
        self,
        transform: Affine,
        shape: tuple[int, int],
        crs: str,
        *,
        resampling: Resampling = Resampling.bilinear,
    ) -> np.ndarray:
        """Resample onto another grid (bilinear; ``Resampling.nearest`` keeps class codes whole);
        NaN where there is no data."""
        dst = np.full(shape, np.nan, dtype="float64")
        reproject(
            self.values.astype("float64"), dst,
            src_transform=self.transform, src_crs=self.crs, src_nodata=np.nan,
            dst_transform=transform, dst_crs=CRS.from_user_input(crs), dst_nodata=np.nan,
            resampling=resampling,
        )
        return dst


def read_raster(
    path: str | Path,
    *,
    crs: str,
    assume_crs: str | None = None,
    role: RasterRole | None = None,
    role_name: str | None = None,
    roles: Mapping[str, RasterRole] | None = None,
    margin_deg: float | None = None,
    setting: str = "inputs.background_deposition",
) -> Raster:
    """Read band 1 of a raster, in (or reprojected to) the working CRS, checked for its role.

    Parameters
    ----------
    role, role_name, roles
        What the raster must hold (``[raster_roles.<name>]`` in the parameters): cells
        holding a sentinel (-9999, -3.4e38, 0 where impossible) are taken as no data even
        without a nodata tag (counted, logged); values outside the role's plausible range
        are refused, naming the roles (``roles``) whose range they fit: the likely mix-up.
        A role of class codes (``whole_numbers``) also refuses fractions, and is reprojected
        by nearest neighbour (bilinear elsewhere).
    margin_deg
        Refuse a raster whose bounds lie outside the area of use of its CRS by more.
    setting
        The config key naming this raster, for messages.

    Raises
    ------
    InputError
        Missing or unreadable file; values implausible for the role.
    CRSError
        No CRS in the file and none assumed; bounds outside the CRS's area of use.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist; check {setting}.path")
    try:
        with rasterio.open(path) as src:
            values = src.read(1, masked=True).astype("float64").filled(np.nan)
            transform, src_crs, tagged = src.transform, src.crs, src.nodata
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{path}: cannot be read as a raster ({exc})") from exc
    if src_crs is None:
        if assume_crs is None:
            raise CRSError(f"{path}: raster has no CRS; set assume_crs for it in the config (e.g. EPSG:28992)")
        src_crs = CRS.from_user_input(assume_crs)
    notes: list[str] = []
    if role is not None:
        values, notes = _sniff_nodata(values, role, tagged, path, role_name or "raster")
    if margin_deg is not None:
        from n2kzones.io.validate import check_area_of_use

        h, w = values.shape
        bounds = rasterio.transform.array_bounds(h, w, transform)
        check_area_of_use(
            (bounds[0], bounds[1], bounds[2], bounds[3]), pyproj.CRS.from_user_input(src_crs.to_wkt()),
            f"{path} ({setting})", margin_deg,
        )
    raster = Raster(values, transform, src_crs, str(path), tuple(notes))
    if not pyproj.CRS.from_user_input(src_crs.to_wkt()).equals(pyproj.CRS.from_user_input(crs)):
        log.info("%s: reprojecting raster from %s to %s", path.name, src_crs, crs)
        from rasterio.warp import calculate_default_transform

        height, width = values.shape
        bounds = rasterio.transform.array_bounds(height, width, transform)
        dst_transform, w, h = calculate_default_transform(src_crs, crs, width, height, *bounds)
        how = Resampling.nearest if role is not None and role.whole_numbers else Resampling.bilinear
        raster = Raster(
            raster.onto(dst_transform, (h, w), crs, resampling=how), dst_transform,
            CRS.from_user_input(crs), str(path), tuple(notes),
        )
        if margin_deg is not None:
            from n2kzones.io.validate import check_area_of_use

            b = rasterio.transform.array_bounds(h, w, dst_transform)
            check_area_of_use((b[0], b[1], b[2], b[3]), pyproj.CRS.from_user_input(crs), f"{path} ({setting}, reprojected)", margin_deg, working=True)
    finite = np.isfinite(raster.values)
    if not finite.any():
        raise InputError(f"{path}: raster has no data values")
    if role is not None:
        _check_role_range(raster.values[finite], role, role_name or "raster", roles or {}, path, setting)
    log.info(
        "background %s: %d x %d cells, %.0f..%.0f (mean %.0f)",
        path.name, *raster.values.shape, np.nanmin(raster.values), np.nanmax(raster.values), np.nanmean(raster.values),
    )
    return raster


def _sniff_nodata(values: np.ndarray, role: RasterRole, tagged: float | None, path: Path, name: str) -> tuple[np.ndarray, list[str]]:
    """Cells holding a no-data sentinel (tagged or not) -> NaN; counted in the notes."""
    notes: list[str] = []
    out = values
    found: dict[str, int] = {}
    with np.errstate(invalid="ignore"):
        for v in role.nodata_sentinels:
            hit = (out <= -3.0e38) if v <= -3.0e38 else (out >= 3.0e38) if v >= 3.0e38 else (out == v)
            n = int(np.count_nonzero(hit))
            if n:
                out = np.where(hit, np.nan, out)
                found[f"{v:g}"] = n
        if role.zero_is_nodata:
            hit = out == 0
            n = int(np.count_nonzero(hit))
            if n:
                out = np.where(hit, np.nan, out)
                found["0 (impossible for this role)"] = n
    if found:
        tag = f"its nodata tag is {tagged:g}" if tagged is not None else "it has no nodata tag"
        text = (
            f"{path.name}: {sum(found.values())} cells hold no-data sentinels "
            f"({', '.join(f'{k}: {n}' for k, n in found.items())}) but {tag}: taken as no data "
            f"(not as {role.description} of that value). Tag the nodata value in the file to silence this"
        )
        log.warning("%s", text)
        notes.append(text)
    return out, notes


def _not_whole(values: np.ndarray) -> np.ndarray:
    """Cells whose value is not a whole number (beyond float32 rounding)."""
    return np.abs(values - np.rint(values)) > 1e-6 * np.maximum(1.0, np.abs(values))


def _range(role: RasterRole) -> str:
    """A role's plausible values as text: ``1..9, whole numbers``."""
    whole = ", whole numbers" if role.whole_numbers else ""
    return f"{role.plausible_min:g}..{role.plausible_max:g}{whole}"


def _check_role_range(values: np.ndarray, role: RasterRole, name: str, roles: Mapping[str, RasterRole], path: Path, setting: str) -> None:
    """Refuse values outside ``role``'s plausible range (or fractions for class codes),
    naming the other ``roles`` whose range (and kind) the values fit."""
    fraction = _not_whole(values) if role.whole_numbers else np.zeros(values.shape, bool)
    bad = (values < role.plausible_min) | (values > role.plausible_max) | fraction
    if not bad.any():
        return
    lo, hi = float(values.min()), float(values.max())
    p1, p50, p99 = (float(v) for v in np.percentile(values, [1, 50, 99]))
    whole = not _not_whole(values).any()
    fits = [  # the narrowest range first: the likeliest mix-up
        f"{r.description} in {r.unit} ({_range(r)})"
        for k, r in sorted(roles.items(), key=lambda kr: kr[1].plausible_max - kr[1].plausible_min)
        if k != name and r.plausible_min <= p1 and p99 <= r.plausible_max
        and (whole or not r.whole_numbers)
    ]
    hint = (
        f" Its values fit {' or '.join(fits)}: is this the wrong grid, or in another unit?"
        if fits else " Check the grid's unit and that it is the right grid."
    )
    n_bad, n_fraction = int(np.count_nonzero(bad)), int(np.count_nonzero(fraction))
    fractions = f" ({n_fraction} are not whole numbers)" if n_fraction else ""
    raise InputError(
        f"{path} ({setting}) should hold {role.description} in {role.unit} "
        f"(plausible {_range(role)}), but {n_bad} of {values.size} cells lie outside that"
        f"{fractions} (values {lo:.4g}..{hi:.4g}, median {p50:.4g}).{hint} "
        f"If these values are real, widen [parameters.raster_roles.{name}]"
    )


#: GDAL block cache while a :class:`TiledGeoTIFFWriter` writes or converts, MiB.
DEFAULT_WRITER_CACHE_MIB = 64


class TiledGeoTIFFWriter:
    """Assemble a grid's GeoTIFF from tiles without holding the whole grid in memory.

    A context manager. Tiles (:meth:`GridSpec.tiles <n2kzones.io.grid.GridSpec.tiles>`,
    any tiling of the same grid) are written in any order into a tiled float32 GeoTIFF
    (deflate, floating-point predictor) in a temporary file ``.<name>.XXXX.tmp`` next to
    ``path``. On a clean exit the writer checks that every cell was written, optionally
    converts the file to a Cloud-Optimized GeoTIFF (GDAL's COG driver, with overviews), and
    moves it onto ``path`` with :func:`os.replace`. On an exception, or when cells are
    missing, the temporary files are removed and ``path`` is left as it was (an existing
    file there is only replaced by a complete new one).

    Memory stays of the order of one tile plus a bounded GDAL block cache
    (``cache_mib``, applied with :class:`rasterio.Env` only while the writer calls GDAL);
    the COG conversion reads the temporary file block by block.

    Parameters
    ----------
    path
        Output file; its folder is created if needed. An existing file is replaced.
    grid
        The full grid (CRS, transform and shape of the output).
    bands
        Number of bands, >= 1.
    nodata
        No-data value; NaN cells are written as this. None: no no-data value, NaN stays NaN.
    cog
        Convert to a Cloud-Optimized GeoTIFF on exit.
    block
        Side of the GeoTIFF blocks (and COG tiles) in cells: a multiple of 16. Tiles whose
        sides are multiples of ``block`` write whole blocks (fastest, smallest file).
    cache_mib
        GDAL block-cache limit in MiB while writing and converting.
    num_threads
        Threads GDAL uses to compress blocks (GDAL's ``NUM_THREADS``: a number or
        ``"ALL_CPUS"``); None: GDAL's default (one, unless ``GDAL_NUM_THREADS`` is set).
        ``"ALL_CPUS"`` writes about 1.7x faster on 2 cores, at some more memory.
    descriptions
        One description per band (GDAL band description: what QGIS shows as the band name),
        or None.
    units
        One unit per band (GDAL unit type, e.g. ``"mol N/ha/yr"``), or None.
    tags
        Dataset metadata (GDAL default domain), or None.

    Examples
    --------
    >>> with TiledGeoTIFFWriter(path, grid) as writer:  # doctest: +SKIP
    ...     for tile in grid.tiles(1024):
    ...         writer.write(tile, compute(tile.grid))

    Raises
    ------
    InputError
        Bad arguments, a tile that does not belong to ``grid``, an array of the wrong
        shape, or (on exit) cells that were never written.
    """

    def __init__(
        self,
        path: str | Path,
        grid: GridSpec,
        bands: int = 1,
        nodata: float | None = -9999.0,
        cog: bool = True,
        block: int = 256,
        *,
        cache_mib: float = DEFAULT_WRITER_CACHE_MIB,
        num_threads: int | str | None = None,
        descriptions: Sequence[str] | None = None,
        units: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        for label, given in (("descriptions", descriptions), ("units", units)):
            if given is not None and len(given) != bands:
                raise InputError(
                    f"{label} must give one text per band ({bands}), got {list(given)!r}"
                )
        self.descriptions = None if descriptions is None else tuple(str(d) for d in descriptions)
        self.units = None if units is None else tuple(str(u) for u in units)
        self.tags = dict(tags or {})
        if isinstance(bands, bool) or not isinstance(bands, int | np.integer) or bands < 1:
            raise InputError(f"bands must be an integer >= 1, got {bands!r}")
        if (
            isinstance(block, bool)
            or not isinstance(block, int | np.integer)
            or block < 16
            or block % 16
        ):
            raise InputError(f"block must be a multiple of 16 cells (e.g. 256), got {block!r}")
        if nodata is not None and not isinstance(nodata, int | float | np.floating):
            raise InputError(f"nodata must be a number or None, got {nodata!r}")
        if not (isinstance(cache_mib, int | float) and math.isfinite(cache_mib) and cache_mib > 0):
            raise InputError(f"cache_mib must be a number > 0, got {cache_mib!r}")
        self.path = Path(path)
        self.grid = grid
        self.bands = int(bands)
        self.nodata = None if nodata is None else float(nodata)
        self.cog = bool(cog)
        self.block = int(block)
        self._cache_bytes = max(1, int(cache_mib * 2**20))
        if num_threads is not None and not (
            num_threads == "ALL_CPUS"
            or (type(num_threads) is int and num_threads >= 1)
        ):
            raise InputError(
                f'num_threads must be an integer >= 1, "ALL_CPUS" or None, got {num_threads!r}'
            )
        self._threads = None if num_threads is None else str(num_threads)
        self._tmp: Path | None = None
        self._dst: rasterio.io.DatasetWriter | None = None
        self._windows: set[tuple[int, int, int, int]] = set()  # (row0, col0, n_rows, n_cols)
        self._lock = threading.Lock()

    # -- context manager ---------------------------------------------------------------
    def _env(self) -> rasterio.Env:
        return rasterio.Env(GDAL_CACHEMAX=self._cache_bytes)

    def profile(self) -> dict:
        """Rasterio creation profile of the temporary GeoTIFF.

        The grid's :meth:`~n2kzones.io.grid.GridSpec.geotiff_profile` (as
        :meth:`~n2kzones.io.grid.GridSpec.write_geotiff` uses), always tiled in
        ``block`` x ``block`` blocks, BigTIFF when the file might pass 4 GB.
        """
        profile = self.grid.geotiff_profile(count=self.bands, nodata=self.nodata)
        profile.update(
            tiled=True, blockxsize=self.block, blockysize=self.block, bigtiff="IF_SAFER"
        )
        if self._threads is not None:
            profile["num_threads"] = self._threads
        return profile

    def __enter__(self) -> TiledGeoTIFFWriter:
        if self._dst is not None or self._tmp is not None:
            raise InputError("a TiledGeoTIFFWriter can only be entered once")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self._mktemp(".tmp")
        try:
            with self._env():
                self._dst = rasterio.open(self._tmp, "w", **self.profile())
                if self.descriptions is not None:
                    self._dst.descriptions = self.descriptions
                if self.units is not None:
                    self._dst.units = self.units
                if self.tags:
                    self._dst.update_tags(**self.tags)
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._cleanup()
            return
        try:
            missing = self.missing_cells()
            if missing:
                raise InputError(
                    f"{self.path}: {missing:,} of {self.grid.n_cells:,} cells were never written "
                    f"({len(self._windows)} tile(s) written); nothing was written to "
                    f"{self.path.name}. Write every tile of the grid before leaving the "
                    "with-block"
                )
            assert self._dst is not None and self._tmp is not None
            with self._env():
                self._dst.close()
                self._dst = None
                if self.cog:
                    final = self._mktemp(".tmp")
                    try:
                        rasterio.shutil.copy(
                            self._tmp, final, driver="COG", **self._cog_options()
                        )
                        os.replace(final, self.path)
                    except BaseException:
                        _unlink(final, Path(f"{final}.ovr.tmp"))
                        raise
                else:
                    os.replace(self._tmp, self.path)
        finally:
            self._cleanup()
        log.info(
            "wrote %s (%d band(s), %d x %d cells%s)",
            self.path, self.bands, self.grid.n_rows, self.grid.n_cols, ", COG" if self.cog else "",
        )

    # -- writing -----------------------------------------------------------------------
    def write(self, tile: Tile, array: np.ndarray) -> None:
        """Write one tile's values.

        Parameters
        ----------
        tile
            A tile of this writer's grid (same cell size, on the same cell lattice).
        array
            Values of the tile, shape ``tile.grid.shape`` (one band) or
            ``(bands, n_rows, n_cols)``; cast to float32, NaN written as ``nodata``.
            Writing a tile again overwrites its cells.

        Raises
        ------
        InputError
            Outside the with-block, a tile outside the grid or off its lattice, or an
            array of the wrong shape.
        """
        from n2kzones.io.grid import Tile

        if not isinstance(tile, Tile):
            raise InputError(
                f"tile must be a Tile (from GridSpec.tiles), got {type(tile).__name__}"
            )
        self._check_tile(tile)
        arr = np.asarray(array)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape != (self.bands, *tile.grid.shape):
            raise InputError(
                f"tile {tile.index}: array shape {np.shape(array)} does not match the tile "
                f"({self.bands} band(s) x {tile.grid.n_rows} rows x {tile.grid.n_cols} cols)"
            )
        data = arr.astype(np.float32)  # a copy: never modify the caller's array
        if self.nodata is not None:
            np.copyto(data, np.float32(self.nodata), where=np.isnan(data))
        with self._lock:
            if self._dst is None:
                raise InputError(
                    "TiledGeoTIFFWriter.write() called outside its with-block; use "
                    "`with TiledGeoTIFFWriter(...) as writer: writer.write(tile, array)`"
                )
            with self._env():
                self._dst.write(data, window=tile.window())
            self._windows.add((tile.row0, tile.col0, tile.grid.n_rows, tile.grid.n_cols))

    def missing_cells(self) -> int:
        """Number of grid cells not covered by any tile written so far."""
        return _uncovered_cells(self._windows, self.grid.n_rows, self.grid.n_cols)

    # -- helpers -----------------------------------------------------------------------
    def _check_tile(self, tile: Tile) -> None:
        g, t = self.grid, tile.grid
        tol = 1e-6 * max(1.0, g.cell_m)
        inside = (
            0 <= tile.row0
            and 0 <= tile.col0
            and tile.row0 + t.n_rows <= g.n_rows
            and tile.col0 + t.n_cols <= g.n_cols
        )
        aligned = (
            abs(t.cell_m - g.cell_m) <= 1e-9 * g.cell_m
            and abs(t.x_min - (g.x_min + tile.col0 * g.cell_m)) <= tol
            and abs(t.y_max - (g.y_max - tile.row0 * g.cell_m)) <= tol
        )
        if not (inside and aligned):
            raise InputError(
                f"tile {tile.index} (rows {tile.row0}..{tile.row0 + t.n_rows - 1}, cols "
                f"{tile.col0}..{tile.col0 + t.n_cols - 1}, {t}) is not a tile of the grid "
                f"{g}; make the tiles with grid.tiles(...) of the writer's grid"
            )

    def _cog_options(self) -> dict[str, str]:
        # GDAL COG driver creation options (GDAL >= 3.1); PREDICTOR=YES is the
        # floating-point predictor (3) for float32. Overviews: AUTO halves until the
        # smallest level fits in one block; AVERAGE keeps mean deposition, ignoring nodata.
        options = {
            "BLOCKSIZE": str(self.block),
            "COMPRESS": "DEFLATE",
            "PREDICTOR": "YES",
            "OVERVIEWS": "AUTO",
            "OVERVIEW_RESAMPLING": "AVERAGE",
            "BIGTIFF": "IF_SAFER",
        }
        if self._threads is not None:
            options["NUM_THREADS"] = self._threads
        return options

    def _mktemp(self, suffix: str) -> Path:
        """A fresh temporary name next to ``path``; the file itself is left to GDAL to create
        (so it gets the usual permissions, not :func:`tempfile.mkstemp`'s 0600)."""
        fd, name = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=suffix, dir=self.path.parent
        )
        os.close(fd)
        os.unlink(name)
        return Path(name)

    def _cleanup(self) -> None:
        """Close the dataset (if open) and remove the temporary file; never raises."""
        if self._dst is not None:
            with contextlib.suppress(Exception), self._env():
                self._dst.close()
            self._dst = None
        if self._tmp is not None:
            _unlink(self._tmp, Path(f"{self._tmp}.aux.xml"))


def _unlink(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _uncovered_cells(
    windows: set[tuple[int, int, int, int]] | list[tuple[int, int, int, int]],
    n_rows: int,
    n_cols: int,
) -> int:
    """Cells of an ``n_rows x n_cols`` grid outside every ``(row0, col0, h, w)`` window.

    Exact for any windows (overlapping, any sizes). The grid is cut only at the windows'
    edges, so the work array has one boolean per pair of row/column intervals: about
    the number of tiles for one tiling, and never more than the grid's cell count.
    """
    if not windows:
        return n_rows * n_cols
    wins = np.asarray(sorted(windows), dtype=np.int64).reshape(-1, 4)
    r_edges = np.unique(np.concatenate([[0, n_rows], wins[:, 0], wins[:, 0] + wins[:, 2]]))
    c_edges = np.unique(np.concatenate([[0, n_cols], wins[:, 1], wins[:, 1] + wins[:, 3]]))
    covered = np.zeros((len(r_edges) - 1, len(c_edges) - 1), dtype=bool)
    r0 = np.searchsorted(r_edges, wins[:, 0])
    r1 = np.searchsorted(r_edges, wins[:, 0] + wins[:, 2])
    c0 = np.searchsorted(c_edges, wins[:, 1])
    c1 = np.searchsorted(c_edges, wins[:, 1] + wins[:, 3])
    for a, b, c, d in zip(r0, r1, c0, c1, strict=True):
        covered[a:b, c:d] = True
    areas = np.outer(np.diff(r_edges), np.diff(c_edges))
    return int(areas[~covered].sum())
