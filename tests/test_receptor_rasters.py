"""A user's land-use / z0 raster as receptor classes (issue 13): ``[inputs.receptor_landuse]``
(OPS/DEPAC codes 1-9) and ``[inputs.receptor_z0]`` (m) for ``[deposition] kernel = "ops_classes"``.

Known answers from tiny synthetic rasters in RD New written here: a receptor takes the class
(and z0) of the cell it lies in; on no data, or outside the raster, it falls back to the
habitat-type mapping (and the z0 table), counted; a swapped raster is refused naming the
likely mix-up; and the deposition stage gives at its receptors what the model API gives for
the raster's classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from n2kzones.config import Config, RasterInput
from n2kzones.deposition.classes import LANDUSES
from n2kzones.errors import InputError
from n2kzones.stages.framework import StageRun

RD = "EPSG:28992"
#: Top-left corner of the small test rasters (m, RD New) and the cell size of all (m).
X0, Y0, CELL = 155_000.0, 463_300.0, 100.0
NODATA = -9999.0
FOREST = next(k for k, v in LANDUSES.items() if v == "coniferous_forest")
GRASS = next(k for k, v in LANDUSES.items() if v == "grass")


def write_raster(
    path: Path, values: np.ndarray, *, nodata: float | None = NODATA, dtype: str = "float32",
    origin_m: tuple[float, float] = (X0, Y0), crs: str = RD,
) -> Path:
    """A single-band GeoTIFF in ``crs``, top-left corner at ``origin_m``, cells of CELL m."""
    values = np.asarray(values, dtype=dtype)
    with rasterio.open(
        path, "w", driver="GTiff", height=values.shape[0], width=values.shape[1], count=1,
        dtype=dtype, crs=crs, transform=from_origin(*origin_m, CELL, CELL), nodata=nodata,
    ) as dst:
        dst.write(values, 1)
    return path


def cell_centre(row: int, col: int) -> tuple[float, float]:
    """Centre (m) of cell (row, col) of the small test rasters."""
    return X0 + (col + 0.5) * CELL, Y0 - (row + 0.5) * CELL


def receptors_at(cells: list[tuple[int, int]], habitat_codes: list[str]) -> gpd.GeoDataFrame:
    """Receptor points at the centres of ``cells``, with their habitat types."""
    return receptors_xy([cell_centre(*c) for c in cells], habitat_codes)


def receptors_xy(xy: list[tuple[float, float]], habitat_codes: list[str]) -> gpd.GeoDataFrame:
    """Receptor points at ``xy`` (m, RD New), with their habitat types."""
    return gpd.GeoDataFrame(
        {"receptor_id": [f"R{i}" for i in range(len(xy))], "habitat_code": habitat_codes},
        geometry=gpd.points_from_xy([p[0] for p in xy], [p[1] for p in xy]), crs=RD,
    )


def with_inputs(cfg: Config, **rasters: Path) -> Config:
    """``cfg`` with the given ``[inputs]`` rasters (name -> path)."""
    inputs = cfg.inputs.model_copy(update={k: RasterInput(path=p) for k, p in rasters.items()})
    return cfg.model_copy(update={"inputs": inputs})


def classes(cfg: Config, receptors: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, StageRun]:
    """:func:`receptor_classes` in a deposition-stage run of ``cfg`` (it writes nothing, so
    the run needs no staging folder)."""
    from n2kzones.stages.deposition import receptor_classes

    run = StageRun(cfg, "deposition", staging=None)  # type: ignore[arg-type]
    return receptor_classes(run, receptors), run


def value_at(raster: np.ndarray, cell: tuple[int, int]) -> float:
    """The raster's value at ``cell``, NODATA outside it."""
    r, c = cell
    inside = 0 <= r < raster.shape[0] and 0 <= c < raster.shape[1]
    return float(raster[r, c]) if inside else NODATA


