"""QGIS styles (QML) for the output layers and rasters.

Vector styles go into each GeoPackage's ``layer_styles`` table (the table QGIS itself writes
and reads: a layer opened in QGIS gets its default style from there), raster styles into a
``.qml`` file beside each GeoTIFF (QGIS loads ``<name>.qml`` with ``<name>.tif``). Colours
follow the HTML maps where those have them: crop categories as
:data:`n2kzones.render.maps.CROP_COLOURS`, zone widths in the purples of the overview map,
farm deposition in ``viridis`` and exceedance in ``RdYlGn_r``.

Classes (units in brackets):

- ``zones``: categorised on ``width_m`` (m), one class per zone width present.
- ``parcel_pieces``: categorised on ``category`` (BRP crop category).
- ``farms``: graduated on ``emission_kg_nh3`` (kg NH3/yr): < 500, 500-1,000, 1,000-2,500,
  2,500-5,000, 5,000-10,000, >= 10,000.
- ``receptors`` and ``exceedance.tif``: graduated on the exceedance of the KDW
  (mol N/ha/yr): < -70 (below KDW - 70), -70-0 (near overload), 0-250, 250-500, 500-1,000,
  >= 1,000 (overload).
- ``deposition_farms.tif``: 0-50, 50-100, 100-250, 250-500, 500-1,000, >= 1,000 mol N/ha/yr.
- ``deposition_total.tif``: < 500, 500-1,000, 1,000-1,500, 1,500-2,000, 2,000-3,000,
  >= 3,000 mol N/ha/yr.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import quoteattr

from matplotlib import colormaps
from matplotlib.colors import Normalize, to_rgba

from n2kzones.render.maps import CROP_COLOURS

QGIS_VERSION = "3.28.0-Firenze"
#: Zone widths in the purples of the overview map (narrow to wide).
ZONE_PALETTE = ("#bcbddc", "#807dba", "#54278f", "#3f007d")

#: Class bounds (lower bounds; the last class is open) per classified quantity.
FARM_EMISSION_BREAKS_KG = (0.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
EXCEEDANCE_BREAKS_MOL_HA = (-math.inf, -70.0, 0.0, 250.0, 500.0, 1000.0)
DEPOSITION_FARMS_BREAKS_MOL_HA = (0.0, 50.0, 100.0, 250.0, 500.0, 1000.0)
DEPOSITION_TOTAL_BREAKS_MOL_HA = (-math.inf, 500.0, 1000.0, 1500.0, 2000.0, 3000.0)


def _rgba(colour: str) -> str:
    r, g, b, a = to_rgba(colour)
    return f"{round(r * 255)},{round(g * 255)},{round(b * 255)},{round(a * 255)}"


def _hex(colour: tuple[float, ...] | str) -> str:
    r, g, b, _ = to_rgba(colour)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def ramp_colours(
    cmap: str, breaks: Sequence[float], span: tuple[float, float] | None = None
) -> list[str]:
    """One colour per class of ``breaks`` from a matplotlib colour map (the maps' ones).

    Classes are spread evenly over the map unless ``span`` (value range of the map, as the
    HTML maps' colour scale) is given, then each class takes the colour of its middle.
    """
    cm = colormaps[cmap]
    n = len(breaks)
    if span is None:
        return [_hex(cm(i / max(n - 1, 1))) for i in range(n)]
    norm = Normalize(vmin=span[0], vmax=span[1], clip=True)
    out = []
    for i, lo in enumerate(breaks):
        hi = breaks[i + 1] if i + 1 < n else math.inf
        lo_v = span[0] if not math.isfinite(lo) else lo
        hi_v = span[1] if not math.isfinite(hi) else hi
        out.append(_hex(cm(norm((lo_v + hi_v) / 2))))
    return out


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if math.isfinite(v) else ("-inf" if v < 0 else "inf")


def class_labels(breaks: Sequence[float], unit: str) -> list[str]:
    """Legend labels of graduated classes with lower bounds ``breaks`` (the last open)."""
    out = []
    for i, lo in enumerate(breaks):
        hi = breaks[i + 1] if i + 1 < len(breaks) else math.inf
        if not math.isfinite(lo):
            out.append(f"< {_fmt(hi)} {unit}")
        elif not math.isfinite(hi):
            out.append(f">= {_fmt(lo)} {unit}")
        else:
            out.append(f"{_fmt(lo)} - {_fmt(hi)} {unit}")
    return out


def _symbol(name: str, geometry: str, colour: str) -> str:
    """A QGIS symbol: ``geometry`` is ``point``, ``line`` or ``polygon``."""
    c = _rgba(colour)
    if geometry == "point":
        kind, cls, opts = (
            "marker",
            "SimpleMarker",
            {
                "name": "circle",
                "color": c,
                "size": "2.4",
                "outline_color": "50,50,50,255",
                "outline_width": "0.2",
                "outline_style": "solid",
            },
        )
    elif geometry == "line":
        kind, cls, opts = (
            "line",
            "SimpleLine",
            {"line_color": c, "line_width": "0.6", "line_style": "solid"},
        )
    else:
        kind, cls, opts = (
            "fill",
            "SimpleFill",
            {
                "color": c,
                "style": "solid",
                "outline_color": "60,60,60,255",
                "outline_width": "0.1",
                "outline_style": "solid",
            },
        )
    options = "".join(
        f'<Option name={quoteattr(k)} type="QString" value={quoteattr(v)}/>'
        for k, v in opts.items()
    )
    return (
        f'<symbol type="{kind}" name={quoteattr(name)} alpha="1" clip_to_extent="1" '
        'force_rhr="0">'
        f'<layer class="{cls}" enabled="1" locked="0" pass="0">'
        f'<Option type="Map">{options}</Option>'
        "</layer></symbol>"
    )


def _document(body: str, categories: str = "Symbology") -> str:
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION}" styleCategories="{categories}">\n{body}\n</qgis>\n'
    )


def categorised_qml(
    attribute: str, categories: Iterable[tuple[object, str, str]], geometry: str
) -> str:
    """QML of a categorised renderer.

    Parameters
    ----------
    attribute
        Column classified on.
    categories
        ``(value, colour, label)`` per class; colours as matplotlib colours (``#rrggbb``).
    geometry
        ``point``, ``line`` or ``polygon``.
    """
    cats, syms = [], []
    for i, (value, colour, label) in enumerate(categories):
        cats.append(
            f'<category value={quoteattr(str(value))} symbol="{i}" '
            f'label={quoteattr(label)} render="true"/>'
        )
        syms.append(_symbol(str(i), geometry, colour))
    body = (
        f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(attribute)} symbollevels="0" '
        f'enableorderby="0" forceraster="0"><categories>{"".join(cats)}</categories>'
        f"<symbols>{''.join(syms)}</symbols></renderer-v2>"
    )
    return _document(body)


def graduated_qml(
    attribute: str, breaks: Sequence[float], colours: Sequence[str], geometry: str, unit: str
) -> str:
    """QML of a graduated renderer with classes ``[breaks[i], breaks[i+1])``.

    Parameters
    ----------
    attribute
        Column classified on.
    breaks
        Lower bound of each class (``-inf`` allowed for the first); the last class is open.
    colours
        One colour per class.
    geometry
        ``point``, ``line`` or ``polygon``.
    unit
        Unit for the labels.
    """
    ranges, syms = [], []
    labels = class_labels(breaks, unit)
    for i, lo in enumerate(breaks):
        hi = breaks[i + 1] if i + 1 < len(breaks) else 1e30
        lo_v = -1e30 if not math.isfinite(lo) else lo
        ranges.append(
            f'<range lower="{lo_v:.15g}" upper="{hi:.15g}" symbol="{i}" '
            f'label={quoteattr(labels[i])} render="true"/>'
        )
        syms.append(_symbol(str(i), geometry, colours[i]))
    body = (
        f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(attribute)} '
        'graduatedMethod="GraduatedColor" '
        f'symbollevels="0" enableorderby="0" forceraster="0"><ranges>{"".join(ranges)}</ranges>'
        f"<symbols>{''.join(syms)}</symbols></renderer-v2>"
    )
    return _document(body)


def raster_qml(breaks: Sequence[float], colours: Sequence[str], unit: str, band: int = 1) -> str:
    """QML of a single-band pseudocolour raster renderer with discrete classes.

    Class ``i`` covers ``[breaks[i], breaks[i+1])``; QGIS's discrete items are keyed by the
    upper bound (``inf`` for the last).
    """
    labels = class_labels(breaks, unit)
    items = []
    for i in range(len(breaks)):
        hi = breaks[i + 1] if i + 1 < len(breaks) else math.inf
        value = "inf" if not math.isfinite(hi) else f"{hi:.15g}"
        items.append(
            f'<item value="{value}" color="{colours[i]}" alpha="255" label={quoteattr(labels[i])}/>'
        )
    finite = [b for b in breaks if math.isfinite(b)]
    body = (
        f'<pipe><rasterrenderer type="singlebandpseudocolor" band="{band}" opacity="1" '
        'alphaBand="-1" '
        f'classificationMin="{min(finite):.15g}" classificationMax="{max(finite):.15g}" '
        'nodataColor="">'
        f'<rastershader><colorrampshader colorRampType="DISCRETE" classificationMode="1" clip="0">'
        f"{''.join(items)}</colorrampshader></rastershader></rasterrenderer></pipe>"
    )
    return _document(body, "Symbology")


# -- the pipeline's layers -------------------------------------------------------------------------
def zones_style(widths_m: Iterable[float]) -> str:
    """Zones categorised on ``width_m`` (m), narrow light to wide dark purple."""
    ws = sorted({float(w) for w in widths_m if w == w and float(w) > 0})
    shift = max(0, len(ZONE_PALETTE) - 1 - len(ws))  # as the overview map
    cats = [
        (f"{w:g}", ZONE_PALETTE[min(i + shift, len(ZONE_PALETTE) - 1)], f"zone {w:g} m")
        for i, w in enumerate(ws)
    ]
    return categorised_qml("width_m", cats, "polygon")


def parcel_pieces_style(categories: Iterable[str]) -> str:
    """Parcel pieces categorised on ``category`` in the maps' crop colours."""
    present = sorted({str(c) for c in categories if isinstance(c, str)})
    cats = [(c, CROP_COLOURS.get(c.lower(), "#cccccc"), c) for c in present]
    return categorised_qml("category", cats, "polygon")


def farms_style() -> str:
    """Farms graduated on ``emission_kg_nh3`` (kg NH3/yr), light to dark red."""
    b = FARM_EMISSION_BREAKS_KG
    return graduated_qml("emission_kg_nh3", b, ramp_colours("YlOrRd", b), "point", "kg NH3/yr")


def receptors_style() -> str:
    """Receptors graduated on ``exceedance_mol_ha`` (mol N/ha/yr), the maps' ``RdYlGn_r``."""
    b = EXCEEDANCE_BREAKS_MOL_HA
    return graduated_qml(
        "exceedance_mol_ha",
        b,
        ramp_colours("RdYlGn_r", b, (-1000.0, 1000.0)),
        "polygon",
        "mol N/ha/yr",
    )


#: Raster styles per catalogue key of a GeoTIFF: (class lower bounds, colours), mol N/ha/yr.
def raster_styles() -> dict[str, str]:
    """QML per GeoTIFF catalogue key (classes in mol N/ha/yr)."""
    ex, fa, to = (
        EXCEEDANCE_BREAKS_MOL_HA,
        DEPOSITION_FARMS_BREAKS_MOL_HA,
        DEPOSITION_TOTAL_BREAKS_MOL_HA,
    )
    unit = "mol N/ha/yr"
    return {
        "exceedance_tif": raster_qml(ex, ramp_colours("RdYlGn_r", ex, (-1000.0, 1000.0)), unit),
        "deposition_farms_tif": raster_qml(fa, ramp_colours("viridis", fa), unit),
        "deposition_total_tif": raster_qml(to, ramp_colours("viridis", to), unit),
    }
