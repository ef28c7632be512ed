#!/usr/bin/env python3
"""Reproduce tables of shared/data/reference/OPS_REFERENCE.md with the harness.

Runs the reference cases (12 directions x 18 distances, and/or the 36-direction
radial profiles) and prints the relative difference against the reference CSVs.

    python tools/ops/reproduce.py --ops-exe EXE --ops-src /work/ops-src \\
        --reference /work/shared/data/reference --cases h5-grass-0.1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ops_harness as oh  # noqa: E402

ALL = [(h, lu, z0) for h in (3, 5, 10) for lu in ("grass", "arable") for z0 in (0.1, 0.25)]


def _parse_case(s: str) -> tuple[float, str, float]:
    h, lu, z0 = s.split("-")
    return float(h.lstrip("h")), lu, float(z0)


def compare_spokes(ref: pd.DataFrame, h: float, lu: str, z0: float, env: oh.Env) -> dict:
    case = oh.Case(source_height_m=h, landuse=lu, z0_m=z0, n_directions=12,
                   distances_m=tuple(float(d) for d in oh.REFERENCE_SPOKE_DISTANCES_M))
    got, info = oh.run_case(case, env)
    r = ref[(ref.source_height_m == h) & (ref.receptor_landuse == lu) & (ref.z0_m == z0)]
    m = got.merge(r, on=["direction_deg", "distance_m"], suffixes=("", "_ref"))
    out = {"case": f"h{h:g}-{lu}-{z0:g}", "n": len(m), "wall_s": info["wall_s"],
           "conv_rate": info["conv_rate_pct_per_h"], "vd_nh3": info["vd_eff_nh3_cm_per_s"]}
    for c in ("deposition_mol_n_per_ha_per_yr", "dry_deposition_mol_n_per_ha_per_yr",
              "wet_deposition_mol_n_per_ha_per_yr", "conc_nh3_ug_per_m3"):
        rel = (m[c] / m[c + "_ref"] - 1).abs()
        out[f"max_rel_{c.split('_')[0]}"] = float(rel.max())
    return out


def compare_profile(prof_ref: pd.DataFrame, h: float, lu: str, z0: float, env: oh.Env) -> dict:
    case = oh.Case(source_height_m=h, landuse=lu, z0_m=z0, n_directions=36)
    got, info = oh.run_case(case, env)
    prof = oh.direction_average(got)
    r = prof_ref[(prof_ref.source_height_m == h) & (prof_ref.receptor_landuse == lu)
                 & (prof_ref.z0_m == z0)]
    m = prof.merge(r, on="distance_m", suffixes=("", "_ref"))
    rel = (m["deposition_mol_n_per_ha_per_yr"] / m["deposition_mol_n_per_ha_per_yr_ref"] - 1)
    return {"case": f"h{h:g}-{lu}-{z0:g}", "n": len(m), "wall_s": info["wall_s"],
            "profile_max_rel": float(rel.abs().max()),
            "profile_max_rel_100m_20km": float(
                rel[(m.distance_m >= 100) & (m.distance_m <= 20000)].abs().max())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    oh._common(ap)
    ap.add_argument("--reference", required=True, help="shared/data/reference directory")
    ap.add_argument("--cases", default="h5-grass-0.1",
                    help="comma list like h5-grass-0.1, or 'all' (12 reference cases)")
    ap.add_argument("--profiles", action="store_true", help="also compare 36-direction profiles")
    a = ap.parse_args()
    env = oh.Env.from_args(a)
    ref = pd.read_csv(Path(a.reference) / "ops_nh3_single_source.csv")
    prof_ref = pd.read_csv(Path(a.reference) / "ops_nh3_single_source_radial_profile.csv")
    cases = ALL if a.cases == "all" else [_parse_case(c) for c in a.cases.split(",")]
    rows = []
    for h, lu, z0 in cases:
        row = compare_spokes(ref, h, lu, z0, env)
        if a.profiles:
            row.update({k: v for k, v in compare_profile(prof_ref, h, lu, z0, env).items()
                        if k.startswith("profile")})
        rows.append(row)
        print(json.dumps(row), flush=True)
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(df.to_string(index=False))
    worst = float(np.nanmax(df.filter(like="max_rel").to_numpy()))
    print(f"worst relative difference: {worst:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
