"""Synthetic EU-scale data set, streamed to partitioned GeoParquet (tests and benchmarks).

:func:`generate_synthetic` writes any number of parcels (up to hundreds of millions) with
memory bounded by one partition: tiles are generated, numbered and written one partition at
a time and never held all at once.

Design
------
Domain and tiles
    The domain is a square-ish block of square tiles (``tile_size_m``, default 20 km). The
    number of tiles follows from ``n_parcels`` and the parcel density: a tile holds
    ``nx * ny`` fields of about ``1e6 / parcels_per_km2`` m2 (250 m x 100 m at the default
    40 parcels/km2), so ``n_tiles = ceil(n_parcels / (nx * ny))``. The last tile is filled
    only partly (from the bottom row up), so the data set has exactly ``n_parcels`` parcels.
    Tiles lie on a ``cols x rows`` grid placed near the centre of the CRS's area of use and
    are visited along a generalised Hilbert curve (Cervený's "gilbert2d", which covers any
    rectangle with unit steps), so consecutive tiles - and hence partitions - are spatially
    compact.
Per tile
    Everything in a tile is drawn from ``numpy.random.default_rng([seed, tile_index])``,
    vectorised (no Python loop per parcel):

    * parcels: a grid of field nodes whose interior nodes are jittered by up to
      ``JITTER_SHARE`` of the node spacing in x and y; every field is the quad of four
      neighbouring nodes, so fields share their vertices and tile the plane without gaps or
      overlaps. Nodes on a tile edge are not jittered, and the node spacing is the same in
      every tile, so tiles also meet without gaps or T-junctions. A displacement below a
      quarter of the spacing keeps every quad simple (valid).
    * areas (Natura 2000-like sites): Poisson(``AREAS_PER_TILE``) star-shaped blobs (radius
      ``AREA_RADIUS_RANGE_M``, a few low Fourier modes on the radius) lying wholly inside the
      tile; tile 0 always gets at least one, so the areas layer is never empty. Most
      parcels whose centre falls inside an area become "Natuurterrein".
    * habitats: 1 to 3 per area, each the part of the area inside a smaller blob that earlier
      habitats of the area do not already cover (so they do not overlap), with a code from
      the KDW table of the parameters.
    * farms: about one per ``PARCELS_PER_FARM`` parcels, at a random point inside an
      agricultural "home" parcel outside the areas; types and animal counts as in
      :mod:`n2kzones.datasets.sample`, emission = counts x emission factors. Agricultural parcels
      within ``FARM_REACH_M`` of a farm are linked to the nearest one (``farm_id``).

Writing
    Whole tiles are gathered into partitions of about ``partition_rows`` parcels (a tile larger
    than that is split into equal runs of rows); partition ``k`` goes to
    ``parcels/part-{k:05d}.parquet`` and its tiles' farms to ``farms/part-{k:05d}.parquet``
    (possibly empty). Areas and habitats are few (thousands), so they are collected and
    written once at the end, as are the background deposition raster (1 km cells, a smooth
    random field of 800-2500 mol N/ha/yr) and an n2kzones config ``n2kzones.toml``.

    Parcel and farm files are GeoParquet 1.1 with a ``bbox`` covering column. Their schema and
    ``geo`` metadata come from geopandas (``GeoDataFrame.to_parquet(...,
    write_covering_bbox=True)`` on a one-row template), but the rows are written straight
    with pyarrow: the WKB of a 5-vertex polygon (93 bytes) or a point (21 bytes) is a fixed
    numpy record, so no shapely objects are built for the bulk of the data. That is what
    makes a single core write several hundred thousand parcels per second; the files are
    what geopandas itself would write (the tests compare the metadata).

Atomicity and reproducibility
    Each file is written under a hidden temporary name and renamed when complete.
    ``manifest.json`` is removed at the start (with stale partitions) and written last, with
    the counts, bounds and every file's row count: its presence means the set is complete.
    The same arguments give the same rows in every file.
"""

from __future__ import annotations

import io
import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyproj
import rasterio
import shapely
from numpy.typing import NDArray
from rasterio.transform import from_origin
from rasterio.windows import Window
from scipy.spatial import cKDTree
from tqdm import tqdm

from n2kzones._version import __version__
from n2kzones.datasets.farms import FARM_TYPE_P as _FARM_TYPE_P
from n2kzones.datasets.farms import FARM_TYPES
from n2kzones.datasets.farms import GENERATED_ANIMALS as _GENERATED_ANIMALS
from n2kzones.datasets.farms import HEIGHT_RANGE_M as _HEIGHT_RANGE_M
from n2kzones.datasets.farms import herds as _herds
from n2kzones.errors import InputError
from n2kzones.io.writers import atomic_path as _atomic
from n2kzones.params import Parameters, load_parameters

logger = logging.getLogger(__name__)

__all__ = ["SyntheticSummary", "generate_synthetic", "gilbert_order", "DEFAULT_SEED"]

DEFAULT_SEED = 20260626
DEFAULT_CRS = "EPSG:3035"
TILE_SIZE_M = 20_000.0
FIELD_ASPECT = 2.5
"""Field length / width (250 m x 100 m at 40 parcels/km2)."""
JITTER_SHARE = 0.2
"""Largest node displacement as a share of the node spacing (below 0.25 keeps quads simple)."""
CATEGORIES = ("Grasland", "Bouwland", "Natuurterrein", "Overige")
CATEGORY_WEIGHTS = (0.55, 0.35, 0.05, 0.05)
_CAT_GRASS, _CAT_ARABLE, _CAT_NATURE = 0, 1, 2
NATURE_IN_AREA_SHARE = 0.7
"""Share of the parcels inside an area that are "Natuurterrein" (the rest "Grasland")."""
AREAS_PER_TILE = 1.2
AREA_RADIUS_RANGE_M = (500.0, 4_000.0)
AREA_MAX_RADIUS_SHARE = 0.35
"""Largest area radius as a share of the tile size (areas stay inside their tile)."""
AREA_VERTICES = 32
BLOB_WOBBLE = (0.18, 0.1, 0.06)
"""Amplitudes of the radius modes 1-3 of a blob (sum < 1 keeps the radius positive)."""
NITROGEN_SENSITIVE_SHARE = 0.85
HABITATS_PER_AREA = (1, 3)
PARCELS_PER_FARM = 12.0
FARM_REACH_M = 1_500.0
UNLINKED_SHARE = 0.1
"""Share of agricultural parcels in reach of a farm that still get no farm_id."""
DEPOSITION_CELL_M = 1_000.0
DEPOSITION_RANGE_MOL_HA = (800.0, 2_500.0)
DEPOSITION_MODES = 12
DEPOSITION_WAVELENGTH_RANGE_M = (40_000.0, 400_000.0)
ROW_GROUP_ROWS = 65_536
LOG_EVERY_S = 30.0
MIN_PARTITION_ROWS = 1_000
MAX_PARTITION_ROWS = 10_000_000
PARCELS_PER_KM2_RANGE = (1.0, 1_000.0)
TILE_SIZE_RANGE_M = (1_000.0, 100_000.0)
ORIGIN_SNAP_M = 10_000.0
_RASTER_STREAM = (0xFFFF_FFFF, 0x5EED)
"""Seed-sequence words of the raster's random stream (never equal to a tile's [seed, index])."""

