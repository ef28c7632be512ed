"""Generate a small corpus of adversarial input files (issue 8).

Run as a script (``python tests/data/make_bad_inputs.py OUT_DIR``) or import
:func:`build_corpus`. Nothing generated here is committed: the tests build it in a temp
folder. Coordinates are in RD New (EPSG:28992) near Amersfoort unless a case says otherwise.

Each entry of the returned dict is ``case name -> path``; what each case must yield is in
``tests/test_bad_inputs.py`` and the README section "Bad input".
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

RD = "EPSG:28992"
X0, Y0 = 155_000.0, 463_000.0


def _farms(n: int = 3, **overrides: list) -> gpd.GeoDataFrame:
    data = {
        "farm_id": [f"F{i + 1}" for i in range(n)],
        "emission_kg_nh3": [940.0, 2500.0, 94.0][:n],
    }
    data.update(overrides)
    return gpd.GeoDataFrame(
        data,
        geometry=gpd.points_from_xy(
            [X0 + 1000 * i for i in range(n)], [Y0 + 500 * i for i in range(n)]
        ),
        crs=RD,
    )


def _box(i: int, size: float = 1000.0) -> shapely.Polygon:
    x = X0 + 2000 * i
    return shapely.box(x, Y0, x + size, Y0 + size)


def build_corpus(out_dir: str | Path) -> dict[str, Path]:
    """Write every adversarial case into ``out_dir``; return ``{case: path}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    c: dict[str, Path] = {}

    # 1. an empty (0-byte) file and a GeoPackage with an empty layer
    c["empty_file"] = out / "empty_file.gpkg"
    c["empty_file"].write_bytes(b"")
    c["empty_layer"] = out / "empty_layer.gpkg"
    _farms().iloc[:0].to_file(c["empty_layer"])

    # 2. no CRS: a shapefile without its .prj
    d = out / "no_crs"
    d.mkdir(exist_ok=True)
    c["no_crs"] = d / "areas.shp"
    gpd.GeoDataFrame({"site_code": ["A"]}, geometry=[_box(0)], crs=RD).to_file(c["no_crs"])
    c["no_crs"].with_suffix(".prj").unlink()

    # 3. lon/lat degrees labelled as RD New
    c["latlon_as_rd"] = out / "latlon_as_rd.gpkg"
    gpd.GeoDataFrame(
        {"site_code": ["A"]}, geometry=[shapely.box(5.0, 52.0, 5.1, 52.1)], crs=RD
    ).to_file(c["latlon_as_rd"])

    # 4. mixed geometry types in an area layer (2 polygons, a line, a point)
    c["mixed_geometry"] = out / "mixed_geometry.geojson"
    gpd.GeoDataFrame(
        {"site_code": ["A", "B", "L", "P"]},
        geometry=[
            _box(0),
            _box(1),
            shapely.LineString([(X0, Y0), (X0 + 10, Y0 + 10)]),
            shapely.Point(X0, Y0),
        ],
        crs=RD,
    ).to_file(c["mixed_geometry"], driver="GeoJSON")

    # 5. 3D polygons (XYZ) and measured points (XYM)
    c["polygons_3d"] = out / "polygons_3d.gpkg"
    gpd.GeoDataFrame(
        {"site_code": ["A", "B"]},
        geometry=[shapely.force_3d(_box(0), 5.0), shapely.force_3d(_box(1), 7.0)],
        crs=RD,
    ).to_file(c["polygons_3d"])
    # GDAL's GeoPackage writer has no XYM; GeoParquet (ISO WKB) keeps M and ZM
    c["points_m"] = out / "points_m.parquet"
    farms = _farms()
    farms = farms.set_geometry(
        [shapely.from_wkt(f"POINT M ({p.x} {p.y} 1)") for p in farms.geometry[:2]]
        + [shapely.from_wkt(f"POINT ZM ({p.x} {p.y} 2 1)") for p in farms.geometry[2:]],
        crs=RD,
    )
    farms.to_parquet(c["points_m"])

    # 6. a self-intersecting bow-tie, a zero-area sliver and a good polygon
    c["invalid_polygons"] = out / "invalid_polygons.gpkg"
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 1000, Y0 + 1000), (X0 + 1000, Y0), (X0, Y0 + 1000)])
    sliver = shapely.Polygon([(X0 + 2000, Y0), (X0 + 3000, Y0), (X0 + 2500, Y0)])
    gpd.GeoDataFrame(
        {"site_code": ["bow", "sliver", "ok"]}, geometry=[bowtie, sliver, _box(2)], crs=RD
    ).to_file(c["invalid_polygons"])

    # 7. duplicate ids: an exact copy, and a copy with another emission
    base = _farms()
    c["duplicate_ids_exact"] = out / "duplicate_ids_exact.gpkg"
    pd.concat([base, base.iloc[[0]]], ignore_index=True).to_file(c["duplicate_ids_exact"])
    c["duplicate_ids_differ"] = out / "duplicate_ids_differ.gpkg"
    differ = pd.concat([base, base.iloc[[0]]], ignore_index=True)
    differ.loc[3, "emission_kg_nh3"] = 1.0
    differ.to_file(c["duplicate_ids_differ"])

    # 8. NaN, negative and absurd emissions
    for name, value in (
        ("emission_nan", float("nan")),
        ("emission_negative", -3.0),
        ("emission_absurd", 2e7),
    ):
        f = _farms()
        f.loc[1, "emission_kg_nh3"] = value
        c[name] = out / f"{name}.gpkg"
        f.to_file(c[name])

    # 9. farms far outside any grid (100 km east of the others)
    c["farms_far_away"] = out / "farms_far_away.gpkg"
    far = _farms()
    far.loc[2, "geometry"] = shapely.Point(X0 + 100_000, Y0)
    far.to_file(c["farms_far_away"])

    # 10. a truncated GeoPackage (the first half of a valid file's bytes)
    whole = out / "_whole.gpkg"
    gpd.GeoDataFrame(
        {"site_code": [f"A{i}" for i in range(50)]}, geometry=[_box(i) for i in range(50)], crs=RD
    ).to_file(whole)
    raw = whole.read_bytes()
    c["truncated_gpkg"] = out / "truncated.gpkg"
    c["truncated_gpkg"].write_bytes(raw[: len(raw) // 2])
    whole.unlink()

    # 11. CSVs: a delimiter that is none of , ; tab |, and decimal commas with ';'
    c["csv_wrong_delimiter"] = out / "csv_wrong_delimiter.csv"
    c["csv_wrong_delimiter"].write_text(
        "farm_id:x:y:emission_kg_nh3\nF1:155000:463000:940\nF2:156000:463500:2500\n", "utf-8"
    )
    c["csv_decimal_comma"] = out / "csv_decimal_comma.csv"
    c["csv_decimal_comma"].write_text(
        "farm_id;x;y;emission_kg_nh3\nF1;155000,5;463000,25;940,5\nF2;156000,0;463500,0;2500,25\n",
        "utf-8",
    )
    # decimal commas and comma as field separator: the fields cannot be told apart
    c["csv_decimal_comma_ambiguous"] = out / "csv_decimal_comma_ambiguous.csv"
    c["csv_decimal_comma_ambiguous"].write_text(
        'farm_id,x,y,emission_kg_nh3\nF1,155000,463000,"940,5"\nF2,156000,463500,"2500,25"\n',
        "utf-8",
    )

    # 12. non-UTF-8 names: a latin-1 CSV, and a latin-1 .dbf without its .cpg
    c["csv_latin1"] = out / "csv_latin1.csv"
    c["csv_latin1"].write_bytes(
        "farm_id,naam,x,y,emission_kg_nh3\nF1,Boerderij Zoë,155000,463000,940\nF2,Hoeve Café,156000,463500,2500\n".encode(
            "latin-1"
        )
    )
    d = out / "shp_latin1"
    d.mkdir(exist_ok=True)
    c["shp_latin1_no_cpg"] = d / "areas.shp"
    gpd.GeoDataFrame(
        {
            "site_code": ["NL1", "NL2"],
            "name": ["Kampina & Oisterwijkse Vennen", "Brabantse Wal Zoë"],
        },
        geometry=[_box(0), _box(1)],
        crs=RD,
    ).to_file(c["shp_latin1_no_cpg"], encoding="ISO-8859-1")
    for leftover in (c["shp_latin1_no_cpg"].with_suffix(".cpg"),):
        leftover.unlink(missing_ok=True)

    # 13. one area code twice with different geometries
    c["area_code_twice"] = out / "area_code_twice.gpkg"
    gpd.GeoDataFrame(
        {"site_code": ["NL1", "NL1", "NL2"]}, geometry=[_box(0), _box(1), _box(3)], crs=RD
    ).to_file(c["area_code_twice"])

    # 14. configs: unknown keys; width as a string with a unit; a negative width
    areas = out / "config_areas.gpkg"
    gpd.GeoDataFrame({"site_code": ["NL1"]}, geometry=[_box(0)], crs=RD).to_file(areas)
    head = f'[inputs.areas]\npath = "{areas}"\n'
    c["config_unknown_keys"] = out / "config_unknown_keys.toml"
    c["config_unknown_keys"].write_text(
        head + '\n[zones]\ndefault_widht_m = 500\n\n[projekt]\nname = "x"\n', "utf-8"
    )
    c["config_width_string"] = out / "config_width_string.toml"
    c["config_width_string"].write_text(head + '\n[zones]\ndefault_width_m = "500 m"\n', "utf-8")
    c["config_width_negative"] = out / "config_width_negative.toml"
    c["config_width_negative"].write_text(head + "\n[zones]\ndefault_width_m = -500\n", "utf-8")
    c.update(build_issue14_cases(out))
    return c


def _areas(codes: list, names: list | None = None, geoms: list | None = None) -> gpd.GeoDataFrame:
    geoms = geoms or [_box(i) for i in range(len(codes))]
    data = {"site_code": codes}
    if names is not None:
        data["name"] = names
    return gpd.GeoDataFrame(data, geometry=geoms, crs=RD)


def _parcels(geoms: list, **cols: list) -> gpd.GeoDataFrame:
    data = {"parcel_id": [f"P{i + 1}" for i in range(len(geoms))], "category": ["Grasland"] * len(geoms)}
    data.update(cols)
    return gpd.GeoDataFrame(data, geometry=geoms, crs=RD)


def _raster(path: Path, values, nodata=None, crs: str = RD, x0: float = X0, y0: float = Y0 + 4000) -> Path:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    arr = np.asarray(values, dtype="float32")
    profile = dict(driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1, dtype="float32",
                   crs=crs, transform=from_origin(x0, y0, 1000.0, 1000.0))
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr, 1)
    return path


def build_issue14_cases(out: Path) -> dict[str, Path]:
    """Issue 14: inputs that used to turn into a plausible but wrong number (10 classes)."""
    import numpy as np

    c: dict[str, Path] = {}
    # -- 1. formula injection: ids, names, crop labels starting with = + - @ tab CR ----------
    c["inj_farm_ids"] = out / "inj_farm_ids.gpkg"
    _farms(3, farm_id=['=HYPERLINK("http://x","y")', "+31 6 1234", "@SUM(A1)"]).to_file(c["inj_farm_ids"])
    c["inj_area_names"] = out / "inj_area_names.gpkg"
    _areas(["NL1", "NL2"], ["=cmd|' /C calc'!A0", "-2+3"]).to_file(c["inj_area_names"])
    c["inj_crop_labels"] = out / "inj_crop_labels.gpkg"
    _parcels([_box(0), _box(1)], category=["\t=1+1", "\r@x"]).to_file(c["inj_crop_labels"])
    c["inj_negative_numbers"] = out / "inj_negative_numbers.gpkg"
    _farms(3, farm_type=["-melkvee", "varkens", "=1"], source_height_m=[-0.0, 3.0, 5.0]).to_file(c["inj_negative_numbers"])

    # -- 2. double counting: layers that must tessellate --------------------------------------
    c["parcels_overlap"] = out / "parcels_overlap.gpkg"
    _parcels([shapely.box(X0, Y0, X0 + 200, Y0 + 100), shapely.box(X0 + 100, Y0, X0 + 300, Y0 + 100)]).to_file(c["parcels_overlap"])
    c["parcels_duplicate_polygon"] = out / "parcels_duplicate_polygon.gpkg"
    _parcels([_box(0), _box(0), _box(1)]).to_file(c["parcels_duplicate_polygon"])
    c["parcels_overlap_first_wins"] = out / "parcels_overlap_first_wins.gpkg"
    _parcels([shapely.box(X0, Y0, X0 + 200, Y0 + 100), shapely.box(X0 + 100, Y0, X0 + 300, Y0 + 100), shapely.box(X0 + 50, Y0, X0 + 150, Y0 + 50)]).to_file(c["parcels_overlap_first_wins"])
    c["habitats_same_type_overlap"] = out / "habitats_same_type_overlap.gpkg"
    gpd.GeoDataFrame(
        {"habitat_code": ["H4030", "H4030", "H9190"], "site_code": ["NL1"] * 3},
        geometry=[_box(0), shapely.box(X0 + 500, Y0, X0 + 1500, Y0 + 1000), shapely.box(X0 + 200, Y0, X0 + 300, Y0 + 100)], crs=RD,
    ).to_file(c["habitats_same_type_overlap"])

    # -- 3. CRSs: metric-looking but distorting; mislabelled coordinates ----------------------
    c["crs_web_mercator"] = out / "crs_web_mercator.gpkg"  # read with [project] crs = EPSG:3857
    _areas(["NL1"]).to_file(c["crs_web_mercator"])
    c["crs_laea_passes"] = c["crs_web_mercator"].with_name("crs_laea_passes.gpkg")  # EPSG:3035
    _areas(["NL1"]).to_file(c["crs_laea_passes"])
    c["rd_labelled_laea"] = out / "rd_labelled_laea.gpkg"
    _areas(["NL1"]).set_crs("EPSG:3035", allow_override=True).to_file(c["rd_labelled_laea"])
    c["rd_labelled_utm31"] = out / "rd_labelled_utm31.gpkg"
    _areas(["NL1"]).set_crs("EPSG:25831", allow_override=True).to_file(c["rd_labelled_utm31"])
    c["lonlat_swapped"] = out / "lonlat_swapped.gpkg"
    gpd.GeoDataFrame({"farm_id": ["F1"], "emission_kg_nh3": [10.0]}, geometry=[shapely.Point(52.1, 5.3)], crs="EPSG:4326").to_file(c["lonlat_swapped"])
    c["raster_rd_labelled_laea"] = _raster(out / "raster_rd_labelled_laea.tif", np.full((4, 4), 1500.0), crs="EPSG:3035")

    # -- 4. codes and categories that almost match -------------------------------------------
    c["site_code_lowercase"] = out / "site_code_lowercase.gpkg"
    _areas([" nl2003003 ", "NL 2003004"]).to_file(c["site_code_lowercase"])
    c["habitat_code_lowercase"] = out / "habitat_code_lowercase.gpkg"
    gpd.GeoDataFrame({"habitat_code": ["h4030 ", " H91d0"], "site_code": ["nl1", "NL1 "]}, geometry=[_box(0), _box(1)], crs=RD).to_file(c["habitat_code_lowercase"])
    c["crop_category_lowercase"] = out / "crop_category_lowercase.gpkg"
    _parcels([_box(0), _box(1), _box(2)], category=["grasland", " GRASLAND ", "bouwland"], farm_id=["F1"] * 3).to_file(c["crop_category_lowercase"])
    c["zone_widths_lowercase"] = out / "zone_widths_lowercase.csv"
    c["zone_widths_lowercase"].write_text("site_code,width_m\n nl1 ,1000\nnl2,0\n", "utf-8")

    # -- 5. numbers ----------------------------------------------------------------------------
    c["csv_dutch_thousands"] = out / "csv_dutch_thousands.csv"
    c["csv_dutch_thousands"].write_text("farm_id;x;y;emission_kg_nh3\nF1;155000;463000;1.654\nF2;156000;463500;940,5\nF3;157000;464000;12.500,25\n", "utf-8")
    c["csv_dutch_ambiguous"] = out / "csv_dutch_ambiguous.csv"
    c["csv_dutch_ambiguous"].write_text("farm_id;x;y;emission_kg_nh3\nF1;155000;463000;1.654\nF2;156000;463500;2.500\nF3;157000;464000;94\n", "utf-8")
    c["csv_count_thousands"] = out / "csv_count_thousands.csv"
    c["csv_count_thousands"].write_text("farm_id;x;y;rundvee;varkens\nF1;155000;463000;1.200;0\nF2;156000;463500;35;2.000\n", "utf-8")
    c["csv_count_veel"] = out / "csv_count_veel.csv"
    c["csv_count_veel"].write_text("farm_id,x,y,rundvee\nF1,155000,463000,120\nF2,156000,463500,veel\n", "utf-8")
    c["csv_duplicate_column"] = out / "csv_duplicate_column.csv"
    c["csv_duplicate_column"].write_text("farm_id,x,y,emission_kg_nh3,emission_kg_nh3\nF1,155000,463000,940,9400\n", "utf-8")
    c["duplicate_column_case"] = out / "duplicate_column_case.parquet"
    _farms(2).assign(Emission_KG_NH3=[1.0, 2.0]).to_parquet(c["duplicate_column_case"])
    c["csv_id_leading_zeros"] = out / "csv_id_leading_zeros.csv"
    c["csv_id_leading_zeros"].write_text("farm_id,x,y,emission_kg_nh3\n0000005,155000,463000,940\n0000050,156000,463500,2500\n", "utf-8")
    c["float_ids"] = out / "float_ids.parquet"
    _farms(2, farm_id=[5.0, 7.0]).to_parquet(c["float_ids"])

    # -- 6. rasters per role -------------------------------------------------------------------
    good = np.array([[1500.0, 1600.0], [1700.0, 1800.0]])
    c["raster_minus9999_untagged"] = _raster(out / "raster_minus9999_untagged.tif", np.where([[1, 0], [0, 0]], -9999.0, good))
    c["raster_float32_min_untagged"] = _raster(out / "raster_float32_min_untagged.tif", np.where([[0, 1], [0, 0]], -3.4028235e38, good))
    c["raster_zero_untagged"] = _raster(out / "raster_zero_untagged.tif", np.where([[0, 0], [1, 0]], 0.0, good))
    c["raster_concentration"] = _raster(out / "raster_concentration.tif", [[3.2, 8.5], [12.1, 25.0]], nodata=-9999.0)
    c["raster_g_n_units"] = _raster(out / "raster_g_n_units.tif", good * 14.0, nodata=-9999.0)
    c["raster_z0_out_of_range"] = _raster(out / "raster_z0_out_of_range.tif", [[0.03, 0.1], [50.0, 0.5]], nodata=-9999.0)

    # -- 7. geometry ---------------------------------------------------------------------------
    c["nan_vertex"] = out / "nan_vertex.parquet"
    import warnings

    with warnings.catch_warnings():  # shapely warns about the NaN it is asked to store
        warnings.simplefilter("ignore", RuntimeWarning)
        nan_poly = shapely.Polygon([(X0, Y0), (X0 + 1000, Y0), (float("nan"), Y0 + 1000), (X0, Y0 + 1000)])
    _areas(["NL1", "NL2"], geoms=[nan_poly, _box(1)]).to_parquet(c["nan_vertex"])
    c["inf_vertex"] = out / "inf_vertex.parquet"
    _farms(2).set_geometry([shapely.Point(X0, Y0), shapely.Point(float("inf"), Y0)], crs=RD).to_parquet(c["inf_vertex"])
    c["geometry_collection_area"] = out / "geometry_collection_area.gpkg"
    gc = shapely.GeometryCollection([_box(0), shapely.LineString([(X0, Y0), (X0 - 50, Y0 - 50)]), _box(1)])
    _areas(["NL1", "NL2"], geoms=[gc, _box(3)]).to_file(c["geometry_collection_area"])
    c["missing_geometry_farm"] = out / "missing_geometry_farm.gpkg"
    mf = _farms(3)
    mf.loc[1, "geometry"] = None
    mf.to_file(c["missing_geometry_farm"])
    c["missing_geometry_parcel"] = out / "missing_geometry_parcel.gpkg"
    mp = _parcels([_box(0), _box(1)], area_ha=[100.0, 12.5])
    mp.loc[1, "geometry"] = None
    mp.to_file(c["missing_geometry_parcel"])

    # -- 8. resources: config values that drive allocations; a huge polygon ----------------------
    for name, text in (
        ("cfg_grid_margin_huge", "[deposition]\ngrid_margin_m = 5000000\n"),
        ("cfg_cell_tiny", "[deposition]\ncell_m = 0.01\n"),
        ("cfg_hexagon_tiny", "[deposition]\nreceptor_grid = \"local\"\nhexagon_ha = 0.00001\n"),
        ("cfg_tile_cells_huge", "[compute]\ntile_cells = 16384\n"),
    ):
        c[name] = out / f"{name}.toml"
        c[name].write_text(f'[inputs.areas]\npath = "{out / "config_areas.gpkg"}"\n\n' + text, "utf-8")
    c["million_vertex_polygon"] = out / "million_vertex_polygon.parquet"
    t = np.linspace(0, 2 * np.pi, 1_200_000, endpoint=False)
    big = shapely.Polygon(np.c_[X0 + 5000 * np.cos(t), Y0 + 5000 * np.sin(t)])
    _areas(["NL1"], geoms=[big]).to_parquet(c["million_vertex_polygon"])

    # -- 9. file names from ids ----------------------------------------------------------------
    c["codes_collide"] = out / "codes_collide.gpkg"
    _areas(["NL/1", "NL_1", "NL\u00c21"]).to_file(c["codes_collide"])
    c["code_300_chars"] = out / "code_300_chars.gpkg"
    _areas(["NL" + "X" * 298, "NL" + "X" * 297 + "Y"]).to_file(c["code_300_chars"])
    c["code_dollar"] = out / "code_dollar.gpkg"
    _areas(["NL$1", "$NL2$"]).to_file(c["code_dollar"])
    c["code_looks_hashed"] = out / "code_looks_hashed.gpkg"
    _areas(["NL1-12345678", "NL1"]).to_file(c["code_looks_hashed"])

    # -- 10. encodings and blanks ----------------------------------------------------------------
    c["geojson_cp1252"] = out / "geojson_cp1252.geojson"
    c["geojson_cp1252"].write_bytes(
        ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"site_code":"NL1",'
         '"name":"Brabantse Wal Zo\u00eb \u2013 \u20ac"},"geometry":{"type":"Polygon","coordinates":'
         '[[[5.0,52.0],[5.01,52.0],[5.01,52.01],[5.0,52.0]]]}}]}').encode("cp1252")
    )
    c["site_code_null"] = out / "site_code_null.gpkg"
    _areas(["NL1", None, "NL3"]).to_file(c["site_code_null"])
    c["site_code_blank"] = out / "site_code_blank.gpkg"
    _areas(["NL1", "   ", ""]).to_file(c["site_code_blank"])
    c["wind_rose_strings"] = out / "wind_rose_strings.json"
    c["wind_rose_strings"].write_text('{"weights": [1, 1, "1.2", 1, 1, 1, 1, 1, "veel", 1, 1, 1]}', "utf-8")
    c["wind_rose_missing_key"] = out / "wind_rose_missing_key.json"
    c["wind_rose_missing_key"].write_text('{"sectors": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}', "utf-8")
    c["wind_rose_not_json"] = out / "wind_rose_not_json.json"
    c["wind_rose_not_json"].write_text("weights = [1, 1, 1]\n", "utf-8")
    return c


if __name__ == "__main__":  # pragma: no cover - manual use
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs")
    if target.exists() and "--force" in sys.argv:
        shutil.rmtree(target)
    for name, path in build_corpus(target).items():
        print(f"{name:32s} {path}")
