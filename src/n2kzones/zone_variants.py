"""Zone-basis variants: the same indicators for other rules of "which land and farms are in
the zone", so that the letter's rule can be compared with alternatives.

Zone bases (the names :func:`compare_zone_bases` takes):

``area_edge``
    The letter's rule (Kamerbrief 26 June 2026): a ring of the area's zone width (500 or
    1000 m, the ``zone_width_m`` the zones stage chose) around the area's edge,
    ``buffer(area, width) - area``, exactly as :func:`n2kzones.zones.zone_parts` builds it.
    Its figures equal the zones and overlay stages' (``area_summary.csv``, ring rows;
    ``zone_effectiveness.csv``).
``habitat_edge``
    The same width measured from the edge of the area's nitrogen-sensitive habitat (KDW below
    ``[kdw] not_sensitive_from_mol_ha``) instead of the area's edge, and like the ring only
    outside the area: ``buffer(habitat, width) - habitat - area``. Habitat that lies well
    inside a large area gives a zone that barely leaves it; an area without sensitive habitat
    has no zone.
``ta_luft``, ``ta_luft_2002``
    A per-farm distance rule of the German TA Luft (Anhang 1): a farm is in the zone of an
    area when its distance to that area's nitrogen-sensitive habitat is below
    ``x_min = sqrt(F * Q)`` (m), with ``Q`` its NH3 emission in Mg/yr and ``F`` from
    ``[ta_luft]`` in the parameters (60 000 m2 yr/Mg in TA Luft 2021, 41 668 in TA Luft
    2002; :func:`ta_luft_distance_m`). A farm inside the area is no zone farm (it is in the
    area, as for the rings). A farm with no emission has ``x_min = 0`` and is never in.

"Hectares in the zone" of a per-farm rule. The rule has no region of its own: whether a
place is "in" depends on the emission of the farm standing there. For the rule the land that
matters is the land within each caught farm's minimum distance, the disc of radius ``x_min``
around it (TA Luft 2021 makes that disc the area in which the farm's ammonia must be
assessed). So ``zone_ha`` of ``ta_luft`` is the union of the discs of the area's zone farms,
clipped to outside the area (like the rings, which count only land outside the area), and
``farmland_ha`` the parcel hectares in it. The discs are used because they are the rule's
own geometry and they keep the three bases comparable as land areas; a farm that lies in a
disc without being caught itself is not a zone farm (the farm figures are the rule's).

Indicators, per variant and zoned area (``zone_width_m > 0``) and nationally (``ALL``, every
hectare and farm once; with ``include_inner`` as in the zones stage, land and farms inside
some area are not "outside the area" nationally): ``zone_ha`` (zone outside the area, ha),
``farmland_ha`` (parcel hectares in it, exact sums of 1 mm2 units as in
:mod:`n2kzones.summary`), ``farms`` and ``emission_kg_nh3`` (kg NH3/yr) of the zone's farms,
and the effect of a kg NH3 cut by the zone's farms against one by all other farms
(:func:`n2kzones.effectiveness.effectiveness_by_membership`, the zone effectiveness of the
scenario stage with this variant's membership; with ``include_inner`` the farms inside the
area count as inside, as the zones "in en rondom" do). Deposition only through the
:class:`~n2kzones.deposition.model.DepositionModel`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from n2kzones.deposition.model import DepositionModel
from n2kzones.effectiveness import effectiveness_by_membership
from n2kzones.errors import ConfigError, InputError
from n2kzones.overlay import OUTSIDE, overlay_farms, overlay_parcels
from n2kzones.params import Parameters, load_parameters
from n2kzones.selection import sort_inputs
from n2kzones.summary import AREA_QUANTUM_M2, NATIONAL, land_by_zone
from n2kzones.zones import INNER, RING, ZONE_WIDTH_COLUMN, membership, national_zones, zone_parts

log = logging.getLogger(__name__)

AREA_EDGE = "area_edge"
HABITAT_EDGE = "habitat_edge"
TA_LUFT = "ta_luft"
TA_LUFT_2002 = "ta_luft_2002"
#: Every zone basis, in the order of the comparison table.
ZONE_BASES: tuple[str, ...] = (AREA_EDGE, HABITAT_EDGE, TA_LUFT, TA_LUFT_2002)
#: The ``[ta_luft]`` parameter holding F (m2 yr/Mg) of each TA Luft basis.
TA_LUFT_F_PARAMETER = {TA_LUFT: "f_m2_yr_per_mg", TA_LUFT_2002: "f_2002_m2_yr_per_mg"}
#: One line per zone basis: the rule as the report and the notebook state it (F: ``[ta_luft]``).
ZONE_BASIS_RULES = {
    AREA_EDGE: "zone width (500/1000 m) from the area's edge (the letter's rule)",
    HABITAT_EDGE: "zone width from the edge of the area's sensitive habitat, outside the area",
    TA_LUFT: "farm closer to sensitive habitat than sqrt(F Q), F of TA Luft 2021",
    TA_LUFT_2002: "farm closer to sensitive habitat than sqrt(F Q), F of TA Luft 2002",
}

ZONE_VARIANT_COLUMNS = [
    "variant",
    "site_code",
    "name",
    "width_m",
    "sensitive_habitat_ha",
    "zone_ha",
    "farmland_ha",
    "farms",
    "emission_kg_nh3",
    "cut_pct",
    "farms_cut_inside",
    "per_kg_inside_sum_mol",
    "per_kg_outside_sum_mol",
    "ratio_inside_outside",
]

_HA_PER_QUANTUM = AREA_QUANTUM_M2 / 1e4


def ta_luft_distance_m(
    emission_kg_nh3: np.ndarray | pd.Series, f_m2_yr_per_mg: float
) -> np.ndarray:
    """TA Luft minimum distance ``x_min = sqrt(F * Q)`` (m) per farm.

    Parameters
    ----------
    emission_kg_nh3
        NH3 emission per farm, kg/yr (``Q`` is this in Mg/yr: divided by 1000).
    f_m2_yr_per_mg
        ``F`` in m2 yr/Mg (``[ta_luft]`` in the parameters).

    Raises
    ------
    InputError
        For a negative or missing emission.
    """
    e = np.asarray(emission_kg_nh3, dtype=float)
    if np.isnan(e).any() or (e < 0).any():
        raise InputError("the TA Luft distance needs every farm's emission_kg_nh3 >= 0 (kg NH3/yr)")
    return np.sqrt(f_m2_yr_per_mg * (e / 1000.0))


def sensitive_habitat_by_area(
    areas: gpd.GeoDataFrame, habitat: gpd.GeoDataFrame, not_sensitive_from_mol_ha: float
) -> gpd.GeoSeries:
    """The nitrogen-sensitive habitat of every area, one (multi)polygon per ``site_code``.

    A habitat polygon is sensitive when its ``kdw_mol_ha`` is below
    ``not_sensitive_from_mol_ha`` (mol N/ha/yr). It belongs to the area of its
    ``site_code``; a polygon without one (or a layer without the column) to every area it
    lies in, clipped to that area. An area without sensitive habitat gets an empty polygon.
    """
    codes = areas["site_code"].astype(str).to_numpy()
    sens = habitat.loc[habitat["kdw_mol_ha"].to_numpy(float) < not_sensitive_from_mol_ha]
    geoms = sens.geometry.to_numpy()
    if "site_code" in sens.columns:
        site = sens["site_code"]
        loose = site.isna().to_numpy()
        site = site.astype(str).to_numpy()
    else:
        loose = np.ones(len(sens), dtype=bool)
        site = np.full(len(sens), "", dtype=object)
    out = []
    loose_union = shapely.union_all(geoms[loose]) if loose.any() else None
    for code, area in zip(codes, areas.geometry.to_numpy(), strict=True):
        parts = list(geoms[(site == code) & ~loose])
        if loose_union is not None:
            parts.append(shapely.intersection(loose_union, area))
        geom = shapely.union_all(parts) if parts else shapely.Polygon()
        out.append(shapely.make_valid(geom))
    return gpd.GeoSeries(out, index=pd.Index(codes, name="site_code"), crs=areas.crs)


def _ring_frame(
    areas: gpd.GeoDataFrame, rings: np.ndarray, widths: np.ndarray, layer: str
) -> gpd.GeoDataFrame:
    """Ring rows in the layout of :func:`n2kzones.zones.zone_parts`."""
    codes = areas["site_code"].astype(str).to_numpy()
    names = areas["name"].astype(str).to_numpy() if "name" in areas.columns else codes
    frame = gpd.GeoDataFrame(
        {
            "layer": layer,
            "site_code": codes,
            "name": names,
            "part": RING,
            "width_m": widths,
            "geometry": list(rings),
        },
        geometry="geometry",
        crs=areas.crs,
    )
    frame["geometry"] = shapely.make_valid(frame.geometry.to_numpy())
    frame["area_m2"] = frame.geometry.area
    return frame


def habitat_edge_rings(
    areas: gpd.GeoDataFrame, habitat_by_area: gpd.GeoSeries, widths_m: pd.Series, *, quad_segs: int
) -> gpd.GeoDataFrame:
    """The ``habitat_edge`` zone of every area: ``buffer(habitat, width) - habitat - area``.

    The ring around the habitat is :func:`n2kzones.zones.zone_parts` of the habitat polygons
    (same width per area, same ``quad_segs``); then the area itself is taken out, so the zone
    lies outside the area like the letter's ring. Areas without sensitive habitat (or width
    0) get an empty ring. Rows as :func:`~n2kzones.zones.zone_parts`' ring rows.
    """
    codes = areas["site_code"].astype(str).to_numpy()
    hab = habitat_by_area.reindex(codes).to_numpy()
    w = widths_m.reindex(codes).to_numpy(float)
    rings = np.array([shapely.Polygon()] * len(codes), dtype=object)
    has = ~shapely.is_empty(hab) & (w > 0)
    if has.any():
        hab_frame = gpd.GeoDataFrame(
            {"site_code": codes[has], "name": codes[has]}, geometry=list(hab[has]), crs=areas.crs
        )
        around = zone_parts(
            hab_frame, pd.Series(w[has], index=codes[has]), include_inner=False, quad_segs=quad_segs
        )
        by_code = dict(zip(around["site_code"], around.geometry, strict=True))
        idx = np.flatnonzero(has)
        rings[idx] = shapely.difference(
            np.array([by_code[c] for c in codes[idx]], dtype=object), areas.geometry.to_numpy()[idx]
        )
    return _ring_frame(areas, rings, w, HABITAT_EDGE)


def ta_luft_members(
    areas: gpd.GeoDataFrame,
    habitat_by_area: gpd.GeoSeries,
    farms: gpd.GeoDataFrame,
    x_min_m: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per area, the farms of the TA Luft rule: distance to the area's sensitive habitat below
    ``x_min_m`` (m, per farm) and not inside the area.

    Returns
    -------
    dict
        Boolean mask over ``farms`` (in their order) per ``site_code`` of ``areas``.
    """
    codes = areas["site_code"].astype(str).to_numpy()
    pts = farms.geometry.to_numpy()
    out = {c: np.zeros(len(farms), dtype=bool) for c in codes}
    hab = habitat_by_area.reindex(codes).to_numpy()
    keep = np.flatnonzero(~shapely.is_empty(hab))
    if not len(keep) or not len(pts):
        return out
    tree = shapely.STRtree(hab[keep])
    fi, hi = tree.query(pts, predicate="dwithin", distance=x_min_m)
    d = shapely.distance(pts[fi], hab[keep][hi])
    close = d < x_min_m[fi]
    fi, ai = fi[close], keep[hi[close]]
    inside = shapely.intersects(areas.geometry.to_numpy()[ai], pts[fi])
    for f, a in zip(fi[~inside], ai[~inside], strict=True):
        out[codes[a]][f] = True
    return out


