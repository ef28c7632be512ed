"""Interactive Leaflet maps (folium) of the pipeline's outputs.

:func:`overview_map` builds the national overview and :func:`area_map` the map of one area
from frames the maps stage (:mod:`n2kzones.stages.maps`) has read; :func:`write_map` writes
one. Every map is a single HTML file: GeoJSON and raster
images are inline (browsers block side-car files when a map is opened from disk); with
``self_contained=True`` Leaflet's JS/CSS are inlined too, from the ``django-js-lib-leaflet``
package (Leaflet 1.9.4), so the map needs no CDN (the basemap tiles still come from the web).

Geometry is simplified (10 m, topology preserved) and rounded to 1e-5 degrees for display
only. Every value taken from input data is HTML-escaped before it reaches a tooltip, popup
or legend: folium's ``GeoJsonTooltip`` puts property values into ``innerHTML`` unescaped, so
features carry only pre-escaped ``tip``/``popup`` strings and numbers, never raw columns.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import re
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_hex

from n2kzones.habitats import HABITAT_MAP, habitat_source_by_area
from n2kzones.io.writers import atomic_path, safe_file_stem
from n2kzones.selection import UNKNOWN_NO_HABITAT
from n2kzones.zones import ZONE_WIDTH_COLUMN

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
SIMPLIFY_M = 10.0
PRECISION_DEG = 1e-5
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


# --------------------------------------------------------------------------- helpers


def safe_name(site_code: str) -> str:
    """File-name-safe, collision-free, length-limited form of a site code (slug + short hash
    where the code is not plain; see :func:`n2kzones.io.writers.safe_file_stem`)."""
    return safe_file_stem(site_code)


def area_map_name(site_code: str) -> str:
    """File name of an area's map: ``area_<code>.html``, or ``area_<slug>-<hash>.html``."""
    return f"area_{safe_name(site_code)}.html"


