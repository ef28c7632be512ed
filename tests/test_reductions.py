"""Required reduction per area (issue 17 part 3): hand-computable cases, and on the sample the
required cut applied as a scenario meets its target, is the smallest that does, and both
engines agree."""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from n2kzones.config import Scenario
from n2kzones.deposition.kernel import RadialKernel
from n2kzones.deposition.model import DepositionModel
from n2kzones.effectiveness import in_area_zone, in_area_zones
from n2kzones.errors import ConfigError, InputError
from n2kzones.reductions import (
    REDUCTION_COLUMNS,
    STATUSES,
    ReductionTarget,
    required_reduction,
    zone_baseline,
    zone_members,
)
from n2kzones.scenarios import apply_cut, scenario_cut

RD = "EPSG:28992"
REL = 1e-4  # kernel lookup-table accuracy against the exact 1e4 / r^2


def _inverse_square(c: float = 1.0e4) -> RadialKernel:
    """K(r) = c / r^2 mol N/ha/yr per kg NH3/yr: log-log interpolation of it is exact."""
    d = 10.0 * 2.0 ** np.arange(16)
    return RadialKernel(d, c / d**2)


@pytest.fixture(scope="module")
def model() -> DepositionModel:
    """1e4 / r^2, point values, a 400 m range (so each receptor sees one farm)."""
    return DepositionModel(_inverse_square(), cutoff_m=400.0, receptor_radius_m=0.0)


def _farms(xy, emission, area_codes) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "farm_id": [f"F{i}" for i in range(len(xy))],
            "emission_kg_nh3": np.asarray(emission, float),
            "area_codes": area_codes,
            "zone_key": [
                ";".join(f"{c}:500" for c in a.split(";")) if a else "" for a in area_codes
            ],
        },
        geometry=[shapely.Point(x, y) for x, y in xy],
        crs=RD,
    )


def _receptors(xy, site, ha, total, kdw) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "receptor_id": [f"R{i}" for i in range(len(xy))],
            "site_code": site,
            "habitat_ha": np.asarray(ha, float),
            "kdw_mol_ha": np.asarray(kdw, float),
            "total_mol_ha": np.asarray(total, float),
            "overload": np.asarray(total, float) > np.asarray(kdw, float),
        },
        geometry=[shapely.Point(x, y) for x, y in xy],
        crs=RD,
    )


