"""Habitat data from real sources: the NDVH habitat-map preset, the AERIUS habitat and hexagon
layers, and the offline stand-in per area from the NDVH template's objectives."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import RD, REAL, require_shared
from n2kzones.config import LayerInput
from n2kzones.errors import InputError
from n2kzones.habitats import HABITAT_MAP, STANDIN_LABEL, habitat_source_by_area, objective_standin
from n2kzones.io.aerius_hexagons import aerius_receptors
from n2kzones.io.readers import read_layer
from n2kzones.kdw import load_kdw_table
from n2kzones.params import load_parameters

#: A point in the Netherlands (RD New, m): the reader refuses RD coordinates outside it.
X0, Y0 = 150_000.0, 450_000.0


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A box in m relative to (X0, Y0)."""
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


TEMPLATE = REAL / "ndvh-habitat-template-2023" / "NDVH_Habitat_template_T0_v2023.1.3_Prod.zip"

#: Fields of the template's ``Habitat`` layer (T0 v2023.1.3), in order, with their types as
#: pyogrio reads them (Shape_Length / Shape_Area are the FileGDB's own).
NDVH_HABITAT_FIELDS: list[tuple[str, str]] = [
    ("Shape_Length", "float64"),
    ("Shape_Area", "float64"),
    ("identificatie", "object"),
    ("bron", "object"),
    ("veldSituatieDatum", "datetime64[ms]"),
    ("opmerkingen", "object"),
] + [
    (f"{name}{i}", kind)
    for i in range(1, 7)
    for name, kind in (
        ("habitatType", "object"),
        ("kwaliteit", "object"),
        ("bedekkingsOppervlakte", "float64"),
        ("bedekkingsPercentage", "int16"),
        ("opmerking", "object"),
    )
]


def _ndvh_row(ident: str, types: list[tuple[str, int]]) -> dict:
    row: dict = {
        "identificatie": ident,
        "bron": "test",
        "veldSituatieDatum": pd.Timestamp("2023-06-01"),
        "opmerkingen": None,
    }
    for i in range(1, 7):
        code, pct = types[i - 1] if i <= len(types) else (None, 0)
        row |= {
            f"habitatType{i}": code,
            f"kwaliteit{i}": "G" if code else None,
            f"bedekkingsOppervlakte{i}": float(pct) * 100.0 if code else None,
            f"bedekkingsPercentage{i}": pct,
            f"opmerking{i}": None,
        }
    return row


@pytest.fixture
def ndvh_habitat_gpkg(tmp_path):
    """A GeoPackage with the NDVH ``Habitat`` schema: a mosaic whose second type is the most
    sensitive, a pure polygon, and a type at 0 % that must not count."""
    rows = [
        _ndvh_row("p1", [("H9120", 70), ("H2310", 30)]),  # KDW 1071 vs 714 -> H2310
        _ndvh_row("p2", [("H3130", 100)]),  # 500
        _ndvh_row("p3", [("H6410", 100), ("H3110", 0)]),  # 786; H3110 (429) at 0 % ignored
    ]
    geoms = [box(0, 0, 200, 100), box(300, 0, 500, 100), box(600, 0, 800, 100)]
    gdf = gpd.GeoDataFrame(rows, geometry=geoms, crs=RD)
    gdf.insert(0, "Shape_Area", gdf.geometry.area)
    gdf.insert(0, "Shape_Length", gdf.geometry.length)
    for name, kind in NDVH_HABITAT_FIELDS:
        if kind == "int16":
            gdf[name] = gdf[name].astype("int16")
    assert [c for c in gdf.columns if c != "geometry"] == [n for n, _ in NDVH_HABITAT_FIELDS]
    path = tmp_path / "ndvh_habitat.gpkg"
    gdf.to_file(path, layer="Habitat", driver="GPKG")
    return path


def test_ndvh_template_habitat_layer_has_the_schema_the_test_builds():
    pyogrio = pytest.importorskip("pyogrio")
    from n2kzones.io.ndvh import gdal_path

    info = pyogrio.read_info(gdal_path(require_shared(TEMPLATE)), layer="Habitat")
    assert info["features"] == 0
    assert list(zip(info["fields"], map(str, info["dtypes"]), strict=True)) == NDVH_HABITAT_FIELDS