def _e(value: object, fmt: str = "") -> str:
    """Escaped display string of one value (numbers formatted with ``fmt``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "&ndash;"
    if fmt and isinstance(value, (int, float, np.integer, np.floating)):
        return escape(format(value, fmt))
    return escape(str(value))


def _rows(pairs: list[tuple[str, str]]) -> str:
    """A small HTML table from (label, already-escaped value) pairs."""
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f"<table class=n2k>{body}</table>"


def display_geometry(gdf: gpd.GeoDataFrame, simplify_m: float = SIMPLIFY_M) -> gpd.GeoSeries:
    """Simplified (in metres, projected CRS), WGS84, rounded copy of the geometry, for display."""
    geom = gdf.geometry
    geom = geom[~(geom.is_empty | geom.isna())]
    if simplify_m > 0 and geom.crs is not None and geom.crs.is_projected:
        geom = geom.simplify(simplify_m, preserve_topology=True)
    geom = geom.to_crs(WGS84)
    rounded = shapely.set_precision(geom.to_numpy(), PRECISION_DEG)
    out = gpd.GeoSeries(rounded, index=geom.index, crs=WGS84)
    return out[~out.is_empty]


def _feature_collection(geom: gpd.GeoSeries, props: list[dict]) -> dict:
    feats = []
    for g, p in zip(geom, props, strict=True):
        feats.append(
            {"type": "Feature", "geometry": json.loads(shapely.to_geojson(g)), "properties": p}
        )
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
    """One FeatureGroup holding a GeoJSON layer whose features carry only escaped HTML and styles.

    No ``style_function``: folium would then write a JS ``switch`` over every feature. Each
    feature carries its own ``style`` (folium applies ``feature.properties.style``); points
    with one common style get it as marker options instead.
    """
    fg = folium.FeatureGroup(name=name, show=show)
    common = isinstance(style, dict)
    styles = [style] * len(gdf) if common else style
    gdf = gdf.assign(
        _tip=tips, _popup=popups if popups is not None else [""] * len(gdf), _style=styles
    )
    geom = display_geometry(gdf, 0.0 if points else simplify_m)
    if geom.empty:
        return fg
    rows = gdf.loc[geom.index]
    props = []
    for t, p, s in zip(rows["_tip"], rows["_popup"], rows["_style"], strict=True):
        d = {"tip": t}
        if popups is not None:
            d["popup"] = p
        if not (points and common):
            d["style"] = s
        props.append(d)
    kwargs: dict = {"tooltip": folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True)}
    if popups is not None:
        kwargs["popup"] = folium.GeoJsonPopup(fields=["popup"], labels=False)
    if points:
        kwargs["marker"] = folium.CircleMarker(**(style if common else {"radius": 4, "fill": True}))
    folium.GeoJson(_feature_collection(geom, props), name=name, **kwargs).add_to(fg)
    return fg


def colour_for(values: np.ndarray, cmap: str, vmin: float, vmax: float) -> list[str]:
    norm = Normalize(vmin=vmin, vmax=vmax, clip=True)
    cm = colormaps[cmap]
    return [
        to_hex(cm(norm(v))) if np.isfinite(v) else "#bbbbbb"
        for v in np.asarray(values, dtype=float)
    ]


def gradient_legend(title: str, cmap: str, vmin: float, vmax: float, unit: str) -> str:
    cm = colormaps[cmap]
    stops = ", ".join(to_hex(cm(i / 8)) for i in range(9))
    return (
        f"<div style='margin-top:4px'><b>{escape(title)}</b> ({escape(unit)})"
        f"<div style='width:180px;height:10px;background:linear-gradient(to right, {stops})'></div>"
        f"<div style='display:flex;justify-content:space-between;width:180px'><span>{vmin:,.0f}</span><span>{vmax:,.0f}</span></div></div>"
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
        f"padding:6px 8px;font:12px sans-serif;border:1px solid #999;border-radius:4px;max-width:320px'>{html_body}</div>"
    )
    m.get_root().html.add_child(folium.Element(box))


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
) -> folium.raster_layers.ImageOverlay | None:
    """A GeoTIFF as an inline PNG (base64) ImageOverlay.

    The raster is warped to Web Mercator (what Leaflet displays, so the image is not stretched
    in latitude) and placed at its WGS84 bounds; ``bbox`` (raster CRS) crops it first. Returns
    None where nothing is left to show: ``bbox`` outside the raster (:func:`raster_coverage`)
    or no finite value in it.
    """
    import rasterio
    from affine import Affine
    from PIL import Image
    from pyproj import Transformer
    from rasterio.errors import WindowError
    from rasterio.warp import Resampling, calculate_default_transform, reproject
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
    dst_t, dw, dh = calculate_default_transform(
        crs, "EPSG:3857", w, h, left=left, bottom=bottom, right=right, top=top
    )
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
        resampling=Resampling.nearest,
    )
    rgba = colormaps[cmap](Normalize(vmin=vmin, vmax=vmax, clip=True)(dst))
    rgba[..., 3] = np.where(np.isfinite(dst), 1.0, 0.0)
    buf = io.BytesIO()
    Image.fromarray((rgba * 255).astype(np.uint8), "RGBA").save(buf, format="PNG", optimize=True)
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    x0, y1 = dst_t @ (0, 0)
    x1, y0 = dst_t @ (dw, dh)
    tr = Transformer.from_crs("EPSG:3857", WGS84, always_xy=True)
    lon0, lat0 = tr.transform(x0, y0)
    lon1, lat1 = tr.transform(x1, y1)
    return folium.raster_layers.ImageOverlay(
        image=url, bounds=[[lat0, lon0], [lat1, lon1]], name=name, opacity=opacity, show=show
    )


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
    import rasterio

    with rasterio.open(path) as src:
        left, bottom, right, top = src.bounds
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


def base_map(
    bounds_wgs84: tuple[float, float, float, float], *, self_contained: bool
) -> folium.Map:
    minx, miny, maxx, maxy = bounds_wgs84
    m = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=11,
        tiles=None,
        control_scale=True,
    )
    if (
        self_contained
    ):  # only Leaflet is needed; folium's jQuery/Bootstrap/awesome-markers are not used
        m.default_js = [("leaflet", "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js")]
        m.default_css = [
            ("leaflet_css", "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.css")
        ]
    m.get_root().header.add_child(folium.Element(TABLE_CSS))
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap").add_to(m)
    folium.TileLayer(
        tiles=PDOK_BRT,
        attr=PDOK_ATTR,
        name="PDOK BRT achtergrondkaart",
        max_zoom=19,
        max_native_zoom=19,
        show=False,
    ).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
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
    """

    data_date: str
    config_name: str
    map_threshold_mol_ha: float
    below_column: str
    habitat_names: dict[str, str] = field(default_factory=dict)
    rasters: dict[str, Path] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


def _footer(ctx: MapContext, extra: str = "") -> str:
    return f"Data of {escape(ctx.data_date)} &middot; config {escape(ctx.config_name)} &middot; n2kzones{extra}"


