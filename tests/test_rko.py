"""RKO (rekenkundige ondergrens): exact per-source maxima, the threshold sweep, the stage."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from n2kzones.config import LayerInput
from n2kzones.deposition import RadialKernel, default_kernel, deposition_at_points, load_wind_rose
from n2kzones.deposition.maxima import brute_force_max, max_contribution
from n2kzones.io.readers import read_layer
from n2kzones.io.writers import read_table
from n2kzones.params import load_parameters
from n2kzones.rko import (
    NO_AREA,
    AreaGroups,
    _receptor_stats,
    _source_counts,
    projects_rko,
    range_labels,
    rko_sweep,
    threshold_buckets,
)
from n2kzones.stages.common import receptor_radius_m as receptor_radius_from_config

RD = "EPSG:28992"


# -- known answers ------------------------------------------------------------------------------
def _inverse_square(c: float = 1.0e4) -> RadialKernel:
    """K(r) = c / r^2 mol N/ha/yr per kg NH3/yr: log-log interpolation of it is exact."""
    d = 10.0 * 2.0 ** np.arange(16)
    return RadialKernel(d, c / d**2)


@pytest.fixture
def line() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Receptors at x = 1, 2, 3 km on a line; source A (10 kg) at 0, B (30 kg) at -1 km.

    With K = 1e4 / r^2: A's largest contribution is 10 * 1e4 / 1000^2 = 0.1 mol/ha/yr,
    B's 30 * 1e4 / 2000^2 = 0.075, both on receptor R1.
    """
    rec = gpd.GeoDataFrame(
        {
            "receptor_id": ["R1", "R2", "R3"],
            "site_code": ["X", "X", "Y"],
            "habitat_ha": [0.5, 1.0, 1.0],
            "kdw_mol_ha": [500.0, 500.0, 500.0],
            # R1: overloaded by 0.05, R2: by 0.05, R3: near overload (KDW - 70) by 0.01
            "total_mol_ha": [500.05, 500.05, 430.01],
        },
        geometry=gpd.points_from_xy([1000.0, 2000.0, 3000.0], [0.0, 0.0, 0.0]),
        crs=RD,
    )
    src = gpd.GeoDataFrame(
        {"farm_id": ["A", "B"], "emission_kg_nh3": [10.0, 30.0]},
        geometry=gpd.points_from_xy([0.0, -1000.0], [0.0, 0.0]),
        crs=RD,
    )
    return src, rec


def test_two_sources_by_hand(line) -> None:
    src, rec = line
    k = _inverse_square()
    mx, idx = max_contribution(
        src.geometry.x,
        src.geometry.y,
        src["emission_kg_nh3"],
        rec.geometry.x,
        rec.geometry.y,
        k,
        receptor_radius_m=0.0,
    )
    assert mx == pytest.approx([0.1, 0.075], rel=1e-4)  # lookup table accuracy
    assert idx.tolist() == [0, 0]
    # a 1500 m range: B has no receptor within it
    mx_c, idx_c = max_contribution(
        src.geometry.x,
        src.geometry.y,
        src["emission_kg_nh3"],
        rec.geometry.x,
        rec.geometry.y,
        k,
        receptor_radius_m=0.0,
        cutoff_m=1500.0,
    )
    assert mx_c[0] == mx[0] and mx_c[1] == 0.0 and idx_c.tolist() == [0, -1]

    res = rko_sweep(
        src, rec, k, thresholds_mol_ha=[0.2, 0.08], ranges_m=[1500.0], receptor_radius_m=0.0
    )
    nat = res.national.set_index(["range", "threshold_mol_ha"])
    none = nat.loc["none"]
    assert none["n_sources_below"].tolist() == [1, 2]  # 0.08: only B; 0.2: both
    assert none["emission_below_kg_nh3"].tolist() == [30.0, 40.0]
    b = 30 * 1e4 / np.array([2000.0, 3000.0, 4000.0]) ** 2  # B on R1..R3
    a = 10 * 1e4 / np.array([1000.0, 2000.0, 3000.0]) ** 2
    np.testing.assert_allclose(res.sums["none"][0], b, rtol=1e-4)
    np.testing.assert_allclose(res.sums["none"][1], a + b, rtol=1e-4)
    assert none.loc[0.08, "max_sum_mol_ha"] == pytest.approx(b[0], rel=1e-4)
    assert none.loc[0.08, "mean_sum_mol_ha"] == pytest.approx(
        np.average(b, weights=[0.5, 1, 1]), rel=1e-4
    )
    # tipped: R1 (0.5 ha) at 0.08 (0.075 > 0.05); R1 and R2 at 0.2 (0.175, 0.058 > 0.05)
    assert none.loc[0.08, "ha_tipped_overload"] == 0.5
    assert none.loc[0.2, "ha_tipped_overload"] == 1.5
    # near overload of R3 (0.01 above KDW - 70): B alone gives 0.019 there
    assert none.loc[0.08, "ha_tipped_near_overload"] == 1.0
    # both sources belong to area X (their maximum is on R1)
    by = res.by_area.set_index(["range", "threshold_mol_ha", "site_code"])
    assert by.loc[("none", 0.2, "X"), "n_sources"] == 2
    assert by.loc[("none", 0.2, "Y"), "n_sources"] == 0
    # with the range: B is below everything (max 0, no area), A keeps its maximum
    ranged = nat.loc["1500"]
    assert ranged["n_sources_below"].tolist() == [1, 2]
    assert by.loc[("1500", 0.08, "(none)"), "n_sources_below"] == 1
    np.testing.assert_allclose(res.sums["1500"][0], 0.0)  # B reaches no receptor within 1.5 km
    np.testing.assert_allclose(res.sums["1500"][1], [a[0], 0.0, 0.0], rtol=1e-4)
    assert res.sources.set_index("farm_id").loc["B", "site_code_1500"] == "(none)"


