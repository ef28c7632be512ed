"""Zones: buffer areas against exact answers, width rules, overlap handling."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from n2kzones.errors import InputError
from n2kzones.zones import INNER, RING, build_zones, membership, resolve_widths, zone_parts

RD = "EPSG:28992"


def _areas(geoms, codes=None, sensitive=None) -> gpd.GeoDataFrame:
    codes = codes or [f"A{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame(
        {"site_code": codes, "name": codes, "nitrogen_sensitive": sensitive or [True] * len(geoms)},
        geometry=geoms,
        crs=RD,
    )


@pytest.mark.parametrize("width", [500.0, 1000.0])
def test_ring_around_square_matches_exact_area(width: float) -> None:
    side = 1000.0
    parts = zone_parts(_areas([shapely.box(0, 0, side, side)]), pd.Series({"A0": width}), quad_segs=16)
    ring = parts.loc[parts["part"] == RING, "area_m2"].item()
    exact = 4 * side * width + math.pi * width**2
    assert abs(ring / exact - 1) < 1e-3


@pytest.mark.parametrize("width", [500.0, 1000.0])
def test_ring_around_circle_matches_exact_area(width: float) -> None:
    radius = 2000.0
    circle = shapely.Point(150_000, 450_000).buffer(radius, quad_segs=1024)
    parts = zone_parts(_areas([circle]), pd.Series({"A0": width}), quad_segs=16)
    ring = parts.loc[parts["part"] == RING, "area_m2"].item()
    exact = math.pi * ((radius + width) ** 2 - radius**2)
    assert abs(ring / exact - 1) < 1e-3


def test_ring_excludes_area_and_stays_within_width() -> None:
    area = shapely.Polygon([(0, 0), (3000, 0), (3000, 500), (1000, 800), (0, 2500)])
    parts = zone_parts(_areas([area]), pd.Series({"A0": 500.0}))
    ring = parts.loc[parts["part"] == RING].geometry.item()
    assert ring.intersection(area).area < 1e-6
    assert ring.covers(area.boundary)  # the ring starts at the edge
    vertices = shapely.points(shapely.get_coordinates(ring))
    assert shapely.distance(vertices, area).max() <= 500.0 + 1e-6
    assert area.buffer(500.0 + 0.01).covers(ring)


def test_hole_smaller_than_width_is_filled_by_the_ring() -> None:
    outer = shapely.box(0, 0, 3000, 3000)
    hole = shapely.box(1000, 1000, 1400, 1400)  # a 400 m enclave of farmland
    area = outer.difference(hole)
    parts = zone_parts(_areas([area]), pd.Series({"A0": 500.0}))
    ring = parts.loc[parts["part"] == RING].geometry.item()
    assert ring.intersection(hole).area == pytest.approx(hole.area, rel=1e-9)


def test_width_rules_default_sensitivity_and_override() -> None:
    areas = _areas([shapely.box(i * 5000, 0, i * 5000 + 1000, 1000) for i in range(4)], sensitive=[True, True, False, False])
    w = resolve_widths(areas, default_width_m=500, overrides={"A1": 1000, "A3": 250, "X9": 1000})
    assert w.to_dict() == {"A0": 500.0, "A1": 1000.0, "A2": 0.0, "A3": 250.0}
    w_all = resolve_widths(areas, default_width_m=500, only_nitrogen_sensitive=False)
    assert (w_all == 500).all()
    parts = zone_parts(areas, w)
    assert set(parts["site_code"]) == {"A0", "A1", "A3"}  # width 0: no zone, no inner part


def test_geographic_areas_are_refused() -> None:
    areas = _areas([shapely.box(5.0, 52.0, 5.1, 52.1)]).set_crs("EPSG:4326", allow_override=True)
    with pytest.raises(InputError, match="projected CRS"):
        zone_parts(areas, pd.Series({"A0": 500.0}))


def test_overlapping_zones_keep_every_area_and_conserve_area(two_squares) -> None:
    widths = pd.Series({"A": 500.0, "B": 500.0})
    z = build_zones(two_squares, widths, quad_segs=64)
    nat = z.national
    union = shapely.union_all(z.by_area.geometry.to_numpy())
    assert nat["area_m2"].sum() == pytest.approx(union.area, rel=1e-9)  # faces do not overlap
    overlap = nat.loc[nat["zone_key"] == "A:ring|B:ring"]
    assert overlap["area_codes"].item() == "A;B" and overlap["n_areas"].item() == 2
    # 200 m strip plus the lens of two 500 m discs 800 m apart (cut in half by each square)
    r, d = 500.0, 800.0
    lens = 2 * r**2 * math.acos(d / (2 * r)) - (d / 2) * math.sqrt(4 * r**2 - d**2)
    assert overlap["area_m2"].item() == pytest.approx(200 * 1000 + lens, rel=2e-3)
    assert set(membership(nat).query("zone_key == 'A:ring|B:ring'")["site_code"]) == {"A", "B"}


def test_overlap_takes_the_largest_width_and_marks_land_inside_another_area(two_squares) -> None:
    z = build_zones(two_squares, pd.Series({"A": 1000.0, "B": 500.0}))
    nat = z.national.set_index("zone_key")
    assert nat.loc["A:ring|B:ring", "width_m"] == 1000.0
    # A's 1000 m ring reaches 200 m into B itself: land inside B, zoned for A and B
    inside_b = nat.loc["A:ring|B:inner"]
    assert bool(inside_b["inside_area"]) and inside_b["width_m"] == 1000.0
    assert inside_b["area_m2"] == pytest.approx(200 * 1000, rel=1e-6)


def test_national_layer_is_independent_of_row_order(two_squares) -> None:
    widths = pd.Series({"A": 1000.0, "B": 500.0})
    a = build_zones(two_squares, widths).national
    b = build_zones(two_squares.iloc[::-1], widths).national
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert np.allclose(a["area_m2"], b["area_m2"], rtol=1e-12)


def test_inner_part_is_the_area_itself(two_squares) -> None:
    parts = zone_parts(two_squares, pd.Series({"A": 500.0, "B": 500.0}), include_inner=True)
    inner = parts.loc[(parts["site_code"] == "A") & (parts["part"] == INNER)].geometry.item()
    assert inner.equals(two_squares.geometry.iloc[0])
    no_inner = zone_parts(two_squares, pd.Series({"A": 500.0, "B": 500.0}), include_inner=False)
    assert set(no_inner["part"]) == {RING}


def test_connected_components_known_answer_numbered_by_lowest_node() -> None:
    from n2kzones.zones import _connected_components as connected_components

    # {0, 1, 4}, {2}, {3, 5}: numbered in the order of each component's lowest node
    got = connected_components(6, np.array([4, 5, 1]), np.array([1, 3, 0]))
    assert got.tolist() == [0, 0, 1, 2, 0, 2]
    assert connected_components(3, np.array([], int), np.array([], int)).tolist() == [0, 1, 2]
    assert connected_components(0, np.array([], int), np.array([], int)).tolist() == []


def test_connected_components_as_scipy_numbers_them() -> None:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_components

    from n2kzones.zones import _connected_components as connected_components

    rng = np.random.default_rng(18)
    for _ in range(200):
        n = int(rng.integers(1, 50))
        k = int(rng.integers(0, 60))
        a, b = rng.integers(0, n, k), rng.integers(0, n, k)
        _, want = scipy_components(coo_matrix((np.ones(k), (a, b)), shape=(n, n)), directed=False)
        assert connected_components(n, a, b).tolist() == want.tolist()
