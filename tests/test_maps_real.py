"""An area map on real data (../shared; skipped where it is absent): Veluwe (NL9801023, 94,600
ha and 85,876 boundary vertices, the map that was 17 MB) must stay under 5 MB and read at a
glance in headless Chromium.

Real: the area polygon (PDOK/RCE per-area JSON, preset ``natura2000_json``), the IGO farms, the
CBS provinces and municipalities as the context layer. Stand-ins at real density, since the
shared data hold no national parcels or deposition run: the habitat stand-in (the area as its
most sensitive objective type, H4030), receptors every 100 m over the area (1 ha hexagons,
all overloaded), parcels as 180 m squares around the area (~3 ha, BRP's mean parcel size)
and deposition/exceedance rasters of 100 m cells over the area plus 5 km.
"""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from tests.conftest import RD, REAL, require_shared

CODE = "NL9801023"  # Veluwe
CBS = REAL / "cbs-gebiedsindelingen-2026"
MAX_MAP_BYTES = 5_000_000


def _raster(path: Path, bounds: tuple[float, float, float, float], values) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    x0, y0, x1, y1 = (round(b, -2) for b in bounds)
    w, h = int((x1 - x0) / 100), int((y1 - y0) / 100)
    xs = np.arange(w) * 100 + x0 + 50
    ys = y1 - 50 - np.arange(h) * 100
    gx, gy = np.meshgrid(xs, ys)
    data = values(gx, gy).astype("float32")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=w,
        height=h,
        count=1,
        dtype="float32",
        crs=RD,
        transform=from_origin(x0, y1, 100, 100),
        nodata=np.nan,
        compress="deflate",
    ) as dst:
        dst.write(data[None])
    return path


