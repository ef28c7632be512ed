"""Maps and report on the sample region: files written, layers present, input data escaped,
Leaflet inlined when self-contained. Fast (no browser); a headless-Chromium check runs only
where playwright and /usr/bin/chromium are installed."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import geopandas as gpd
import pytest

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
    run_all(cfg, stages=("zones", "overlay", "deposition", "rko", "select", "scenario"))
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
    from n2kzones.render.maps import area_map_name

    maps_dir = mapped["cfg"].output_dir / "maps"
    index = (maps_dir / "index.html").read_text()
    for name in ("Zones by width", "Natura 2000 areas (% overloaded)", "OpenStreetMap", "PDOK BRT achtergrondkaart"):
        assert name in index
    assert "service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857" in index
    for code in mapped["areas"]["site_code"]:
        assert area_map_name(code) in index  # the overview links to every area map
    html = (maps_dir / area_map_name(mapped["victim"])).read_text()
    for name in (
        "Natura 2000 area",
        "Habitat types (KDW)",
        "Parcels by crop category",
        "Farms (RKO 0.05 mol N/ha/yr)",
        "Exceedance of the KDW (mol N/ha/yr)",
        "Deposition from farms (mol N/ha/yr)",
        "Overloaded receptors",
        "L.control.layers",
        "L.control.scale",
        "mol N/ha/yr",
        "config config.toml",
    ):
        assert name in html, name
    assert "data:image/png;base64," in html  # rasters inline


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


def test_maps_render_in_headless_chromium(mapped):
    """Open the self-contained maps with the network blocked: no JS errors, layers listed."""
    if os.environ.get("CI") and not CHROMIUM.exists():
        pytest.fail("CI must run the browser test: `make test` installs chromium (apt-get)")
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    maps_dir = mapped["cfg"].output_dir / "maps"
    shots = mapped["cfg"].output_dir / "report" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    from n2kzones.render.maps import area_map_name

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            # 2 basemaps + area, habitats, zone, distances, parcels, farm deposition, exceedance,
            # overloaded receptors, farms; no zone layer at width 0, no exceedance/receptor
            # layers where the area has no nitrogen-sensitive habitat.
            out = mapped["cfg"].output_dir
            areas = gpd.read_parquet(out / "stages" / "areas.parquet")
            with_receptors = set(gpd.read_parquet(out / "stages" / "receptors.parquet")["site_code"])
            expected_layers = {
                area_map_name(code): 11 - int(width == 0) - 2 * int(code not in with_receptors)
                for code, width in zip(areas["site_code"], areas["zone_width_m"], strict=True)
            }
            farms = gpd.read_parquet(out / "stages" / "farms.parquet")
            expected_farms = {}
            for code, width, geom in zip(areas["site_code"], areas["zone_width_m"], areas.geometry, strict=True):
                x0, y0, x1, y1 = geom.buffer(max(width, 1000.0) + 200.0).bounds  # the map's extent
                inside = farms.geometry.x.between(x0, x1) & farms.geometry.y.between(y0, y1)
                expected_farms[area_map_name(code)] = int(inside.sum())
            paths = sorted(maps_dir.glob("*.html"))
            assert maps_dir / area_map_name(mapped["victim"]) in paths
            for path in paths:  # every generated map
                page = browser.new_page()
                errors: list[str] = []
                dialogs: list[str] = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.on(
                    "console",
                    lambda msg, errors=errors: errors.append(msg.text)
                    if msg.type == "error" and "Failed to load resource" not in msg.text  # blocked tiles
                    else None,
                )
                page.on("dialog", lambda d, dialogs=dialogs: (dialogs.append(d.message), d.dismiss()))
                page.route("http*://**", lambda route: route.abort())  # self-contained: no CDN
                page.goto(path.as_uri())
                page.wait_for_selector(".leaflet-control-layers")
                labels = page.eval_on_selector_all(".leaflet-control-layers label", "els => els.map(e => e.textContent.trim())")
                assert "OpenStreetMap" in labels and "PDOK BRT achtergrondkaart" in labels
                if path.name != "index.html":
                    assert len(labels) == expected_layers[path.name], labels
                    assert page.evaluate(COUNT_FARMS) == expected_farms[path.name]
                assert page.eval_on_selector_all("path.leaflet-interactive", "els => els.length") > 0
                page.mouse.move(1, 1)
                if path.name != "index.html":
                    farm_id = page.evaluate(CLICK_FIRST_FARM)
                    assert farm_id, "no farm marker found on the area map"
                    page.wait_for_selector(".leaflet-popup-content")
                    popup = page.inner_text(".leaflet-popup-content")
                    assert farm_id in popup and "NH3" in popup
                    page.wait_for_timeout(400)  # let the popup finish fading in for the screenshot
                page.screenshot(path=str(shots / f"{path.stem}.png"))
                assert (shots / f"{path.stem}.png").stat().st_size > 10_000
                assert errors == [] and dialogs == []
                page.close()
        finally:
            browser.close()
