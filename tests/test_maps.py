"""Maps and report on the sample region: files written, layers present, input data escaped,
Leaflet inlined when self-contained. Fast (no browser); a headless-Chromium check runs only
where playwright and /usr/bin/chromium are installed."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def mapped(sample_config, tmp_path_factory):
    """The whole pipeline on the sample with one area renamed to an HTML payload in its input
    layer; maps written self-contained into ``output_dir/maps`` and, from a copy of the
    complete output folder, with CDN links into a second folder."""
    from n2kzones.stages.maps import run_maps
    from n2kzones.stages.run import run_all

    work = tmp_path_factory.mktemp("maps-out")
    spec = sample_config.inputs.areas
    areas_in = gpd.read_file(sample_config.resolve(spec.path), layer=spec.layer)
    victim = str(areas_in["site_code"].iloc[0])
    areas_in.loc[areas_in.index[0], "name"] = XSS
    hostile = work / "input" / "natura2000.gpkg"
    hostile.parent.mkdir()
    areas_in.to_file(hostile, layer=spec.layer)
    out = work / "out"
    cfg = sample_config.model_copy(
        update={
            "project": sample_config.project.model_copy(update={"output_dir": out}),
            "inputs": sample_config.inputs.model_copy(update={"areas": spec.model_copy(update={"path": hostile})}),
        }
    )
    run_all(cfg, stages=("zones", "overlay", "deposition", "rko", "select", "scenario", "policy"))
    inline = run_maps(cfg, self_contained=True)
    areas = gpd.read_parquet(out / "stages" / "areas.parquet")
    assert XSS in set(areas["name"])
    cdn_out = work / "cdn"
    shutil.copytree(out, cdn_out)  # a complete output folder, moved: still consistent
    cdn_cfg = cfg.model_copy(update={"project": cfg.project.model_copy(update={"output_dir": cdn_out})})
    cdn = run_maps(cdn_cfg, self_contained=False)
    return {"cfg": cfg, "inline": inline, "cdn": cdn, "areas": areas, "victim": victim}


def test_every_area_has_a_map(mapped):
    from n2kzones.render.maps import area_map_name

    maps_dir = mapped["cfg"].output_dir / "maps"
    assert (maps_dir / "index.html").exists()
    for code in mapped["areas"]["site_code"]:
        assert (maps_dir / area_map_name(code)).exists()
    assert len(mapped["inline"]) == len(mapped["areas"]) + 1
    assert not [p for p in maps_dir.iterdir() if p.suffix != ".html"], "no side-car files"


def test_layers_and_map_furniture(mapped):
    from n2kzones.render.i18n import tr
    from n2kzones.render.maps import area_map_name

    # the maps are in Dutch by default ([project] language = "nl"): texts from the catalogue
    maps_dir = mapped["cfg"].output_dir / "maps"
    index = (maps_dir / "index.html").read_text()
    assert '<html lang="nl">' in index and f"<b>{tr('map.legend', 'nl')}</b>" in index
    for name in (
        tr("map.zones_layer", "nl"),
        tr("map.areas_layer", "nl"),
        "OpenStreetMap",
        "PDOK BRT achtergrondkaart",
    ):
        assert name in index
    assert "service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857" in index
    for code in mapped["areas"]["site_code"]:
        assert area_map_name(code) in index  # the overview links to every area map
    html = (maps_dir / area_map_name(mapped["victim"])).read_text()
    assert '<html lang="nl">' in html
    for name in (
        tr("map.area_layer", "nl"),
        tr("map.habitats_layer", "nl"),
        tr("map.parcels_layer", "nl"),
        tr("map.farms_layer", "nl"),
        tr("map.raster_layer", "nl", title=tr("map.exceedance", "nl")),
        tr("map.raster_layer", "nl", title=tr("map.deposition_farms", "nl")),
        tr("map.receptors_layer", "nl"),
        "L.control.layers",
        "L.control.scale",
        tr("map.unit_deposition", "nl"),
        tr("map.footer", "nl", date="", config="config.toml").split(" · ")[1],
        tr("map.context_layer", "nl"),
        tr("map.offline", "nl"),
        "imperial: false",
        '"collapsed": true',
    ):
        assert name in html, name
    assert "data:image/png;base64," in html  # rasters inline
    assert "L.control.scale()" not in html  # no miles
    assert ":ring" not in html.split("<script>", 1)[0] and "NL2003001:ring" not in html  # no keys
    for path in maps_dir.glob("*.html"):
        text = path.read_text()
        assert re.search(r"<title>[^<]+</title>", text), path.name


def test_zone_labels_are_human():
    from n2kzones.render.maps import zone_label

    names = {"NL1": "Âlde Feanen", "NL2": "De <Peel>"}
    widths = {"NL1": 500.0, "NL2": 1000.0}
    assert zone_label("NL1:ring", names, widths) == "zone 500 m van Âlde Feanen"
    assert zone_label("", names, widths) == "buiten de zones"
    assert zone_label(None, names, widths) == "buiten de zones"
    both = zone_label("NL1:ring|NL2:inner", names, widths)
    assert both == "zone 500 m van Âlde Feanen; binnen De &lt;Peel&gt; (zone in het gebied)"


def test_farm_classes():
    from n2kzones.render.maps import farm_class

    assert farm_class(0.01, True) == "below"
    assert farm_class(0.5, False) == "low"
    assert farm_class(3.0, False) == "mid"
    assert farm_class(30.0, False) == "high"
    assert farm_class(float("nan"), None) == "unknown"
    assert farm_class(None, float("nan")) == "unknown"
    assert farm_class(0.5, pd.NA) == "low"  # a nullable boolean column after a left merge


def map_frames(cfg) -> dict:
    """The frames the maps stage reads (:func:`n2kzones.stages.maps._read`), from a finished
    output folder, without a stage run."""
    import pyogrio

    from n2kzones.render.maps import sample_context
    from n2kzones.stages.catalogue import output_path

    out = cfg.output_dir
    read = lambda key: gpd.read_parquet(output_path(out, key))  # noqa: E731
    farms = read("farms")
    src = pyogrio.read_dataframe(
        output_path(out, "rko_sources"), layer="sources", read_geometry=False
    )
    src["farm_id"] = src["farm_id"].astype(str)
    hab = cfg.inputs.habitats
    areas = read("areas")
    return {
        "areas": areas, "zones_by_area": read("zones_by_area"), "pieces": read("parcel_pieces"),
        "farms": farms.assign(farm_id=farms["farm_id"].astype(str)), "receptors": read("receptors"),
        "rko": src,
        "habitats": gpd.read_file(cfg.resolve(hab.path), layer=hab.layer).to_crs(areas.crs),
        "context": sample_context(areas),
    }


def test_farm_address_and_municipality_in_popups(mapped):
    """Farms with ``address`` and ``municipality`` show them in their popup (escaped); without
    the columns (the sample has none) the rows are absent."""
    from n2kzones.render.i18n import tr
    from n2kzones.render.maps import MapContext, area_map

    cfg = mapped["cfg"]
    data = map_frames(cfg)
    ctx = MapContext(data_date="2026-01-01", config_name="t", map_threshold_mol_ha=0.05,
                     below_column="below_0.05_none", context=data["context"])
    code = str(data["areas"]["site_code"].iloc[1])
    plain = popups(area_map(ctx, code, data, self_contained=False).get_root().render())
    address, municipality = tr("map.address", "nl"), tr("map.municipality", "nl")
    assert plain and not any(f"<th>{address}</th>" in p for p in plain)
    farms = data["farms"]
    data["farms"] = farms.assign(address="Dorpsstraat 1 <b>", municipality="Súdwest-Fryslân")
    found = popups(area_map(ctx, code, data, self_contained=False).get_root().render())
    assert len(found) == len(plain)
    assert all(f"<th>{address}</th><td>Dorpsstraat 1 &lt;b&gt;</td>" in p for p in found)
    assert all(f"<th>{municipality}</th><td>Súdwest-Fryslân</td>" in p for p in found)


def popups(html: str) -> list[str]:
    """The popups of every GeoJSON feature of a rendered map."""
    import json

    out = []
    for block in re.findall(r"geo_json_\w+_add\((\{.*?\})\);", html, re.S):
        feats = json.loads(block)["features"]
        out += [f["properties"]["popup"] for f in feats if "popup" in f["properties"]]
    return out


def test_input_values_are_escaped(mapped):
    from n2kzones.render.maps import area_map_name

    maps_dir = mapped["cfg"].output_dir / "maps"
    for path in (maps_dir / "index.html", maps_dir / area_map_name(mapped["victim"])):
        html = path.read_text()
        assert "<img src=x" not in html
        assert "onerror=alert(1)>" not in html.replace("&gt;", "")
        # the name is present, escaped (as HTML entities; inside JSON also with \u003c for '&lt;')
        assert "&lt;img src=x onerror=alert(1)&gt;" in html.replace("\\u0026", "&")


def test_self_contained_has_no_cdn_leaflet(mapped):
    inline = mapped["inline"][1].read_text()
    assert not re.search(r'<script src="http[^"]*"', inline)
    assert not re.search(r'<link[^>]+href="http[^"]*\.css"', inline)
    assert "L.Map" in inline or "Leaflet" in inline
    cdn = mapped["cdn"][1].read_text()
    assert re.search(r'<script src="https://[^"]*leaflet[^"]*\.js"', cdn)
    assert len(cdn) < len(inline)


def test_display_geometry_is_rounded_wgs84(sample_overlay):
    from n2kzones.render.maps import display_geometry
    from n2kzones.stages.catalogue import output_path

    areas = gpd.read_parquet(output_path(sample_overlay.output_dir, "areas"))
    g = display_geometry(areas)
    assert g.crs.to_epsg() == 4326 and len(g) == len(areas)
    xy = g.get_coordinates().to_numpy()
    assert abs(xy * 1e5 - (xy * 1e5).round()).max() < 1e-6


def test_report(mapped):
    from n2kzones.stages.report import run_report

    cfg = mapped["cfg"]
    path = run_report(cfg)
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "../maps/index.html" in html and "../rko_sweep.csv" in html
    for png in ("rko_sweep.png", "overload_per_area.png"):
        assert (path.parent / png).stat().st_size > 1000
        assert f'src="{png}"' in html
    assert "<img src=x" not in html


CHROMIUM = Path("/usr/bin/chromium")

# Find the first farm (a GeoJSON feature whose popup names a farm id) and click it through
# Leaflet, as a user would; returns the farm id, or null when there is none.
CLICK_FIRST_FARM = """() => {
  for (const key of Object.keys(window)) {
    const group = window[key];
    if (!(group instanceof L.GeoJSON)) continue;
    let hit = null;
    group.eachLayer(l => {
      const html = String((l.feature && l.feature.properties && l.feature.properties.popup) || "");
      const m = html.match(/F\\d{8}/);
      if (!hit && m && l.getLatLng) hit = [l, m[0]];
    });
    if (hit) { hit[0].fire("click", {latlng: hit[0].getLatLng()}, true); return hit[1]; }
  }
  return null;
}"""

# Number of farm features (popups naming a farm id) the page holds in Leaflet.
COUNT_FARMS = """() => {
  let n = 0;
  for (const key of Object.keys(window)) {
    const group = window[key];
    if (!(group instanceof L.GeoJSON)) continue;
    group.eachLayer(l => {
      const html = String((l.feature && l.feature.properties && l.feature.properties.popup) || "");
      if (/F\\d{8}/.test(html) && l.getLatLng) n += 1;
    });
  }
  return n;
}"""


# For every overlay on the map that paints an area (filled paths, raster images; not point
# markers nor outlines), tag its elements and sample a grid of points over the map: returns
# the most such layers found at one point, and their names.
FILLED_LAYERS_AT_A_POINT = """() => {
  const keys = Object.keys(window);
  const map = keys.map(k => window[k]).find(v => v instanceof L.Map);
  const overlays = keys.filter(k => k.endsWith('_layers') && window[k] && window[k].overlays)
    .map(k => window[k].overlays)[0] || {};
  for (const [name, layer] of Object.entries(overlays)) {
    if (!map.hasLayer(layer)) continue;
    const walk = l => {
      if (l instanceof L.LayerGroup) { l.eachLayer(walk); return; }
      if (l instanceof L.ImageOverlay) {
        const e = l.getElement(); e.dataset.n2kFill = name; e.style.pointerEvents = 'auto'; return;
      }
      const o = l.options || {};
      if (l instanceof L.Path && !(l instanceof L.CircleMarker) && o.fill && o.fillOpacity > 0 && l._path) {
        l._path.dataset.n2kFill = name; l._path.style.pointerEvents = 'fill';
      }
    };
    walk(layer);
  }
  const box = map.getContainer().getBoundingClientRect();
  let worst = [];
  for (let i = 1; i < 24; i++) for (let j = 1; j < 16; j++) {
    const x = box.left + box.width * i / 24, y = box.top + box.height * j / 16;
    const names = new Set(document.elementsFromPoint(x, y)
      .map(e => e.dataset && e.dataset.n2kFill).filter(Boolean));
    if (names.size > worst.length) worst = [...names];
  }
  return worst;
}"""

# Names of the overlays checked in the layer control, and of the legend sections shown.
VISIBLE_LAYERS = """() => [...document.querySelectorAll('.leaflet-control-layers-overlays label')]
  .filter(l => l.querySelector('input').checked).map(l => l.textContent.trim())"""
LEGEND_LAYERS = """() => [...document.querySelectorAll('.n2k-leg[data-layer]')]
  .filter(e => e.offsetParent !== null).map(e => e.getAttribute('data-layer'))"""
# Switch overlay ``name`` on or off through the layer control, as a click on its checkbox.
TOGGLE = """(name) => {
  const label = [...document.querySelectorAll('.leaflet-control-layers-overlays label')]
    .find(l => l.textContent.trim() === name);
  label.querySelector('input').click();
}"""

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "build" / "screenshots"
MAX_MAP_BYTES = 5_000_000


def keep_screenshot(page, tmp_dir: Path, name: str) -> Path:
    """Screenshot ``page`` into ``tmp_dir`` and copy it to build/screenshots/ (git-ignored)."""
    path = tmp_dir / name
    page.screenshot(path=str(path))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, SCREENSHOTS / name)
    return path


def open_offline(browser, path: Path):
    """A page showing map ``path`` with the network blocked; returns (page, errors, load s)."""
    import time

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text)
        if msg.type == "error" and "Failed to load resource" not in msg.text  # blocked tiles
        else None,
    )
    page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
    page.route("http*://**", lambda route: route.abort())  # self-contained: no CDN, no tiles
    t0 = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_selector(".leaflet-control-layers")
    return page, errors, time.perf_counter() - t0


def check_legible(page, path: Path) -> None:
    """The checks of a map that reads at a glance: a title, at most one filled layer at any
    point of the default view, the legend naming exactly the visible layers (also after
    switching one on and off), the offline notice with the tiles blocked, a metric-only scale
    and a collapsed layer control, Dutch text (the default language), and the file under 5 MB."""
    from n2kzones.render.i18n import tr

    assert path.stat().st_size < MAX_MAP_BYTES, (path.name, path.stat().st_size)
    assert page.title().strip(), path.name
    filled = page.evaluate(FILLED_LAYERS_AT_A_POINT)
    assert len(filled) <= 1, (path.name, filled)
    visible = page.evaluate(VISIBLE_LAYERS)
    assert visible and sorted(page.evaluate(LEGEND_LAYERS)) == sorted(visible), path.name
    overlays = page.eval_on_selector_all(
        ".leaflet-control-layers-overlays label", "els => els.map(e => e.textContent.trim())"
    )
    hidden = next((n for n in overlays if n not in visible), None)
    if hidden is not None:
        page.evaluate(TOGGLE, hidden)
        assert hidden in page.evaluate(LEGEND_LAYERS)
        assert sorted(page.evaluate(LEGEND_LAYERS)) == sorted(page.evaluate(VISIBLE_LAYERS))
        page.evaluate(TOGGLE, hidden)
        assert sorted(page.evaluate(LEGEND_LAYERS)) == sorted(visible)
    page.wait_for_selector("#n2k-offline", state="visible", timeout=10_000)
    assert page.inner_text("#n2k-offline") == tr("map.offline", "nl")
    assert page.evaluate("document.documentElement.lang") == "nl"
    scale = page.inner_text(".leaflet-control-scale")
    assert "mi" not in scale and "ft" not in scale and ("m" in scale or "km" in scale)
    assert page.eval_on_selector(
        ".leaflet-control-layers", "e => !e.classList.contains('leaflet-control-layers-expanded')"
    )


def test_maps_render_in_headless_chromium(mapped, tmp_path):
    """Open the self-contained maps with the network blocked: no JS errors, layers listed, the
    maps legible (:func:`check_legible`); screenshots kept in the test's tmp dir and in
    build/screenshots/."""
    if os.environ.get("CI") and not CHROMIUM.exists():
        pytest.fail("CI must run the browser test: `make test` installs chromium (apt-get)")
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    maps_dir = mapped["cfg"].output_dir / "maps"
    from n2kzones.render.i18n import tr
    from n2kzones.render.maps import area_extent, area_map_name

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            # 2 basemaps + context, area, habitats, zone, distances, parcels, farm deposition,
            # exceedance, overloaded receptors, farms; no zone layer at width 0, no
            # exceedance/receptor layers where the area has no nitrogen-sensitive habitat.
            out = mapped["cfg"].output_dir
            areas = gpd.read_parquet(out / "stages" / "areas.parquet")
            with_receptors = set(gpd.read_parquet(out / "stages" / "receptors.parquet")["site_code"])
            expected_layers = {
                area_map_name(code): 12 - int(width == 0) - 2 * int(code not in with_receptors)
                for code, width in zip(areas["site_code"], areas["zone_width_m"], strict=True)
            }
            farms = gpd.read_parquet(out / "stages" / "farms.parquet")
            zones = gpd.read_parquet(out / "stages" / "zones_by_area.parquet")
            data = {"areas": areas, "zones_by_area": zones}
            expected_farms = {}
            for code in areas["site_code"]:
                x0, y0, x1, y1 = area_extent(data, code)  # the map's extent
                inside = farms.geometry.x.between(x0, x1) & farms.geometry.y.between(y0, y1)
                expected_farms[area_map_name(code)] = int(inside.sum())
            paths = sorted(maps_dir.glob("*.html"))
            assert maps_dir / area_map_name(mapped["victim"]) in paths
            loads = {}
            for path in paths:  # every generated map
                page, errors, loads[path.name] = open_offline(browser, path)
                labels = page.eval_on_selector_all(".leaflet-control-layers label", "els => els.map(e => e.textContent.trim())")
                assert "OpenStreetMap" in labels and "PDOK BRT achtergrondkaart" in labels
                if path.name != "index.html":
                    assert len(labels) == expected_layers[path.name], labels
                    assert page.evaluate(COUNT_FARMS) == expected_farms[path.name]
                assert page.eval_on_selector_all("path.leaflet-interactive", "els => els.length") > 0
                check_legible(page, path)
                parcels = tr("map.parcels_layer", "nl")
                exceedance = tr("map.raster_layer", "nl", title=tr("map.exceedance", "nl"))
                if path.name == area_map_name(mapped["victim"]):  # the check sees a second fill
                    assert parcels in labels and exceedance in labels
                    page.evaluate(TOGGLE, parcels)
                    both = sorted(page.evaluate(FILLED_LAYERS_AT_A_POINT))
                    assert both == sorted([parcels, exceedance])
                    page.evaluate(TOGGLE, parcels)
                page.mouse.move(1, 1)
                keep_screenshot(page, tmp_path, f"sample_{path.stem}.png")
                if path.name != "index.html":
                    farm_id = page.evaluate(CLICK_FIRST_FARM)
                    assert farm_id, "no farm marker found on the area map"
                    page.wait_for_selector(".leaflet-popup-content")
                    popup = page.inner_text(".leaflet-popup-content")
                    assert farm_id in popup and "NH3" in popup and ":ring" not in popup
                    page.wait_for_timeout(400)  # let the popup finish fading in for the screenshot
                    shot = keep_screenshot(page, tmp_path, f"sample_{path.stem}_popup.png")
                    assert shot.stat().st_size > 10_000
                assert errors == []
                page.close()
            largest = max(paths, key=lambda q: q.stat().st_size)
            print(f"largest sample map {largest.name}: {largest.stat().st_size / 1e6:.2f} MB, "
                  f"opened in {loads[largest.name]:.2f} s")
        finally:
            browser.close()


def test_context_layers_from_config(mapped, tmp_path):
    """``[[inputs.context]]`` layers (coarsest first) become the maps' context: outlines and
    names, drawn from a copy of the sample's output folder; a bad preset is refused."""
    from n2kzones.config import Config, LayerInput
    from n2kzones.errors import ConfigError
    from n2kzones.render.i18n import tr
    from n2kzones.render.maps import area_map_name
    from n2kzones.stages.maps import run_maps

    cfg = mapped["cfg"]
    areas = mapped["areas"]
    x0, y0, x1, y1 = areas.total_bounds
    first = areas.geometry.iloc[0].buffer(3000)
    layer = gpd.GeoDataFrame(
        {"name": ["Provincie Testland", "Gemeente Proefdorp"]},
        geometry=[shapely.box(x0 - 5000, y0 - 5000, x1 + 5000, y1 + 5000), first],
        crs=areas.crs,
    )
    path = tmp_path / "context.gpkg"
    layer.iloc[[0]].to_file(path, layer="provinces")
    layer.iloc[[1]].to_file(path, layer="municipalities")
    out = tmp_path / "out"
    shutil.copytree(cfg.output_dir, out)
    specs = [LayerInput(path=path, layer=name) for name in ("provinces", "municipalities")]
    ctx_cfg = cfg.model_copy(
        update={
            "project": cfg.project.model_copy(update={"output_dir": out}),
            "inputs": cfg.inputs.model_copy(update={"context": specs}),
        }
    )
    run_maps(ctx_cfg, self_contained=False)
    html = (out / "maps" / area_map_name(str(areas["site_code"].iloc[0]))).read_text()
    assert tr("map.context_layer", "nl") in html and "Gemeente Proefdorp" in html
    assert "Provincie Testland" in (out / "maps" / "index.html").read_text()
    bad = cfg.model_dump() | {}
    bad["inputs"]["context"] = [{"path": str(path), "preset": "brp_pdok"}]
    with pytest.raises((ConfigError, ValueError), match="inputs.context"):
        Config.model_validate(bad)