# -- which source each receptor's class comes from ------------------------------------------------
@pytest.fixture
def two_by_two(tmp_path: Path) -> dict[str, Any]:
    """A land-use and a z0 raster of 2 x 2 cells: a forest cell with its z0, a grass cell
    without z0, and two cells without land use; a receptor on each cell and one outside."""
    landuse = np.array([[FOREST, NODATA], [GRASS, NODATA]])
    z0 = np.array([[0.75, NODATA], [NODATA, 1.5]])
    return {
        "landuse": landuse, "z0": z0,
        "landuse_tif": write_raster(tmp_path / "landuse.tif", landuse),
        "z0_tif": write_raster(tmp_path / "z0.tif", z0),
        "cells": [(0, 0), (0, 1), (1, 0), (1, 1), (5, 5)],
        # one habitat type per receptor, none mapped to coniferous forest by prefix
        "codes": ["H6230", "H9190", "H4030", "H3130", "H9120"],
    }


def test_a_receptor_on_a_forest_cell_takes_the_class_and_z0_of_the_rasters(
    sample_config, two_by_two,
) -> None:
    t = two_by_two
    cfg = with_inputs(sample_config, receptor_landuse=t["landuse_tif"], receptor_z0=t["z0_tif"])
    got, run = classes(cfg, receptors_at(t["cells"], t["codes"]))
    rc = cfg.params.receptor_classes
    z0_written = t["z0"].astype("float32").astype(float)  # what the GeoTIFF holds
    # (0, 0): both rasters
    assert got["landuse"].iloc[0] == "coniferous_forest" == LANDUSES[int(t["landuse"][0, 0])]
    assert rc.landuse_of(t["codes"][0]) != "coniferous_forest"  # the raster decided
    assert got["z0_m"].iloc[0] == z0_written[0, 0]
    # (1, 0): land use from the raster, no z0 there: the table's z0 of that land use
    assert got["landuse"].iloc[2] == LANDUSES[int(t["landuse"][1, 0])]
    assert got["z0_m"].iloc[2] == rc.z0_m[LANDUSES[int(t["landuse"][1, 0])]]
    # (1, 1): no land use there (habitat mapping), but a z0
    assert got["landuse"].iloc[3] == rc.landuse_of(t["codes"][3])
    assert got["z0_m"].iloc[3] == z0_written[1, 1]
    assert (got["nh3_bg_ug_m3"] == rc.nh3_background_ug_m3).all()
    n_z0 = sum(value_at(t["z0"], c) != NODATA for c in t["cells"])
    n_table = len(t["cells"]) - n_z0
    assert run.extra["receptor_z0_source"] == {"raster": n_z0, "landuse_table": n_table}
    assert {"receptor_landuse", "receptor_z0"} <= set(run.files_read)


def test_a_receptor_on_nodata_or_outside_falls_back_to_its_habitat_counted(
    sample_config, two_by_two, caplog,
) -> None:
    t = two_by_two
    cfg = with_inputs(sample_config, receptor_landuse=t["landuse_tif"])
    with caplog.at_level("WARNING", logger="n2kzones.stages.deposition"):
        got, run = classes(cfg, receptors_at(t["cells"], t["codes"]))
    rc = cfg.params.receptor_classes
    on_data = np.array([value_at(t["landuse"], c) != NODATA for c in t["cells"]])
    assert on_data.any() and not on_data.all()
    for i in np.flatnonzero(~on_data):  # the nodata cells (0, 1), (1, 1) and the point outside
        assert got["landuse"].iloc[i] == rc.landuse_of(t["codes"][i])
        assert got["z0_m"].iloc[i] == rc.z0_m[rc.landuse_of(t["codes"][i])]
    n_fallback = int((~on_data).sum())
    assert run.extra["receptor_landuse_source"] == {
        "raster": len(on_data) - n_fallback, "habitat_mapping": n_fallback,
    }
    assert run.extra["receptor_z0_source"] == {"raster": 0, "landuse_table": len(on_data)}
    assert run.extra["receptor_landuse_counts"] == got["landuse"].value_counts().to_dict()
    assert f"{n_fallback} of {len(on_data)} receptors have no value in landuse.tif" in caplog.text


