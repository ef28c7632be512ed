"""Raster.sample_filled: points on no data take the nearest cell with data within reach."""

from __future__ import annotations

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import from_origin

from n2kzones.io.raster import Raster


def _raster() -> Raster:
    # 3 x 4 cells of 1 km from (0, 3000); NaN in the top-right corner, 0 at (row 2, col 0)
    values = np.array(
        [[1.0, 2.0, np.nan, np.nan], [5.0, 6.0, 7.0, np.nan], [0.0, 10.0, 11.0, 12.0]]
    )
    return Raster(
        values=values,
        transform=from_origin(0, 3000, 1000, 1000),
        crs=CRS.from_epsg(28992),
        source="t",
    )


def test_points_on_data_keep_their_cell() -> None:
    v, filled = _raster().sample_filled(
        np.array([500.0, 1500.0]), np.array([2500.0, 500.0]), 1500.0
    )
    assert v.tolist() == [1.0, 10.0] and not filled.any()


def test_no_data_takes_the_nearest_cell_within_reach() -> None:
    r = _raster()
    # (2600, 2900): cell (0, 2) is NaN; nearest centre with data (1500, 2500) at 1170 m -> 2
    #   (before (2500, 1500) at 1404 m -> 7)
    # (3900, 2900): cell (0, 3) is NaN; nearest centre with data (2500, 1500) at 1980 m -> none
    # (4200, 500): outside the raster; nearest (3500, 500) at 700 m -> 12
    x, y = np.array([2600.0, 3900.0, 4200.0]), np.array([2900.0, 2900.0, 500.0])
    v, filled = r.sample_filled(x, y, 1500.0)
    assert v[0] == 2.0 and np.isnan(v[1]) and v[2] == 12.0
    assert filled.tolist() == [True, False, True]
    v0, f0 = r.sample_filled(x, y, 0.0)
    assert np.isnan(v0).all() and not f0.any()


def test_positive_treats_zero_as_no_data() -> None:
    r = _raster()
    v, filled = r.sample_filled(np.array([500.0]), np.array([500.0]), 1000.0)
    assert v.tolist() == [0.0] and not filled.any()
    # (400, 500) on the 0 cell: (500, 1500) -> 5 at 1005 m, (1500, 500) -> 10 at 1100 m
    v, filled = r.sample_filled(np.array([400.0]), np.array([500.0]), 1010.0, positive=True)
    assert v.tolist() == [5.0] and filled.tolist() == [True]
    v, filled = r.sample_filled(np.array([400.0]), np.array([500.0]), 1000.0, positive=True)
    assert np.isnan(v[0]) and not filled.any()
