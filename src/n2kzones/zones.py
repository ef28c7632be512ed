"""Zones around protected areas: a ring from each area's edge outward, optionally the area
itself ("in en rondom"), and a national layer in which overlapping zones are split into
non-overlapping faces that keep every area the land belongs to and the largest width.

Nothing here is specific to Natura 2000: any polygon layer with a ``site_code`` works
(e.g. the "kwetsbare watergebieden" with their own widths).
"""

from __future__ import annotations

import logging
import math
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from n2kzones.errors import ConfigError, InputError

log = logging.getLogger(__name__)

#: Column of the zones stage's areas table with the zone width in force per area (m): the
#: width the zone rings were built with. Maps, report and zone proposal all show this one.
ZONE_WIDTH_COLUMN = "zone_width_m"

RING = "ring"
INNER = "inner"


@dataclass(frozen=True)
class ZoneLayers:
    """Zones per area (may overlap) and the national layer of non-overlapping faces."""

    by_area: gpd.GeoDataFrame
    national: gpd.GeoDataFrame


def read_width_overrides(path: str | Path) -> dict[str, float]:
    """Read a CSV of official zone widths (columns ``site_code``, ``width_m``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"zones.overrides_csv: {path} does not exist")
    table = pd.read_csv(path, dtype={"site_code": "string"})
    missing = {"site_code", "width_m"} - set(table.columns)
    if missing:
        raise ConfigError(f"{path}: needs columns site_code and width_m (missing {sorted(missing)})")
    widths = pd.to_numeric(table["width_m"], errors="coerce")
    bad = widths.isna() | (widths < 0) | (widths > 10_000)
    if bad.any():
        raise ConfigError(f"{path}: width_m must be a number of metres 0..10000; bad rows {list(table.index[bad][:5])}")
    if table["site_code"].duplicated().any():
        raise ConfigError(f"{path}: site codes listed twice: {sorted(table.loc[table['site_code'].duplicated(), 'site_code'])}")
    return dict(zip(table["site_code"].str.strip(), widths.astype(float), strict=True))


LIST_AREAS_HINT = "list the areas with `n2kzones areas -c CONFIG`"


def _norm_code(text: str) -> str:
    return "".join(str(text).split()).upper()


def _norm_name(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def choose_areas(areas: gpd.GeoDataFrame, wanted: list[str] | tuple[str, ...]) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The rows of ``areas`` named in ``wanted`` (site codes, or names compared case-insensitively).

    A code is compared as the areas reader normalises codes (no spaces, upper case); an entry
    that is no code is looked up among the names. Empty ``wanted`` keeps every area. Rows
    are returned unchanged (geometries in the working CRS, m; no zone width assigned yet).

    Returns
    -------
    The chosen areas (in the layer's order) and their site codes, in the order asked for.

    Raises
    ------
    ConfigError
        For an entry that matches no area (naming the closest codes and names) or a name that
        several areas share (naming them).
    """
    import difflib

    if not wanted:
        return areas, list(areas["site_code"].astype(str))
    codes = areas["site_code"].astype(str)
    names = areas["name"].astype(str) if "name" in areas.columns else pd.Series([""] * len(areas), index=areas.index)
    by_code = set(codes)
    name_norm = names.map(_norm_name)
    chosen: list[str] = []
    unknown: list[str] = []
    for entry in wanted:
        code = _norm_code(entry)
        if code in by_code:
            chosen.append(code)
            continue
        hits = codes[name_norm == _norm_name(entry)]
        if len(hits) > 1:
            listed = ", ".join(f"{c} ({n})" for c, n in zip(hits, names[hits.index], strict=True))
            raise ConfigError(
                f"[project] areas: the name {entry!r} belongs to {len(hits)} areas: {listed}; "
                "give the site code instead"
            )
        if len(hits) == 1:
            chosen.append(hits.iloc[0])
        else:
            unknown.append(entry)
    if unknown:
        lines = []
        by_name = {_norm_name(n): n for n in names if n}
        for entry in unknown:
            close = [by_name[k] for k in difflib.get_close_matches(_norm_name(entry), list(by_name), n=3, cutoff=0.6)]
            close += difflib.get_close_matches(_norm_code(entry), list(by_code), n=3, cutoff=0.6)
            hint = f"closest: {', '.join(close[:3])}" if close else "no close match"
            lines.append(f"{entry!r} ({hint})")
        raise ConfigError(
            f"[project] areas: {len(unknown)} of the chosen areas are not in the area layer: "
            f"{'; '.join(lines)}; {LIST_AREAS_HINT}"
        )
    chosen = list(dict.fromkeys(chosen))
    keep = codes.isin(chosen).to_numpy()
    return areas.loc[keep].copy(), chosen


