"""Areas the deposition grid does not cover, and areas without habitat data, end to end on the
sample: two areas without habitat are added to a copy of its areas layer, one far outside the
grid (like Texel on the real country) and one on the grid's east edge. The grid spans the farms
and habitats plus ``deposition.grid_margin_m``, so where those areas lie is known in advance."""

from __future__ import annotations

import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from n2kzones.io.writers import read_table

FAR, EDGE = "NL2099001", "NL2099002"
OUTSIDE_NOTE = "Outside the deposition grid: no deposition or exceedance layers on this map."
PARTLY_NOTE = "Partly outside the deposition grid"
RASTER_LAYERS = ("Exceedance of the KDW (mol N/ha/yr)", "Deposition from farms (mol N/ha/yr)")


@pytest.fixture(scope="module")
def outside(sample_config, tmp_path_factory):
    """The whole pipeline and report on the sample plus FAR (60 km east of the grid) and EDGE
    (a 1 km square centred on the grid's east edge); returns paths and the manifest."""
    from n2kzones.stages.manifest import read_manifest
    from n2kzones.stages.maps import run_maps
    from n2kzones.stages.report import run_report
    from n2kzones.stages.run import run_all

    cfg0 = sample_config
    spec = cfg0.inputs.areas
    areas_in = gpd.read_file(cfg0.resolve(spec.path), layer=spec.layer)
    farms = gpd.read_file(cfg0.resolve(cfg0.inputs.farms.path), layer=cfg0.inputs.farms.layer)
    hab_spec = cfg0.inputs.habitats
    habitats = gpd.read_file(cfg0.resolve(hab_spec.path), layer=hab_spec.layer)
    margin_m = cfg0.deposition.grid_margin_m
    # the grid's east edge, within one cell
    east_m = max(farms.total_bounds[2], habitats.total_bounds[2]) + margin_m
    mid_y_m = float(np.mean(areas_in.total_bounds[[1, 3]]))
    new = pd.concat([areas_in.iloc[[0]]] * 2, ignore_index=True)
    new["site_code"], new["name"] = [FAR, EDGE], ["Far away", "On the edge"]
    new["nitrogen_sensitive"] = True
    new = new.set_geometry(
        [
            shapely.box(east_m + 60_000, mid_y_m, east_m + 61_000, mid_y_m + 1000),
            shapely.box(east_m - 500, mid_y_m, east_m + 500, mid_y_m + 1000),
        ],
        crs=areas_in.crs,
    )
    work = tmp_path_factory.mktemp("outside-grid")
    path = work / "input" / "natura2000.gpkg"
    path.parent.mkdir()
    pd.concat([areas_in, new], ignore_index=True).to_file(path, layer=spec.layer)
    out = work / "out"
    cfg = cfg0.model_copy(
        update={
            # English: the notes checked below are the English texts of the catalogue
            "project": cfg0.project.model_copy(update={"output_dir": out, "language": "en"}),
            "inputs": cfg0.inputs.model_copy(
                update={"areas": spec.model_copy(update={"path": path})}
            ),
        }
    )
    run_all(cfg, stages=("zones", "overlay", "deposition", "rko", "select", "scenario", "policy"))
    maps = run_maps(cfg, self_contained=False)
    report = run_report(cfg)
    return {
        "cfg": cfg, "maps": maps, "report": report, "manifest": read_manifest(out, "maps"),
        "originals": list(areas_in["site_code"].astype(str)), "east_m": east_m,
    }


@pytest.fixture(scope="module")
def baseline(sample_config, tmp_path_factory):
    """The same pipeline on the unchanged sample, in its own output folder."""
    from n2kzones.stages.maps import run_maps
    from n2kzones.stages.run import run_all

    out = tmp_path_factory.mktemp("outside-grid-baseline") / "out"
    project = sample_config.project.model_copy(update={"output_dir": out, "language": "en"})
    cfg = sample_config.model_copy(update={"project": project})
    run_all(cfg, stages=("zones", "overlay", "deposition", "rko", "select", "scenario", "policy"))
    run_maps(cfg, self_contained=False)
    return {"cfg": cfg}


def _map(outside, code: str) -> str:
    from n2kzones.render.maps import area_map_name

    return (outside["cfg"].output_dir / "maps" / area_map_name(code)).read_text()


def test_grid_edge_where_expected(outside) -> None:
    import rasterio

    with rasterio.open(outside["cfg"].output_dir / "deposition_farms.tif") as src:
        assert src.bounds.right == pytest.approx(outside["east_m"], abs=src.res[0])


def test_maps_stage_completes_with_every_map(outside) -> None:
    codes = [*outside["originals"], FAR, EDGE]
    assert len(outside["maps"]) == len(codes) + 1 and all(p.exists() for p in outside["maps"])


def test_manifest_counts_and_names_the_areas(outside) -> None:
    m = outside["manifest"]
    assert m["n_areas_outside_grid"] == 1 and m["areas_outside_grid"] == [FAR]
    assert m["n_areas_partly_outside_grid"] == 1 and m["areas_partly_outside_grid"] == [EDGE]


def test_outside_area_map_has_no_rasters_and_says_so(outside) -> None:
    html = _map(outside, FAR)
    assert OUTSIDE_NOTE in html
    assert "data:image/png;base64," not in html
    assert not any(layer in html for layer in RASTER_LAYERS)
    assert "Natura 2000 area" in html and "Far away" in html


