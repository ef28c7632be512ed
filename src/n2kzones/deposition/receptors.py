"""Point receptors: centres of 1 ha hexagons over nitrogen-sensitive habitat (AERIUS-style).

The hexagons are flat-topped, tile the plane from an origin in the working CRS (default
RD (0, 0)), and have an area of ``hexagon_ha`` (1 ha: side 62.04 m). A hexagon is a
receptor when nitrogen-sensitive habitat (KDW below the not-sensitive limit, 2400 mol
N/ha/yr) covers part of it; its KDW is the lowest of the habitat types it covers, and
``habitat_ha`` is the sensitive habitat area inside it (the hectares AERIUS reports).
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from n2kzones.deposition import receptor_grid
from n2kzones.errors import InputError
from n2kzones.threads import available_threads, thread_map

log = logging.getLogger(__name__)


def hexagon_side_m(hexagon_ha: float = 1.0) -> float:
    """Side length in m of a regular hexagon of ``hexagon_ha`` hectares (1 ha: 62.04 m)."""
    return math.sqrt(2 * hexagon_ha * 1e4 / (3 * math.sqrt(3)))


def hexagon_centres(
    bounds: tuple[float, float, float, float],
    side_m: float,
    origin: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Centres (n, 2) of the flat-topped hexagon lattice whose hexagons touch ``bounds``."""
    dx, dy = 1.5 * side_m, math.sqrt(3) * side_m
    x0, y0, x1, y1 = bounds
    i0, i1 = math.floor((x0 - origin[0]) / dx) - 1, math.ceil((x1 - origin[0]) / dx) + 1
    j0, j1 = math.floor((y0 - origin[1]) / dy) - 1, math.ceil((y1 - origin[1]) / dy) + 1
    i, j = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1), indexing="ij")
    x = origin[0] + i * dx
    y = origin[1] + j * dy + (i % 2) * dy / 2
    return np.column_stack([x.ravel(), y.ravel()])


def hexagon_centres_near(
    geoms: np.ndarray,
    side_m: float,
    origin: tuple[float, float] = (0.0, 0.0),
    block_m: float = 5000.0,
) -> np.ndarray:
    """Centres (n, 2) of the lattice hexagons that touch blocks of ``block_m`` holding ``geoms``.

    The same hexagons as :func:`hexagon_centres` of the total bounds wherever there is
    habitat, without a lattice over the empty space between (a country's bounding box holds
    millions of hexagons, its habitat a small share of them). Every hexagon that meets a
    geometry is included: the point they share lies in a block that meets the geometry.
    """
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    nx, ny = max(1, math.ceil((x1 - x0) / block_m)), max(1, math.ceil((y1 - y0) / block_m))
    bx, by = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    bx, by = bx.ravel(), by.ravel()
    boxes = shapely.box(x0 + bx * block_m, y0 + by * block_m, x0 + (bx + 1) * block_m, y0 + (by + 1) * block_m)
    hit = np.unique(shapely.STRtree(geoms).query(boxes, predicate="intersects")[0])
    dx, dy = 1.5 * side_m, math.sqrt(3) * side_m
    ij: list[np.ndarray] = []
    for b in hit:
        bx0, by0 = x0 + bx[b] * block_m, y0 + by[b] * block_m
        i0, i1 = math.floor((bx0 - origin[0]) / dx) - 1, math.ceil((bx0 + block_m - origin[0]) / dx) + 1
        j0, j1 = math.floor((by0 - origin[1]) / dy) - 1, math.ceil((by0 + block_m - origin[1]) / dy) + 1
        i, j = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1), indexing="ij")
        ij.append(np.column_stack([i.ravel(), j.ravel()]))
    i, j = np.unique(np.concatenate(ij), axis=0).T
    return np.column_stack([origin[0] + i * dx, origin[1] + j * dy + (i % 2) * dy / 2])


def _hexagons(centres: np.ndarray, side_m: float) -> np.ndarray:
    angles = np.deg2rad(np.arange(0, 360, 60))
    ring = np.column_stack([np.cos(angles), np.sin(angles)]) * side_m
    coords = centres[:, None, :] + ring[None, :, :]
    return shapely.polygons(coords)


