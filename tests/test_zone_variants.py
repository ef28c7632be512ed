"""Zone-basis variants: a square area with one habitat square, farms at known distances, the
TA Luft distance by its formula, and the letter's basis against the zones/overlay stages."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from n2kzones.deposition import default_kernel
from n2kzones.deposition.model import DepositionModel
from n2kzones.errors import ConfigError, InputError
from n2kzones.params import load_parameters
from n2kzones.zone_variants import (
    ZONE_BASES,
    ZONE_VARIANT_COLUMNS,
    compare_zone_bases,
    ta_luft_distance_m,
)

RD = "EPSG:28992"
REL = 1e-5  # kernel lookup-table error is ~2e-6
QUAD = 64  # buffer segments per quarter circle: polygon areas within ~1e-4 of the circles'


def k(r: float) -> float:
    return float(default_kernel()(np.array([float(r)]))[0])


def circle_segment_integral(r: float, a: float, b: float) -> float:
    """Integral of sqrt(r^2 - u^2) du from a to b."""

    def prim(u: float) -> float:
        return (u * math.sqrt(r * r - u * u) + r * r * math.asin(u / r)) / 2

    return prim(b) - prim(a)


@pytest.fixture(scope="module")
def model() -> DepositionModel:
    """Point values (no near-source averaging), isotropic, no range."""
    return DepositionModel(default_kernel(), receptor_radius_m=0.0)


@pytest.fixture(scope="module")
def square() -> dict[str, gpd.GeoDataFrame]:
    """Area A = [0, 1000]^2 with a 500 m zone; its sensitive habitat the square [400, 600]^2
    (plus a corner of not-sensitive habitat, KDW 2400); farms (kg NH3/yr):

    ====  ============  =====  =====================  ==========================
    farm  position      NH3    to A's edge / habitat  in: area_edge habitat_edge
    ====  ============  =====  =====================  ==========================
    F1    (1200, 500)    6000  200 / 600              yes / no
    F2    (1050, 500)    4000   50 / 450              yes / yes
    F3    (2000, 500)   50000 1000 / 1400             no / no
    F4    (500, 700)     2000  inside A / 100         (inside the area)
    F5    (5000, 5000)   1000  far                    no / no
    ====  ============  =====  =====================  ==========================

    TA Luft x_min = sqrt(F Q): 2021 (F = 60000): F1 600 (d = 600, not below: out), F2 489.9
    (in), F3 1732.1 (in); 2002 (F = 41668): F1 500.0, F2 408.3 (out), F3 1443.4 (in).
    Parcels: P1 = [1000, 1200] x [0, 1000] (20 ha, east of A), P2 = [100, 300]^2 inside A.
    One receptor (4 ha of habitat) at the habitat's centre (500, 500).
    """
    areas = gpd.GeoDataFrame(
        {
            "site_code": ["A"],
            "name": ["Area A"],
            "nitrogen_sensitive": [True],
            "zone_width_m": [500.0],
        },
        geometry=[shapely.box(0, 0, 1000, 1000)],
        crs=RD,
    )
    habitat = gpd.GeoDataFrame(
        {
            "site_code": ["A", "A"],
            "habitat_code": ["H4030", "H9999"],
            "kdw_mol_ha": [1000.0, 2400.0],
        },
        geometry=[shapely.box(400, 400, 600, 600), shapely.box(0, 0, 100, 100)],
        crs=RD,
    )
    xy = [(1200, 500), (1050, 500), (2000, 500), (500, 700), (5000, 5000)]
    farms = gpd.GeoDataFrame(
        {
            "farm_id": [f"F{i}" for i in range(1, 6)],
            "emission_kg_nh3": [6000.0, 4000.0, 50000.0, 2000.0, 1000.0],
        },
        geometry=[shapely.Point(x, y) for x, y in xy],
        crs=RD,
    )
    parcels = gpd.GeoDataFrame(
        {"parcel_id": ["P1", "P2"], "category": ["Grasland", "Bouwland"]},
        geometry=[shapely.box(1000, 0, 1200, 1000), shapely.box(100, 100, 300, 300)],
        crs=RD,
    )
    receptors = gpd.GeoDataFrame(
        {"receptor_id": ["R1"], "site_code": ["A"], "habitat_ha": [4.0]},
        geometry=[shapely.Point(500, 500)],
        crs=RD,
    )
    return {
        "areas": areas,
        "habitat": habitat,
        "farms": farms,
        "parcels": parcels,
        "receptors": receptors,
    }


@pytest.fixture(scope="module")
def table(square, model) -> pd.DataFrame:
    s = square
    return compare_zone_bases(
        s["areas"], s["habitat"], s["farms"], s["parcels"], s["receptors"], model, quad_segs=QUAD
    ).set_index(["variant", "site_code"])


def test_ta_luft_distance_is_the_square_root_rule() -> None:
    p = load_parameters().ta_luft
    assert (p.f_m2_yr_per_mg, p.f_2002_m2_yr_per_mg) == (60000.0, 41668.0)
    # 1 Mg/yr: sqrt(60000) = 244.95 m and sqrt(41668) = 204.13 m; 6 Mg/yr at F = 60000: 600 m
    got = ta_luft_distance_m(np.array([1000.0, 6000.0, 0.0]), p.f_m2_yr_per_mg)
    np.testing.assert_allclose(got, [math.sqrt(60000.0), 600.0, 0.0], rtol=1e-15)
    assert ta_luft_distance_m([1000.0], p.f_2002_m2_yr_per_mg)[0] == pytest.approx(
        204.1274, abs=1e-4
    )
    with pytest.raises(InputError, match="emission_kg_nh3"):
        ta_luft_distance_m([-1.0], 60000.0)


def test_columns_and_rows(table) -> None:
    assert list(table.reset_index().columns) == ZONE_VARIANT_COLUMNS
    assert list(table.index) == [(v, c) for v in ZONE_BASES for c in ("A", "ALL")]
    assert table.loc[("area_edge", "A"), "width_m"] == 500.0
    assert np.isnan(table.loc[("ta_luft", "A"), "width_m"])
    # only the sensitive habitat square counts: 4 ha
    assert table["sensitive_habitat_ha"].to_numpy() == pytest.approx(4.0)


def test_farms_per_basis(table) -> None:
    farms = table.xs("A", level="site_code")["farms"].to_dict()
    assert farms == {"area_edge": 2, "habitat_edge": 1, "ta_luft": 2, "ta_luft_2002": 1}
    nh3 = table.xs("A", level="site_code")["emission_kg_nh3"].to_dict()
    assert nh3 == {
        "area_edge": 10000.0,
        "habitat_edge": 4000.0,
        "ta_luft": 54000.0,
        "ta_luft_2002": 50000.0,
    }
    # F4 lies inside the area: no zone farm, but its cut counts as inside ("in en rondom")
    cut_inside = table.xs("A", level="site_code")["farms_cut_inside"].to_dict()
    assert cut_inside == {"area_edge": 3, "habitat_edge": 2, "ta_luft": 3, "ta_luft_2002": 2}
    # one area: the national row is the area's (the face layer's dissolve may move 1 ulp)
    for col in ("farms", "emission_kg_nh3", "zone_ha", "farmland_ha"):
        np.testing.assert_allclose(
            table.xs("ALL", level="site_code")[col],
            table.xs("A", level="site_code")[col],
            rtol=1e-14,
        )


def test_zone_hectares(table) -> None:
    ring = (4 * 1000 * 500 + math.pi * 500**2) / 1e4  # buffer(square, 500) - square
    assert table.loc[("area_edge", "A"), "zone_ha"] == pytest.approx(ring, rel=1e-4)
    # buffer(habitat square of 200 m, 500) reaches 100 m beyond each side of A: four caps of
    # 100 x 200 m plus two circle segments each (corner arcs of radius 500 from x = 400 to 500)
    cap = 100 * 200 + 2 * circle_segment_integral(500, 400, 500)
    assert table.loc[("habitat_edge", "A"), "zone_ha"] == pytest.approx(4 * cap / 1e4, rel=1e-3)
    # TA Luft 2021: F3's disc (r = sqrt(3e6)) holds F2's; outside A it is the disc minus the
    # part of A within r of (2000, 500): 2 * int_0^500 sqrt(r^2 - v^2) dv - 1000 * 1000
    r = math.sqrt(60000 * 50.0)
    in_a = 2 * circle_segment_integral(r, 0, 500) - 1000 * 1000
    assert table.loc[("ta_luft", "A"), "zone_ha"] == pytest.approx(
        (math.pi * r * r - in_a) / 1e4, rel=1e-3
    )


def test_farmland(table) -> None:
    land = table.xs("A", level="site_code")["farmland_ha"]
    assert land["area_edge"] == pytest.approx(20.0, abs=1e-6)  # P1 wholly in the ring; P2 in A
    cap = 100 * 200 + 2 * circle_segment_integral(500, 400, 500)  # the east cap lies in P1
    assert land["habitat_edge"] == pytest.approx(cap / 1e4, rel=1e-3)
    assert land["ta_luft"] == pytest.approx(20.0, abs=1e-6)  # P1 within 1118 m < r of F3
    assert land["ta_luft_2002"] == pytest.approx(20.0, abs=1e-6)


def test_effectiveness_by_membership(table) -> None:
    e = {
        "F1": (6000.0, 700.0),
        "F2": (4000.0, 550.0),
        "F3": (50000.0, 1500.0),
        "F4": (2000.0, 200.0),
        "F5": (1000.0, math.hypot(4500, 4500)),
    }

    def per_kg(ids: list[str]) -> float:
        return 4.0 * sum(e[i][0] * k(e[i][1]) for i in ids) / sum(e[i][0] for i in ids)

    groups = {
        "area_edge": ["F1", "F2", "F4"],
        "habitat_edge": ["F2", "F4"],
        "ta_luft": ["F2", "F3", "F4"],
        "ta_luft_2002": ["F3", "F4"],
    }
    for variant, inside in groups.items():
        outside = [f for f in e if f not in inside]
        row = table.loc[(variant, "A")]
        assert row["per_kg_inside_sum_mol"] == pytest.approx(per_kg(inside), rel=REL)
        assert row["per_kg_outside_sum_mol"] == pytest.approx(per_kg(outside), rel=REL)
        assert row["ratio_inside_outside"] == pytest.approx(
            per_kg(inside) / per_kg(outside), rel=3 * REL
        )


def test_include_inner_false_and_errors(square, model) -> None:
    s = square
    t = compare_zone_bases(
        s["areas"],
        s["habitat"],
        s["farms"],
        s["parcels"],
        s["receptors"],
        model,
        variants=("habitat_edge",),
        include_inner=False,
        quad_segs=QUAD,
    ).set_index("site_code")
    assert t.loc["A", "farms_cut_inside"] == 1  # F2 only: F4 inside the area is outside
    with pytest.raises(ConfigError, match="choose from"):
        compare_zone_bases(
            s["areas"],
            s["habitat"],
            s["farms"],
            s["parcels"],
            s["receptors"],
            model,
            variants=("ring",),
        )
    with pytest.raises(InputError, match="zone_width_m"):
        compare_zone_bases(
            s["areas"].drop(columns="zone_width_m"),
            s["habitat"],
            s["farms"],
            s["parcels"],
            s["receptors"],
            model,
        )


def test_an_area_without_sensitive_habitat_has_no_habitat_zone(square, model) -> None:
    s = square
    habitat = s["habitat"].assign(kdw_mol_ha=2400.0)
    t = compare_zone_bases(
        s["areas"], habitat, s["farms"], s["parcels"], s["receptors"], model, quad_segs=QUAD
    ).set_index(["variant", "site_code"])
    for v in ("habitat_edge", "ta_luft", "ta_luft_2002"):
        assert t.loc[(v, "A"), ["zone_ha", "farmland_ha", "farms"]].tolist() == [0.0, 0.0, 0]
    assert t.loc[("area_edge", "A"), "farms"] == 2


# -- the sample: the letter's basis equals the zones and overlay stages -----------------------
@pytest.fixture(scope="module")
def sample_tables(sample_overlay):
    from n2kzones.effectiveness import zone_effectiveness
    from n2kzones.io.readers import read_layer
    from n2kzones.stages.catalogue import OutputFolder
    from n2kzones.stages.common import model_from_config
    from n2kzones.stages.deposition import run_deposition
    from n2kzones.summary import area_summary, land_by_zone

    cfg = sample_overlay
    run_deposition(cfg)
    out = OutputFolder(cfg.output_dir)
    areas, farms, rec = (gpd.read_parquet(p) for p in (out.areas, out.farms, out.receptors))
    by_area, national = gpd.read_parquet(out.zones_by_area), gpd.read_parquet(out.zones)
    pieces = gpd.read_parquet(out.parcel_pieces)
    summary = area_summary(by_area, national, land_by_zone(pieces), farms, cfg.params)
    model = model_from_config(cfg)
    kw = {"crs": cfg.project.crs, "params": cfg.params, "base_dir": cfg.base_dir}
    habitat, _ = read_layer("habitats", cfg.inputs.habitats, **kw)
    parcels, _ = read_layer("parcels", cfg.inputs.parcels, **kw)
    table = compare_zone_bases(
        areas,
        habitat,
        farms,
        parcels,
        rec,
        model,
        params=cfg.params,
        include_inner=cfg.zones.include_inner,
        quad_segs=cfg.quad_segs,
        cut_pct=cfg.effectiveness_cut_pct,
    )
    eff = zone_effectiveness(areas, farms, rec, model, cut_pct=cfg.effectiveness_cut_pct)
    return table, summary, eff


def test_area_edge_reproduces_the_stages_on_the_sample(sample_tables) -> None:
    table, summary, eff = sample_tables
    mine = table[table["variant"] == "area_edge"].set_index("site_code")
    ring = summary[summary["part"] == "ring"]
    per_area = ring[ring["site_code"] != "ALL"].set_index("site_code")
    assert sorted(mine.index[:-1]) == sorted(per_area.index)
    idx = per_area.index
    np.testing.assert_array_equal(mine.loc[idx, "zone_ha"], per_area["zone_ha"])
    np.testing.assert_array_equal(mine.loc[idx, "farmland_ha"], per_area["parcels_ha"])
    np.testing.assert_array_equal(mine.loc[idx, "farms"], per_area["farms"])
    np.testing.assert_array_equal(mine.loc[idx, "width_m"], per_area["width_m"])
    np.testing.assert_allclose(
        mine.loc[idx, "emission_kg_nh3"], per_area["emission_kg_nh3"], rtol=1e-13
    )
    nat = ring[ring["site_code"] == "ALL"]  # one row per width: every face once
    assert mine.loc["ALL", "zone_ha"] == pytest.approx(nat["zone_ha"].sum(), rel=1e-13)
    assert mine.loc["ALL", "farmland_ha"] == pytest.approx(nat["parcels_ha"].sum(), rel=1e-13)
    assert mine.loc["ALL", "farms"] == nat["farms"].sum()
    assert mine.loc["ALL", "emission_kg_nh3"] == pytest.approx(
        nat["emission_kg_nh3"].sum(), rel=1e-13
    )
    # the effect of a kg cut inside vs outside: the scenario stage's zone effectiveness
    e = eff.set_index("site_code").reindex(mine.index)
    for col in ("per_kg_inside_sum_mol", "per_kg_outside_sum_mol", "ratio_inside_outside"):
        np.testing.assert_array_equal(mine[col].to_numpy(), e[col].to_numpy())
    np.testing.assert_array_equal(mine["farms_cut_inside"].to_numpy(), e["farms_inside"].to_numpy())


def test_variants_on_the_sample_are_consistent(sample_tables) -> None:
    table = sample_tables[0].set_index(["variant", "site_code"])
    area, hab = table.xs("area_edge", level="variant"), table.xs("habitat_edge", level="variant")
    # the habitat lies in its area, so its zone lies in the area's ring
    assert (hab["zone_ha"] <= area["zone_ha"] + 1e-9).all()
    assert (hab["farms"] <= area["farms"]).all()
    # a larger F reaches farther: TA Luft 2021 catches every farm TA Luft 2002 catches
    new, old = table.xs("ta_luft", level="variant"), table.xs("ta_luft_2002", level="variant")
    assert (new["farms"] >= old["farms"]).all() and (new["zone_ha"] >= old["zone_ha"] - 1e-9).all()
    assert (table["farms"] > 0).groupby(level="variant").any().all()


def test_habitat_without_site_code_belongs_to_the_area_it_lies_in(square) -> None:
    from n2kzones.zone_variants import sensitive_habitat_by_area

    s = square
    loose = s["habitat"].drop(columns="site_code")
    # a second sensitive polygon straddling A's east edge: only its part inside A counts
    extra = gpd.GeoDataFrame(
        {"habitat_code": ["H4030"], "kdw_mol_ha": [1000.0]},
        geometry=[shapely.box(900, 0, 1100, 100)],
        crs=RD,
    )
    hab = sensitive_habitat_by_area(
        s["areas"], pd.concat([loose, extra], ignore_index=True), 2400.0
    )
    assert hab.index.tolist() == ["A"]
    assert hab["A"].area == pytest.approx(200 * 200 + 100 * 100)
    coded = sensitive_habitat_by_area(s["areas"], s["habitat"], 2400.0)
    assert coded["A"].equals(shapely.box(400, 400, 600, 600))