def _without_ids(html: str) -> str:
    """``html`` with folium's random element ids numbered in order of appearance."""
    ids: dict[str, int] = {}
    return re.sub(r"_[0-9a-f]{32}(?![0-9a-f])", lambda m: f"_{ids.setdefault(m[0], len(ids))}", html)


@pytest.mark.parametrize(
    "text",
    ["plain", "a\nb\n", "a\r\nb\r\n", "a\rb\r", "end\n\n", "", "{{ 1 + 1 }}", "x {# c #} y\n",
     "{% if true %}t{% endif %}", "}} and { { are text", '{"a": {"b": [1, 2]}}'],
)
def test_literal_elements_render_as_branca_does(text):
    """Rendered text put into the page without compiling it renders as ``Element(text)``."""
    from branca.element import Element

    from n2kzones.render.maps import _literal

    assert _literal(text).render() == Element(text).render()


def test_fast_rendering_gives_the_page_branca_renders(mapped):
    """:func:`render_html` (no template compiled twice) gives the same page as folium's own
    rendering (folium's random ids aside), for an area map with every layer and the overview."""
    from n2kzones.render.maps import MapContext, area_map, overview_map, render_html
    from n2kzones.stages.catalogue import output_path

    data = map_frames(mapped["cfg"])
    zones = gpd.read_parquet(output_path(mapped["cfg"].output_dir, "zones"))
    ctx = MapContext(data_date="2026-01-01", config_name="t", map_threshold_mol_ha=0.05,
                     below_column="below_0.05_none", context=data["context"])
    code = str(data["areas"]["site_code"].iloc[0])
    builders = (
        lambda: area_map(ctx, code, data, self_contained=False),
        lambda: overview_map(ctx, data["areas"], zones, None, self_contained=False),
    )
    for build in builders:  # a map is rendered once (folium adds to it while rendering)
        fast, slow = render_html(build()), build().get_root().render()
        assert "geo_json_" in fast and _without_ids(fast) == _without_ids(slow)