def write_map(m: folium.Map, path: Path, *, self_contained: bool) -> Path:
    """Write map ``m`` as one HTML file (atomically; Leaflet inlined if ``self_contained``)."""
    html = m.get_root().render()
    if self_contained:
        html = inline_leaflet(html)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


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
    them (when given) has its overload shown as :data:`~n2kzones.selection.UNKNOWN_NO_HABITAT`.
    """
    dep = area_deposition if area_deposition is not None else pd.DataFrame(columns=["site_code"])
    areas = areas.merge(
        dep.drop(columns=[c for c in ("name",) if c in dep]), on="site_code", how="left"
    )
    m = base_map(tuple(areas.to_crs(WGS84).total_bounds), self_contained=self_contained)

    ring = zones.loc[~zones["inside_area"].astype(bool)] if "inside_area" in zones else zones
    widths = sorted(float(w) for w in ring["width_m"].dropna().unique())
    palette = ["#bcbddc", "#807dba", "#54278f", "#3f007d"]
    wcol = {
        w: palette[min(i + max(0, len(palette) - 1 - len(widths)), len(palette) - 1)]
        for i, w in enumerate(widths)
    }
    geojson_layer(
        "Zones by width",
        ring,
        tips=[
            f"Zone {_e(w, '.0f')} m &middot; areas {_e(c)}"
            for w, c in zip(ring["width_m"], ring["area_codes"], strict=True)
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
            ("Area", f"{_e(row.site_code)} {_e(row.name)}"),
            (
                "Overloaded habitat",
                escape(UNKNOWN_NO_HABITAT)
                if habitat_sites is not None and str(row.site_code) not in habitat_sites
                else f"{_e(p, '.1f')} %",
            ),
            ("Zone width", f"{_e(getattr(row, 'zone_width_m', None), '.0f')} m"),
        ]
        tips.append(_rows(pairs))
        popups.append(
            _rows(pairs)
            + f"<a href='{escape(area_map_name(row.site_code), quote=True)}'>Open the map of this area</a>"
        )
    geojson_layer(
        "Natura 2000 areas (% overloaded)",
        areas,
        tips=tips,
        popups=popups,
        style=[{"color": "#333", "weight": 1.2, "fillColor": c, "fillOpacity": 0.7} for c in cols],
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    legend = gradient_legend("Overloaded habitat", "YlOrRd", 0, 100, "% of sensitive ha")
    legend += swatch_legend("Zones", [(f"{w:.0f} m", c) for w, c in wcol.items()])
    add_box(
        m, legend + "<div style='margin-top:4px'>Click an area for its own map.</div>", "bottomleft"
    )
    add_box(m, _footer(ctx), "bottomright")
    return m


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
    buffered by its zone width (at least 1000 m) plus 200 m."""
    area, _, width_m = _area_zones(data, site_code)
    return area.geometry.union_all().buffer(max(width_m, 1000.0) + 200.0).bounds


def grid_coverage(ctx: MapContext, bbox: tuple[float, float, float, float]) -> str:
    """Coverage of the extent ``bbox`` (m) by the deposition grid: the best coverage among the
    map's rasters that exist (:data:`NOT_COVERED` when there are none)."""
    found = [raster_coverage(p, bbox) for p in ctx.rasters.values() if p is not None and p.exists()]
    for level in (COVERED, PARTLY_COVERED):
        if level in found:
            return level
    return NOT_COVERED


#: Note on an area map whose extent the deposition grid does not cover fully.
COVERAGE_NOTES = {
    NOT_COVERED: "Outside the deposition grid: no deposition or exceedance layers on this map.",
    PARTLY_COVERED: (
        "Partly outside the deposition grid: the deposition and exceedance layers cover only "
        "part of this map."
    ),
}


def habitat_note(habitats: pd.DataFrame) -> str:
    """Legend note (escaped HTML) for an area whose habitat polygons are not (only) from a
    habitat-type map, naming their ``habitat_source``; "" otherwise."""
    sources = habitat_source_by_area(habitats)
    labels = sorted({lab for v in sources for lab in str(v).split("; ")} - {HABITAT_MAP})
    if not labels:
        return ""
    return (
        "<div class='n2k-habitat-note' style='margin-top:4px'><i>Habitat is a stand-in ("
        f"{escape('; '.join(labels))}): the whole area counts as habitat of its most sensitive "
        "type, which overstates the real habitat.</i></div>"
    )


