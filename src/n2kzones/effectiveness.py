"""Zone effectiveness: deposition reduction per kg NH3 reduced inside the zones vs outside.

A uniform marginal cut of ``effectiveness_cut_pct`` % of every farm's emission is applied,
once to the farms inside the zones and once to the farms outside them (one deposition pass
with the two groups). For each group the reduction on nitrogen-sensitive habitat is
expressed per kg NH3/yr reduced, as the habitat-weighted mean (mol N/ha/yr per kg NH3/yr)
and as the habitat-summed total (mol N/yr per kg NH3/yr); the ratio inside/outside is the
same for both (same receptors, same weights). The cabinet states 2.5-3x; this module reports
what the model gives.

Nationally "inside" means every farm in some zone (``zone_key != ''``) and the receptors are
all receptors. Per area the receptors are that area's, and "inside" means the farms in that
area's own zone (``site_code`` in the farm's ``;``-separated ``area_codes``) versus all other
farms (including those in other areas' zones). Because the cut is linear, the per-area
outside part is the all-farm cut minus the area's inside part, computed exactly that way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from n2kzones.deposition.model import DepositionModel
from n2kzones.overload import positions_by_code
from n2kzones.selection import sort_inputs

log = logging.getLogger(__name__)

#: Relative tolerance below which the outside reduction is float noise, not an effect:
#: ``1e6`` float64 machine epsilons (``1e6 * 2.22e-16 = 2.2e-10``). The outside reduction per
#: receptor is the all-farm reduction minus the inside part, each a float64 sum over farms (and
#: an FFT on the grid engine) and then summed over receptors; Higham's bound on the rounding
#: error of a float64 sum of ``n`` terms is ``n * eps`` of the sum of the magnitudes, so up to
#: 10^6 terms stay below this. A smaller outside effect cannot be told from rounding and gives
#: a meaningless ratio (5.7e17 was seen); no real effect is 10^-10 of the inside one.
OUTSIDE_NOISE_RTOL = 1e6 * float(np.finfo(np.float64).eps)

EFFECTIVENESS_COLUMNS = [
    "site_code",
    "name",
    "receptors",
    "sensitive_ha",
    "cut_pct",
    "farms_inside",
    "farms_outside",
    "nh3_cut_inside_kg",
    "nh3_cut_outside_kg",
    "reduction_inside_mean_mol_ha",
    "reduction_outside_mean_mol_ha",
    "reduction_inside_sum_mol",
    "reduction_outside_sum_mol",
    "per_kg_inside_mean_mol_ha",
    "per_kg_outside_mean_mol_ha",
    "per_kg_inside_sum_mol",
    "per_kg_outside_sum_mol",
    "ratio_inside_outside",
]


def in_area_zone(area_codes: pd.Series, site_code: str) -> np.ndarray:
    """Boolean per farm: is ``site_code`` among its ``;``-separated ``area_codes``."""
    codes = area_codes.fillna("").astype(str)
    return np.array([site_code in s.split(";") for s in codes], dtype=bool)


def zone_members(area_codes: pd.Series) -> dict[str, list[int]]:
    """Per site code, the positions of the farms in its zone: the membership of
    :func:`in_area_zone` (``site_code`` among the ``;``-separated ``area_codes``) for every
    area in one pass over the farms (a farm in several zones is listed under each)."""
    out: dict[str, list[int]] = {}
    for i, s in enumerate(area_codes.fillna("").astype(str).to_numpy(dtype=object)):
        for code in dict.fromkeys(s.split(";")):
            if code:
                out.setdefault(code, []).append(i)
    return out


def in_area_zones(area_codes: pd.Series, site_codes: Iterable[str]) -> dict[str, np.ndarray]:
    """:func:`in_area_zone` for each of ``site_codes`` (boolean per farm), from one pass over
    the farms (:func:`zone_members`)."""
    members = zone_members(area_codes)
    n = len(area_codes)
    out: dict[str, np.ndarray] = {}
    for code in site_codes:
        if not code:  # "" is no zone's code; in_area_zone's reading of it is kept
            out[code] = in_area_zone(area_codes, code)
            continue
        mask = np.zeros(n, dtype=bool)
        mask[np.asarray(members.get(code, []), dtype=np.int64)] = True
        out[code] = mask
    return out


def effect_ratio(sum_in: float, sum_out: float, kg_in: float, kg_out: float) -> float:
    """Ratio of the reduction per kg NH3 cut inside to that outside the zones.

    Parameters
    ----------
    sum_in, sum_out
        Habitat-summed deposition reduction (mol N/yr) from the cut inside and outside.
    kg_in, kg_out
        NH3 cut inside and outside (kg NH3/yr).

    Returns
    -------
    float
        ``(sum_in / kg_in) / (sum_out / kg_out)``, or NaN ("n/a"; an empty cell in
        ``zone_effectiveness.csv``) when a group cuts nothing (``kg <= 0``), when there is no
        reduction at all, or when ``|sum_out|`` is at most :data:`OUTSIDE_NOISE_RTOL` times
        ``|sum_in| + |sum_out|`` (the scale of the summed deposition): such an outside effect
        is float64 rounding of the summed deposition, and dividing by it gives a ratio like
        5.7e17 that means nothing.
    """
    if not (kg_in > 0 and kg_out > 0 and np.isfinite(sum_in) and np.isfinite(sum_out)):
        return np.nan
    scale = abs(sum_in) + abs(sum_out)
    if scale == 0 or abs(sum_out) <= OUTSIDE_NOISE_RTOL * scale or sum_out < 0:
        return np.nan
    return (sum_in / kg_in) / (sum_out / kg_out)


def _row(
    code: str,
    name: str,
    w: np.ndarray,
    red_in: np.ndarray,
    red_out: np.ndarray,
    n_in: int,
    n_out: int,
    kg_in: float,
    kg_out: float,
    cut_pct: float,
) -> dict:
    ha = float(w.sum())
    mean_in = float(np.average(red_in, weights=w)) if ha > 0 else np.nan
    mean_out = float(np.average(red_out, weights=w)) if ha > 0 else np.nan
    sum_in, sum_out = float((red_in * w).sum()), float((red_out * w).sum())

    def per(x: float, kg: float) -> float:
        return x / kg if kg > 0 else np.nan

    pk_in, pk_out = per(sum_in, kg_in), per(sum_out, kg_out)
    return {
        "site_code": code,
        "name": name,
        "receptors": int(w.size),
        "sensitive_ha": ha,
        "cut_pct": cut_pct,
        "farms_inside": n_in,
        "farms_outside": n_out,
        "nh3_cut_inside_kg": kg_in,
        "nh3_cut_outside_kg": kg_out,
        "reduction_inside_mean_mol_ha": mean_in,
        "reduction_outside_mean_mol_ha": mean_out,
        "reduction_inside_sum_mol": sum_in,
        "reduction_outside_sum_mol": sum_out,
        "per_kg_inside_mean_mol_ha": per(mean_in, kg_in),
        "per_kg_outside_mean_mol_ha": per(mean_out, kg_out),
        "per_kg_inside_sum_mol": pk_in,
        "per_kg_outside_sum_mol": pk_out,
        "ratio_inside_outside": effect_ratio(sum_in, sum_out, kg_in, kg_out),
    }


def zone_effectiveness(
    areas: gpd.GeoDataFrame | None,
    farms: gpd.GeoDataFrame,
    receptors: gpd.GeoDataFrame,
    model: DepositionModel,
    *,
    cut_pct: float = 1.0,
) -> pd.DataFrame:
    """Deposition reduction per kg NH3 cut inside vs outside the zones, nationally and per area.

    Parameters
    ----------
    areas
        Areas with ``site_code`` and ``name`` (for names; None: names = codes).
    farms
        Farms with ``farm_id``, ``emission_kg_nh3`` (kg NH3/yr), ``zone_key`` (``''``
        outside every zone) and ``area_codes`` (``;``-separated).
    receptors
        Receptors with ``receptor_id``, ``site_code`` and ``habitat_ha``.
    model
        Deposition kernel and settings.
    cut_pct
        Uniform cut of every farm's emission, in %.

    Returns
    -------
    DataFrame
        See :func:`effectiveness_by_membership`; "inside" is a farm in some zone nationally
        and a farm in the area's own zone per area.
    """
    _, farms, receptors = sort_inputs(None, farms, receptors)
    names = (
        {}
        if areas is None
        else dict(zip(areas["site_code"].astype(str), areas["name"].astype(str), strict=True))
    )
    inside = farms["zone_key"].fillna("").astype(str).to_numpy() != ""
    codes = sorted(set(receptors["site_code"].astype(str)))
    by_area = in_area_zones(farms["area_codes"], codes)
    return effectiveness_by_membership(
        farms, receptors, model, inside, by_area, names=names, cut_pct=cut_pct
    )


def effectiveness_by_membership(
    farms: gpd.GeoDataFrame,
    receptors: gpd.GeoDataFrame,
    model: DepositionModel,
    inside_national: np.ndarray,
    inside_by_area: Mapping[str, np.ndarray],
    *,
    names: Mapping[str, str] | None = None,
    cut_pct: float = 1.0,
) -> pd.DataFrame:
    """Deposition reduction per kg NH3 cut by the farms of a membership mask against the others.

    The zone rule is whatever made the masks: :func:`zone_effectiveness` takes the zones of
    the overlay, :func:`n2kzones.zone_variants.compare_zone_bases` other zone bases.

    Parameters
    ----------
    farms
        Farms with ``emission_kg_nh3`` (kg NH3/yr) and point geometry (m), in the order of the
        masks (sort them with :func:`n2kzones.selection.sort_inputs` first for results that do
        not depend on the input order).
    receptors
        Receptors with ``site_code`` and ``habitat_ha`` (ha), sorted likewise.
    model
        Deposition kernel and settings (the only deposition computation here).
    inside_national
        Boolean per farm: "inside" for the national row.
    inside_by_area
        Boolean per farm for each ``site_code``: "inside" for that area's row; an area with
        receptors and no entry has no farm inside.
    names
        Area name per site code (default: the code).
    cut_pct
        Uniform cut of every farm's emission, in %.

    Returns
    -------
    DataFrame
        :data:`EFFECTIVENESS_COLUMNS`: one row per area with receptors (by ``site_code``) and
        a national row ``"ALL"``: farms and kg NH3/yr cut per group, reduction
        (habitat-weighted mean, mol N/ha/yr; habitat-summed, mol N/yr), the same per kg
        NH3/yr cut, and ``ratio_inside_outside`` (:func:`effect_ratio`: NaN where the outside
        effect is float noise or nothing is cut). Per area the outside part is the all-farm
        reduction minus the inside part (the cut is linear).
    """
    names = dict(names or {})
    inside = np.asarray(inside_national, dtype=bool)
    cut = farms["emission_kg_nh3"].to_numpy(float) * (cut_pct / 100.0)
    sx, sy = farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy()
    rx, ry = receptors.geometry.x.to_numpy(), receptors.geometry.y.to_numpy()
    w = receptors["habitat_ha"].to_numpy(float)
    by_group = model.at_points(
        sx, sy, cut, rx, ry, groups=np.where(inside, 0, 1).astype(np.int64), n_groups=2,
        **model.classes_for(farms, receptors),
    )
    all_farms = by_group.sum(axis=0)
    rows = []
    site = receptors["site_code"].astype(str).to_numpy()
    none = np.zeros(len(farms), dtype=bool)
    radial = model.classes is None
    for code, sel in sorted(positions_by_code(site).items()):
        mine = np.asarray(inside_by_area.get(code, none), dtype=bool)
        f = np.flatnonzero(mine)
        classes = {} if radial else model.classes_for(farms.iloc[f], receptors.iloc[sel])
        red_in = (
            model.at_points(sx[f], sy[f], cut[f], rx[sel], ry[sel], **classes)
            if f.size
            else np.zeros(sel.size)
        )
        red_out = np.clip(all_farms[sel] - red_in, 0.0, None)
        rows.append(
            _row(
                code,
                names.get(code, code),
                w[sel],
                red_in,
                red_out,
                int(mine.sum()),
                int((~mine).sum()),
                float(cut[mine].sum()),
                float(cut[~mine].sum()),
                cut_pct,
            )
        )
    rows.append(
        _row(
            "ALL",
            "all areas",
            w,
            by_group[0],
            by_group[1],
            int(inside.sum()),
            int((~inside).sum()),
            float(cut[inside].sum()),
            float(cut[~inside].sum()),
            cut_pct,
        )
    )
    out = pd.DataFrame(rows, columns=EFFECTIVENESS_COLUMNS)
    nat = out.iloc[-1]
    log.info(
        "zone effectiveness: %.3g vs %.3g mol N/yr per kg NH3 inside/outside the zones: ratio %.2f",
        nat["per_kg_inside_sum_mol"],
        nat["per_kg_outside_sum_mol"],
        nat["ratio_inside_outside"],
    )
    return out
