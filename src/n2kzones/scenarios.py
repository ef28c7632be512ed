"""Stage ``scenario``: measures declared in the config and their effect on overload.

Kinds (``[[scenarios]]`` in the config; percentages are of the farms' current emission):

``zone_reduction``
    Farms in a zone (``zone_key != ''``; with ``max_width_m`` only zones up to that width)
    cut their emission by ``reduction_pct`` % (the letter: on average 20 percentage points
    extra NH3 reduction in the zones).
``polygon_reduction``
    Farms inside the polygons of ``polygon`` (a layer read like the areas layer, so it needs
    a ``site_code`` column, or a mapping ``columns = {site_code = "..."}``) cut their
    emission by ``reduction_pct`` % (e.g. the Veluwe case, 65-69 %).
``buyout``
    The farms in ``farm_ids`` and/or the ``nearest_n`` farms with the largest deposition on
    overloaded habitat (habitat-summed, mol N/yr) go to zero emission.

For each scenario only the *change* is computed: the deposition of the emission difference
(one deposition pass), subtracted from the current total (background + modelled change,
which is zero in the base run); overload flags before and after. Per area (receptors of
that ``site_code``) and nationally (``"ALL"``): change in habitat-weighted mean deposition,
overloaded hectares before/after, NH3 reduced and farms affected. Per area, NH3 reduced and
farms affected count the farms whose nearest nitrogen-sensitive area it is
(``nearest_site_code``), so the per-area rows add up to the national one (except farms with
no sensitive area at all).

Outputs: ``scenarios.csv``, ``stages/scenario_<name>.parquet`` (receptor columns) and
``zone_effectiveness.csv`` (see :mod:`n2kzones.effectiveness`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from n2kzones.config import Scenario
from n2kzones.errors import ConfigError, InputError
from n2kzones.overload import flag_overload

if TYPE_CHECKING:  # the deposition engine (Numba) is imported where a scenario is computed
    from n2kzones.deposition import WindRose
    from n2kzones.deposition.model import DepositionModel

log = logging.getLogger(__name__)

#: ``site_code`` of the national row of a scenario (every receptor and farm); it is not an
#: area and must not be added to the area rows.
NATIONAL_ROW = "ALL"

SCENARIO_COLUMNS = [
    "scenario",
    "kind",
    "site_code",
    "name",
    "receptors",
    "sensitive_ha",
    "mean_deposition_before_mol_ha",
    "mean_deposition_after_mol_ha",
    "mean_change_mol_ha",
    "summed_change_mol",
    "overloaded_ha_before",
    "overloaded_ha_after",
    "overloaded_ha_change",
    "farms_affected",
    "nh3_reduced_kg",
]


def reversed_wind_rose(rose: WindRose | None) -> WindRose | None:
    """The rose seen from the receptor: weight at bearing ``b`` (degrees) is the original's at
    ``b + 180`` degrees.

    Exact for an even number of sectors; with an odd number the weights are interpolated.
    """
    from n2kzones.deposition import WindRose

    if rose is None or rose.is_isotropic:
        return rose
    w = np.asarray(rose.weights, float)
    n = w.size
    if n % 2 == 0:
        return WindRose(np.roll(w, -n // 2), {**rose.provenance, "reversed": True})
    k = (np.arange(n) + n / 2.0) % n
    lo = np.floor(k).astype(int)
    frac = k - lo
    return WindRose.from_ratios(
        w[lo] * (1 - frac) + w[(lo + 1) % n] * frac, {**rose.provenance, "reversed": True}
    )


#: Farms per pass when contributions are summed per source (class-aware models).
SOURCES_PER_PASS = 256


def _contribution_by_source(farms: gpd.GeoDataFrame, over: gpd.GeoDataFrame, model: DepositionModel) -> np.ndarray:
    """``sum_r k(farm, r) * habitat_ha_r * emission`` (mol N/yr) with every farm its own group.

    For class-aware kernels, which depend on the source's height and the receptor's class
    and so cannot swap roles; farms go in passes of :data:`SOURCES_PER_PASS` groups.
    """
    rx, ry = over.geometry.x.to_numpy(), over.geometry.y.to_numpy()
    ha = over["habitat_ha"].to_numpy(float)
    sx, sy = farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy()
    em = farms["emission_kg_nh3"].to_numpy(float)
    rec = model.classes_for(None, over)
    out = np.zeros(len(farms))
    for a in range(0, len(farms), SOURCES_PER_PASS):
        b = min(a + SOURCES_PER_PASS, len(farms))
        dep = model.at_points(
            sx[a:b], sy[a:b], em[a:b], rx, ry, groups=np.arange(b - a), n_groups=b - a,
            **model.classes_for(farms.iloc[a:b]), **rec,
        )
        out[a:b] = dep @ ha
    return out


def contribution_on_overload(
    farms: gpd.GeoDataFrame, receptors: gpd.GeoDataFrame, model: DepositionModel
) -> np.ndarray:
    """Per farm: deposition on overloaded habitat per kg NH3/yr times its emission, mol N/yr.

    Computed in one pass with the roles swapped (overloaded receptors as "sources" weighted
    by their habitat hectares, farms as "receptors"), which equals the sum over receptors of
    kernel x hectares because the kernel is radial (the wind rose is reversed).

    Returns
    -------
    numpy.ndarray
        ``sum_r k(farm, r) * habitat_ha_r * emission`` in mol N/yr, in the order of ``farms``.
    """
    over = receptors.loc[receptors["overload"].to_numpy(bool)]
    if model.classes is not None:
        return _contribution_by_source(farms, over, model)
    swapped = replace(model, wind_rose=reversed_wind_rose(model.wind_rose))
    per_kg = swapped.at_points(
        over.geometry.x.to_numpy(),
        over.geometry.y.to_numpy(),
        over["habitat_ha"].to_numpy(float),
        farms.geometry.x.to_numpy(),
        farms.geometry.y.to_numpy(),
    )
    return per_kg * farms["emission_kg_nh3"].to_numpy(float)


def scenario_cut(
    scenario: Scenario,
    farms: gpd.GeoDataFrame,
    receptors: gpd.GeoDataFrame,
    model: DepositionModel,
    *,
    polygons: gpd.GeoDataFrame | None = None,
) -> np.ndarray:
    """Emission cut per farm (kg NH3/yr, >= 0) of one scenario, in the order of ``farms``.

    Parameters
    ----------
    scenario
        The scenario from the config.
    farms
        Farms with ``farm_id``, ``emission_kg_nh3``, ``zone_key`` and ``width_m``.
    receptors
        Receptors with ``overload`` and ``habitat_ha`` (buy-out ranking by contribution).
    model
        Deposition kernel and settings.
    polygons
        ``polygon_reduction``: the polygons (already read, working CRS).
    """
    em = farms["emission_kg_nh3"].to_numpy(float)
    frac = scenario.reduction_pct / 100.0
    if scenario.kind == "zone_reduction":
        sel = farms["zone_key"].fillna("").astype(str).to_numpy() != ""
        if scenario.max_width_m is not None:
            sel &= farms["width_m"].to_numpy(float) <= scenario.max_width_m
        return np.where(sel, em * frac, 0.0)
    if scenario.kind == "polygon_reduction":
        if polygons is None:
            raise ConfigError(
                f"scenario {scenario.name!r}: polygon_reduction needs a `polygon` layer"
            )
        fi, _ = shapely.STRtree(polygons.geometry.to_numpy()).query(
            farms.geometry.to_numpy(), predicate="intersects"
        )
        sel = np.zeros(len(farms), bool)
        sel[fi] = True
        return np.where(sel, em * frac, 0.0)
    # buyout
    if not scenario.farm_ids and scenario.nearest_n is None:
        raise ConfigError(f"scenario {scenario.name!r}: a buyout needs farm_ids or nearest_n")
    ids = farms["farm_id"].astype(str).to_numpy()
    sel = np.isin(ids, [str(i) for i in scenario.farm_ids])
    unknown = sorted(set(map(str, scenario.farm_ids)) - set(ids))
    if unknown:
        raise InputError(
            f"scenario {scenario.name!r}: farm_ids not among the farms: {unknown[:10]}"
        )
    if scenario.nearest_n is not None:
        contrib = contribution_on_overload(farms, receptors, model)
        order = np.lexsort((ids, -contrib))
        sel[order[: scenario.nearest_n]] = True
    return np.where(sel, em, 0.0)


def apply_cut(
    cut_kg: np.ndarray,
    farms: gpd.GeoDataFrame,
    receptors: gpd.GeoDataFrame,
    model: DepositionModel,
    *,
    near_margin_mol_ha: float = 70.0,
) -> gpd.GeoDataFrame:
    """Receptor deposition and overload after cutting ``cut_kg`` (kg NH3/yr per farm).

    Returns
    -------
    GeoDataFrame
        ``receptor_id, site_code, habitat_ha, kdw_mol_ha, total_before_mol_ha,
        change_mol_ha`` (<= 0 for cuts), ``total_mol_ha`` (= before + change),
        ``exceedance_mol_ha, overload_before, overload, near_overload`` and the geometry.
    """
    rx, ry = receptors.geometry.x.to_numpy(), receptors.geometry.y.to_numpy()
    active = np.flatnonzero(cut_kg > 0)
    change = -model.at_points(
        farms.geometry.x.to_numpy()[active],
        farms.geometry.y.to_numpy()[active],
        cut_kg[active],
        rx,
        ry,
        **model.classes_for(farms.iloc[active], receptors),
    )
    before = receptors["total_mol_ha"].to_numpy(float)
    after = before + change
    flags = flag_overload(
        after, receptors["kdw_mol_ha"].to_numpy(float), near_margin_mol_ha=near_margin_mol_ha
    )
    out = pd.DataFrame(
        {
            "receptor_id": receptors["receptor_id"].to_numpy(),
            "site_code": receptors["site_code"].astype(str).to_numpy(),
            "habitat_ha": receptors["habitat_ha"].to_numpy(float),
            "kdw_mol_ha": receptors["kdw_mol_ha"].to_numpy(float),
            "total_before_mol_ha": before,
            "change_mol_ha": change,
            "total_mol_ha": after,
            "overload_before": receptors["overload"].to_numpy(bool),
        }
    )
    out = pd.concat([out, flags], axis=1)
    return gpd.GeoDataFrame(out, geometry=receptors.geometry.to_numpy(), crs=receptors.crs)


def scenario_table(
    name: str,
    kind: str,
    result: pd.DataFrame,
    farms: pd.DataFrame,
    cut_kg: np.ndarray,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Per area (by ``site_code``) and ``"ALL"``: the effect of one scenario.

    Returns
    -------
    DataFrame
        Columns :data:`SCENARIO_COLUMNS`: means in mol N/ha/yr (habitat-weighted),
        ``summed_change_mol`` in mol N/yr, hectares of habitat, NH3 in kg/yr.
    """
    names = names or {}
    nearest = (
        farms["nearest_site_code"].astype("string").fillna("").to_numpy()
        if "nearest_site_code" in farms.columns
        else np.full(len(farms), "")
    )
    affected = cut_kg > 0
    site = result["site_code"].to_numpy()
    w_all = result["habitat_ha"].to_numpy(float)
    rows = []
    for code in [*sorted(set(site)), "ALL"]:
        sel = np.ones(len(result), bool) if code == "ALL" else site == code
        fsel = np.ones(len(farms), bool) if code == "ALL" else nearest == code
        w = w_all[sel]
        ha = float(w.sum())
        before = result["total_before_mol_ha"].to_numpy(float)[sel]
        after = result["total_mol_ha"].to_numpy(float)[sel]
        change = result["change_mol_ha"].to_numpy(float)[sel]
        ob = float(w[result["overload_before"].to_numpy(bool)[sel]].sum())
        oa = float(w[result["overload"].to_numpy(bool)[sel]].sum())
        rows.append(
            {
                "scenario": name,
                "kind": kind,
                "site_code": code,
                "name": "all areas" if code == "ALL" else names.get(code, code),
                "receptors": int(sel.sum()),
                "sensitive_ha": ha,
                "mean_deposition_before_mol_ha": float(np.average(before, weights=w))
                if ha > 0
                else np.nan,
                "mean_deposition_after_mol_ha": float(np.average(after, weights=w))
                if ha > 0
                else np.nan,
                "mean_change_mol_ha": float(np.average(change, weights=w)) if ha > 0 else np.nan,
                "summed_change_mol": float((change * w).sum()),
                "overloaded_ha_before": ob,
                "overloaded_ha_after": oa,
                "overloaded_ha_change": oa - ob,
                "farms_affected": int((affected & fsel).sum()),
                "nh3_reduced_kg": float(cut_kg[fsel].sum()),
            }
        )
    return pd.DataFrame(rows, columns=SCENARIO_COLUMNS)