def area_map(ctx: MapContext, site_code: str, data: dict, *, self_contained: bool) -> folium.Map:
    """The map of one area; ``data`` holds the layers read once for all areas.

    Where the deposition grid does not cover the map's extent (:func:`area_extent`), the
    raster layers show the covered part or are left out, and the legend says so
    (:data:`COVERAGE_NOTES`).
    """
    areas: gpd.GeoDataFrame = data["areas"]
    area, zones, width = _area_zones(data, site_code)
    name = str(area["name"].iloc[0]) if "name" in area else ""
    geom = area.geometry.union_all()
    bbox = area_extent(data, site_code)
    box = shapely.box(*bbox)
    m = base_map(
        tuple(gpd.GeoSeries([box], crs=areas.crs).to_crs(WGS84).total_bounds),
        self_contained=self_contained,
    )
    legend: list[str] = []
    note = COVERAGE_NOTES.get(grid_coverage(ctx, bbox))
    if note is not None:
        legend.append(
            f"<div class='n2k-grid-note' style='margin-top:4px'><i>{escape(note)}</i></div>"
        )

    # deposition rasters
    t_map = ctx.map_threshold_mol_ha
    for key, title, cmap, show in (
        ("deposition_farms", "Deposition from farms", "viridis", False),
        ("exceedance", "Exceedance of the KDW", "RdYlGn_r", True),
    ):
        p = ctx.rasters.get(key)
        if p is not None and p.exists():
            vmin, vmax = ctx.ranges[key]
            ov = raster_overlay(
                p, f"{title} (mol N/ha/yr)", cmap=cmap, vmin=vmin, vmax=vmax, bbox=bbox, show=show
            )
            if ov is not None:
                ov.add_to(m)
                legend.append(gradient_legend(title, cmap, vmin, vmax, "mol N/ha/yr"))

    # parcel pieces in the extent
    pieces: gpd.GeoDataFrame = data["pieces"]
    sel = pieces.iloc[pieces.sindex.query(box, predicate="intersects")]
    if len(sel):
        sel = sel.assign(geometry=sel.geometry.intersection(box))
        cats = sel["category"].astype(str).str.lower()
        tips = [
            f"<b>{_e(c)}</b> &middot; {_e(g)}<br>parcel {_e(pid)} &middot; "
            f"{'zone ' + _e(zk) if isinstance(zk, str) and zk else 'outside the zones'} &middot; {_e(100 * float(s), '.0f')} % of the parcel"
            for c, g, pid, zk, s in zip(
                sel["category"],
                sel.get("gewas", sel["category"]),
                sel["parcel_id"],
                sel["zone_key"],
                sel["share"],
                strict=True,
            )
        ]
        style = [
            {
                "color": "#555",
                "weight": 0.3,
                "fillColor": CROP_COLOURS.get(c, "#cccccc"),
                "fillOpacity": 0.55,
            }
            for c in cats
        ]
        geojson_layer("Parcels by crop category", sel, tips=tips, style=style, show=False).add_to(m)
        present = [c for c in CROP_COLOURS if c in set(cats)]
        legend.append(swatch_legend("Parcels", [(c, CROP_COLOURS[c]) for c in present]))

    # habitats
    hab = data.get("habitats")
    if hab is not None:
        h = hab.loc[hab["site_code"] == site_code]
        note = habitat_note(h)
        if note:
            legend.append(note)
        names = ctx.habitat_names
        kdws = h["kdw_mol_ha"].to_numpy(dtype=float)
        geojson_layer(
            "Habitat types (KDW)",
            h,
            tips=[
                _rows(
                    [
                        ("Habitat", f"{_e(c)} {_e(names.get(str(c), ''))}"),
                        ("KDW", f"{_e(k, ',.0f')} mol N/ha/yr"),
                    ]
                )
                for c, k in zip(h["habitat_code"], kdws, strict=True)
            ],
            style=[
                {"color": "#225", "weight": 0.5, "fillColor": c, "fillOpacity": 0.5}
                for c in colour_for(kdws, "magma", 400, 2400)
            ],
        ).add_to(m)
        legend.append(gradient_legend("KDW of habitat", "magma", 400, 2400, "mol N/ha/yr"))

    # area, zone and reference distances
    geojson_layer(
        "Natura 2000 area",
        area,
        tips=[_rows([("Area", f"{_e(site_code)} {_e(name)}")])],
        style=[{"color": "#006d2c", "weight": 2.5, "fill": False}],
    ).add_to(m)
    if len(zones):
        geojson_layer(
            f"Zone ({width:.0f} m)",
            zones,
            tips=[
                _rows([("Zone", f"{_e(w, '.0f')} m around {_e(site_code)}")])
                for w in zones["width_m"]
            ],
            style=[{"color": "#6a3d9a", "weight": 1.5, "fillColor": "#6a3d9a", "fillOpacity": 0.12}]
            * len(zones),
        ).add_to(m)
    rings = gpd.GeoDataFrame(
        {"d": [500, 1000]},
        geometry=[geom.buffer(500).boundary, geom.buffer(1000).boundary],
        crs=areas.crs,
    )
    geojson_layer(
        "Distance 500 m / 1000 m",
        rings,
        tips=[f"{d} m from the area" for d in rings["d"]],
        style=[
            {"color": "#6a3d9a", "weight": 1, "dashArray": "6 4"},
            {"color": "#6a3d9a", "weight": 1, "dashArray": "2 4"},
        ],
    ).add_to(m)

    # overloaded receptors
    rec = data.get("receptors")
    if rec is not None:
        r = rec.loc[(rec["site_code"] == site_code) & rec["overload"].astype(bool)]
        if len(r):
            geojson_layer(
                "Overloaded receptors",
                r,
                tips=[
                    f"{_e(i)} {_e(hc)}: {_e(t, ',.0f')} mol, KDW {_e(k, ',.0f')}, +{_e(x, ',.0f')}"
                    for i, hc, t, k, x in zip(
                        r["receptor_id"],
                        r["habitat_code"],
                        r["total_mol_ha"],
                        r["kdw_mol_ha"],
                        r["exceedance_mol_ha"],
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

    # farms
    farms: gpd.GeoDataFrame = data["farms"]
    f = farms.iloc[farms.sindex.query(box, predicate="intersects")]
    if len(f):
        src = data.get("rko")
        below_col = ctx.below_column
        if src is not None:
            f = f.merge(src, on="farm_id", how="left", suffixes=("", "_rko"))
        status = []
        for v in f[below_col] if below_col in f else [None] * len(f):
            status.append(
                "unknown"
                if v is None or (isinstance(v, float) and math.isnan(v))
                else ("below" if bool(v) else "above")
            )
        emis = f["emission_kg_nh3"].to_numpy(dtype=float)
        radius = np.clip(np.sqrt(np.maximum(emis, 0)) / 12.0, 2, 12)
        animals = ["rundvee", "varkens", "kippen", "schapen", "geiten"]
        popups, tips = [], []
        for row, st in zip(f.to_dict("records"), status, strict=True):
            ani = (
                ", ".join(
                    f"{_e(row[a], ',.0f')} {a}"
                    for a in animals
                    if a in row and pd.notna(row[a]) and row[a] > 0
                )
                or "&ndash;"
            )
            largest = row.get("max_none_mol_ha")
            where = row.get("site_code_none")
            pairs = [
                ("Farm", _e(row["farm_id"])),
                ("Animals", ani),
                ("GVE/ha", _e(row.get("gve_per_ha"), ",.2f")),
                ("Emission", f"{_e(row['emission_kg_nh3'], ',.0f')} kg NH3/yr"),
                (
                    "Largest contribution",
                    f"{_e(largest, ',.3f')} mol N/ha/yr ({_e(where)})"
                    if largest is not None
                    else "&ndash;",
                ),
                (
                    f"RKO {t_map:g} mol",
                    {"below": "below: permit-free", "above": "above", "unknown": "not computed"}[
                        st
                    ],
                ),
                (
                    "Zone",
                    _e(row["zone_key"])
                    if isinstance(row.get("zone_key"), str) and row["zone_key"]
                    else "outside the zones",
                ),
            ]
            popups.append(_rows(pairs))
            tips.append(f"{_e(row['farm_id'])}: {_e(row['emission_kg_nh3'], ',.0f')} kg NH3")
        style = [
            {
                "color": "#222",
                "weight": 0.8,
                "fill": True,
                "fillColor": RKO_COLOURS[s],
                "fillOpacity": 0.85,
                "radius": round(float(rd), 1),
            }
            for s, rd in zip(status, radius, strict=True)
        ]
        geojson_layer(
            f"Farms (RKO {t_map:g} mol N/ha/yr)",
            f,
            tips=tips,
            popups=popups,
            style=style,
            points=True,
        ).add_to(m)
        legend.append(
            swatch_legend(
                f"Farms, largest contribution vs RKO {t_map:g} mol N/ha/yr (size: NH3)",
                [("below (permit-free)", RKO_COLOURS["below"]), ("above", RKO_COLOURS["above"])],
            )
        )

    folium.LayerControl(collapsed=False).add_to(m)
    add_box(m, f"<b>{_e(site_code)} {_e(name)}</b>" + "".join(legend), "bottomleft")
    add_box(m, _footer(ctx, " &middot; <a href='index.html'>overview</a>"), "bottomright")
    return m
