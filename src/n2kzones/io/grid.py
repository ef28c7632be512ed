"""Regular grids in RD New (EPSG:28992) for deposition maps.

Row 0 is the northern row (rasterio convention); cell ``(row, col)`` has its centre at
``x = x_min + (col + 0.5) * cell_m``, ``y = y_max - (row + 0.5) * cell_m``.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.transform import Affine
from rasterio.windows import Window

from n2kzones.errors import GridTooLargeError, InputError

logger = logging.getLogger(__name__)

#: CRS of every grid.
CRS = "EPSG:28992"
#: Default memory budget for the arrays of one deposition grid computation, GiB.
DEFAULT_MEMORY_BUDGET_GIB = 4.0
_ALIGN_TOL = 1e-6  # m


@dataclass(frozen=True)
class GridSpec:
    """A north-up grid aligned to multiples of the cell size in RD New.

    Parameters
    ----------
    x_min, y_min
        South-west corner in m (EPSG:28992); must be multiples of ``cell_m``.
    cell_m
        Cell side in m, > 0.
    n_cols, n_rows
        Number of columns (west to east) and rows (north to south), >= 1.
    """

    x_min: float
    y_min: float
    cell_m: float
    n_cols: int
    n_rows: int

    def __post_init__(self) -> None:
        if not (
            isinstance(self.cell_m, int | float) and math.isfinite(self.cell_m) and self.cell_m > 0
        ):
            raise InputError(f"cell_m must be a finite number > 0 m, got {self.cell_m!r}")
        for name in ("n_cols", "n_rows"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v < 1:
                raise InputError(
                    f"{name} must be an integer >= 1 (a grid cannot be empty), got {v!r}"
                )
            object.__setattr__(self, name, int(v))
        for name in ("x_min", "y_min"):
            v = getattr(self, name)
            if not math.isfinite(v):
                raise InputError(f"{name} must be finite, got {v!r}")
            k = v / self.cell_m
            if abs(k - round(k)) * self.cell_m > _ALIGN_TOL:
                raise InputError(
                    f"{name} = {v} m is not a multiple of the cell size {self.cell_m} m; "
                    "use GridSpec.from_bounds() to snap the grid to RD New multiples"
                )

    @classmethod
    def from_bounds(cls, bounds: tuple[float, float, float, float], cell_m: float) -> GridSpec:
        """Smallest aligned grid covering ``bounds = (x_min, y_min, x_max, y_max)`` in m.

        Edges snap outward to multiples of ``cell_m``; a degenerate extent gives one cell.
        """
        if len(bounds) != 4 or not all(math.isfinite(b) for b in bounds):
            raise InputError(
                f"bounds must be 4 finite numbers (x_min, y_min, x_max, y_max) in m, got {bounds!r}"
            )
        x0, y0, x1, y1 = (float(b) for b in bounds)
        if x1 < x0 or y1 < y0:
            raise InputError(f"bounds {bounds!r}: x_max/y_max must not be below x_min/y_min")
        if not (math.isfinite(cell_m) and cell_m > 0):
            raise InputError(f"cell_m must be a finite number > 0 m, got {cell_m!r}")
        gx0 = math.floor(x0 / cell_m) * cell_m
        gy0 = math.floor(y0 / cell_m) * cell_m
        n_cols = max(1, math.ceil(x1 / cell_m - gx0 / cell_m - 1e-9))
        n_rows = max(1, math.ceil(y1 / cell_m - gy0 / cell_m - 1e-9))
        return cls(gx0, gy0, float(cell_m), n_cols, n_rows)

    # -- geometry ---------------------------------------------------------------------
    @property
    def x_max(self) -> float:
        """East edge in m."""
        return self.x_min + self.n_cols * self.cell_m

    @property
    def y_max(self) -> float:
        """North edge in m."""
        return self.y_min + self.n_rows * self.cell_m

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_cols)``."""
        return (self.n_rows, self.n_cols)

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return self.n_rows * self.n_cols

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(x_min, y_min, x_max, y_max)`` in m."""
        return (self.x_min, self.y_min, self.x_max, self.y_max)

    @property
    def transform(self) -> Affine:
        """Rasterio affine transform (north-up)."""
        return Affine(self.cell_m, 0.0, self.x_min, 0.0, -self.cell_m, self.y_max)

    @property
    def cell_area_ha(self) -> float:
        """Area of one cell in ha."""
        return self.cell_m**2 / 1.0e4

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Centre x of each column (west to east) and y of each row (north to south), in m."""
        x = self.x_min + (np.arange(self.n_cols) + 0.5) * self.cell_m
        y = self.y_max - (np.arange(self.n_rows) + 0.5) * self.cell_m
        return x, y

    def cell_centre_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres of all cells in row-major order (row 0 = north), each shape ``(n_cells,)``."""
        x, y = self.cell_centres()
        return np.tile(x, self.n_rows), np.repeat(y, self.n_cols)

    # -- tiling -----------------------------------------------------------------------
    def tiles(self, tile_cells: int) -> list[Tile]:
        """Split the grid into square tiles of ``tile_cells`` x ``tile_cells`` cells.

        Tiles cover every cell exactly once, in row-major order (north-west tile first,
        then east, then the next row of tiles south). The last column and row of tiles are
        smaller when the grid is not a multiple of ``tile_cells``. Each tile's sub-grid has
        the same ``cell_m`` and lies on the same cell lattice as this grid.

        Parameters
        ----------
        tile_cells
            Tile side in cells, >= 1. For
            :class:`~n2kzones.io.raster.TiledGeoTIFFWriter`, a multiple of its ``block``
            (e.g. 1024 for ``block=256``) makes every tile write whole GeoTIFF blocks.

        Returns
        -------
        list of Tile

        Raises
        ------
        InputError
            If ``tile_cells`` is not an integer >= 1.
        """
        if (
            isinstance(tile_cells, bool)
            or not isinstance(tile_cells, int | np.integer)
            or tile_cells < 1
        ):
            raise InputError(f"tile_cells must be an integer >= 1, got {tile_cells!r}")
        step = int(tile_cells)
        out: list[Tile] = []
        for row0 in range(0, self.n_rows, step):
            n_rows = min(step, self.n_rows - row0)
            for col0 in range(0, self.n_cols, step):
                n_cols = min(step, self.n_cols - col0)
                sub = GridSpec(
                    x_min=self.x_min + col0 * self.cell_m,
                    y_min=self.y_max - (row0 + n_rows) * self.cell_m,
                    cell_m=self.cell_m,
                    n_cols=n_cols,
                    n_rows=n_rows,
                )
                out.append(Tile(index=len(out), row0=row0, col0=col0, grid=sub))
        return out

    # -- memory guard -----------------------------------------------------------------
    def check_memory(
        self,
        bytes_per_cell: float,
        *,
        memory_budget_gib: float = DEFAULT_MEMORY_BUDGET_GIB,
        n_cells: int | None = None,
        what: str = "deposition grid",
    ) -> None:
        """Raise :class:`GridTooLargeError` if ``n_cells * bytes_per_cell`` exceeds the budget.

        Parameters
        ----------
        bytes_per_cell
            Working memory per cell in bytes (all arrays of the computation).
        memory_budget_gib
            Budget in GiB.
        n_cells
            Cells to count (default: this grid's cells; the FFT path passes its padded size).
        what
            Name used in the message.
        """
        cells = self.n_cells if n_cells is None else int(n_cells)
        need_gib = cells * bytes_per_cell / 2.0**30
        if need_gib > memory_budget_gib:
            raise GridTooLargeError(
                f"{what}: {cells:,} cells ({self.n_cols} x {self.n_rows} at {self.cell_m:g} m) "
                f"need about {need_gib:.2f} GiB, more than the budget of "
                f"{memory_budget_gib:g} GiB; use a "
                "coarser cell (cell_m), a smaller extent, or the Dask engine (or raise "
                "memory_budget_gib if the machine has the memory)"
            )

    # -- output -----------------------------------------------------------------------
    def geotiff_profile(self, count: int = 1, nodata: float | None = None) -> dict:
        """Rasterio creation profile of this grid's GeoTIFF outputs.

        float32, deflate with the floating-point predictor (3), CRS and transform of the
        grid; tiled (GDAL's default 256 x 256 blocks) when both sides are >= 256 cells.
        Used by :meth:`write_geotiff` and :class:`~n2kzones.io.raster.TiledGeoTIFFWriter`.

        Parameters
        ----------
        count
            Number of bands.
        nodata
            No-data value, or None for none.
        """
        return {
            "driver": "GTiff",
            "width": self.n_cols,
            "height": self.n_rows,
            "count": int(count),
            "dtype": "float32",
            "crs": CRS,
            "transform": self.transform,
            "nodata": nodata,
            "compress": "deflate",
            "predictor": 3,
            "tiled": self.n_cols >= 256 and self.n_rows >= 256,
        }

    def write_geotiff(
        self,
        path: str | Path,
        array: np.ndarray,
        nodata: float | None = None,
        *,
        overwrite: bool = False,
    ) -> Path:
        """Write ``array`` (``(n_rows, n_cols)`` or ``(bands, n_rows, n_cols)``) as float32 GeoTIFF.

        Written to a temporary file in the same folder, then moved into place with
        :func:`os.replace`, so an interrupted run never leaves a half-written file. NaN cells
        are written as ``nodata`` when it is given.

        Raises
        ------
        InputError
            If the array shape does not match the grid.
        FileExistsError
            If ``path`` exists and ``overwrite`` is False.
        """
        import rasterio

        path = Path(path)
        arr = np.asarray(array)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1:] != self.shape:
            raise InputError(
                f"array shape {np.shape(array)} does not match the grid shape "
                f"{self.shape} (rows, cols)"
            )
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        data = arr.astype(np.float32)
        if nodata is not None:
            data = np.where(np.isnan(data), np.float32(nodata), data)
        profile = self.geotiff_profile(count=data.shape[0], nodata=nodata)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        logger.info(
            "wrote %s (%d band(s), %d x %d cells)", path, data.shape[0], self.n_rows, self.n_cols
        )
        return path


@dataclass(frozen=True)
class Tile:
    """One tile of a :class:`GridSpec`, as made by :meth:`GridSpec.tiles`.

    Parameters
    ----------
    index
        Position in the row-major list of tiles, from 0.
    row0, col0
        Parent-grid row and column of the tile's north-west cell.
    grid
        The tile's own grid: same ``cell_m`` and cell lattice as the parent; its cell
        ``(r, c)`` is parent cell ``(row0 + r, col0 + c)``.
    """

    index: int
    row0: int
    col0: int
    grid: GridSpec

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_cols)`` of the tile."""
        return self.grid.shape

    def window(self) -> Window:
        """Rasterio window of the tile in the parent grid.

        Returns
        -------
        rasterio.windows.Window
            ``Window(col0, row0, n_cols, n_rows)``.
        """
        return Window(self.col0, self.row0, self.grid.n_cols, self.grid.n_rows)