@pytest.fixture(scope="module")
def real_map(tmp_path_factory):
    """Veluwe's area map from the real and stand-in frames above, written self-contained."""
    require_shared(REAL / "natura2000-nl-pdok-rce" / "gebieden")
    require_shared(CBS / "gemeenten_zonder_water.geojson")
    from n2kzones.config import LayerInput
    from n2kzones.habitats import STANDIN_LABEL
    from n2kzones.io.natura2000_json import read_natura2000_json
    from n2kzones.io.readers import read_layer
    from n2kzones.params import load_parameters
    from n2kzones.render.maps import (
        MapContext,
        area_map,
        area_map_name,
        context_from_layers,
        raster_range,
        write_map,
    )

    work = tmp_path_factory.mktemp("real-map")
    params = load_parameters()
    t0 = time.perf_counter()
    areas = read_natura2000_json(REAL / "natura2000-nl-pdok-rce").to_crs(RD)
    areas = areas.loc[areas["site_code"] == CODE].reset_index(drop=True)
    assert len(areas) == 1
    geom = areas.geometry.iloc[0]
    ring = geom.buffer(1000).difference(geom)
    zones = gpd.GeoDataFrame(
        {"site_code": [CODE, CODE], "part": ["ring", "inner"], "width_m": [1000.0, 1000.0]},
        geometry=[ring, geom],
        crs=RD,
    )
    habitats = gpd.GeoDataFrame(
        {
            "site_code": [CODE],
            "habitat_code": ["H4030"],
            "kdw_mol_ha": [714.0],
            "habitat_source": [STANDIN_LABEL],
        },
        geometry=[geom],
        crs=RD,
    )
    x0, y0, x1, y1 = geom.bounds
    gx, gy = np.meshgrid(np.arange(x0, x1, 100.0) + 50, np.arange(y0, y1, 100.0) + 50)
    pts = shapely.points(gx.ravel(), gy.ravel())
    shapely.prepare(geom)
    pts = pts[shapely.contains_xy(geom, gx.ravel(), gy.ravel())]
    total = 1400 + 300 * np.sin(shapely.get_x(pts) / 3000) * np.cos(shapely.get_y(pts) / 4000)
    receptors = gpd.GeoDataFrame(
        {
            "receptor_id": np.arange(len(pts)),
            "site_code": CODE,
            "habitat_code": "H4030",
            "total_mol_ha": total,
            "kdw_mol_ha": 714.0,
            "exceedance_mol_ha": total - 714.0,
            "overload": True,
        },
        geometry=pts,
        crs=RD,
    )
    coarse = geom.simplify(25)  # for the stand-ins only: the map gets the real polygon
    around = coarse.buffer(1500).difference(coarse)
    shapely.prepare(around)
    cx, cy = np.meshgrid(
        np.arange(x0 - 1500, x1 + 1500, 180.0), np.arange(y0 - 1500, y1 + 1500, 180.0)
    )
    cells = shapely.box(cx.ravel(), cy.ravel(), cx.ravel() + 170, cy.ravel() + 170)
    cells = cells[shapely.intersects(around, cells)]
    pieces = gpd.GeoDataFrame(
        {
            "parcel_id": np.arange(len(cells)).astype(str),
            "category": np.where(np.arange(len(cells)) % 3, "grasland", "bouwland"),
            "share": 1.0,
        },
        geometry=shapely.intersection(cells, around),
        crs=RD,
    )
    pieces["gewas"] = pieces["category"]
    zone = coarse.buffer(1000)
    shapely.prepare(zone)
    pieces["zone_key"] = np.where(
        shapely.intersects(zone, pieces.geometry.to_numpy()), f"{CODE}:ring", ""
    )
    farms, _ = read_layer(
        "farms",
        LayerInput(
            path=REAL / "veehouderijen-igo-n2000-zones" / "data.gpkg", preset="igo_veehouderijen"
        ),
        crs=RD,
        params=params,
        base_dir=REAL,
    )
    farms = farms.assign(farm_id=farms["farm_id"].astype(str), zone_key="")
    farms.loc[shapely.contains(zone, farms.geometry.to_numpy()), "zone_key"] = f"{CODE}:ring"
    rko = pd.DataFrame(
        {
            "farm_id": farms["farm_id"],
            "max_none_mol_ha": np.geomspace(0.01, 50, len(farms)),
            "site_code_none": CODE,
        }
    )
    rko["below_0.05_none"] = rko["max_none_mol_ha"] < 0.05
    cbs = [
        read_layer(
            "provinces",
            LayerInput(path=CBS / f"{n}_zonder_water.geojson", preset="cbs_provinces"),
            crs=RD,
            params=params,
            base_dir=REAL,
        )[0]
        for n in ("provincies", "gemeenten")
    ]
    context = context_from_layers(cbs, areas)
    bounds = (x0 - 5000, y0 - 5000, x1 + 5000, y1 + 5000)
    dep = _raster(
        work / "deposition_farms.tif",
        bounds,
        lambda x, y: 200 + 150 * np.sin(x / 2500) * np.cos(y / 3500),
    )
    shapely.prepare(coarse)
    inside = shapely.contains_xy(
        coarse,
        *np.meshgrid(
            np.arange(round(bounds[0], -2), round(bounds[2], -2), 100) + 50,
            round(bounds[3], -2)
            - 50
            - np.arange(int((round(bounds[3], -2) - round(bounds[1], -2)) / 100)) * 100,
        ),
    )
    exc = _raster(
        work / "exceedance.tif",
        bounds,
        lambda x, y: np.where(inside, 700 + 300 * np.sin(x / 3000) * np.cos(y / 4000), np.nan),
    )
    rasters = {"deposition_farms": dep, "exceedance": exc}
    ctx = MapContext(
        data_date="2026-12-01",
        config_name="real",
        map_threshold_mol_ha=0.05,
        below_column="below_0.05_none",
        habitat_names={"H4030": "Droge heiden"},
        rasters=rasters,
        ranges={
            "deposition_farms": raster_range(dep),
            "exceedance": raster_range(exc, symmetric=True),
        },
        context=context,
    )
    data = {
        "areas": areas,
        "zones_by_area": zones,
        "pieces": pieces,
        "farms": farms,
        "receptors": receptors,
        "rko": rko,
        "habitats": habitats,
    }
    print(f"real frames in {time.perf_counter() - t0:.1f} s")
    t1 = time.perf_counter()
    path = write_map(
        area_map(ctx, CODE, data, self_contained=True),
        work / area_map_name(CODE),
        self_contained=True,
    )
    build_s = time.perf_counter() - t1
    return {
        "path": path,
        "frames_s": t1 - t0,
        "build_s": build_s,
        "tmp": work,
        "n": {"receptors": len(receptors), "pieces": len(pieces), "farms": len(farms)},
    }


def test_real_area_map_is_under_5_mb(real_map) -> None:
    size = real_map["path"].stat().st_size
    print(
        f"real map {real_map['path'].name}: {size / 1e6:.2f} MB, built in "
        f"{real_map['build_s']:.1f} s from {real_map['n']}"
    )
    assert size < MAX_MAP_BYTES
    html = real_map["path"].read_text()
    assert "<title>Veluwe (NL9801023)" in html
    assert "Gelderland" in html  # the CBS context: a province name as a label


def test_real_area_map_reads_at_a_glance(real_map, tmp_path) -> None:
    from tests.test_maps import CHROMIUM, check_legible, keep_screenshot, open_offline

    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    path = real_map["path"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page, errors, load_s = open_offline(browser, path)
            check_legible(page, path)
            page.mouse.move(1, 1)
            keep_screenshot(page, tmp_path, f"real_{path.stem}.png")
            print(
                f"real map {path.name}: {path.stat().st_size / 1e6:.2f} MB, "
                f"opened in {load_s:.2f} s"
            )
            assert errors == []
            page.close()
        finally:
            browser.close()
