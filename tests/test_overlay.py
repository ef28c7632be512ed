"""Overlay: parcel pieces per zone membership with exact areas; farms in zones; GVE per ha."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from n2kzones.overlay import OUTSIDE, farm_land_use, land_by_farm, overlay_farms, overlay_parcels
from n2kzones.params import load_parameters
from n2kzones.zones import build_zones

RD = "EPSG:28992"


@pytest.fixture
def zones(two_squares):
    return build_zones(two_squares, pd.Series({"A": 500.0, "B": 500.0}), quad_segs=64)


def _parcels(boxes: list[tuple[float, float, float, float]], **cols) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"parcel_id": np.arange(1, len(boxes) + 1), "category": cols.pop("category", ["Grasland"] * len(boxes)), **cols},
        geometry=[shapely.box(*b) for b in boxes],
        crs=RD,
    )


def test_known_pieces(zones) -> None:
    parcels = _parcels(
        [
            (100, 100, 200, 200),        # 1: inside A
            (1100, 100, 1200, 200),      # 2: in A's ring only
            (1450, 200, 1550, 300),      # 3: A's ring only / A+B overlap, split at x=1300? no: at 1500
            (-600, 400, -400, 500),      # 4: crosses A's outer edge at x=-500: half in
            (5000, 5000, 5100, 5100),    # 5: outside everything
            (900, 400, 1100, 500),       # 6: half inside A, half in its ring
        ]
    )
    pieces = overlay_parcels(parcels, zones.national)
    got = {(int(r.parcel_id), r.zone_key): round(r.area_m2, 6) for r in pieces.itertuples()}
    assert got == {
        (1, "A:inner"): 10_000.0,
        (2, "A:ring"): 10_000.0,
        (3, "A:ring|B:ring"): 5_000.0,
        (3, "B:ring"): 5_000.0,
        (4, OUTSIDE): 10_000.0,
        (4, "A:ring"): 10_000.0,
        (5, OUTSIDE): 10_000.0,
        (6, "A:inner"): 10_000.0,
        (6, "A:ring"): 10_000.0,
    }
    assert pieces.loc[pieces["zone_key"] == OUTSIDE, "width_m"].eq(0).all()
    shares = pieces.groupby("parcel_id")["share"].sum()
    assert np.allclose(shares, 1.0, rtol=0, atol=1e-12)


def test_pieces_keep_parcel_attributes_and_order_does_not_matter(zones) -> None:
    parcels = _parcels([(1450, 200, 1550, 300), (100, 100, 200, 200)], category=["Bouwland", "Grasland"], gewascode=[259, 265])
    a = overlay_parcels(parcels, zones.national)
    b = overlay_parcels(parcels.iloc[::-1], zones.national)
    cols = ["parcel_id", "zone_key", "category", "gewascode", "area_m2"]
    pd.testing.assert_frame_equal(
        a[cols].sort_values(cols[:2]).reset_index(drop=True),
        b[cols].sort_values(cols[:2]).reset_index(drop=True),
        check_exact=False, rtol=1e-12,
    )
    assert set(a.loc[a["parcel_id"] == 1, "category"]) == {"Bouwland"}


def test_farms_zone_and_distance(two_squares, zones) -> None:
    farms = gpd.GeoDataFrame(
        {"farm_id": ["in_a", "ring_a", "overlap", "far"]},
        geometry=[shapely.Point(500, 500), shapely.Point(1100, 500), shapely.Point(1450, 500), shapely.Point(500, 3000)],
        crs=RD,
    )
    out = overlay_farms(farms, zones.national, two_squares).set_index("farm_id")
    assert out.loc["in_a", "zone_key"] == "A:inner" and out.loc["in_a", "distance_to_area_m"] == 0
    assert out.loc["ring_a", "zone_key"] == "A:ring" and out.loc["ring_a", "distance_to_area_m"] == pytest.approx(100)
    assert out.loc["overlap", "area_codes"] == "A;B" and out.loc["overlap", "distance_to_area_m"] == pytest.approx(350)
    assert out.loc["overlap", "nearest_site_code"] == "B"
    assert out.loc["far", "zone_key"] == OUTSIDE and out.loc["far", "width_m"] == 0
    assert out.loc["far", "distance_to_area_m"] == pytest.approx(2000)


def test_farm_land_use_gve_per_ha() -> None:
    params = load_parameters()
    farms = pd.DataFrame({"farm_id": ["d", "p"], "rundvee": [100, 0], "varkens": [0, 2000], "kippen": [0, 0], "schapen": [0, 0], "geiten": [0, 0]})
    parcels = _parcels(
        [(0, 0, 1000, 300), (0, 300, 1000, 400), (5000, 0, 5100, 100)],  # 30 ha grass, 10 ha maize, 1 ha
        category=["Grasland", "Bouwland", "Bouwland"],
        farm_id=["d", "d", "p"],
    )
    res = farm_land_use(farms, land_by_farm(parcels), params).set_index("farm_id")
    gve_cow = params.livestock["rundvee"].gve_per_animal
    assert res.loc["d", "land_ha"] == pytest.approx(40)
    assert res.loc["d", "gve_per_ha"] == pytest.approx(100 * gve_cow / 40)
    assert res.loc["d", "grassland_share"] == pytest.approx(0.75)
    assert not res.loc["d", "meets_land_based_norm"]  # 75 % grass < 85 %
    assert pd.isna(res.loc["p", "meets_land_based_norm"])  # no grazing livestock: not applicable
    assert res.loc["p", "gve_per_ha"] == pytest.approx(2000 * params.livestock["varkens"].gve_per_animal / 1)