PARCELS_DIR = "parcels"
FARMS_DIR = "farms"
AREAS_FILE = "areas.parquet"
HABITATS_FILE = "habitats.parquet"
DEPOSITION_FILE = "background_deposition.tif"
CONFIG_FILE = "n2kzones.toml"
MANIFEST_FILE = "manifest.json"

# WKB records (little endian): a polygon with one 5-point ring, and a point.
_POLYGON_WKB = np.dtype(
    [("order", "u1"), ("type", "<u4"), ("rings", "<u4"), ("points", "<u4"), ("xy", "<f8", (10,))]
)
_POINT_WKB = np.dtype([("order", "u1"), ("type", "<u4"), ("xy", "<f8", (2,))])


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticSummary:
    """What :func:`generate_synthetic` wrote.

    Attributes
    ----------
    out_dir
        Folder holding everything.
    parcels_dir, farms_dir
        Partitioned GeoParquet folders (``part-00000.parquet``, ...).
    areas_path, habitats_path, deposition_path, config_path, manifest_path
        The single files: GeoParquet, GeoTIFF (mol N/ha/yr), TOML config, JSON manifest.
    seed, crs
        The arguments used.
    n_tiles, n_partitions, n_parcels, n_farms, n_areas, n_habitats
        Counts.
    bounds_m
        ``(xmin, ymin, xmax, ymax)`` of the tiles, in metres of ``crs``.
    elapsed_s
        Wall time of the whole run, in seconds.
    """

    out_dir: Path
    parcels_dir: Path
    farms_dir: Path
    areas_path: Path
    habitats_path: Path
    deposition_path: Path
    config_path: Path
    manifest_path: Path
    seed: int
    crs: str
    n_tiles: int
    n_partitions: int
    n_parcels: int
    n_farms: int
    n_areas: int
    n_habitats: int
    bounds_m: tuple[float, float, float, float]
    elapsed_s: float

    @property
    def parcels_per_s(self) -> float:
        """Parcels generated and written per second of wall time (whole run)."""
        return self.n_parcels / self.elapsed_s if self.elapsed_s > 0 else float("inf")

    def __str__(self) -> str:
        xmin, ymin, xmax, ymax = self.bounds_m
        return (
            f"synthetic data set in {self.out_dir} (seed {self.seed}, {self.crs}): "
            f"{self.n_parcels:,} parcels in {self.n_partitions} partitions, "
            f"{self.n_farms:,} farms, {self.n_areas:,} areas, {self.n_habitats:,} habitats, "
            f"{self.n_tiles:,} tiles over "
            f"{(xmax - xmin) / 1000:.0f} x {(ymax - ymin) / 1000:.0f} km; "
            f"{self.elapsed_s:.1f} s ({self.parcels_per_s:,.0f} parcels/s); "
            f"config {self.config_path}"
        )


