"""Benchmark the RKO per-source maxima on the national-sized sample.

Receptors: 1 ha hexagons over the sensitive habitat of the national-sized sample
(``benchmarks/_common.py``, generated once under ``data/raw/national``); sources: its
livestock farms (``veehouderijen.gpkg``). Prints

* the wall time of every farm's largest contribution on any receptor
  (:func:`n2kzones.rko.max_contribution`), without range and with the 25 km range
  (goal: < 60 s on 2 cores), after a small warm-up call;
* the brute-force time (``deposition_at_points`` per source over all receptors) on a
  subset of farms measured in the same run, extrapolated per source, as a speed-up ratio,
  and a check that both give the same maxima on that subset;
* the RKO sweep table (isotropic kernel) for the national sample.

Run: ``.venv/bin/python benchmarks/bench_rko.py [--subset 200] [--wind-rose]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import national_sample, peak_rss_gb, quiet_logging, sample_receptors  # noqa: E402

from n2kzones.config import RkoSettings  # noqa: E402

CUTOFF_M = RkoSettings().ranges_m[-1]  # AERIUS calculation range (config default)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", type=int, default=200, help="farms in the brute-force baseline")
    ap.add_argument("--wind-rose", action="store_true", help="also time with the OPS wind rose")
    ap.add_argument("--no-sweep", action="store_true", help="skip the sweep table")
    args = ap.parse_args()
    quiet_logging()

    import geopandas as gpd
    import numba

    from n2kzones.deposition import default_kernel, load_wind_rose
    from n2kzones.deposition.maxima import brute_force_max, max_contribution
    from n2kzones.params import load_parameters
    from n2kzones.rko import rko_sweep

    root = national_sample()
    params = load_parameters()
    t = time.perf_counter()
    rec = sample_receptors(root, params)
    farms = gpd.read_file(root / "veehouderijen.gpkg")
    farms["farm_id"] = farms["farm_id"].astype(str)
    print(
        f"receptors: {len(rec):,} (built in {time.perf_counter() - t:.1f} s); "
        f"farms: {len(farms):,}; numba threads: {numba.get_num_threads()}"
    )

    k = default_kernel()
    sx, sy = farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy()
    e = farms["emission_kg_nh3"].to_numpy(float)
    rx, ry = rec.geometry.x.to_numpy(), rec.geometry.y.to_numpy()
    max_contribution(sx[:10], sy[:10], e[:10], rx, ry, k)  # warm-up (tree, lookup)

    roses = [("isotropic", None)] + (
        [("ops_2005_region5", load_wind_rose())] if args.wind_rose else []
    )
    rng = np.random.default_rng(20260626)
    sub = np.sort(rng.choice(sx.size, size=min(args.subset, sx.size), replace=False))
    for rose_name, rose in roses:
        for label, cutoff in (("no range", None), ("25 km range", CUTOFF_M)):
            t = time.perf_counter()
            mx, _ = max_contribution(sx, sy, e, rx, ry, k, wind_rose=rose, cutoff_m=cutoff)
            t_all = time.perf_counter() - t
            brute_force_max(
                sx[:2], sy[:2], e[:2], rx, ry, k, wind_rose=rose, cutoff_m=cutoff
            )  # JIT
            t = time.perf_counter()
            bf, _ = brute_force_max(
                sx[sub], sy[sub], e[sub], rx, ry, k, wind_rose=rose, cutoff_m=cutoff
            )
            t_bf = time.perf_counter() - t
            per_src_bf = t_bf / sub.size
            per_src = t_all / sx.size
            same = np.allclose(mx[sub], bf, rtol=1e-12, atol=0)
            print(
                f"[{rose_name}, {label}] all {sx.size:,} per-source maxima: {t_all:.2f} s "
                f"({per_src * 1e6:.0f} us/source); brute force on {sub.size} sources: {t_bf:.2f} s "
                f"({per_src_bf * 1e3:.1f} ms/source, "
                f"extrapolated {per_src_bf * sx.size:.0f} s for all); "
                f"speed-up x{per_src_bf / per_src:.0f}; identical maxima on the subset: {same}"
            )

    if not args.no_sweep:
        import rasterio

        with rasterio.open(root / "background_deposition.tif") as src:
            bg = np.array([v[0] for v in src.sample(np.column_stack([rx, ry]))], dtype=float)
        rec["total_mol_ha"] = bg
        t = time.perf_counter()
        res = rko_sweep(
            farms,
            rec,
            k,
            thresholds_mol_ha=RkoSettings().thresholds_mol_ha,  # the documented defaults
            ranges_m=[CUTOFF_M],
            near_margin_mol_ha=params.kdw.near_overload_margin_mol_ha,
        )
        print(
            f"\nRKO sweep (national sample, isotropic, maxima + one grouped pass per range): "
            f"{time.perf_counter() - t:.1f} s"
        )
        cols = [
            "range",
            "threshold_mol_ha",
            "n_sources_below",
            "share_sources_below",
            "emission_below_kg_nh3",
            "share_emission_below",
            "max_sum_mol_ha",
            "mean_sum_mol_ha",
            "p95_sum_mol_ha",
            "ha_sum_above_1mol",
            "ha_tipped_overload",
            "ha_tipped_near_overload",
        ]
        with pd.option_context(
            "display.width", 250, "display.max_columns", 20, "display.float_format", "{:.4g}".format
        ):
            print(res.national[cols].to_string(index=False))
    print(f"\npeak RSS {peak_rss_gb():.1f} GB")


if __name__ == "__main__":
    main()
