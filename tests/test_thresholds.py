"""Thresholds per area, relative thresholds and presets (issue 17 parts 1-2): hand-computable
cases, the search against a brute-force sweep on the sample, both engines, the stage."""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from n2kzones.config import config_from_dict
from n2kzones.deposition import RadialKernel
from n2kzones.deposition.model import DepositionModel
from n2kzones.errors import ConfigError, InputError
from n2kzones.params import load_threshold_presets, threshold_preset_names
from n2kzones.thresholds import (
    ThresholdBound,
    ThresholdRule,
    area_thresholds,
    range_candidates,
    relative_maxima,
    scope_mask,
    threshold_rules,
)

RD = "EPSG:28992"
IMPLEMENTATIONS = ("numba", "numpy")
AREAS = {"areas": {"path": "areas.gpkg"}}


def _inverse_square(c: float = 1.0e4) -> RadialKernel:
    """K(r) = c / r^2 mol N/ha/yr per kg NH3/yr: log-log interpolation of it is exact."""
    d = 10.0 * 2.0 ** np.arange(16)
    return RadialKernel(d, c / d**2)


def _model(implementation: str = "numba") -> DepositionModel:
    return DepositionModel(_inverse_square(), receptor_radius_m=0.0, implementation=implementation)


@pytest.fixture
def line() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Two sources and three receptors on a line, K = 1e4 / r^2 (point values).

    Sources: A (10 kg NH3/yr) at x = 0, B (30 kg) at x = -1000 m. Receptors R1, R2 (area X)
    at x = 1000, 2000 m and R3 (area Y) at 3000 m; KDW 500, 500, 50; total deposition 400,
    600, 60 (R2 and R3 overloaded, R1 not).

    Deposition d = e * 1e4 / r^2 (mol N/ha/yr)::

                R1 (r)        R2            R3
        A   0.1 (1 km)    0.025 (2 km)  0.011111 (3 km)
        B   0.075 (2 km)  0.033333      0.01875 (4 km)

    Area X: m_AX = 0.1, m_BX = 0.075, so B enters first (for T > 0.075), then A (T > 0.1).
    * bound 0.08 mol/ha/yr, all receptors: B alone puts 0.075 on R1 (fits), A + B 0.175 (breaks)
      -> T*_X = m_AX = 0.1, binding R1, sum 0.075 there, 0.175 with A; 1 permit-free farm
      (B, 30 kg). Area Y: A + B put 0.011111 + 0.01875 = 0.029861 <= 0.08 on R3: every
      farm fits (T* = inf).
    * bound 0.015: X breaks with B alone (0.075 > 0.015) -> T*_X = m_BX = 0.075, no
      permit-free farm; Y: A alone 0.011111 fits, A + B 0.029861 breaks -> T*_Y = m_BY = 0.01875.
    * bound 0.08, overloaded only: in X only R2 counts, A + B = 0.058333 <= 0.08 -> inf.
    * bound 0.0002 x KDW (0.1 on R1, R2; 0.01 on R3), all receptors: X: 0.175 > 0.1 on R1
      -> T*_X = 0.1; Y: A alone 0.011111 > 0.01 -> T*_Y = m_AY = 0.011111.

    Relative maxima (d / KDW): A: 0.1/500 = 2e-4 (R1), 0.011111/50 = 2.2222e-4 (R3) -> 2.2222e-4
    on R3; B: 1.5e-4 (R1), 0.01875/50 = 3.75e-4 (R3) -> 3.75e-4 on R3. A rule of 0.03 % of the
    KDW frees A only (10 kg; it deposits 0.1, 0.025, 0.011111); 0.09 mol/ha/yr absolute frees B
    only (its maximum 0.075 < 0.09 < 0.1).
    """
    rec = gpd.GeoDataFrame(
        {
            "receptor_id": ["R1", "R2", "R3"],
            "site_code": ["X", "X", "Y"],
            "habitat_ha": [1.0, 1.0, 1.0],
            "kdw_mol_ha": [500.0, 500.0, 50.0],
            "total_mol_ha": [400.0, 600.0, 60.0],
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


REL = 1e-4  # the lookup table's accuracy for the inverse-square kernel


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_area_thresholds_by_hand(line, implementation: str) -> None:
    src, rec = line
    m = _model(implementation)
    t = area_thresholds(
        src, rec, m, bound=ThresholdBound("mol_ha", 0.08), scope="sensitive"
    ).set_index("site_code")
    x, y = t.loc["X"], t.loc["Y"]
    assert x["area_threshold_mol_ha"] == pytest.approx(0.1, rel=REL) and not x["all_sources_fit"]
    assert x["binding_receptor_id"] == "R1"
    assert x["binding_sum_mol_ha"] == pytest.approx(0.075, rel=REL)
    assert x["binding_sum_next_mol_ha"] == pytest.approx(0.175, rel=REL)
    assert x["bound_mol_ha"] == 0.08
    assert (x["permit_free_sources"], x["permit_free_nh3_kg"], x["sources_considered"]) == (
        1,
        30.0,
        2,
    )
    assert x["receptors_in_scope"] == 2
    assert np.isinf(y["area_threshold_mol_ha"]) and y["all_sources_fit"]
    assert y["binding_sum_mol_ha"] == pytest.approx(0.011111 + 0.01875, rel=REL)
    assert (y["permit_free_sources"], y["permit_free_nh3_kg"]) == (2, 40.0)

    t = area_thresholds(
        src, rec, m, bound=ThresholdBound("mol_ha", 0.015), scope="sensitive"
    ).set_index("site_code")
    assert t.loc["X", "area_threshold_mol_ha"] == pytest.approx(0.075, rel=REL)
    assert t.loc["X", "permit_free_sources"] == 0
    assert t.loc["Y", "area_threshold_mol_ha"] == pytest.approx(0.01875, rel=REL)
    assert t.loc["Y", "binding_sum_next_mol_ha"] == pytest.approx(0.011111 + 0.01875, rel=REL)

    t = area_thresholds(
        src, rec, m, bound=ThresholdBound("mol_ha", 0.08), scope="overloaded"
    ).set_index("site_code")
    assert t["all_sources_fit"].all() and (t["receptors_in_scope"] == 1).all()
    assert t.loc["X", "binding_receptor_id"] == "R2"

    t = area_thresholds(
        src, rec, m, bound=ThresholdBound("kdw_share", 0.0002), scope="sensitive"
    ).set_index("site_code")
    assert t.loc["X", "area_threshold_mol_ha"] == pytest.approx(0.1, rel=REL)
    assert t.loc["X", "bound_mol_ha"] == pytest.approx(0.1)
    assert t.loc["Y", "area_threshold_mol_ha"] == pytest.approx(0.011111, rel=REL)
    assert t.loc["Y", "bound_mol_ha"] == pytest.approx(0.01)


def test_ties_enter_together_and_no_receptor_in_scope() -> None:
    """Two farms of 10 kg at 1 km on either side of receptor R1 (area X) have the same maximum
    0.1 mol/ha/yr. With a bound of 0.15 one of them would fit (0.1) but both (0.2) do not;
    the rule is ``max < T``, so no threshold lets one in without the other: T* = 0.1 with
    no permit-free farm. Area Z has no overloaded receptor: every farm fits."""
    rec = gpd.GeoDataFrame(
        {
            "receptor_id": ["R1", "R9"],
            "site_code": ["X", "Z"],
            "habitat_ha": [1.0, 1.0],
            "kdw_mol_ha": [500.0, 500.0],
            "total_mol_ha": [600.0, 100.0],
        },
        geometry=gpd.points_from_xy([1000.0, 50_000.0], [0.0, 0.0]),
        crs=RD,
    )
    src = gpd.GeoDataFrame(
        {"farm_id": ["A", "B"], "emission_kg_nh3": [10.0, 10.0]},
        geometry=gpd.points_from_xy([0.0, 2000.0], [0.0, 0.0]),
        crs=RD,
    )
    t = area_thresholds(src, rec, _model(), bound=ThresholdBound("mol_ha", 0.15)).set_index(
        "site_code"
    )
    assert t.loc["X", "area_threshold_mol_ha"] == pytest.approx(0.1, rel=REL)
    assert t.loc["X", "permit_free_sources"] == 0
    assert t.loc["X", "binding_sum_mol_ha"] == 0.0
    assert t.loc["X", "binding_sum_next_mol_ha"] == pytest.approx(0.2, rel=REL)
    assert np.isinf(t.loc["Z", "area_threshold_mol_ha"]) and t.loc["Z", "receptors_in_scope"] == 0
    assert pd.isna(t.loc["Z", "binding_receptor_id"])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_relative_maxima_and_rules_by_hand(line, implementation: str) -> None:
    src, rec = line
    m = _model(implementation)
    rel = relative_maxima(src, rec, m).set_index("farm_id")
    assert rel.loc["A", "max_kdw_ratio"] == pytest.approx(0.011111 / 50, rel=REL)
    assert rel.loc["B", "max_kdw_ratio"] == pytest.approx(0.01875 / 50, rel=REL)
    assert list(rel["receptor_kdw_ratio"]) == ["R3", "R3"]
    res = threshold_rules(
        src,
        rec,
        m,
        rules=[
            ThresholdRule("abs", "absolute_mol_ha", 0.09),
            ThresholdRule("rel", "pct_kdw", 0.03),
        ],
    )
    nat = res.national.set_index("rule")
    assert (
        nat.loc["abs", "n_sources_below"] == 1 and nat.loc["abs", "emission_below_kg_nh3"] == 30.0
    )
    assert (
        nat.loc["rel", "n_sources_below"] == 1 and nat.loc["rel", "emission_below_kg_nh3"] == 10.0
    )
    np.testing.assert_allclose(res.sums["abs"], [0.075, 0.033333, 0.01875], rtol=REL)
    np.testing.assert_allclose(res.sums["rel"], [0.1, 0.025, 0.011111], rtol=REL)
    assert nat.loc["rel", "max_sum_mol_ha"] == pytest.approx(0.1, rel=REL)
    assert np.isnan(nat.loc["rel", "threshold_mol_ha"]) and nat.loc["rel", "pct_kdw"] == 0.03
    # both farms' largest contribution is on R1 (area X)
    by = res.by_area.set_index(["rule", "site_code"])
    assert by.loc[("abs", "X"), "n_sources"] == 2 and by.loc[("abs", "Y"), "n_sources"] == 0


def test_bad_arguments() -> None:
    with pytest.raises(InputError):
        ThresholdBound("mol", 1.0)
    with pytest.raises(InputError):
        ThresholdBound("mol_ha", -1.0)
    with pytest.raises(InputError):
        ThresholdRule("x", "pct_kdw", 0.0)
    with pytest.raises(InputError, match="total_mol_ha"):
        scope_mask(pd.DataFrame({"kdw_mol_ha": [1.0]}), "overloaded")


# -- presets and config ---------------------------------------------------------------------------
def test_presets_table_has_a_source_for_every_row() -> None:
    t = load_threshold_presets()
    assert {
        "nl_today_0.005",
        "nl_pas_0.05",
        "nl_cabinet_1",
        "de_ta_luft_0.3kg",
        "de_lai_3pct_kdw",
        "uk_ea_1pct_kdw",
        "dk_cat1_0.2kg",
        "dk_cat2_1.0kg",
    } <= set(t["name"])
    assert (t["source"].str.len() > 10).all() and t["url"].str.match(r"https?://").all()
    assert set(t["verified"]) <= {"yes", "no"}
    assert (t.loc[t["verified"] == "yes", "quote"].str.len() > 20).all()
    assert (t["note"].str.len() > 20).all()  # every row says what was and was not checked
    kg = t["unit"] == "kg N/ha/yr"
    np.testing.assert_allclose(
        t.loc[kg, "value_mol_ha"], t.loc[kg, "value"] * 1000 / 14.007, rtol=1e-5
    )
    assert t.set_index("name").loc["de_ta_luft_0.3kg", "value_mol_ha"] == pytest.approx(
        21.42, abs=0.01
    )
    assert t.set_index("name").loc["uk_ea_1pct_kdw", "value_pct_kdw"] == 1.0
    assert threshold_preset_names() == list(t["name"])


def test_verified_presets_quote_their_number() -> None:
    # A row marked verified must carry the number in its quote, as the source writes it
    # (decimal comma in Dutch, German and Danish texts, point in English ones).
    t = load_threshold_presets()
    for row in t[t["verified"] == "yes"].itertuples():
        point = f"{row.value:g}"
        forms = {point, point.replace(".", ","), f"{row.value:.1f}".replace(".", ",")}
        assert any(f in row.quote for f in forms), (row.name, row.quote)
    # the Danish rows give each limit with its condition: 0.2 / 0.4 / 0.7 kg on kategori 1, 1.0 on 2
    dk = t[t["jurisdiction"] == "DK"].set_index("name")
    assert dk["value"].to_dict() == {
        "dk_cat1_0.2kg": 0.2, "dk_cat1_0.4kg": 0.4, "dk_cat1_0.7kg": 0.7, "dk_cat2_1.0kg": 1.0
    }
    assert dk.loc["dk_cat2_1.0kg", "article"].startswith("kategori 2-natur (outside Natura 2000")


def test_policy_config_defaults_and_unknown_preset() -> None:
    cfg = config_from_dict({"inputs": AREAS})
    assert cfg.policy.presets == threshold_preset_names()
    assert cfg.policy.range_m == 25_000.0 and cfg.policy.relative_pct_kdw == [1.0, 3.0]
    assert config_from_dict({"inputs": AREAS, "policy": {"range_m": "none"}}).policy.range_m is None
    with pytest.raises(ConfigError, match="known presets: nl_today_0.005"):
        config_from_dict({"inputs": AREAS, "policy": {"presets": ["nl_today_0.005", "fr_1"]}})


# -- sample region ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample(sample_overlay):
    from n2kzones.stages.common import model_from_config
    from n2kzones.stages.deposition import run_deposition

    cfg = sample_overlay
    rec_path = cfg.output_dir / "stages" / "receptors.parquet"
    if not rec_path.exists():
        run_deposition(cfg)
    farms = gpd.read_parquet(cfg.output_dir / "stages" / "farms.parquet")
    rec = gpd.read_parquet(rec_path)
    return cfg, farms, rec, model_from_config(cfg).with_cutoff(cfg.policy.range_m)


def _brute_force(farms, rec, model, bound: ThresholdBound, scope: str) -> dict[str, float]:
    """T* per area by a sweep over every candidate T = every distinct m_iA, with the sums of the
    single sources' depositions (one row per source) summed directly at each candidate."""
    sx, sy = farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy()
    e = farms["emission_kg_nh3"].to_numpy(float)
    rx, ry = rec.geometry.x.to_numpy(), rec.geometry.y.to_numpy()
    site = rec["site_code"].astype(str).to_numpy()
    bound_r = bound.per_receptor(rec["kdw_mol_ha"].to_numpy(float), len(rec))
    keep = scope_mask(rec, scope)
    out = {}
    for code in np.unique(site):
        ra = np.flatnonzero(site == code)
        m, _ = model.max_contribution(sx, sy, e, rx[ra], ry[ra])
        rs = ra[keep[ra]]
        reach = np.flatnonzero(m > 0)
        if rs.size == 0 or reach.size == 0:
            out[code] = np.inf
            continue
        single = model.at_points(
            sx[reach],
            sy[reach],
            e[reach],
            rx[rs],
            ry[rs],
            groups=np.arange(reach.size),
            n_groups=reach.size,
        )
        mr = m[reach]
        best = np.inf
        for cand in np.unique(mr):  # ascending: the first candidate whose next sources break
            above = single[mr <= cand].sum(
                axis=0
            )  # the sum once the sources with max == cand enter
            if (above > bound_r[rs]).any():
                assert (single[mr < cand].sum(axis=0) <= bound_r[rs]).all()
                best = float(cand)
                break
        out[code] = best
    return out


