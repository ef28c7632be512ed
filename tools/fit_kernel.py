"""Fit the packaged default deposition kernel and wind rose to the OPS-LT reference runs.

Reads ``../shared/data/reference/ops_nh3_single_source_radial_profile.csv`` (36-direction
averages, 104 distances 10 m..100 km) and ``ops_nh3_single_source.csv`` (12 directions,
18 distances), both OPS-LT v5.3.1.0, meteo 2005 region 5, 1000 kg NH3/yr.

Model: ``ln K(r)`` is a Chebyshev series of degree 7 in ``ln r`` over [10 m, 100 km], fitted
by least squares to the radial profile (K in mol N/ha/yr per kg NH3/yr). The smooth curve is
tabulated at 20 distances per decade; the package interpolates that table log-log. Every
case (3 heights x 2 land uses x 2 z0) is fitted and reported; only the default case
(h = 5 m, grass, z0 = 0.1 m) is written.

Wind rose: for the default case and each of the 12 directions, the ratio of deposition to the
12-direction mean is averaged over the distances 100 m..20 km, then normalised to mean 1.

Usage::

    .venv/bin/python tools/fit_kernel.py [--reference-dir DIR] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.polynomial import chebyshev

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REF = REPO / ".." / "shared" / "data" / "reference"
DEFAULT_OUT = REPO / "src" / "n2kzones" / "deposition" / "data"

DEGREE = 7
R_MIN_M, R_MAX_M = 10.0, 100_000.0
ROWS_PER_DECADE = 20
DEFAULT_CASE = {"source_height_m": 5.0, "receptor_landuse": "grass", "z0_m": 0.1}
CHECK_FROM_M, CHECK_TO_M = 100.0, 20_000.0
SHARE_RADII_M = (500.0, 1000.0, 5000.0, 25_000.0)
OPS_VERSION = "OPS-LT v5.3.1.0 (rivm-syso/OPS commit 75db16d)"
METEO = "a005105c.005: annual statistics 2005, meteo region 5 (Mid-Brabant, Veluwe, Twente)"
BACKGROUND = "uniform NH3 8, SO2 1, NOx 20 ug/m3 (synthetic)"


def _select(df: pd.DataFrame, case: dict) -> pd.DataFrame:
    m = np.ones(len(df), dtype=bool)
    for k, v in case.items():
        m &= (df[k] == v).to_numpy()
    return df[m]


def _xmap(r: np.ndarray) -> np.ndarray:
    lo, hi = np.log(R_MIN_M), np.log(R_MAX_M)
    return (2.0 * np.log(r) - lo - hi) / (hi - lo)


def fit_case(profile: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Chebyshev coefficients of ln K(ln r) and log residuals at the profile distances."""
    r = profile["distance_m"].to_numpy(float)
    k = profile["deposition_mol_n_per_ha_per_yr"].to_numpy(float) / profile[
        "emission_kg_nh3_per_yr"
    ].to_numpy(float)
    coef = chebyshev.chebfit(_xmap(r), np.log(k), DEGREE)
    return coef, np.log(k) - chebyshev.chebval(_xmap(r), coef)


