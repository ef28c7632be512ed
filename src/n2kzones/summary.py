"""Per-area tables: hectares per crop category, farms, animals, livestock units and NH3 in
each area's zone, and the national totals without double counting overlapping zones."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from n2kzones.params import Parameters
from n2kzones.zones import INNER, RING, membership

NATIONAL = "ALL"

#: Land areas are summed as whole multiples of this many m2 (1 mm2). Integer sums are exact,
#: so the tables do not depend on the order or the partitioning of the parcels (the local
#: and the Dask engine give identical numbers) and the parts of a total add up exactly.
AREA_QUANTUM_M2 = 1e-6
_HA_PER_QUANTUM = AREA_QUANTUM_M2 / 1e4


def area_quanta(area_m2: np.ndarray | pd.Series) -> np.ndarray:
    """Areas in m2 as int64 multiples of :data:`AREA_QUANTUM_M2` (rounded to nearest)."""
    return np.rint(np.asarray(area_m2, dtype=float) / AREA_QUANTUM_M2).astype(np.int64)


def land_by_zone(pieces: pd.DataFrame) -> pd.DataFrame:
    """Land per zone face and crop category: the part of the parcel pieces the tables need.

    Parameters
    ----------
    pieces
        Parcel pieces with ``zone_key``, ``category`` and ``area_m2``, or an earlier result
        of this function (``area_q``): partial results of partitions combine by summing again.

    Returns
    -------
    DataFrame
        ``zone_key, category, area_q`` (int64 multiples of :data:`AREA_QUANTUM_M2`), sorted.
    """
    q = pieces["area_q"].to_numpy() if "area_q" in pieces else area_quanta(pieces["area_m2"])
    frame = pd.DataFrame(
        {"zone_key": pieces["zone_key"].astype(str).to_numpy(), "category": pieces["category"].astype(str).to_numpy(), "area_q": q}
    )
    return frame.groupby(["zone_key", "category"], sort=True, as_index=False)["area_q"].sum()


def _category_column(category: str) -> str:
    return "ha_" + "".join(ch if ch.isalnum() else "_" for ch in category.lower()).strip("_")


def _aggregate(
    land_q: pd.DataFrame,
    farms: pd.DataFrame,
    keys: list[str],
    animal_cols: list[str],
) -> pd.DataFrame:
    q = land_q.pivot_table(index=keys, columns="category", values="area_q", aggfunc="sum", fill_value=0, observed=True)
    land = q.astype(np.int64) * _HA_PER_QUANTUM
    land.columns = [_category_column(str(c)) for c in land.columns]
    land["parcels_ha"] = q.sum(axis=1).astype(np.int64) * _HA_PER_QUANTUM
    f = farms.groupby(keys, observed=True).agg(
        farms=("farm_id", "size"),
        **{f"animals_{c}": (c, "sum") for c in animal_cols},
        gve=("gve", "sum"),
        emission_kg_nh3=("emission_kg_nh3", "sum"),
    )
    return land.join(f, how="outer")


def area_summary(
    parts: gpd.GeoDataFrame,
    national: gpd.GeoDataFrame,
    land: pd.DataFrame,
    farms: pd.DataFrame,
    params: Parameters,
) -> pd.DataFrame:
    """One row per area and zone part (ring / inner), then national rows.

    Land and farms where zones of several areas overlap count for each of those areas; the
    national rows (``site_code == "ALL"``, per width and part, plus ``part == "outside"``)
    count every hectare and farm once, so they add up to the inputs.

    Parameters
    ----------
    parts
        Zones per area (:func:`n2kzones.zones.zone_parts`).
    national
        National zone faces (:func:`n2kzones.zones.national_zones`).
    land
        Land per zone face and category (:func:`land_by_zone` of the parcel pieces).
    farms
        Farms with zone membership, animal counts, ``gve`` and ``emission_kg_nh3``.
    params
        For the animal categories.

    Returns
    -------
    DataFrame
        ``site_code, name, part, width_m, zone_ha, ha_<category>..., parcels_ha, farms,
        animals_<category>..., gve, emission_kg_nh3``.
    """
    cats = params.animal_categories
    member = membership(national)
    land = land_by_zone(land)
    p = land.merge(member, on="zone_key")
    f = farms[["farm_id", "zone_key", "gve", "emission_kg_nh3", *cats]].merge(member, on="zone_key")
    per_area = _aggregate(p, f, ["site_code", "part"], cats)
    base = parts.drop(columns=parts.geometry.name).assign(zone_ha=lambda d: d["area_m2"] / 1e4)
    base = base[["site_code", "name", "part", "width_m", "zone_ha"]].set_index(["site_code", "part"])
    per_area = base.join(per_area, how="left").reset_index()

    # National: every face once; its width is the largest of the areas it serves.
    face_part = np.where(national["inside_area"], INNER, RING)
    face = national[["zone_key", "width_m"]].assign(part=face_part, zone_ha=national["area_m2"] / 1e4)
    p_nat = land.merge(face[["zone_key", "width_m", "part"]], on="zone_key", how="left")
    f_nat = farms[["farm_id", "zone_key", "gve", "emission_kg_nh3", *cats]].merge(face[["zone_key", "width_m", "part"]], on="zone_key", how="left")
    for frame in (p_nat, f_nat):
        outside = frame["part"].isna()
        frame.loc[outside, "part"] = "outside"
        frame.loc[outside, "width_m"] = 0.0
    nat = _aggregate(p_nat, f_nat, ["width_m", "part"], cats)
    nat = nat.join(face.groupby(["width_m", "part"])["zone_ha"].sum(), how="left").reset_index()
    nat["site_code"] = NATIONAL
    nat["name"] = np.where(nat["part"] == "outside", "outside every zone", "all areas, overlaps counted once")

    table = pd.concat([per_area, nat], ignore_index=True)
    count_cols = ["farms", *[f"animals_{c}" for c in cats]]
    value_cols = [c for c in table.columns if c not in ("site_code", "name", "part", "width_m")]
    table[value_cols] = table[value_cols].fillna(0.0)
    table[count_cols] = table[count_cols].astype("int64")
    land_cols = sorted(c for c in table.columns if c.startswith("ha_"))
    ordered = ["site_code", "name", "part", "width_m", "zone_ha", *land_cols, "parcels_ha", *count_cols, "gve", "emission_kg_nh3"]
    return table[ordered]


#: Descriptive farm columns of the input carried into ``farm_summary.csv`` (after ``farm_id``)
#: when the farm layer has them (optional canonical farm columns, see
#: :data:`n2kzones.io.presets.SCHEMAS`).
FARM_ATTRIBUTES: tuple[str, ...] = ("farm_type", "address", "municipality")


def farm_summary(farms: gpd.GeoDataFrame, params: Parameters) -> pd.DataFrame:
    """Farm table for the CSV output: id, type, address and municipality (when the input has
    them), location (m), zone, distance (m), animals, GVE, land (ha) and NH3 (kg/yr)."""
    cats = params.animal_categories
    cols = [
        "farm_id", *FARM_ATTRIBUTES, "x_m", "y_m", "zone_key", "area_codes", "width_m",
        "inside_area",
        "nearest_site_code", "distance_to_area_m", *cats, "gve", "gve_grazing", "land_ha",
        "grassland_share", "gve_per_ha", "gve_grazing_per_ha", "meets_land_based_norm", "emission_kg_nh3",
    ]
    out = farms.assign(x_m=farms.geometry.x, y_m=farms.geometry.y)
    return pd.DataFrame(out[[c for c in cols if c in out.columns]])
