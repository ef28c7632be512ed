"""Hexagon receptors: lattice geometry, lowest KDW per hexagon, habitat hectares."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

from n2kzones.deposition.receptors import (
    _hexagons,
    hexagon_centres,
    hexagon_receptors,
    hexagon_side_m,
)

RD = "EPSG:28992"


def test_hexagon_is_one_hectare_and_lattice_tiles() -> None:
    side = hexagon_side_m(1.0)
    assert side == pytest.approx(62.04, abs=0.01)
    centres = hexagon_centres((0, 0, 2000, 2000), side)
    hexes = _hexagons(centres, side)
    assert np.allclose(shapely.area(hexes), 1e4)
    union = shapely.union_all(hexes)
    box = shapely.box(0, 0, 2000, 2000)
    assert box.difference(union).area < 1e-3  # no gaps (beyond floating-point hairlines)
    assert shapely.area(hexes).sum() == pytest.approx(union.area, rel=1e-9)  # no overlaps


def test_lowest_kdw_and_habitat_area() -> None:
    # Two habitat halves split at x = 1000: heath (714) left, oak forest (1071) right;
    # a not-sensitive water strip further right.
    habitats = gpd.GeoDataFrame(
        {"habitat_code": ["H4030", "H9190", "H1130"], "kdw_mol_ha": [714.0, 1071.0, 9999.0], "site_code": ["A", "A", "A"]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000), shapely.box(2000, 0, 3000, 1000)],
        crs=RD,
    )
    rec = hexagon_receptors(habitats)
    assert rec["habitat_ha"].sum() == pytest.approx(200.0, rel=1e-9)  # 2 km2 of sensitive habitat
    side = hexagon_side_m()
    straddling = rec.geometry.x.sub(1000).abs() < side  # hexagons crossing x = 1000
    assert (rec.loc[straddling, "kdw_mol_ha"] == 714.0).all()
    right = rec.geometry.x > 1000 + side
    assert (rec.loc[right, "kdw_mol_ha"] == 1071.0).all() and (rec.loc[right, "habitat_code"] == "H9190").all()
    assert not (rec.geometry.x > 2000 + side).any()  # water: no receptors
    assert rec["receptor_id"].is_unique
    assert (rec["habitat_ha"] <= 1.0 + 1e-9).all()
    full = rec.geometry.x.between(side, 1000 - side) & rec.geometry.y.between(side, 1000 - side)
    assert np.allclose(rec.loc[full, "habitat_ha"], 1.0)
    assert math.isclose(len(rec), 200 + 0.0, rel_tol=0.25)  # about one receptor per hectare


def test_centres_near_habitat_are_the_full_lattice_hexagons_that_meet_it() -> None:
    from n2kzones.deposition.receptors import hexagon_centres_near

    # two small habitats 60 km apart: the bounding-box lattice has ~250,000 hexagons
    geoms = np.array([shapely.Point(1234.5, 987.0).buffer(800), shapely.box(60_000, 40_100, 61_300, 40_900)])
    side = 62.04
    near = hexagon_centres_near(geoms, side, block_m=5000)
    full = hexagon_centres(tuple(shapely.total_bounds(geoms)), side)
    meets = lambda c: np.unique(shapely.STRtree(geoms).query(_hexagons(c, side), predicate="intersects")[0])  # noqa: E731
    want = {tuple(np.round(p, 6)) for p in full[meets(full)]}
    got = {tuple(np.round(p, 6)) for p in near[meets(near)]}
    assert got == want and len(want) > 300
    assert len(near) < len(full) / 10