def test_ndvh_habitat_preset_takes_the_most_sensitive_type_per_polygon(ndvh_habitat_gpkg):
    spec = LayerInput(path=ndvh_habitat_gpkg, layer="Habitat", preset="ndvh_habitat")
    gdf, report = read_layer("habitats", spec, crs=RD, params=load_parameters())
    got = gdf.set_index("identificatie")
    assert got["habitat_code"].to_dict() == {"p1": "H2310", "p2": "H3130", "p3": "H6410"}
    assert got["kdw_mol_ha"].to_dict() == {"p1": 714.0, "p2": 500.0, "p3": 786.0}
    assert got["habitat_coverage_pct"].to_dict() == {"p1": 30.0, "p2": 100.0, "p3": 100.0}
    assert got.loc["p1", "sensitive_coverage_pct"] == 100.0  # both types are sensitive
    assert got.loc["p1", "mosaic_types"] == "H9120 70%, H2310 30%"
    assert got.loc["p3", "mosaic_types"] == "H6410 100%"
    notes = " ".join(report.notes)
    assert "1 of 3 polygons hold several habitat types" in notes
    assert "1 of them not their first type" in notes


def test_ndvh_habitat_preset_refuses_polygons_without_a_known_type(tmp_path):
    gdf = gpd.GeoDataFrame([_ndvh_row("x", [("H0000", 100)])], geometry=[box(0, 0, 10, 10)], crs=RD)
    path = tmp_path / "bad.gpkg"
    gdf.to_file(path, layer="Habitat", driver="GPKG")
    spec = LayerInput(path=path, layer="Habitat", preset="ndvh_habitat")
    with pytest.raises(InputError, match=r"types \['H0000'\] have no KDW"):
        read_layer("habitats", spec, crs=RD, params=load_parameters())


def test_aerius_habitat_areas_preset_maps_code_kdw_and_notes_coverage(tmp_path):
    gdf = gpd.GeoDataFrame(
        {
            "assessment_area_id": [57, 57],
            "habitat_area_id": [1, 2],
            "habitat_type_id": [10, 11],
            "habitat_type_name": ["H4030", "H9120"],
            "critical_deposition": [714.0, 1071.0],
            "coverage": [1.0, 0.4],
        },
        geometry=[box(0, 0, 100, 100), box(200, 0, 300, 100)],
        crs=RD,
    )
    path = tmp_path / "habitat_areas.gpkg"
    gdf.to_file(path, driver="GPKG")
    out, report = read_layer(
        "habitats",
        LayerInput(path=path, preset="aerius_habitat_areas"),
        crs=RD,
        params=load_parameters(),
    )
    assert out["habitat_code"].tolist() == ["H4030", "H9120"]
    assert out["kdw_mol_ha"].tolist() == [714.0, 1071.0]
    assert any("1 of 2 habitat polygons cover only part" in n for n in report.notes)


def _hexagon(x: float, y: float, side: float = 62.04) -> shapely.Polygon:
    a = np.deg2rad(np.arange(0, 360, 60))
    return shapely.Polygon(np.column_stack([x + side * np.cos(a), y + side * np.sin(a)]))


def test_aerius_receptors_from_hexagons_and_coverage():
    hexes = gpd.GeoDataFrame(
        {"receptor_id": [4776000, 4776001, 4776001], "critical_deposition": [714.0, 1071.0, 786.0]},
        geometry=[_hexagon(X0 + 1000, Y0), _hexagon(X0 + 1100, Y0), _hexagon(X0 + 1100, Y0)],
        crs=RD,
    )
    coverage = pd.DataFrame(
        {
            "assessment_area_id": [57, 57, 65, 57],
            "type": ["relevant_habitat", "relevant_habitat", "relevant_habitat", "habitat"],
            "critical_deposition_area_id": [1, 2, 3, 1],
            "receptor_id": [4776000, 4776001, 4776001, 4776000],
            "zoom_level": [1, 1, 1, 1],
            "surface": [10_000.0, 4000.0, 6000.0, 10_000.0],
            "receptor_habitat_coverage": [0.5, 1.0, 0.5, 1.0],
        }
    )
    out = aerius_receptors(hexes, coverage)
    got = out.set_index("receptor_id")
    assert list(got.index) == ["4776000", "4776001"]
    assert got["kdw_mol_ha"].tolist() == [714.0, 786.0]  # the lowest of a repeated receptor
    assert got["habitat_ha"].tolist() == pytest.approx([0.5, 0.7])  # sum(surface * coverage) / 1e4
    assert got["area_number"].tolist() == [57, 57]  # 0.4 ha in 57 beats 0.3 ha in 65
    assert out.geom_type.eq("Point").all()
    assert got.geometry.iloc[0].x == pytest.approx(X0 + 1000.0)
    # without coverage: the hexagon polygon's area
    assert aerius_receptors(hexes)["habitat_ha"].iloc[0] == pytest.approx(_hexagon(0, 0).area / 1e4)


