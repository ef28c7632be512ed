"""AERIUS hexagon layers: the relevant hexagons (receptors) with their critical deposition,
and the habitat-to-hexagon coverage.

Field names follow the AERIUS database (the open-source database modules of AERIUS,
github.com/paulromeijn/database-modules, ``source/modules/src/main/sql/database-modules/``):

* ``grid.critical_depositions_view``: ``receptor_id``, ``critical_deposition`` (the lowest
  KDW of the relevant habitat types that meet the hexagon, mol N/ha/yr);
* ``grid.receptors_to_critical_deposition_areas``: ``assessment_area_id`` (the Natura 2000
  area number), ``type`` (``habitat``, ``relevant_habitat``), ``critical_deposition_area_id``
  (the habitat type id), ``receptor_id``, ``zoom_level``, ``surface`` (m2 of the hexagon
  inside the habitat area) and ``receptor_habitat_coverage`` (the habitat's average coverage
  there, a fraction; ``surface * receptor_habitat_coverage`` is the mapped, "cartographic"
  surface).

AERIUS publishes such layers as WFS (the hexagon grid and relevant hexagons among its open
data, announced on aerius.nl in 2017), but their published layer and field names could not be
established offline; :data:`HEXAGON_COLUMNS` and :data:`COVERAGE_COLUMNS` accept the database
names and the obvious aliases. Check a download's columns against them.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from n2kzones.errors import InputError
from n2kzones.io.values import find_column

__all__ = ["COVERAGE_COLUMNS", "HEXAGON_COLUMNS", "aerius_receptors"]

log = logging.getLogger(__name__)

#: Canonical column -> accepted names (first present wins) in a hexagon (receptor) layer.
HEXAGON_COLUMNS: dict[str, tuple[str, ...]] = {
    "receptor_id": ("receptor_id", "receptorid", "receptor"),
    "kdw_mol_ha": ("critical_deposition", "critical_level", "kdw", "kdw_mol_ha"),
    "area_number": ("assessment_area_id", "natura2000_area_id", "area_number"),
}
#: Canonical column -> accepted names in a habitat-to-hexagon coverage table.
COVERAGE_COLUMNS: dict[str, tuple[str, ...]] = {
    "receptor_id": ("receptor_id", "receptorid", "receptor"),
    "surface_m2": ("surface",),
    "coverage": ("receptor_habitat_coverage", "coverage"),
    "area_number": ("assessment_area_id", "area_number"),
    "type": ("type",),
}


def _columns(df: pd.DataFrame, spec: dict[str, tuple[str, ...]]) -> dict[str, str]:
    names = [c for c in df.columns if c != getattr(df, "geometry", pd.Series(name=None)).name]
    out = {}
    for target, aliases in spec.items():
        hit = next((c for a in aliases if (c := find_column(names, a)) is not None), None)
        if hit is not None:
            out[target] = hit
    return out


def _ids(values: pd.Series, what: str) -> pd.Series:
    num = pd.to_numeric(values, errors="coerce")
    if num.isna().any() or (num % 1 != 0).any():
        bad = values[num.isna() | (num % 1 != 0)].astype(str).head(5).tolist()
        raise InputError(f"{what}: receptor_id must be whole numbers (AERIUS ids), got {bad}")
    return num.astype("int64").astype(str)


def aerius_receptors(
    hexagons: gpd.GeoDataFrame,
    coverage: pd.DataFrame | None = None,
    *,
    crs: str = "EPSG:28992",
    habitat_type: str | None = "relevant_habitat",
) -> gpd.GeoDataFrame:
    """Receptors keyed by AERIUS ``receptor_id`` with their KDW, from AERIUS hexagon layers.

    Parameters
    ----------
    hexagons
        The relevant hexagons: ``receptor_id`` and ``critical_deposition`` (KDW, mol
        N/ha/yr; see :data:`HEXAGON_COLUMNS` for accepted names), with hexagon polygons or
        receptor points. One row per receptor; a receptor repeated (one row per habitat type
        or area) takes its lowest KDW.
    coverage
        Optional habitat-to-hexagon coverage: ``receptor_id``, ``surface`` (m2) and
        ``receptor_habitat_coverage`` (fraction), optionally ``assessment_area_id`` and
        ``type`` (see :data:`COVERAGE_COLUMNS`). Gives ``habitat_ha`` = sum of ``surface *
        coverage`` / 10,000 per receptor, and the area of the largest share.
    crs
        Working CRS (projected, m) of the result.
    habitat_type
        Rows of ``coverage`` whose ``type`` is this are used (AERIUS's relevant habitat);
        ``None``: all rows.

    Returns
    -------
    geopandas.GeoDataFrame
        One point per receptor (the hexagon's centroid), sorted by ``receptor_id`` (text of
        the whole number): ``receptor_id``, ``kdw_mol_ha`` (mol N/ha/yr), ``habitat_ha``
        (ha: from ``coverage``; else the hexagon polygon's area; NaN for points), and
        ``area_number`` where known.

    Raises
    ------
    InputError
        A required column missing, ids that are not whole numbers, KDWs that are not
        numbers > 0, or a layer without a CRS.
    """
    cols = _columns(hexagons, HEXAGON_COLUMNS)
    missing = [c for c in ("receptor_id", "kdw_mol_ha") if c not in cols]
    if missing:
        raise InputError(
            f"AERIUS hexagon layer: no column for {missing} (accepted: "
            f"{ {k: HEXAGON_COLUMNS[k] for k in missing} }; columns: "
            f"{', '.join(map(str, hexagons.columns))})"
        )
    if hexagons.crs is None:
        raise InputError("AERIUS hexagon layer: no CRS (AERIUS uses EPSG:28992, RD New)")
    hexes = hexagons.to_crs(crs)
    kdw = pd.to_numeric(hexes[cols["kdw_mol_ha"]], errors="coerce")
    if kdw.isna().any() or (kdw <= 0).any():
        n = int((kdw.isna() | (kdw <= 0)).sum())
        raise InputError(f"AERIUS hexagon layer: {n} rows have no critical deposition > 0")
    polygonal = hexes.geom_type.isin(["Polygon", "MultiPolygon"])
    frame = pd.DataFrame(
        {
            "receptor_id": _ids(hexes[cols["receptor_id"]], "AERIUS hexagon layer").to_numpy(),
            "kdw_mol_ha": kdw.to_numpy(float),
            "hex_ha": np.where(polygonal, hexes.geometry.area / 1e4, np.nan),
            "geometry": hexes.geometry.centroid.to_numpy(),
        }
    )
    if "area_number" in cols:
        frame["area_number"] = pd.to_numeric(hexes[cols["area_number"]], errors="coerce").to_numpy()
    n_rows = len(frame)
    frame = frame.sort_values(["receptor_id", "kdw_mol_ha"], kind="stable")
    first = frame.drop_duplicates("receptor_id")
    if len(first) < n_rows:
        log.info(
            "AERIUS hexagons: %d rows for %d receptors; each takes its lowest KDW",
            n_rows,
            len(first),
        )
    out = first.set_index("receptor_id")
    out["habitat_ha"] = out.pop("hex_ha")
    if coverage is not None:
        cc = _columns(coverage, COVERAGE_COLUMNS)
        missing = [c for c in ("receptor_id", "surface_m2", "coverage") if c not in cc]
        if missing:
            raise InputError(
                f"AERIUS coverage table: no column for {missing} (columns: "
                f"{', '.join(map(str, coverage.columns))})"
            )
        cov = coverage
        if habitat_type is not None and "type" in cc:
            cov = cov.loc[cov[cc["type"]].astype(str) == habitat_type]
        share = pd.DataFrame(
            {
                "receptor_id": _ids(cov[cc["receptor_id"]], "AERIUS coverage table").to_numpy(),
                "ha": (
                    pd.to_numeric(cov[cc["surface_m2"]], errors="coerce")
                    * pd.to_numeric(cov[cc["coverage"]], errors="coerce")
                ).to_numpy()
                / 1e4,
                "area_number": pd.to_numeric(cov[cc["area_number"]], errors="coerce").to_numpy()
                if "area_number" in cc
                else np.nan,
            }
        )
        ha = share.groupby("receptor_id")["ha"].sum()
        out["habitat_ha"] = ha.reindex(out.index).fillna(0.0)
        if "area_number" in cc:
            by_area = share.groupby(["receptor_id", "area_number"], as_index=False)["ha"].sum()
            top = by_area.sort_values(
                ["receptor_id", "ha"], ascending=[True, False]
            ).drop_duplicates("receptor_id")
            out["area_number"] = top.set_index("receptor_id")["area_number"].reindex(out.index)
        absent = int((~out.index.isin(ha.index)).sum())
        if absent:
            log.warning(
                "AERIUS coverage: %d of %d receptors have no coverage row: habitat_ha 0",
                absent,
                len(out),
            )
    out = out.reset_index()
    cols_out = ["receptor_id", "kdw_mol_ha", "habitat_ha"] + (
        ["area_number"] if "area_number" in out else []
    )
    result = gpd.GeoDataFrame(out[cols_out], geometry=out["geometry"].to_numpy(), crs=crs)
    if "area_number" in result:
        result["area_number"] = result["area_number"].astype("Int64")
    return result.reset_index(drop=True)