#: Default side in m of the square tiles :func:`hexagon_receptors` cuts the habitat into.
#: Tiles are aligned on multiples of this from the lattice origin; each hexagon belongs to
#: the one tile that holds its centre. 1 km keeps a clipped piece of even the largest area
#: (Veluwe, 86,000 vertices) small; see ``benchmarks/bench_receptors.py``.
RECEPTOR_TILE_M = 1000.0
#: A tile's habitat is clipped to the tile widened by the hexagon side plus this margin, so
#: every hexagon whose centre lies in the tile is wholly inside the clip box.
_TILE_MARGIN_M = 1.0
#: Tiles per vectorised batch (memory and progress granularity).
_TILES_PER_BATCH = 64


def _habitat_tiles(
    geoms: np.ndarray, tile_m: float, reach_m: float, origin: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tiles (columns ``kx``, rows ``ky``) whose clip box (the tile widened by ``reach_m``)
    meets a geometry, their clip boxes, and the (tile, geometry) pairs that meet.

    Returns ``(kx, ky, boxes, pairs)`` with ``pairs`` of shape (2, n): tile index, geometry
    index, sorted by tile.
    """
    b = shapely.bounds(geoms)
    x0 = np.floor((b[:, 0] - reach_m - origin[0]) / tile_m).astype(np.int64)
    x1 = np.floor((b[:, 2] + reach_m - origin[0]) / tile_m).astype(np.int64)
    y0 = np.floor((b[:, 1] - reach_m - origin[1]) / tile_m).astype(np.int64)
    y1 = np.floor((b[:, 3] + reach_m - origin[1]) / tile_m).astype(np.int64)
    nx, ny = x1 - x0 + 1, y1 - y0 + 1
    n = nx * ny
    geom = np.repeat(np.arange(len(geoms)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    kxy = np.unique(np.column_stack([x0[geom] + k % nx[geom], y0[geom] + k // nx[geom]]), axis=0)
    kx, ky = kxy[:, 0], kxy[:, 1]
    bx, by = origin[0] + kx * tile_m, origin[1] + ky * tile_m
    boxes = shapely.box(bx - reach_m, by - reach_m, bx + tile_m + reach_m, by + tile_m + reach_m)
    pairs = shapely.STRtree(geoms).query(boxes, predicate="intersects")
    pairs = pairs[:, np.lexsort((pairs[1], pairs[0]))]
    return kx, ky, boxes, pairs


def _centres_in_tiles(
    kx: np.ndarray, ky: np.ndarray, tile_m: float, side_m: float, origin: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Lattice centres whose tile (``floor((centre - origin) / tile_m)``) is one of the tiles
    ``kx``, ``ky``: (tile index into ``kx`` (n,), centres (n, 2)).

    The centres are computed with the same expressions as :func:`hexagon_centres_near`, so
    they are bit for bit the same points; the tile of a centre comes from one ``floor``, so
    every centre is in exactly one tile.
    """
    dx, dy = 1.5 * side_m, math.sqrt(3) * side_m
    n_i, n_j = math.ceil(tile_m / dx) + 3, math.ceil(tile_m / dy) + 4
    i0 = np.floor(kx * tile_m / dx).astype(np.int64) - 1
    j0 = np.floor(ky * tile_m / dy).astype(np.int64) - 2
    i = np.broadcast_to((i0[:, None] + np.arange(n_i))[:, :, None], (len(kx), n_i, n_j))
    j = np.broadcast_to((j0[:, None] + np.arange(n_j))[:, None, :], (len(kx), n_i, n_j))
    x = origin[0] + i * dx
    y = origin[1] + j * dy + (i % 2) * dy / 2
    keep = (np.floor((x - origin[0]) / tile_m) == kx[:, None, None]) & (
        np.floor((y - origin[1]) / tile_m) == ky[:, None, None]
    )
    tile = np.broadcast_to(np.arange(len(kx))[:, None, None], keep.shape)[keep]
    return tile, np.column_stack([x[keep], y[keep]])


def _pairs_untiled(
    geoms: np.ndarray, side_m: float, origin: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(centres, hexagon index, geometry index, area m2) of every hexagon-habitat pair, each
    hexagon intersected with the whole habitat polygon (the reference computation)."""
    centres = hexagon_centres_near(geoms, side_m, origin)
    hexes = _hexagons(centres, side_m)
    h_idx, s_idx = shapely.STRtree(geoms).query(hexes, predicate="intersects")
    area = shapely.area(shapely.intersection(hexes[h_idx], geoms[s_idx]))
    return centres, h_idx, s_idx, area


@dataclass(frozen=True)
class _Tiles:
    """Sensitive habitat cut into square tiles (:func:`_habitat_tiles`): the polygons, each
    tile's clip box and column/row, the (tile, polygon) pairs that meet, and the lattice."""

    geoms: np.ndarray
    boxes: np.ndarray
    kx: np.ndarray
    ky: np.ndarray
    p_tile: np.ndarray
    p_geom: np.ndarray
    tile_m: float
    side_m: float
    origin: tuple[float, float]


def _tile_batch(batch: np.ndarray, t: _Tiles) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The hexagons of the tiles ``batch`` and their habitat pairs: hexagon centres (m),
    per pair the hexagon (index into the centres), the habitat polygon and the area (m2)."""
    geoms, boxes, p_tile, p_geom, kx, ky = t.geoms, t.boxes, t.p_tile, t.p_geom, t.kx, t.ky
    tile_m, side_m, origin = t.tile_m, t.side_m, t.origin
    sel = np.isin(p_tile, batch)
    pt, pg = p_tile[sel], p_geom[sel]
    pieces = shapely.intersection(geoms[pg], boxes[pt])
    ok = ~shapely.is_empty(pieces)
    pieces, pt, pg = pieces[ok], pt[ok], pg[ok]
    local, centres = _centres_in_tiles(kx[batch], ky[batch], tile_m, side_m, origin)
    hex_tile = batch[local]
    hexes = _hexagons(centres, side_m)
    h, p = shapely.STRtree(pieces).query(hexes, predicate="intersects")
    same = hex_tile[h] == pt[p]  # a hexagon meets only its own tile's pieces
    h, p = h[same], p[same]
    # A hexagon inside its piece is its own intersection: skip the overlay (the cost of
    # one grows with the piece's vertices; most hexagons of a large area are inside).
    shapely.prepare(pieces)
    area = shapely.area(hexes[h])
    cut = ~shapely.contains_properly(pieces[p], hexes[h])
    area[cut] = shapely.area(shapely.intersection(hexes[h[cut]], pieces[p[cut]]))
    return centres, h, pg[p], area


def _pairs_tiled(
    geoms: np.ndarray,
    side_m: float,
    origin: tuple[float, float],
    tile_m: float,
    progress: bool | Callable[[int], None],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """As :func:`_pairs_untiled`, but each hexagon is intersected with its tile's clipped piece
    of the habitat polygon; also returns the number of tiles."""
    reach = side_m + _TILE_MARGIN_M
    kx, ky, boxes, (p_tile, p_geom) = _habitat_tiles(geoms, tile_m, reach, origin)
    used = np.unique(p_tile)  # tiles whose clip box meets habitat
    n_tiles = len(used)
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_tiles, desc="receptor tiles", unit="tile")
    centres_out: list[np.ndarray] = []
    h_out: list[np.ndarray] = []
    s_out: list[np.ndarray] = []
    a_out: list[np.ndarray] = []
    offset = 0
    batches = [used[lo : lo + _TILES_PER_BATCH] for lo in range(0, n_tiles, _TILES_PER_BATCH)]
    threads = available_threads()
    done = 0

    tiles = _Tiles(geoms, boxes, kx, ky, p_tile, p_geom, tile_m, side_m, origin)

    def one(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return _tile_batch(batch, tiles)

    # the batches are independent (GEOS releases the GIL): a round of one batch per thread,
    # taken back in order, so the receptors do not depend on the thread count
    for lo in range(0, len(batches), threads):
        for batch, (centres, h, s_idx, area) in zip(
            batches[lo : lo + threads], thread_map(one, batches[lo : lo + threads], threads=threads), strict=True
        ):
            centres_out.append(centres)
            h_out.append(h + offset)
            s_out.append(s_idx)
            a_out.append(area)
            offset += len(centres)
            done += len(batch)
            if bar is not None:
                bar.update(len(batch))
            elif callable(progress):
                progress(done)
    if bar is not None:
        bar.close()
    if not centres_out:
        return np.empty((0, 2)), *(np.empty(0, dtype=np.int64),) * 2, np.empty(0), 0
    return (
        np.concatenate(centres_out),
        np.concatenate(h_out),
        np.concatenate(s_out),
        np.concatenate(a_out),
        n_tiles,
    )


def hexagon_receptors(
    habitats: gpd.GeoDataFrame,
    *,
    not_sensitive_from_mol_ha: float = 2400.0,
    hexagon_ha: float = 1.0,
    origin: tuple[float, float] = (0.0, 0.0),
    tile_m: float | None = RECEPTOR_TILE_M,
    progress: bool | Callable[[int], None] = False,
    grid: str = "local",
) -> gpd.GeoDataFrame:
    """Receptor points at centres of hexagons covering nitrogen-sensitive habitat.

    With ``grid="aerius"`` the hexagons are AERIUS's own 1 ha receptor hexagons
    (:mod:`n2kzones.deposition.receptor_grid`): the same flat-topped lattice laid from
    AERIUS's grid origin, and ``receptor_id`` is AERIUS's integer receptor id, so the
    outputs join AERIUS Monitor, the AERIUS open data and AERIUS results. The local lattice
    (``grid="local"``) takes any ``hexagon_ha`` and ``origin`` and names hexagons
    ``"<column>_<row>"``.

    The habitat is processed in square tiles of ``tile_m`` aligned on multiples of
    ``tile_m`` from ``origin``: a hexagon belongs to the tile holding its centre (never two),
    and is intersected with that tile's piece of each habitat polygon (clipped to the tile
    widened by the hexagon side, so the hexagon lies wholly inside the clip). No single
    intersection then handles a whole area-sized polygon (the Veluwe is one polygon of
    86,000 vertices). The result is the untiled one (``tile_m=None``): the same receptors,
    ids, KDW, habitat codes, site codes and order; ``habitat_ha`` equal to floating-point
    rounding (~1e-12 relative: the overlay of a hexagon with a clipped piece may round
    differently in the last bits).

    Parameters
    ----------
    habitats
        Habitat map with ``habitat_code``, ``kdw_mol_ha`` and (optionally) ``site_code``;
        polygons must not overlap (an overlap would count habitat area twice).
    not_sensitive_from_mol_ha
        Habitats with a KDW at or above this are not nitrogen-sensitive.
    hexagon_ha
        Hexagon area in hectares.
    origin
        A lattice point (hexagon centre) in the working CRS.
    tile_m
        Tile side in metres (default :data:`RECEPTOR_TILE_M`, 1 km), or ``None`` to intersect
        every hexagon with whole habitat polygons (the slow reference computation).
    progress
        ``True`` for a tqdm progress bar over the tiles, or a callable receiving the number
        of tiles done after each batch (tiled computation only).
    grid
        ``"local"`` (default) or ``"aerius"`` (requires ``hexagon_ha = 1``, the default
        ``origin`` and habitat in RD New within AERIUS's grid; ``origin`` is then AERIUS's).

    Returns
    -------
    GeoDataFrame
        Points with ``receptor_id`` (``grid="aerius"``: AERIUS's id, int64; ``"local"``:
        text, lattice column and row), ``site_code``
        (of the largest habitat share), ``kdw_mol_ha`` (lowest KDW in the hexagon),
        ``habitat_code`` (the type with that KDW), ``habitat_ha``; sorted by
        ``receptor_id`` (AERIUS ids as numbers, local ids as text).

    Raises
    ------
    InputError
        If the map has no nitrogen-sensitive habitat, ``tile_m`` is not a positive
        number of metres (or ``None``), or ``grid="aerius"`` is asked for hexagons that
        are not AERIUS's (another size or origin, habitat outside AERIUS's grid).
    """
    if grid not in ("local", "aerius"):
        raise InputError(f"grid must be 'local' or 'aerius', got {grid!r}")
    if grid == "aerius":
        if hexagon_ha != 1.0 or tuple(origin) != (0.0, 0.0):
            raise InputError(
                "AERIUS's receptor grid has 1 ha hexagons on its own origin: use "
                f"hexagon_ha = 1 (got {hexagon_ha:g}) and the default origin, or grid = 'local'"
            )
        origin = (receptor_grid.MIN_X, receptor_grid.MIN_Y)
    if tile_m is not None and not (
        isinstance(tile_m, numbers.Real)
        and not isinstance(tile_m, bool)
        and math.isfinite(tile_m)
        and tile_m > 0
    ):
        raise InputError(
            f"tile_m must be a positive number of metres (e.g. {RECEPTOR_TILE_M:g}) or None "
            f"for the untiled computation, got {tile_m!r}"
        )
    t0 = time.perf_counter()
    sensitive = habitats.loc[habitats["kdw_mol_ha"] < not_sensitive_from_mol_ha].reset_index(
        drop=True
    )
    if sensitive.empty:
        raise InputError(
            "the habitat map has no nitrogen-sensitive habitat (all KDW >= limit); no receptors"
        )
    side = hexagon_side_m(hexagon_ha)
    hab_geoms = sensitive.geometry.to_numpy()
    if tile_m is None:
        centres, h_idx, s_idx, area = _pairs_untiled(hab_geoms, side, origin)
        n_tiles = 0
    else:
        centres, h_idx, s_idx, area, n_tiles = _pairs_tiled(
            hab_geoms, side, origin, float(tile_m), progress
        )
    pairs = pd.DataFrame(
        {
            "hex": h_idx,
            "area_m2": area,
            "kdw_mol_ha": sensitive["kdw_mol_ha"].to_numpy()[s_idx],
            "habitat_code": sensitive["habitat_code"].to_numpy()[s_idx],
            "site_code": sensitive["site_code"].to_numpy()[s_idx]
            if "site_code" in sensitive
            else "",
        }
    )
    pairs = pairs.loc[pairs["area_m2"] > 0]
    lowest = pairs.sort_values(["hex", "kdw_mol_ha", "habitat_code"]).drop_duplicates("hex")
    largest = pairs.groupby(["hex", "site_code"], as_index=False)["area_m2"].sum()
    largest = largest.sort_values(
        ["hex", "area_m2", "site_code"], ascending=[True, False, True]
    ).drop_duplicates("hex")
    hab_area = pairs.groupby("hex")["area_m2"].sum()
    hex_ids = lowest["hex"].to_numpy()
    if grid == "aerius":
        receptor_id = receptor_grid.receptor_ids_at(*centres[hex_ids].T, outside="zero")
        if np.any(receptor_id == 0):
            raise InputError(
                f"{int((receptor_id == 0).sum())} receptor hexagon(s) lie outside AERIUS's NL "
                "receptor grid (bounding box "
                f"{receptor_grid.MIN_X:.0f}, {receptor_grid.MIN_Y:.0f}, {receptor_grid.MAX_X:.0f}, "
                f"{receptor_grid.MAX_Y:.0f} in EPSG:28992); is the habitat in RD New? For "
                "habitat outside the Netherlands set [deposition] receptor_grid = 'local'"
            )
        centres[hex_ids] = np.column_stack(receptor_grid.receptor_centres(receptor_id))
    else:
        dx, dy = 1.5 * side, math.sqrt(3) * side
        col = np.rint((centres[hex_ids, 0] - origin[0]) / dx).astype(np.int64)
        row = np.rint((centres[hex_ids, 1] - origin[1] - (col % 2) * dy / 2) / dy).astype(np.int64)
        receptor_id = np.array([f"{c}_{r}" for c, r in zip(col, row, strict=True)], dtype=object)
    out = gpd.GeoDataFrame(
        {
            "receptor_id": receptor_id,
            "site_code": largest.set_index("hex").loc[hex_ids, "site_code"].to_numpy(),
            "kdw_mol_ha": lowest["kdw_mol_ha"].to_numpy(float),
            "habitat_code": lowest["habitat_code"].to_numpy(),
            "habitat_ha": hab_area.loc[hex_ids].to_numpy() / 1e4,
        },
        geometry=shapely.points(centres[hex_ids]),
        crs=habitats.crs,
    )
    out = out.sort_values("receptor_id", kind="stable").reset_index(drop=True)
    log.info(
        "receptors: %d hexagons of %.2f ha over %.0f ha sensitive habitat, %s (%.1f s)",
        len(out),
        hexagon_ha,
        out["habitat_ha"].sum(),
        ("untiled" if tile_m is None else f"{n_tiles} tiles of {float(tile_m):g} m")
        + (", AERIUS receptor grid" if grid == "aerius" else ""),
        time.perf_counter() - t0,
    )
    return out