# -- choosing areas by province -------------------------------------------------------------

#: Other names of provinces, folded as :func:`_fold_province` folds them: the Dutch
#: name "Friesland" of the province whose official (CBS) name is "Fryslân".
PROVINCE_ALIASES: dict[str, str] = {"friesland": "fryslan"}

#: The rule by which an area is in a province (logged and recorded in the manifest).
PROVINCE_RULE = (
    "an area is in a province when their polygons share more than a boundary "
    "(an area in two provinces is in both)"
)


@dataclass(frozen=True)
class ProvinceChoice:
    """The areas chosen by province (and, if given, by ``[project] areas`` as well).

    Attributes
    ----------
    areas
        The chosen rows of the area layer, unchanged (polygons in the working CRS, m), in
        the layer's order.
    site_codes
        Their site codes: in the order ``[project] areas`` asked for them when it was given,
        else in the layer's order.
    provinces
        The matched provinces (their names in the province layer), in the order asked for.
    pairs
        One row per chosen area and matched province it lies in (an area in two of them has
        two rows): ``site_code``, ``name``, ``province``, ``province_code``, ``overlap_ha``
        (area of the area polygon inside the province, ha) and ``share_pct`` (that as % of
        the area's polygon).
    """

    areas: gpd.GeoDataFrame
    site_codes: list[str]
    provinces: list[str]
    pairs: pd.DataFrame


