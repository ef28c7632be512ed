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
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from n2kzones.errors import InputError

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


def hexagon_receptors(
    habitats: gpd.GeoDataFrame,
    *,
    not_sensitive_from_mol_ha: float = 2400.0,
    hexagon_ha: float = 1.0,
    origin: tuple[float, float] = (0.0, 0.0),
) -> gpd.GeoDataFrame:
    """Receptor points at centres of hexagons covering nitrogen-sensitive habitat.

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

    Returns
    -------
    GeoDataFrame
        Points with ``receptor_id`` (stable: lattice column and row), ``site_code``
        (of the largest habitat share), ``kdw_mol_ha`` (lowest KDW in the hexagon),
        ``habitat_code`` (the type with that KDW), ``habitat_ha``.
    """
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
    centres = hexagon_centres_near(hab_geoms, side, origin)
    hexes = _hexagons(centres, side)
    tree = shapely.STRtree(hab_geoms)
    h_idx, s_idx = tree.query(hexes, predicate="intersects")
    area = shapely.area(shapely.intersection(hexes[h_idx], hab_geoms[s_idx]))
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
    dx, dy = 1.5 * side, math.sqrt(3) * side
    col = np.rint((centres[hex_ids, 0] - origin[0]) / dx).astype(np.int64)
    row = np.rint((centres[hex_ids, 1] - origin[1] - (col % 2) * dy / 2) / dy).astype(np.int64)
    out = gpd.GeoDataFrame(
        {
            "receptor_id": [f"{c}_{r}" for c, r in zip(col, row, strict=True)],
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
        "receptors: %d hexagons of %.2f ha over %.0f ha sensitive habitat (%.1f s)",
        len(out),
        hexagon_ha,
        out["habitat_ha"].sum(),
        time.perf_counter() - t0,
    )
    return out