@pytest.mark.parametrize(
    ("bound", "scope"),
    [
        (ThresholdBound("mol_ha", 1.0), "overloaded"),
        (ThresholdBound("kdw_share", 0.003), "sensitive"),
    ],
)
def test_search_equals_brute_force_sweep_for_every_area(sample, bound, scope) -> None:
    cfg, farms, rec, model = sample
    res = area_thresholds(farms, rec, model, bound=bound, scope=scope).set_index("site_code")
    bf = _brute_force(farms, rec, model, bound, scope)
    assert set(res.index) == set(bf)
    found = {c: float(res.loc[c, "area_threshold_mol_ha"]) for c in bf}
    assert found == bf
    assert np.isfinite(list(bf.values())).sum() >= 2  # the bound binds somewhere
    # two buckets per pass (many refinement passes) give the same answer
    two = area_thresholds(farms, rec, model, bound=bound, scope=scope, buckets=2).set_index(
        "site_code"
    )
    pd.testing.assert_series_equal(two["area_threshold_mol_ha"], res["area_threshold_mol_ha"])
    assert (two["deposition_passes"] >= res["deposition_passes"]).all()
    assert (two["permit_free_sources"] == res["permit_free_sources"]).all()


def test_numba_and_numpy_give_identical_results(sample) -> None:
    cfg, farms, rec, model = sample
    bound = ThresholdBound("mol_ha", 0.5)
    a = area_thresholds(farms, rec, model, bound=bound, scope="sensitive")
    b = area_thresholds(
        farms, rec, replace(model, implementation="numpy"), bound=bound, scope="sensitive"
    )
    exact = [
        "site_code",
        "area_threshold_mol_ha",
        "all_sources_fit",
        "binding_receptor_id",
        "permit_free_sources",
        "permit_free_nh3_kg",
        "sources_considered",
        "receptors_in_scope",
    ]
    pd.testing.assert_frame_equal(a[exact], b[exact])
    np.testing.assert_allclose(a["binding_sum_mol_ha"], b["binding_sum_mol_ha"], rtol=1e-9)
    rules = [ThresholdRule("abs", "absolute_mol_ha", 0.05), ThresholdRule("rel", "pct_kdw", 0.01)]
    ra = threshold_rules(farms, rec, model, rules=rules)
    rb = threshold_rules(farms, rec, replace(model, implementation="numpy"), rules=rules)
    pd.testing.assert_frame_equal(
        ra.national[["rule", "n_sources_below", "emission_below_kg_nh3"]],
        rb.national[["rule", "n_sources_below", "emission_below_kg_nh3"]],
    )
    for k in ra.sums:
        np.testing.assert_allclose(ra.sums[k], rb.sums[k], rtol=1e-9, atol=1e-15)


