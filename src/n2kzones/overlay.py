"""Parcels and farms against the national zone layer.

Parcels are split into pieces per zone membership (the faces of
:func:`n2kzones.zones.national_zones`) plus the piece outside every zone, so the pieces of a
parcel always add up to the parcel. A parcel wholly inside one face or wholly outside all
faces needs no intersection; only parcels on a zone edge are cut (STRtree query, then
``contains_properly`` on the prepared face).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from tqdm.auto import tqdm

from n2kzones.threads import available_threads, thread_map
from n2kzones.params import Parameters
from n2kzones.summary import AREA_QUANTUM_M2, area_quanta

log = logging.getLogger(__name__)

OUTSIDE = ""  # zone_key of the part of a parcel outside every zone


def _polygonal_parts(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal part of set-operation results (vectorised fast path)."""
    type_id = shapely.get_type_id(geoms)
    odd = np.flatnonzero(~np.isin(type_id, (3, 6)))  # not Polygon / MultiPolygon
    if len(odd):
        geoms = geoms.copy()
        for i in odd:
            parts = [p for p in shapely.get_parts(geoms[i]) if shapely.get_type_id(p) in (3, 6)]
            geoms[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    return geoms


def _in_chunks(op: Callable[[np.ndarray, np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``op(a, b)`` (an element-wise shapely operation) in chunks, one thread each."""
    n = available_threads()
    if n == 1 or len(a) < 2 * _CHUNK_MIN:
        return op(a, b)
    bounds = np.linspace(0, len(a), n + 1).astype(int)
    parts = thread_map(lambda k: op(a[bounds[k]:bounds[k + 1]], b[bounds[k]:bounds[k + 1]]), range(n))
    return np.concatenate(parts)


#: Element-wise geometry work shorter than twice this runs in one call.
_CHUNK_MIN = 2_000
#: Relative tolerance on a parcel's pieces adding up to its area.
AREA_RTOL = 1e-7
#: Grid (m) of the snap-rounding overlay used where the floating-point overlay fails.
SNAP_GRID_M = 1e-8


def _conserve_area(
    pgeoms: np.ndarray, zgeoms: np.ndarray, parcel: np.ndarray, zone: np.ndarray, geom: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recut the parcels whose pieces do not add up to their area, with snap-rounding.

    On slivers and near-collinear edges GEOS's floating-point overlay can return an
    intersection much larger than the true one (a thin parcel along a zone edge came out
    "inside" two faces). Such a parcel's pieces sum to more (or less) than its area; it is
    cut again with ``grid_size`` snap-rounding (robust by construction; a 1e-8 m grid moves no
    area by more than perimeter x 1e-8 m), its pieces
    replaced, and the repair logged. Exact cases are untouched.
    """
    summed = np.bincount(parcel, weights=shapely.area(geom), minlength=len(pgeoms))
    area = shapely.area(pgeoms)
    bad = np.flatnonzero(np.abs(summed - area) > AREA_RTOL * np.maximum(area, 1.0))
    if not len(bad):
        return parcel, zone, geom
    keep = ~np.isin(parcel, bad)
    new_p, new_z, new_g = [parcel[keep]], [zone[keep]], [geom[keep]]
    ztree = shapely.STRtree(zgeoms)
    for b in bad:
        faces = ztree.query(pgeoms[b], predicate="intersects")
        inter = _polygonal_parts(shapely.intersection(pgeoms[b], zgeoms[faces], grid_size=SNAP_GRID_M))
        real = shapely.area(inter) > 0
        rest = pgeoms[b]
        for f in faces:
            rest = shapely.difference(rest, zgeoms[f], grid_size=SNAP_GRID_M)
        rest = _polygonal_parts(np.array([rest], dtype=object))
        has_rest = shapely.area(rest) > 0
        new_p += [np.full(int(real.sum()) + int(has_rest.sum()), b)]
        new_z += [faces[real], np.full(int(has_rest.sum()), -1)]
        new_g += [inter[real], rest[has_rest]]
    log.warning(
        "overlay: %d parcels whose pieces did not add up to their area (a floating-point overlay "
        "failure on slivers) were cut again with %g m snap-rounding", len(bad), SNAP_GRID_M,
    )
    return np.concatenate(new_p), np.concatenate(new_z), np.concatenate(new_g)


def overlay_parcels(
    parcels: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    progress: bool = False,
) -> gpd.GeoDataFrame:
    """Split every parcel into its pieces per zone membership.

    Parameters
    ----------
    parcels
        Parcels with ``parcel_id`` (unique) and any attributes, in the zones' CRS.
    zones
        National zone layer (non-overlapping faces) from :func:`n2kzones.zones.national_zones`.
    progress
        Show a progress bar over the zone faces.

    Returns
    -------
    GeoDataFrame
        One row per piece: ``parcel_id, zone_key`` (``""`` outside every zone),
        ``area_codes, width_m`` (0 outside), ``inside_area, area_m2, share`` (of the
        parcel's area), the parcel's other attributes, geometry. For every parcel the
        pieces' ``area_m2`` add up to the parcel's area.
    """
    if parcels.crs != zones.crs:
        raise ValueError(f"parcels ({parcels.crs}) and zones ({zones.crs}) must share a CRS")
    t0 = time.perf_counter()
    pgeoms = parcels.geometry.to_numpy()
    tree = shapely.STRtree(pgeoms)
    zgeoms = zones.geometry.to_numpy()
    shapely.prepare(zgeoms)

    def cut_face(z: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Face ``z``: the parcels wholly in it, and those on its edge with their pieces."""
        idx = tree.query(zgeoms[z], predicate="intersects")
        inside = shapely.contains_properly(zgeoms[z], pgeoms[idx])
        edge = idx[~inside]
        inter = _polygonal_parts(shapely.intersection(pgeoms[edge], zgeoms[z]))
        real = shapely.area(inter) > 0  # touching only: no piece
        bar.update(1)
        return idx[inside], edge[real], inter[real]

    # Faces are independent (each prepared face is used by one thread only); results are
    # taken in face order, so the pieces do not depend on the number of threads.
    faces = range(len(zgeoms))
    with tqdm(total=len(faces), desc="overlay", unit="face", disable=not progress) as bar:
        cuts = thread_map(cut_face, list(faces))
    piece_parcel: list[np.ndarray] = []
    piece_zone: list[np.ndarray] = []
    piece_geom: list[np.ndarray] = []
    cut_parcel: list[np.ndarray] = []
    cut_zone: list[np.ndarray] = []
    n_inside = 0
    for z, (whole, edge, inter) in zip(faces, cuts, strict=True):
        if not len(whole) and not len(edge):
            continue
        n_inside += len(whole)
        piece_parcel += [whole, edge]
        piece_zone += [np.full(len(whole), z), np.full(len(edge), z)]
        piece_geom += [pgeoms[whole], inter]
        cut_parcel.append(edge)
        cut_zone.append(np.full(len(edge), z))

    pp = np.concatenate(piece_parcel) if piece_parcel else np.empty(0, np.int64)
    pz = np.concatenate(piece_zone) if piece_zone else np.empty(0, np.int64)
    pg = np.concatenate(piece_geom) if piece_geom else np.empty(0, object)

    # Outside pieces: parcels touching no face are whole; cut parcels lose their zone pieces.
    in_any = np.zeros(len(parcels), bool)
    in_any[pp] = True
    untouched = np.flatnonzero(~in_any)
    cp = np.concatenate(cut_parcel) if cut_parcel else np.empty(0, np.int64)
    cz = np.concatenate(cut_zone) if cut_zone else np.empty(0, np.int64)
    order = np.lexsort((cz, cp))
    cp, cz = cp[order], cz[order]
    cut_ids, first = np.unique(cp, return_index=True)
    remainder = pgeoms[cut_ids].copy()
    # Subtract the zone faces of each cut parcel, one round per face (vectorised per round).
    counts = np.diff(np.append(first, len(cp)))
    for r in range(int(counts.max()) if len(counts) else 0):
        sel = np.flatnonzero(counts > r)
        remainder[sel] = _in_chunks(shapely.difference, remainder[sel], zgeoms[cz[first[sel] + r]])
    remainder = _polygonal_parts(remainder)
    has_rest = shapely.area(remainder) > 0

    out_parcel = np.concatenate([pp, untouched, cut_ids[has_rest]])
    out_zone = np.concatenate([pz, np.full(len(untouched), -1), np.full(int(has_rest.sum()), -1)])
    out_geom = np.concatenate([pg, pgeoms[untouched], remainder[has_rest]])
    out_parcel, out_zone, out_geom = _conserve_area(pgeoms, zgeoms, out_parcel, out_zone, out_geom)

    zone_attrs = zones[["zone_key", "area_codes", "width_m", "inside_area"]].reset_index(drop=True)
    outside = pd.DataFrame({"zone_key": [OUTSIDE], "area_codes": [""], "width_m": [0.0], "inside_area": [False]})
    zone_table = pd.concat([zone_attrs, outside], ignore_index=True)  # index -1 -> last row
    zpos = np.where(out_zone < 0, len(zone_table) - 1, out_zone)

    attrs = parcels.drop(columns=parcels.geometry.name).reset_index(drop=True)
    pieces = pd.concat(
        [
            attrs[["parcel_id"]].iloc[out_parcel].reset_index(drop=True),
            zone_table.iloc[zpos].reset_index(drop=True),
            attrs.drop(columns=["parcel_id"]).iloc[out_parcel].reset_index(drop=True),
        ],
        axis=1,
    )
    pieces["area_m2"] = shapely.area(out_geom)
    parcel_area = shapely.area(pgeoms)[out_parcel]
    pieces["share"] = np.divide(pieces["area_m2"].to_numpy(), parcel_area, out=np.zeros(len(out_parcel)), where=parcel_area > 0)
    pieces = gpd.GeoDataFrame(pieces, geometry=out_geom, crs=parcels.crs)
    pieces = pieces.iloc[np.lexsort((pieces["zone_key"].to_numpy(), out_parcel))].reset_index(drop=True)
    log.info(
        "overlay: %d parcels -> %d pieces; %d wholly in one zone face, %d cut on a zone edge, "
        "%d untouched (%.1f s)",
        len(parcels), len(pieces), n_inside, len(cut_ids), len(untouched), time.perf_counter() - t0,
    )
    return pieces


def overlay_farms(
    farms: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
) -> gpd.GeoDataFrame:
    """Zone membership of every farm and its distance to the nearest nitrogen-sensitive area.

    Parameters
    ----------
    farms
        Farm points with ``farm_id``.
    zones
        National zone layer (non-overlapping faces).
    areas
        Protected areas with ``site_code`` and ``nitrogen_sensitive``.

    Returns
    -------
    GeoDataFrame
        The farms with ``zone_key`` (``""`` outside), ``area_codes``, ``width_m`` (0 outside),
        ``inside_area``, ``nearest_site_code`` and ``distance_to_area_m`` (0 inside the area;
        distance to the edge of the nearest nitrogen-sensitive area otherwise).
    """
    out = farms.reset_index(drop=True).copy()
    pts = out.geometry.to_numpy()
    zgeoms = zones.geometry.to_numpy()
    ztree = shapely.STRtree(zgeoms)
    f_idx, z_idx = ztree.query(pts, predicate="intersects")
    # A point on the shared edge of two faces: take the face with the largest width, then key.
    order = np.lexsort((zones["zone_key"].to_numpy()[z_idx], -zones["width_m"].to_numpy()[z_idx], f_idx))
    f_idx, z_idx = f_idx[order], z_idx[order]
    first = np.unique(f_idx, return_index=True)[1]
    zone_of = np.full(len(out), -1)
    zone_of[f_idx[first]] = z_idx[first]
    inzone = zone_of >= 0
    out["zone_key"] = OUTSIDE
    out["area_codes"] = ""
    out["width_m"] = 0.0
    out["inside_area"] = False
    for col in ("zone_key", "area_codes", "width_m", "inside_area"):
        out.loc[inzone, col] = zones[col].to_numpy()[zone_of[inzone]]

    sensitive = areas[areas["nitrogen_sensitive"].to_numpy(bool)].reset_index(drop=True)
    out["nearest_site_code"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out["distance_to_area_m"] = np.nan
    if len(sensitive):
        atree = shapely.STRtree(sensitive.geometry.to_numpy())
        (fi, ai), dist = atree.query_nearest(pts, return_distance=True, all_matches=False)
        out.loc[fi, "nearest_site_code"] = sensitive["site_code"].to_numpy()[ai]
        out.loc[fi, "distance_to_area_m"] = dist
    log.info(
        "farms: %d in a zone (%d inside an area), %d outside every zone",
        int(inzone.sum()), int(out["inside_area"].sum()), int((~inzone).sum()),
    )
    return out


def land_by_farm(parcels: pd.DataFrame) -> pd.DataFrame:
    """Land and grassland of every farm's linked parcels (a combinable partial result).

    Parameters
    ----------
    parcels
        Parcels with ``category`` and geometry (or ``area_m2``), and optionally ``farm_id``;
        or earlier results of this function, which combine by summing again.

    Returns
    -------
    DataFrame
        ``farm_id, land_q, grassland_q``: int64 multiples of
        :data:`n2kzones.summary.AREA_QUANTUM_M2` (exact sums, independent of partitioning).
    """
    empty = pd.DataFrame({"farm_id": pd.Series(dtype="string"), "land_q": pd.Series(dtype=np.int64), "grassland_q": pd.Series(dtype=np.int64)})
    if "farm_id" not in parcels.columns:
        return empty
    linked = parcels.loc[parcels["farm_id"].notna()]
    if "land_q" in linked.columns:
        frame = linked[["farm_id", "land_q", "grassland_q"]]
    else:
        q = area_quanta(linked.geometry.area if "area_m2" not in linked else linked["area_m2"])
        frame = pd.DataFrame(
            {"farm_id": linked["farm_id"].astype("string").to_numpy(), "land_q": q, "grassland_q": np.where(linked["category"].to_numpy() == "Grasland", q, 0)}
        )
    if frame.empty:
        return empty
    return frame.groupby("farm_id", sort=True, as_index=False)[["land_q", "grassland_q"]].sum()


def farm_land_use(
    farms: gpd.GeoDataFrame,
    land: pd.DataFrame,
    params: Parameters,
) -> pd.DataFrame:
    """Livestock units per hectare and grassland share of every farm's linked parcels.

    Parameters
    ----------
    farms
        Farms with ``farm_id`` and animal counts per category of ``params.livestock``.
    land
        Land per farm from :func:`land_by_farm` (of the parcels with their ``farm_id`` link).
    params
        GVE factors and the land-based norm.

    Returns
    -------
    DataFrame
        Per farm: ``gve`` (all livestock), ``gve_grazing`` (grazing livestock),
        ``land_ha``, ``grassland_ha``, ``gve_per_ha``, ``gve_grazing_per_ha``,
        ``grassland_share`` and ``meets_land_based_norm`` (grazing livestock only: at most
        ``max_gve_per_ha`` and at least ``min_grassland_share`` grassland; NA for farms
        without grazing livestock or without linked land).
    """
    cats = params.animal_categories
    counts = farms[cats].astype(float).to_numpy()
    gve_factor = np.array([params.livestock[c].gve_per_animal for c in cats])
    grazing = np.array([params.livestock[c].grazing for c in cats])
    res = pd.DataFrame({"farm_id": farms["farm_id"].to_numpy()})
    res["gve"] = counts @ gve_factor
    res["gve_grazing"] = counts[:, grazing] @ gve_factor[grazing]
    per_farm = land_by_farm(land).set_index("farm_id")
    ha_per_q = AREA_QUANTUM_M2 / 1e4
    res["land_ha"] = res["farm_id"].map(per_farm["land_q"]).fillna(0).astype(np.int64) * ha_per_q
    res["grassland_ha"] = res["farm_id"].map(per_farm["grassland_q"]).fillna(0).astype(np.int64) * ha_per_q
    has_land = res["land_ha"] > 0
    res["gve_per_ha"] = np.where(has_land, res["gve"] / res["land_ha"].where(has_land, 1), np.nan)
    res["gve_grazing_per_ha"] = np.where(has_land, res["gve_grazing"] / res["land_ha"].where(has_land, 1), np.nan)
    res["grassland_share"] = np.where(has_land, res["grassland_ha"] / res["land_ha"].where(has_land, 1), np.nan)
    norm = params.land_based
    meets = (res["gve_grazing_per_ha"] <= norm.max_gve_per_ha) & (res["grassland_share"] >= norm.min_grassland_share)
    applicable = has_land & (res["gve_grazing"] > 0)
    res["meets_land_based_norm"] = pd.array(np.where(applicable, meets, pd.NA), dtype="boolean")
    return res