def ta_luft_rings(
    areas: gpd.GeoDataFrame,
    farms: gpd.GeoDataFrame,
    members: Mapping[str, np.ndarray],
    x_min_m: np.ndarray,
    *,
    quad_segs: int,
    layer: str = TA_LUFT,
) -> gpd.GeoDataFrame:
    """The land of the TA Luft rule per area: the union of its zone farms' discs of radius
    ``x_min_m`` (m), minus the area. Rows as :func:`~n2kzones.zones.zone_parts`' ring rows
    (``width_m`` 0: the rule has no width)."""
    codes = areas["site_code"].astype(str).to_numpy()
    pts = farms.geometry.to_numpy()
    rings = []
    for code, area in zip(codes, areas.geometry.to_numpy(), strict=True):
        f = np.flatnonzero(members[code])
        discs = shapely.buffer(pts[f], x_min_m[f], quad_segs=quad_segs)
        rings.append(
            shapely.difference(shapely.union_all(discs), area) if len(f) else shapely.Polygon()
        )
    return _ring_frame(areas, np.array(rings, dtype=object), np.zeros(len(codes)), layer)


def _face_members(
    farm_keys: np.ndarray, codes: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per area, farms whose zone face (``zone_key``) is in its ring / its inner part."""
    index, uniq = pd.factorize(pd.Series(farm_keys, dtype=object))
    wanted: dict[tuple[str, str], list[int]] = {}
    for j, key in enumerate(uniq):
        if key == OUTSIDE:
            continue
        for member in str(key).split("|"):
            code, part = member.rsplit(":", 1)
            wanted.setdefault((code, part), []).append(j)
    ring = {c: np.isin(index, wanted.get((c, RING), [])) for c in codes}
    inner = {c: np.isin(index, wanted.get((c, INNER), [])) for c in codes}
    return ring, inner


def _variant_figures(
    variant: str,
    rings: gpd.GeoDataFrame,
    inner: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    farms: gpd.GeoDataFrame,
    parcels: gpd.GeoDataFrame,
    rule_members: Mapping[str, np.ndarray] | None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray]:
    """Land, farms and NH3 of one variant's zones; the effectiveness masks.

    The zone parts (the variant's rings and, with ``include_inner``, the areas) go through
    the national face layer and the parcel and farm overlays of the overlay stage, so every
    hectare is counted as there. Farms: the faces' ring members, or ``rule_members`` for a
    per-farm rule.
    """
    codes = areas["site_code"].astype(str).to_numpy()
    parts = pd.concat([rings[rings["area_m2"] > 0], inner], ignore_index=True)
    parts = gpd.GeoDataFrame(parts, geometry="geometry", crs=areas.crs)
    parts = parts.sort_values(["site_code", "part"], kind="stable").reset_index(drop=True)
    emission = farms["emission_kg_nh3"].to_numpy(float)
    if parts.empty:
        national = gpd.GeoDataFrame(
            {"zone_key": [], "area_codes": [], "width_m": [], "inside_area": [], "area_m2": []},
            geometry=[],
            crs=areas.crs,
        )
        keys = np.full(len(farms), OUTSIDE, dtype=object)
        land_ring = pd.Series(dtype=np.int64)
        land_nat = 0
    else:
        national = national_zones(parts)
        flagged = (
            areas
            if "nitrogen_sensitive" in areas.columns
            else areas.assign(nitrogen_sensitive=True)
        )
        keys = overlay_farms(farms, national, flagged)["zone_key"].astype(str).to_numpy()
        land = land_by_zone(overlay_parcels(parcels, national))
        member = membership(national)
        per = land.merge(member, on="zone_key")
        land_ring = per[per["part"] == RING].groupby("site_code")["area_q"].sum()
        outside_areas = national.loc[~national["inside_area"].to_numpy(bool), "zone_key"]
        land_nat = int(land.loc[land["zone_key"].isin(set(outside_areas)), "area_q"].sum())
    ring_faces, inner_faces = _face_members(keys, codes)
    ring_farms = (
        ring_faces
        if rule_members is None
        else {c: np.asarray(rule_members[c], dtype=bool) for c in codes}
    )
    in_inner = np.zeros(len(farms), dtype=bool)
    for m in inner_faces.values():
        in_inner |= m
    nat_ring = np.zeros(len(farms), dtype=bool)
    for m in ring_farms.values():
        nat_ring |= m
    nat_ring &= ~in_inner
    zone_ha = rings.set_index("site_code")["area_m2"] / 1e4
    rows = [
        {
            "variant": variant,
            "site_code": c,
            "zone_ha": float(zone_ha[c]),
            "farmland_ha": int(land_ring.get(c, 0)) * _HA_PER_QUANTUM,
            "farms": int(ring_farms[c].sum()),
            "emission_kg_nh3": float(emission[ring_farms[c]].sum()),
        }
        for c in codes
    ]
    faces_out = ~national["inside_area"].to_numpy(bool)
    rows.append(
        {
            "variant": variant,
            "site_code": NATIONAL,
            "zone_ha": float(national["area_m2"].to_numpy(float)[faces_out].sum() / 1e4),
            "farmland_ha": land_nat * _HA_PER_QUANTUM,
            "farms": int(nat_ring.sum()),
            "emission_kg_nh3": float(emission[nat_ring].sum()),
        }
    )
    inside = {c: ring_farms[c] | inner_faces[c] for c in codes}
    inside_nat = nat_ring | in_inner
    return pd.DataFrame(rows), inside, inside_nat


def compare_zone_bases(
    areas: gpd.GeoDataFrame,
    habitat: gpd.GeoDataFrame,
    farms: gpd.GeoDataFrame,
    parcels: gpd.GeoDataFrame,
    receptors: gpd.GeoDataFrame,
    model: DepositionModel,
    *,
    variants: Sequence[str] = ZONE_BASES,
    params: Parameters | None = None,
    include_inner: bool = True,
    quad_segs: int | None = None,
    cut_pct: float = 1.0,
) -> pd.DataFrame:
    """Hectares, farmland, farms, NH3 and the effect of a kg cut in the zone, per zone basis.

    Parameters
    ----------
    areas
        The zones stage's areas (``stages/areas.parquet``): ``site_code``, ``name``,
        ``nitrogen_sensitive``, ``zone_width_m`` (m; 0 = no zone) and polygons in a
        projected CRS (m). Only areas with a zone take part, in every variant.
    habitat
        Habitat polygons with ``kdw_mol_ha`` (mol N/ha/yr) and ``site_code`` (the habitat
        input layer as read).
    farms
        Farms with ``farm_id``, ``emission_kg_nh3`` (kg NH3/yr), points (m) and, for a
        class-aware model, ``source_height_m`` (any zone columns are recomputed).
    parcels
        Parcels with ``parcel_id``, ``category`` and polygons (the parcel input layer).
    receptors
        Receptors with ``receptor_id``, ``site_code`` and ``habitat_ha`` (the deposition
        stage's).
    model
        The deposition model of the stages (``model_from_config``).
    variants
        Zone bases among :data:`ZONE_BASES`, in the order wanted.
    params
        Parameters (``[kdw] not_sensitive_from_mol_ha``, ``[ta_luft]``, ``[zones]
        quad_segs``); default: the packaged ones.
    include_inner
        The zones include the area itself (``[zones] include_inner``): farms inside the area
        count as inside for the effectiveness, and land inside an area is not outside it
        nationally.
    quad_segs
        Buffer segments per quarter circle (default ``[zones] quad_segs``); the config's
        ``cfg.quad_segs`` to match the zones stage.
    cut_pct
        The marginal cut of the effectiveness (``effectiveness_cut_pct``), %.

    Returns
    -------
    DataFrame
        :data:`ZONE_VARIANT_COLUMNS`, one row per variant and zoned area (by ``site_code``)
        then the variant's national row ``ALL``: ``width_m`` (m; NaN for a per-farm rule),
        ``sensitive_habitat_ha`` (ha), ``zone_ha`` (zone outside the area, ha),
        ``farmland_ha`` (ha), ``farms``, ``emission_kg_nh3`` (kg NH3/yr of the zone's farms),
        ``cut_pct``, ``farms_cut_inside`` (the farms whose cut counts as inside: the zone's,
        plus those inside the area with ``include_inner``), ``per_kg_inside_sum_mol``,
        ``per_kg_outside_sum_mol`` (mol N/yr on the area's sensitive habitat per kg NH3/yr
        cut) and ``ratio_inside_outside`` (NaN for an area without receptors).

    Raises
    ------
    ConfigError
        For an unknown variant.
    InputError
        For areas without ``zone_width_m`` or a negative emission.
    """
    unknown = [v for v in variants if v not in ZONE_BASES]
    if unknown or not variants:
        raise ConfigError(f"zone bases {unknown or list(variants)}: choose from {list(ZONE_BASES)}")
    if ZONE_WIDTH_COLUMN not in areas.columns:
        raise InputError(f"the areas need {ZONE_WIDTH_COLUMN!r} (the zones stage's areas table)")
    params = params or load_parameters()
    quad_segs = quad_segs or params.zones.quad_segs
    areas, farms, receptors = sort_inputs(areas, farms, receptors)
    zoned = areas[areas[ZONE_WIDTH_COLUMN].to_numpy(float) > 0].reset_index(drop=True)
    if zoned.empty:
        raise InputError("no area has a zone (every zone_width_m is 0)")
    codes = zoned["site_code"].astype(str).to_numpy()
    names = dict(
        zip(codes, zoned["name"].astype(str) if "name" in zoned.columns else codes, strict=True)
    )
    widths = pd.Series(zoned[ZONE_WIDTH_COLUMN].to_numpy(float), index=codes)
    letter = zone_parts(zoned, widths, include_inner=True, quad_segs=quad_segs)
    inner = letter[letter["part"] == INNER] if include_inner else letter.iloc[:0]
    hab = sensitive_habitat_by_area(zoned, habitat, params.kdw.not_sensitive_from_mol_ha)
    hab_ha = pd.Series(shapely.area(hab.to_numpy()) / 1e4, index=codes)

    tables = []
    for variant in variants:
        rule = None
        if variant == AREA_EDGE:
            rings = letter[letter["part"] == RING]
        elif variant == HABITAT_EDGE:
            rings = habitat_edge_rings(zoned, hab, widths, quad_segs=quad_segs)
        else:
            f = getattr(params.ta_luft, TA_LUFT_F_PARAMETER[variant])
            x_min = ta_luft_distance_m(farms["emission_kg_nh3"], f)
            rule = ta_luft_members(zoned, hab, farms, x_min)
            rings = ta_luft_rings(zoned, farms, rule, x_min, quad_segs=quad_segs, layer=variant)
        figures, inside, inside_nat = _variant_figures(
            variant, rings, inner, zoned, farms, parcels, rule
        )
        eff = effectiveness_by_membership(
            farms, receptors, model, inside_nat, inside, names=names, cut_pct=cut_pct
        ).set_index("site_code")
        eff = eff.reindex([*codes, NATIONAL])
        figures["name"] = [names[c] for c in codes] + ["all areas, overlaps counted once"]
        figures["width_m"] = [*widths.to_numpy(), np.nan] if rule is None else np.nan
        figures["sensitive_habitat_ha"] = [
            *hab_ha.to_numpy(),
            float(shapely.area(shapely.union_all(hab.to_numpy())) / 1e4),
        ]
        figures["cut_pct"] = cut_pct
        figures["farms_cut_inside"] = [int(inside[c].sum()) for c in codes] + [
            int(inside_nat.sum())
        ]
        for col in ("per_kg_inside_sum_mol", "per_kg_outside_sum_mol", "ratio_inside_outside"):
            figures[col] = eff[col].to_numpy(float)
        nat = figures.iloc[-1]
        log.info(
            "zone basis %s: %.0f ha outside the areas, %d farms, %.0f kg NH3/yr; "
            "inside/outside %.2f",
            variant,
            nat["zone_ha"],
            nat["farms"],
            nat["emission_kg_nh3"],
            nat["ratio_inside_outside"],
        )
        tables.append(figures)
    return pd.concat(tables, ignore_index=True)[ZONE_VARIANT_COLUMNS]