def generate_synthetic(
    out_dir: Path,
    *,
    n_parcels: int,
    seed: int = DEFAULT_SEED,
    partition_rows: int = 200_000,
    parcels_per_km2: float = 40.0,
    crs: str = DEFAULT_CRS,
    tile_size_m: float = TILE_SIZE_M,
    params: Parameters | None = None,
    progress: bool = False,
) -> SyntheticSummary:
    """Generate a synthetic data set of ``n_parcels`` parcels as partitioned GeoParquet.

    Parameters
    ----------
    out_dir
        Folder for the data set (created if needed). Files of an earlier run are replaced;
        other files are left alone.
    n_parcels
        Exact number of parcels (at least 1).
    seed
        Non-negative integer; the same seed and arguments give the same rows.
    partition_rows
        Target parcels per partition file (1,000 to 10,000,000). Partitions hold whole
        tiles; a tile with more parcels than this is split into equal runs of rows.
    parcels_per_km2
        Parcel density, 1 to 1000 per km2; sets the field size (40/km2: 250 m x 100 m).
    crs
        Projected CRS in metres for all layers (default ``EPSG:3035``, LAEA Europe).
    tile_size_m
        Side of the square tiles in m (1 to 100 km; default 20 km).
    params
        Parameters for the KDW table (habitat codes) and livestock emission factors;
        defaults to :func:`n2kzones.params.load_parameters`.
    progress
        Show a progress bar over the tiles.

    Returns
    -------
    SyntheticSummary
        Paths written, counts and the elapsed time in s.

    Raises
    ------
    InputError
        If an argument is out of range, the CRS is not projected in metres, or ``params``
        lacks an animal category the farm generator uses.

    Notes
    -----
    Files written: ``parcels/part-NNNNN.parquet`` (parcel_id, category, farm_id),
    ``farms/part-NNNNN.parquet`` (farm_id, farm_type, animal counts, emission_kg_nh3 in kg
    NH3/yr, source_height_m), ``areas.parquet`` (site_code, name, nitrogen_sensitive),
    ``habitats.parquet`` (habitat_code, site_code), ``background_deposition.tif`` (1 km
    cells, mol N/ha/yr), ``n2kzones.toml`` and, last, ``manifest.json``.
    """
    t_start = time.perf_counter()
    n_parcels = _check_int(
        "n_parcels", n_parcels, 1, None, "give the number of parcels to generate"
    )
    seed = _check_int("seed", seed, 0, 2**63 - 1, "use a non-negative integer")
    partition_rows = _check_int(
        "partition_rows",
        partition_rows,
        MIN_PARTITION_ROWS,
        MAX_PARTITION_ROWS,
        "use e.g. 200000 (a few hundred thousand parcels per file suits Dask)",
    )
    parcels_per_km2 = _check_float("parcels_per_km2", parcels_per_km2, *PARCELS_PER_KM2_RANGE)
    tile_size_m = _check_float("tile_size_m", tile_size_m, *TILE_SIZE_RANGE_M)
    crs_obj = _check_crs(crs)
    params = load_parameters() if params is None else params
    missing = [c for c in _GENERATED_ANIMALS if c not in params.livestock]
    if missing:
        raise InputError(
            f"the synthetic farms need livestock categories {missing} in the parameters; "
            "add them under [parameters.livestock.<name>]"
        )
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} exists and is not a folder; choose another --out")

    grid = _Grid.plan(n_parcels, parcels_per_km2, tile_size_m, crs_obj)
    paths = _Paths(out_dir)
    paths.prepare()
    logger.info(
        "synthetic: %d parcels in %d tiles of %.0f km (%d x %d fields of %.0f x %.0f m), "
        "%d x %d tile grid, seed %d, %s -> %s",
        n_parcels,
        grid.n_tiles,
        tile_size_m / 1000,
        grid.nx,
        grid.ny,
        grid.sx_m,
        grid.sy_m,
        grid.cols,
        grid.rows,
        seed,
        crs,
        out_dir,
    )

    habitat_codes = sorted(params.kdw.habitats)
    writer = _PartitionWriter(paths, crs_obj, params.animal_categories)
    areas = _AreaCollector()
    pending: list[_Piece] = []
    pending_rows = 0
    next_parcel_id, next_farm_no = 1, 1
    t_logged = time.perf_counter()
    with tqdm(total=grid.n_tiles, unit="tile", desc="synthetic", disable=not progress) as bar:
        for tile_ix, (col, row) in enumerate(grid.tiles):
            n_keep = min(grid.per_tile, n_parcels - next_parcel_id + 1)
            tile = _generate_tile(
                seed, tile_ix, grid.origin_of(col, row), grid, n_keep, params, habitat_codes
            )
            piece = tile.numbered(next_parcel_id, next_farm_no)
            next_parcel_id += tile.n_parcels
            next_farm_no += tile.n_farms
            areas.add(tile)
            if pending and pending_rows + piece.n_parcels > partition_rows:
                writer.write(pending)
                pending, pending_rows = [], 0
            if piece.n_parcels > partition_rows:
                for chunk in piece.split(math.ceil(piece.n_parcels / partition_rows)):
                    writer.write([chunk])
            else:
                pending.append(piece)
                pending_rows += piece.n_parcels
            bar.update(1)
            if time.perf_counter() - t_logged > LOG_EVERY_S:
                t_logged = time.perf_counter()
                logger.info(
                    "synthetic: %d/%d tiles, %d parcels, %d partitions written (%.0f parcels/s)",
                    tile_ix + 1,
                    grid.n_tiles,
                    next_parcel_id - 1,
                    len(writer.parcel_files),
                    (next_parcel_id - 1) / (t_logged - t_start),
                )
        if pending:
            writer.write(pending)
    t_parcels = time.perf_counter()

    n_areas, n_habitats = areas.write(paths, crs_obj.to_string())
    bounds = grid.bounds()
    _write_deposition(paths.deposition, seed, bounds, crs_obj)
    _write_config(paths, crs)
    summary = SyntheticSummary(
        out_dir=out_dir,
        parcels_dir=paths.parcels_dir,
        farms_dir=paths.farms_dir,
        areas_path=paths.areas,
        habitats_path=paths.habitats,
        deposition_path=paths.deposition,
        config_path=paths.config,
        manifest_path=paths.manifest,
        seed=seed,
        crs=crs,
        n_tiles=grid.n_tiles,
        n_partitions=len(writer.parcel_files),
        n_parcels=writer.n_parcels,
        n_farms=writer.n_farms,
        n_areas=n_areas,
        n_habitats=n_habitats,
        bounds_m=bounds,
        elapsed_s=time.perf_counter() - t_start,
    )
    if summary.n_parcels != n_parcels:  # pragma: no cover - a bug guard
        raise AssertionError(f"wrote {summary.n_parcels} parcels, expected {n_parcels}")
    _write_manifest(paths, summary, grid, partition_rows, parcels_per_km2, writer)
    summary = replace(summary, elapsed_s=time.perf_counter() - t_start)
    logger.info(
        "synthetic: %d parcels, %d farms in %d partitions, %d areas, %d habitats in %.1f s "
        "(parcels and farms %.1f s: %.0f parcels/s) -> %s",
        summary.n_parcels,
        summary.n_farms,
        summary.n_partitions,
        n_areas,
        n_habitats,
        summary.elapsed_s,
        t_parcels - t_start,
        n_parcels / max(t_parcels - t_start, 1e-9),
        out_dir,
    )
    return summary


