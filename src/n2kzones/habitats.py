"""Habitat layers from what is available: an offline stand-in per area, and the label saying
where an area's habitat came from.

Without a habitat-type map (the national map behind AERIUS is not available offline), the
habitat-type *objectives* of each Natura 2000 area (``Natura2000Doelstellingen`` of the NDVH
habitat template: which habitat types have a conservation objective in which area) give a
coarse stand-in: :func:`objective_standin` takes an area's whole polygon as one habitat
polygon of its most nitrogen-sensitive objective type (lowest KDW). It overstates the habitat
area (every hectare of the area counts as habitat of that type) and the sensitivity of the
hectares that hold less sensitive types or none, so it is labelled in a ``habitat_source``
column that reaches every output (:func:`habitat_source_by_area`).
"""

from __future__ import annotations

import logging
import re

import geopandas as gpd
import numpy as np
import pandas as pd

from n2kzones.errors import InputError

__all__ = [
    "HABITAT_MAP",
    "HABITAT_SOURCE_COLUMN",
    "STANDIN_LABEL",
    "habitat_source_by_area",
    "objective_standin",
    "standin_areas",
    "standin_counts",
]

log = logging.getLogger(__name__)

#: The column saying where an area's habitat came from (in a habitat layer, and in the per-area
#: deposition table; the catalogue names it as :data:`n2kzones.stages.catalogue.HABITAT_SOURCE`).
HABITAT_SOURCE_COLUMN = "habitat_source"
#: ``habitat_source`` of habitat polygons from a habitat-type map (a layer without the column).
HABITAT_MAP = "habitat map"
#: ``habitat_source`` of the polygons :func:`objective_standin` makes.
STANDIN_LABEL = "stand-in: area polygon, most sensitive objective type (NDVH template 2023)"


