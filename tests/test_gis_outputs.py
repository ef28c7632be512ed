"""Tables and layers for GIS (issue 16, item 6): farm attributes carried through, GeoTIFF band
descriptions and units, QGIS styles in the GeoPackages and beside the GeoTIFFs."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely

from n2kzones.config import LayerInput
from n2kzones.io.readers import read_layer
from n2kzones.io.writers import LAYER_STYLES_COLUMNS
from n2kzones.params import load_parameters
from n2kzones.stages.catalogue import RASTER_BANDS, RASTER_STYLES, STYLED_LAYERS, OutputFolder
from n2kzones.summary import FARM_ATTRIBUTES, farm_summary

RD = "EPSG:28992"
PARAMS = load_parameters()


def _igo_like(path: Path) -> Path:
    """A tiny farm layer with the IGO file's columns (adres, bevoegdgezag, bedrijfstype)."""
    gpd.GeoDataFrame(
        {
            "vthobject_id": ["ODA1", "ODA2", "ODA3"],
            "nh3_emissie": [1822.0, 25.5, 400.0],
            "adres": ["Dierenseweg 4 7225NC Olburgen", " Arnhemseweg 79 6731BP Otterlo ", None],
            "bevoegdgezag": ["Bronckhorst", "Ede", "Provincie Gelderland"],
            "bedrijfstype": ["melkvee", None, "varkens"],
            "od": ["ODA", "ODDV", "ODA"],
        },
        geometry=gpd.points_from_xy([190_000, 175_000, 180_000], [445_000, 452_000, 450_000]),
        crs=RD,
    ).to_file(path, layer="farms")
    return path


def test_farm_address_municipality_and_type_reach_farm_summary(tmp_path: Path) -> None:
    from n2kzones.io.writers import write_geopackage

    farms, _ = read_layer(
        "farms",
        LayerInput(path=_igo_like(tmp_path / "igo.gpkg"), preset="igo_veehouderijen"),
        crs=RD,
        params=PARAMS,
    )
    table = farm_summary(farms, PARAMS)
    assert list(table.columns[: 1 + len(FARM_ATTRIBUTES)]) == ["farm_id", *FARM_ATTRIBUTES]
    t = table.set_index("farm_id")
    assert t.loc["ODA1", "address"] == "Dierenseweg 4 7225NC Olburgen"
    assert t.loc["ODA2", "address"] == "Arnhemseweg 79 6731BP Otterlo"  # trimmed
    assert pd.isna(t.loc["ODA3", "address"])
    assert list(t["municipality"]) == ["Bronckhorst", "Ede", "Provincie Gelderland"]
    assert t.loc["ODA3", "farm_type"] == "varkens"
    # and the farms layer of a GeoPackage keeps them
    write_geopackage(tmp_path / "out.gpkg", {"farms": farms})
    back = pyogrio.read_dataframe(tmp_path / "out.gpkg", layer="farms", read_geometry=False)
    assert {"address", "municipality", "farm_type"} <= set(back.columns)
    assert list(back["municipality"]) == ["Bronckhorst", "Ede", "Provincie Gelderland"]


def test_farm_summary_without_the_attributes_has_no_empty_columns() -> None:
    farms = gpd.GeoDataFrame(
        {"farm_id": ["F1"], "emission_kg_nh3": [10.0]}, geometry=[shapely.Point(0, 0)], crs=RD
    )
    assert not set(FARM_ATTRIBUTES) & set(farm_summary(farms, PARAMS).columns)


@pytest.mark.real_data
def test_real_igo_farms_keep_address_and_municipality(real_dir: Path) -> None:
    path = real_dir / "veehouderijen-igo-n2000-zones" / "data.gpkg"
    farms, _ = read_layer(
        "farms",
        LayerInput(path=path, preset="igo_veehouderijen", on_duplicate_id="suffix"),
        crs=RD,
        params=PARAMS,
    )
    table = farm_summary(farms, PARAMS)
    assert {"address", "municipality", "farm_type"} <= set(table.columns)
    assert table["address"].notna().mean() > 0.9
    assert table["municipality"].notna().mean() > 0.9
    assert {"Ede", "Bronckhorst"} <= set(table["municipality"].dropna())


# -- on the sample --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deposited(sample_overlay) -> OutputFolder:
    """Zones, overlay and deposition on the sample (the shared session run)."""
    from n2kzones.stages.deposition import run_deposition

    run_deposition(sample_overlay)
    return OutputFolder(sample_overlay.output_dir)