@pytest.fixture(scope="module")
def two_three() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Two farms, three receptors, kernel 1e4 / r^2 with a 400 m range.

    F0 (0, 0), 1000 kg, in A's zone; F1 (1000, 0), 2000 kg, in the zones of A and B.
    R0 (100, 0) in A, 1 ha, total 1500, KDW 1000: sees F0 at 100 m (K = 1);
    R1 (1000, 200) in A, 3 ha, total 1300, KDW 1000: sees F1 at 200 m (K = 0.25);
    R2 (1000, -250) in B, 2 ha, total 1400, KDW 1000: sees F1 at 250 m (K = 0.16).
    (Every other pair is beyond 400 m.)

    Per percentage point of the zone farms' emission, u = 0.01 * E * K:
    A: u(R0) = 10 * 1 = 10, u(R1) = 20 * 0.25 = 5; B (F1 only): u(R2) = 20 * 0.16 = 3.2.
    Baseline 20 % of both farms: base = 20 u: R0 200, R1 100, R2 64; extra cut <= 80 pp.
    """
    farms = _farms([(0, 0), (1000, 0)], [1000.0, 2000.0], ["A", "A;B"])
    rec = _receptors(
        [(100, 0), (1000, 200), (1000, -250)],
        ["A", "A", "B"],
        [1.0, 3.0, 2.0],
        [1500.0, 1300.0, 1400.0],
        [1000.0] * 3,
    )
    return farms, rec


def _rows(out: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    return {(r.site_code, r.target): r for r in out.itertuples(index=False)}


def test_mean_reduction_by_hand(two_three, model) -> None:
    """Mean X = 400 mol N/ha/yr (from the current state, the baseline counts).

    A: mean_w(base) = (200 * 1 + 100 * 3) / 4 = 125, mean_w(u) = (10 * 1 + 5 * 3) / 4 = 6.25,
    p = (400 - 125) / 6.25 = 44 pp (64 in all), 0.44 * 3000 = 1320 kg extra; the mean goes
    from (1500 + 3 * 1300) / 4 = 1350 to 950.
    B: p = (400 - 64) / 3.2 = 105 > 80: out of reach; at 80 pp: 1400 - 64 - 256 = 1080.
    X = 100: A's baseline gives 125 >= 100, so p = 0.
    No baseline: A needs 400 / 6.25 = 64 pp.
    """
    farms, rec = two_three
    targets = [
        ReductionTarget("m400", "mean_reduction_mol_ha", 400),
        ReductionTarget("m100", "mean_reduction_mol_ha", 100),
    ]
    out = required_reduction(farms, rec, model, targets, baseline_pct=20.0)
    assert list(out.columns) == REDUCTION_COLUMNS
    assert list(zip(out["site_code"], out["target"], strict=True)) == [
        ("A", "m400"),
        ("A", "m100"),
        ("B", "m400"),
        ("B", "m100"),
    ]
    r = _rows(out)
    a = r["A", "m400"]
    assert a.status == "extra_needed" and a.reachable
    assert a.extra_pct_points == pytest.approx(
        44.0, rel=REL
    ) and a.total_pct_points == pytest.approx(64.0, rel=REL)
    assert a.nh3_cut_kg == pytest.approx(1320.0, rel=REL) and a.max_extra_pct_points == 80.0
    assert a.metric == "mean_deposition_mol_ha" and a.metric_before == 1350.0
    assert a.metric_after == pytest.approx(950.0, rel=1e-12)  # exactly X below: the closed form
    assert a.zone_farms == 2 and a.zone_emission_kg_nh3 == 3000.0 and a.binding_receptor_id is None
    b = r["B", "m400"]
    assert b.status == "out_of_reach" and not b.reachable
    assert np.isnan(b.extra_pct_points) and np.isnan(b.nh3_cut_kg) and np.isnan(b.total_pct_points)
    assert b.metric_after == pytest.approx(1080.0, rel=REL) and b.zone_farms == 1
    assert r["A", "m100"].status == "baseline_reaches" and r["A", "m100"].extra_pct_points == 0.0
    assert r["A", "m100"].metric_after == pytest.approx(1350.0 - 125.0, rel=REL)
    none = _rows(required_reduction(farms, rec, model, targets[:1]))
    assert none["A", "m400"].extra_pct_points == pytest.approx(64.0, rel=REL)
    assert none["A", "m400"].max_extra_pct_points == 100.0 and none["A", "m400"].baseline_pct == 0.0


def test_overloaded_share_by_hand(two_three, model) -> None:
    """Share Y of A's overloaded hectares (R0 1 ha, R1 3 ha: 4 ha) back to <= KDW.

    R0 is restored from p = (1500 - 200 - 1000) / 10 = 30 pp, R1 from (1300 - 100 - 1000) / 5 = 40.
    Y = 25 %: 1 ha, R0 (the smaller p) suffices: p = 30, R0 binding, 3 ha still overloaded.
    Y = 50 %: 2 ha: R0's 1 ha is short, R1 is needed: p = 40, nothing overloaded.
    B: R2 from (1400 - 64 - 1000) / 3.2 = 105 > 80: out of reach (0 % at 80 pp).
    """
    farms, rec = two_three
    targets = [
        ReductionTarget("s25", "overloaded_share_pct", 25),
        ReductionTarget("s50", "overloaded_share_pct", 50),
    ]
    r = _rows(required_reduction(farms, rec, model, targets, baseline_pct=20.0))
    s25, s50 = r["A", "s25"], r["A", "s50"]
    assert s25.extra_pct_points == pytest.approx(30.0, rel=REL) and s25.binding_receptor_id == "R0"
    assert s25.overloaded_ha_before == 4.0 and s25.overloaded_ha_after == 3.0
    assert (
        s25.metric == "restored_overloaded_pct"
        and s25.metric_before == 0.0
        and s25.metric_after == 25.0
    )
    assert s50.extra_pct_points == pytest.approx(40.0, rel=REL) and s50.binding_receptor_id == "R1"
    assert s50.overloaded_ha_after == 0.0 and s50.metric_after == 100.0
    assert s50.nh3_cut_kg == pytest.approx(1200.0, rel=REL)
    b = r["B", "s25"]
    assert b.status == "out_of_reach" and np.isnan(b.extra_pct_points)
    assert b.metric_after == 0.0 and b.overloaded_ha_after == 2.0


def test_max_exceedance_by_hand(two_three, model) -> None:
    """No hectare above KDW + Z.

    Z = 50: A: R0 needs (1500 - 200 - 1000 - 50) / 10 = 25, R1 (1300 - 100 - 1000 - 50) / 5 = 30:
    p = 30, R1 binding, the largest exceedance after it 50 (R0 at 0).
    Z = 150: A: max(150 / 10, 50 / 5) = 15, R0 binding; B: (336 - 150) / 3.2 = 58.125.
    Z = 50 in B: (336 - 50) / 3.2 = 89.375 > 80: out of reach, 80 left at 80 pp, R2 worst.
    Z = 600: A's largest exceedance now is 500: met now.
    """
    farms, rec = two_three
    targets = [ReductionTarget(f"z{z}", "max_exceedance_mol_ha", z) for z in (50, 150, 600)]
    r = _rows(required_reduction(farms, rec, model, targets, baseline_pct=20.0))
    assert r["A", "z50"].extra_pct_points == pytest.approx(30.0, rel=REL)
    assert r["A", "z50"].binding_receptor_id == "R1"
    assert r["A", "z50"].metric == "max_exceedance_mol_ha" and r["A", "z50"].metric_before == 500.0
    assert r["A", "z50"].metric_after == pytest.approx(50.0, rel=1e-9)
    assert r["A", "z150"].extra_pct_points == pytest.approx(15.0, rel=REL)
    assert r["A", "z150"].binding_receptor_id == "R0"
    assert r["B", "z150"].extra_pct_points == pytest.approx(58.125, rel=REL)
    b = r["B", "z50"]
    assert b.status == "out_of_reach" and not b.reachable and b.binding_receptor_id == "R2"
    assert b.metric_after == pytest.approx(80.0, rel=REL)
    assert r["A", "z600"].status == "met_now" and r["A", "z600"].extra_pct_points == 0.0


def test_per_farm_headroom_and_explicit_baseline(two_three, model) -> None:
    """A baseline of 50 % for F0 and 20 % for F1 leaves A at most 50 pp (F0), B 80 pp (F1).

    Mean X = 400 in A: base = (500 * 1 + 100 * 3) / 4 = 200, p = (400 - 200) / 6.25 = 32 <= 50.
    Max Z = 50 in A: R0 (1500 - 500 - 1000 - 50) / 10 = -5 (met), R1 30: p = 30.
    """
    farms, rec = two_three
    base = np.array([500.0, 400.0])
    targets = [
        ReductionTarget("m", "mean_reduction_mol_ha", 400),
        ReductionTarget("z", "max_exceedance_mol_ha", 50),
    ]
    r = _rows(required_reduction(farms, rec, model, targets, baseline_cut_kg=base))
    assert r["A", "m"].max_extra_pct_points == 50.0 and r["B", "m"].max_extra_pct_points == 80.0
    assert r["A", "m"].extra_pct_points == pytest.approx(32.0, rel=REL)
    assert r["A", "z"].extra_pct_points == pytest.approx(30.0, rel=REL)
    with pytest.raises(InputError, match="exceeds the farm's emission"):
        required_reduction(farms, rec, model, targets, baseline_cut_kg=np.array([1001.0, 0.0]))
    with pytest.raises(InputError, match="2 farms"):
        required_reduction(farms, rec, model, targets, baseline_cut_kg=np.array([1.0]))
    with pytest.raises(InputError, match=">= 0"):
        required_reduction(farms, rec, model, targets, baseline_cut_kg=np.array([-1.0, 0.0]))


def test_areas_without_zone_farms_or_overload_get_rows(two_three, model) -> None:
    """C (R3, overloaded, 1100 vs 1000) has no farm in its zone (and none within 400 m);
    D (R4, 900 vs 1000) is not overloaded. Both keep a row per target."""
    farms, rec = two_three
    extra = _receptors(
        [(5000, 5000), (9000, 9000)], ["C", "D"], [1.0, 1.0], [1100.0, 900.0], [1000.0, 1000.0]
    )
    extra["receptor_id"] = ["R3", "R4"]
    rec = pd.concat([rec, extra], ignore_index=True)
    targets = [
        ReductionTarget("m", "mean_reduction_mol_ha", 10),
        ReductionTarget("s", "overloaded_share_pct", 50),
        ReductionTarget("z", "max_exceedance_mol_ha", 0),
    ]
    out = required_reduction(farms, rec, model, targets, baseline_pct=20.0)
    assert len(out) == 4 * 3 and set(out["status"]) <= set(STATUSES)
    r = _rows(out)
    for t in "msz":
        c = r["C", t]
        assert c.status == "no_zone_farms" and not c.reachable and c.zone_farms == 0
        assert np.isnan(c.extra_pct_points)
    assert r["C", "m"].metric_after == 1100.0 and r["C", "z"].metric_after == 100.0
    assert r["D", "s"].status == "no_overloaded_habitat" and r["D", "s"].reachable
    assert r["D", "s"].extra_pct_points == 0.0 and np.isnan(r["D", "s"].metric_before)
    assert r["D", "z"].status == "met_now" and r["D", "m"].status == "no_zone_farms"
    # E, an area without receptors, gets rows when the areas are given; the others are unchanged
    areas = pd.DataFrame({"site_code": ["A", "B", "C", "D", "E"]})
    with_e = required_reduction(farms, rec, model, targets, baseline_pct=20.0, areas=areas)
    pd.testing.assert_frame_equal(
        with_e.loc[with_e["site_code"] != "E"].reset_index(drop=True), out
    )
    e = with_e.loc[with_e["site_code"] == "E"]
    assert len(e) == 3 and (e["status"] == "no_receptors").all() and not e["reachable"].any()
    assert (e["receptors"] == 0).all() and e["extra_pct_points"].isna().all()


def test_zone_baseline_is_the_scenario_cut(two_three, model) -> None:
    farms, rec = two_three
    cut, pct = zone_baseline(
        Scenario(name="z", kind="zone_reduction", reduction_pct=20), farms, rec, model
    )
    assert cut.tolist() == [200.0, 400.0] and pct == 20.0
    assert zone_baseline(None, farms, rec, model)[1] == 0.0
    with pytest.raises(ConfigError, match="zone_reduction"):
        zone_baseline(Scenario(name="b", kind="buyout", farm_ids=["F0"]), farms, rec, model)
    t = [ReductionTarget("m", "mean_reduction_mol_ha", 400)]
    pd.testing.assert_frame_equal(
        required_reduction(farms, rec, model, t, baseline_cut_kg=cut, baseline_pct=pct),
        required_reduction(farms, rec, model, t, baseline_pct=20.0),
    )


def test_class_aware_model_applied_as_scenario() -> None:
    """With the OPS class kernels (source heights, receptor land use, z0, NH3 background) the
    required cut of each kind, applied with apply_cut, meets its target within 1e-9."""
    from n2kzones.deposition import default_kernel
    from n2kzones.deposition.classes import KernelTable

    rng = np.random.default_rng(17)
    n_f, n_r = 30, 120
    fxy = [tuple(p) for p in rng.uniform(0, 6000, (n_f, 2))]
    codes = rng.choice(["A", "B", "A;B", ""], n_f).tolist()
    farms = _farms(fxy, rng.uniform(500, 20_000, n_f), codes)
    farms["source_height_m"] = rng.uniform(1.5, 12.0, n_f)
    rxy = [tuple(p) for p in rng.uniform(1000, 5000, (n_r, 2))]
    site = np.where(np.array([x for x, _ in rxy]) < 3000, "A", "B").tolist()
    kdw = rng.choice([500.0, 714.0, 1071.0], n_r)
    rec = _receptors(rxy, site, rng.uniform(0.2, 1.0, n_r), kdw + rng.uniform(-50, 400, n_r), kdw)
    rec["landuse"] = rng.choice(["grass", "deciduous_forest", "heath_other_nature"], n_r)
    rec["z0_m"] = rng.uniform(0.03, 1.5, n_r)
    rec["nh3_bg_ug_m3"] = rng.uniform(3.0, 15.0, n_r)
    model = DepositionModel(default_kernel(), classes=KernelTable.from_ops())
    targets = [
        ReductionTarget("m", "mean_reduction_mol_ha", 200.0),
        ReductionTarget("s", "overloaded_share_pct", 40.0),
        ReductionTarget("z", "max_exceedance_mol_ha", 250.0),
    ]
    out = required_reduction(farms, rec, model, targets, baseline_pct=10.0)
    base = np.where(farms["zone_key"] != "", farms["emission_kg_nh3"] * 0.1, 0.0)
    done = 0
    for row in out.loc[out["status"] == "extra_needed"].itertuples(index=False):
        t = next(x for x in targets if x.name == row.target)
        got = _measure(
            t.kind, _applied(farms, rec, model, base, row.site_code, row.extra_pct_points)
        )
        if t.kind == "max_exceedance_mol_ha":
            assert got == pytest.approx(t.value, rel=1e-9), row
        else:
            assert got >= t.value * (1 - 1e-9), row
        done += 1
    assert done == 6, out[["site_code", "target", "status"]]


def test_targets_are_checked() -> None:
    with pytest.raises(ConfigError, match="kind 'mean'"):
        ReductionTarget("x", "mean", 1.0)
    with pytest.raises(ConfigError, match="0-100"):
        ReductionTarget("x", "overloaded_share_pct", 120)
    with pytest.raises(ConfigError, match=">= 0"):
        ReductionTarget("x", "mean_reduction_mol_ha", -1)
    with pytest.raises(ConfigError, match="finite"):
        ReductionTarget("x", "max_exceedance_mol_ha", float("nan"))
    assert ReductionTarget("x", "max_exceedance_mol_ha", -70).value == -70.0


def test_duplicate_target_names_refused(two_three, model) -> None:
    farms, rec = two_three
    t = ReductionTarget("same", "mean_reduction_mol_ha", 1)
    with pytest.raises(ConfigError, match="unique"):
        required_reduction(farms, rec, model, [t, t])
    with pytest.raises(ConfigError, match="baseline_pct"):
        required_reduction(farms, rec, model, [t], baseline_pct=120)


# -- the sample region ---------------------------------------------------------------------------
#: Targets with reachable and out-of-reach areas on the sample.
SAMPLE_TARGETS = [
    ReductionTarget("mean_30", "mean_reduction_mol_ha", 30.0),
    ReductionTarget("mean_60", "mean_reduction_mol_ha", 60.0),
    ReductionTarget("share_5", "overloaded_share_pct", 5.0),
    ReductionTarget("max_800", "max_exceedance_mol_ha", 800.0),
    ReductionTarget("max_1100", "max_exceedance_mol_ha", 1100.0),
]


@pytest.fixture(scope="module")
def sample(sample_overlay):
    """The sample's farms and receptors, the model, the zones_20pp cut and the result."""
    from n2kzones.selection import sort_inputs
    from n2kzones.stages.catalogue import OutputFolder
    from n2kzones.stages.common import model_from_config
    from n2kzones.stages.deposition import run_deposition

    cfg = sample_overlay
    run_deposition(cfg)
    out = OutputFolder(cfg.output_dir)
    _, farms, rec = sort_inputs(None, gpd.read_parquet(out.farms), gpd.read_parquet(out.receptors))
    model = model_from_config(cfg)
    sc = next(s for s in cfg.scenarios if s.name == "zones_20pp")
    base = scenario_cut(sc, farms, rec, model)
    result = required_reduction(
        farms, rec, model, SAMPLE_TARGETS, baseline_cut_kg=base, baseline_pct=sc.reduction_pct
    )
    return farms, rec, model, base, result


