"""Interactive Leaflet maps (folium) of the pipeline's outputs.

:func:`overview_map` builds the national overview and :func:`area_map` the map of one area
from frames the maps stage (:mod:`n2kzones.stages.maps`) has read; :func:`write_map` writes
one. Every map is a single HTML file: GeoJSON and raster
images are inline (browsers block side-car files when a map is opened from disk); with
``self_contained=True`` Leaflet's JS/CSS are inlined too, from the ``django-js-lib-leaflet``
package (Leaflet 1.9.4), so the map needs no CDN (the basemap tiles still come from the web).

Maps read at a glance: by default one filled layer per part of the map (the exceedance of
the KDW on an area map; the habitat polygons and the zone as outlines), the other layers one
click away in a collapsed layer control, a legend of the visible layers only, farms coloured
by their largest contribution (:data:`FARM_CLASSES`), human zone labels, a metric scale, a
``<title>``, a notice when the base tiles cannot load and a light built-in context layer
(outlines and names, :func:`context_layer`) that works offline. User-facing text is in the
catalogue (:mod:`n2kzones.render.i18n`, keys ``map.*``), in the language of
:attr:`MapContext.lang` (``[project] language``, Dutch by default); the page's ``<html lang>``
says which.

Geometry is simplified (10 m, or 1/4000 of the map's extent: :func:`map_simplify_m`; topology
preserved) and rounded to 1e-5 degrees for display only; rasters are downsampled to
:data:`MAX_RASTER_PX` and written as palette PNGs; styles are written once per layer, so that
an area map on real data stays under 5 MB (Veluwe: 3.4 MB).

Every value taken from input data is HTML-escaped before it reaches a tooltip, popup
or legend: folium's ``GeoJsonTooltip`` puts property values into ``innerHTML`` unescaped, so
features carry only pre-escaped ``tip``/``popup`` strings and numbers, never raw columns.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xyzservices
from branca.element import Element, Figure, MacroElement
from folium.template import Template
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_hex
from shapely.errors import GEOSException

from n2kzones.habitats import HABITAT_MAP, habitat_source_by_area
from n2kzones.io.writers import atomic_path
from n2kzones.render.i18n import DEFAULT_LANGUAGE, localise, tr
from n2kzones.render.names import area_map_name, safe_name  # noqa: F401 - used and re-exported
from n2kzones.zones import ZONE_WIDTH_COLUMN

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
SIMPLIFY_M = 10.0
PRECISION_DEG = 1e-5
#: Longest side (px) of a raster image on a map; larger rasters are downsampled to it.
MAX_RASTER_PX = 1200
#: Margin (m) around an area's zone in its map's extent (and its rasters' crop).
EXTENT_MARGIN_M = 500.0
PDOK_BRT = (
    "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png"
)
PDOK_ATTR = 'Kaartgegevens &copy; <a href="https://www.kadaster.nl">Kadaster</a> / <a href="https://www.pdok.nl">PDOK</a>'
CROP_COLOURS = {
    "grasland": "#7fc97f",
    "bouwland": "#fdc086",
    "braakland": "#d9c39a",
    "natuurterrein": "#1b7837",
    "landschapselement": "#8c6d31",
}
RKO_COLOURS = {"below": "#2c7bb6", "above": "#d7191c", "unknown": "#777777"}
#: RKO status of a farm at the map's threshold -> its text in the popups.
RKO_STATUS = {"below": "map.rko_below", "above": "map.rko_above", "unknown": "map.rko_unknown"}

# --------------------------------------------------------------------------- helpers


def _e(value: object, fmt: str = "", lang: str = DEFAULT_LANGUAGE) -> str:
    """Escaped display string of one value (numbers formatted with ``fmt`` in ``lang``'s
    notation: Dutch ``1.234,5``)."""
    kind = type(value)
    if kind is str:
        return escape(value)
    if kind is float and fmt:  # the common number: what the general case below gives
        return "&ndash;" if math.isnan(value) else escape(localise(format(value, fmt), lang))
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "&ndash;"
    if fmt and isinstance(value, (int, float, np.integer, np.floating)):
        return escape(localise(format(value, fmt), lang))
    return escape(str(value))


def _pylist(values: pd.Series) -> list:
    """The values of ``values`` as a list of what iterating it gives (Python scalars; the
    dtype's missing value), without iterating an Arrow-backed array element by element."""
    return values.to_numpy(dtype=object).tolist()


def _missing(value: object) -> bool:
    """True for None, NaN and pandas' NA."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _rows(pairs: list[tuple[str, str]]) -> str:
    """A small HTML table from (label, already-escaped value) pairs."""
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f"<table class=n2k>{body}</table>"


def display_geometry(gdf: gpd.GeoDataFrame, simplify_m: float = SIMPLIFY_M) -> gpd.GeoSeries:
    """Simplified (in metres, projected CRS), WGS84, rounded copy of the geometry, for display."""
    geoms, pos = _display_arrays(gdf, simplify_m)
    return gpd.GeoSeries(geoms, index=gdf.index[pos], crs=WGS84)


@lru_cache(maxsize=16)
def _wgs84_transform(srs: str) -> tuple[object, object | None]:
    """The CRS given by ``srs`` and its transformer to WGS84 (None: it is WGS84), as
    geopandas' ``to_crs`` sets them up, once per CRS."""
    from pyproj import CRS, Transformer

    crs, dst = CRS.from_user_input(srs), CRS.from_user_input(WGS84)
    if crs.is_exact_same(dst):
        return crs, None
    return crs, Transformer.from_crs(crs, dst, always_xy=True)


def _to_wgs84(geoms: np.ndarray, crs: object) -> np.ndarray:
    """``geopandas.GeoSeries(geoms, crs=crs).to_crs(WGS84)`` as an array: the same
    transformation applied the same way, without setting up the CRS and transformer for every
    layer (some milliseconds each)."""
    if crs is None:
        raise ValueError(
            "Cannot transform naive geometries.  Please set a crs on the object first."
        )
    _, transformer = _wgs84_transform(crs.srs if hasattr(crs, "srs") else str(crs))
    geoms = np.asarray(geoms, dtype=object)
    if transformer is None:
        return geoms
    has_z = shapely.has_z(geoms)
    out = np.empty_like(geoms)
    for z in (False, True):  # as geopandas.array.transform
        part = geoms[has_z == z]
        xyz = shapely.get_coordinates(part, include_z=z)
        moved = transformer.transform(*(xyz[:, i] for i in range(xyz.shape[1])))
        out[has_z == z] = shapely.set_coordinates(part.copy(), np.array(moved).T)
    return out


def clipped_for_display(geoms: np.ndarray, box: shapely.Geometry) -> np.ndarray:
    """``geoms`` cut to the map's extent ``box`` (m), for drawing.

    Where GEOS cannot intersect a geometry (a ``TopologyException`` on an invalid result of
    closing a large dissolved layer), that geometry is made valid first, and failing that
    clipped to the box's rectangle the fast way (:func:`shapely.clip_by_rect`); the count is
    logged. Elsewhere the result is the exact intersection.

    Parameters
    ----------
    geoms
        Geometries in the map's projected CRS (m).
    box
        The map's extent, a rectangle in the same CRS.

    Returns
    -------
    numpy.ndarray
        The clipped geometries, in the same order.
    """

    def made_valid_or_clipped(g: shapely.Geometry) -> shapely.Geometry:
        try:
            return shapely.intersection(shapely.make_valid(g), box)
        except GEOSException:
            return shapely.clip_by_rect(g, *box.bounds)

    return _geos_or_instead(
        lambda g: shapely.intersection(g, box), made_valid_or_clipped, geoms,
        "made valid or clipped to the map's box (GEOS could not cut them)",
    )


def _geos_or_instead(
    op: Callable[[Any], Any], instead: Callable[[shapely.Geometry], shapely.Geometry],
    geoms: np.ndarray, what: str,
) -> np.ndarray:
    """``op(geoms)`` (vectorised); when GEOS raises, ``op`` per geometry and ``instead`` for
    each one it raises on, logging their count as "N geometries ``what``"."""
    try:
        return op(geoms)
    except GEOSException:
        out = np.empty(len(geoms), dtype=object)
        n_instead = 0
        for i, g in enumerate(geoms):
            try:
                out[i] = op(g)
            except GEOSException:
                out[i] = instead(g)
                n_instead += 1
        log.info("maps: %d geometries %s", n_instead, what)
        return out


def rounded_for_display(geoms: np.ndarray, grid_deg: float | None = None) -> np.ndarray:
    """Geometries (WGS84) rounded to ``grid_deg`` degrees (default :data:`PRECISION_DEG`).

    GEOS's snap-rounding keeps each rounded polygon valid; where it cannot (a
    ``TopologyException`` on a large dissolved layer), that geometry's coordinates are
    rounded one by one instead (a map only draws it) and the count is logged.

    Parameters
    ----------
    geoms
        Geometries in degrees (lon, lat).
    grid_deg
        Grid size in degrees.

    Returns
    -------
    numpy.ndarray
        The rounded geometries, in the same order.
    """
    grid = PRECISION_DEG if grid_deg is None else grid_deg
    return _geos_or_instead(
        lambda g: shapely.set_precision(g, grid),
        lambda g: shapely.set_precision(g, grid, mode="pointwise"), geoms,
        "rounded vertex by vertex (GEOS could not snap-round them)",
    )


def _display_arrays(gdf: gpd.GeoDataFrame, simplify_m: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`display_geometry` as arrays: the display geometries (simplified by
    ``simplify_m`` m in a projected CRS, WGS84, rounded to :data:`PRECISION_DEG` degrees;
    none empty) and the positions of their rows in ``gdf``."""
    geom = gdf.geometry
    arr = geom.to_numpy()
    pos = np.flatnonzero(~(shapely.is_empty(arr) | shapely.is_missing(arr)))
    arr = arr[pos]
    if simplify_m > 0 and geom.crs is not None and geom.crs.is_projected:
        arr = shapely.simplify(arr, simplify_m, preserve_topology=True)
    arr = _to_wgs84(arr, geom.crs)
    rounded = rounded_for_display(np.asarray(arr, dtype=object))
    keep = ~shapely.is_empty(rounded)
    return rounded[keep], pos[keep]


def _feature_collection(geom: np.ndarray | gpd.GeoSeries, props: list[dict]) -> dict:
    """A GeoJSON FeatureCollection of ``geom`` (WGS84) with ``props`` as the features'
    properties; the geometries are written by GEOS in one call and parsed in one."""
    if len(geom) != len(props):
        raise ValueError(f"{len(geom)} geometries but {len(props)} property sets")
    arr = geom.to_numpy() if isinstance(geom, gpd.GeoSeries) else geom
    texts = shapely.to_geojson(np.asarray(arr, dtype=object))
    geoms = json.loads("[" + ",".join(texts.tolist()) + "]") if len(texts) else []
    feats = [
        {"type": "Feature", "geometry": g, "properties": p}
        for g, p in zip(geoms, props, strict=True)
    ]
    return {"type": "FeatureCollection", "features": feats}


def geojson_layer(
    name: str,
    gdf: gpd.GeoDataFrame,
    *,
    tips: list[str],
    style: list[dict] | dict,
    popups: list[str] | None = None,
    points: bool = False,
    show: bool = True,
    simplify_m: float = SIMPLIFY_M,
) -> folium.FeatureGroup:
    """One FeatureGroup holding a GeoJSON layer whose features carry only escaped HTML and the
    index of their style.

    No ``style_function``: folium would then write a JS ``switch`` over every feature. The
    distinct styles are written once, as a table, and each feature carries its index ``s``
    into it (a script applies them); points with one common style get it as marker options.
    """
    fg = folium.FeatureGroup(name=name, show=show)
    common = isinstance(style, dict)
    styles = [style] * len(gdf) if common else style
    table: dict[str, int] = {}
    seen: dict[tuple, int] = {}  # style items -> index: json.dumps once per distinct style
    same: dict[int, int] = {}  # id of a style dict met before (``styles`` keeps it alive) -> index
    index = []
    for st in styles:
        i = same.get(id(st))
        if i is not None:
            index.append(i)
            continue
        try:  # the type too: 1 and 1.0 are equal keys but different JSON
            items: tuple | None = tuple((k, type(v), v) for k, v in sorted(st.items()))
            i = seen.get(items)  # type: ignore[arg-type]
        except TypeError:  # an unhashable value
            items, i = None, None
        if i is None:
            i = table.setdefault(json.dumps(st, sort_keys=True), len(table))
            if items is not None:
                seen[items] = i
        same[id(st)] = i
        index.append(i)
    if len(tips) != len(gdf) or len(index) != len(gdf) or (
        popups is not None and len(popups) != len(gdf)
    ):
        raise ValueError(f"{len(gdf)} features but {len(tips)} tips or {len(index)} styles")
    geoms, pos = _display_arrays(gdf, 0.0 if points else simplify_m)
    if not len(geoms):
        return fg
    tips, styled = list(tips), not (points and common)
    if popups is None:
        props = [{"tip": tips[i], "s": index[i]} if styled else {"tip": tips[i]} for i in pos]
    else:
        popups = list(popups)
        props = [
            {"tip": tips[i], "popup": popups[i], "s": index[i]}
            if styled
            else {"tip": tips[i], "popup": popups[i]}
            for i in pos
        ]
    kwargs: dict = {"tooltip": folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True)}
    if popups is not None:
        kwargs["popup"] = folium.GeoJsonPopup(fields=["popup"], labels=False)
    if points:
        kwargs["marker"] = folium.CircleMarker(**(style if common else {"radius": 4, "fill": True}))
    gj = folium.GeoJson(_feature_collection(geoms, props), name=name, **kwargs).add_to(fg)
    if not (points and common):
        styles_js = "[" + ",".join(table) + "]"
        _Script(
            f"(function(t) {{ {gj.get_name()}.setStyle("
            f"function(f) {{ return t[f.properties.s]; }}); }})({styles_js});"
        ).add_to(fg)
    return fg


def colour_for(values: np.ndarray, cmap: str, vmin: float, vmax: float) -> list[str]:
    """Hex colour of each value on colour map ``cmap`` from ``vmin`` to ``vmax`` (clipped);
    ``#bbbbbb`` for a value that is not finite. The map is applied to all values at once."""
    vals = np.asarray(values, dtype=float).ravel()
    finite = np.isfinite(vals)
    out = ["#bbbbbb"] * len(vals)
    if finite.any():
        norm = Normalize(vmin=vmin, vmax=vmax, clip=True)
        rgba = np.atleast_2d(colormaps[cmap](norm(vals[finite])))
        hexes: dict[tuple, str] = {}
        for i, c in zip(np.flatnonzero(finite).tolist(), map(tuple, rgba.tolist()), strict=True):
            h = hexes.get(c)
            if h is None:
                h = hexes[c] = to_hex(c)
            out[i] = h
    return out


def _section(layer: str | None, body: str) -> str:
    """A legend section; one tied to ``layer`` (its name in the layer control) is shown only
    while that layer is on the map (see :func:`finish_map`)."""
    attr = f" data-layer='{escape(layer, quote=True)}'" if layer is not None else ""
    return f"<div class='n2k-leg'{attr} style='margin-top:4px'>{body}</div>"


def line_legend(title: str, items: list[tuple[str, str, str]]) -> str:
    """Legend rows of line symbols: (label, colour, CSS border style)."""
    rows = "".join(
        f"<div><span style='display:inline-block;width:18px;height:0;border-top:2px {st} {c};"
        f"margin:0 4px 3px 0'></span>{escape(label)}</div>"
        for label, c, st in items
    )
    return f"<b>{escape(title)}</b>{rows}"


def gradient_legend(
    title: str, cmap: str, vmin: float, vmax: float, unit: str, lang: str = DEFAULT_LANGUAGE
) -> str:
    cm = colormaps[cmap]
    stops = ", ".join(to_hex(cm(i / 8)) for i in range(9))
    lo, hi = (localise(f"{v:,.0f}", lang) for v in (vmin, vmax))
    return (
        f"<div style='margin-top:4px'><b>{escape(title)}</b> ({escape(unit)})"
        f"<div style='width:180px;height:10px;background:linear-gradient(to right, {stops})'></div>"
        f"<div style='display:flex;justify-content:space-between;width:180px'><span>{lo}</span><span>{hi}</span></div></div>"
    )


def swatch_legend(title: str, items: list[tuple[str, str]]) -> str:
    rows = "".join(
        f"<div><span style='display:inline-block;width:12px;height:12px;background:{c};margin-right:4px;border:1px solid #555'></span>{escape(label)}</div>"
        for label, c in items
    )
    return f"<div style='margin-top:4px'><b>{escape(title)}</b>{rows}</div>"


TABLE_CSS = "<style>table.n2k th{text-align:left;padding-right:6px;font-weight:600}table.n2k td,table.n2k th{padding:1px 3px}</style>"


def add_box(m: folium.Map, html_body: str, position: str) -> None:
    """A fixed box (legend, footer) on the map; ``html_body`` must already be escaped."""
    where = {
        "bottomleft": "bottom:44px;left:10px",
        "topleft": "top:80px;left:10px",
        "bottomright": "bottom:24px;right:10px",
    }[position]
    box = (
        f"<div class='n2k-box' style='position:fixed;{where};z-index:9999;background:rgba(255,255,255,.9);"
        f"padding:6px 8px;font:12px sans-serif;border:1px solid #999;border-radius:4px;max-width:320px;max-height:60vh;overflow:auto'>{html_body}</div>"
    )
    m.get_root().html.add_child(_literal(box))


def raster_overlay(
    path: Path,
    name: str,
    *,
    cmap: str,
    vmin: float,
    vmax: float,
    bbox: tuple[float, float, float, float] | None = None,
    show: bool = True,
    opacity: float = 0.7,
    max_px: int = MAX_RASTER_PX,
) -> folium.raster_layers.ImageOverlay | None:
    """A GeoTIFF as an inline PNG (base64) ImageOverlay.

    The raster is warped to Web Mercator (what Leaflet displays, so the image is not stretched
    in latitude) and placed at its WGS84 bounds; ``bbox`` (raster CRS) crops it first. An image
    whose longer side would exceed ``max_px`` pixels is downsampled (cell averages) to it; the
    PNG is a 255-colour palette image (index 0 transparent: no data). Returns None where
    nothing is left to show: ``bbox`` outside the raster (:func:`raster_coverage`) or no finite
    value in it.
    """
    import rasterio
    from affine import Affine
    from PIL import Image
    from rasterio.errors import WindowError
    from rasterio.warp import Resampling, reproject
    from rasterio.windows import from_bounds

    with rasterio.open(path) as src:
        if bbox is not None:
            if raster_coverage(path, bbox) == NOT_COVERED:
                return None  # the extent lies outside the grid: nothing to show
            win = from_bounds(*bbox, transform=src.transform).round_offsets().round_lengths()
            try:
                win = win.intersection(rasterio.windows.Window(0, 0, src.width, src.height))
            except WindowError:  # touches the grid only within a cell's rounding
                return None
            data = src.read(1, window=win, masked=True).astype("float64").filled(np.nan)
            transform = src.transform @ Affine.translation(win.col_off, win.row_off)
        else:
            data = src.read(1, masked=True).astype("float64").filled(np.nan)
            transform = src.transform
        crs = src.crs
    if data.size == 0 or not np.isfinite(data).any():
        return None
    h, w = data.shape
    left, top = transform @ (0, 0)
    right, bottom = transform @ (w, h)
    dst_t, dw, dh = _web_mercator_grid(crs, w, h, left, bottom, right, top)
    resampling = Resampling.nearest
    if max(dw, dh) > max_px:  # downsample to the image size a screen shows
        f = max(dw, dh) / max_px
        nw, nh = max(1, math.ceil(dw / f)), max(1, math.ceil(dh / f))
        dst_t = dst_t * Affine.scale(dw / nw, dh / nh)
        dw, dh, resampling = nw, nh, Resampling.average
    dst = np.full((dh, dw), np.nan)
    reproject(
        data,
        dst,
        src_transform=transform,
        src_crs=crs,
        dst_transform=dst_t,
        dst_crs="EPSG:3857",
        src_nodata=np.nan,
        dst_nodata=np.nan,
        resampling=resampling,
    )
    finite = np.isfinite(dst)
    norm = Normalize(vmin=vmin, vmax=vmax, clip=True)(np.where(finite, dst, vmin))
    index = np.where(finite, 1 + np.rint(np.asarray(norm) * 254), 0).astype(np.uint8)
    palette = (colormaps[cmap](np.linspace(0, 1, 255))[:, :3] * 255).astype(np.uint8)
    img = Image.fromarray(index, "P")
    img.putpalette([0, 0, 0, *palette.ravel().tolist()])
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True, transparency=0)
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    x0, y1 = dst_t @ (0, 0)
    x1, y0 = dst_t @ (dw, dh)
    to_wgs84 = _transformer("EPSG:3857", WGS84)
    lon0, lat0 = to_wgs84.transform(x0, y0)
    lon1, lat1 = to_wgs84.transform(x1, y1)
    return folium.raster_layers.ImageOverlay(
        image=url, bounds=[[lat0, lon0], [lat1, lon1]], name=name, opacity=opacity, show=show
    )


@lru_cache(maxsize=8)
def _transformer(src: str, dst: str) -> object:
    """The pyproj transformer from ``src`` to ``dst`` (x/y order), set up once per process."""
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


@lru_cache(maxsize=64)
def _web_mercator_grid(
    crs: object, width: int, height: int, left: float, bottom: float, right: float, top: float
) -> tuple[object, int, int]:
    """GDAL's default Web Mercator grid (transform, width, height in px) for a raster of
    ``width`` x ``height`` cells with bounds ``left .. top`` (m) in ``crs``.

    Cached: the rasters of an area map share their grid and crop, and every call otherwise
    sets up a new PROJ transformation (some 50 ms).
    """
    from rasterio.warp import calculate_default_transform

    return calculate_default_transform(
        crs, "EPSG:3857", width, height, left=left, bottom=bottom, right=right, top=top
    )


@lru_cache(maxsize=64)
def _raster_bounds(path: str, mtime_ns: int, size: int) -> tuple[float, float, float, float]:
    """Bounds (left, bottom, right, top) of raster ``path`` as it was at ``mtime_ns`` and
    ``size`` (bytes): read once per file version."""
    import rasterio

    with rasterio.open(path) as src:
        return tuple(src.bounds)


#: Coverage of a map extent by a raster grid (see :func:`raster_coverage`).
COVERED, PARTLY_COVERED, NOT_COVERED = "covered", "partly covered", "not covered"


def raster_coverage(path: Path, bbox: tuple[float, float, float, float]) -> str:
    """How far the grid of raster ``path`` covers the extent ``bbox`` (raster CRS, m).

    Parameters
    ----------
    path
        A GeoTIFF (the deposition grid).
    bbox
        ``(minx, miny, maxx, maxy)`` of a map extent, in the raster's CRS (m).

    Returns
    -------
    str
        :data:`COVERED` (the grid's bounds contain the extent), :data:`PARTLY_COVERED` (they
        overlap it with a positive area) or :data:`NOT_COVERED` (they do not overlap it, or
        only along an edge).
    """
    st = os.stat(path)
    left, bottom, right, top = _raster_bounds(str(path), st.st_mtime_ns, st.st_size)
    minx, miny, maxx, maxy = bbox
    if min(right, maxx) <= max(left, minx) or min(top, maxy) <= max(bottom, miny):
        return NOT_COVERED
    if left <= minx and bottom <= miny and right >= maxx and top >= maxy:
        return COVERED
    return PARTLY_COVERED


def raster_range(path: Path, q: float = 99.0, symmetric: bool = False) -> tuple[float, float]:
    import rasterio

    with rasterio.open(path) as src:
        data = src.read(1, masked=True).astype("float64").filled(np.nan)
    vals = data[np.isfinite(data)]
    if vals.size == 0:
        return 0.0, 1.0
    if symmetric:
        a = float(np.percentile(np.abs(vals), q)) or 1.0
        return -a, a
    return float(np.nanmin(vals).clip(max=0)), float(np.percentile(vals, q)) or 1.0


# --------------------------------------------------------------------------- self-contained


def _leaflet_assets() -> tuple[str, str]:
    """Leaflet's JS and CSS (images inlined as data URIs) from the django-js-lib-leaflet package."""
    root = resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"
    js = (root / "leaflet.js").read_text(encoding="utf-8")
    css = (root / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match: re.Match[str]) -> str:
        img = root / "images" / match.group(1)
        return (
            "url(data:image/png;base64," + base64.b64encode(img.read_bytes()).decode("ascii") + ")"
        )

    css = re.sub(r"url\(images/([A-Za-z0-9_.-]+\.png)\)", data_uri, css)
    return js, css


def inline_leaflet(html: str) -> str:
    """Replace the CDN <script src>/<link href> tags of Leaflet by inline content."""
    js, css = _leaflet_assets()
    js = js.replace("</script", "<\\/script")
    html, n_js = re.subn(
        r'<script src="[^"]*leaflet(?:\.min)?\.js"></script>',
        lambda _m: f"<script>{js}</script>",
        html,
    )
    html, n_css = re.subn(
        r'<link rel="stylesheet" href="[^"]*leaflet(?:\.min)?\.css"\s*/?>',
        lambda _m: f"<style>{css}</style>",
        html,
    )
    if n_js != 1 or n_css != 1:
        raise RuntimeError(
            f"could not inline Leaflet (found {n_js} script and {n_css} stylesheet tags)"
        )
    return html


# --------------------------------------------------------------------------- maps


class _Script(MacroElement):
    """JavaScript run once the map and the layers added before it exist (a child of the map)."""

    _template = Template("{% macro script(this, kwargs) %}\n{{ this.js }}\n{% endmacro %}")

    def __init__(self, js: str) -> None:
        super().__init__()
        self._name = "N2kScript"
        self.js = js


#: CSS of the map furniture: place-name labels, the offline banner, the legend box.
MAP_CSS = (
    "<style>.n2k-label div{font:11px sans-serif;color:#333;text-align:center;white-space:nowrap;"
    "text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff;pointer-events:none}"
    "#n2k-offline{display:none;position:fixed;top:10px;left:50%;transform:translateX(-50%);"
    "z-index:10000;background:#fff3cd;color:#664d03;border:1px solid #e0c36a;border-radius:4px;"
    "padding:5px 10px;font:13px sans-serif}</style>"
)


@lru_cache(maxsize=8)
def _tile_provider(name: str) -> xyzservices.TileProvider:
    """The xyzservices provider ``name``, looked up once (folium otherwise searches all
    providers for every tile layer given by name or URL)."""
    return xyzservices.providers.query_name(name)


@lru_cache(maxsize=1)
def _pdok_provider() -> xyzservices.TileProvider:
    """The PDOK BRT base map (:data:`PDOK_BRT`) as a tile provider: what folium makes of the
    URL, without searching the named providers for it."""
    return xyzservices.TileProvider(
        name="PDOK BRT achtergrondkaart", url=PDOK_BRT, attribution=PDOK_ATTR
    )


def base_map(
    bounds_wgs84: tuple[float, float, float, float],
    *,
    self_contained: bool,
    title: str = "",
    lang: str = DEFAULT_LANGUAGE,
) -> folium.Map:
    """An empty map fitted to ``bounds_wgs84`` with the two base tile layers and a page title.

    Parameters
    ----------
    bounds_wgs84
        ``(minx, miny, maxx, maxy)`` in degrees.
    self_contained
        Load only Leaflet (to be inlined by :func:`write_map`), none of folium's other assets.
    title
        The page's ``<title>`` (plain text; escaped here).
    lang
        Language of the page (``<html lang>``, written by :func:`write_map`) and its text.

    Returns
    -------
    folium.Map
        The map; its tile layers are in ``m.n2k_tiles`` (for the offline notice), its
        language in ``m.n2k_lang``.
    """
    minx, miny, maxx, maxy = bounds_wgs84
    with _cached_templates():  # the page's meta tag
        m = folium.Map(
            location=[(miny + maxy) / 2, (minx + maxx) / 2],
            zoom_start=11,
            tiles=None,
            control_scale=False,  # metric only: added by finish_map
            zoom_snap=0.25,  # fit the extent closely (whole zoom levels can leave half the screen)
        )
    if (
        self_contained
    ):  # only Leaflet is needed; folium's jQuery/Bootstrap/awesome-markers are not used
        m.default_js = [("leaflet", "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js")]
        m.default_css = [
            ("leaflet_css", "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.css")
        ]
    m.get_root().title = escape(title)
    m.get_root().header.add_child(_literal(TABLE_CSS + MAP_CSS))
    osm = folium.TileLayer(_tile_provider("OpenStreetMap Mapnik"), name="OpenStreetMap").add_to(m)
    pdok = folium.TileLayer(
        tiles=_pdok_provider(),
        attr=PDOK_ATTR,
        name="PDOK BRT achtergrondkaart",
        max_zoom=19,
        max_native_zoom=19,
        show=False,
    ).add_to(m)
    m.n2k_tiles = [osm, pdok]
    m.n2k_lang = lang
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def _js_name(name: str) -> str:
    return json.dumps(name).replace("<", "\\u003c")


def finish_map(
    m: folium.Map,
    layers: dict[str, folium.map.Layer],
    legend: list[str],
    *,
    header: str,
    footer: str,
) -> folium.Map:
    """Add the furniture every map has: a collapsed layer control, the legend of the visible
    layers, a metric scale bar, the offline notice and the footer.

    Parameters
    ----------
    m
        A map from :func:`base_map` with its layers added.
    layers
        Layer-control name -> layer, of the overlays whose legend sections (``data-layer``)
        follow their visibility: a section is shown exactly while its layer is on the map.
    legend
        Legend sections (escaped HTML; :func:`_section`).
    header, footer
        Escaped HTML above the legend and in the bottom-right box.

    Returns
    -------
    folium.Map
        ``m``.
    """
    folium.LayerControl(collapsed=True).add_to(m)
    add_box(m, header + "".join(legend), "bottomleft")
    add_box(m, footer, "bottomright")
    m.get_root().html.add_child(
        _literal(
            f"<div id='n2k-offline' role='alert'>"
            f"{escape(tr('map.offline', getattr(m, 'n2k_lang', DEFAULT_LANGUAGE)))}</div>"
        )
    )
    layer_js = ",".join(f"{_js_name(n)}: {lay.get_name()}" for n, lay in layers.items())
    tiles_js = ",".join(t.get_name() for t in getattr(m, "n2k_tiles", []))
    js = f"""(function() {{
  var map = {m.get_name()};
  L.control.scale({{metric: true, imperial: false}}).addTo(map);
  var banner = document.getElementById('n2k-offline');
  [{tiles_js}].forEach(function(t) {{
    t.on('tileerror', function() {{ banner.style.display = 'block'; }});
  }});
  var layers = {{{layer_js}}};
  function syncLegend() {{
    document.querySelectorAll('.n2k-leg[data-layer]').forEach(function(el) {{
      var layer = layers[el.getAttribute('data-layer')];
      el.style.display = layer && map.hasLayer(layer) ? '' : 'none';
    }});
  }}
  map.on('overlayadd overlayremove layeradd layerremove', syncLegend);
  syncLegend();
}})();"""
    _Script(js).add_to(m)
    return m


@dataclass(frozen=True)
class MapContext:
    """What every map of a run shows besides its layers.

    Attributes
    ----------
    data_date
        Date of the data (the newest stage run), for the footer.
    config_name
        Name of the config file, for the footer.
    map_threshold_mol_ha
        RKO threshold (mol N/ha/yr) the farm colours compare with.
    below_column
        Column of the RKO sources flagging a source below that threshold.
    habitat_names
        Habitat code -> name, for popups.
    rasters
        Raster key (``deposition_farms``, ``exceedance``) -> GeoTIFF path.
    ranges
        Raster key -> (vmin, vmax) of its colour scale.
    context
        Light offline context (:func:`context_layer`): polygons with ``name`` and ``level``
        (0 the coarsest, e.g. provinces) in the working CRS; None: no context layer.
    lang
        Language of the maps' text (``nl`` or ``en``; ``[project] language``).
    """

    data_date: str
    config_name: str
    map_threshold_mol_ha: float
    below_column: str
    habitat_names: dict[str, str] = field(default_factory=dict)
    rasters: dict[str, Path] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    context: gpd.GeoDataFrame | None = None
    lang: str = DEFAULT_LANGUAGE


def _footer(ctx: MapContext, extra: str = "") -> str:
    return escape(tr("map.footer", ctx.lang, date=ctx.data_date, config=ctx.config_name)) + extra


class _Literal(Element):
    """Text a macro has already rendered, put into the page as it is.

    Branca wraps every rendered header, html and script part of an element in
    ``Element(text)``, which compiles ``text`` as a Jinja template and renders it again: the
    GeoJSON of a layer and the PNG of a raster overlay are lexed character by character. For
    text without Jinja syntax that second rendering only normalises the newlines and drops one
    trailing newline; this element does the same without compiling (see :func:`_literal`).
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Literal"
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.text = text[:-1] if text.endswith("\n") else text

    def render(self, **kwargs: object) -> str:
        return self.text


#: Jinja's default block, variable and comment openers: text holding one is rendered by Jinja.
_JINJA_SYNTAX = ("{%", "{{", "{#")


def _literal(text: object) -> Element:
    """``Element(text)`` as branca would add it, compiled only where ``text`` holds Jinja
    syntax (then exactly as branca does); otherwise a :class:`_Literal` that renders the same."""
    text = str(text)
    if any(s in text for s in _JINJA_SYNTAX):
        return Element(text)
    return _Literal(text)


def _macro_render(self: MacroElement, **kwargs: object) -> None:
    """``MacroElement.render`` of branca 0.8 with the rendered parts added as
    :func:`_literal` elements (same order, names and text)."""
    figure = self.get_root()
    if not isinstance(figure, Figure):
        raise AssertionError("You cannot render this Element if it is not in a Figure.")
    module = self._template.module.__dict__
    for part in ("header", "html", "script"):
        macro = module.get(part)
        if macro is not None:
            getattr(figure, part).add_child(_literal(macro(self, kwargs)), name=self.get_name())
    for element in self._children.values():
        element.render(**kwargs)


#: The branca versions whose ``MacroElement.render`` :func:`_macro_render` mirrors.
_FAST_RENDER_BRANCA = ("0.8.",)


@lru_cache(maxsize=256)
def _compiled(cls: type, source: str) -> object:
    """``cls(source)`` (a Jinja template class), compiled once per source text."""
    return cls(source)


def _template_cache(cls: type) -> object:
    """A stand-in for the template class ``cls`` that returns one compiled template per source
    text (:func:`_compiled`): a Jinja template renders the same whatever renders it before."""

    def template(source: str, *args: object, **kwargs: object) -> object:
        if args or kwargs or not isinstance(source, str):
            return cls(source, *args, **kwargs)
        return _compiled(cls, source)

    return template


@contextmanager
def _cached_templates() -> Iterator[None]:
    """Within the block, the templates branca's ``Element(text)`` and folium's feature
    renderers compile from a fixed text (the page's meta tag, each tooltip's and popup's
    style block, the map boxes) are compiled once per process, not once per map or layer;
    with another branca version than :data:`_FAST_RENDER_BRANCA`, as branca does."""
    import branca
    import branca.element
    import folium.features

    if not str(getattr(branca, "__version__", "")).startswith(_FAST_RENDER_BRANCA):
        yield
        return
    modules = (branca.element, folium.features)
    saved = [m.Template for m in modules]
    if not all(isinstance(t, type) for t in saved):  # already within such a block
        yield
        return
    for mod, cls in zip(modules, saved, strict=True):
        mod.Template = _template_cache(cls)
    try:
        yield
    finally:
        for mod, cls in zip(modules, saved, strict=True):
            mod.Template = cls


@contextmanager
def _fast_render() -> Iterator[None]:
    """Render folium maps with :func:`_macro_render` (nothing compiled twice) and fixed
    templates compiled once (:func:`_cached_templates`) within the block; with another branca
    version than :data:`_FAST_RENDER_BRANCA`, as branca does."""
    import branca

    if not str(getattr(branca, "__version__", "")).startswith(_FAST_RENDER_BRANCA):
        yield
        return
    saved = MacroElement.__dict__["render"]
    MacroElement.render = _macro_render  # type: ignore[method-assign]
    try:
        with _cached_templates():
            yield
    finally:
        MacroElement.render = saved  # type: ignore[method-assign]


def render_html(m: folium.Map) -> str:
    """The HTML page of map ``m``: what ``m.get_root().render()`` gives, rendered without
    compiling each layer's rendered GeoJSON and images as a template again (:class:`_Literal`)."""
    with _fast_render():
        return m.get_root().render()


def write_map(m: folium.Map, path: Path, *, self_contained: bool) -> Path:
    """Write map ``m`` as one HTML file (atomically; Leaflet inlined if ``self_contained``)."""
    html = render_html(m)
    lang = escape(str(getattr(m, "n2k_lang", DEFAULT_LANGUAGE)), quote=True)
    html = html.replace("<html>", f'<html lang="{lang}">', 1)
    if self_contained:
        html = inline_leaflet(html)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


def map_simplify_m(bbox: tuple[float, float, float, float]) -> float:
    """Display simplification (m) for a map of extent ``bbox`` (m): :data:`SIMPLIFY_M`, or
    1/4000 of the extent's longer side when coarser (what a screen of ~2000 px shows at two
    zoom levels in)."""
    minx, miny, maxx, maxy = bbox
    return max(SIMPLIFY_M, max(maxx - minx, maxy - miny) / 4000.0)


def sample_context(areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Context for a region without configured context layers: a frame around all areas
    (level 0, unnamed) and every area's outline with its name (level 1).

    Parameters
    ----------
    areas
        The areas (``name``, geometry) in the working CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        ``name``, ``level``, geometry, in the areas' CRS.
    """
    minx, miny, maxx, maxy = areas.total_bounds
    pad = 0.05 * max(maxx - minx, maxy - miny, 1000.0)
    frame = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    names = areas["name"].astype(str) if "name" in areas else areas["site_code"].astype(str)
    return gpd.GeoDataFrame(
        {"name": ["", *names], "level": [0] + [1] * len(areas)},
        geometry=[frame, *areas.geometry.simplify(50.0)],
        crs=areas.crs,
    )


def context_from_layers(
    layers: list[gpd.GeoDataFrame],
    areas: gpd.GeoDataFrame,
    *,
    reach_m: float = 5000.0,
    simplify_m: float = 50.0,
) -> gpd.GeoDataFrame:
    """The maps' context (:attr:`MapContext.context`) from named polygon layers.

    Parameters
    ----------
    layers
        Polygon layers with a ``name`` column, coarsest first (e.g. provinces, municipalities);
        layer ``i`` gets ``level`` ``i``.
    areas
        The areas mapped: polygons farther than ``reach_m`` from all of them are left out.
    reach_m, simplify_m
        Reach and simplification (m, working CRS).

    Returns
    -------
    geopandas.GeoDataFrame
        ``name``, ``level``, geometry, in the areas' CRS.
    """
    reach = areas.geometry.union_all().buffer(reach_m)
    frames = []
    for i, gdf in enumerate(layers):
        gdf = gdf.to_crs(areas.crs) if gdf.crs != areas.crs else gdf
        gdf = gdf.iloc[gdf.sindex.query(reach, predicate="intersects")]
        frames.append(
            gpd.GeoDataFrame(
                {"name": gdf["name"].astype(str).to_numpy(), "level": i},
                geometry=gdf.geometry.simplify(simplify_m).to_numpy(),
                crs=areas.crs,
            )
        )
    if not frames:
        return gpd.GeoDataFrame({"name": [], "level": []}, geometry=[], crs=areas.crs)
    out = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=areas.crs)


#: Line style of the context outlines per level (0: coarsest).
CONTEXT_STYLES = (
    {"color": "#555555", "weight": 2.0, "opacity": 0.8},
    {"color": "#777777", "weight": 1.0, "opacity": 0.8, "dashArray": "4 3"},
    {"color": "#999999", "weight": 0.8, "opacity": 0.7, "dashArray": "2 3"},
)
MAX_CONTEXT_LABELS = 60


def context_layer(
    context: gpd.GeoDataFrame | None,
    box: shapely.Polygon,
    crs: object,
    *,
    simplify_m: float,
    lang: str = DEFAULT_LANGUAGE,
) -> folium.FeatureGroup | None:
    """The light built-in context layer: outlines (never filled) of the ``context`` polygons
    within ``box`` and their names at a point inside each, so that a map without base tiles
    (offline) still shows where it is.

    Parameters
    ----------
    context
        Polygons with ``name`` and ``level`` (:attr:`MapContext.context`), CRS ``crs``.
    box
        The map's extent (working CRS).
    crs
        The working CRS.
    simplify_m
        Simplification of the outlines (m); at least 25 m.
    lang
        Language of the layer's name.

    Returns
    -------
    folium.FeatureGroup or None
        None when no context polygon reaches the extent.
    """
    if context is None or context.empty:
        return None
    own = context.crs
    ctx = context.to_crs(crs) if own is not None and own != crs else context
    ccrs = ctx.crs
    ctx = ctx.iloc[ctx.sindex.query(box, predicate="intersects")]
    if ctx.empty:
        return None
    tol = max(25.0, simplify_m * 2)
    simple = ctx.geometry.simplify(tol)
    clipped = simple.intersection(box)
    lines = gpd.GeoDataFrame(  # outlines cut at the extent (no line along the cut)
        {"name": ctx["name"].astype(str).to_numpy(), "level": ctx["level"].to_numpy()},
        geometry=simple.boundary.intersection(box).to_numpy(),
        crs=ccrs,
    )
    lines = lines.loc[~lines.geometry.is_empty]
    fg = geojson_layer(
        tr("map.context_layer", lang),
        lines,
        tips=[escape(n) for n in lines["name"]],
        style=[
            dict(CONTEXT_STYLES[min(int(lv), len(CONTEXT_STYLES) - 1)]) for lv in lines["level"]
        ],
        simplify_m=0.0,
    )
    inside = gpd.GeoDataFrame(
        {"name": ctx["name"].astype(str).to_numpy(), "level": ctx["level"].to_numpy()},
        geometry=clipped.intersection(box).to_numpy(),
        crs=ccrs,
    )
    inside = inside.loc[~inside.geometry.is_empty & (inside["name"].str.strip() != "")]
    inside = inside.assign(_a=inside.geometry.area)
    inside = inside.sort_values(["level", "_a"], ascending=[True, False])
    inside = inside.head(MAX_CONTEXT_LABELS)
    if len(inside):
        pts = gpd.GeoSeries(inside.geometry.representative_point(), crs=ccrs).to_crs(WGS84)
        for name, pt in zip(inside["name"], pts, strict=True):
            folium.Marker(
                [round(pt.y, 5), round(pt.x, 5)],
                icon=folium.DivIcon(
                    html=f"<div>{escape(name)}</div>",
                    class_name="n2k-label",
                    icon_size=(160, 14),
                    icon_anchor=(80, 7),
                ),
                interactive=False,
                keyboard=False,
            ).add_to(fg)
    return fg


def _add_context(
    m: folium.Map, ctx: MapContext, box: shapely.Polygon, crs: object, simplify_m: float,
    layers: dict, legend: list[str],
) -> None:
    fg = context_layer(ctx.context, box, crs, simplify_m=simplify_m, lang=ctx.lang)
    if fg is None:
        return
    fg.add_to(m)
    name = tr("map.context_layer", ctx.lang)
    layers[name] = fg
    own = ctx.context is not None and bool(ctx.context.attrs.get("n2k_sample"))
    note = tr("map.context_frame" if own else "map.context_lines", ctx.lang)
    legend.append(
        _section(name, line_legend(name, [(note, CONTEXT_STYLES[0]["color"], "solid")]))
    )


def zone_label(
    zone_key: object,
    names: dict[str, str],
    widths: dict[str, float],
    lang: str = DEFAULT_LANGUAGE,
) -> str:
    """Human label (escaped HTML) of a zone key such as ``NL01:ring|NL02:inner``: "zone 500 m
    of <area name>" per ring, "inside <area name>" per inner part, or "outside the zones"
    (catalogue keys ``map.zone_ring``, ``map.zone_inner``, ``map.outside_zones``)."""
    if not isinstance(zone_key, str) or not zone_key:
        return escape(tr("map.outside_zones", lang))
    out = []
    for key in zone_key.split("|"):
        code, _, part = key.partition(":")
        name = names.get(code) or code
        if part == "inner":
            out.append(tr("map.zone_inner", lang, name=name))
        else:
            w = widths.get(code)
            width = f"{w:.0f}" if w is not None and math.isfinite(w) else "?"
            out.append(tr("map.zone_ring", lang, width=width, name=name))
    return escape("; ".join(dict.fromkeys(out)))


def _names_widths(data: dict) -> tuple[dict[str, str], dict[str, float]]:
    """Site code -> area name and -> zone (ring) width in m, from the maps stage's frames."""
    areas = data["areas"]
    names = (
        dict(zip(areas["site_code"].astype(str), areas["name"].astype(str), strict=True))
        if "name" in areas
        else {}
    )
    z = data["zones_by_area"]
    ring = z.loc[z["part"] == "ring"]
    widths = ring.groupby(ring["site_code"].astype(str))["width_m"].max().astype(float).to_dict()
    return names, widths


def overview_map(
    ctx: MapContext,
    areas: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    area_deposition: pd.DataFrame | None,
    *,
    self_contained: bool,
    habitat_sites: set[str] | None = None,
) -> folium.Map:
    """The national overview: zones by width and areas coloured by % overloaded habitat.

    ``habitat_sites`` are the site codes the habitat map has habitat of; an area not among
    them (when given) has its overload shown as unknown (no habitat data).
    The two filled layers do not overlap (the zone layer holds only the parts outside the
    areas); a context layer of outlines orients the map offline.
    """
    dep = area_deposition if area_deposition is not None else pd.DataFrame(columns=["site_code"])
    areas = areas.merge(
        dep.drop(columns=[c for c in ("name",) if c in dep]), on="site_code", how="left"
    )
    lang = ctx.lang
    m = base_map(
        tuple(areas.to_crs(WGS84).total_bounds),
        self_contained=self_contained,
        title=tr("map.title_overview", lang),
        lang=lang,
    )
    layers: dict[str, folium.map.Layer] = {}
    legend: list[str] = []
    bbox = tuple(areas.total_bounds)
    simplify = map_simplify_m(bbox)
    pad = max(bbox[2] - bbox[0], bbox[3] - bbox[1]) * 0.06
    box = shapely.box(bbox[0] - pad, bbox[1] - pad, bbox[2] + pad, bbox[3] + pad)
    _add_context(m, ctx, box, areas.crs, simplify, layers, legend)
    names = (
        dict(zip(areas["site_code"].astype(str), areas["name"].astype(str), strict=True))
        if "name" in areas
        else {}
    )

    ring = zones.loc[~zones["inside_area"].astype(bool)] if "inside_area" in zones else zones
    widths = sorted(float(w) for w in ring["width_m"].dropna().unique())
    palette = ["#bcbddc", "#807dba", "#54278f", "#3f007d"]
    wcol = {
        w: palette[min(i + max(0, len(palette) - 1 - len(widths)), len(palette) - 1)]
        for i, w in enumerate(widths)
    }
    zone_name = tr("map.zones_layer", lang)
    layers[zone_name] = geojson_layer(
        zone_name,
        ring,
        tips=[
            escape(
                "; ".join(
                    tr("map.zone_ring", lang, width=f"{w:.0f}", name=names.get(c, c))
                    for c in str(codes).split(";")
                    if c
                )
            )
            for w, codes in zip(ring["width_m"], ring["area_codes"], strict=True)
        ],
        style=[
            {
                "color": wcol.get(float(w), "#888"),
                "weight": 0.5,
                "fillColor": wcol.get(float(w), "#888"),
                "fillOpacity": 0.45,
            }
            for w in ring["width_m"]
        ],
        simplify_m=simplify,
    ).add_to(m)

    pct = (
        areas["pct_overloaded"].to_numpy(dtype=float)
        if "pct_overloaded" in areas
        else np.full(len(areas), np.nan)
    )
    cols = colour_for(pct, "YlOrRd", 0, 100)
    tips, popups = [], []
    for row, p in zip(areas.itertuples(index=False), pct, strict=True):
        pairs = [
            (tr("map.p_area", lang), f"{_e(row.site_code)} {_e(row.name)}"),
            (
                tr("map.overloaded_habitat", lang),
                escape(tr("area.reason_no_habitat_data", lang))
                if habitat_sites is not None and str(row.site_code) not in habitat_sites
                else f"{_e(p, '.1f', lang)} %",
            ),
            (tr("map.p_zone_width", lang), f"{_e(getattr(row, 'zone_width_m', None), '.0f', lang)} m"),
        ]
        tips.append(_rows(pairs))
        popups.append(
            _rows(pairs)
            + f"<a href='{escape(area_map_name(row.site_code), quote=True)}'>"
            + f"{escape(tr('map.open_area_map', lang))}</a>"
        )
    area_name = tr("map.areas_layer", lang)
    layers[area_name] = geojson_layer(
        area_name,
        areas,
        tips=tips,
        popups=popups,
        style=[{"color": "#333", "weight": 1.2, "fillColor": c, "fillOpacity": 0.7} for c in cols],
        simplify_m=simplify,
    ).add_to(m)
    legend.append(
        _section(zone_name, swatch_legend(zone_name, [(f"{w:.0f} m", c) for w, c in wcol.items()]))
    )
    legend.append(
        _section(
            area_name,
            gradient_legend(
                tr("map.overloaded_habitat", lang),
                "YlOrRd",
                0,
                100,
                tr("map.unit_pct_sensitive", lang),
                lang,
            )
            + f"<div style='margin-top:4px'>{escape(tr('map.click_area', lang))}</div>",
        )
    )
    return finish_map(
        m, layers, legend, header=f"<b>{escape(tr('map.legend', lang))}</b>", footer=_footer(ctx)
    )


def _area_zones(data: dict, site_code: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, float]:
    """The area's rows, its zone rings and the largest zone width (m, 0 without a zone)."""
    areas: gpd.GeoDataFrame = data["areas"]
    area = areas.loc[areas["site_code"] == site_code]
    by_area: gpd.GeoDataFrame = data["zones_by_area"]
    zones = by_area.loc[(by_area["site_code"] == site_code) & (by_area["part"] == "ring")]
    if ZONE_WIDTH_COLUMN in area and len(area):  # the zones stage's width in force
        width_m = float(pd.to_numeric(area[ZONE_WIDTH_COLUMN], errors="coerce").fillna(0.0).max())
    else:
        width_m = float(zones["width_m"].max()) if len(zones) else 0.0
    return area, zones, width_m


def area_extent(data: dict, site_code: str) -> tuple[float, float, float, float]:
    """Extent ``(minx, miny, maxx, maxy)`` in m (working CRS) of the map of one area: the area
    buffered by its zone width (at least 1000 m, the widest zone) plus
    :data:`EXTENT_MARGIN_M`; the rasters are cropped to it, so they cover the zone and its
    surroundings."""
    area, _, width_m = _area_zones(data, site_code)
    return area.geometry.union_all().buffer(max(width_m, 1000.0) + EXTENT_MARGIN_M).bounds


def grid_coverage(ctx: MapContext, bbox: tuple[float, float, float, float]) -> str:
    """Coverage of the extent ``bbox`` (m) by the deposition grid: the best coverage among the
    map's rasters that exist (:data:`NOT_COVERED` when there are none)."""
    found = [raster_coverage(p, bbox) for p in ctx.rasters.values() if p is not None and p.exists()]
    for level in (COVERED, PARTLY_COVERED):
        if level in found:
            return level
    return NOT_COVERED


#: Note on an area map whose extent the deposition grid does not cover fully.
COVERAGE_NOTES = {NOT_COVERED: "map.not_covered", PARTLY_COVERED: "map.partly_covered"}


def habitat_note(habitats: pd.DataFrame, lang: str = DEFAULT_LANGUAGE) -> str:
    """Legend note (escaped HTML) for an area whose habitat polygons are not (only) from a
    habitat-type map, naming their ``habitat_source``; "" otherwise."""
    sources = habitat_source_by_area(habitats)
    labels = sorted({lab for v in sources for lab in str(v).split("; ")} - {HABITAT_MAP})
    if not labels:
        return ""
    note = tr("map.habitat_standin", lang, labels="; ".join(labels))
    return f"<div class='n2k-habitat-note' style='margin-top:4px'><i>{escape(note)}</i></div>"


#: Farm colour classes by the farm's largest contribution on sensitive habitat (mol N/ha/yr):
#: below the map's RKO threshold, up to 1, up to 10, 10 or more, not computed.
FARM_CLASSES: dict[str, str] = {
    "below": "#2c7bb6",
    "low": "#fee08b",
    "mid": "#f46d43",
    "high": "#a50026",
    "unknown": "#999999",
}
#: Most overloaded receptors drawn on an area map (the largest exceedances; the raster shows all).
MAX_RECEPTORS = 2000
#: Parcel pieces drawn one by one on an area map; above this, one feature per crop category
#: and zone (what a real area's surroundings need to stay under 5 MB).
MAX_PARCELS = 4000


def farm_class(largest: object, below: object) -> str:
    """Colour class (:data:`FARM_CLASSES`) of a farm from its largest contribution (mol
    N/ha/yr) and its RKO flag at the map's threshold (True: below; None/NaN: unknown)."""
    if not _missing(below) and bool(below):
        return "below"
    try:
        v = float(largest)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "unknown"
    if not math.isfinite(v):
        return "unknown"
    return "low" if v < 1.0 else ("mid" if v < 10.0 else "high")


#: Key of the row index in an area map's ``data`` (:func:`index_area_rows`).
ROWS_KEY = "rows_by_area"


def _site_rows(codes: pd.Series, among: np.ndarray | None = None) -> dict[str, np.ndarray] | None:
    """Positions of the rows of each site code in ``codes`` (text), ascending; only the rows
    at positions ``among`` (ascending) if given. None where ``codes`` is not text."""
    if not pd.api.types.is_string_dtype(codes.dtype):
        return None
    pos = np.arange(len(codes)) if among is None else np.asarray(among)
    keys, uniques = pd.factorize(codes.iloc[pos].to_numpy(dtype=object), use_na_sentinel=True)
    order = np.argsort(keys, kind="stable")  # ascending positions within each code
    bounds = np.searchsorted(keys[order], np.arange(len(uniques) + 1))
    return {
        str(u): pos[order[bounds[k] : bounds[k + 1]]]
        for k, u in enumerate(uniques.tolist())
        if isinstance(u, str)
    }


def index_area_rows(data: dict) -> dict:
    """``data`` with an index of the rows each area map selects (under :data:`ROWS_KEY`):
    per site code the positions of its habitat polygons and of its overloaded receptors, and
    per farm id the position of its RKO source (where each farm has one). Built once where
    many maps are built from the same layers; :func:`area_map` selects the same rows with or
    without it.

    Parameters
    ----------
    data
        The maps stage's layers (``habitats``, ``receptors``, ``rko``; each optional).

    Returns
    -------
    dict
        A new dict: ``data`` and the index.
    """
    rows: dict[str, object] = {}
    hab = data.get("habitats")
    if hab is not None and "site_code" in hab:
        rows["habitats"] = _site_rows(hab["site_code"])
    rec = data.get("receptors")
    if rec is not None and "site_code" in rec and "overload" in rec:
        over = np.flatnonzero(rec["overload"].astype(bool).to_numpy())
        rows["receptors"] = _site_rows(rec["site_code"], over)
    src = data.get("rko")
    if src is not None and "farm_id" in src and src["farm_id"].is_unique:
        ids = src["farm_id"]
        if pd.api.types.is_string_dtype(ids.dtype) and not ids.hasnans:
            rows["rko"] = dict(zip(ids.tolist(), range(len(ids)), strict=True))
    return {**data, ROWS_KEY: {k: v for k, v in rows.items() if v is not None}}


def _area_rows(data: dict, layer: str, site_code: str) -> gpd.GeoDataFrame:
    """The rows of ``layer`` (``habitats``; ``receptors``: the overloaded ones) of one area,
    in their order, through the index of :func:`index_area_rows` where ``data`` has one."""
    frame = data[layer]
    index = data.get(ROWS_KEY, {}).get(layer)
    if index is not None:
        return frame.iloc[index.get(site_code, np.empty(0, dtype=np.intp))]
    mask = frame["site_code"] == site_code
    if layer == "receptors":
        mask = mask & frame["overload"].astype(bool)
    return frame.loc[mask]


def _farm_rows(data: dict, farm_ids: pd.Series) -> pd.DataFrame:
    """The RKO sources (``data["rko"]``) of the farms ``farm_ids``, in the sources' order."""
    src = data["rko"]
    index = data.get(ROWS_KEY, {}).get("rko")
    if index is None or farm_ids.hasnans:
        return src.loc[src["farm_id"].isin(farm_ids)]
    pos = sorted(index[i] for i in set(farm_ids.tolist()) if i in index)
    return src.iloc[np.asarray(pos, dtype=np.intp)]


def area_map(ctx: MapContext, site_code: str, data: dict, *, self_contained: bool) -> folium.Map:
    """The map of one area; ``data`` holds the layers read once for all areas.

    Shown by default: the exceedance of the KDW (the one filled layer), the habitat polygons
    as outlines coloured by KDW, the area and zone outlines, the context outlines and the
    farms coloured by their largest contribution (:data:`FARM_CLASSES`, a thick rim in the
    zone). Deposition from farms, parcels, distance lines and overloaded receptors are one
    click away in the (collapsed) layer control; the legend shows the visible layers only.

    Where the deposition grid does not cover the map's extent (:func:`area_extent`), the
    raster layers show the covered part or are left out, and the legend says so
    (:data:`COVERAGE_NOTES`).
    """
    areas: gpd.GeoDataFrame = data["areas"]
    crs = areas.crs
    area, zones, width = _area_zones(data, site_code)
    name = str(area["name"].iloc[0]) if "name" in area else ""
    names, widths = _names_widths(data)
    geom = area.geometry.union_all()
    bbox = area_extent(data, site_code)
    box = shapely.box(*bbox)
    simplify = map_simplify_m(bbox)
    lang = ctx.lang
    m = base_map(
        tuple(gpd.GeoSeries([box], crs=crs).to_crs(WGS84).total_bounds),
        self_contained=self_contained,
        title=tr("map.title_area", lang, name=name or site_code, code=site_code),
        lang=lang,
    )
    layers: dict[str, folium.map.Layer] = {}
    legend: list[str] = []
    note_key = COVERAGE_NOTES.get(grid_coverage(ctx, bbox))
    if note_key is not None:
        note = tr(note_key, lang)
        legend.append(
            f"<div class='n2k-grid-note' style='margin-top:4px'><i>{escape(note)}</i></div>"
        )
    _add_context(m, ctx, box, crs, simplify, layers, legend)

    # deposition rasters (the exceedance is the one filled layer shown by default)
    t_map = ctx.map_threshold_mol_ha
    unit = tr("map.unit_deposition", lang)
    for key, title, cmap, show in (
        ("deposition_farms", tr("map.deposition_farms", lang), "viridis", False),
        ("exceedance", tr("map.exceedance", lang), "RdYlGn_r", True),
    ):
        p = ctx.rasters.get(key)
        if p is not None and p.exists():
            vmin, vmax = ctx.ranges[key]
            layer_name = tr("map.raster_layer", lang, title=title)
            ov = raster_overlay(
                p, layer_name, cmap=cmap, vmin=vmin, vmax=vmax, bbox=bbox, show=show
            )
            if ov is not None:
                ov.add_to(m)
                layers[layer_name] = ov
                legend.append(
                    _section(layer_name, gradient_legend(title, cmap, vmin, vmax, unit, lang))
                )

    # parcel pieces in the extent (off by default: a filled layer)
    pieces: gpd.GeoDataFrame = data["pieces"]
    sel = pieces.iloc[pieces.sindex.query(box, predicate="intersects")]
    if len(sel) > MAX_PARCELS:  # one feature per crop category and zone, not per parcel
        sel = sel.assign(zone_key=sel["zone_key"].fillna(""))
        sel = sel.dissolve(by=["category", "zone_key"], as_index=False, aggfunc="first")
        # close the ditches and roads between parcels at the map's resolution
        closed = sel.geometry.buffer(simplify, quad_segs=2).buffer(-simplify, quad_segs=2)
        sel = sel.assign(
            geometry=clipped_for_display(closed.to_numpy(), box), parcel_id="*", share=1.0,
            gewas=sel["category"],
        )
    elif len(sel):
        sel = sel.assign(geometry=clipped_for_display(sel.geometry.to_numpy(), box))
    if len(sel):
        cats = _pylist(sel["category"].astype(str).str.lower())
        labels: dict[object, str] = {}
        tips = []
        parcel_tip, share_tip = tr("map.parcel_tip", lang), tr("map.parcel_share", lang)
        heads: dict[tuple, str] = {}  # (category, crop) -> escaped start of the tip
        parts: dict[str, str] = {}  # share (%) -> its escaped text
        for c, g, pid, zk, s in zip(
            _pylist(sel["category"]),
            _pylist(sel.get("gewas", sel["category"])),
            _pylist(sel["parcel_id"]),
            _pylist(sel["zone_key"]),
            _pylist(sel["share"]),
            strict=True,
        ):
            if zk not in labels:
                labels[zk] = zone_label(zk, names, widths, lang)
            head = heads.get((c, g))
            if head is None:
                head = heads[(c, g)] = f"<b>{_e(c)}</b> &middot; {_e(g)}<br>"
            share = f"{100 * float(s):.0f}"
            part = parts.get(share)
            if part is None:
                part = parts[share] = escape(share_tip.format(share=share))
            parcel = escape(parcel_tip.format(parcel=pid))
            tips.append(f"{head}{parcel} &middot; {labels[zk]} &middot; {part}")
        crop_style = {
            c: {
                "color": "#555",
                "weight": 0.3,
                "fillColor": CROP_COLOURS.get(c, "#cccccc"),
                "fillOpacity": 0.55,
            }
            for c in set(cats)
        }
        style = [crop_style[c] for c in cats]  # one dict per category
        pname = tr("map.parcels_layer", lang)
        layers[pname] = geojson_layer(
            pname, sel, tips=tips, style=style, show=False, simplify_m=simplify
        ).add_to(m)
        shown = set(cats)
        present = [c for c in CROP_COLOURS if c in shown]
        legend.append(
            _section(
                pname,
                swatch_legend(tr("map.parcels", lang), [(c, CROP_COLOURS[c]) for c in present]),
            )
        )

    # habitats: outlines coloured by KDW (hover for the type), not filled
    hab = data.get("habitats")
    if hab is not None:
        h = _area_rows(data, "habitats", site_code)
        hname = tr("map.habitats_layer", lang)
        names_h = ctx.habitat_names
        kdws = h["kdw_mol_ha"].to_numpy(dtype=float)
        layers[hname] = geojson_layer(
            hname,
            h,
            tips=[
                _rows(
                    [
                        (tr("map.p_habitat", lang), f"{_e(c)} {_e(names_h.get(str(c), ''))}"),
                        (tr("map.p_kdw", lang), f"{_e(k, ',.0f', lang)} {escape(unit)}"),
                    ]
                )
                for c, k in zip(h["habitat_code"], kdws, strict=True)
            ],
            style=[
                {"color": c, "weight": 1.2, "fill": True, "fillColor": c, "fillOpacity": 0.0}
                for c in colour_for(kdws, "magma", 400, 2400)
            ],
            simplify_m=simplify,
        ).add_to(m)
        legend.append(
            _section(
                hname,
                gradient_legend(tr("map.kdw_legend", lang), "magma", 400, 2400, unit, lang)
                + f"<div>{escape(tr('map.habitat_outline', lang))}</div>"
                + habitat_note(h, lang),
            )
        )

    # area, zone and reference distances: outlines only
    aname = tr("map.area_layer", lang)
    layers[aname] = geojson_layer(
        aname,
        area,
        tips=[_rows([(tr("map.p_area", lang), f"{_e(site_code)} {_e(name)}")])],
        style=[{"color": "#006d2c", "weight": 2.5, "fill": False}],
        simplify_m=simplify,
    ).add_to(m)
    legend.append(
        _section(aname, line_legend(aname, [(tr("map.area_line", lang), "#006d2c", "solid")]))
    )
    if len(zones):
        zname = tr("map.zone_layer", lang, width=f"{width:.0f}")
        layers[zname] = geojson_layer(
            zname,
            zones,
            tips=[
                escape(tr("map.zone_ring", lang, width=f"{w:.0f}", name=name or site_code))
                for w in zones["width_m"]
            ],
            style=[{"color": "#6a3d9a", "weight": 2, "fill": True, "fillOpacity": 0.0}]
            * len(zones),
            simplify_m=simplify,
        ).add_to(m)
        legend.append(
            _section(zname, line_legend(zname, [(tr("map.zone_line", lang), "#6a3d9a", "solid")]))
        )
    rings = gpd.GeoDataFrame(
        {"d": [500, 1000]},
        geometry=[geom.buffer(500).boundary, geom.buffer(1000).boundary],
        crs=crs,
    )
    dname = tr("map.distance_layer", lang)
    layers[dname] = geojson_layer(
        dname,
        rings,
        tips=[escape(tr("map.distance_tip", lang, d=d)) for d in rings["d"]],
        style=[
            {"color": "#6a3d9a", "weight": 1, "dashArray": "6 4"},
            {"color": "#6a3d9a", "weight": 1, "dashArray": "2 4"},
        ],
        show=False,
        simplify_m=simplify,
    ).add_to(m)
    legend.append(
        _section(dname, line_legend(dname, [(tr("map.distance_lines", lang), "#6a3d9a", "dashed")]))
    )

    # overloaded receptors (off: the exceedance raster shows them)
    rec = data.get("receptors")
    if rec is not None:
        r = _area_rows(data, "receptors", site_code)
        total = len(r)
        if total > MAX_RECEPTORS:
            r = r.nlargest(MAX_RECEPTORS, "exceedance_mol_ha")
        if len(r):
            rname = tr("map.receptors_layer", lang)
            receptor_tip = tr("map.receptor_tip", lang)
            layers[rname] = geojson_layer(
                rname,
                r,
                tips=[
                    receptor_tip.format(
                        receptor=_e(i),
                        habitat=_e(hc),
                        total=_e(t, ",.0f", lang),
                        kdw=_e(k, ",.0f", lang),
                        exceedance=_e(x, ",.0f", lang),
                    )
                    for i, hc, t, k, x in zip(
                        _pylist(r["receptor_id"]),
                        _pylist(r["habitat_code"]),
                        _pylist(r["total_mol_ha"]),
                        _pylist(r["kdw_mol_ha"]),
                        _pylist(r["exceedance_mol_ha"]),
                        strict=True,
                    )
                ],
                style={
                    "color": "#b2182b",
                    "weight": 0,
                    "fill": True,
                    "fillColor": "#b2182b",
                    "fillOpacity": 0.8,
                    "radius": 2,
                },
                points=True,
                show=False,
            ).add_to(m)
            thinned = (
                [tr("map.receptors_thinned", lang, n=len(r), total=total)]
                if total > len(r)
                else []
            )
            legend.append(
                _section(rname, swatch_legend(rname, [(t, "#b2182b") for t in thinned or [""]]))
            )

    # farms: colour by largest contribution class, thick rim in the zone, size by NH3
    farms: gpd.GeoDataFrame = data["farms"]
    f = farms.iloc[farms.sindex.query(box, predicate="intersects")]
    if len(f):
        src = data.get("rko")
        below_col = ctx.below_column
        if src is not None:  # only the sources of these farms: the same rows, a smaller join
            src = _farm_rows(data, f["farm_id"])
            f = f.merge(src, on="farm_id", how="left", suffixes=("", "_rko"))
        belows = f[below_col].tolist() if below_col in f else [None] * len(f)
        largests = f["max_none_mol_ha"].tolist() if "max_none_mol_ha" in f else [None] * len(f)
        classes = [farm_class(v, b) for v, b in zip(largests, belows, strict=True)]
        emis = f["emission_kg_nh3"].to_numpy(dtype=float)
        radius = np.clip(np.sqrt(np.maximum(emis, 0)) / 12.0, 2, 12)
        animals = ["rundvee", "varkens", "kippen", "schapen", "geiten"]
        popups, tips, in_zone = [], [], []
        zlabels: dict[object, str] = {}
        for row, b in zip(f.to_dict("records"), belows, strict=True):
            st = "unknown" if _missing(b) else ("below" if bool(b) else "above")
            ani = (
                ", ".join(
                    f"{_e(row[a], ',.0f', lang)} {a}"
                    for a in animals
                    if a in row and pd.notna(row[a]) and row[a] > 0
                )
                or "&ndash;"
            )
            largest = row.get("max_none_mol_ha")
            where = row.get("site_code_none")
            zk = row.get("zone_key")
            in_zone.append(isinstance(zk, str) and bool(zk))
            if zk not in zlabels:
                zlabels[zk] = zone_label(zk, names, widths, lang)
            pairs = [(tr("map.p_farm", lang), _e(row["farm_id"]))]
            for col, label in (("address", "map.address"), ("municipality", "map.municipality")):
                v = row.get(col)
                if not _missing(v) and str(v).strip():
                    pairs.append((tr(label, lang), _e(v)))
            pairs += [
                (tr("map.p_animals", lang), ani),
                (tr("map.p_gve_ha", lang), _e(row.get("gve_per_ha"), ",.2f", lang)),
                (
                    tr("map.p_emission", lang),
                    escape(tr("map.emission_kg", lang, kg=_e(row["emission_kg_nh3"], ",.0f", lang))),
                ),
                (
                    tr("map.p_largest", lang),
                    f"{_e(largest, ',.3f', lang)} {escape(unit)} ({_e(names.get(str(where), where))})"
                    if not _missing(largest)
                    else "&ndash;",
                ),
                (tr("map.p_rko", lang, t=localise(f"{t_map:g}", lang)), escape(tr(RKO_STATUS[st], lang))),
                (tr("map.p_zone", lang), zlabels[zk]),
            ]
            popups.append(_rows(pairs))
            tips.append(f"{_e(row['farm_id'])}: {_e(row['emission_kg_nh3'], ',.0f', lang)} kg NH3")
        style = [
            {
                "color": "#000000" if z else "#666666",
                "weight": 2.0 if z else 0.6,
                "fill": True,
                "fillColor": FARM_CLASSES[c],
                "fillOpacity": 0.9 if z else 0.7,
                "radius": round(float(rd), 1),
            }
            for c, z, rd in zip(classes, in_zone, radius, strict=True)
        ]
        fname = tr("map.farms_layer", lang)
        layers[fname] = geojson_layer(
            fname, f, tips=tips, popups=popups, style=style, points=True
        ).add_to(m)
        shown_f = set(classes)
        present = [c for c in FARM_CLASSES if c in shown_f]
        labels_f = {
            "below": tr("map.farm_class_below", lang, t=t_map),
            "low": tr("map.farm_class_low", lang, t=t_map),
            "mid": tr("map.farm_class_mid", lang),
            "high": tr("map.farm_class_high", lang),
            "unknown": tr("map.farm_class_unknown", lang),
        }
        legend.append(
            _section(
                fname,
                swatch_legend(fname, [(labels_f[c], FARM_CLASSES[c]) for c in present])
                + f"<div>{escape(tr('map.farm_in_zone', lang))}</div>",
            )
        )

    return finish_map(
        m,
        layers,
        legend,
        header=f"<b>{_e(site_code)} {_e(name)}</b>",
        footer=_footer(
            ctx, f" &middot; <a href='index.html'>{escape(tr('map.to_overview', lang))}</a>"
        ),
    )