def test_buckets_and_labels() -> None:
    t = np.array([0.01, 0.05, 1.0])
    assert threshold_buckets(np.array([0.0, 0.01, 0.03, 0.05, 2.0]), t).tolist() == [0, 1, 1, 2, 3]
    assert range_labels([25000.0, None, 25000]) == [("none", None), ("25000", 25000.0)]


# -- sample region ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample(sample_overlay):
    from n2kzones.stages.deposition import run_deposition

    cfg = sample_overlay
    rec_path = cfg.output_dir / "stages" / "receptors.parquet"
    if not rec_path.exists():
        run_deposition(cfg)
    farms = gpd.read_parquet(cfg.output_dir / "stages" / "farms.parquet")
    rec = gpd.read_parquet(rec_path)
    return cfg, farms, rec


@pytest.mark.parametrize(
    ("rose", "cutoff"),
    [(None, None), (None, 25_000.0), ("ops_2005_region5", None), ("ops_2005_region5", 5_000.0)],
)
def test_pruned_max_equals_brute_force_for_every_source(sample, rose, cutoff) -> None:
    cfg, farms, rec = sample
    k = default_kernel()
    wr = None if rose is None else load_wind_rose(rose)
    radius = receptor_radius_from_config(cfg)
    args = (
        farms.geometry.x.to_numpy(),
        farms.geometry.y.to_numpy(),
        farms["emission_kg_nh3"].to_numpy(),
        rec.geometry.x.to_numpy(),
        rec.geometry.y.to_numpy(),
        k,
    )
    mx, idx = max_contribution(*args, wind_rose=wr, cutoff_m=cutoff, receptor_radius_m=radius)
    bf, bidx = brute_force_max(*args, wind_rose=wr, cutoff_m=cutoff, receptor_radius_m=radius)
    np.testing.assert_allclose(mx, bf, rtol=1e-12, atol=0)
    pos = bf > 0
    assert pos.sum() > len(farms) * (0.9 if cutoff is None else 0.5)
    # the receptor found carries the maximum (ties aside, it is the brute-force argmax)
    assert (idx[pos] == bidx[pos]).mean() > 0.99
    if cutoff is not None:
        assert (idx[~pos] == -1).all()


def test_sub_threshold_sum_is_the_sum_of_the_single_sources(sample) -> None:
    cfg, farms, rec = sample
    k = default_kernel()
    radius = receptor_radius_from_config(cfg)
    res = rko_sweep(
        farms, rec, k, thresholds_mol_ha=[0.05, 0.5], ranges_m=[], receptor_radius_m=radius
    )
    src = res.sources.set_index("farm_id")
    rec_sorted = rec.sort_values("receptor_id")
    rx, ry = rec_sorted.geometry.x.to_numpy(), rec_sorted.geometry.y.to_numpy()
    f = farms.assign(farm_id=farms["farm_id"].astype(str)).set_index("farm_id")
    below = src.index[src["max_none_mol_ha"] < 0.05]
    assert 10 < len(below) < len(src)
    single = np.zeros((len(below), rx.size))
    for i, fid in enumerate(below):
        p = f.loc[fid]
        single[i] = deposition_at_points(
            [p.geometry.x],
            [p.geometry.y],
            [p["emission_kg_nh3"]],
            rx,
            ry,
            k,
            receptor_radius_m=radius,
        )
    # every single source stays below the threshold everywhere, and together they add up
    assert single.max() < 0.05
    np.testing.assert_allclose(res.sums["none"][0], single.sum(axis=0), rtol=1e-9, atol=1e-15)