def test_without_rasters_the_habitat_mapping_decides_as_before(sample_config, two_by_two) -> None:
    t = two_by_two
    got, run = classes(sample_config, receptors_at(t["cells"], t["codes"]))
    rc = sample_config.params.receptor_classes
    assert list(got["landuse"]) == [rc.landuse_of(c) for c in t["codes"]]
    assert list(got["z0_m"]) == [rc.z0_m[rc.landuse_of(c)] for c in t["codes"]]
    assert run.extra["receptor_landuse_source"] == {"raster": 0, "habitat_mapping": len(t["codes"])}


def test_an_untagged_zero_in_a_landuse_raster_is_no_data(sample_config, tmp_path) -> None:
    """0 is no OPS/DEPAC class: in a uint8 raster without nodata tag it is no data (noted)."""
    tif = write_raster(tmp_path / "lu.tif", np.array([[FOREST, 0]]), nodata=None, dtype="uint8")
    cfg = with_inputs(sample_config, receptor_landuse=tif)
    got, run = classes(cfg, receptors_at([(0, 0), (0, 1)], ["H6230", "H6230"]))
    mapped = cfg.params.receptor_classes.landuse_of("H6230")
    assert list(got["landuse"]) == [LANDUSES[FOREST], mapped]
    assert "0 (impossible for this role): 1" in run.extra["raster_notes"]["receptor_landuse"][0]


# -- swapped rasters are refused, naming the likely mix-up ---------------------------------------
def _refused(cfg: Config, *phrases: str) -> str:
    with pytest.raises(InputError) as info:
        classes(cfg, receptors_at([(0, 0)], ["H6230"]))
    msg = str(info.value)
    for p in phrases:
        assert p in msg, msg
    return msg


def test_a_z0_grid_given_as_landuse_is_refused(sample_config, tmp_path) -> None:
    z0 = np.array([[0.03, 0.1], [1.0, 2.0]])  # 1.0 and 2.0 would be codes; 0.03 and 0.1 not
    cfg = with_inputs(sample_config, receptor_landuse=write_raster(tmp_path / "z0.tif", z0))
    n_bad = int(((z0 < 1) | (z0 > 9) | (z0 != np.rint(z0))).sum())
    msg = _refused(
        cfg, "inputs.receptor_landuse", "should hold OPS/DEPAC receptor land-use class",
        "1..9, whole numbers", f"{n_bad} of {z0.size} cells", "not whole numbers", "wrong grid",
    )
    assert msg.index("fit surface roughness length z0 in m") < msg.index("NH3")  # likeliest first


def test_codes_outside_1_to_9_are_refused_as_landuse(sample_config, tmp_path) -> None:
    codes = np.array([[FOREST, 12], [GRASS, 42]])  # LGN codes
    cfg = with_inputs(sample_config, receptor_landuse=write_raster(tmp_path / "lgn.tif", codes))
    n_bad = int((codes > 9).sum())
    msg = _refused(cfg, f"{n_bad} of {codes.size} cells", "land-use class (LGN) in class code")
    assert "not whole numbers" not in msg


def test_landuse_codes_given_as_z0_are_refused(sample_config, tmp_path) -> None:
    codes = np.array([[FOREST, 6], [7, 8]])
    cfg = with_inputs(sample_config, receptor_z0=write_raster(tmp_path / "codes.tif", codes))
    z0_max = cfg.params.raster_roles["z0"].plausible_max
    _refused(
        cfg, "inputs.receptor_z0", "should hold surface roughness length z0 in m",
        f"{int((codes > z0_max).sum())} of {codes.size} cells",
        "fit OPS/DEPAC receptor land-use class",
    )