def test_maps_do_not_depend_on_the_number_of_workers(mapped, tmp_path):
    """The maps stage in one process (``[compute] n_workers = 1``) writes the same maps as in
    worker processes (the ``mapped`` run: 2 workers), folium's random ids aside."""
    from n2kzones.stages.maps import run_maps

    cfg = mapped["cfg"]
    assert cfg.compute.n_workers > 1
    out = tmp_path / "out"
    shutil.copytree(cfg.output_dir, out)
    one = cfg.model_copy(
        update={"project": cfg.project.model_copy(update={"output_dir": out})}
    ).with_compute(n_workers=1)
    serial = run_maps(one, self_contained=True)
    assert [p.name for p in serial] == [p.name for p in mapped["inline"]]
    for a, b in zip(mapped["inline"], serial, strict=True):
        assert _without_ids(a.read_text()) == _without_ids(b.read_text()), a.name


def test_the_maps_workers_log_through_this_process(mapped, tmp_path, caplog):
    """What a maps worker process logs reaches this process's handlers (with the worker's
    process name): counted repairs inside a map are not lost."""
    import logging

    from n2kzones.stages.maps import run_maps

    cfg = mapped["cfg"]
    out = tmp_path / "out"
    shutil.copytree(cfg.output_dir, out)
    two = cfg.model_copy(update={"project": cfg.project.model_copy(update={"output_dir": out})})
    assert two.compute.n_workers > 1
    with caplog.at_level(logging.DEBUG):
        written = run_maps(two, self_contained=False)
    built = [r for r in caplog.records if r.getMessage().startswith("area map ")]
    assert len(built) == len(written) - 1  # every area map (not the overview)
    assert {r.processName for r in built} - {"MainProcess"}  # logged in the workers