def test_sweep_monotone_row_order_independent_and_range_below_no_range(sample) -> None:
    cfg, farms, rec = sample
    k = default_kernel()
    kw = {
        "thresholds_mol_ha": cfg.rko.thresholds_mol_ha,
        "ranges_m": [25_000.0, None, 25_000.0],
        "receptor_radius_m": receptor_radius_from_config(cfg),
    }
    res = rko_sweep(farms, rec, k, **kw)
    nat = res.national
    assert sorted(nat["range"].unique()) == ["25000", "none"]
    assert len(nat) == 2 * len(cfg.rko.thresholds_mol_ha)
    cols = [
        "n_sources_below",
        "emission_below_kg_nh3",
        "max_sum_mol_ha",
        "mean_sum_mol_ha",
        "p95_sum_mol_ha",
        "ha_sum_above_1mol",
        "ha_tipped_overload",
        "ha_tipped_near_overload",
    ]
    for _, g in nat.groupby("range"):
        g = g.sort_values("threshold_mol_ha")
        assert (g[cols].diff().dropna() >= 0).all().all()
    for label in ("none", "25000"):
        assert (np.diff(res.sums[label], axis=0) >= 0).all()
    # the 25 km range: sources' maxima can only drop, the sums can only drop (isotropic kernel)
    assert (res.sources["max_25000_mol_ha"] <= res.sources["max_none_mol_ha"]).all()
    assert (res.sums["25000"] <= res.sums["none"] * (1 + 1e-12) + 1e-15).all()
    a, b = (nat.loc[nat["range"] == r].reset_index(drop=True) for r in ("25000", "none"))
    assert (a["n_sources_below"] >= b["n_sources_below"]).all()
    assert (a["max_sum_mol_ha"] <= b["max_sum_mol_ha"] * (1 + 1e-12)).all()
    # per area: source counts add up to the national ones
    by = res.by_area
    sums = by.groupby(["range", "threshold_mol_ha"])[
        ["n_sources_below", "emission_below_kg_nh3"]
    ].sum()
    nat_i = nat.set_index(["range", "threshold_mol_ha"])
    np.testing.assert_array_equal(sums["n_sources_below"], nat_i.loc[sums.index, "n_sources_below"])
    np.testing.assert_allclose(
        sums["emission_below_kg_nh3"], nat_i.loc[sums.index, "emission_below_kg_nh3"], rtol=1e-12
    )

    # shuffled rows give identical results
    rng = np.random.default_rng(7)
    res2 = rko_sweep(
        farms.iloc[rng.permutation(len(farms))], rec.iloc[rng.permutation(len(rec))], k, **kw
    )
    pd.testing.assert_frame_equal(res.national, res2.national, check_exact=True)
    pd.testing.assert_frame_equal(res.by_area, res2.by_area, check_exact=True)
    pd.testing.assert_frame_equal(res.sources, res2.sources, check_exact=True)
    for label in res.sums:
        assert np.array_equal(res.sums[label], res2.sums[label])


