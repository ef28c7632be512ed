"""Compare the packaged default kernel with the OPS-LT reference runs (h=5 m, grass, z0=0.1 m).

Prints the median absolute log error (natural log) over the reference distances 100 m..20 km,
a per-distance ratio table, and the fraction of the emission deposited within 500 m, 1 km,
5 km and 25 km for the kernel and for OPS. Skips (exit 0) if ``../shared`` is absent.

Run: ``.venv/bin/python benchmarks/validate_kernel.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from n2kzones.deposition import default_kernel

REPO = Path(__file__).resolve().parents[1]
REF = REPO / ".." / "shared" / "data" / "reference"
CASE = {"source_height_m": 5, "receptor_landuse": "grass", "z0_m": 0.1}
RADII_M = (500.0, 1000.0, 5000.0, 25_000.0)


def _select(df: pd.DataFrame) -> pd.DataFrame:
    m = np.ones(len(df), dtype=bool)
    for k, v in CASE.items():
        m &= (df[k] == v).to_numpy()
    return df[m]


def main() -> int:
    prof_path = REF / "ops_nh3_single_source_radial_profile.csv"
    dir_path = REF / "ops_nh3_single_source.csv"
    if not prof_path.is_file() or not dir_path.is_file():
        print(f"SKIPPED: OPS reference files not found in {REF.resolve()} (../shared absent)")
        return 0
    kern = default_kernel()
    d12 = _select(pd.read_csv(dir_path))
    mean12 = d12.groupby("distance_m")["deposition_mol_n_per_ha_per_yr"].mean() / 1000.0
    prof = _select(pd.read_csv(prof_path)).set_index("distance_m")
    prof_k = prof["deposition_mol_n_per_ha_per_yr"] / prof["emission_kg_nh3_per_yr"]

    print(f"kernel: {kern.provenance.get('name')}  ({kern.provenance.get('model')})")
    print("deposition in mol N/ha/yr per 1000 kg NH3/yr\n")
    print(f"{'distance_m':>10} {'OPS 12-dir':>11} {'kernel':>10} {'ratio':>7} {'ln err':>7}")
    r = mean12.index.to_numpy(float)
    k = kern(r)
    ops = mean12.to_numpy()
    for rr, o, kk in zip(r, ops, k, strict=True):
        print(f"{rr:10.0f} {o * 1000:11.4g} {kk * 1000:10.4g} {kk / o:7.3f} {np.log(kk / o):7.3f}")
    win = (r >= 100) & (r <= 20_000)
    err12 = np.abs(np.log(k[win] / ops[win]))
    rp = prof_k.index.to_numpy(float)
    winp = (rp >= 100) & (rp <= 20_000)
    errp = np.abs(np.log(kern(rp[winp]) / prof_k.to_numpy()[winp]))
    print(
        f"\nmedian |ln(kernel/OPS)| over 100 m..20 km: {np.median(err12):.4f} (12-direction mean, "
        f"{win.sum()} distances), {np.median(errp):.4f} (36-direction radial profile, "
        f"{winp.sum()} distances)"
    )
    print(
        f"max    |kernel/OPS - 1|  over 100 m..20 km: {np.max(np.exp(err12) - 1):.2%} (12-dir), "
        f"{np.max(np.exp(errp) - 1):.2%} (radial profile)"
    )

    cum = prof["cumulative_fraction_of_emission_deposited_10m_to_distance"]
    print(f"\n{'within':>8} {'kernel':>8} {'OPS':>8}")
    for rad in RADII_M:
        print(f"{rad / 1000:6g}km {kern.deposited_fraction(rad):8.2%} {float(cum.loc[rad]):8.2%}")
    print("(OPS: ring integral from 10 m, 36-direction mean; kernel: from 0 m, 58.7 mol N/kg NH3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