def _fold_province(text: str) -> str:
    """A province name or code as it is compared: accents removed, case folded, hyphens and
    runs of spaces made one space (``"Fryslân"`` -> ``"fryslan"``, ``"Noord-Holland"`` ->
    ``"noord holland"``), and a known other name mapped to the official one
    (:data:`PROVINCE_ALIASES`: ``"Friesland"`` -> ``"fryslan"``)."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = " ".join(text.replace("-", " ").replace("_", " ").split())
    return PROVINCE_ALIASES.get(text, text)


def _province_labels(provinces: gpd.GeoDataFrame) -> list[str]:
    names = provinces["name"].astype(str)
    if "code" not in provinces.columns:
        return list(names)
    return [
        n if pd.isna(c) else f"{n} ({c})" for n, c in zip(names, provinces["code"], strict=True)
    ]


def match_provinces(provinces: gpd.GeoDataFrame, wanted: list[str] | tuple[str, ...]) -> list[int]:
    """Positions in ``provinces`` of the provinces named in ``wanted``, in the order asked for.

    An entry matches a province's ``name`` compared by :func:`_fold_province` (case,
    accents, hyphens: ``"fryslan"`` and ``"Friesland"`` find ``"Fryslân"``) or its ``code``
    (CBS statcode ``"PV21"``, compared without case and spaces). Geometry (m) is not used.

    Raises
    ------
    ConfigError
        For entries that match no province, naming every province of the layer (name and
        code) and the closest matches.
    """
    import difflib

    names = provinces["name"].astype(str).map(_fold_province).tolist()
    codes = (
        provinces["code"].astype("string").fillna("").map(_norm_code).tolist()
        if "code" in provinces.columns
        else [""] * len(provinces)
    )
    out: list[int] = []
    unknown: list[str] = []
    for entry in wanted:
        folded, code = _fold_province(entry), _norm_code(entry)
        hits = [
            i for i in range(len(provinces)) if names[i] == folded or (code and codes[i] == code)
        ]
        if hits:
            out.extend(h for h in hits if h not in out)
        else:
            unknown.append(entry)
    if unknown:
        labels = _province_labels(provinces)
        by_fold = {n: labels[i] for i, n in enumerate(names)}
        lines = []
        for entry in unknown:
            close = [
                by_fold[k]
                for k in difflib.get_close_matches(
                    _fold_province(entry), list(by_fold), n=3, cutoff=0.6
                )
            ]
            lines.append(
                f"{entry!r} ({'closest: ' + ', '.join(close) if close else 'no close match'})"
            )
        raise ConfigError(
            f"[project] province: {len(unknown)} of the chosen provinces are not in the province "
            f"layer: {'; '.join(lines)}; the layer has: {', '.join(labels)}"
        )
    return out


def areas_in_provinces(areas: gpd.GeoDataFrame, provinces: gpd.GeoDataFrame) -> pd.DataFrame:
    """Which province(s) each area lies in, by polygon intersection.

    An area is in a province when their polygons share more than a boundary (they intersect
    and do not merely touch); an area that spans two provinces is in both. Both layers must
    be in the same projected CRS (m).

    Parameters
    ----------
    areas
        Areas with ``site_code`` (and ``name``) and polygons.
    provinces
        Provinces with ``name`` (and ``code``) and polygons.

    Returns
    -------
    DataFrame
        One row per (area, province) pair: ``site_code``, ``name``, ``province``,
        ``province_code`` (None without a code column), ``overlap_ha`` (area of the area
        polygon inside the province, ha) and ``share_pct`` (that as % of the area polygon).
        Sorted by province (layer order), then area (layer order).
    """
    columns = ["site_code", "name", "province", "province_code", "overlap_ha", "share_pct"]
    if areas.crs is not None and provinces.crs is not None and not areas.crs.equals(provinces.crs):
        raise InputError(
            f"areas ({areas.crs}) and provinces ({provinces.crs}) are in different CRSs; "
            "read both in the working CRS"
        )
    a_geom = areas.geometry.to_numpy()
    p_geom = provinces.geometry.to_numpy()
    if len(a_geom) == 0 or len(p_geom) == 0:
        return pd.DataFrame(columns=columns)
    pi, ai = shapely.STRtree(a_geom).query(p_geom, predicate="intersects")
    keep = ~shapely.touches(a_geom[ai], p_geom[pi])
    pi, ai = pi[keep], ai[keep]
    order = np.lexsort((ai, pi))
    pi, ai = pi[order], ai[order]
    overlap = shapely.area(shapely.intersection(a_geom[ai], p_geom[pi])) / 1e4
    whole = shapely.area(a_geom[ai]) / 1e4
    names = (
        areas["name"].astype(str).to_numpy()
        if "name" in areas.columns
        else areas["site_code"].astype(str).to_numpy()
    )
    p_codes = (
        provinces["code"].to_numpy(object)
        if "code" in provinces.columns
        else np.full(len(provinces), None, object)
    )
    return pd.DataFrame(
        {
            "site_code": areas["site_code"].astype(str).to_numpy()[ai],
            "name": names[ai],
            "province": provinces["name"].astype(str).to_numpy()[pi],
            "province_code": [None if pd.isna(c) else str(c) for c in p_codes[pi]],
            "overlap_ha": overlap,
            "share_pct": np.where(
                whole > 0, 100.0 * overlap / np.where(whole > 0, whole, 1.0), 0.0
            ),
        },
        columns=columns,
    )


def choose_areas_by_province(
    areas: gpd.GeoDataFrame,
    provinces: gpd.GeoDataFrame,
    wanted: list[str] | tuple[str, ...],
    *,
    within: list[str] | None = None,
) -> ProvinceChoice:
    """The areas that lie in the provinces named in ``wanted`` (see :func:`areas_in_provinces`).

    Parameters
    ----------
    areas
        The whole area layer (``site_code``, ``name``, polygons in the working CRS, m).
    provinces
        The province layer (``name``, optional ``code``, polygons in the same CRS).
    wanted
        Province names or codes (see :func:`match_provinces`); must not be empty.
    within
        Site codes already chosen by ``[project] areas`` (:func:`choose_areas`): the result
        is the areas both choose, in this order. None: no such choice.

    Returns
    -------
    ProvinceChoice
        The chosen areas, their site codes, the matched provinces and the (area, province)
        pairs with the overlap in ha.

    Raises
    ------
    ConfigError
        An unknown province (naming the layer's provinces), or a choice that keeps no area:
        naming what was asked and the areas that do lie in the provinces, or the provinces
        that the asked areas lie in.
    """
    if not wanted:
        raise ConfigError("[project] province: no province given")
    matched = match_provinces(provinces, wanted)
    chosen_prov = provinces.iloc[matched]
    names = list(chosen_prov["name"].astype(str))
    pairs = areas_in_provinces(areas, provinces)
    in_chosen = pairs[pairs["province"].isin(names)]
    in_codes = list(dict.fromkeys(in_chosen["site_code"]))  # province order, then layer order
    layer_codes = list(areas["site_code"].astype(str))
    in_set = set(in_codes)
    if within is None:
        codes = [c for c in layer_codes if c in in_set]
    else:
        codes = [c for c in dict.fromkeys(within) if c in in_set]
    asked = ", ".join(_province_labels(chosen_prov))
    if not codes:
        label = dict(
            zip(
                areas["site_code"].astype(str),
                areas["name"].astype(str) if "name" in areas else areas["site_code"].astype(str),
                strict=True,
            )
        )
        if within is None:
            where = pairs.groupby("province", sort=False)["site_code"].nunique()
            lies = (
                ", ".join(f"{p} ({n})" for p, n in where.items())
                or "none (do the layers overlap, in one CRS?)"
            )
            raise ConfigError(
                f"[project] province = {list(wanted)}: no area of the area layer lies in {asked}; "
                f"provinces with areas (count): {lies}"
            )
        parts = []
        for code in dict.fromkeys(within):
            prov = pairs.loc[pairs["site_code"] == code, "province"].tolist()
            where = ", ".join(prov) if prov else "no province of the layer"
            parts.append(f"{code} ({label.get(code, code)}) lies in {where}")
        inside = ", ".join(f"{c} ({label[c]})" for c in in_codes[:10]) + (
            f" and {len(in_codes) - 10} more" if len(in_codes) > 10 else ""
        )
        raise ConfigError(
            f"[project] areas = {list(within)} and province = {list(wanted)} choose no area "
            f"together: {'; '.join(parts)}. Areas in {asked}: {inside or 'none'}; list them per "
            "province with `n2kzones areas -c CONFIG --by-province`"
        )
    keep = areas["site_code"].astype(str).isin(codes).to_numpy()
    return ProvinceChoice(
        areas=areas.loc[keep].copy(),
        site_codes=codes,
        provinces=names,
        pairs=in_chosen[in_chosen["site_code"].isin(codes)].reset_index(drop=True),
    )


def resolve_widths(
    areas: gpd.GeoDataFrame,
    *,
    default_width_m: float,
    overrides: Mapping[str, float] | None = None,
    only_nitrogen_sensitive: bool = True,
) -> pd.Series:
    """Zone width per area, in metres (0 = no zone).

    Rules, in order: every area gets ``default_width_m``; areas not flagged
    nitrogen-sensitive get 0 when ``only_nitrogen_sensitive``; an explicit override (the
    official list) always wins.

    Returns
    -------
    pandas.Series
        ``width_m`` indexed by ``site_code``.
    """
    overrides = dict(overrides or {})
    codes = areas["site_code"].astype(str)
    width = pd.Series(float(default_width_m), index=pd.Index(codes, name="site_code"), name="width_m")
    if only_nitrogen_sensitive and "nitrogen_sensitive" in areas.columns:
        width[~areas["nitrogen_sensitive"].to_numpy(bool)] = 0.0
    unknown = sorted(set(overrides) - set(codes))
    if unknown:
        log.warning("zone width overrides for %d site codes not in the area layer: %s", len(unknown), unknown[:10])
    for code, w in overrides.items():
        if code in width.index:
            width[code] = float(w)
    log.info(
        "zone widths: %s",
        ", ".join(f"{w:g} m: {n}" for w, n in width.value_counts().sort_index().items()),
    )
    return width


def zone_parts(
    areas: gpd.GeoDataFrame,
    widths_m: pd.Series,
    *,
    include_inner: bool = True,
    quad_segs: int = 16,
    layer: str = "natura2000",
) -> gpd.GeoDataFrame:
    """The zone of every area: a ring ``buffer(area, width) - area`` and, optionally, the
    area itself as the inner part. Areas with width 0 get neither.

    Parameters
    ----------
    areas
        Protected areas with ``site_code``, ``name`` (projected CRS in metres).
    widths_m
        Width per ``site_code`` in metres (see :func:`resolve_widths`).
    include_inner
        Add the area itself as part ``"inner"`` (zoning "in en rondom").
    quad_segs
        Segments per quarter circle of the buffer.
    layer
        Name of the protected-area layer, kept in the output.

    Returns
    -------
    GeoDataFrame
        One row per area and part: ``layer, site_code, name, part, width_m, area_m2``.
    """
    if areas.crs is None or not areas.crs.is_projected:
        raise InputError(
            "zones need areas in a projected CRS in metres; buffering degrees is meaningless "
            "(reproject to EPSG:28992 first)"
        )
    if len(areas) == 0:
        raise InputError("no areas to zone: the area layer is empty")
    t0 = time.perf_counter()
    codes = areas["site_code"].astype(str).to_numpy()
    w = widths_m.reindex(codes).to_numpy(float)
    if np.isnan(w).any():
        raise InputError(f"no zone width for site codes {list(codes[np.isnan(w)][:10])}")
    geoms = areas.geometry.to_numpy()
    zoned = w > 0
    buffered = shapely.buffer(geoms[zoned], w[zoned], quad_segs=quad_segs)
    rings = shapely.difference(buffered, geoms[zoned])
    names = areas["name"].astype(str).to_numpy() if "name" in areas.columns else codes
    frames = [
        pd.DataFrame({"site_code": codes[zoned], "name": names[zoned], "part": RING, "width_m": w[zoned], "geometry": rings})
    ]
    if include_inner:
        frames.append(
            pd.DataFrame({"site_code": codes[zoned], "name": names[zoned], "part": INNER, "width_m": w[zoned], "geometry": geoms[zoned]})
        )
    parts = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=areas.crs)
    parts.insert(0, "layer", layer)
    parts["geometry"] = shapely.make_valid(parts.geometry.to_numpy())
    parts["area_m2"] = parts.geometry.area
    parts = parts.sort_values(["site_code", "part"], kind="stable").reset_index(drop=True)
    log.info(
        "zoned %d of %d areas (%d without zone) in %.1f s; ring area %.0f ha",
        int(zoned.sum()), len(areas), int((~zoned).sum()), time.perf_counter() - t0,
        parts.loc[parts["part"] == RING, "area_m2"].sum() / 1e4,
    )
    return parts


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a set-operation result (drops touching lines and points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def _split_component(geoms: list[shapely.Geometry], ids: list[int]) -> list[tuple[shapely.Geometry, frozenset[int]]]:
    """Split overlapping polygons into non-overlapping faces, each with the set of inputs
    that cover it (a union overlay of a handful of polygons).

    The incremental overlay (intersect / subtract one polygon at a time) keeps the inputs'
    vertices exactly. On thin spikes GEOS can return a difference that still overlaps the
    intersection; the faces' areas then no longer add up to the union's, and the faces are
    rebuilt from the noded boundaries instead (:func:`_faces_by_polygonize`), which cannot
    overlap by construction. Either way the faces tile the union exactly once.
    """
    faces = _faces_incremental(geoms, ids)
    union = shapely.union_all(geoms).area
    summed = math.fsum(f.area for f, _ in faces)
    if abs(summed - union) > 1e-9 * max(union, 1.0):
        log.warning(
            "zone overlay of %d parts: incremental faces add up to %.3f m2, the union is %.3f m2; "
            "rebuilding the faces from the noded boundaries", len(geoms), summed, union,
        )
        faces = _faces_by_polygonize(geoms, ids)
    return faces


def _faces_incremental(geoms: list[shapely.Geometry], ids: list[int]) -> list[tuple[shapely.Geometry, frozenset[int]]]:
    faces: list[tuple[shapely.Geometry, frozenset[int]]] = []
    for geom, pid in zip(geoms, ids, strict=True):
        new: list[tuple[shapely.Geometry, frozenset[int]]] = []
        for face, members in faces:
            if not face.intersects(geom):
                new.append((face, members))
                continue
            inter = _polygonal(face.intersection(geom))
            rest = _polygonal(face.difference(geom))
            if inter.area > 0:
                new.append((inter, members | {pid}))
            if rest.area > 0:
                new.append((rest, members))
        covered = shapely.union_all([f for f, _ in faces]) if faces else shapely.Polygon()
        alone = _polygonal(geom.difference(covered))
        if alone.area > 0:
            new.append((alone, frozenset({pid})))
        faces = new
    return faces


def _faces_by_polygonize(geoms: list[shapely.Geometry], ids: list[int]) -> list[tuple[shapely.Geometry, frozenset[int]]]:
    """Faces of the arrangement of all boundaries; members by a point inside each face."""
    lines = shapely.union_all(shapely.boundary(np.asarray(geoms, dtype=object)))
    cells = shapely.get_parts(shapely.polygonize([lines]))
    cells = cells[shapely.area(cells) > 0]
    inside = shapely.point_on_surface(cells)
    prepared = np.asarray(geoms, dtype=object)
    shapely.prepare(prepared)
    groups: dict[frozenset[int], list[shapely.Geometry]] = {}
    for cell, pt in zip(cells, inside, strict=True):
        members = frozenset(pid for g, pid in zip(prepared, ids, strict=True) if g.contains(pt))
        if members:  # a hole enclosed by the parts belongs to none of them
            groups.setdefault(members, []).append(cell)
    return [(_polygonal(shapely.union_all(cs)), m) for m, cs in groups.items()]


def _connected_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component of each of ``n`` nodes of the undirected graph with edges ``a[i] - b[i]``.

    Components are numbered 0, 1, ... in the order of their lowest node, as
    :func:`scipy.sparse.csgraph.connected_components` numbers them (a union-find whose root is
    each component's lowest node; no SciPy import for a stage that needs only this).

    Parameters
    ----------
    n
        Number of nodes.
    a, b
        Node indices of the edges' ends (same length).

    Returns
    -------
    ndarray
        ``int64`` component number per node.
    """
    parent = list(range(n))

    def root(x: int) -> int:
        r = x
        while parent[r] != r:
            r = parent[r]
        while parent[x] != r:  # path compression
            parent[x], x = r, parent[x]
        return r

    for i, j in zip(np.asarray(a).tolist(), np.asarray(b).tolist(), strict=True):
        ri, rj = root(i), root(j)
        if ri != rj:  # the lower root stays the root: it is the component's lowest node
            parent[max(ri, rj)] = min(ri, rj)
    lowest = np.array([root(x) for x in range(n)], dtype=np.int64)
    return np.unique(lowest, return_inverse=True)[1].astype(np.int64).reshape(n)


def national_zones(parts: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Non-overlapping faces of all zone parts, one row per distinct membership.

    Where zones of several areas overlap, the face keeps every area (and part) it belongs
    to, and ``width_m`` is the largest of their widths.

    Returns
    -------
    GeoDataFrame
        ``zone_key`` (e.g. ``"NL01:ring|NL02:ring"``), ``area_codes`` (``;``-separated),
        ``n_areas``, ``width_m``, ``inside_area`` (the face lies inside a protected area),
        ``area_m2``.
    """
    t0 = time.perf_counter()
    parts = parts.reset_index(drop=True)
    geoms = parts.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    codes = parts["site_code"].to_numpy()
    keep = (left < right) & (codes[left] != codes[right])
    label = _connected_components(len(parts), left[keep], right[keep])
    member_sets: list[frozenset[int]] = []
    face_geoms: list[shapely.Geometry] = []
    order = np.argsort(label, kind="stable")  # each component's parts, in part order
    for idx in np.split(order, np.flatnonzero(np.diff(label[order])) + 1) if len(order) else []:
        if len(idx) == 1:
            face_geoms.append(geoms[idx[0]])
            member_sets.append(frozenset({int(idx[0])}))
            continue
        for face, members in _split_component([geoms[i] for i in idx], [int(i) for i in idx]):
            face_geoms.append(face)
            member_sets.append(members)
    labels = (parts["site_code"].astype(str) + ":" + parts["part"].astype(str)).to_numpy()
    keys = ["|".join(sorted(labels[i] for i in m)) for m in member_sets]
    faces = gpd.GeoDataFrame({"zone_key": keys, "geometry": face_geoms}, geometry="geometry", crs=parts.crs)
    national = faces.dissolve(by="zone_key", sort=True).reset_index()
    width = parts["width_m"].to_numpy()
    part_of = parts["part"].to_numpy()
    by_key: dict[str, frozenset[int]] = {}
    for k, m in zip(keys, member_sets, strict=True):
        by_key[k] = by_key.get(k, frozenset()) | m
    national["area_codes"] = [";".join(sorted({codes[i] for i in by_key[k]})) for k in national["zone_key"]]
    national["n_areas"] = [len({codes[i] for i in by_key[k]}) for k in national["zone_key"]]
    national["width_m"] = [float(max(width[i] for i in by_key[k])) for k in national["zone_key"]]
    national["inside_area"] = [any(part_of[i] == INNER for i in by_key[k]) for k in national["zone_key"]]
    national["area_m2"] = national.geometry.area
    national = national[["zone_key", "area_codes", "n_areas", "width_m", "inside_area", "area_m2", "geometry"]]
    n_overlap = int((national["n_areas"] > 1).sum())
    log.info(
        "national zone layer: %d faces (%d where areas overlap, %.0f ha), %.0f ha in all (%.1f s)",
        len(national), n_overlap, national.loc[national["n_areas"] > 1, "area_m2"].sum() / 1e4,
        national["area_m2"].sum() / 1e4, time.perf_counter() - t0,
    )
    return national


def membership(national: gpd.GeoDataFrame) -> pd.DataFrame:
    """Long table ``zone_key -> (site_code, part)``: which areas each national face serves
    (no measured values: areas stay in ``national``'s ``area_m2``, m2)."""
    rows = [
        (key, *member.rsplit(":", 1))
        for key in national["zone_key"]
        for member in key.split("|")
    ]
    return pd.DataFrame(rows, columns=["zone_key", "site_code", "part"])


def build_zones(
    areas: gpd.GeoDataFrame,
    widths_m: pd.Series,
    *,
    include_inner: bool = True,
    quad_segs: int = 16,
    layer: str = "natura2000",
) -> ZoneLayers:
    """Zones per area and the national non-overlapping zone layer (see :func:`zone_parts`);
    ``widths_m`` in m, areas in ``area_m2`` (m2)."""
    parts = zone_parts(areas, widths_m, include_inner=include_inner, quad_segs=quad_segs, layer=layer)
    if parts.empty:
        raise InputError("no area has a zone (all widths are 0); check the zone rules in the config")
    return ZoneLayers(by_area=parts, national=national_zones(parts))