def test_edge_area_map_has_the_covered_part(outside) -> None:
    html = _map(outside, EDGE)
    assert PARTLY_NOTE in html and OUTSIDE_NOTE not in html
    assert "Deposition from farms (mol N/ha/yr)" in html and "data:image/png;base64," in html


def _images(html: str) -> list[str]:
    return re.findall(r"data:image/png;base64,[A-Za-z0-9+/=]+", html)


def test_other_area_maps_are_unchanged(outside, baseline) -> None:
    """Every original area's map has the same raster images (byte for byte) and layers as in
    the run without the two new areas, and no coverage note."""
    for code in outside["originals"]:
        html, before = _map(outside, code), _map(baseline, code)
        assert _images(html) == _images(before), code
        assert [x in html for x in RASTER_LAYERS] == [x in before for x in RASTER_LAYERS], code
        assert OUTSIDE_NOTE not in html and PARTLY_NOTE not in html, code
    assert all("Deposition from farms (mol N/ha/yr)" in _map(outside, c) for c in outside["originals"])


def test_report_names_the_areas(outside) -> None:
    html = outside["report"].read_text()
    assert (
        "1 area(s) outside the deposition grid: their maps have no deposition or exceedance "
        f"layers: {FAR}." in html
    )
    assert (
        "1 area(s) partly outside the deposition grid: their raster layers cover part of the "
        f"map: {EDGE}." in html
    )
    assert (
        f"2 area(s) with zone decision and overload unknown (no habitat data): {FAR}, {EDGE}."
        in html
    )
    assert "../maps/index.html" in html


def test_areas_without_habitat_are_unknown_in_the_tables(outside) -> None:
    from html import escape

    from n2kzones.render.i18n import tr
    from n2kzones.selection import UNKNOWN_NO_HABITAT

    out = outside["cfg"].output_dir
    prop = read_table(out / "zone_proposal.csv", dtype={"site_code": str}).set_index("site_code")
    for code in (FAR, EDGE):
        row = prop.loc[code]
        assert not row["habitat_data"] and row["reason_code"] == UNKNOWN_NO_HABITAT
        assert row["reason"] == tr("area.reason_no_habitat_data", "en")
        assert math.isnan(row["overloaded_ha"]) and math.isnan(row["proposed_width_m"])
    known = prop.loc[outside["originals"]]
    assert known["habitat_data"].all()
    assert not known["reason_code"].eq(UNKNOWN_NO_HABITAT).any()
    assert known["overloaded_ha"].notna().all() and known["proposed_width_m"].notna().all()
    # the overview map states an overload figure per area: unknown for these two
    index = (out / "maps" / "index.html").read_text()
    assert index.count(escape(tr("area.reason_no_habitat_data", "en"))) == 4  # tooltip and popup of each
    # NL2003005 has habitat, none of it nitrogen-sensitive: a known "no", not unknown
    assert prop.loc["NL2003005", "reason_code"] == "not_sensitive"
    assert prop.loc["NL2003005", "reason"].startswith(tr("area.reason_not_sensitive", "en"))


def test_original_areas_keep_their_proposal(outside, baseline) -> None:
    """The other areas' zone proposal is that of the unchanged sample (no farm or habitat was
    added, and the new areas are not eligible for a rank)."""
    def proposal(run: dict) -> pd.DataFrame:
        path = run["cfg"].output_dir / "zone_proposal.csv"
        return read_table(path, dtype={"site_code": str}).set_index("site_code")

    base, prop = proposal(baseline), proposal(outside)
    assert set(base.index) == set(outside["originals"])
    cols = ["overloaded_ha", "dep_within_500m_mol_ha", "dep_500_1000m_mol_ha", "rank",
            "final_width_m", "reason"]
    pd.testing.assert_frame_equal(prop.loc[base.index, cols], base[cols])


def test_raster_coverage_known_answers(tmp_path) -> None:
    """A 10 x 10 grid of 100 m cells over x 0-1000 m, y 0-1000 m: extents inside, across the
    edge, beyond it and touching it; cropping to an extent outside gives no overlay (the
    WindowError "Intersection is empty" of the national run)."""
    import rasterio
    from rasterio.transform import from_origin

    from n2kzones.render.maps import (
        COVERED,
        NOT_COVERED,
        PARTLY_COVERED,
        raster_coverage,
        raster_overlay,
    )

    path = tmp_path / "grid.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32",
        crs="EPSG:28992", transform=from_origin(100_000, 401_000, 100, 100), nodata=np.nan,
    ) as dst:
        dst.write(np.arange(100, dtype="float32").reshape(1, 10, 10))
    x0, y0 = 100_000, 400_000
    assert raster_coverage(path, (x0 + 100, y0 + 100, x0 + 900, y0 + 900)) == COVERED
    assert raster_coverage(path, (x0, y0, x0 + 1000, y0 + 1000)) == COVERED
    assert raster_coverage(path, (x0 + 500, y0 + 500, x0 + 1500, y0 + 900)) == PARTLY_COVERED
    assert raster_coverage(path, (x0 + 5000, y0, x0 + 6000, y0 + 1000)) == NOT_COVERED
    assert raster_coverage(path, (x0 + 1000, y0, x0 + 2000, y0 + 1000)) == NOT_COVERED  # edge
    kw = {"cmap": "viridis", "vmin": 0.0, "vmax": 99.0}
    assert raster_overlay(path, "far", bbox=(x0 + 5000, y0, x0 + 6000, y0 + 1000), **kw) is None
    part = raster_overlay(path, "part", bbox=(x0 + 500, y0 + 500, x0 + 1500, y0 + 900), **kw)
    assert part is not None