def test_stage_outputs_and_determinism(sample) -> None:
    from n2kzones.stages.rko import run_rko

    cfg, farms, rec = sample
    out = run_rko(cfg)
    root = cfg.output_dir
    sweep = read_table(root / "rko_sweep.csv")
    assert len(sweep) == 2 * len(cfg.rko.thresholds_mol_ha)
    for col in (
        "n_sources_below",
        "emission_below_kg_nh3",
        "share_sources_below",
        "share_emission_below",
        "max_sum_mol_ha",
        "mean_sum_mol_ha",
        "p95_sum_mol_ha",
        "ha_sum_above_1mol",
        "ha_tipped_overload",
        "ha_tipped_near_overload",
    ):
        assert col in sweep
    by = read_table(root / "rko_by_area.csv")
    assert set(by["site_code"]) <= set(rec["site_code"]) | {"(none)"}
    layer = gpd.read_file(root / "rko_sources.gpkg", layer="sources")
    assert len(layer) == len(farms) and layer.crs.to_epsg() == 28992
    for c in (
        "farm_id",
        "emission_kg_nh3",
        "max_none_mol_ha",
        "max_25000_mol_ha",
        "receptor_none",
        "site_code_none",
        "below_0.05_none",
        "below_0.05_25000",
    ):
        assert c in layer
    assert (layer["below_0.05_none"] == (layer["max_none_mol_ha"] < 0.05)).all()
    assert (root / "manifest_rko.json").exists()
    first = {n: (root / n).read_bytes() for n in ("rko_sweep.csv", "rko_by_area.csv")}
    run_rko(cfg)
    assert {n: (root / n).read_bytes() for n in first} == first
    assert set(out) >= {"rko_sweep", "rko_by_area", "rko_sources"}


@pytest.mark.real_data
def test_imaer_gml_projects(sample, real_dir: Path) -> None:
    cfg, farms, rec = sample
    path = real_dir / "veehouderijen-igo-n2000-zones" / "calcinput_20250215_230657.gml"
    projects, report = read_layer(
        "farms",
        LayerInput(path=path, preset="imaer_gml", on_duplicate_id="suffix"),
        crs=RD,
        params=load_parameters(),
    )
    assert len(projects) == 1138
    # receptors: the sample's habitat, moved under the projects so that some are close
    shift = np.array(projects.total_bounds[:2]) - np.array(rec.total_bounds[:2])
    rec2 = rec.set_geometry(rec.geometry.translate(*shift))
    t = [0.005, 0.05, 1.0]
    per, cum = projects_rko(
        projects, rec2, default_kernel(), thresholds_mol_ha=t, ranges_m=[25_000.0]
    )
    assert len(per) == 1138 and len(cum) == 6
    for label in ("none", "25000"):
        for thr in t:
            assert (per[f"permit_free_{label}_{thr:g}"] == (per[f"max_{label}_mol_ha"] < thr)).all()
    for _, g in cum.groupby("range"):
        assert g["n_permit_free"].is_monotonic_increasing
        assert g["ha_tipped_overload"].is_monotonic_increasing
    assert cum["n_permit_free"].max() > 0


@pytest.mark.parametrize("adds", [False, True])
def test_area_rows_equal_the_rows_of_boolean_masks(adds) -> None:
    """AreaGroups gives bitwise the rows of a boolean mask over every source and receptor per
    area (the same values summed in the same order), incl. an area without sources and the
    sources of no area."""
    rng = np.random.default_rng(7)
    n_src, n_rec = 3000, 2000
    site = rng.choice(["A", "B", "C", "D"], size=n_rec).astype(object)
    src_area = rng.choice(["A", "B", "C", NO_AREA], size=n_src).astype(object)  # D: no source
    e = rng.lognormal(5.0, 2.0, n_src)
    ha = rng.uniform(0.0, 1.0, n_rec)
    total = rng.uniform(500.0, 2500.0, n_rec)
    kdw = rng.uniform(400.0, 2400.0, n_rec)
    sub = rng.exponential(2.0, n_rec)
    below = rng.random(n_src) < 0.4
    codes = [*np.unique(site), NO_AREA]
    index = {c: np.flatnonzero(site == c) for c in np.unique(site)}
    groups = AreaGroups.of(codes, src_area, index, e, ha, total, kdw)
    head = {"threshold_mol_ha": 1.0}
    got = groups.rows(head, below, sub, 70.0, adds=adds)
    want = []
    for code in codes:
        in_area = src_area == code
        ri = index.get(code, np.zeros(0, dtype=np.int64))
        want.append(
            {
                **head,
                "site_code": code,
                **_source_counts(
                    below & in_area, e * in_area, int(in_area.sum()), float(e[in_area].sum())
                ),
                "sensitive_ha": float(ha[ri].sum()),
                **_receptor_stats(sub[ri], ha[ri], total[ri], kdw[ri], 70.0, adds=adds),
            }
        )
    pd.testing.assert_frame_equal(pd.DataFrame(got), pd.DataFrame(want), check_exact=True)
    assert pd.DataFrame(got).set_index("site_code").loc["D", "n_sources"] == 0
