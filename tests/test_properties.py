"""Property tests (hypothesis): area conservation, zone extent, linearity and additivity of
deposition, monotonicity of the RKO sweep in the threshold."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from n2kzones.deposition import default_kernel, deposition_at_points
from n2kzones.overlay import overlay_parcels
from n2kzones.rko import rko_sweep
from n2kzones.zones import build_zones

RD = "EPSG:28992"
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KERNEL = default_kernel()

coord = st.floats(-3000, 3000, allow_nan=False, allow_infinity=False)
side = st.floats(5, 2500, allow_nan=False, allow_infinity=False)


@st.composite
def boxes(draw, n_min: int = 1, n_max: int = 6) -> list[shapely.Polygon]:
    n = draw(st.integers(n_min, n_max))
    return [
        shapely.box(x := draw(coord), y := draw(coord), x + draw(side), y + draw(side))
        for _ in range(n)
    ]


@st.composite
def star_polygons(draw) -> shapely.Polygon:
    """A star-shaped (hence simple) polygon: random radii at sorted random angles."""
    cx, cy = draw(coord), draw(coord)
    n = draw(st.integers(3, 12))
    angles = np.sort(
        np.array(
            draw(
                st.lists(
                    st.floats(0, 2 * np.pi, exclude_max=True), min_size=n, max_size=n, unique=True
                )
            )
        )
    )
    radii = np.array(draw(st.lists(st.floats(50, 1500), min_size=n, max_size=n)))
    poly = shapely.Polygon(np.c_[cx + radii * np.cos(angles), cy + radii * np.sin(angles)])
    return poly if poly.is_valid else shapely.convex_hull(poly)  # near-duplicate angles


@st.composite
def area_layers(draw) -> tuple[gpd.GeoDataFrame, pd.Series]:
    geoms = [
        g
        for g in draw(st.lists(star_polygons(), min_size=1, max_size=3))
        if g.geom_type == "Polygon" and g.area > 1.0
    ]
    geoms = geoms or [shapely.box(0, 0, 1000, 1000)]
    codes = [f"NL{i}" for i in range(len(geoms))]
    widths = draw(
        st.lists(
            st.sampled_from([0.0, 250.0, 500.0, 1000.0]), min_size=len(geoms), max_size=len(geoms)
        )
    )
    if not any(widths):
        widths[0] = 500.0
    areas = gpd.GeoDataFrame(
        {"site_code": codes, "name": codes, "nitrogen_sensitive": True}, geometry=geoms, crs=RD
    )
    return areas, pd.Series(widths, index=codes)


@FAST
@given(area_layers(), st.one_of(boxes(), st.lists(star_polygons(), min_size=1, max_size=4)))
def test_parcel_pieces_conserve_area(layer, parcel_geoms) -> None:
    areas, widths = layer
    zones = build_zones(areas, widths, quad_segs=8)
    parcel_geoms = [g for g in parcel_geoms if g.geom_type == "Polygon" and g.area > 0]
    if not parcel_geoms:
        return
    parcels = gpd.GeoDataFrame(
        {"parcel_id": np.arange(1, len(parcel_geoms) + 1), "category": "Grasland"},
        geometry=parcel_geoms,
        crs=RD,
    )
    pieces = overlay_parcels(parcels, zones.national)
    summed = pieces.groupby("parcel_id")["area_m2"].sum().reindex(parcels["parcel_id"]).to_numpy()
    np.testing.assert_allclose(summed, parcels.geometry.area.to_numpy(), rtol=1e-7, atol=1e-3)
    np.testing.assert_allclose(pieces.geometry.area, pieces["area_m2"], rtol=1e-9, atol=1e-6)


@FAST
@given(area_layers())
def test_zones_hold_the_boundary_and_nothing_beyond_the_width(layer) -> None:
    areas, widths = layer
    tol = 0.5  # m: buffer polygons approximate arcs (quad_segs=16) from inside
    parts = build_zones(areas, widths, quad_segs=16).by_area
    for code, w in widths.items():
        area = areas.set_index("site_code").geometry[code]
        mine = parts[parts["site_code"] == code]
        if w == 0:
            assert mine.empty
            continue
        zone = shapely.union_all(mine.geometry.to_numpy())
        assert zone.buffer(tol).covers(area.boundary)
        assert zone.buffer(tol).covers(area)  # "in en rondom": the inner part is the area
        assert zone.difference(area.buffer(w + tol, quad_segs=64)).area < 1e-6
        ring = mine.loc[mine["part"] == "ring"].geometry.iloc[0]
        assert ring.intersection(area).area < 1e-6 * max(area.area, 1.0)
        # the ring reaches (almost) the full width: its outer edge is about w away
        assert ring.area >= area.buffer(w - 1.0, quad_segs=16).difference(area).area - 1e-6


sources = st.integers(1, 8).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-5000, 5000), min_size=n, max_size=n),
        st.lists(st.floats(-5000, 5000), min_size=n, max_size=n),
        st.lists(st.floats(0, 5000), min_size=n, max_size=n),
    )
)
RX, RY = np.meshgrid(np.linspace(-6000, 6000, 7), np.linspace(-6000, 6000, 5))
RX, RY = RX.ravel(), RY.ravel()


@FAST
@given(sources, st.floats(0, 50), st.floats(0, 50), st.sampled_from([None, 3000.0]))
def test_deposition_is_linear_and_additive(src, a, b, cutoff) -> None:
    x, y, e = (np.asarray(v, float) for v in src)
    e2 = e[::-1].copy()

    def dep(em: np.ndarray, xs=x, ys=y) -> np.ndarray:
        return deposition_at_points(xs, ys, em, RX, RY, KERNEL, cutoff_m=cutoff, engine="numpy")

    d1, d2 = dep(e), dep(e2)
    np.testing.assert_allclose(dep(a * e + b * e2), a * d1 + b * d2, rtol=1e-9, atol=1e-12)
    singles = sum(dep(e[i : i + 1], x[i : i + 1], y[i : i + 1]) for i in range(x.size))
    np.testing.assert_allclose(d1, singles, rtol=1e-9, atol=1e-12)
    assert (d1 >= 0).all()


@FAST
@given(
    st.integers(2, 12).flatmap(
        lambda n: st.tuples(
            st.lists(st.floats(-4000, 4000), min_size=n, max_size=n),
            st.lists(st.floats(-4000, 4000), min_size=n, max_size=n),
            st.lists(st.floats(0.1, 20_000), min_size=n, max_size=n),
        )
    ),
    st.lists(st.floats(0.001, 10.0), min_size=1, max_size=6),
)
def test_rko_sweep_is_monotone_in_the_threshold(src, thresholds) -> None:
    x, y, e = src
    farms = gpd.GeoDataFrame(
        {"farm_id": [f"F{i:02d}" for i in range(len(x))], "emission_kg_nh3": e},
        geometry=gpd.points_from_xy(x, y),
        crs=RD,
    )
    rec = gpd.GeoDataFrame(
        {
            "receptor_id": [f"R{i:02d}" for i in range(RX.size)],
            "site_code": np.where(RX < 0, "W", "E"),
            "habitat_ha": 1.0,
        },
        geometry=gpd.points_from_xy(RX, RY),
        crs=RD,
    )
    res = rko_sweep(
        farms, rec, KERNEL, thresholds_mol_ha=thresholds, ranges_m=[2500.0], engine="numpy"
    )
    for label, sums in res.sums.items():
        nat = res.national
        nat = nat[nat["range"] == label].sort_values("threshold_mol_ha")
        assert np.all(np.diff(nat["n_sources_below"].to_numpy()) >= 0)
        assert np.all(np.diff(nat["emission_below_kg_nh3"].to_numpy()) >= -1e-9)
        assert np.all(np.diff(sums, axis=0) >= -1e-12)  # per receptor, thresholds ascending
        assert np.all(np.diff(sums.sum(axis=1)) >= -1e-12)
        assert nat["n_sources_below"].iloc[-1] <= len(x)


@st.composite
def tessellations_with_overlaps(draw) -> list[shapely.Polygon]:
    """A grid of fields (a tessellation) plus random exact copies and random overlapping boxes."""
    nx, ny = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    size = draw(st.floats(50, 800))
    x0, y0 = 155_000.0, 463_000.0
    cells = [shapely.box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size) for i in range(nx) for j in range(ny)]
    geoms = list(cells)
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            geoms.insert(draw(st.integers(0, len(geoms))), cells[draw(st.integers(0, len(cells) - 1))])
        else:
            x, y = x0 + draw(st.floats(-200, nx * size)), y0 + draw(st.floats(-200, ny * size))
            geoms.insert(draw(st.integers(0, len(geoms))), shapely.box(x, y, x + draw(st.floats(1, 600)), y + draw(st.floats(1, 600))))
    return geoms


@FAST
@given(tessellations_with_overlaps(), st.sampled_from(["error", "first_wins"]))
def test_overlapping_parcels_are_refused_or_counted_once(geoms, policy) -> None:
    """Issue 14: the parcels reader either refuses overlapping parcels or the land summed over
    the zone pieces equals the area of the parcels' union (no hectare counted twice)."""
    from pathlib import Path

    from n2kzones.config import LayerInput
    from n2kzones.errors import InputError
    from n2kzones.io.readers import normalise_layer
    from n2kzones.io.validate import LayerReport
    from n2kzones.params import load_parameters
    from n2kzones.summary import AREA_QUANTUM_M2, land_by_zone

    params = load_parameters()
    raw = gpd.GeoDataFrame({"category": ["Grasland"] * len(geoms)}, geometry=geoms, crs=RD)
    areas = gpd.GeoDataFrame({"site_code": ["NL1"], "name": ["A"], "nitrogen_sensitive": [True]},
                             geometry=[shapely.box(155_300, 463_300, 155_600, 463_600)], crs=RD)
    zones = build_zones(areas, pd.Series({"NL1": 250.0}), quad_segs=8)
    spec = LayerInput(path=Path("parcels.gpkg"), on_overlap=policy)
    try:
        parcels = normalise_layer(raw, "parcels", spec, crs=RD, params=params, report=LayerReport("parcels", "parcels.gpkg"))
    except InputError as exc:
        assert policy == "error" and "must not overlap" in str(exc)
        return
    pieces = overlay_parcels(parcels, zones.national)
    land_m2 = float(land_by_zone(pieces)["area_q"].sum()) * AREA_QUANTUM_M2
    union = shapely.union_all(np.array(geoms, dtype=object)).area
    assert land_m2 == pytest.approx(union, rel=1e-9, abs=0.01 + 1e-6 * len(geoms))