def test_area_rows_index_selects_the_rows_of_the_masks(mapped):
    """:func:`index_area_rows` gives each area map the rows the per-map comparisons select (the
    same rows in the same order, also for a site code without rows), and so the same page."""
    from n2kzones.render.maps import (
        ROWS_KEY,
        MapContext,
        _area_rows,
        _farm_rows,
        area_map,
        index_area_rows,
        render_html,
    )

    data = map_frames(mapped["cfg"])
    indexed = index_area_rows(data)
    assert set(indexed[ROWS_KEY]) == {"habitats", "receptors", "rko"}
    hab, rec, src = data["habitats"], data["receptors"], data["rko"]
    for code in [*data["areas"]["site_code"].astype(str), "NO-SUCH-SITE"]:
        want_h = hab.loc[hab["site_code"] == code]
        want_r = rec.loc[(rec["site_code"] == code) & rec["overload"].astype(bool)]
        pd.testing.assert_frame_equal(_area_rows(indexed, "habitats", code), want_h)
        pd.testing.assert_frame_equal(_area_rows(indexed, "receptors", code), want_r)
        pd.testing.assert_frame_equal(_area_rows(data, "receptors", code), want_r)
    assert len(_area_rows(indexed, "receptors", code)) == 0
    some = data["farms"]["farm_id"].iloc[::3]
    pd.testing.assert_frame_equal(
        _farm_rows(indexed, some), src.loc[src["farm_id"].isin(some)]
    )
    ctx = MapContext(data_date="2026-01-01", config_name="t", map_threshold_mol_ha=0.05,
                     below_column="below_0.05_none", context=data["context"])
    code = str(data["areas"]["site_code"].iloc[0])
    pages = [render_html(area_map(ctx, code, d, self_contained=False)) for d in (data, indexed)]
    assert _without_ids(pages[0]) == _without_ids(pages[1])