def _measure(kind: str, res: pd.DataFrame) -> float:
    """The target's metric from an apply_cut result of one area (relative to the current state)."""
    w = res["habitat_ha"].to_numpy(float)
    if kind == "mean_reduction_mol_ha":
        return float(
            np.average(res["total_before_mol_ha"], weights=w)
            - np.average(res["total_mol_ha"], weights=w)
        )
    if kind == "max_exceedance_mol_ha":
        return float((res["total_mol_ha"] - res["kdw_mol_ha"]).max())
    over = res["overload_before"].to_numpy(bool)
    ok = (res["total_mol_ha"] <= res["kdw_mol_ha"] * (1 + 1e-9)).to_numpy()
    return 100.0 * float(w[over & ok].sum()) / float(w[over].sum())


def _applied(farms, rec, model, base, code, p):
    cut = base + np.where(
        in_area_zone(farms["area_codes"], code),
        farms["emission_kg_nh3"].to_numpy(float) * p / 100,
        0.0,
    )
    res = apply_cut(cut, farms, rec, model)
    return res.loc[res["site_code"] == code]


def test_sample_required_cut_applied_as_scenario_meets_target(sample) -> None:
    """For every reachable area and target: baseline + p/100 x the zone farms' emission, run
    through apply_cut (one deposition pass of the whole cut), meets the target within 1e-9
    relative; a cut 0.1 % smaller does not (p is the smallest)."""
    farms, rec, model, base, result = sample
    assert set(result["site_code"]) == set(rec["site_code"])
    kinds = {t.name: t for t in SAMPLE_TARGETS}
    checked = {
        k: 0 for k in ("mean_reduction_mol_ha", "overloaded_share_pct", "max_exceedance_mol_ha")
    }
    for row in result.itertuples(index=False):
        t = kinds[row.target]
        if not row.reachable or row.extra_pct_points == 0:
            continue
        got = _measure(
            t.kind, _applied(farms, rec, model, base, row.site_code, row.extra_pct_points)
        )
        less = _measure(
            t.kind, _applied(farms, rec, model, base, row.site_code, row.extra_pct_points * 0.999)
        )
        if t.kind == "max_exceedance_mol_ha":
            assert got <= t.value * (1 + 1e-9) and got == pytest.approx(t.value, rel=1e-9), row
            assert less > t.value * (1 + 1e-9), row
        else:
            assert got >= t.value * (1 - 1e-9), row
            assert less < t.value, row
            if t.kind == "mean_reduction_mol_ha":
                assert got == pytest.approx(t.value, rel=1e-9), row
        checked[t.kind] += 1
    assert all(n > 0 for n in checked.values()), checked
    # the out-of-reach rows: the zone alone at its maximum cut falls short, and says by how much
    out = result.loc[~result["reachable"]]
    assert len(out) > 0 and (out["status"] == "out_of_reach").all()
    for row in out.itertuples(index=False):
        t = kinds[row.target]
        got_max = _measure(
            t.kind, _applied(farms, rec, model, base, row.site_code, row.max_extra_pct_points)
        )
        if t.kind == "mean_reduction_mol_ha":
            assert got_max < t.value and row.metric_before - row.metric_after == pytest.approx(
                got_max, rel=1e-9
            )
        elif t.kind == "max_exceedance_mol_ha":
            assert got_max > t.value and row.metric_after == pytest.approx(got_max, rel=1e-9)
        else:
            assert got_max < t.value
    assert set(result["status"]) >= {"extra_needed", "out_of_reach", "baseline_reaches"}