def test_every_geotiff_has_band_description_and_unit(deposited: OutputFolder) -> None:
    tifs = sorted(deposited.root.glob("*.tif"))
    assert {p.name for p in tifs} == {deposited[k].name for k in RASTER_BANDS}
    for key, (description, unit) in RASTER_BANDS.items():
        with rasterio.open(deposited[key]) as src:
            assert src.descriptions == (description,)
            assert src.units == (unit,)
            assert src.tags()["units"] == unit


def _renderer(qml: str) -> ET.Element:
    root = ET.fromstring(qml.split("\n", 1)[1])  # after the DOCTYPE line
    assert root.tag == "qgis"
    r = root.find("renderer-v2")
    assert r is not None
    return r


def _styles(gpkg: Path) -> pd.DataFrame:
    with sqlite3.connect(gpkg) as con:
        cols = [row[1] for row in con.execute("PRAGMA table_info(layer_styles)")]
        rows = pd.read_sql("SELECT * FROM layer_styles", con)
    assert set(LAYER_STYLES_COLUMNS) | {"id"} == set(cols)
    return rows


def test_geopackages_carry_qgis_styles(deposited: OutputFolder) -> None:
    expected = {
        # layer: (renderer type, attribute, number of classes or None = data dependent)
        "zones": ("categorizedSymbol", "width_m", None),
        "parcel_pieces": ("categorizedSymbol", "category", 7),
        "farms": ("graduatedSymbol", "emission_kg_nh3", 6),
        "receptors": ("graduatedSymbol", "exceedance_mol_ha", 6),
    }
    seen = set()
    for key, layers in STYLED_LAYERS.items():
        rows = _styles(deposited[key]).set_index("f_table_name")
        assert set(rows.index) == set(layers)
        for layer in layers:
            row = rows.loc[layer]
            assert row["useAsDefault"] == 1
            with sqlite3.connect(deposited[key]) as con:
                (geom,) = con.execute(
                    "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)
                ).fetchone()
            assert row["f_geometry_column"] == geom
            kind, attr, n = expected[layer]
            r = _renderer(row["styleQML"])
            assert r.get("type") == kind and r.get("attr") == attr
            fields = pyogrio.read_info(deposited[key], layer=layer)["fields"]
            assert attr in fields
            classes = r.findall("categories/category") or r.findall("ranges/range")
            symbols = r.findall("symbols/symbol")
            assert len(classes) == len(symbols) > 0
            if n is not None:
                assert len(classes) == n, layer
            seen.add(layer)
        with sqlite3.connect(deposited[key]) as con:  # registered as QGIS does: an attribute table
            assert con.execute(
                "SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'"
            ).fetchone() == ("attributes",)
    assert seen == set(expected)
    zones = gpd.read_parquet(deposited.zones)
    zr = _renderer(
        _styles(deposited.overlay_gpkg).set_index("f_table_name").loc["zones", "styleQML"]
    )
    widths = {float(c.get("value")) for c in zr.findall("categories/category")}
    assert widths == {float(w) for w in zones["width_m"].unique() if w > 0}


def test_geotiffs_have_qml_side_files(deposited: OutputFolder) -> None:
    for tif_key, qml_key in RASTER_STYLES.items():
        qml = deposited[qml_key]
        assert qml.with_suffix(".tif") == deposited[tif_key]
        root = ET.fromstring(qml.read_text("utf-8").split("\n", 1)[1])
        r = root.find("pipe/rasterrenderer")
        assert r is not None and r.get("type") == "singlebandpseudocolor" and r.get("band") == "1"
        shader = r.find("rastershader/colorrampshader")
        assert shader is not None and shader.get("colorRampType") == "DISCRETE"
        items = shader.findall("item")
        assert len(items) == 6
        assert items[-1].get("value") == "inf"
        assert all(
            i.get("color", "").startswith("#") and "mol N/ha/yr" in i.get("label", "")
            for i in items
        )


def test_style_colours_follow_the_maps() -> None:
    from n2kzones.render.maps import CROP_COLOURS
    from n2kzones.render.qgis import parcel_pieces_style

    r = _renderer(parcel_pieces_style(["Grasland", "Bouwland"]))
    cats = {c.get("value"): c.get("symbol") for c in r.findall("categories/category")}
    syms = {s.get("name"): s for s in r.findall("symbols/symbol")}
    colour = syms[cats["Grasland"]].find("layer/Option/Option[@name='color']").get("value")
    h = CROP_COLOURS["grasland"].lstrip("#")
    assert colour == ",".join(str(int(h[i : i + 2], 16)) for i in (0, 2, 4)) + ",255"
