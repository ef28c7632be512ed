"""Habitat maps with several habitat types per polygon, or a coverage share per polygon.

n2kzones' receptors (:func:`n2kzones.deposition.receptors.hexagon_receptors`) count the
whole area of a habitat polygon inside a hexagon (``habitat_ha``) and take the lowest KDW of
the types present. Partial coverage cannot be expressed there, so a mosaic polygon becomes
its most sensitive type over its whole area (AERIUS, too, takes a hexagon's KDW from its most
sensitive type) and a coverage share below 100 % is noted as overstating the habitat area.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from n2kzones.config import LayerInput
from n2kzones.errors import InputError
from n2kzones.io.presets import Preset
from n2kzones.io.validate import LayerReport
from n2kzones.io.values import find_column
from n2kzones.params import Parameters

__all__ = ["habitat_map_columns", "kdw_lookup", "most_sensitive_of_mosaic"]


def habitat_map_columns(
    gdf: gpd.GeoDataFrame, preset: Preset, spec: LayerInput, params: Parameters, report: LayerReport
) -> gpd.GeoDataFrame:
    """A habitat layer after column mapping, with a mosaic reduced to one type per polygon
    (where ``preset`` names mosaic columns and ``habitat_code`` is not mapped by hand) and a
    note on a ``coverage`` column."""
    if preset.mosaic and "habitat_code" not in spec.columns:
        gdf = most_sensitive_of_mosaic(gdf, preset.mosaic, params, report)
    cov = find_column([c for c in gdf.columns if c != gdf.geometry.name], "coverage")
    if cov is not None:
        _note_coverage(gdf, cov, report)
    return gdf


def kdw_lookup(params: Parameters) -> dict[str, float]:
    """KDW (mol N/ha/yr) per habitat code: the packaged WUR table (report 3272, Bijlage 1),
    overridden by the parameters' ``[kdw.habitats]``."""
    from n2kzones.kdw import load_kdw_table

    table = load_kdw_table().dropna(subset=["kdw_mol_ha"])
    out = dict(zip(table["code"], table["kdw_mol_ha"].astype(float), strict=True))
    out.update({code: h.kdw_mol_ha for code, h in params.kdw.habitats.items()})
    return out