def tabulate(coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = int(round(np.log10(R_MAX_M / R_MIN_M) * ROWS_PER_DECADE)) + 1
    r = np.round(np.geomspace(R_MIN_M, R_MAX_M, n), 3)
    return r, np.exp(chebyshev.chebval(_xmap(r), coef))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference-dir", type=Path, default=DEFAULT_REF)
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    ref = args.reference_dir.resolve()
    prof_path = ref / "ops_nh3_single_source_radial_profile.csv"
    dir_path = ref / "ops_nh3_single_source.csv"
    if not prof_path.is_file() or not dir_path.is_file():
        print(f"OPS reference files not found in {ref}; nothing fitted.", file=sys.stderr)
        return 1

    sys.path.insert(0, str(REPO / "src"))
    from n2kzones.deposition.kernel import RadialKernel  # noqa: E402

    prof = pd.read_csv(prof_path)
    dirs = pd.read_csv(dir_path)
    cases = (
        prof[["source_height_m", "receptor_landuse", "z0_m"]].drop_duplicates().to_dict("records")
    )
    report = {}
    print(
        f"{'case':<28}{'max|ln res| all':>16}{'100m-20km':>11}{'rms':>8}   "
        "shares <=500m,1km,5km,25km (fit | OPS)"
    )
    for case in cases:
        p = _select(prof, case).sort_values("distance_m")
        coef, res = fit_case(p)
        r_tab, k_tab = tabulate(coef)
        kern = RadialKernel(r_tab, k_tab)
        r = p["distance_m"].to_numpy(float)
        inside = (r >= CHECK_FROM_M) & (r <= CHECK_TO_M)
        fit_shares = [kern.deposited_fraction(x) for x in SHARE_RADII_M]
        cum = p.set_index("distance_m")["cumulative_fraction_of_emission_deposited_10m_to_distance"]
        ops_shares = [float(cum.loc[x]) for x in SHARE_RADII_M]
        name = f"h={case['source_height_m']:g} {case['receptor_landuse']} z0={case['z0_m']:g}"
        report[name] = {
            "max_abs_log_residual": float(np.abs(res).max()),
            "max_abs_log_residual_100m_20km": float(np.abs(res[inside]).max()),
            "rms_log_residual": float(np.sqrt(np.mean(res**2))),
            "deposited_fraction_fit": dict(zip(map(str, SHARE_RADII_M), fit_shares, strict=True)),
            "deposited_fraction_ops_10m_to_r": dict(
                zip(map(str, SHARE_RADII_M), ops_shares, strict=True)
            ),
        }
        print(
            f"{name:<28}{np.abs(res).max():16.4f}{np.abs(res[inside]).max():11.4f}"
            f"{np.sqrt(np.mean(res**2)):8.4f}   "
            + " ".join(f"{a:.3f}" for a in fit_shares)
            + " | "
            + " ".join(f"{b:.3f}" for b in ops_shares)
        )
        if case == DEFAULT_CASE:
            default = (coef, res, p, r_tab, k_tab, kern)

    coef, res, p, r_tab, k_tab, kern = default
    # acceptance: within 20 % of OPS 100 m..20 km, radial profile and 12-direction mean
    d12 = _select(dirs, DEFAULT_CASE)
    mean12 = d12.groupby("distance_m")["deposition_mol_n_per_ha_per_yr"].mean() / 1000.0
    r12 = mean12.index.to_numpy(float)
    ratio12 = kern(r12) / mean12.to_numpy()
    rp = p["distance_m"].to_numpy(float)
    ratio_prof = kern(rp) / (p["deposition_mol_n_per_ha_per_yr"].to_numpy(float) / 1000.0)
    win12 = (r12 >= CHECK_FROM_M) & (r12 <= CHECK_TO_M)
    winp = (rp >= CHECK_FROM_M) & (rp <= CHECK_TO_M)
    worst = max(np.abs(ratio12[win12] - 1).max(), np.abs(ratio_prof[winp] - 1).max())
    print(f"\ndefault case: worst |kernel/OPS - 1| over 100 m..20 km = {worst:.3%}")
    print("distance_m  kernel/OPS(12-dir mean)")
    for rr, q in zip(r12, ratio12, strict=True):
        print(f"{rr:10.0f}  {q:.3f}")
    if worst > 0.2:
        print("FAILED: default kernel differs more than 20 % from OPS", file=sys.stderr)
        return 2

    # wind rose from 12-direction ratios
    sub = d12[(d12["distance_m"] >= CHECK_FROM_M) & (d12["distance_m"] <= CHECK_TO_M)]
    piv = sub.pivot_table(
        index="distance_m", columns="direction_deg", values="deposition_mol_n_per_ha_per_yr"
    )
    ratios = piv.div(piv.mean(axis=1), axis=0)
    weights = ratios.mean(axis=0).to_numpy()
    weights = weights / weights.mean()
    bearings = [float(b) for b in piv.columns]
    pred = np.outer(np.ones(len(piv)), weights)
    rose_log_err = np.abs(np.log(ratios.to_numpy() / pred))

    today = dt.date.today().isoformat()
    script = "tools/fit_kernel.py"
    fit_info = {
        "form": (
            f"ln K = Chebyshev series of degree {DEGREE} in x = (2 ln r - ln {R_MIN_M:g} "
            f"- ln {R_MAX_M:g}) / (ln {R_MAX_M:g} - ln {R_MIN_M:g})"
        ),
        "coefficients": [float(c) for c in coef],
        "fitted_to": (
            "ops_nh3_single_source_radial_profile.csv "
            "(36-direction mean, 104 distances 10 m..100 km)"
        ),
        "tabulated_rows_per_decade": ROWS_PER_DECADE,
        "max_abs_log_residual": float(np.abs(res).max()),
        "max_abs_log_residual_100m_20km": float(np.abs(res[winp]).max()),
        "rms_log_residual": float(np.sqrt(np.mean(res**2))),
        "ratio_to_ops_12dir_mean": {
            f"{rr:g}": float(q) for rr, q in zip(r12, ratio12, strict=True)
        },
        "worst_relative_difference_100m_20km": float(worst),
        "deposited_fraction": {f"{x:g}": float(kern.deposited_fraction(x)) for x in SHARE_RADII_M},
    }
    provenance = {
        "name": "default: OPS-LT fit, 5 m source, grass, z0 0.1 m",
        "units": "mol N/ha/yr per kg NH3/yr",
        "model": OPS_VERSION,
        "source_height_m": 5.0,
        "receptor_landuse": "grass",
        "z0_m": 0.1,
        "meteo": METEO,
        "background": BACKGROUND,
        "diurnal_variation_code": 4,
        "receptor_height_m": 4.0,
        "deposition": "total NHx (dry + wet, NH3 + NH4+), direction-averaged",
        "fitting_script": script,
        "date": today,
        "fit": fit_info,
        "other_cases": report,
        "extrapolation": "below 10 m constant; beyond 100 km log-log slope of the last row",
    }
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"distance_m": r_tab, "deposition_mol_ha_per_kg": k_tab}).to_csv(
        out / "default_kernel.csv", index=False, float_format="%.8g"
    )
    (out / "default_kernel.json").write_text(json.dumps(provenance, indent=2) + "\n", "utf-8")
    rose = {
        "weights": [float(w) for w in weights],
        "provenance": {
            "name": "ops_2005_region5",
            "sector_centres_deg": bearings,
            "convention": (
                "sector k centred on bearing k*30 deg from source to receptor, 0 = north, "
                "clockwise; linear interpolation between centres"
            ),
            "derived_from": (
                "ops_nh3_single_source.csv, h=5 m, grass, z0=0.1 m: deposition / 12-direction "
                "mean, averaged over distances 100 m..20 km, normalised to mean 1"
            ),
            "model": OPS_VERSION,
            "meteo": METEO,
            "fitting_script": script,
            "date": today,
            "ratio_min_over_distances": [float(x) for x in ratios.min(axis=0)],
            "ratio_max_over_distances": [float(x) for x in ratios.max(axis=0)],
            "median_abs_log_error_vs_ops_directions": float(np.median(rose_log_err)),
            "max_abs_log_error_vs_ops_directions": float(rose_log_err.max()),
        },
    }
    (out / "wind_rose_ops_2005_region5.json").write_text(json.dumps(rose, indent=2) + "\n", "utf-8")
    print(f"\nwind rose weights (0..330 deg): {np.round(weights, 3).tolist()}")
    print(
        f"wind rose median |ln error| vs OPS directions 100 m..20 km: {np.median(rose_log_err):.3f}"
    )
    print(
        f"wrote {out / 'default_kernel.csv'} ({len(r_tab)} rows), default_kernel.json, "
        "wind_rose_ops_2005_region5.json"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