def gilbert_order(width: int, height: int) -> list[tuple[int, int]]:
    """Cells ``(col, row)`` of a ``width x height`` grid along a generalised Hilbert curve.

    Every cell is visited once; consecutive cells are neighbours (one diagonal step may occur
    when both sides are odd). Grid units are cells, not metres.

    Parameters
    ----------
    width, height
        Grid size in cells (positive).

    Returns
    -------
    list of (int, int)
        ``width * height`` cells, starting at ``(0, 0)``.

    Notes
    -----
    After Jakub Cervený's "gilbert2d" (BSD-2-Clause), https://github.com/jakubcerveny/gilbert.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"grid size must be positive, got {width} x {height}")
    out: list[tuple[int, int]] = []
    if width >= height:
        _gilbert(out, 0, 0, width, 0, 0, height)
    else:
        _gilbert(out, 0, 0, 0, height, width, 0)
    return out


def _sgn(v: int) -> int:
    return (v > 0) - (v < 0)


def _gilbert(
    out: list[tuple[int, int]], x: int, y: int, ax: int, ay: int, bx: int, by: int
) -> None:
    w, h = abs(ax + ay), abs(bx + by)
    dax, day, dbx, dby = _sgn(ax), _sgn(ay), _sgn(bx), _sgn(by)
    if h == 1:
        out.extend((x + i * dax, y + i * day) for i in range(w))
        return
    if w == 1:
        out.extend((x + i * dbx, y + i * dby) for i in range(h))
        return
    ax2, ay2, bx2, by2 = ax // 2, ay // 2, bx // 2, by // 2
    w2, h2 = abs(ax2 + ay2), abs(bx2 + by2)
    if 2 * w > 3 * h:
        if w2 % 2 and w > 2:
            ax2, ay2 = ax2 + dax, ay2 + day
        _gilbert(out, x, y, ax2, ay2, bx, by)
        _gilbert(out, x + ax2, y + ay2, ax - ax2, ay - ay2, bx, by)
    else:
        if h2 % 2 and h > 2:
            bx2, by2 = bx2 + dbx, by2 + dby
        _gilbert(out, x, y, bx2, by2, ax2, ay2)
        _gilbert(out, x + bx2, y + by2, ax, ay, bx - bx2, by - by2)
        _gilbert(
            out,
            x + (ax - dax) + (bx2 - dbx),
            y + (ay - day) + (by2 - dby),
            -bx2,
            -by2,
            -(ax - ax2),
            -(ay - ay2),
        )


# ---------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------


def _check_int(name: str, value: object, lo: int, hi: int | None, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{name} must be an integer, got {value!r}; {hint}")
    if value < lo or (hi is not None and value > hi):
        rng = f"at least {lo:,}" if hi is None else f"between {lo:,} and {hi:,}"
        raise InputError(f"{name} must be {rng}, got {value:,}; {hint}")
    return int(value)


def _check_float(name: str, value: object, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise InputError(f"{name} must be between {lo:g} and {hi:g}, got {value!r}")
    return float(value)


def _check_crs(crs: str) -> pyproj.CRS:
    try:
        crs_obj = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise InputError(
            f"unknown CRS {crs!r} ({exc}); give a projected CRS in metres such as "
            "EPSG:3035 (LAEA Europe) or EPSG:28992 (RD New)"
        ) from None
    units = {ax.unit_name for ax in crs_obj.axis_info}
    if not crs_obj.is_projected or units - {"metre"}:
        raise InputError(
            f"CRS {crs!r} is not a projected CRS in metres (units: {sorted(units) or 'none'}); "
            "the parcels are laid out in metres: use e.g. EPSG:3035 (LAEA Europe) or "
            "EPSG:28992 (RD New)"
        )
    return crs_obj


# ---------------------------------------------------------------------------------------
# Domain
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """Tile layout: field grid per tile, tile grid, and tile order."""

    tile_m: float
    nx: int  # fields per tile along x
    ny: int  # fields per tile along y
    n_tiles: int
    cols: int
    rows: int
    origin_m: tuple[float, float]
    tiles: tuple[tuple[int, int], ...]  # (col, row) in curve order

    @property
    def per_tile(self) -> int:
        return self.nx * self.ny

    @property
    def sx_m(self) -> float:
        return self.tile_m / self.nx

    @property
    def sy_m(self) -> float:
        return self.tile_m / self.ny

    @classmethod
    def plan(cls, n_parcels: int, parcels_per_km2: float, tile_m: float, crs: pyproj.CRS) -> _Grid:
        field_m2 = 1e6 / parcels_per_km2
        width_m = math.sqrt(field_m2 / FIELD_ASPECT)
        nx = max(1, round(tile_m / (FIELD_ASPECT * width_m)))
        ny = max(1, round(tile_m / width_m))
        n_tiles = math.ceil(n_parcels / (nx * ny))
        cols = math.ceil(math.sqrt(n_tiles))
        rows = math.ceil(n_tiles / cols)
        tiles = tuple(gilbert_order(cols, rows)[:n_tiles])
        origin = _domain_origin(crs, cols * tile_m, rows * tile_m)
        return cls(tile_m, nx, ny, n_tiles, cols, rows, origin, tiles)

    def origin_of(self, col: int, row: int) -> tuple[float, float]:
        return (self.origin_m[0] + col * self.tile_m, self.origin_m[1] + row * self.tile_m)

    def bounds(self) -> tuple[float, float, float, float]:
        c = np.array(self.tiles)
        x0, y0 = self.origin_m
        return (
            x0 + float(c[:, 0].min()) * self.tile_m,
            y0 + float(c[:, 1].min()) * self.tile_m,
            x0 + float(c[:, 0].max() + 1) * self.tile_m,
            y0 + float(c[:, 1].max() + 1) * self.tile_m,
        )


def _domain_origin(crs: pyproj.CRS, width_m: float, height_m: float) -> tuple[float, float]:
    """Lower-left corner of a domain centred on the CRS's area of use (snapped to 10 km)."""
    aou = crs.area_of_use
    if aou is None or crs.geodetic_crs is None:
        return (0.0, 0.0)
    lon = (aou.west + aou.east) / 2 if aou.west <= aou.east else (aou.west + aou.east + 360) / 2
    lat = (aou.south + aou.north) / 2
    # from the CRS's own datum: a plain conversion, no search for a datum transformation
    to_crs = pyproj.Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True)
    x, y = to_crs.transform(lon, lat)
    if not (math.isfinite(x) and math.isfinite(y)):
        return (0.0, 0.0)
    return (
        math.floor((x - width_m / 2) / ORIGIN_SNAP_M) * ORIGIN_SNAP_M,
        math.floor((y - height_m / 2) / ORIGIN_SNAP_M) * ORIGIN_SNAP_M,
    )


# ---------------------------------------------------------------------------------------
# One tile
# ---------------------------------------------------------------------------------------


@dataclass
class _Tile:
    """One generated tile; indices are local (0-based within the tile)."""

    index: int
    coords: NDArray[np.float64]  # (n, 5, 2) closed rings
    category: NDArray[np.int8]
    owner: NDArray[np.int64]  # local farm index or -1
    farm_home: NDArray[np.int64]  # local parcel index of each farm
    farm_xy: NDArray[np.float64]
    farm_type: NDArray[np.int8]
    farm_counts: NDArray[np.int32]  # (m, n_categories), params.animal_categories order
    farm_emission_kg: NDArray[np.float64]
    farm_height_m: NDArray[np.float64]
    areas: list[shapely.Polygon]
    area_sensitive: NDArray[np.bool_]
    habitats: list[shapely.Geometry]
    habitat_code: list[str]
    habitat_area: list[int]  # local area index

    @property
    def n_parcels(self) -> int:
        return len(self.category)

    @property
    def n_farms(self) -> int:
        return len(self.farm_home)

    def numbered(self, first_parcel_id: int, first_farm_no: int) -> _Piece:
        """The tile's parcels and farms with global parcel ids and farm numbers."""
        return _Piece(
            parcel_id=np.arange(first_parcel_id, first_parcel_id + self.n_parcels, dtype=np.int64),
            coords=self.coords,
            category=self.category,
            parcel_farm_no=np.where(self.owner >= 0, self.owner + first_farm_no, -1),
            farm_no=np.arange(first_farm_no, first_farm_no + self.n_farms, dtype=np.int64),
            farm_row=self.farm_home,
            farm_xy=self.farm_xy,
            farm_type=self.farm_type,
            farm_counts=self.farm_counts,
            farm_emission_kg=self.farm_emission_kg,
            farm_height_m=self.farm_height_m,
        )