def test_colour_for_colours_each_value_as_the_colour_map_does():
    """:func:`colour_for` (the colour map applied to all values at once) gives each value the
    colour of the map applied to it alone; grey where the value is not finite."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import Normalize, to_hex

    from n2kzones.render.maps import colour_for

    values = np.array([-10.0, 0.0, 399.9, 400.0, 1234.5, 2400.0, 9e9, np.nan, np.inf, -np.inf])
    norm, cm = Normalize(vmin=400, vmax=2400, clip=True), colormaps["magma"]
    want = [to_hex(cm(norm(v))) if np.isfinite(v) else "#bbbbbb" for v in values]
    assert colour_for(values, "magma", 400, 2400) == want
    assert colour_for(np.array([]), "magma", 400, 2400) == []
    assert colour_for([np.nan], "magma", 400, 2400) == ["#bbbbbb"]


def test_fixed_templates_are_compiled_once_within_the_block():
    """Within :func:`_cached_templates` a fixed template text is compiled once (the same
    object each time) and renders as a fresh one; outside it branca compiles it again."""
    import branca.element

    from n2kzones.render.maps import _cached_templates

    text = "<style>.{{ this.x }} { color: red }</style>"
    with _cached_templates():
        a, b = branca.element.Template(text), branca.element.Template(text)
        with _cached_templates():  # nested: still the cache
            c = branca.element.Template(text)
    assert a is b is c
    fresh = branca.element.Template(text)
    assert fresh is not a and isinstance(branca.element.Template, type)
    want = "<style>.k { color: red }</style>"
    assert a.render(this={"x": "k"}) == fresh.render(this={"x": "k"}) == want


def test_display_transform_is_the_geopandas_one():
    """:func:`_to_wgs84` (one transformer per CRS) moves geometries exactly as
    ``GeoSeries.to_crs`` does: with and without z, none, and from WGS84 itself."""
    import numpy as np

    from n2kzones.render.maps import _to_wgs84

    geoms = np.array(
        [shapely.Point(150000, 450000), shapely.Point(150000, 450000, 7),
         shapely.LineString([(1e5, 4e5), (2e5, 5e5)]), shapely.box(1e5, 4e5, 1.1e5, 4.1e5)],
        dtype=object,
    )
    want = gpd.GeoSeries(geoms, crs="EPSG:28992").to_crs("EPSG:4326")
    got = _to_wgs84(geoms, gpd.GeoSeries(geoms, crs="EPSG:28992").crs)
    assert shapely.equals_identical(got, want.to_numpy()).all()
    assert shapely.equals_identical(_to_wgs84(want.to_numpy(), want.crs), want.to_numpy()).all()
    assert _to_wgs84(np.array([], dtype=object), want.crs).shape == (0,)
    with pytest.raises(ValueError, match="naive"):
        _to_wgs84(geoms, None)


def test_rounding_that_geos_cannot_snap_falls_back_to_vertex_rounding(monkeypatch, caplog) -> None:
    import logging

    import numpy as np
    import shapely
    from shapely.errors import GEOSException

    from n2kzones.render.maps import PRECISION_DEG, rounded_for_display

    geoms = np.array([shapely.box(5.1, 51.1, 5.2, 51.2), shapely.box(5.3, 51.3, 5.41234567, 51.4), shapely.Point(5.123456, 51.1)], dtype=object)
    real = shapely.set_precision
    expected = real(geoms, PRECISION_DEG)

    def picky(g, grid, mode="valid_output"):  # GEOS failing on the second geometry only
        if mode == "valid_output" and (isinstance(g, np.ndarray) or g.equals(geoms[1])):
            raise GEOSException("TopologyException: unable to assign free hole to a shell")
        return real(g, grid, mode=mode)

    assert (rounded_for_display(geoms) == expected).all()  # GEOS's result where it succeeds
    monkeypatch.setattr(shapely, "set_precision", picky)
    with caplog.at_level(logging.INFO, logger="n2kzones.render.maps"):
        out = rounded_for_display(geoms)
    assert out[0].equals_exact(expected[0], 0) and out[2].equals_exact(expected[2], 0)
    assert out[1].equals_exact(real(geoms[1], PRECISION_DEG, mode="pointwise"), 0)
    assert "1 geometries rounded vertex by vertex" in caplog.text


def test_a_geometry_geos_cannot_cut_is_made_valid_or_clipped_for_the_map(caplog) -> None:
    import logging

    import numpy as np
    import shapely
    from shapely.errors import GEOSException

    from n2kzones.render.maps import clipped_for_display

    box = shapely.box(0, 0, 10, 10)
    bowtie = shapely.Polygon([(2, 2), (12, 12), (12, 2), (2, 12)])  # invalid: a bow-tie
    geoms = np.array([shapely.box(5, 5, 15, 15), bowtie, shapely.box(-5, -5, 1, 1)], dtype=object)
    with pytest.raises(GEOSException, match="side location conflict"):
        shapely.intersection(geoms, box)  # what GEOS does with it
    with caplog.at_level(logging.INFO, logger="n2kzones.render.maps"):
        out = clipped_for_display(geoms, box)
    assert out[0].equals(shapely.box(5, 5, 10, 10)) and out[2].equals(shapely.box(0, 0, 1, 1))
    assert out[1].is_valid and out[1].equals(shapely.intersection(shapely.make_valid(bowtie), box))
    assert "1 geometries made valid or clipped" in caplog.text
    valid = geoms[[0, 2]]
    assert all(o.equals_exact(e, 0) for o, e in zip(clipped_for_display(valid, box), shapely.intersection(valid, box)))