def test_aerius_receptors_refuses_missing_columns_and_bad_ids():
    hexes = gpd.GeoDataFrame({"receptor_id": [1]}, geometry=[_hexagon(X0, Y0)], crs=RD)
    with pytest.raises(InputError, match="kdw_mol_ha"):
        aerius_receptors(hexes)
    hexes = gpd.GeoDataFrame(
        {"receptor_id": ["a1"], "critical_deposition": [714.0]}, geometry=[_hexagon(X0, Y0)], crs=RD
    )
    with pytest.raises(InputError, match="whole numbers"):
        aerius_receptors(hexes)


# -- the stand-in ------------------------------------------------------------------------------


@pytest.fixture
def standin_inputs():
    areas = gpd.GeoDataFrame(
        {"site_code": ["NL1", "NL2", "NL3"], "area_number": [57, 65, 99]},
        geometry=[box(0, 0, 1000, 1000), box(2000, 0, 3000, 500), box(5000, 0, 5100, 100)],
        crs=RD,
    )
    objectives = pd.DataFrame(
        {
            "area_number": [57, 57, 57, 65, 65, 65, 65, 12],
            "habitat_code": [
                "H4030",
                "H3130",
                "H9120",
                "H91E0C",
                "H6230",
                "H9999",
                "H91E0C",
                "H3110",
            ],
        }
    )
    kdw = pd.DataFrame(
        {
            "code": ["H4030", "H3130", "H9120", "H91E0C", "H6230dka", "H6230vka", "H3110"],
            "kdw_mol_ha": [714.0, 500.0, 1071.0, 1857.0, 714.0, 643.0, 429.0],
        }
    )
    return areas, objectives, kdw


def test_standin_takes_each_areas_most_sensitive_objective(standin_inputs, caplog):
    areas, objectives, kdw = standin_inputs
    with caplog.at_level(logging.INFO, logger="n2kzones.habitats"):
        out = objective_standin(areas, objectives, kdw)
    assert out["site_code"].tolist() == ["NL1", "NL2"]  # NL3 (area 99) has no objectives
    got = out.set_index("site_code")
    assert got["habitat_code"].to_dict() == {"NL1": "H3130", "NL2": "H6230"}
    assert got["kdw_mol_ha"].to_dict() == {"NL1": 500.0, "NL2": 643.0}  # H6230: lowest variant
    assert got.loc["NL2", "types_kdw_from_variants"] == "H6230"
    assert got.loc["NL2", "types_without_kdw"] == "H9999"
    assert got.loc["NL1", "types_without_kdw"] == ""
    assert got.loc["NL2", "objective_types"] == "H6230, H91E0C, H9999"  # the repeat counts once
    assert got.loc["NL2", "n_objective_types"] == 3
    assert (got["habitat_source"] == STANDIN_LABEL).all()
    assert got["habitat_ha"].to_dict() == pytest.approx({"NL1": 100.0, "NL2": 50.0})
    assert shapely.equals(got.geometry["NL1"], areas.geometry[0])
    counts = out.attrs["standin"]
    assert counts["types_without_kdw"] == ["H9999"] and counts["pairs_without_kdw"] == 1
    assert counts["objective_areas_without_polygon"] == [12]
    assert counts["areas_without_objectives"] == 1 and counts["areas_in_standin"] == 2
    assert "H9999" in caplog.text and "no KDW" in caplog.text


def test_standin_without_variants_counts_them_missing(standin_inputs):
    areas, objectives, kdw = standin_inputs
    out = objective_standin(areas, objectives, kdw, variants=False)
    got = out.set_index("site_code")
    assert got.loc["NL2", "habitat_code"] == "H91E0C"
    assert out.attrs["standin"]["types_without_kdw"] == ["H6230", "H9999"]


