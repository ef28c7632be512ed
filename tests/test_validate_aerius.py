"""The readers of ``benchmarks/validate_aerius.py`` on the real AERIUS files (skipped where
``../shared`` is absent); the lattice of surface sources on constructed input."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import shapely

from conftest import REAL, REPO, require_shared

_spec = importlib.util.spec_from_file_location(
    "validate_aerius", REPO / "benchmarks" / "validate_aerius.py"
)
va = importlib.util.module_from_spec(_spec)
sys.modules["validate_aerius"] = va
_spec.loader.exec_module(va)


def test_shared_location_is_the_repos_sibling() -> None:
    assert va.REAL == REAL


def test_lattice_of_a_square_and_a_point() -> None:
    src = va.Sources(
        ["a", "b"],
        np.array([4110, 4110]),
        np.array([1000.0, 7.0]),
        np.array([5.0, np.nan]),
        np.array([shapely.box(0, 0, 1000, 1000), shapely.Point(5, 6)], dtype=object),
    )
    h = va.fill_heights(src)
    assert h.tolist() == [5.0, 5.0]  # sector 4110 default for the missing height
    pts = va.spread_sources(src, h, 5)
    assert pts["x"].size == 26
    np.testing.assert_allclose(np.bincount(pts["owner"], weights=pts["e"]), [1000.0, 7.0])
    sq = pts["owner"] == 0
    assert sorted(set(pts["x"][sq].tolist())) == [100.0, 300.0, 500.0, 700.0, 900.0]
    assert (pts["x"][~sq][0], pts["y"][~sq][0]) == (5.0, 6.0)


@pytest.mark.real_data
@pytest.mark.slow
def test_fryslan_counts() -> None:
    require_shared(va.FRYSLAN)
    src, rec = va.read_fryslan()
    assert len(src) == 3474 and len(rec) == 38_541
    assert np.unique(rec.ids).size == len(rec)
    assert np.isfinite(rec.deposition).all() and rec.deposition.max() == pytest.approx(
        602.56, abs=0.01
    )
    assert np.all(src.height_m == 5.0) and set(src.sector.tolist()) == {4110}
    assert all(isinstance(g, shapely.Polygon) for g in src.geometry)
    assert src.emission_kg_nh3.sum() == pytest.approx(12_375_516.4, rel=1e-9)
    pts = va.spread_sources(src, va.fill_heights(src), 5)
    assert pts["x"].size == 25 * 3474
    assert pts["e"].sum() == pytest.approx(src.emission_kg_nh3.sum(), rel=1e-12)


@pytest.mark.real_data
def test_wommels_two_scenarios_same_receptors() -> None:
    require_shared(va.WOMMELS)
    scen = va.read_wommels()
    assert list(scen) == [5.0, 30.0]
    (s5, r5), (s30, r30) = scen[5.0], scen[30.0]
    assert len(s5) == len(s30) == 1 and s5.emission_kg_nh3[0] == s30.emission_kg_nh3[0] == 960.0
    assert len(r5) == len(r30) == 4295
    np.testing.assert_array_equal(r5.ids, r30.ids)
    assert not np.array_equal(r5.deposition, r30.deposition)
    d = va.nearest_source_distance(s5, r5.x, r5.y)
    assert 11_000 < d.min() and d.max() < 25_000  # AERIUS's 25 km range


@pytest.mark.real_data
def test_background_at_hexagons() -> None:
    require_shared(va.GCN_NH3)
    bg = va.sample_background(np.array([190_000.0, 0.0]), np.array([560_000.0, 0.0]))
    assert 0.28 <= bg[0] <= 50.65 and bg[0] != va.BG_FALLBACK_UG_M3
    assert bg[1] == va.BG_FALLBACK_UG_M3  # outside the grid
