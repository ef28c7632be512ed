#!/usr/bin/env python3
"""Package a finished OPS campaign as tidy compressed tables + provenance.json.

Writes to ``src/n2kzones/deposition/data/ops/``:

``ops_nh3_profiles.csv.gz``     one row per case x distance (case_id, distance_m and the values;
                               the case columns are joined from the cases file): averages over ``n_directions``
                                bearings (arithmetic mean, like the reference radial profile)
                                of total (5 digits), dry and wet (4 digits) NHx deposition.
``ops_nh3_cases.csv.gz``        one row per case: settings, design block, held-out flag and
                                OPS's run summary (conversion rate, effective vd, ...).
``ops_nh3_path_directions.csv.gz``  per-direction values (36 bearings x 104 distances) for
                                the ``path`` block (grass, receptor z0 = landscape z0, 8 ug/m3).
``provenance.json``             model version, source commit, compiler, flags, executable
                                and meteo sha256, every setting, date, command lines.

    python tools/ops/package_data.py --campaign /work/ops-campaign --ops-exe EXE \\
        --ops-src /work/ops-src --build-dir /work/ops-build/build_release
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import campaign as cp  # noqa: E402
import ops_harness as oh  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "src" / "n2kzones" / "deposition" / "data" / "ops"

PROFILE_VALUES = [
    "deposition_mol_n_per_ha_per_yr", "dry_deposition_mol_n_per_ha_per_yr",
    "wet_deposition_mol_n_per_ha_per_yr",
]
CASE_COLS = ["case_id", "case_tag", "source_height_m", "receptor_landuse", "landuse_class",
             "z0_m", "receptor_z0_m", "z0_mode", "nh3_bg_ug_per_m3", "so2_bg_ug_per_m3",
             "nox_bg_ug_per_m3", "n_directions", "emission_kg_nh3_per_yr", "diurnal_code"]


def sig(df: pd.DataFrame, cols: list[str], n: int = 5) -> pd.DataFrame:
    """Round ``cols`` to ``n`` significant digits (the report's precision), leave the rest."""
    df = df.copy()
    for c in cols:
        df[c] = pd.to_numeric(df[c].map(lambda x: f"{x:.{n}g}"))
    return df


def held_out(row: pd.Series) -> bool:
    return any(float(row[k]) in v for k, v in cp.HELD_OUT.items())


def _cmake_cache(build_dir: Path) -> dict:
    cache = build_dir / "CMakeCache.txt"
    out: dict = {}
    if not cache.exists():
        return out
    for ln in cache.read_text().splitlines():
        m = re.match(r"(CMAKE_BUILD_TYPE|CMAKE_Fortran_COMPILER|CMAKE_Fortran_FLAGS(_RELEASE)?"
                     r"|SKIP_OPENMP|OpenMP_Fortran_FLAGS):[A-Z]+=(.*)", ln)
        if m:
            out[m.group(1)] = m.group(3)
    return out


def _effective_flags(build_dir: Path) -> str:
    """Fortran flags CMake actually used for the main executable (flags.make)."""
    for f in sorted(build_dir.glob("CMakeFiles/*main*/flags.make")):
        for ln in f.read_text().splitlines():
            if ln.startswith("Fortran_FLAGS"):
                return ln.split("=", 1)[1].strip()
    return ""


def _compiler_version(compiler: str) -> str:
    try:
        return subprocess.run([compiler, "--version"], capture_output=True,
                              text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return ""


def _git_commit(src: Path) -> str:
    for f in (src / ".ops_commit", ):
        if f.exists():
            return f.read_text().strip()
    try:
        return subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def block_run_dates(camp: Path, cases: pd.DataFrame) -> dict[str, str]:
    """UTC date(s) on which each design block was run: the mtimes of its case files in the
    campaign directory (``first`` or ``first..last``)."""
    out: dict[str, str] = {}
    for tag, ids in cases.groupby("case_tag")["case_id"]:
        days = sorted({dt.datetime.fromtimestamp(
            (camp / "cases" / f"{cid[1:]}.csv.gz").stat().st_mtime, dt.timezone.utc).date()
            .isoformat() for cid in ids})
        out[str(tag)] = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--campaign", required=True, help="campaign output directory")
    ap.add_argument("--ops-exe", required=True)
    ap.add_argument("--ops-src", required=True)
    ap.add_argument("--ops-commit", default="", help="OPS source commit (if --ops-src has no git)")
    ap.add_argument("--build-dir", default="", help="OPS build dir (reads CMakeCache.txt)")
    ap.add_argument("--build-note", default="", help="free text on the build, for provenance")
    ap.add_argument("--meteo", default="", help="meteo file used (default: a005105c.005 of "
                                                "--ops-src)")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    a = ap.parse_args()

    camp = Path(a.campaign)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    per_rcp = cp.load_campaign(camp)
    design = json.loads((camp / "design.json").read_text())
    runs = pd.read_json(camp / "runs.jsonl", lines=True, dtype={"case_id": str})
    runs = runs.drop_duplicates("case_id", keep="last")
    # packaged ids get a letter prefix so that no CSV reader takes them for numbers
    per_rcp["case_id"] = "c" + per_rcp["case_id"]
    runs["case_id"] = "c" + runs["case_id"].astype(str)

    prof = oh.direction_average(per_rcp)
    prof = prof[CASE_COLS + ["distance_m"] + PROFILE_VALUES]
    cases = prof[CASE_COLS].drop_duplicates("case_id").reset_index(drop=True)
    cases["held_out"] = cases.apply(held_out, axis=1)
    cases = cases.merge(runs[["case_id", "ops_version", "conv_rate_pct_per_h",
                              "vd_eff_nh3_cm_per_s", "vd_eff_nh4_cm_per_s",
                              "wet_rate_nh3_pct_per_h", "precip_mm", "wall_s"]],
                        on="case_id", how="left")
    prof = prof.merge(cases[["case_id", "held_out"]], on="case_id")
    # total to the report's 5 digits, the dry/wet split to 4 (keeps the package < 7 MB)
    prof = sig(prof, PROFILE_VALUES[:1])
    prof = sig(prof, PROFILE_VALUES[1:], n=4)
    # the case settings live in ops_nh3_cases.csv.gz only (n2kzones.deposition.classes.
    # read_ops_profiles joins them back): the profiles keep the id, distance and values
    prof = prof[["case_id", "distance_m", *PROFILE_VALUES]]
    prof.to_csv(out / "ops_nh3_profiles.csv.gz", index=False,
                compression={"method": "gzip", "compresslevel": 9, "mtime": 0})
    cases.to_csv(out / "ops_nh3_cases.csv.gz", index=False, float_format="%.6g",
                 compression={"method": "gzip", "compresslevel": 9, "mtime": 0})
    path = per_rcp[per_rcp.case_tag == "path"][
        ["case_id", "source_height_m", "z0_m", "n_directions", "direction_deg", "distance_m",
         "distance_actual_m", "deposition_mol_n_per_ha_per_yr",
         "wet_deposition_mol_n_per_ha_per_yr"]]
    path = sig(path, ["distance_actual_m", "deposition_mol_n_per_ha_per_yr"], n=5)
    path = sig(path, ["wet_deposition_mol_n_per_ha_per_yr"], n=4)
    path.to_csv(out / "ops_nh3_path_directions.csv.gz", index=False,
                compression={"method": "gzip", "compresslevel": 9, "mtime": 0})

    info = oh.exe_info(Path(a.ops_exe))
    cmake = _cmake_cache(Path(a.build_dir)) if a.build_dir else {}
    compiler = cmake.get("CMAKE_Fortran_COMPILER", "gfortran")
    res = Path(a.ops_src) / "ops_lt" / "tst" / "level_1" / "resources"
    meteo = Path(a.meteo) if a.meteo else res / "a005105c.005"
    gw = res / "gammawater.ops"
    c0 = oh.Case()
    prov = {
        "title": "OPS-LT single NH3 point source: deposition vs distance, campaign tables",
        "model": "OPS-LT (RIVM), run as an external program; GPL-3.0; not distributed here",
        "model_version_reported": info["ops_version_output"],
        "model_version_in_reports": sorted(cases["ops_version"].dropna().unique().tolist()),
        "source_repository": "rivm-syso/OPS",
        "source_commit": a.ops_commit or _git_commit(Path(a.ops_src)),
        "compiler": _compiler_version(compiler),
        "build": {
            "build_type": cmake.get("CMAKE_BUILD_TYPE", ""),
            "fortran_flags_effective": _effective_flags(Path(a.build_dir)) if a.build_dir else "",
            "fortran_flags_release": "-O2 -fno-fast-math (OPS OpsFunctions.cmake, GNU)",
            "openmp": cmake.get("SKIP_OPENMP", "OFF") in ("", "OFF", "FALSE", "false"),
            "target": "main executable only (ops_lt_main); unit tests not built",
            "note": a.build_note,
        },
        "executable_sha256": info["ops_exe_sha256"],
        "meteo_file": meteo.name,
        "meteo_sha256": oh.sha256(meteo),
        "meteo_description": "annual OPS meteo statistics, calendar year 2005, region 5 "
                             "(Mid-Brabant, Veluwe, Twente); METEOTYPE 1",
        "gammawater_file": gw.name,
        "gammawater_sha256": oh.sha256(gw),
        "settings": {
            "COMPCODE": 3, "COMPNAME": "NH3", "MOLWEIGHT": 17.0, "PHASE": 1, "LOSS": 1,
            "DIFFCOEFF": 0.240, "WASHOUT": 0, "CONVRATE": "(empty: OPS parameterisation "
            "from background concentrations)", "YEAR": c0.year, "RECEPTYPE": 2,
            "receptor_height_m": 4.0, "command_line_options": ["-perc"],
            "DEPUNIT": "3 (mol/ha/yr)", "METEOTYPE": c0.meteotype, "INCLUDE": 1,
            "EMCORFAC": 1.0, "values_from": "report file (PRNFILE), 5 significant digits",
            "source_xy_rd_m": list(oh.SOURCE_XY),
            "emission_kg_nh3_per_yr": c0.emission_kg_nh3_per_yr,
            "emission_g_per_s": round(oh.emission_g_per_s(c0.emission_kg_nh3_per_yr), 8),
            "emission_record": "BRN-VERSION 1, heat content 0 MW, diameter 0, spread 0, "
                               "diurnal code 4, category 1, area 1, psd 0",
            "so2_bg_ug_per_m3": c0.so2_bg_ug_m3, "nox_bg_ug_per_m3": c0.nox_bg_ug_m3,
            "background_maps": "synthetic uniform APS grids "
                               "DATADIR/Chem_meteo_actual/bg{nh3,so2,nox}c2020.ops",
            "dvepre.ops": "standard diurnal-variation table written from OPS USER_MANUAL.md",
            "z0eur.ops": "uniform placeholder (not read in fixed-z0 mode; never reached in "
                         "map mode because the NL map covers every receptor)",
            "roughness_modes": {
                "fixed": "ROUGHNESS = z0_m: source, trajectory and receptor use z0_m; "
                         "trajectory land use grass; receptor z0 column ignored by OPS",
                "map": "ROUGHNESS 0 with uniform synthetic Z0FILE (z0_m, 0.1 mm units) and "
                       "LUFILE (100 % grass); receptor z0 from the receptor file (-perc). "
                       "Checked: map mode with receptor_z0 = z0 equals fixed mode exactly",
            },
            "receptor_landuse": "100 % of one class via -perc; classes " +
                                json.dumps(oh.LANDUSE_CLASSES),
            "receptors": "36 bearings (0 = north, clockwise) x 104 distances 10 m-100 km "
                         "(the reference radial-profile distances); RD coordinates rounded "
                         "to whole metres (OPS truncates to integers)",
            "direction_average": "arithmetic mean over the bearings",
        },
        "design": {"name": design["design"], "n_cases": int(len(cases)),
                   "blocks": cases["case_tag"].value_counts().to_dict(),
                   "block_run_dates": block_run_dates(camp, cases),
                   "held_out_values": {k: list(v) for k, v in cp.HELD_OUT.items()},
                   "campaign_command": " ".join(design["argv"])},
        "runtime_s_sum": float(cases["wall_s"].sum()),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "harness_command": "python " + " ".join(sys.argv),
        "files": {p.name: oh.sha256(p) for p in sorted(out.glob("*.csv.gz"))},
        "reference_check": "all 12 cases of shared/data/reference/ops_nh3_single_source.csv "
                           "reproduced to the printed digits (tools/ops/reproduce.py)",
    }
    (out / "provenance.json").write_text(json.dumps(prov, indent=2) + "\n")
    for p in sorted(out.iterdir()):
        print(f"{p.stat().st_size / 1e6:8.3f} MB  {p.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