def test_zone_members_is_in_area_zone(sample, two_three) -> None:
    """One pass over the farms gives per area exactly in_area_zone's farms (the hand case's
    F1 in A and B; every sample area, incl. farms in two zones)."""
    for farms in (two_three[0], sample[0]):
        members = zone_members(farms["area_codes"])
        codes = {c for s in farms["area_codes"].fillna("") for c in s.split(";") if c}
        assert set(members) == codes
        for code in codes:
            assert members[code] == np.flatnonzero(in_area_zone(farms["area_codes"], code)).tolist()
    assert zone_members(two_three[0]["area_codes"]) == {"A": [0, 1], "B": [1]}
    for farms in (two_three[0], sample[0]):
        codes = {c for s in farms["area_codes"].fillna("") for c in s.split(";")}
        codes = sorted(codes | {"", "none"})
        masks = in_area_zones(farms["area_codes"], codes)
        assert list(masks) == codes
        for code in codes:  # "" (farms outside every zone) and a code of no zone included
            np.testing.assert_array_equal(masks[code], in_area_zone(farms["area_codes"], code))


def test_sample_engines_and_row_order(sample) -> None:
    """numpy reference engine = numba engine (within their 1e-9 agreement; same statuses and
    binding receptors), and shuffled input rows give the identical frame."""
    farms, rec, model, base, result = sample
    ref = required_reduction(
        farms,
        rec,
        replace(model, implementation="numpy"),
        SAMPLE_TARGETS,
        baseline_cut_kg=base,
        baseline_pct=20.0,
    )
    exact = [
        "site_code",
        "target",
        "status",
        "reachable",
        "zone_farms",
        "receptors",
        "binding_receptor_id",
        "metric",
    ]
    pd.testing.assert_frame_equal(ref[exact], result[exact])
    num = [c for c in REDUCTION_COLUMNS if c not in exact and c != "kind"]
    pd.testing.assert_frame_equal(ref[num], result[num], check_exact=False, rtol=1e-9, atol=1e-9)
    order = np.random.default_rng(5).permutation(len(farms))
    shuffled = required_reduction(
        farms.iloc[order],
        rec.sample(frac=1, random_state=6),
        model,
        SAMPLE_TARGETS,
        baseline_cut_kg=base[order],
        baseline_pct=20.0,
    )
    pd.testing.assert_frame_equal(shuffled, result, check_exact=True)