def test_standin_reads_back_as_a_habitat_layer(standin_inputs, tmp_path):
    from n2kzones.io.writers import write_geopackage

    out = objective_standin(*standin_inputs)
    path = write_geopackage(tmp_path / "habitat_standin.gpkg", {"habitat_standin": out})
    gdf, _ = read_layer("habitats", LayerInput(path=path), crs=RD, params=load_parameters())
    assert gdf["habitat_code"].tolist() == ["H3130", "H6230"]
    assert gdf["kdw_mol_ha"].tolist() == [500.0, 643.0]  # the file's KDW, not the parameters'
    assert habitat_source_by_area(gdf).to_dict() == {"NL1": STANDIN_LABEL, "NL2": STANDIN_LABEL}


def test_habitat_source_by_area_defaults_to_habitat_map():
    plain = pd.DataFrame({"site_code": ["A", "A", "B"]})
    assert habitat_source_by_area(plain).to_dict() == {"A": HABITAT_MAP, "B": HABITAT_MAP}
    mixed = plain.assign(habitat_source=[STANDIN_LABEL, None, STANDIN_LABEL])
    assert habitat_source_by_area(mixed).to_dict() == {
        "A": f"{HABITAT_MAP}; {STANDIN_LABEL}",
        "B": STANDIN_LABEL,
    }


def test_standin_from_the_real_template():
    from pathlib import Path

    from n2kzones.io.natura2000_json import read_natura2000_json
    from n2kzones.io.ndvh import read_ndvh_objectives

    objectives = read_ndvh_objectives(require_shared(TEMPLATE))
    assert len(objectives) == 1181
    assert objectives["area_number"].nunique() == 136
    assert objectives["habitat_code"].nunique() == 75
    areas = read_natura2000_json(Path(require_shared(REAL / "natura2000-nl-pdok-rce"))).to_crs(RD)
    kdw = load_kdw_table()
    out = objective_standin(areas, objectives, kdw)
    counts = out.attrs["standin"]
    assert counts["areas_with_objectives"] == 136
    # Waddenzee (1) and Noordzeekustzone (7) have objectives but no polygon in that folder
    assert counts["objective_areas_without_polygon"] == [1, 7]
    assert len(out) == 134
    # six objective types exist in the WUR table only as variants; none is left without a KDW
    assert sorted(counts["types_kdw_from_variants"]) == [
        "H2180A",
        "H2190A",
        "H3140",
        "H3150",
        "H6230",
        "H7120",
    ]
    assert counts["types_without_kdw"] == []
    # Veluwe (57): its most sensitive objective checked against the KDW table
    veluwe = out.loc[out["area_number"] == 57].iloc[0]
    table = kdw.set_index("code")["kdw_mol_ha"]
    mine = objectives.loc[objectives["area_number"] == 57, "habitat_code"]
    own = table.reindex(mine).dropna()
    assert veluwe["site_code"] == "NL9801023"
    assert veluwe["habitat_code"] == "H3130" and veluwe["kdw_mol_ha"] == 500.0 == own.min()
    assert (out["habitat_source"] == STANDIN_LABEL).all()


def test_habitat_standin_command_writes_the_geopackage(standin_inputs, tmp_path, capsys):
    import pyogrio

    from n2kzones.datasets.realdata import main

    areas, objectives, _ = standin_inputs
    areas_path = tmp_path / "natura2000.gpkg"
    areas.to_file(areas_path, layer="natura2000", driver="GPKG")
    template = tmp_path / "template.gpkg"  # any GDAL file with the objectives table
    table = pd.DataFrame(
        {"gebiedNummer": objectives["area_number"], "habitatType": objectives["habitat_code"]}
    )
    pyogrio.write_dataframe(table, template, layer="Natura2000Doelstellingen")
    out = tmp_path / "real" / "habitat_standin.gpkg"
    argv = [
        "habitat-standin",
        "--areas",
        str(areas_path),
        "--template",
        str(template),
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    got = gpd.read_file(out, layer="habitat_standin")
    # the packaged WUR table: H3130 500 for NL1; NL2's H6230 takes its lowest variant (714)
    assert got[["site_code", "habitat_code", "kdw_mol_ha"]].values.tolist() == [
        ["NL1", "H3130", 500.0],
        ["NL2", "H6230", 714.0],
    ]
    assert (got["habitat_source"] == STANDIN_LABEL).all()
    assert not list(out.parent.glob(".*"))  # written atomically: no temporary file left
    assert (
        main([*argv[:-1], str(tmp_path / "x.gpkg"), "--template", str(tmp_path / "missing.zip")])
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