def test_an_nh3_grid_given_as_z0_is_refused(sample_config, tmp_path) -> None:
    nh3 = np.array([[6.5, 12.25], [18.5, 25.75]])  # ug/m3, GCN-like
    cfg = with_inputs(sample_config, receptor_z0=write_raster(tmp_path / "nh3.tif", nh3))
    msg = _refused(
        cfg, "should hold surface roughness length z0 in m", "fit NH3 air concentration in ug/m3",
    )
    assert "OPS/DEPAC" not in msg  # fractions fit no class code


def test_a_code_beyond_the_classes_is_refused_where_the_role_is_widened(
    sample_config, tmp_path,
) -> None:
    cfg = with_inputs(sample_config, receptor_landuse=write_raster(tmp_path / "lu.tif", [[10.0]]))
    cfg = cfg.model_copy(
        update={"parameters": {"raster_roles": {"landuse_class": {"plausible_max": 20.0}}}},
    )
    _refused(
        cfg, "codes [10.0] at 1 receptors", "no OPS/DEPAC class", f"{FOREST} coniferous_forest",
    )


# -- the deposition stage end to end -------------------------------------------------------------
@pytest.mark.slow
def test_the_stage_with_an_all_forest_raster_gives_what_the_model_gives(
    sample_config, tmp_path,
) -> None:
    """Every receptor on forest: the stage's receptor deposition equals the model API's for
    those classes; the raster is an input of the stage (manifest, make prerequisites)."""
    from n2kzones.stages.common import model_from_config, with_source_heights
    from n2kzones.stages.deps import make_deps
    from n2kzones.stages.manifest import config_section, stage_problems
    from n2kzones.stages.run import run_all

    cfg = sample_config.model_copy(
        update={
            "project": sample_config.project.model_copy(update={"output_dir": tmp_path / "out"}),
            "deposition": sample_config.deposition.model_copy(update={"kernel": "ops_classes"}),
        }
    )
    habitats = gpd.read_file(cfg.resolve(cfg.inputs.habitats.path), layer=cfg.inputs.habitats.layer)
    xmin, ymin, xmax, ymax = habitats.to_crs(RD).total_bounds
    origin = (float(np.floor(xmin / CELL) * CELL - CELL), float(np.ceil(ymax / CELL) * CELL + CELL))
    shape = (int((origin[1] - ymin) // CELL) + 2, int((xmax - origin[0]) // CELL) + 2)
    forest_codes = np.full(shape, FOREST)
    tif = write_raster(
        tmp_path / "forest.tif", forest_codes, dtype="uint8", nodata=255, origin_m=origin,
    )
    cfg = with_inputs(cfg, receptor_landuse=tif)
    run_all(cfg, stages=("zones", "overlay", "deposition"))

    out = cfg.output_dir
    rec = gpd.read_parquet(out / "stages" / "receptors.parquet")
    farms = with_source_heights(cfg, gpd.read_parquet(out / "stages" / "farms.parquet"))
    rc = cfg.params.receptor_classes
    forest_z0 = rc.z0_m[LANDUSES[FOREST]]
    assert (rec["landuse"] == LANDUSES[FOREST]).all() and (rec["z0_m"] == forest_z0).all()

    # the expected values through the model API, with the classes the raster gives
    model = model_from_config(cfg)
    n = len(rec)
    forest = pd.DataFrame({
        "landuse": np.full(n, LANDUSES[FOREST]), "z0_m": np.full(n, forest_z0),
        "nh3_bg_ug_m3": np.full(n, rc.nh3_background_ug_m3),
    })
    sx, sy = farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy()
    e = farms["emission_kg_nh3"].to_numpy(float)
    rx, ry = rec.geometry.x.to_numpy(), rec.geometry.y.to_numpy()
    want = model.at_points(sx, sy, e, rx, ry, **model.classes_for(farms, forest))
    assert want.max() > 0
    np.testing.assert_allclose(rec["farms_mol_ha"].to_numpy(), want, rtol=1e-12, atol=0)
    inz = farms["zone_key"].fillna("").to_numpy() != ""
    want_in = model.at_points(
        sx[inz], sy[inz], e[inz], rx, ry, **model.classes_for(farms[inz], forest),
    )
    got_in = rec["farms_in_zone_mol_ha"].to_numpy()
    np.testing.assert_allclose(got_in, want_in, rtol=1e-12, atol=1e-15)
    # the raster mattered: the habitat mapping gives other values
    mapped = [rc.landuse_of(c) for c in rec["habitat_code"].astype(str)]
    by_habitat = forest.assign(landuse=mapped, z0_m=[rc.z0_m[lu] for lu in mapped])
    other = model.at_points(sx, sy, e, rx, ry, **model.classes_for(farms, by_habitat))
    assert not np.allclose(other, want, rtol=1e-3)

    manifest = json.loads((out / "manifest_deposition.json").read_text())
    assert manifest["receptor_landuse_source"] == {"raster": n, "habitat_mapping": 0}
    assert manifest["receptor_z0_source"] == {"raster": 0, "landuse_table": n}
    assert manifest["receptor_landuse_counts"] == {LANDUSES[FOREST]: n}
    assert str(tif.resolve()) in manifest["input_files"]
    assert config_section(cfg, "deposition")["inputs.receptor_landuse"]["path"] == str(tif)
    deposition_deps = make_deps(cfg).split("N2K_TARGET_deposition")[1].split("N2K_TARGET_rko")[0]
    assert str(tif.resolve()) in deposition_deps
    # editing the raster makes the deposition outputs stale
    assert stage_problems(cfg, "deposition") == []
    write_raster(tif, forest_codes + 1, dtype="uint8", nodata=255, origin_m=origin)
    problems = stage_problems(cfg, "deposition")
    assert any("input changed" in p.reason and p.file == str(tif.resolve()) for p in problems)


def test_a_landuse_raster_in_another_crs_keeps_whole_codes(sample_config, tmp_path) -> None:
    """Reprojected by nearest neighbour (bilinear would blend 4 and 1 into fractions and be
    refused): each receptor takes the code of the source cell it lies in."""
    import pyproj

    laea = "EPSG:3035"
    to_laea = pyproj.Transformer.from_crs(RD, laea, always_xy=True)
    ex, ey = to_laea.transform(X0, Y0)
    block, n_blocks = 5, 4  # blocks of 5 x 5 cells of one code, 4 x 4 blocks
    checker = np.add.outer(np.arange(n_blocks), np.arange(n_blocks)) % 2 == 0
    blocks = np.where(checker, FOREST, GRASS)
    origin = (float(np.round(ex, -2)), float(np.round(ey, -2)))
    tif = write_raster(
        tmp_path / "lu_laea.tif", np.kron(blocks, np.ones((block, block))), dtype="uint8",
        nodata=255, origin_m=origin, crs=laea,
    )
    # receptors at the block centres, in RD New
    centres = np.array([
        (origin[0] + (j + 0.5) * block * CELL, origin[1] - (i + 0.5) * block * CELL)
        for i in range(n_blocks) for j in range(n_blocks)
    ])
    rx, ry = pyproj.Transformer.from_crs(laea, RD, always_xy=True).transform(*centres.T)
    receptors = receptors_xy(list(zip(rx, ry, strict=True)), ["H6230"] * len(centres))
    got, run = classes(with_inputs(sample_config, receptor_landuse=tif), receptors)
    want = [LANDUSES[int(blocks[i, j])] for i in range(n_blocks) for j in range(n_blocks)]
    assert list(got["landuse"]) == want
    assert run.extra["receptor_landuse_source"] == {"raster": len(centres), "habitat_mapping": 0}
