"""Benchmark the policy stage's analyses against the RKO sweep on the national-sized sample.

Receptors: 1 ha hexagons over the sensitive habitat of the national-sized sample
(``benchmarks/_common.py``, generated once under ``data/raw/national``, or ``--data``), with
the background deposition as ``total_mol_ha`` (as ``bench_rko.py``); sources: its livestock
farms. With the ``[policy]`` defaults (bound 1 mol N/ha/yr on overloaded receptors, 25 km
range) it times, in one run and after a warm-up:

* the RKO sweep (:func:`n2kzones.rko.rko_sweep`, the config's thresholds, the 25 km range);
* the area-threshold search (:func:`n2kzones.thresholds.area_thresholds`) and
* the threshold rules (:func:`n2kzones.thresholds.threshold_rules`: the presets and the
  relative thresholds of ``[policy]``),

and prints each time with its ratio to the sweep (the check: the policy stage's analyses in
under a minute on 2 cores), and the distribution of the thresholds per area.

With ``--stages OUT`` it times the two *stages* instead, as the pipeline runs them: it brings
the national-sized sample's pipeline up to the scenario stage in ``OUT`` (not timed; reused
when current), then runs the ``rko`` stage and the ``policy`` stage (all four analyses:
thresholds per area, threshold rules, required reductions for two targets on top of a 20 pp
zone baseline, and with ``--variants`` the three zone bases) once each, and prints their wall
times, the ratio and the headline figures of the policy tables.

Run: ``.venv/bin/python benchmarks/bench_policy.py [--data data/raw/national] [--stages OUT]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    national_config,
    national_sample,
    peak_rss_gb,
    quiet_logging,
    sample_receptors,
    with_policy,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder of a national-sized sample (default: generate)",
    )
    ap.add_argument(
        "--stages",
        type=Path,
        default=None,
        help="time the rko and policy stages in this output folder instead of the analyses",
    )
    ap.add_argument(
        "--variants",
        action="store_true",
        help="with --stages: the policy stage also compares the zone bases ([policy] zone_variants)",
    )
    args = ap.parse_args()
    quiet_logging()
    if args.stages is not None:
        time_stages(args.stages, args.data, variants=args.variants)
        return

    import geopandas as gpd
    import numba
    import rasterio

    from n2kzones.config import PolicySettings, RkoSettings
    from n2kzones.deposition import default_kernel
    from n2kzones.deposition.model import DepositionModel
    from n2kzones.deposition.receptors import hexagon_side_m
    from n2kzones.params import load_parameters
    from n2kzones.rko import rko_sweep
    from n2kzones.stages.policy import policy_rules
    from n2kzones.thresholds import ThresholdBound, area_thresholds, threshold_rules

    root = args.data or national_sample()
    params = load_parameters()
    policy = PolicySettings()
    t = time.perf_counter()
    rec = sample_receptors(root, params)
    rx, ry = rec.geometry.x.to_numpy(), rec.geometry.y.to_numpy()
    with rasterio.open(root / "background_deposition.tif") as src:
        rec["total_mol_ha"] = np.array(
            [v[0] for v in src.sample(np.column_stack([rx, ry]))], dtype=float
        )
    farms = gpd.read_file(root / "veehouderijen.gpkg")
    farms["farm_id"] = farms["farm_id"].astype(str)
    overloaded = int((rec["total_mol_ha"] > rec["kdw_mol_ha"]).sum())
    print(
        f"receptors: {len(rec):,} ({overloaded:,} overloaded; built in {time.perf_counter() - t:.1f} s); "
        f"farms: {len(farms):,}; areas: {rec['site_code'].nunique()}; numba threads: {numba.get_num_threads()}"
    )

    k = default_kernel()
    # the disc of the 1 ha receptor hexagon, as n2kzones.stages.common.receptor_radius_m
    radius = float(hexagon_side_m(1.0) * np.sqrt(3 * np.sqrt(3) / (2 * np.pi)))
    model = DepositionModel(k, None, policy.range_m, "numba", radius)
    area_thresholds(
        farms.iloc[:20], rec.iloc[:2000], model, bound=ThresholdBound("mol_ha", 1.0)
    )  # warm-up (JIT)

    t = time.perf_counter()
    rko_sweep(
        farms,
        rec,
        k,
        thresholds_mol_ha=RkoSettings().thresholds_mol_ha,
        ranges_m=[policy.range_m],
        receptor_radius_m=radius,
        near_margin_mol_ha=params.kdw.near_overload_margin_mol_ha,
    )
    t_sweep = time.perf_counter() - t
    print(
        f"RKO sweep (ranges none and {policy.range_m:g} m, {len(RkoSettings().thresholds_mol_ha)} thresholds): {t_sweep:.1f} s"
    )

    t = time.perf_counter()
    area = area_thresholds(
        farms,
        rec,
        model,
        bound=ThresholdBound(policy.bound_kind, policy.bound_mol_ha),
        scope=policy.scope,
    )
    t_area = time.perf_counter() - t
    print(
        f"area thresholds ({policy.bound_mol_ha:g} {policy.bound_kind} on {policy.scope} receptors, "
        f"{len(area)} areas, {int(area['deposition_passes'].sum())} grouped passes): {t_area:.1f} s "
        f"= x{t_area / t_sweep:.2f} the sweep"
    )

    rules = policy_rules(policy)
    t = time.perf_counter()
    res = threshold_rules(
        farms, rec, model, rules=rules, near_margin_mol_ha=params.kdw.near_overload_margin_mol_ha
    )
    t_rules = time.perf_counter() - t
    print(
        f"threshold rules ({len(rules)} rules, 2 grouped passes): {t_rules:.1f} s = x{t_rules / t_sweep:.2f} the sweep"
    )
    total = t_area + t_rules
    print(
        f"policy analyses together: {total:.1f} s = x{total / t_sweep:.2f} the sweep; under a minute: {total < 60}"
    )

    thr = area["area_threshold_mol_ha"].to_numpy(float)
    fin = thr[np.isfinite(thr)]
    print(
        f"\nthresholds per area: {fin.size} areas with a threshold, {int((~np.isfinite(thr)).sum())} where every farm fits; "
        + (
            f"min {fin.min():.3g}, P25 {np.percentile(fin, 25):.3g}, median {np.median(fin):.3g}, "
            f"P75 {np.percentile(fin, 75):.3g}, max {fin.max():.3g} mol N/ha/yr"
            if fin.size
            else ""
        )
    )
    nat = res.national[
        [
            "rule",
            "n_sources_below",
            "share_sources_below",
            "emission_below_kg_nh3",
            "max_sum_mol_ha",
            "mean_sum_mol_ha",
            "ha_tipped_overload",
        ]
    ]
    print(nat.to_string(index=False, float_format="{:.4g}".format))
    print(f"\npeak RSS {peak_rss_gb():.1f} GB")


def time_stages(out: Path, data: Path | None, *, variants: bool = False) -> None:
    """The rko and policy stages on the national-sized sample, each timed as the pipeline runs
    it (see the module docstring)."""
    from n2kzones.config import config_from_dict
    from n2kzones.io.writers import read_table
    from n2kzones.stages.run import run_stage, run_stale

    raw = with_policy(national_config(out, data))
    if variants:
        raw["policy"]["zone_variants"] = ["area_edge", "habitat_edge", "ta_luft"]
    cfg = config_from_dict(raw, base_dir=Path.cwd(), source="bench_policy --stages")
    t = time.perf_counter()
    ran = run_stale(cfg, ["scenario"])
    print(f"upstream up to scenario: {', '.join(s for s, r in ran.items() if r) or 'all reused'} "
          f"({time.perf_counter() - t:.0f} s, not timed)")
    times = {}
    for stage in ("rko", "policy"):
        t = time.perf_counter()
        run_stage(stage, cfg)
        times[stage] = time.perf_counter() - t
    print(f"rko stage {times['rko']:.1f} s; policy stage {times['policy']:.1f} s "
          f"= x{times['policy'] / times['rko']:.2f} the rko stage; under a minute: {times['policy'] < 60}")
    area = read_table(out / "policy_area_thresholds.csv")
    thr = area["area_threshold_mol_ha"].to_numpy(float)
    fin = thr[np.isfinite(thr)]
    if fin.size:
        print(f"thresholds per area ({fin.size} areas): min {fin.min():.3g}, P25 {np.percentile(fin, 25):.3g}, "
              f"median {np.median(fin):.3g}, P75 {np.percentile(fin, 75):.3g}, max {fin.max():.3g} mol N/ha/yr")
    red = read_table(out / "policy_reductions.csv")
    for target, rows in red.groupby("target", sort=False):
        reach = rows.loc[rows["reachable"].astype(bool), "extra_pct_points"].astype(float)
        print(f"required extra reduction, {target}: reachable in {len(reach)} of {len(rows)} areas; "
              + (f"median {reach.median():.1f}, P90 {reach.quantile(0.9):.1f}, max {reach.max():.1f} pp"
                 if len(reach) else ""))
    if (out / "policy_zone_variants.csv").exists():  # with --variants
        var = read_table(out / "policy_zone_variants.csv")
        nat = var[var["site_code"] == "ALL"].set_index("variant")
        print(nat[["zone_ha", "farmland_ha", "farms", "emission_kg_nh3", "ratio_inside_outside"]]
              .to_string(float_format="{:,.2f}".format))
    print(f"peak RSS {peak_rss_gb():.1f} GB")


if __name__ == "__main__":
    main()