def most_sensitive_of_mosaic(
    gdf: gpd.GeoDataFrame,
    pairs: tuple[tuple[str, str], ...],
    params: Parameters,
    report: LayerReport,
) -> gpd.GeoDataFrame:
    """One habitat type per polygon of a map that holds up to ``len(pairs)`` types per polygon.

    The pipeline cannot take partial coverage: a hexagon receptor counts the habitat polygon's
    whole area inside it (``habitat_ha``) and takes the lowest KDW of the types present. A
    mosaic polygon therefore becomes its most sensitive type (lowest KDW) over its whole area,
    as AERIUS takes a hexagon's KDW from its most sensitive type; its coverage percentages are
    kept for reference, not used to scale ``habitat_ha``.

    Parameters
    ----------
    gdf
        The layer after column mapping.
    pairs
        (type column, coverage percentage column) per position, e.g. ``habitatType1``,
        ``bedekkingsPercentage1`` of the NDVH habitat map. A type with a coverage of 0 % is
        not counted; a blank coverage is.
    params
        For the KDW table (:func:`kdw_lookup`).
    report
        Receives a note counting the mosaic polygons and those whose first type was not the
        most sensitive.

    Returns
    -------
    geopandas.GeoDataFrame
        ``gdf`` with ``habitat_code`` and ``kdw_mol_ha`` (mol N/ha/yr) of the chosen type,
        ``habitat_coverage_pct`` (its coverage, %), ``sensitive_coverage_pct`` (summed
        coverage of the types with a KDW below the not-sensitive limit, %) and
        ``mosaic_types`` (``"H4030 60%, H2310 40%"``).

    Raises
    ------
    InputError
        Polygons without any habitat type, or whose types all lack a KDW (naming them).
    """
    present = [(t, p) for t, p in pairs if find_column(gdf.columns, t) is not None]
    if not present:
        return gdf
    table = kdw_lookup(params)
    n = len(gdf)
    codes = np.full((n, len(present)), None, dtype=object)
    pct = np.full((n, len(present)), np.nan)
    for j, (t, p) in enumerate(present):
        text = gdf[find_column(gdf.columns, t)].astype("string").str.strip()
        text = text.where(text != "", pd.NA)
        codes[:, j] = text.astype(object).where(text.notna(), None).to_numpy()
        pc = find_column(gdf.columns, p)
        if pc is not None:
            pct[:, j] = pd.to_numeric(gdf[pc], errors="coerce").to_numpy(float)
    used = np.vectorize(lambda c: c is not None)(codes) & ~(pct <= 0)
    kdw = np.vectorize(lambda c: table.get(c, np.nan) if c is not None else np.nan, otypes=[float])(
        codes
    )
    kdw = np.where(used, kdw, np.nan)
    no_type = ~used.any(axis=1)
    unknown = used.any(axis=1) & np.isnan(kdw).all(axis=1)
    if no_type.any() or unknown.any():
        rows = gdf["input_row"].to_numpy()
        parts = []
        if no_type.any():
            parts.append(
                f"{int(no_type.sum())} polygons without a habitat type "
                f"(rows {rows[no_type][:5].tolist()})"
            )
        if unknown.any():
            types = sorted({c for c in codes[unknown].ravel() if c is not None})
            parts.append(
                f"{int(unknown.sum())} polygons whose types {types[:10]} have no KDW "
                f"(rows {rows[unknown][:5].tolist()})"
            )
        raise InputError(
            f"{report.source}: {'; '.join(parts)}. Add the KDWs under [parameters.kdw.habitats] "
            "or remove those polygons"
        )
    best = np.nanargmin(np.where(np.isnan(kdw), np.inf, kdw), axis=1)
    rows_i = np.arange(n)
    out = gdf.copy()
    out["habitat_code"] = pd.array(codes[rows_i, best], dtype="string")
    out["kdw_mol_ha"] = kdw[rows_i, best]
    out["habitat_coverage_pct"] = pct[rows_i, best]
    limit = params.kdw.not_sensitive_from_mol_ha
    out["sensitive_coverage_pct"] = np.where(used & (kdw < limit), np.nan_to_num(pct), 0.0).sum(
        axis=1
    )
    out["mosaic_types"] = [
        ", ".join(
            f"{c} {'' if np.isnan(v) else f'{v:g}%'}".strip()
            for c, v, u in zip(cr, pr, ur, strict=True)
            if u
        )
        for cr, pr, ur in zip(codes, pct, used, strict=True)
    ]
    n_mosaic = int((used.sum(axis=1) > 1).sum())
    if n_mosaic:
        n_changed = int((best != np.argmax(used, axis=1)).sum())
        report.warn(
            f"{n_mosaic} of {n} polygons hold several habitat types (a mosaic): each is counted as "
            f"its most sensitive type over its whole area ({n_changed} of them not their first "
            "type); the coverage percentages are kept (habitat_coverage_pct, "
            "sensitive_coverage_pct, mosaic_types) but do not scale habitat_ha"
        )
    return out


def _note_coverage(gdf: gpd.GeoDataFrame, column: str, report: LayerReport) -> None:
    """Note that a ``coverage`` column (share of the polygon its habitat type covers) is not
    used: the pipeline counts whole polygons."""
    share = pd.to_numeric(gdf[column], errors="coerce")
    partial = int(((share > 0) & (share < (100 if share.max() > 1 else 1))).sum())
    if partial:
        report.warn(
            f"{partial} of {len(gdf)} habitat polygons cover only part of their polygon (column "
            f"{column!r}); the pipeline counts whole polygons, so habitat_ha overstates their "
            "habitat area"
        )
