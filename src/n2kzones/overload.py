"""Deposition against critical deposition values (KDW): overload per receptor and per area.

Definitions (AERIUS / Rijksoverheid): a receptor is *overloaded* when its total deposition
exceeds its KDW, and *near overload* when it exceeds KDW minus a margin (70 mol N/ha/yr).
Hectares are habitat hectares (``habitat_ha`` of the hexagon receptors), so percentages are
shares of the area's mapped nitrogen-sensitive habitat.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def flag_overload(
    total_mol_ha: np.ndarray,
    kdw_mol_ha: np.ndarray,
    *,
    near_margin_mol_ha: float = 70.0,
) -> pd.DataFrame:
    """Exceedance and overload flags per receptor.

    Parameters
    ----------
    total_mol_ha
        Total deposition per receptor, mol N/ha/yr.
    kdw_mol_ha
        Critical deposition value per receptor, mol N/ha/yr.
    near_margin_mol_ha
        Margin below the KDW that counts as near overload.

    Returns
    -------
    DataFrame
        ``exceedance_mol_ha`` (total - KDW, may be negative), ``overload`` (> KDW),
        ``near_overload`` (> KDW - margin; includes overloaded receptors).
    """
    total = np.asarray(total_mol_ha, float)
    kdw = np.asarray(kdw_mol_ha, float)
    if total.shape != kdw.shape:
        raise ValueError(f"deposition ({total.shape}) and KDW ({kdw.shape}) must have the same shape")
    if np.isnan(total).any() or np.isnan(kdw).any():
        raise ValueError("deposition or KDW has NaN values: every receptor needs both (is the background raster covering all habitat?)")
    exceed = total - kdw
    return pd.DataFrame(
        {"exceedance_mol_ha": exceed, "overload": exceed > 0, "near_overload": exceed > -near_margin_mol_ha}
    )


def positions_by_code(codes: np.ndarray) -> dict[str, np.ndarray]:
    """Per distinct value of ``codes`` (sorted), the positions holding it, ascending: what
    ``np.flatnonzero(codes == code)`` gives for each, from one stable sort.

    Used to take each area's receptors (their ``habitat_ha``, ``deposition_mol_ha``) in their
    row order, without comparing every row's site code once per area."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    if sorted_codes.size == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    ends = np.r_[starts[1:], sorted_codes.size]
    return {str(sorted_codes[a]): order[a:b] for a, b in zip(starts, ends, strict=True)}


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Quantile ``q`` (0..1) of ``values`` weighted by ``weights`` (inverted weighted CDF);
    the result has the unit of ``values`` (here mol N/ha/yr, weights in ha)."""
    values = np.asarray(values, float)
    weights = np.asarray(weights, float)
    if len(values) == 0 or weights.sum() <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    cdf = np.cumsum(weights[order]) / weights.sum()
    return float(values[order][np.searchsorted(cdf, q, side="left").clip(max=len(values) - 1)])


def area_overload_table(receptors: pd.DataFrame, *, deposition_col: str = "total_mol_ha") -> pd.DataFrame:
    """Per area: sensitive hectares, % overloaded and near overload, mean and P95 exceedance.

    Parameters
    ----------
    receptors
        One row per receptor with ``site_code``, ``habitat_ha``, ``exceedance_mol_ha``,
        ``overload``, ``near_overload`` and ``deposition_col``.

    Returns
    -------
    DataFrame
        ``site_code, receptors, sensitive_ha, overloaded_ha, pct_overloaded,
        near_overload_ha, pct_near_overload, mean_deposition_mol_ha,
        mean_exceedance_mol_ha, p95_exceedance_mol_ha`` (means and P95 weighted by habitat
        hectares), plus a national row ``site_code == "ALL"``.
    """
    rows = []
    groups = [(code, g) for code, g in receptors.groupby("site_code", sort=True)] + [("ALL", receptors)]
    for code, g in groups:
        w = g["habitat_ha"].to_numpy(float)
        ha = w.sum()
        over = w[g["overload"].to_numpy(bool)].sum()
        near = w[g["near_overload"].to_numpy(bool)].sum()
        ex = g["exceedance_mol_ha"].to_numpy(float)
        rows.append(
            {
                "site_code": code,
                "receptors": len(g),
                "sensitive_ha": ha,
                "overloaded_ha": over,
                "pct_overloaded": 100 * (over / ha) if ha else np.nan,  # over / ha <= 1 exactly; (100 * over) / ha may round above 100
                "near_overload_ha": near,
                "pct_near_overload": 100 * (near / ha) if ha else np.nan,
                "mean_deposition_mol_ha": float(np.average(g[deposition_col], weights=w)) if ha else np.nan,
                "mean_exceedance_mol_ha": float(np.average(ex, weights=w)) if ha else np.nan,
                "p95_exceedance_mol_ha": weighted_quantile(ex, w, 0.95),
            }
        )
    return pd.DataFrame(rows)
