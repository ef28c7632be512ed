"""A real land-use source for the class-aware model (issue 15): CORINE Land Cover recoded to
the OPS/DEPAC classes, the ``corine`` source of ``make data-real``, and the habitat-type
fallback labelled in the report.

Known answers: the table covers the 44 CLC level-3 classes once each; a tiny synthetic CLC
raster in EPSG:3035 with known codes in known cells gives those cells' classes at RD points;
the source verifies and converts a local file offline (also inside a zip, as CLMS delivers
it); and a pipeline run with ``kernel = "ops_classes"`` says in the report at how many
receptors the land use came from the habitat-type mapping."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
from rasterio.transform import from_origin

from n2kzones.datasets import realdata
from n2kzones.deposition.classes import LANDUSES
from n2kzones.deposition.landuse import NO_CLASS, clc_table, recode_clc
from n2kzones.errors import InputError
from n2kzones.io.writers import read_table

RD, LAEA = "EPSG:28992", "EPSG:3035"
CODE = {v: k for k, v in LANDUSES.items()}
#: The 44 CLC level-3 codes (EEA Technical report No 40, CLC nomenclature).
CLC_CODES = [
    111, 112, 121, 122, 123, 124, 131, 132, 133, 141, 142,
    211, 212, 213, 221, 222, 223, 231, 241, 242, 243, 244,
    311, 312, 313, 321, 322, 323, 324, 331, 332, 333, 334, 335,
    411, 412, 421, 422, 423,
    511, 512, 521, 522, 523,
]
#: CLMS grid codes (raster values) of a few classes: 1..44 in the order of the CLC codes.
GRID = {c: i + 1 for i, c in enumerate(CLC_CODES)}
#: Cells of the synthetic CLC raster (row, col) -> CLC code; 48 is the CLMS no-data code.
CELLS = {(0, 0): 312, (0, 1): 311, (1, 0): 231, (1, 1): 523, (2, 0): 322, (2, 1): 48}
WANT = {
    312: CODE["coniferous_forest"], 311: CODE["deciduous_forest"], 231: CODE["grass"],
    523: CODE["water"], 322: CODE["heath_other_nature"], 48: NO_CLASS,
}
#: The synthetic raster: 3 x 2 cells of 1 km in EPSG:3035 near Amersfoort.
CELL_LAEA = 1000.0
ORIGIN_LAEA = (3_980_000.0, 3_220_000.0)


def test_the_table_covers_every_clc_class_once_with_valid_classes() -> None:
    t = clc_table()
    assert sorted(t["clc_code"]) == CLC_CODES and t["clc_code"].is_unique
    assert list(t.sort_values("clc_code")["grid_code"]) == list(range(1, 45))
    assert set(t["ops_class"]) <= set(LANDUSES)
    assert all(LANDUSES[c] == n for c, n in zip(t["ops_class"], t["ops_landuse"], strict=True))
    assert t["reason"].str.len().min() > 0
    by = dict(zip(t["clc_code"], t["ops_landuse"], strict=True))
    assert by[311] == "deciduous_forest" and by[312] == "coniferous_forest"
    assert by[313] == "deciduous_forest"  # mixed: as the habitat fallback maps forest habitat
    assert by[211] == "arable" and by[231] == "grass" and by[222] == "permanent_crops"
    assert {by[c] for c in CLC_CODES if c // 100 == 5} == {"water"}
    assert by[111] == by[121] == "urban" and by[331] == "bare_desert"
    assert by[322] == "heath_other_nature" and by[412] == "heath_other_nature"


def test_recode_takes_grid_codes_and_clc_codes_alike() -> None:
    grid_codes = np.array([GRID[312], GRID[523], 48, 128, 0, 255], np.uint8)
    assert recode_clc(grid_codes).tolist() == [4, 6, 0, 0, 0, 0]
    clc_codes = np.array([312, 523, 999, 244, -5], np.int16)
    assert recode_clc(clc_codes).tolist() == [4, 6, 0, 3, 0]
    floats = np.array([231.0, np.nan, 231.5, 211.0])
    assert recode_clc(floats, nodata=211.0).tolist() == [1, 0, 0, 0]


def clc_raster(path: Path, *, grid_codes: bool = True) -> Path:
    """The synthetic CLC raster of :data:`CELLS` (CLMS grid codes, uint8, nodata 128)."""
    values = np.full((3, 2), 128, np.uint16 if not grid_codes else np.uint8)
    for (r, c), code in CELLS.items():
        values[r, c] = GRID.get(code, code) if grid_codes else code
    with rasterio.open(
        path, "w", driver="GTiff", height=3, width=2, count=1, dtype=values.dtype, crs=LAEA,
        transform=from_origin(*ORIGIN_LAEA, CELL_LAEA, CELL_LAEA), nodata=128,
    ) as dst:
        dst.write(values, 1)
    return path


def rd_centre(row: int, col: int) -> tuple[float, float]:
    """RD New coordinates (m) of the centre of cell (row, col) of the synthetic raster."""
    x = ORIGIN_LAEA[0] + (col + 0.5) * CELL_LAEA
    y = ORIGIN_LAEA[1] - (row + 0.5) * CELL_LAEA
    return pyproj.Transformer.from_crs(LAEA, RD, always_xy=True).transform(x, y)


def rd_bounds() -> tuple[float, float, float, float]:
    corners = [rd_centre(r, c) for r in (-1, 4) for c in (-1, 3)]
    xs, ys = zip(*corners, strict=True)
    return (min(xs), min(ys), max(xs), max(ys))


@pytest.mark.parametrize("grid_codes", [True, False], ids=["clms-grid-codes", "clc-codes"])
def test_the_converter_gives_the_known_classes_at_rd_points(
    tmp_path: Path, grid_codes: bool,
) -> None:
    src = clc_raster(tmp_path / "clc.tif", grid_codes=grid_codes)
    out = realdata.convert_corine(src, tmp_path / "landuse.tif", bounds=rd_bounds(), cell_m=100.0)
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 28992 and ds.res == (100.0, 100.0)
        assert ds.nodata == 0 and ds.dtypes[0] == "uint8"
        values = ds.read(1)
        for cell, code in CELLS.items():
            x, y = rd_centre(*cell)
            r, c = ds.index(x, y)
            assert values[r, c] == WANT[code], (cell, code)
        # outside the source raster: no class; every value is a class code or 0
        assert values[0, 0] == NO_CLASS
        assert set(np.unique(values)) <= {0, *LANDUSES}
    # the result reads as [inputs.receptor_landuse] (role landuse_class)
    from n2kzones.io.raster import read_raster
    from n2kzones.params import load_parameters

    roles = load_parameters().raster_roles
    raster = read_raster(
        out, crs=RD, role=roles["landuse_class"], role_name="landuse_class", roles=roles,
        setting="inputs.receptor_landuse",
    )
    x, y = rd_centre(1, 1)
    assert raster.sample(np.array([x]), np.array([y]))[0] == CODE["water"]


def test_a_raster_without_clc_codes_on_the_grid_is_refused(tmp_path: Path) -> None:
    src = clc_raster(tmp_path / "clc.tif")
    far = (10_000.0, 310_000.0, 12_000.0, 312_000.0)  # Zeeland, away from the raster
    with pytest.raises(InputError, match="no CLC class on the grid"):
        realdata.convert_corine(src, tmp_path / "x.tif", bounds=far)
    assert not (tmp_path / "x.tif").exists()


@pytest.mark.parametrize("zipped", [False, True], ids=["tif", "zip"])
def test_the_corine_source_verifies_and_converts_offline(
    tmp_path: Path, capsys, zipped: bool,
) -> None:
    source = realdata.SOURCES["corine"]
    assert source.kind == "raster" and source.url is None  # login needed: --url or by hand
    assert source.landing_page.startswith("https://land.copernicus.eu/")
    dl = tmp_path / "real" / "download"
    dl.mkdir(parents=True)
    tif = clc_raster(tmp_path / "U2018_CLC2018_V2020_20u1.tif")
    dest = dl / source.filename
    if zipped:
        with zipfile.ZipFile(dest, "w") as zf:
            zf.write(tif, "u2018_clc2018_v2020_20u1_raster100m/DATA/U2018_CLC2018_V2020_20u1.tif")
            zf.writestr("u2018_clc2018_v2020_20u1_raster100m/Documents/readme.txt", "readme")
    else:
        dest.write_bytes(tif.read_bytes())
    check = realdata.verify(source, dest)
    assert check.n_rows == 3 and "EPSG:3035" in check.notes[0]

    bounds = [f"{b:.0f}" for b in rd_bounds()]
    argv = ["corine", "--offline", "--out", str(tmp_path / "real"), "--bounds", *bounds]
    assert realdata.main(argv) == 0
    out = tmp_path / "real" / realdata.LANDUSE_OUT
    assert str(out) in capsys.readouterr().out
    with rasterio.open(out) as ds:
        x, y = rd_centre(0, 0)
        assert ds.read(1)[ds.index(x, y)] == CODE["coniferous_forest"]
        assert "clc_ops_landuse.csv" in ds.tags()["conversion"]


def test_the_corine_source_without_the_file_offline_says_where_to_get(
    tmp_path: Path, capsys,
) -> None:
    assert realdata.main(["corine", "--offline", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "corine_clc2018_100m.tif is missing" in err and "land.copernicus.eu" in err


def test_a_file_that_is_no_raster_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "corine_clc2018_100m.tif"
    bad.write_text("<html>login required</html>")
    with pytest.raises(InputError, match="not a readable raster"):
        realdata.verify(realdata.SOURCES["corine"], bad)


# -- the habitat-type fallback, labelled in the outputs ------------------------------------------
def test_landuse_note_counts_the_fallback() -> None:
    from n2kzones.render.report import landuse_note

    assert landuse_note(None) == ""
    assert landuse_note({"raster": 5, "habitat_mapping": 0}) == ""
    text = landuse_note({"raster": 0, "habitat_mapping": 7}, "en")
    assert "Land use at 7 of 7 receptors from the habitat-type mapping (no land-use raster)" in text
    text = landuse_note({"raster": 3, "habitat_mapping": 1}, "en")
    assert "Land use at 1 of 4 receptors from the habitat-type mapping" in text
    assert "no data in the land-use raster" in text
    text = landuse_note({"raster": 3, "habitat_mapping": 1}, "nl")
    assert "Landgebruik op 1 van 4 receptoren" in text and "daar geen gegevens" in text


@pytest.mark.slow
def test_a_class_aware_run_reports_the_habitat_mapping_fallback(sample_config, tmp_path) -> None:
    """Without a land-use raster every receptor takes the habitat-type mapping: the report
    says so with the count, and the per-area table carries the share."""
    from n2kzones.stages.run import run_all

    cfg = sample_config.model_copy(
        update={
            "project": sample_config.project.model_copy(update={"output_dir": tmp_path / "out"}),
            "deposition": sample_config.deposition.model_copy(update={"kernel": "ops_classes"}),
        }
    )
    run_all(cfg)
    out = cfg.output_dir
    rec = pd.read_parquet(out / "stages" / "receptors.parquet", columns=["landuse_source"])
    n = len(rec)
    assert n > 0 and (rec["landuse_source"] == "habitat_mapping").all()
    from html import escape

    from n2kzones.render.i18n import tr

    html = (out / "report" / "index.html").read_text()
    lang = cfg.project.language
    why = tr("report.landuse_why_none", lang)
    assert escape(tr("report.landuse_note", lang, n_map=n, n=n, why=why)) in html
    table = read_table(out / "area_deposition.csv")
    assert (table["landuse_from_habitat_mapping_share"] == 1.0).all()


def test_the_per_area_share_of_the_habitat_mapping() -> None:
    from n2kzones.stages.deposition import habitat_mapping_share

    receptors = pd.DataFrame({
        "site_code": ["A", "A", "A", "A", "B", "B"],
        "landuse_source": ["raster", "habitat_mapping", "raster", "raster"]
        + ["habitat_mapping"] * 2,
    })
    got = habitat_mapping_share(pd.Series(["A", "B", "C", "ALL"]), receptors)
    np.testing.assert_allclose(got, [0.25, 1.0, np.nan, 0.5])