def objective_standin(
    areas: gpd.GeoDataFrame,
    objectives: pd.DataFrame,
    kdw: pd.DataFrame,
    *,
    label: str = STANDIN_LABEL,
    variants: bool = True,
) -> gpd.GeoDataFrame:
    """One habitat polygon per Natura 2000 area: the area's polygon with its most
    nitrogen-sensitive objective habitat type.

    Parameters
    ----------
    areas
        Natura 2000 areas with ``site_code`` and ``area_number`` (the Natura 2000 area number,
        ``nr`` in PDOK, ``gebiedNummer`` in the NDVH template), polygons in a projected CRS
        (m). Rows sharing an ``area_number`` are dissolved into one polygon.
    objectives
        Habitat-type objectives, one row per (area, type): ``area_number`` and
        ``habitat_code`` (e.g. ``H4030``, ``H7110B``). Repeated pairs count once.
    kdw
        KDW table with ``code`` and ``kdw_mol_ha`` (mol N/ha/yr), e.g.
        :func:`n2kzones.kdw.load_kdw_table`. A code with a blank KDW counts as missing.
    label
        The ``habitat_source`` written on every polygon.
    variants
        An objective type that has no KDW of its own but variants in ``kdw`` (the WUR table
        gives ``H6230`` only as ``H6230dka``, ``H6230dkr``, ``H6230vka``) takes the lowest KDW
        of its variants (its most sensitive form; counted and logged). ``False``: such types
        count as without KDW.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per area that has at least one objective type with a KDW, sorted by
        ``site_code``, in ``areas``' CRS, with columns

        ``site_code``, ``area_number``
            Of the area.
        ``habitat_code``, ``kdw_mol_ha``
            The objective type with the lowest KDW (mol N/ha/yr); of equal KDWs the first
            code in alphabetical order.
        ``habitat_source``
            ``label``.
        ``objective_types``
            The area's objective types, sorted, separated by ``", "``.
        ``n_objective_types``
            How many.
        ``types_kdw_from_variants``
            Those of them whose KDW is the lowest of their variants (``""`` if none).
        ``types_without_kdw``
            Those of them that have no KDW in ``kdw`` (``""`` if none); never silently
            dropped: counted in ``attrs["standin"]`` and logged.
        ``habitat_ha``
            Area of the polygon in ha (the habitat area the stand-in assumes).

        Areas without objectives are left out (downstream their habitat is unknown), as are
        areas whose objective types all lack a KDW; ``attrs["standin"]`` counts both, the
        objective area numbers without a polygon in ``areas`` and the codes without a KDW.

    Raises
    ------
    InputError
        If a column is missing, or ``areas`` has no CRS.
    """
    for frame, name, cols in (
        (areas, "areas", ("site_code", "area_number")),
        (objectives, "objectives", ("area_number", "habitat_code")),
        (kdw, "KDW table", ("code", "kdw_mol_ha")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise InputError(
                f"habitat stand-in: the {name} have no column(s) {missing} (columns: "
                f"{', '.join(map(str, frame.columns))})"
            )
    if areas.crs is None:
        raise InputError("habitat stand-in: the areas have no CRS")
    obj = objectives[["area_number", "habitat_code"]].dropna()
    obj = obj.assign(
        area_number=pd.to_numeric(obj["area_number"], errors="raise").astype("int64"),
        habitat_code=obj["habitat_code"].astype(str).str.strip(),
    ).drop_duplicates()
    table = (
        kdw.dropna(subset=["kdw_mol_ha"])
        .drop_duplicates("code")
        .set_index("code")["kdw_mol_ha"]
        .astype(float)
    )
    obj["kdw_mol_ha"] = obj["habitat_code"].map(table)
    from_variants: dict[str, float] = {}
    if variants:
        for code in sorted(set(obj.loc[obj["kdw_mol_ha"].isna(), "habitat_code"])):
            forms = table[table.index.str.fullmatch(re.escape(code) + r"[a-z]+")]
            if len(forms):
                from_variants[code] = float(forms.min())
    by_variant = obj["habitat_code"].isin(list(from_variants)) & obj["kdw_mol_ha"].isna()
    if by_variant.any():
        codes = obj.loc[by_variant, "habitat_code"].astype(str)
        obj.loc[by_variant, "kdw_mol_ha"] = [from_variants[c] for c in codes]
    if from_variants:
        log.info(
            "habitat stand-in: %d objective types have no KDW of their own and take the lowest "
            "KDW of their variants: %s",
            len(from_variants),
            ", ".join(f"{c} {v:g}" for c, v in from_variants.items()),
        )
    no_kdw = obj["kdw_mol_ha"].isna()
    codes_without_kdw = sorted(set(obj.loc[no_kdw, "habitat_code"]))
    if codes_without_kdw:
        log.warning(
            "habitat stand-in: %d objective (area, type) pairs of %d types have no KDW in the "
            "table and are not used for the most sensitive type: %s",
            int(no_kdw.sum()),
            len(codes_without_kdw),
            ", ".join(codes_without_kdw),
        )

    polys = areas.loc[areas["area_number"].notna(), ["site_code", "area_number", "geometry"]].copy()
    polys["area_number"] = pd.to_numeric(polys["area_number"], errors="raise").astype("int64")
    polys = polys.dissolve(
        by="area_number", aggfunc={"site_code": "first"}, sort=True
    ).reset_index()
    numbers = set(polys["area_number"])
    no_polygon = sorted(set(obj["area_number"]) - numbers)
    if no_polygon:
        log.warning(
            "habitat stand-in: %d areas with objectives have no polygon in the areas layer "
            "(area numbers %s); they get no stand-in",
            len(no_polygon),
            no_polygon[:20],
        )
    without_objectives = sorted(numbers - set(obj["area_number"]))
    if without_objectives:
        log.info(
            "habitat stand-in: %d areas have no habitat-type objectives (area numbers %s): "
            "not in the stand-in, their habitat stays unknown",
            len(without_objectives),
            without_objectives[:20],
        )

    per_area = obj.groupby("area_number").agg(
        objective_types=("habitat_code", lambda s: ", ".join(sorted(s))),
        n_objective_types=("habitat_code", "size"),
    )
    for column, rows in (("types_kdw_from_variants", by_variant), ("types_without_kdw", no_kdw)):
        per_area[column] = (
            obj.loc[rows].groupby("area_number")["habitat_code"].agg(lambda s: ", ".join(sorted(s)))
        )
        per_area[column] = per_area[column].fillna("")
    lowest = (
        obj.loc[~no_kdw]
        .sort_values(["area_number", "kdw_mol_ha", "habitat_code"])
        .drop_duplicates("area_number")
        .set_index("area_number")[["habitat_code", "kdw_mol_ha"]]
    )
    only_unknown = sorted(set(per_area.index) - set(lowest.index))
    if only_unknown:
        log.warning(
            "habitat stand-in: %d areas have only objective types without a KDW (area numbers "
            "%s): not in the stand-in",
            len(only_unknown),
            only_unknown[:20],
        )
    chosen = per_area.join(lowest, how="inner")
    out = polys.merge(chosen, left_on="area_number", right_index=True, how="inner")
    out = gpd.GeoDataFrame(
        {
            "site_code": out["site_code"].astype(str).to_numpy(),
            "area_number": out["area_number"].to_numpy(np.int64),
            "habitat_code": out["habitat_code"].astype(str).to_numpy(),
            "kdw_mol_ha": out["kdw_mol_ha"].to_numpy(float),
            HABITAT_SOURCE_COLUMN: label,
            "objective_types": out["objective_types"].to_numpy(),
            "n_objective_types": out["n_objective_types"].to_numpy(np.int64),
            "types_kdw_from_variants": out["types_kdw_from_variants"].to_numpy(),
            "types_without_kdw": out["types_without_kdw"].to_numpy(),
        },
        geometry=out.geometry.to_numpy(),
        crs=areas.crs,
    )
    out["habitat_ha"] = out.geometry.area / 1e4
    out = out.sort_values("site_code", kind="stable").reset_index(drop=True)
    out.attrs["standin"] = {
        "areas_with_objectives": int(obj["area_number"].nunique()),
        "areas_in_standin": len(out),
        "areas_without_objectives": len(without_objectives),
        "objective_areas_without_polygon": no_polygon,
        "areas_only_types_without_kdw": only_unknown,
        "objective_pairs": len(obj),
        "objective_types": int(obj["habitat_code"].nunique()),
        "types_kdw_from_variants": from_variants,
        "pairs_kdw_from_variants": int(by_variant.sum()),
        "pairs_without_kdw": int(no_kdw.sum()),
        "types_without_kdw": codes_without_kdw,
    }
    log.info(
        "habitat stand-in: %d areas, each its polygon as its most sensitive objective type "
        "(%d areas with objectives, %d types, %d types without KDW)",
        len(out),
        out.attrs["standin"]["areas_with_objectives"],
        out.attrs["standin"]["objective_types"],
        len(codes_without_kdw),
    )
    return out


def standin_areas(area_table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a per-area table (``site_code``, ``habitat_source``) whose habitat is not
    (only) a habitat map, without the national ``ALL`` row: the areas to label a stand-in."""
    if HABITAT_SOURCE_COLUMN not in area_table or "site_code" not in area_table:
        return area_table.iloc[0:0]
    src = area_table[HABITAT_SOURCE_COLUMN].astype(str)
    keep = (src != HABITAT_MAP) & (area_table["site_code"].astype(str) != "ALL")
    return area_table.loc[keep]


def standin_counts(gdf: gpd.GeoDataFrame) -> dict[str, object]:
    """The counts :func:`objective_standin` recorded (``attrs["standin"]``), or ``{}``."""
    return dict(gdf.attrs.get("standin", {}))


def habitat_source_by_area(habitats: pd.DataFrame) -> pd.Series:
    """Where each area's habitat came from: ``site_code`` -> ``habitat_source``.

    Parameters
    ----------
    habitats
        Habitat polygons with ``site_code`` and, optionally, ``habitat_source``. Rows without
        ``habitat_source`` (or a blank one) count as :data:`HABITAT_MAP`.

    Returns
    -------
    pandas.Series
        Indexed by ``site_code`` (sorted), the area's source; an area whose polygons come from
        several sources gets them sorted and joined with ``"; "``. Empty without a
        ``site_code`` column.
    """
    if "site_code" not in habitats.columns or habitats.empty:
        return pd.Series(dtype=object, name=HABITAT_SOURCE_COLUMN)
    if HABITAT_SOURCE_COLUMN in habitats.columns:
        src = (
            habitats[HABITAT_SOURCE_COLUMN]
            .astype("string")
            .str.strip()
            .fillna("")
            .replace("", HABITAT_MAP)
        )
    else:
        src = pd.Series(HABITAT_MAP, index=habitats.index)
    frame = pd.DataFrame(
        {
            "site_code": habitats["site_code"].astype(str).to_numpy(),
            "src": src.astype(str).to_numpy(),
        }
    )
    out = frame.groupby("site_code", sort=True)["src"].agg(lambda s: "; ".join(sorted(set(s))))
    out.name = HABITAT_SOURCE_COLUMN
    return out