def test_relative_maxima_equal_the_brute_force_maximum(sample) -> None:
    cfg, farms, rec, model = sample
    few = farms.sort_values("farm_id").iloc[::25]
    rel = relative_maxima(few, rec, model).set_index("farm_id")
    rx, ry = rec.geometry.x.to_numpy(), rec.geometry.y.to_numpy()
    kdw = rec["kdw_mol_ha"].to_numpy(float)
    single = model.at_points(
        few.geometry.x.to_numpy(),
        few.geometry.y.to_numpy(),
        few["emission_kg_nh3"].to_numpy(float),
        rx,
        ry,
        groups=np.arange(len(few)),
        n_groups=len(few),
    )
    ratio = single / kdw
    expected = ratio.max(axis=1)
    got = rel.loc[few["farm_id"].astype(str), "max_kdw_ratio"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert (expected > 0).sum() > len(few) // 2
    ids = rec["receptor_id"].to_numpy()[ratio.argmax(axis=1)]
    pos = expected > 0
    assert (
        rel.loc[few["farm_id"].astype(str), "receptor_kdw_ratio"].to_numpy()[pos] == ids[pos]
    ).mean() > 0.95


def test_stage_writes_both_tables_and_the_report_section(sample, tmp_path) -> None:
    from n2kzones.io.writers import read_csv
    from n2kzones.render.report import render_report
    from n2kzones.stages.policy import NATIONAL, policy_rules, run_policy

    cfg, farms, rec, _ = sample
    tables = run_policy(cfg)
    root = cfg.output_dir
    area = read_csv(root / "policy_area_thresholds.csv", dtype={"site_code": str})
    assert set(area["site_code"]) == set(rec["site_code"].astype(str))
    assert {
        "area_threshold_mol_ha",
        "binding_receptor_id",
        "permit_free_sources",
        "permit_free_nh3_kg",
    } <= set(area)
    rules = read_csv(root / "policy_thresholds.csv", dtype={"site_code": str})
    names = [r.name for r in policy_rules(cfg.policy)]
    nat = rules.loc[rules["site_code"] == NATIONAL]
    assert list(nat["rule"]) == names and "pct_kdw_1" in names and "de_ta_luft_0.3kg" in names
    assert (nat["source"].str.len() > 5).all()
    # a larger absolute threshold frees at least as many farms
    absolute = nat.loc[nat["kind"] == "absolute_mol_ha"].sort_values("threshold_mol_ha")
    assert (absolute["n_sources_below"].diff().dropna() >= 0).all()
    assert (root / "manifest_policy.json").exists()
    first = {
        n: (root / n).read_bytes() for n in ("policy_area_thresholds.csv", "policy_thresholds.csv")
    }
    run_policy(cfg)
    assert {n: (root / n).read_bytes() for n in first} == first
    # the report's section: area names (not codes), the distribution figure, the sources
    names_by_code = {"X1": "Area One"}
    thr = tables["policy_area_thresholds"].assign(
        name=[
            names_by_code.get(c, f"Name of {c}")
            for c in tables["policy_area_thresholds"]["site_code"]
        ]
    )
    html = render_report(
        tmp_path,
        tables={"policy_area_thresholds": thr, "policy_thresholds": tables["policy_thresholds"]},
        links=[],
        map_pages=[],
        data_date="2026-12-01",
        config_name="x.toml",
        lang="en",
    ).read_text("utf-8")
    assert "Thresholds per area and thresholds elsewhere" in html
    assert f"Name of {thr['site_code'].iloc[0]}" in html
    assert "TA Luft 2021" in html and (tmp_path / "policy_area_thresholds.png").exists()


def test_the_csv_rounds_a_threshold_per_area_down() -> None:
    """The CSV shows T* with 3 significant digits rounded down: a rounded-up threshold could
    let the breaking sources in (any T > T* breaks the bound), a smaller one frees a subset."""
    from n2kzones.io.writers import csv_rounding, round_for_people

    assert csv_rounding("area_threshold_mol_ha") == ("floorsig", 3)
    assert csv_rounding("threshold_mol_ha") == ("sig", 6)  # the RKO thresholds as given
    df = pd.DataFrame({"area_threshold_mol_ha": [0.0164376, 0.01649, 21.4179, np.inf, 0.1]})
    assert list(round_for_people(df)["area_threshold_mol_ha"]) == [0.0164, 0.0164, 21.4, np.inf, 0.1]


def test_range_candidates_keep_every_maximum_bitwise(sample) -> None:
    """Per area, the maxima of the candidate sources alone are bitwise those of a call with
    every source, and every source left out has maximum 0 (beyond the range)."""
    cfg, farms, rec, model = sample
    sx, sy = farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy()
    e = farms["emission_kg_nh3"].to_numpy(float)
    rx, ry = rec.geometry.x.to_numpy(), rec.geometry.y.to_numpy()
    site = rec["site_code"].astype(str).to_numpy()
    fewer = 0
    for code in np.unique(site):
        ra = np.flatnonzero(site == code)
        cand = range_candidates(sx, sy, rx[ra], ry[ra], model.cutoff_m)
        full, _ = model.max_contribution(sx, sy, e, rx[ra], ry[ra])
        part, _ = model.max_contribution(sx[cand], sy[cand], e[cand], rx[ra], ry[ra])
        np.testing.assert_array_equal(part, full[cand])
        left_out = np.setdiff1d(np.arange(sx.size), cand)
        assert (full[left_out] == 0).all()
        fewer += left_out.size > 0
    assert fewer >= 1  # the range leaves sources out somewhere
    # no range: every source; the bounding-box extremes are always kept
    assert range_candidates(sx, sy, rx, ry, None).tolist() == list(range(sx.size))
    far = range_candidates(sx, sy, rx[:1], ry[:1], 1.0)
    extremes = {int(np.argmin(sx)), int(np.argmax(sx)), int(np.argmin(sy)), int(np.argmax(sy))}
    assert extremes <= set(far.tolist())


def test_range_candidates_by_hand() -> None:
    """Receptors in the box [0, 10] x [0, 10] m, range 100 m: a source 100 m right of the box is
    in, one 102 m above it out (unless it is an extreme of the sources' box)."""
    rx, ry = np.array([0.0, 10.0]), np.array([0.0, 10.0])
    sx = np.array([5.0, 110.0, 5.0, 5.0, -500.0])
    sy = np.array([5.0, 5.0, 112.0, -80.0, 0.0])
    # source 4 is the leftmost (an extreme); 2 is the topmost (an extreme) -> both kept
    assert range_candidates(sx, sy, rx, ry, 100.0).tolist() == [0, 1, 2, 3, 4]
    sx2, sy2 = np.r_[sx, 5.0, 5.0], np.r_[sy, 300.0, 5.0]  # 5 now the topmost, 2 out
    assert range_candidates(sx2, sy2, rx, ry, 100.0).tolist() == [0, 1, 3, 4, 5, 6]