@dataclass
class _Piece:
    """Parcels (and the farms homed on them) bound for one partition."""

    parcel_id: NDArray[np.int64]
    coords: NDArray[np.float64]
    category: NDArray[np.int8]
    parcel_farm_no: NDArray[np.int64]
    farm_no: NDArray[np.int64]
    farm_row: NDArray[np.int64]  # row of the farm's home parcel in this piece
    farm_xy: NDArray[np.float64]
    farm_type: NDArray[np.int8]
    farm_counts: NDArray[np.int32]
    farm_emission_kg: NDArray[np.float64]
    farm_height_m: NDArray[np.float64]

    @property
    def n_parcels(self) -> int:
        return len(self.parcel_id)

    def split(self, n_chunks: int) -> Iterator[_Piece]:
        """Equal runs of rows (bottom-up strips of the tile), farms with their home parcel."""
        edges = np.linspace(0, self.n_parcels, n_chunks + 1).round().astype(np.int64)
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            f = (self.farm_row >= a) & (self.farm_row < b)
            yield _Piece(
                parcel_id=self.parcel_id[a:b],
                coords=self.coords[a:b],
                category=self.category[a:b],
                parcel_farm_no=self.parcel_farm_no[a:b],
                farm_no=self.farm_no[f],
                farm_row=self.farm_row[f] - a,
                farm_xy=self.farm_xy[f],
                farm_type=self.farm_type[f],
                farm_counts=self.farm_counts[f],
                farm_emission_kg=self.farm_emission_kg[f],
                farm_height_m=self.farm_height_m[f],
            )


def _generate_tile(
    seed: int,
    tile_ix: int,
    origin: tuple[float, float],
    grid: _Grid,
    n_keep: int,
    params: Parameters,
    habitat_codes: list[str],
) -> _Tile:
    """Areas, habitats, parcels and farms of one tile, from its own random stream."""
    rng = np.random.default_rng([seed, tile_ix])
    areas, sensitive, habitats, hab_code, hab_area = _areas(
        rng, tile_ix, origin, grid.tile_m, habitat_codes
    )
    coords = _field_quads(rng, origin, grid)[:n_keep]
    n = len(coords)
    centre = 0.25 * (coords[:, 0] + coords[:, 1] + coords[:, 2] + coords[:, 3])

    category = rng.choice(len(CATEGORIES), size=n, p=CATEGORY_WEIGHTS).astype(np.int8)
    in_area = np.zeros(n, dtype=bool)
    if areas:
        union = shapely.union_all(areas)
        shapely.prepare(union)
        in_area = shapely.contains_xy(union, centre[:, 0], centre[:, 1])
        k = np.flatnonzero(in_area)
        nature = rng.uniform(size=len(k)) < NATURE_IN_AREA_SHARE
        category[k] = np.where(nature, _CAT_NATURE, _CAT_GRASS)

    farmland = (category <= _CAT_ARABLE) & ~in_area
    candidates = np.flatnonzero(farmland)
    n_farms = min(int(rng.poisson(n / PARCELS_PER_FARM)), len(candidates))
    home = (
        np.sort(rng.choice(candidates, size=n_farms, replace=False)) if n_farms else candidates[:0]
    )
    farm_xy = _points_in_quads(rng, coords[home])
    ftype = rng.choice(len(FARM_TYPES), size=n_farms, p=_FARM_TYPE_P).astype(np.int8)
    animals, _ = _herds(rng, ftype, params)
    categories = params.animal_categories
    counts = np.zeros((n_farms, len(categories)), dtype=np.int32)
    for j, cat in enumerate(categories):
        if cat in animals:
            counts[:, j] = animals[cat]
    factors = np.array([params.livestock[c].emission_kg_nh3_per_animal for c in categories])
    emission = counts.astype(np.float64) @ factors
    lo = np.array([_HEIGHT_RANGE_M[t][0] for t in FARM_TYPES])[ftype]
    hi = np.array([_HEIGHT_RANGE_M[t][1] for t in FARM_TYPES])[ftype]
    height = np.round(rng.uniform(lo, hi), 1)

    owner = np.full(n, -1, dtype=np.int64)
    if n_farms:
        rows = np.flatnonzero(farmland)
        dist, nearest = cKDTree(farm_xy).query(centre[rows], distance_upper_bound=FARM_REACH_M)
        linked = np.isfinite(dist) & (rng.uniform(size=len(rows)) >= UNLINKED_SHARE)
        owner[rows[linked]] = nearest[linked]
        owner[home] = np.arange(n_farms)
    return _Tile(
        index=tile_ix,
        coords=coords,
        category=category,
        owner=owner,
        farm_home=home.astype(np.int64),
        farm_xy=farm_xy,
        farm_type=ftype,
        farm_counts=counts,
        farm_emission_kg=emission,
        farm_height_m=height,
        areas=areas,
        area_sensitive=sensitive,
        habitats=habitats,
        habitat_code=hab_code,
        habitat_area=hab_area,
    )


def _field_quads(
    rng: np.random.Generator, origin: tuple[float, float], grid: _Grid
) -> NDArray[np.float64]:
    """Closed rings (nx * ny, 5, 2) of the jittered field grid, row by row from the bottom."""
    nx, ny = grid.nx, grid.ny
    ox, oy = origin
    x = ox + np.arange(nx + 1) * grid.sx_m
    y = oy + np.arange(ny + 1) * grid.sy_m
    nodes = np.empty((ny + 1, nx + 1, 2))
    nodes[..., 0] = x[None, :]
    nodes[..., 1] = y[:, None]
    jitter = (
        rng.uniform(-JITTER_SHARE, JITTER_SHARE, size=(ny - 1, nx - 1, 2))
        if nx > 1 and ny > 1
        else None
    )
    if jitter is not None:  # interior nodes only: tile edges stay straight and shared
        nodes[1:-1, 1:-1] += jitter * np.array([grid.sx_m, grid.sy_m])
    quads = np.empty((ny, nx, 5, 2))
    quads[:, :, 0] = nodes[:-1, :-1]  # lower left
    quads[:, :, 1] = nodes[:-1, 1:]  # lower right
    quads[:, :, 2] = nodes[1:, 1:]  # upper right
    quads[:, :, 3] = nodes[1:, :-1]  # upper left
    quads[:, :, 4] = nodes[:-1, :-1]
    return quads.reshape(nx * ny, 5, 2)


