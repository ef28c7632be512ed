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
    return c


if __name__ == "__main__":  # pragma: no cover - manual use
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs")
    if target.exists() and "--force" in sys.argv:
        shutil.rmtree(target)
    for name, path in build_corpus(target).items():
        print(f"{name:32s} {path}")
