"""Stage ``select``: propose zone widths from the deposition the zones would carry.

The Kamerbrief gives a 1000 m zone to the ~15 areas "with a high nitrogen overload from the
zone", 500 m to the others, and no zone where a zone adds too little (e.g. large waters).
This module makes that choice reproducible: for every nitrogen-sensitive area it computes
the farm deposition on the area's *overloaded* habitat (receptors of that ``site_code`` whose
total deposition exceeds the KDW) that comes from farms within 500 m and within 500-1000 m
of the area's edge (farms inside the area count as 0 m), as a habitat-weighted mean in
mol N/ha/yr and as a share of all farm deposition there. Areas are ranked by the deposition
from within 1000 m; the top ``selection.n_wide`` get the wide width, the others the default
width, and areas below ``selection.min_contribution_mol_ha`` (or without overloaded habitat,
or not nitrogen-sensitive) get none. An area without any habitat data (no polygon of
its ``site_code`` in the habitat map) gets no proposal: ``habitat_data`` is False,
``overloaded_ha`` and the widths are NaN and the reason code is :data:`UNKNOWN_NO_HABITAT`,
never "no overloaded habitat". The official list (``zones.overrides_csv`` and
``zones.overrides``) overrides the proposal in ``final_width_m``.

Computation: one deposition pass from all farms to all overloaded receptors (the total) and,
per area, one small pass from only the farms within 1000 m of it, split into the two distance
bands with ``groups`` (the remainder is the "farther" group). Inputs are sorted by their ids
first, so results do not depend on input row order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from n2kzones.errors import InputError

if TYPE_CHECKING:  # annotations only: the deposition engine (Numba) comes with the model
    from n2kzones.deposition.model import DepositionModel

log = logging.getLogger(__name__)

#: Why an area gets its proposed width (``reason_code``); the select stage writes each as a
#: sentence in the project language (``reason``, catalogue keys ``area.reason_<code>``).
REASON_CODES = (
    "not_sensitive",  # not nitrogen-sensitive: no zone
    "no_habitat_data",  # no habitat data: the deposition on it, and so the decision, is unknown
    "no_overload",  # no overloaded habitat: no zone
    "below_minimum",  # farms within 1000 m add less than min_contribution_mol_ha: no zone
    "wide",  # among the top n_wide by deposition from within 1000 m: wide zone
    "default",  # ranked below the top n_wide: default zone
)
#: Zone decision of an area without any habitat data (the deposition on it is unknown).
UNKNOWN_NO_HABITAT = "no_habitat_data"

#: Distance bands from the area edge, in m: group 0 = [0, 500], group 1 = (500, 1000].
BANDS_M = (500.0, 1000.0)

PROPOSAL_COLUMNS = [
    "site_code",
    "name",
    "nitrogen_sensitive",
    "habitat_data",
    "overloaded_ha",
    "n_farms_within_500m",
    "n_farms_500_1000m",
    "dep_within_500m_mol_ha",
    "dep_500_1000m_mol_ha",
    "dep_within_1000m_mol_ha",
    "dep_farms_total_mol_ha",
    "share_from_zone_pct",
    "rank",
    "proposed_width_m",
    "official_width_m",
    "final_width_m",
    "reason_code",
]


def sort_inputs(
    areas: pd.DataFrame | None = None,
    farms: pd.DataFrame | None = None,
    receptors: pd.DataFrame | None = None,
) -> tuple:
    """Sort areas by ``site_code``, farms by ``farm_id``, receptors by ``receptor_id``.

    Floating-point sums depend on the order of their terms; sorting by ids first makes every
    result independent of the input row order. Values (m, mol N/ha/yr, kg NH3/yr) are unchanged.
    """
    out = []
    for df, key in ((areas, "site_code"), (farms, "farm_id"), (receptors, "receptor_id")):
        if df is None:
            out.append(None)
            continue
        if df[key].duplicated().any():
            raise InputError(
                f"{key} must be unique; repeated: "
                f"{sorted(df.loc[df[key].duplicated(), key].astype(str))[:5]}"
            )
        out.append(df.sort_values(key, kind="stable").reset_index(drop=True))
    return tuple(out)


def farm_area_pairs(
    farms: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, max_distance_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (farm, area) pairs closer than ``max_distance_m`` to the area polygon.

    Returns
    -------
    (farm_index, area_index, distance_m)
        Positional indices into ``farms`` and ``areas`` and the distance from the farm point
        to the area's polygon in m (0 inside), sorted by area then farm.
    """
    pts = farms.geometry.to_numpy()
    geoms = areas.geometry.to_numpy()
    if len(pts) == 0 or len(geoms) == 0:
        e = np.empty(0, np.int64)
        return e, e, np.empty(0)
    tree = shapely.STRtree(geoms)
    fi, ai = tree.query(pts, predicate="dwithin", distance=max_distance_m)
    dist = shapely.distance(pts[fi], geoms[ai])
    keep = dist <= max_distance_m
    fi, ai, dist = fi[keep], ai[keep], dist[keep]
    order = np.lexsort((fi, ai))
    return fi[order].astype(np.int64), ai[order].astype(np.int64), dist[order]