def _points_in_quads(rng: np.random.Generator, quads: NDArray[np.float64]) -> NDArray[np.float64]:
    """A random point strictly inside each simple quad (m, 5, 2).

    A simple quad ABCD has an interior diagonal (AC if B and D lie on opposite sides of it,
    else BD); the point is drawn in one of the two triangles on that diagonal, with every
    barycentric weight at least 0.1.
    """
    m = len(quads)
    if m == 0:
        return np.empty((0, 2))
    a, b, c, d = (quads[:, i] for i in range(4))

    def cross(
        o: NDArray[np.float64], p: NDArray[np.float64], q: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        return (p[:, 0] - o[:, 0]) * (q[:, 1] - o[:, 1]) - (p[:, 1] - o[:, 1]) * (q[:, 0] - o[:, 0])

    ac_inside = (cross(a, c, b) * cross(a, c, d)) < 0
    first = rng.uniform(size=m) < 0.5
    # triangle (p, q, r): on AC: ABC or ACD; on BD: BCD or BDA
    p = np.where(ac_inside[:, None], a, b)
    q = np.where(ac_inside[:, None], np.where(first[:, None], b, c), np.where(first[:, None], c, d))
    r = np.where(ac_inside[:, None], np.where(first[:, None], c, d), np.where(first[:, None], d, a))
    u, v = rng.uniform(size=m), rng.uniform(size=m)
    flip = u + v > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    w = 0.1 + 0.7 * np.stack([1 - u - v, u, v], axis=1)
    return w[:, :1] * p + w[:, 1:2] * q + w[:, 2:] * r


def _blob(rng: np.random.Generator, cx: float, cy: float, radius_m: float) -> shapely.Polygon:
    """A star-shaped polygon: a circle whose radius wobbles with modes 1-3 (always simple)."""
    theta = np.linspace(0.0, 2 * np.pi, AREA_VERTICES, endpoint=False)
    phase = rng.uniform(0.0, 2 * np.pi, size=len(BLOB_WOBBLE))
    r = radius_m * (
        1
        + sum(
            amp * np.cos((k + 1) * theta + ph)
            for k, (amp, ph) in enumerate(zip(BLOB_WOBBLE, phase, strict=True))
        )
    )
    return shapely.Polygon(np.column_stack([cx + r * np.cos(theta), cy + r * np.sin(theta)]))


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    """The polygonal part of an overlay result (None if it has no area)."""
    if geom.is_empty:
        return None
    if isinstance(geom, shapely.Polygon | shapely.MultiPolygon):
        return geom if geom.area > 1.0 else None
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, shapely.Polygon) and g.area > 1.0]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _areas(
    rng: np.random.Generator,
    tile_ix: int,
    origin: tuple[float, float],
    tile_m: float,
    codes: list[str],
) -> tuple[list[shapely.Polygon], NDArray[np.bool_], list[shapely.Geometry], list[str], list[int]]:
    """Areas wholly inside the tile, and their non-overlapping habitat patches."""
    n_areas = int(rng.poisson(AREAS_PER_TILE))
    if tile_ix == 0:
        n_areas = max(n_areas, 1)
    ox, oy = origin
    r_max = min(AREA_RADIUS_RANGE_M[1], AREA_MAX_RADIUS_SHARE * tile_m)
    r_min = min(AREA_RADIUS_RANGE_M[0], r_max / 2)
    reach = 1 + sum(BLOB_WOBBLE)
    areas: list[shapely.Polygon] = []
    habitats: list[shapely.Geometry] = []
    hab_code: list[str] = []
    hab_area: list[int] = []
    for i in range(n_areas):
        r = rng.uniform(r_min, r_max)
        margin = reach * r
        cx = rng.uniform(ox + margin, ox + tile_m - margin)
        cy = rng.uniform(oy + margin, oy + tile_m - margin)
        area = _blob(rng, cx, cy, r)
        areas.append(area)
        taken: shapely.Geometry | None = None
        for _ in range(int(rng.integers(HABITATS_PER_AREA[0], HABITATS_PER_AREA[1] + 1))):
            ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.5 * r)
            patch = _blob(
                rng, cx + dist * np.cos(ang), cy + dist * np.sin(ang), rng.uniform(0.3, 0.6) * r
            )
            code = codes[int(rng.integers(len(codes)))]
            part = shapely.intersection(area, patch)
            if taken is not None:
                part = shapely.difference(part, taken)
            part = _polygonal(part)
            if part is None:
                continue
            habitats.append(part)
            hab_code.append(code)
            hab_area.append(i)
            taken = part if taken is None else shapely.union(taken, part)
    sensitive = rng.uniform(size=n_areas) < NITROGEN_SENSITIVE_SHARE
    return areas, sensitive, habitats, hab_code, hab_area


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


class _Paths:
    """Where everything goes, and clearing a previous run."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.parcels_dir = out_dir / PARCELS_DIR
        self.farms_dir = out_dir / FARMS_DIR
        self.areas = out_dir / AREAS_FILE
        self.habitats = out_dir / HABITATS_FILE
        self.deposition = out_dir / DEPOSITION_FILE
        self.config = out_dir / CONFIG_FILE
        self.manifest = out_dir / MANIFEST_FILE

    def prepare(self) -> None:
        """Create the folders; remove the manifest first, then stale partitions and temp files."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.manifest.unlink(missing_ok=True)
        for folder in (self.parcels_dir, self.farms_dir):
            folder.mkdir(exist_ok=True)
            for stale in [*folder.glob("part-*.parquet"), *folder.glob(".part-*.tmp")]:
                stale.unlink()
        for stale in self.out_dir.glob(".*.tmp"):
            stale.unlink()


def _binary(data: NDArray[np.void], item_bytes: int) -> pa.Array:
    """An Arrow binary array of fixed-size records (one WKB geometry per record)."""
    n = len(data)
    offsets = np.arange(0, (n + 1) * item_bytes, item_bytes, dtype=np.int32)
    raw = np.ascontiguousarray(data).view(np.uint8)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw)])


def _polygon_wkb(coords: NDArray[np.float64]) -> pa.Array:
    rec = np.empty(len(coords), dtype=_POLYGON_WKB)
    rec["order"], rec["type"], rec["rings"], rec["points"] = 1, 3, 1, 5
    rec["xy"] = coords.reshape(len(coords), 10)
    return _binary(rec, _POLYGON_WKB.itemsize)


def _point_wkb(xy: NDArray[np.float64]) -> pa.Array:
    rec = np.empty(len(xy), dtype=_POINT_WKB)
    rec["order"], rec["type"] = 1, 1
    rec["xy"] = xy
    return _binary(rec, _POINT_WKB.itemsize)


def _bbox_column(lo: NDArray[np.float64], hi: NDArray[np.float64]) -> pa.StructArray:
    return pa.StructArray.from_arrays(
        [pa.array(lo[:, 0]), pa.array(lo[:, 1]), pa.array(hi[:, 0]), pa.array(hi[:, 1])],
        names=["xmin", "ymin", "xmax", "ymax"],
    )


