"""Readers: every format gives the same layer; CRS, emptiness, geometry and value checks."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from n2kzones.config import LayerInput
from n2kzones.errors import CRSError, InputError, SchemaError
from n2kzones.io.readers import read_layer
from n2kzones.params import load_parameters

RD = "EPSG:28992"
PARAMS = load_parameters()


def _read(kind: str, path: Path, **spec):
    return read_layer(kind, LayerInput(path=path, **spec), crs=RD, params=PARAMS)


@pytest.fixture
def farms() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"farm_id": ["F1", "F2", "F3"], "rundvee": [100, 0, 10], "varkens": [0, 1000, 0], "emission_kg_nh3": [940.0, 2500.0, 94.0]},
        geometry=gpd.points_from_xy([155_000, 156_000, 157_000], [463_000, 463_500, 464_000]),
        crs=RD,
    )


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson", ".parquet", ".csv"])
def test_every_format_reads_the_same(tmp_path: Path, farms, suffix: str) -> None:
    path = tmp_path / f"farms{suffix}"
    if suffix == ".parquet":
        farms.to_parquet(path)
    elif suffix == ".csv":
        pd.DataFrame(farms.drop(columns="geometry").assign(x=farms.geometry.x, y=farms.geometry.y)).to_csv(path, index=False)
    elif suffix == ".shp":  # dBase names have at most 10 characters: map the short name
        farms.rename(columns={"emission_kg_nh3": "emission_k"}).to_file(path)
    else:
        farms.to_file(path)
    extra: dict = {"assume_crs": RD} if suffix == ".csv" else {}
    if suffix == ".shp":
        extra["columns"] = {"emission_kg_nh3": "emission_k"}
    gdf, report = _read("farms", path, **extra)
    assert list(gdf["farm_id"]) == ["F1", "F2", "F3"]
    assert np.allclose(gdf["emission_kg_nh3"], [940, 2500, 94])
    assert np.allclose(gdf.geometry.x, farms.geometry.x) and gdf.crs.to_epsg() == 28992
    assert report.n_read == report.n_kept == 3
    assert (gdf["schapen"] == 0).all()  # absent category counts as 0 (noted in the report)


def test_reprojection_from_wgs84_to_rd_new(tmp_path: Path) -> None:
    # The Amersfoort origin of RD New: (155000, 463000) = 52.15517 N, 5.38721 E
    pts = gpd.GeoDataFrame({"farm_id": ["O"], "emission_kg_nh3": [1.0]}, geometry=[shapely.Point(5.387206, 52.155172)], crs="EPSG:4326")
    pts.to_file(tmp_path / "f.gpkg")
    gdf, report = _read("farms", tmp_path / "f.gpkg")
    assert gdf.geometry.x.item() == pytest.approx(155_000, abs=0.5)
    assert gdf.geometry.y.item() == pytest.approx(463_000, abs=0.5)
    assert any("reprojected" in n for n in report.notes)


def test_no_crs_is_refused_unless_assumed(tmp_path: Path, farms) -> None:
    path = tmp_path / "f.csv"
    pd.DataFrame({"farm_id": ["F1"], "emission_kg_nh3": [5.0], "x": [155000], "y": [463000]}).to_csv(path, index=False)
    with pytest.raises(CRSError, match="no CRS.*assume_crs"):
        _read("farms", path)
    gdf, _ = _read("farms", path, assume_crs=RD)
    assert gdf.crs.to_epsg() == 28992


def test_degrees_labelled_as_rd_new_are_refused(tmp_path: Path) -> None:
    bad = gpd.GeoDataFrame({"site_code": ["X"]}, geometry=[shapely.box(5.0, 52.0, 5.1, 52.1)], crs=RD)
    bad.to_file(tmp_path / "a.gpkg")
    with pytest.raises(CRSError, match="look like lon/lat degrees"):
        _read("areas", tmp_path / "a.gpkg")


def test_empty_layer_and_wrong_geometry_type(tmp_path: Path, farms) -> None:
    farms.iloc[:0].to_file(tmp_path / "empty.gpkg")
    with pytest.raises(InputError, match="has no features"):
        _read("farms", tmp_path / "empty.gpkg")
    farms.to_file(tmp_path / "points.gpkg")
    with pytest.raises(InputError, match="no MultiPolygon or Polygon geometries"):
        _read("areas", tmp_path / "points.gpkg")


def test_invalid_polygons_are_repaired_and_counted(tmp_path: Path) -> None:
    bowtie = shapely.Polygon([(150_000, 450_000), (151_000, 451_000), (151_000, 450_000), (150_000, 451_000)])
    sliver = shapely.Polygon([(152_000, 450_000), (153_000, 450_000), (152_500, 450_000)])
    good = shapely.box(154_000, 450_000, 155_000, 451_000)
    gpd.GeoDataFrame({"site_code": ["bow", "sliver", "ok"]}, geometry=[bowtie, sliver, good], crs=RD).to_file(tmp_path / "a.gpkg")
    gdf, report = _read("areas", tmp_path / "a.gpkg")
    assert report.repaired_invalid == 2
    assert report.dropped == {"zero area (after repair)": 1}
    assert list(gdf["site_code"]) == ["BOW", "OK"]  # site codes are upper-cased (counted)
    assert gdf.geometry.is_valid.all()
    assert gdf.geometry.iloc[0].area == pytest.approx(500_000)  # two triangles of 250,000 m2
    assert report.accounted


def test_duplicate_farm_ids(tmp_path: Path, farms) -> None:
    dup = pd.concat([farms, farms.iloc[[0]]], ignore_index=True)
    dup.to_file(tmp_path / "exact.gpkg")
    gdf, report = _read("farms", tmp_path / "exact.gpkg")
    assert len(gdf) == 3 and report.dropped == {"exact duplicate row": 1}
    differing = dup.copy()
    differing.loc[3, "emission_kg_nh3"] = 1.0
    differing.to_file(tmp_path / "diff.gpkg")
    with pytest.raises(InputError, match="ids are used by rows that differ"):
        _read("farms", tmp_path / "diff.gpkg")
    gdf, _ = _read("farms", tmp_path / "diff.gpkg", on_duplicate_id="suffix")
    assert list(gdf["farm_id"]) == ["F1", "F2", "F3", "F1-2"]


@pytest.mark.parametrize("bad", [np.nan, -3.0, 2e7])
def test_bad_emissions_are_refused(tmp_path: Path, farms, bad: float) -> None:
    farms.loc[1, "emission_kg_nh3"] = bad
    farms.to_file(tmp_path / "f.gpkg")
    with pytest.raises(InputError, match="emission_kg_nh3"):
        _read("farms", tmp_path / "f.gpkg")


def test_emission_from_counts_when_absent(tmp_path: Path, farms) -> None:
    farms.drop(columns="emission_kg_nh3").to_file(tmp_path / "f.gpkg")
    gdf, _ = _read("farms", tmp_path / "f.gpkg")
    ef = PARAMS.livestock
    expected = farms["rundvee"] * ef["rundvee"].emission_kg_nh3_per_animal + farms["varkens"] * ef["varkens"].emission_kg_nh3_per_animal
    assert np.allclose(gdf["emission_kg_nh3"], expected)


def test_missing_required_column_names_the_mapping(tmp_path: Path, farms) -> None:
    farms.rename(columns={"farm_id": "bedrijf"}).to_file(tmp_path / "f.gpkg")
    with pytest.raises(SchemaError, match=r"lacks column\(s\) farm_id.*\[inputs.farms.columns\]"):
        _read("farms", tmp_path / "f.gpkg")
    gdf, _ = _read("farms", tmp_path / "f.gpkg", columns={"farm_id": "bedrijf"})
    assert list(gdf["farm_id"]) == ["F1", "F2", "F3"]


def test_split_area_rows_are_dissolved(tmp_path: Path) -> None:
    a = gpd.GeoDataFrame(
        {"site_code": ["NL1", "NL1", "NL2"], "nitrogen_sensitive": [True, True, False]},
        geometry=[shapely.box(150_000, 450_000, 151_000, 451_000), shapely.box(153_000, 450_000, 154_000, 451_000), shapely.box(160_000, 450_000, 161_000, 451_000)],
        crs=RD,
    )
    a.to_file(tmp_path / "a.gpkg")
    gdf, report = _read("areas", tmp_path / "a.gpkg")
    assert list(gdf["site_code"]) == ["NL1", "NL2"]
    assert gdf.geometry.iloc[0].area == pytest.approx(2e6)
    assert report.accounted and report.n_read == 3


def test_pdok_preset_takes_first_nonblank_site_code(tmp_path: Path) -> None:
    a = gpd.GeoDataFrame(
        {"naamN2K": ["Veluwe", "Vogelgebied"], "nr": [57, 99], "sitecodeH": ["NL1000017", " "], "sitecodeV": ["NL3009017", "NL9801099"]},
        geometry=[shapely.box(150_000, 450_000, 151_000, 451_000), shapely.box(153_000, 450_000, 154_000, 451_000)],
        crs=RD,
    )
    a.to_file(tmp_path / "pdok.gpkg")
    gdf, report = _read("areas", tmp_path / "pdok.gpkg", preset="pdok_natura2000")
    assert list(gdf["site_code"]) == ["NL1000017", "NL9801099"]
    assert list(gdf["name"]) == ["Veluwe", "Vogelgebied"]
    assert gdf["nitrogen_sensitive"].all() and any("nitrogen" in n for n in report.notes)


@pytest.mark.real_data
def test_real_farm_layer_with_igo_preset(real_dir: Path) -> None:
    path = real_dir / "veehouderijen-igo-n2000-zones" / "data.gpkg"
    gdf, report = _read("farms", path, preset="igo_veehouderijen", on_duplicate_id="suffix")
    assert report.n_read == 1141 and report.accounted
    assert gdf["farm_id"].is_unique
    assert gdf["emission_kg_nh3"].between(2, 17_000).all()
    assert gdf.geom_type.eq("Point").all()  # single-part MultiPoints became Points


@pytest.mark.real_data
def test_real_brp_sample(real_dir: Path) -> None:
    path = real_dir / "brp-gewaspercelen-2023-sample" / "brpgewaspercelen_definitief_2023.gpkg"
    gdf, report = _read("parcels", path, preset="brp_pdok")
    assert len(gdf) == 100 and gdf["parcel_id"].is_unique
    assert gdf.geometry.area.sum() / 1e4 == pytest.approx(63.2, abs=0.1)
    assert set(gdf["category"]) == {"Landschapselement", "Grasland", "Bouwland"}


@pytest.mark.real_data
def test_real_imaer_gml(real_dir: Path) -> None:
    path = real_dir / "veehouderijen-igo-n2000-zones" / "calcinput_20250215_230657.gml"
    gdf, report = _read("farms", path, preset="imaer_gml", on_duplicate_id="suffix")
    assert report.n_read == 1138 and len(gdf) == 1138
    assert gdf["emission_kg_nh3"].gt(0).all()


def _igo_farms(columns: dict[str, list]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        columns, geometry=gpd.points_from_xy([155_000, 156_000], [463_000, 463_500]), crs=RD
    )


def test_preset_columns_match_regardless_of_case(tmp_path: Path) -> None:
    # an omgevingsdienst export writes the IGO preset's vthobject_id / nh3_emissie in capitals
    _igo_farms({"VTHOBJECT_ID": ["V1", "V2"], "NH3_emissie": [2129.8, 40.0], "Bedrijfstype": ["Melkrundvee", "Varkens"]}).to_parquet(tmp_path / "caps.parquet")
    _igo_farms({"vthobject_id": ["V1", "V2"], "nh3_emissie": [2129.8, 40.0], "bedrijfstype": ["Melkrundvee", "Varkens"]}).to_parquet(tmp_path / "lower.parquet")
    caps, report = _read("farms", tmp_path / "caps.parquet", preset="igo_veehouderijen")
    lower, _ = _read("farms", tmp_path / "lower.parquet", preset="igo_veehouderijen")
    assert list(caps["farm_id"]) == list(lower["farm_id"]) == ["V1", "V2"]
    assert list(caps["emission_kg_nh3"]) == list(lower["emission_kg_nh3"]) == [2129.8, 40.0]
    assert list(caps["farm_type"]) == ["Melkrundvee", "Varkens"]
    assert "column 'VTHOBJECT_ID' read as 'farm_id' (mapped from 'vthobject_id'; case/spaces differ)" in report.notes
    assert sum("case/spaces differ" in n for n in report.notes) == 3


def test_preset_column_twice_up_to_case_is_refused(tmp_path: Path) -> None:
    frame = _igo_farms({"VTHOBJECT_ID": ["V1", "V2"], "vthobject_id": ["X1", "X2"], "NH3_emissie": [1.0, 2.0]})
    frame.to_parquet(tmp_path / "twice.parquet")
    with pytest.raises(SchemaError, match=r"'VTHOBJECT_ID', 'vthobject_id'.*Delete or rename"):
        _read("farms", tmp_path / "twice.parquet", preset="igo_veehouderijen")


def test_exact_duplicate_rows_are_kept_once_and_counted(tmp_path: Path, farms) -> None:
    # F1 three times, F2 twice, F3 once: 6 rows read, 3 exact copies dropped by default
    dup = pd.concat([farms, farms.iloc[[0, 1, 0]]], ignore_index=True)
    dup.to_parquet(tmp_path / "exact.parquet")
    gdf, report = _read("farms", tmp_path / "exact.parquet")
    assert list(gdf["farm_id"]) == ["F1", "F2", "F3"] and list(gdf["input_row"]) == [0, 1, 2]
    assert (report.n_read, report.n_kept, report.dropped) == (6, 3, {"exact duplicate row": 3})
    assert report.accounted
    assert "dropped 3 exact duplicate rows (identical in every column; farm_id 'F1', 'F2'); the first of each is kept" in report.notes
    assert report.as_dict()["dropped"] == {"exact duplicate row": 3}


def test_rows_sharing_an_id_but_differing_are_refused_naming_ids_and_columns(tmp_path: Path, farms) -> None:
    # the real IGO file: one farm repeated for each Natura 2000 area it was joined to
    joined = pd.concat([farms, farms.iloc[[0, 2]]], ignore_index=True)
    joined["natura2000_area_id"] = [149, 7, 8, 150, 9]
    joined.to_parquet(tmp_path / "joined.parquet")
    with pytest.raises(InputError) as info:
        _read("farms", tmp_path / "joined.parquet")
    msg = str(info.value)
    assert "2 ids are used by rows that differ (farm_id 'F1', 'F3'; they differ in 'natura2000_area_id')" in msg
    assert "keep one row per id or delete the columns that differ" in msg and "on_duplicate_id = 'suffix'" in msg
    many = gpd.GeoDataFrame(
        {"farm_id": [f"F{i}" for i in range(12)] * 2, "emission_kg_nh3": [1.0] * 12 + [2.0] * 12},
        geometry=gpd.points_from_xy([155_000] * 24, [463_000] * 24), crs=RD,
    )
    many.to_parquet(tmp_path / "many.parquet")
    with pytest.raises(InputError, match=r"12 ids .*'F9' and 2 more; they differ in 'emission_kg_nh3'\)"):
        _read("farms", tmp_path / "many.parquet")
    with pytest.raises(InputError, match=r"2 ids used more than once \(farm_id 'F1', 'F3'\)"):
        _read("farms", tmp_path / "joined.parquet", on_duplicate_id="error")


def test_rows_repeated_only_in_joined_columns_are_one_feature(tmp_path: Path, farms) -> None:
    # F1 and F3 joined to two areas each (the IGO file's layout): one farm each, counted once
    joined = pd.concat([farms, farms.iloc[[0, 2]]], ignore_index=True)
    joined["Natura2000_Area_ID"] = [149, 7, 8, 150, 9]
    joined.to_parquet(tmp_path / "joined.parquet")
    gdf, report = _read("farms", tmp_path / "joined.parquet", joined_columns=["natura2000_area_id"])
    assert list(gdf["farm_id"]) == ["F1", "F2", "F3"] and list(gdf["Natura2000_Area_ID"]) == [149, 7, 8]
    assert gdf["emission_kg_nh3"].sum() == 940.0 + 2500.0 + 94.0
    assert (report.n_read, report.n_kept, report.dropped) == (5, 3, {"repeated row (joined columns)": 2})
    assert report.accounted
    assert any("2 farm_ids repeated only in the joined columns 'Natura2000_Area_ID' (farm_id 'F1', 'F3')" in n for n in report.notes)
    # a repeat that differs outside the joined columns (another emission) is still refused
    joined.loc[3, "emission_kg_nh3"] = 1.0
    joined.to_parquet(tmp_path / "joined2.parquet")
    with pytest.raises(InputError, match=r"farm_id 'F1'; they differ in 'emission_kg_nh3', 'Natura2000_Area_ID'"):
        _read("farms", tmp_path / "joined2.parquet", joined_columns=["natura2000_area_id"])


@pytest.mark.real_data
def test_real_farm_layer_repeated_farm_is_kept_once_and_reported(real_dir: Path) -> None:
    # 1141 rows, no exact copies; farm 6063NL3A repeated for Meinweg and Roerdal: the IGO
    # preset knows the joined area and habitat columns, keeps the farm once and says so
    path = real_dir / "veehouderijen-igo-n2000-zones" / "data.gpkg"
    gdf, report = _read("farms", path, preset="igo_veehouderijen")
    assert (report.n_read, len(gdf), report.dropped) == (1141, 1140, {"repeated row (joined columns)": 1})
    assert gdf["farm_id"].is_unique and (gdf["farm_id"] == "6063NL3A").sum() == 1
    assert any("(farm_id '6063NL3A'): 1 repeated rows dropped, each feature counted once" in n for n in report.notes)
    # comparing every column (joined_columns = []) refuses the file, naming the farm
    with pytest.raises(InputError, match=r"1 ids are used by rows that differ \(farm_id '6063NL3A'; they differ in 'natura2000_area_id'"):
        _read("farms", path, preset="igo_veehouderijen", joined_columns=[])
