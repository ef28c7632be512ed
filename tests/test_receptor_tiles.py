"""Tiled hexagon receptors: the same receptors, ids, attributes and order as the untiled
reference (``tile_m=None``), on the sample habitat layer and on one huge many-vertex polygon
with an independently counted answer."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from n2kzones.deposition.receptors import RECEPTOR_TILE_M, hexagon_receptors, hexagon_side_m
from n2kzones.errors import InputError
from n2kzones.io.readers import read_layer

RD = "EPSG:28992"


def assert_same_receptors(tiled: gpd.GeoDataFrame, untiled: gpd.GeoDataFrame) -> None:
    """Same rows in the same order; every column equal, ``habitat_ha`` to rounding."""
    assert len(tiled) == len(untiled) > 0
    for col in ("receptor_id", "site_code", "kdw_mol_ha", "habitat_code"):
        pd.testing.assert_series_equal(tiled[col], untiled[col])
    assert tiled.geometry.geom_equals_exact(untiled.geometry, tolerance=0).all()  # bit-equal centres
    np.testing.assert_allclose(tiled["habitat_ha"], untiled["habitat_ha"], rtol=1e-9, atol=1e-9)


def dense_rectangle_case() -> tuple[gpd.GeoDataFrame, int]:
    """A 5.2 x 3.2 km rectangle with 20,000+ vertices (its edges densified), laid on the
    lattice so that its receptors can be counted by hand, plus small circles far from it.

    Columns ``i`` have centres at ``x = i dx`` (``dx = 1.5 s``), hexagons ``s`` either side;
    column ``i`` holds centres at ``y = (j + (i % 2) / 2) dy`` (``dy = sqrt(3) s``), hexagons
    ``dy / 2`` above and below. With ``X0 = i0 dx`` and ``X1 = i1 dx`` the columns ``i0 .. i1``
    meet the rectangle with positive area (the outer ones by half a hexagon) and columns
    ``i0 - 1`` and ``i1 + 1`` stop ``s / 2`` short of it. With ``Y0 = (j0 + 1/4) dy`` and
    ``Y1 = (j1 + 1/4) dy`` every column has exactly the rows ``j0 .. j1``: in even columns
    hexagon ``j0`` reaches ``dy / 4`` above ``Y0`` and ``j0 - 1`` stops ``dy / 4`` below it; in
    odd columns hexagon ``j0`` starts ``dy / 4`` below ``Y0`` and ``j0 - 1`` ends there; likewise
    at ``Y1``. Hence ``(i1 - i0 + 1) * (j1 - j0 + 1)`` receptors for the rectangle.
    """
    s = hexagon_side_m(1.0)
    dx, dy = 1.5 * s, math.sqrt(3) * s
    i0, i1 = 1001, 1001 + 55  # ~5.2 km; x = 93 km .. 98 km: tile edges cross it
    j0, j1 = 3001, 3001 + 29  # ~3.2 km
    rect = shapely.box(i0 * dx, (j0 + 0.25) * dy, i1 * dx, (j1 + 0.25) * dy)
    rect = shapely.segmentize(rect, 0.8)  # ~21,000 vertices on the same outline
    assert shapely.get_num_coordinates(rect) > 20_000
    circles = [shapely.Point(i0 * dx - 3000 - 400 * k, j0 * dy - 2000).buffer(120, quad_segs=64) for k in range(12)]
    habitats = gpd.GeoDataFrame(
        {
            "habitat_code": ["H4030"] + ["H7110A"] * 12,
            "kdw_mol_ha": [1071.0] + [500.0] * 12,
            "site_code": ["big"] + ["small"] * 12,
        },
        geometry=[rect, *circles],
        crs=RD,
    )
    return habitats, (i1 - i0 + 1) * (j1 - j0 + 1)


@pytest.mark.parametrize("tile_m", [RECEPTOR_TILE_M, 700.0])
def test_tiled_equals_untiled_on_a_huge_polygon_with_a_counted_answer(tile_m: float) -> None:
    habitats, n_rect = dense_rectangle_case()
    tiled = hexagon_receptors(habitats, tile_m=tile_m)
    untiled = hexagon_receptors(habitats, tile_m=None)
    assert_same_receptors(tiled, untiled)
    big = tiled.loc[tiled["site_code"] == "big"]
    assert len(big) == n_rect == 56 * 30  # no hexagon lost or counted twice at tile edges
    assert (big["habitat_code"] == "H4030").all()
    assert big["habitat_ha"].sum() == pytest.approx(habitats.geometry.iloc[0].area / 1e4, rel=1e-9)
    small = tiled.loc[tiled["site_code"] == "small"]
    assert (small["kdw_mol_ha"] == 500.0).all() and len(small) > 12 * 4  # each 4.5 ha circle meets 5+ hexagons


def test_tiled_equals_untiled_on_the_sample_habitats(sample_config) -> None:
    cfg = sample_config
    habitats, _ = read_layer("habitats", cfg.inputs.habitats, crs=cfg.project.crs, params=cfg.params, base_dir=cfg.base_dir)
    limit = cfg.params.kdw.not_sensitive_from_mol_ha
    untiled = hexagon_receptors(habitats, not_sensitive_from_mol_ha=limit, tile_m=None)
    tiled = hexagon_receptors(habitats, not_sensitive_from_mol_ha=limit)
    assert_same_receptors(tiled, untiled)
    assert len(tiled) > 1000


def test_receptors_do_not_depend_on_the_thread_count(sample_config, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = sample_config
    habitats, _ = read_layer("habitats", cfg.inputs.habitats, crs=cfg.project.crs, params=cfg.params, base_dir=cfg.base_dir)
    runs = []
    for threads in ("1", "2", "3"):
        monkeypatch.setenv("N2KZONES_THREADS", threads)
        seen: list[int] = []
        runs.append((hexagon_receptors(habitats, tile_m=500.0, progress=seen.append), seen))
    (one, seen_one), *others = runs
    assert len(seen_one) > 3 and seen_one[-1] == sorted(seen_one)[-1]  # several batches, counted up
    for rec, seen in others:
        assert rec.equals(one)  # the same rows, ids, values and order, bit for bit
        assert seen[-1] == seen_one[-1] and seen == sorted(seen)


def test_tiles_and_receptors_are_logged_and_progress_reported(caplog: pytest.LogCaptureFixture) -> None:
    habitats = gpd.GeoDataFrame(
        {"habitat_code": ["H4030"], "kdw_mol_ha": [714.0], "site_code": ["A"]},
        geometry=[shapely.box(0, 0, 2500, 1500)],  # with 1 km tiles: 4 x 3 tiles (clip boxes reach 63 m beyond)
        crs=RD,
    )
    seen: list[int] = []
    with caplog.at_level(logging.INFO, logger="n2kzones.deposition.receptors"):
        rec = hexagon_receptors(habitats, tile_m=1000.0, progress=seen.append)
    msg = caplog.records[-1].getMessage()
    assert f"receptors: {len(rec)} hexagons" in msg and "12 tiles of 1000 m" in msg
    assert seen == [12]  # one batch of 12 tiles


@pytest.mark.parametrize("bad", [0.0, -1000.0, math.nan, math.inf, True, "1000"])
def test_a_bad_tile_size_is_refused_naming_the_way_out(bad: object) -> None:
    habitats = gpd.GeoDataFrame(
        {"habitat_code": ["H4030"], "kdw_mol_ha": [714.0]}, geometry=[shapely.box(0, 0, 500, 500)], crs=RD
    )
    with pytest.raises(InputError, match="tile_m must be a positive number of metres .* or None"):
        hexagon_receptors(habitats, tile_m=bad)  # type: ignore[arg-type]