def _id_strings(numbers: NDArray[np.int64], prefix: str, width: int) -> pa.Array:
    """``prefix`` + zero-padded number; negative numbers give nulls."""
    arr = pa.array(numbers, mask=numbers < 0)
    padded = pc.utf8_lpad(pc.cast(arr, pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, padded, "")


def _farm_ids(numbers: NDArray[np.int64]) -> pa.Array:
    """Farm ids ``F0000000001``... of farm numbers (negative: null)."""
    return _id_strings(numbers, "F", 10)


def _template_schema(frame: gpd.GeoDataFrame) -> pa.Schema:
    """The Arrow schema and metadata geopandas writes for ``frame`` (GeoParquet 1.1 + bbox)."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, write_covering_bbox=True)
    buf.seek(0)
    return pq.read_schema(buf)


class _PartitionWriter:
    """Writes parcel and farm partitions with geopandas' schema, rows straight from Arrow."""

    def __init__(self, paths: _Paths, crs: pyproj.CRS, animal_categories: list[str]) -> None:
        self.paths = paths
        self.animal_categories = list(animal_categories)
        self.parcel_schema = _template_schema(
            gpd.GeoDataFrame(
                {
                    "parcel_id": np.array([1], dtype=np.int64),
                    "category": ["Grasland"],
                    "farm_id": ["F1"],
                },
                geometry=[shapely.box(0, 0, 1, 1)],
                crs=crs,
            )
        )
        farm_cols: dict[str, object] = {"farm_id": ["F1"], "farm_type": ["melkvee"]}
        for c in self.animal_categories:
            farm_cols[c] = np.array([0], dtype=np.int32)
        farm_cols["emission_kg_nh3"] = np.array([0.0])
        farm_cols["source_height_m"] = np.array([0.0])
        self.farm_schema = _template_schema(
            gpd.GeoDataFrame(farm_cols, geometry=[shapely.Point(0, 0)], crs=crs)
        )
        self.parcel_files: list[dict[str, object]] = []
        self.farm_files: list[dict[str, object]] = []
        self.n_parcels = 0
        self.n_farms = 0
        self._categories = pa.array(CATEGORIES)
        self._farm_types = pa.array(FARM_TYPES)

    def write(self, pieces: list[_Piece]) -> None:
        """Write one parcel partition and its farm partition (same number)."""
        k = len(self.parcel_files)
        name = f"part-{k:05d}.parquet"
        t0 = time.perf_counter()
        coords = np.concatenate([p.coords for p in pieces])
        cat = self._categories.take(pa.array(np.concatenate([p.category for p in pieces])))
        corners = [coords[:, i] for i in range(4)]
        lo = np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[2], corners[3]))
        hi = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
        parcels = self._table(
            self.parcel_schema,
            [
                pa.array(np.concatenate([p.parcel_id for p in pieces])),
                cat,
                _farm_ids(np.concatenate([p.parcel_farm_no for p in pieces])),
                _polygon_wkb(coords),
                _bbox_column(lo, hi),
            ],
            lo,
            hi,
        )
        bbox = self._write(parcels, self.paths.parcels_dir / name)
        self.parcel_files.append(
            {"path": f"{PARCELS_DIR}/{name}", "rows": len(coords), "bbox": bbox}
        )
        self.n_parcels += len(coords)

        xy = np.concatenate([p.farm_xy for p in pieces])
        counts = np.concatenate([p.farm_counts for p in pieces])
        farms = self._table(
            self.farm_schema,
            [
                _farm_ids(np.concatenate([p.farm_no for p in pieces])),
                self._farm_types.take(pa.array(np.concatenate([p.farm_type for p in pieces]))),
                *(pa.array(counts[:, j]) for j in range(len(self.animal_categories))),
                pa.array(np.concatenate([p.farm_emission_kg for p in pieces])),
                pa.array(np.concatenate([p.farm_height_m for p in pieces])),
                _point_wkb(xy),
                _bbox_column(xy, xy),
            ],
            xy,
            xy,
        )
        fbbox = self._write(farms, self.paths.farms_dir / name)
        self.farm_files.append({"path": f"{FARMS_DIR}/{name}", "rows": len(xy), "bbox": fbbox})
        self.n_farms += len(xy)
        logger.debug(
            "partition %d: %d parcels, %d farms (%.2f s)",
            k,
            len(coords),
            len(xy),
            time.perf_counter() - t0,
        )

    @staticmethod
    def _table(
        schema: pa.Schema, columns: list[pa.Array], lo: NDArray[np.float64], hi: NDArray[np.float64]
    ) -> pa.Table:
        geo = json.loads(schema.metadata[b"geo"])
        col = geo["columns"][geo["primary_column"]]
        if len(lo):
            col["bbox"] = [
                float(lo[:, 0].min()),
                float(lo[:, 1].min()),
                float(hi[:, 0].max()),
                float(hi[:, 1].max()),
            ]
        else:
            col.pop("bbox", None)
        meta = {**schema.metadata, b"geo": json.dumps(geo).encode("utf-8")}
        return pa.Table.from_arrays(columns, schema=schema.with_metadata(meta))

    @staticmethod
    def _write(table: pa.Table, path: Path) -> list[float] | None:
        # dictionary-encode the text columns only (not WKB or coordinates), and keep
        # statistics off the WKB column (min/max of WKB bytes are useless; bbox.* serve)
        leaves = [
            f"{f.name}.{c.name}" if pa.types.is_struct(f.type) else f.name
            for f in table.schema
            for c in (f.type if pa.types.is_struct(f.type) else [f])
        ]
        geo = json.loads(table.schema.metadata[b"geo"])
        with _atomic(path) as tmp:
            pq.write_table(
                table,
                tmp,
                row_group_size=ROW_GROUP_ROWS,
                use_dictionary=[f.name for f in table.schema if pa.types.is_string(f.type)],
                write_statistics=[c for c in leaves if c != geo["primary_column"]],
            )
        return geo["columns"][geo["primary_column"]].get("bbox")