def zone_contributions(
    areas: gpd.GeoDataFrame,
    farms: gpd.GeoDataFrame,
    receptors: gpd.GeoDataFrame,
    model: DepositionModel,
    *,
    bands_m: tuple[float, float] = BANDS_M,
    habitat_sites: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Farm deposition on each area's overloaded habitat from within 500 m and 500-1000 m.

    Parameters
    ----------
    areas
        Areas with ``site_code``, ``name``, ``nitrogen_sensitive`` and polygons (m).
    farms
        Farm points with ``farm_id`` and ``emission_kg_nh3`` (kg NH3/yr).
    receptors
        Receptor points with ``receptor_id``, ``site_code``, ``habitat_ha`` and ``overload``.
    model
        Deposition kernel and settings.
    bands_m
        Inner and outer band limits from the area edge, in m.
    habitat_sites
        Site codes the habitat map has any habitat of (sensitive or not); default: those of
        the receptors. An area not among them has no habitat data: its overload is unknown.

    Returns
    -------
    DataFrame
        One row per area (sorted by ``site_code``): ``habitat_data`` (the area is in
        ``habitat_sites``), ``overloaded_ha`` (NaN without habitat data), ``n_farms_within_500m``,
        ``n_farms_500_1000m``, and habitat-weighted means over the overloaded receptors in
        mol N/ha/yr: ``dep_within_500m_mol_ha``, ``dep_500_1000m_mol_ha``,
        ``dep_within_1000m_mol_ha``, ``dep_farms_total_mol_ha``, and ``share_from_zone_pct``
        (within 1000 m as % of all farm deposition there). NaN where there is no overloaded
        habitat.
    """
    inner, outer = map(float, bands_m)
    areas, farms, receptors = sort_inputs(areas, farms, receptors)
    over = receptors.loc[receptors["overload"].to_numpy(bool)].reset_index(drop=True)
    sx, sy = farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy()
    em = farms["emission_kg_nh3"].to_numpy(float)
    rx, ry = over.geometry.x.to_numpy(), over.geometry.y.to_numpy()
    total = model.at_points(sx, sy, em, rx, ry, **model.classes_for(farms, over))  # all farms, every overloaded receptor
    fi, ai, dist = farm_area_pairs(farms, areas, outer)
    site = over["site_code"].astype(str).to_numpy()
    with_habitat = set(receptors["site_code"].astype(str))
    if habitat_sites is not None:
        with_habitat |= set(map(str, habitat_sites))
    ha = over["habitat_ha"].to_numpy(float)
    rows = []
    starts = np.searchsorted(ai, np.arange(len(areas) + 1))
    for a, code in enumerate(areas["site_code"].astype(str)):
        f, d = fi[starts[a] : starts[a + 1]], dist[starts[a] : starts[a + 1]]
        band = np.where(d <= inner, 0, 1).astype(np.int64)
        sel = np.flatnonzero(site == code)
        w = ha[sel]
        row = {
            "site_code": code,
            "habitat_data": code in with_habitat,
            "overloaded_ha": float(w.sum()) if code in with_habitat else np.nan,
            "n_farms_within_500m": int((band == 0).sum()),
            "n_farms_500_1000m": int((band == 1).sum()),
        }
        if w.sum() > 0:
            near = model.at_points(
                sx[f], sy[f], em[f], rx[sel], ry[sel], groups=band, n_groups=2,
                **model.classes_for(farms.iloc[f], over.iloc[sel]),
            )
            d500, d1000 = (float(np.average(near[g], weights=w)) for g in (0, 1))
            tot = float(np.average(total[sel], weights=w))
            row |= {
                "dep_within_500m_mol_ha": d500,
                "dep_500_1000m_mol_ha": d1000,
                "dep_within_1000m_mol_ha": d500 + d1000,
                "dep_farms_total_mol_ha": tot,
                "share_from_zone_pct": 100.0 * (d500 + d1000) / tot if tot > 0 else np.nan,
            }
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in (
        "dep_within_500m_mol_ha",
        "dep_500_1000m_mol_ha",
        "dep_within_1000m_mol_ha",
        "dep_farms_total_mol_ha",
        "share_from_zone_pct",
    ):
        if c not in out.columns:
            out[c] = np.nan
    out.insert(
        1,
        "name",
        areas["name"].astype(str).to_numpy() if "name" in areas.columns else out["site_code"],
    )
    sens = (
        areas["nitrogen_sensitive"].to_numpy(bool)
        if "nitrogen_sensitive" in areas.columns
        else np.ones(len(areas), bool)
    )
    out.insert(2, "nitrogen_sensitive", sens)
    return out


def propose_widths(
    contrib: pd.DataFrame,
    *,
    n_wide: int,
    wide_width_m: float,
    default_width_m: float,
    min_contribution_mol_ha: float,
    official: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Rank areas by the deposition from within 1000 m and propose a zone width per area.

    Parameters
    ----------
    contrib
        Output of :func:`zone_contributions`.
    n_wide
        Number of top-ranked areas that get ``wide_width_m``.
    wide_width_m, default_width_m
        Zone widths in m.
    min_contribution_mol_ha
        Areas whose deposition from within 1000 m (mol N/ha/yr on overloaded habitat) is
        below this get no zone.
    official
        Official widths per ``site_code`` (m); they override the proposal in ``final_width_m``.

    Returns
    -------
    DataFrame
        ``contrib`` plus ``rank`` (1 = largest contribution, among nitrogen-sensitive areas
        with overloaded habitat; ties by ``site_code``), ``proposed_width_m``,
        ``official_width_m`` (NaN if not listed), ``final_width_m`` and ``reason_code`` (one
        of :data:`REASON_CODES`). A nitrogen-sensitive area without habitat data
        (``habitat_data`` False) has reason code :data:`UNKNOWN_NO_HABITAT`,
        ``proposed_width_m`` NaN and ``final_width_m`` NaN unless the official list gives a
        width.
    """
    out = contrib.copy()
    if "habitat_data" not in out:
        out.insert(3, "habitat_data", True)
    official = official or {}
    c1000 = out["dep_within_1000m_mol_ha"].to_numpy(float)
    eligible = (
        out["nitrogen_sensitive"].to_numpy(bool)
        & (out["overloaded_ha"].to_numpy(float) > 0)
        & np.isfinite(c1000)
    )
    idx = np.flatnonzero(eligible)
    codes = out["site_code"].astype(str).to_numpy()
    order = idx[np.lexsort((codes[idx], -c1000[idx]))]
    rank = np.full(len(out), np.nan)
    rank[order] = np.arange(1, len(order) + 1)
    width = np.zeros(len(out))
    known = out["habitat_data"].to_numpy(bool)
    reasons = []
    for i in range(len(out)):
        if not out["nitrogen_sensitive"].iloc[i]:
            reasons.append("not_sensitive")
        elif not known[i]:
            width[i] = np.nan
            reasons.append(UNKNOWN_NO_HABITAT)
        elif not out["overloaded_ha"].iloc[i] > 0:
            reasons.append("no_overload")
        elif c1000[i] < min_contribution_mol_ha:
            reasons.append("below_minimum")
        elif rank[i] <= n_wide:
            width[i] = wide_width_m
            reasons.append("wide")
        else:
            width[i] = default_width_m
            reasons.append("default")
    out["rank"] = pd.array(np.where(np.isnan(rank), pd.NA, rank), dtype="Int64")
    out["proposed_width_m"] = width
    out["official_width_m"] = pd.Series(codes).map(official).astype(float).to_numpy()
    out["final_width_m"] = np.where(
        np.isnan(out["official_width_m"]), width, out["official_width_m"]
    )
    out["reason_code"] = reasons
    return out[PROPOSAL_COLUMNS]