class _AreaCollector:
    """Areas and habitats of all tiles (few: kept in memory and written at the end)."""

    def __init__(self) -> None:
        self.areas: list[shapely.Polygon] = []
        self.sensitive: list[NDArray[np.bool_]] = []
        self.habitats: list[shapely.Geometry] = []
        self.habitat_code: list[str] = []
        self.habitat_area: list[int] = []

    def add(self, tile: _Tile) -> None:
        offset = len(self.areas)
        self.areas.extend(tile.areas)
        self.sensitive.append(tile.area_sensitive)
        self.habitats.extend(tile.habitats)
        self.habitat_code.extend(tile.habitat_code)
        self.habitat_area.extend(offset + i for i in tile.habitat_area)

    def write(self, paths: _Paths, crs: str) -> tuple[int, int]:
        n = len(self.areas)
        codes = [f"XX{i + 1:07d}" for i in range(n)]
        areas = gpd.GeoDataFrame(
            {
                "site_code": codes,
                "name": [f"Synthetic site {i + 1}" for i in range(n)],
                "nitrogen_sensitive": np.concatenate(self.sensitive).astype(bool),
            },
            geometry=gpd.GeoSeries(self.areas, crs=crs),
        )
        habitats = gpd.GeoDataFrame(
            {"habitat_code": self.habitat_code, "site_code": [codes[i] for i in self.habitat_area]},
            geometry=gpd.GeoSeries(self.habitats, crs=crs),
        )
        for frame, path in ((areas, paths.areas), (habitats, paths.habitats)):
            with _atomic(path) as tmp:
                frame.to_parquet(tmp, index=False, write_covering_bbox=True)
        return n, len(habitats)


def _write_deposition(
    path: Path, seed: int, bounds: tuple[float, float, float, float], crs: pyproj.CRS
) -> None:
    """Background deposition (mol N/ha/yr): a smooth random field, 1 km cells, row blocks."""
    rng = np.random.default_rng([seed, *_RASTER_STREAM])
    lo_w, hi_w = DEPOSITION_WAVELENGTH_RANGE_M
    wavelength = np.exp(rng.uniform(np.log(lo_w), np.log(hi_w), DEPOSITION_MODES))
    direction = rng.uniform(0, np.pi, DEPOSITION_MODES)
    phase = rng.uniform(0, 2 * np.pi, DEPOSITION_MODES)
    amp = np.sqrt(wavelength / hi_w)
    kx = 2 * np.pi * np.cos(direction) / wavelength
    ky = 2 * np.pi * np.sin(direction) / wavelength
    xmin, ymin, xmax, ymax = bounds
    cell = DEPOSITION_CELL_M
    width = max(1, math.ceil((xmax - xmin) / cell))
    height = max(1, math.ceil((ymax - ymin) / cell))
    low, high = DEPOSITION_RANGE_MOL_HA
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": crs.to_wkt(),
        "transform": from_origin(xmin, ymax, cell, cell),
        "nodata": -9999.0,
        "compress": "deflate",
        "predictor": 3,
    }
    x = xmin + (np.arange(width) + 0.5) * cell
    block_rows = max(1, 4_000_000 // width)
    with _atomic(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            for r0 in range(0, height, block_rows):
                nrows = min(block_rows, height - r0)
                y = ymax - (r0 + np.arange(nrows) + 0.5) * cell
                field = np.zeros((nrows, width))
                for k in range(DEPOSITION_MODES):
                    field += amp[k] * np.cos(kx[k] * x[None, :] + ky[k] * y[:, None] + phase[k])
                # a sum of cosines with random phases has standard deviation sqrt(sum a2 / 2);
                # tanh squeezes it smoothly into (-1, 1), i.e. the values into (low, high)
                field = np.tanh(field / np.sqrt(0.5 * np.sum(amp**2)))
                value = low + (high - low) * (0.5 + 0.5 * field)
                dst.write(value.astype(np.float32), 1, window=Window(0, r0, width, nrows))
            dst.set_band_description(1, "background N deposition, mol N/ha/yr")
            dst.update_tags(1, units="mol N/ha/yr")


def _write_config(paths: _Paths, crs: str) -> None:
    """An n2kzones config pointing at the data set with absolute paths."""

    def q(value: object) -> str:
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string

    root = paths.out_dir.resolve()
    text = f"""# n2kzones configuration for a synthetic data set written by `n2kzones synthetic`.
# Parcels and farms are folders of GeoParquet partitions (part-00000.parquet, ...).

[project]
name = "synthetic"
crs = {q(crs)}
output_dir = {q(root / "processed")}

[inputs.areas]
path = {q(root / AREAS_FILE)}
preset = "n2kzones"

[inputs.habitats]
path = {q(root / HABITATS_FILE)}

[inputs.parcels]
path = {q(root / PARCELS_DIR)}
preset = "n2kzones"

[inputs.farms]
path = {q(root / FARMS_DIR)}

[inputs.background_deposition]
path = {q(root / DEPOSITION_FILE)}

[deposition]
cell_m = 250
cutoff_m = 25000
receptor_grid = "local"   # EPSG:3035: AERIUS's receptor grid exists in RD New only
"""
    with _atomic(paths.config) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_manifest(
    paths: _Paths,
    summary: SyntheticSummary,
    grid: _Grid,
    partition_rows: int,
    parcels_per_km2: float,
    writer: _PartitionWriter,
) -> None:
    """manifest.json, written last: its presence means the data set is complete."""
    manifest = {
        "generator": "n2kzones.datasets.synthetic",
        "version": __version__,
        "seed": summary.seed,
        "crs": summary.crs,
        "arguments": {
            "n_parcels": summary.n_parcels,
            "partition_rows": partition_rows,
            "parcels_per_km2": parcels_per_km2,
            "tile_size_m": grid.tile_m,
        },
        "n_parcels": summary.n_parcels,
        "n_farms": summary.n_farms,
        "n_areas": summary.n_areas,
        "n_habitats": summary.n_habitats,
        "n_partitions": summary.n_partitions,
        "n_tiles": summary.n_tiles,
        "bounds": list(summary.bounds_m),
        "tile_grid": {
            "origin_m": list(grid.origin_m),
            "tile_size_m": grid.tile_m,
            "cols": grid.cols,
            "rows": grid.rows,
            "fields_per_tile": [grid.nx, grid.ny],
            "field_size_m": [grid.sx_m, grid.sy_m],
            "parcels_per_tile": grid.per_tile,
        },
        "parcels": writer.parcel_files,
        "farms": writer.farm_files,
        "files": {
            **{f["path"]: {"rows": f["rows"]} for f in writer.parcel_files},
            **{f["path"]: {"rows": f["rows"]} for f in writer.farm_files},
            AREAS_FILE: {"rows": summary.n_areas},
            HABITATS_FILE: {"rows": summary.n_habitats},
            DEPOSITION_FILE: {"cell_m": DEPOSITION_CELL_M},
            CONFIG_FILE: {},
        },
    }
    with _atomic(paths.manifest) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
