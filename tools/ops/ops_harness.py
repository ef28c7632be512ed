#!/usr/bin/env python3
"""OPS-LT single-source harness: write OPS input files, run OPS, parse its report.

OPS-LT (RIVM, GPL-3.0) is used here strictly as an *external program*: this harness
contains no OPS code and no build recipe. The user builds OPS from their own checkout
following the upstream instructions (``COMPILING.md`` in the OPS repository) and passes the
executable with ``--ops-exe``. Default data files that OPS needs and that are only found in
an OPS checkout (the meteo statistics ``a005105c.005`` and the gamma-water map
``gammawater.ops`` from the OPS test resources) are read from ``--ops-src`` unless given
explicitly with ``--meteo`` / ``--gammawater``.

One *case* is one OPS run: one NH3 point source at RD (155000, 385000) and point
receptors (RECEPTYPE 2) on rings of ``n_directions`` bearings x log-spaced distances.
Everything the reference runs in ``shared/data/reference/OPS_REFERENCE.md`` fixed is a
default of :class:`Case` (diurnal code 4, receptor height 4 m, YEAR 2020, uniform synthetic
backgrounds NH3 8 / SO2 1 / NOx 20 ug/m3, DEPUNIT 3 = mol/ha/yr, ...).

Roughness modes
---------------
``fixed``  (``receptor_z0_m`` is None): ``ROUGHNESS <z0>`` in the control file. OPS then uses
           this z0 at source, along the trajectory *and at the receptor*; a z0 column in the
           receptor file is ignored (``m_ops_rcp_char_all.f90``: ``z0_rcp_all = z0_user``).
           The land use along the trajectory is grass.
``map``    (``receptor_z0_m`` given): ``ROUGHNESS 0`` plus synthetic *uniform* z0 and
           land-use grids (Z0FILE/LUFILE, APS format) holding the domain z0 and 100 % grass.
           With option ``-perc`` OPS takes the receptor's z0 from the receptor file
           (used only when > 0), while source and trajectory z0 come from the map
           (``ops_getz0_tra`` samples the map at 21 points, receptor point included).
           This is how the receptor z0 is made to differ from the landscape z0.

In both modes the receptor land use is set through the receptor-file land-use option
(``-perc``: 100 % of one class). OPS/DEPAC land-use classes (``m_depac.f90``):
1 grass, 2 arable, 3 permanent crops, 4 coniferous forest, 5 deciduous forest, 6 water,
7 urban/built-up, 8 other (heath / short nature), 9 desert/bare.

Usage
-----
    python tools/ops/ops_harness.py info --ops-exe /work/ops-build/.../ops_lt_main_RELEASE_GNU
    python tools/ops/ops_harness.py run --ops-exe EXE --ops-src /work/ops-src \\
        --height 5 --landuse grass --z0 0.1 --directions 12 --out case.csv
    python tools/ops/ops_harness.py campaign --ops-exe EXE --ops-src /work/ops-src \\
        --design main --workdir /work/ops-runs --out /work/ops-campaign --jobs 1

See ``docs/ops-harness.md``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------
# constants
# --------------------------------------------------------------------------------------

#: OPS/DEPAC land-use classes (m_depac.f90, USER_MANUAL.md table 1).
LANDUSE_CLASSES: dict[str, int] = {
    "grass": 1,
    "arable": 2,
    "permanent_crops": 3,
    "coniferous_forest": 4,
    "deciduous_forest": 5,
    "water": 6,
    "urban": 7,
    "heath_other_nature": 8,
    "bare_desert": 9,
}

SOURCE_XY = (155000, 385000)  # RD New, near Eindhoven (as the reference runs)
SECONDS_PER_YEAR = 365 * 86400.0

#: Standard diurnal-variation table, copied from OPS's USER_MANUAL.md ("Standard diurnal
#: variantions of emission"). OPS reads it as I6,12F6.0; code 0 rows are skipped by OPS's
#: reader (a zero code counts as a blank line), codes 4 and 5 are built into OPS.
DVEPRE_ROWS: list[tuple[int, tuple[int, ...], str]] = [
    (0, (100,) * 12, "continuous emissions"),
    (1, (73, 69, 68, 100, 129, 131, 124, 121, 109, 97, 93, 86), "Average industrial activity"),
    (2, (33, 33, 35, 80, 150, 155, 120, 116, 122, 135, 145, 77), "Average heating behaviour"),
    (3, (24, 16, 23, 150, 175, 121, 127, 154, 190, 112, 60, 48), "Average traffic intensity"),
    (31, (8, 5, 43, 157, 141, 126, 143, 172, 190, 113, 67, 35), "Light duty vehicles"),
    (32, (12, 17, 82, 158, 161, 163, 167, 175, 131, 73, 41, 22), "Heavy duty vehicles"),
    (33, (3, 1, 54, 184, 149, 137, 149, 174, 165, 89, 69, 26), "Buses (public transport)"),
    (7, (33, 33, 35, 80, 150, 155, 120, 116, 122, 135, 145, 77),
     "Aver. heating (no season. correction)"),
]

#: The 104 distances of the reference radial profile (10 m .. 100 km; a log grid merged with
#: round numbers). Used as the default distance set, so packaged profiles line up with it.
REFERENCE_DISTANCES_M: tuple[float, ...] = (
    10.0, 11.0, 12.0, 13.2, 14.5, 15.9, 17.5, 19.2, 21.1, 23.1, 25.0, 25.4, 27.9, 30.6, 33.6,
    36.8, 40.4, 44.4, 48.7, 50.0, 53.5, 58.7, 64.4, 70.7, 77.6, 85.2, 93.5, 100.0, 102.6,
    112.7, 123.7, 135.7, 149.0, 163.5, 179.5, 197.0, 216.2, 237.3, 260.5, 285.9, 313.8,
    344.5, 378.1, 415.0, 455.5, 500.0, 548.8, 602.4, 661.2, 725.7, 796.6, 874.3, 959.7,
    1000.0, 1053.4, 1156.2, 1269.1, 1393.0, 1528.9, 1678.2, 1842.0, 2021.8, 2219.2, 2435.8,
    2673.6, 2934.6, 3221.1, 3535.5, 3880.7, 4259.5, 4675.3, 5000.0, 5131.7, 5632.7, 6182.5,
    6786.0, 7448.5, 8175.6, 8973.7, 9849.7, 10811.2, 11866.6, 13025.0, 14296.5, 15692.1,
    17224.0, 18905.4, 20750.9, 22776.6, 25000.0, 27602.2, 30475.3, 33647.5, 37149.9,
    41016.8, 45286.2, 50000.0, 55204.5, 60950.7, 67295.0, 74299.7, 82033.5, 90572.4,
    100000.0,
)

#: distances of the reference per-receptor table
REFERENCE_SPOKE_DISTANCES_M: tuple[float, ...] = (
    25, 50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 15000,
    20000, 25000,
)

OUTPUT_COLUMNS = [
    "conc_nh3_ug_per_m3", "conc_nh4_ug_per_m3",
    "dry_nh3_mol_n_per_ha_per_yr", "wet_nh3_mol_n_per_ha_per_yr",
    "dry_nh4_mol_n_per_ha_per_yr", "wet_nh4_mol_n_per_ha_per_yr",
    "dry_deposition_mol_n_per_ha_per_yr", "wet_deposition_mol_n_per_ha_per_yr",
    "deposition_mol_n_per_ha_per_yr",
]


def log_distances(dmin: float = 10.0, dmax: float = 100_000.0, n: int = 104) -> tuple[float, ...]:
    """``n`` log-spaced distances from ``dmin`` to ``dmax`` (m), rounded to 0.1 m."""
    return tuple(float(round(d, 1)) for d in np.geomspace(dmin, dmax, n))


# --------------------------------------------------------------------------------------
# case definition
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One OPS run: one point source, rings of point receptors, uniform surroundings.

    Parameters
    ----------
    source_height_m
        Emission height (m).
    landuse
        Receptor land use, a key of :data:`LANDUSE_CLASSES` (100 % of that class via -perc).
    z0_m
        Landscape (domain) roughness length (m): source, trajectory and, in ``fixed`` mode,
        the receptor.
    receptor_z0_m
        Receptor roughness (m). ``None``: fixed mode (ROUGHNESS z0_m). A value: map mode
        (ROUGHNESS 0, uniform z0 map = z0_m, receptor z0 from the receptor file).
    nh3_bg_ug_m3, so2_bg_ug_m3, nox_bg_ug_m3
        Uniform synthetic background concentrations (ug/m3).
    """

    source_height_m: float = 5.0
    landuse: str = "grass"
    z0_m: float = 0.1
    receptor_z0_m: float | None = None
    nh3_bg_ug_m3: float = 8.0
    so2_bg_ug_m3: float = 1.0
    nox_bg_ug_m3: float = 20.0
    n_directions: int = 36
    distances_m: tuple[float, ...] = REFERENCE_DISTANCES_M
    emission_kg_nh3_per_yr: float = 1000.0
    diurnal_code: int = 4
    heat_content_mw: float = 0.0
    source_diameter_m: float = 0.0
    source_spread_m: float = 0.0
    year: int = 2020
    meteotype: int = 1
    tag: str = ""

    def __post_init__(self) -> None:
        if self.landuse not in LANDUSE_CLASSES:
            raise ValueError(f"landuse {self.landuse!r} not in {sorted(LANDUSE_CLASSES)}")
        if not 0 < self.z0_m <= 3:
            raise ValueError(f"z0_m must be in (0, 3], got {self.z0_m}")
        if self.receptor_z0_m is not None and not 0 < self.receptor_z0_m <= 3:
            raise ValueError(f"receptor_z0_m must be in (0, 3] or None, got {self.receptor_z0_m}")
        if self.n_directions < 1:
            raise ValueError("n_directions must be >= 1")

    @property
    def z0_mode(self) -> str:
        return "fixed" if self.receptor_z0_m is None else "map"

    @property
    def effective_receptor_z0_m(self) -> float:
        return self.z0_m if self.receptor_z0_m is None else self.receptor_z0_m

    def key(self) -> str:
        """Stable short id of the physical settings (the tag is not part of it)."""
        d = dataclasses.asdict(self)
        d.pop("tag")
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:12]

    def label(self) -> str:
        rz = "" if self.receptor_z0_m is None else f"_rz{self.receptor_z0_m:g}"
        return (f"h{self.source_height_m:g}_{self.landuse}_z{self.z0_m:g}{rz}"
                f"_nh3{self.nh3_bg_ug_m3:g}_d{self.n_directions}")

    def meta(self) -> dict:
        """Case columns for the output tables."""
        return {
            "case_id": self.key(),
            "case_tag": self.tag,
            "source_height_m": self.source_height_m,
            "receptor_landuse": self.landuse,
            "landuse_class": LANDUSE_CLASSES[self.landuse],
            "z0_m": self.z0_m,
            "receptor_z0_m": self.effective_receptor_z0_m,
            "z0_mode": self.z0_mode,
            "nh3_bg_ug_per_m3": self.nh3_bg_ug_m3,
            "so2_bg_ug_per_m3": self.so2_bg_ug_m3,
            "nox_bg_ug_per_m3": self.nox_bg_ug_m3,
            "n_directions": self.n_directions,
            "emission_kg_nh3_per_yr": self.emission_kg_nh3_per_yr,
            "diurnal_code": self.diurnal_code,
        }


# --------------------------------------------------------------------------------------
# file writers
# --------------------------------------------------------------------------------------


def _fortran_record(payload: bytes) -> bytes:
    """One record of a gfortran sequential unformatted file (4-byte length markers)."""
    n = struct.pack("<i", len(payload))
    return n + payload + n


def _aps_header(xul_km: float, yul_km: float, ncol: int, nrow: int, dx_km: float, dy_km: float,
                comp: str, unit: str, comment: str) -> bytes:
    def s(text: str, n: int) -> bytes:
        return text.encode("ascii")[:n].ljust(n, b" ")

    payload = (struct.pack("<4i", 0, 0, 0, 0) + s(comp, 10) + s(unit, 10) + s("n2kzones", 10)
               + s(comment, 22) + s("e9.3", 6)
               + struct.pack("<i2f2i2f", 1, xul_km, yul_km, ncol, nrow, dx_km, dy_km))
    return _fortran_record(payload)


def write_aps_uniform(path: Path, fields: Sequence[float], *, integer: bool = False,
                      comp: str = "", unit: str = "", comment: str = "uniform",
                      xul_km: float = 40.0, yul_km: float = 500.0, ncol: int = 46,
                      nrow: int = 46, d_km: float = 5.0) -> None:
    """Write an APS grid file (OPS ``m_aps.f90`` format) with one uniform value per field.

    Real grids are REAL*4, integer grids INTEGER*2 (z0 in 0.1 mm, land-use percentages).
    The default extent (RD km 40..270 x 270..500) covers the source +- 115 km.
    """
    out = bytearray()
    for value in fields:
        out += _aps_header(xul_km, yul_km, ncol, nrow, d_km, d_km, comp, unit, comment)
        if integer:
            row = struct.pack(f"<{ncol}h", *([int(round(value))] * ncol))
        else:
            row = struct.pack(f"<{ncol}f", *([float(value)] * ncol))
        rec = _fortran_record(row)
        out += rec * nrow
    path.write_bytes(bytes(out))


def write_dvepre(path: Path) -> None:
    """Standard diurnal-variation table (I6,12F6.0) from OPS's USER_MANUAL."""
    lines = ["! code 0-2 2-4 4-6 6-8 8-10 10-12 12-14 14-16 16-18 18-20 20-22 22-24 description"]
    for code, vals, desc in DVEPRE_ROWS:
        lines.append(f"{code:6d}" + "".join(f"{v:6d}" for v in vals) + "  " + desc)
    path.write_text("\n".join(lines) + "\n")


def write_datadir(datadir: Path, case: Case, gammawater: Path) -> None:
    """OPS DATADIR: dvepre.ops, z0eur.ops placeholder, gamma water, uniform backgrounds."""
    datadir.mkdir(parents=True, exist_ok=True)
    write_dvepre(datadir / "dvepre.ops")
    # Europe z0 map: OPS reads it only when ROUGHNESS = 0 and then only outside the NL map,
    # which here covers every receptor; uniform z0 in 0.1 mm.
    write_aps_uniform(datadir / "z0eur.ops", [case.z0_m * 1e4], integer=True, comp="z0",
                      unit="0.1mm", xul_km=-10000, yul_km=10000, ncol=4, nrow=4, d_km=5000)
    shutil.copyfile(gammawater, datadir / "gammawater.ops")
    chem = datadir / "Chem_meteo_actual"
    chem.mkdir(exist_ok=True)
    for comp, val in (("nh3", case.nh3_bg_ug_m3), ("so2", case.so2_bg_ug_m3),
                      ("nox", case.nox_bg_ug_m3)):
        write_aps_uniform(chem / f"bg{comp}c{case.year}.ops", [val], comp=comp.upper(),
                          unit="ug/m3", comment=f"uniform {val:g}")


def receptor_ring(case: Case) -> pd.DataFrame:
    """Receptor table: bearing (deg from north, clockwise), nominal distance, RD x/y.

    OPS truncates receptor coordinates to integer metres (``ix = int(rx)``), so the file
    holds integers (rounded to the nearest metre) and the actual distance is reported too.
    """
    rows = []
    x0, y0 = SOURCE_XY
    n = 0
    for k in range(case.n_directions):
        bearing = 360.0 * k / case.n_directions
        b = math.radians(bearing)
        for d in case.distances_m:
            n += 1
            x = int(round(x0 + d * math.sin(b)))
            y = int(round(y0 + d * math.cos(b)))
            rows.append((n, bearing, d, x, y, math.hypot(x - x0, y - y0)))
    return pd.DataFrame(rows, columns=["rcp", "direction_deg", "distance_m", "x", "y",
                                       "distance_actual_m"])


def write_receptors(path: Path, ring: pd.DataFrame, case: Case) -> None:
    """Receptor file for option -perc: ID name x y z0 dominant_lu lu1..lu9 (%)."""
    cls = LANDUSE_CLASSES[case.landuse]
    perc = ["100" if c == cls else "0" for c in range(1, 10)]
    z0 = case.effective_receptor_z0_m
    lines = ["nr name x y z0 lu_dom lu1 lu2 lu3 lu4 lu5 lu6 lu7 lu8 lu9"]
    for r in ring.itertuples():
        lines.append(f"{r.rcp} r{r.rcp} {r.x} {r.y} {z0:.4f} {cls} " + " ".join(perc))
    path.write_text("\n".join(lines) + "\n")


def emission_g_per_s(kg_per_yr: float) -> float:
    return kg_per_yr * 1000.0 / SECONDS_PER_YEAR


def write_emission(path: Path, case: Case) -> None:
    """BRN-VERSION 1 emission file with one point source."""
    q = emission_g_per_s(case.emission_kg_nh3_per_yr)
    x, y = SOURCE_XY
    path.write_text(
        "! BRN-VERSION 1\n"
        "! snr x y q hc h d s dv cat area ps comment\n"
        f"1 {x} {y} {q:.6E} {case.heat_content_mw:.3f} {case.source_height_m:.2f} "
        f"{case.source_diameter_m:.1f} {case.source_spread_m:.1f} {case.diurnal_code} 1 1 0 NH3\n"
    )


def write_control(path: Path, case: Case, *, datadir: Path, emfile: Path, rcpfile: Path,
                  meteo: Path, pltfile: Path, prnfile: Path, z0file: Path | None,
                  lufile: Path | None) -> None:
    """OPS control file (keys as in USER_MANUAL.md 'OPS control file')."""
    fixed = case.receptor_z0_m is None
    kv = [
        ("DATADIR", f"{datadir}/"),
        ("PROJECT", f"n2kzones {case.label()}"),
        ("RUNID", case.key()),
        ("YEAR", str(case.year)),
        ("COMPCODE", "3"),
        ("COMPNAME", "NH3"),
        ("MOLWEIGHT", "17.0"),
        ("PHASE", "1"),
        ("LOSS", "1"),
        ("DDSPECTYPE", ""),
        ("DDPARVALUE", ""),
        ("WDSPECTYPE", ""),
        ("WDPARVALUE", ""),
        ("DIFFCOEFF", "0.240"),
        ("WASHOUT", "0"),
        ("CONVRATE", ""),
        ("LDCONVRATE", ""),
        ("EMFILE", str(emfile)),
        ("USDVEFILE", ""),
        ("USPSDFILE", ""),
        ("EMCORFAC", "1.0"),
        ("TARGETGROUP", "0"),
        ("COUNTRY", "0"),
        ("RECEPTYPE", "2"),
        ("XCENTER", ""),
        ("YCENTER", ""),
        ("NCOLS", ""),
        ("NROWS", ""),
        ("RESO", ""),
        ("OUTER", ""),
        ("RCPFILE", str(rcpfile)),
        ("ROUGHNESS", f"{case.z0_m:g}" if fixed else "0"),
        ("Z0FILE", "" if fixed else str(z0file)),
        ("LUFILE", "" if fixed else str(lufile)),
        ("METEOTYPE", str(case.meteotype)),
        ("MTFILE", str(meteo)),
        ("DEPUNIT", "3"),
        ("PLTFILE", str(pltfile)),
        ("PRNFILE", str(prnfile)),
        ("INCLUDE", "1"),
        ("GUIMADE", "0"),
    ]
    path.write_text("".join(f"{k:<15}{v}\n" for k, v in kv))


# --------------------------------------------------------------------------------------
# output parsing
# --------------------------------------------------------------------------------------

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][-+]?\d+)?"


#: Column order of the per-receptor table in OPS's report file (PRNFILE, INCLUDE 1):
#: nr name x y | conc NH3 | dry NHx | wet NHx | tot NHx | conc NH4 | dry NH3 | dry NH4 |
#: wet NH3 | wet NH4. Values are printed with 5 significant digits (E12.5); the PLTFILE
#: has only 4, so the report file is what is parsed.
REPORT_COLUMNS = [
    "conc_nh3_ug_per_m3", "dry_deposition_mol_n_per_ha_per_yr",
    "wet_deposition_mol_n_per_ha_per_yr", "deposition_mol_n_per_ha_per_yr",
    "conc_nh4_ug_per_m3", "dry_nh3_mol_n_per_ha_per_yr", "dry_nh4_mol_n_per_ha_per_yr",
    "wet_nh3_mol_n_per_ha_per_yr", "wet_nh4_mol_n_per_ha_per_yr",
]

_SUMMARY_PATTERNS = {
    "conv_rate_pct_per_h": r"eff\. NH3 > NH4 chem\. conv\. rate\s*:\s*(%s)",
    "vd_eff_nh3_cm_per_s": r"effective dry deposition velocity NH3\s*:\s*(%s)",
    "vd_eff_nh4_cm_per_s": r"effective dry deposition velocity NH4\s*:\s*(%s)",
    "wet_rate_nh3_pct_per_h": r"effective wet deposition rate NH3\s*:\s*(%s)",
    "precip_mm": r"annual precipitation amount\s*:\s*(%s)",
}


def parse_report(path: Path) -> tuple[pd.DataFrame, dict]:
    """Parse OPS's report file: per-receptor table and run summary.

    Returns (table with columns ``rcp, x, y`` + :data:`REPORT_COLUMNS`, summary dict with
    the OPS version string and the receptor-averaged summary values).
    """
    text = path.read_text(errors="replace")
    lines = text.splitlines()
    rows = []
    in_table = False
    for ln in lines:
        if "Calculated for specific locations" in ln:
            in_table = True
            continue
        if in_table:
            toks = ln.split()
            if not toks:
                if rows:
                    in_table = False
                continue
            if len(toks) == 13 and re.fullmatch(r"\d+", toks[0]):
                rows.append([int(toks[0]), float(toks[2]), float(toks[3])]
                            + [float(t.replace("D", "E")) for t in toks[4:]])
    if not rows:
        raise RuntimeError(f"no receptor table in {path} (INCLUDE 1 missing?)")
    table = pd.DataFrame(rows, columns=["rcp", "x", "y"] + REPORT_COLUMNS)
    summary: dict = {"ops_version": parse_report_version(path)}
    for k, pat in _SUMMARY_PATTERNS.items():
        m = re.search(pat % _NUM, text)
        summary[k] = float(m.group(1)) if m else None
    return table, summary


def parse_report_version(path: Path) -> str:
    m = re.search(r"(L-\d+\.\d+\.\d+\.\d+)", path.read_text(errors="replace"))
    return m.group(1) if m else ""


# --------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------


@dataclass
class Env:
    """Where OPS and its non-synthetic input files are."""

    ops_exe: Path
    meteo: Path
    gammawater: Path
    meteotype: int = 1
    nice: int = 10
    omp_threads: int = 1
    keep: bool = False
    workdir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "ops-runs")

    @classmethod
    def from_args(cls, a: argparse.Namespace) -> Env:
        src = Path(a.ops_src) if a.ops_src else None
        res = src / "ops_lt" / "tst" / "level_1" / "resources" if src else None
        meteo = Path(a.meteo) if a.meteo else (res / "a005105c.005" if res else None)
        gw = Path(a.gammawater) if a.gammawater else (res / "gammawater.ops" if res else None)
        if meteo is None or gw is None:
            raise SystemExit("give --ops-src (an OPS checkout) or both --meteo and --gammawater")
        for p in (Path(a.ops_exe), gw):
            if not p.exists():
                raise SystemExit(f"not found: {p}")
        if getattr(a, "meteotype", 1) == 0:
            # interpolation between regions: MTFILE ends in ".*", OPS opens regions 001..006
            if not str(meteo).endswith(".*"):
                raise SystemExit("with --meteotype 0 give --meteo as PATH/<name>.* "
                                 "(e.g. m005114c.*); OPS reads regions .001-.006")
            missing = [f"{str(meteo)[:-1]}{r:03d}" for r in range(1, 7)
                       if not Path(f"{str(meteo)[:-1]}{r:03d}").exists()]
            if missing:
                raise SystemExit(f"meteo region files not found: {missing}")
            meteo = Path(os.path.abspath(meteo))
        elif not meteo.exists():
            raise SystemExit(f"not found: {meteo}")
        else:
            meteo = meteo.resolve()
        return cls(ops_exe=Path(a.ops_exe).resolve(), meteo=meteo, meteotype=a.meteotype,
                   gammawater=gw.resolve(), nice=a.nice, omp_threads=a.omp_threads,
                   keep=a.keep, workdir=Path(a.workdir).resolve())


def run_case(case: Case, env: Env) -> tuple[pd.DataFrame, dict]:
    """Run OPS for one case; return (per-receptor table, run info)."""
    env.workdir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{case.label()}_", dir=env.workdir))
    datadir = run_dir / "data"
    write_datadir(datadir, case, env.gammawater)
    ring = receptor_ring(case)
    emfile, rcpfile = run_dir / "source.brn", run_dir / "receptors.rcp"
    ctr, plt, prn = run_dir / "run.ctr", run_dir / "run.plt", run_dir / "run.lpt"
    write_emission(emfile, case)
    write_receptors(rcpfile, ring, case)
    z0file = lufile = None
    if case.z0_mode == "map":
        z0file, lufile = run_dir / "z0_uniform.ops", run_dir / "lu_uniform.ops"
        write_aps_uniform(z0file, [case.z0_m * 1e4], integer=True, comp="z0", unit="0.1mm")
        # field 1 = dominant class, fields 2..10 = % per class: uniform grass along the path
        write_aps_uniform(lufile, [1, 100, 0, 0, 0, 0, 0, 0, 0, 0], integer=True, comp="lu",
                          unit="%")
    if case.meteotype != env.meteotype:
        raise ValueError(f"case.meteotype={case.meteotype} but the environment's meteo file "
                         f"is for METEOTYPE {env.meteotype}")
    write_control(ctr, case, datadir=datadir, emfile=emfile, rcpfile=rcpfile, meteo=env.meteo,
                  pltfile=plt, prnfile=prn, z0file=z0file, lufile=lufile)
    cmd = [str(env.ops_exe), "-i", str(ctr), "-perc"]
    if env.nice:
        cmd = ["nice", "-n", str(env.nice)] + cmd
    environ = dict(os.environ, OMP_NUM_THREADS=str(env.omp_threads))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=run_dir, capture_output=True, text=True, env=environ)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not prn.exists():
        log = (run_dir / "run.log")
        raise RuntimeError(f"OPS failed for {case.label()} (rc={proc.returncode}) in {run_dir}:\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}\n"
                           f"{log.read_text()[-2000:] if log.exists() else ''}")
    raw, summary = parse_report(prn)
    table = tidy_report(raw, ring, case)
    info = {"case_id": case.key(), "label": case.label(), "wall_s": round(wall, 3),
            "n_receptors": len(ring), **summary}
    if not env.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        info["run_dir"] = str(run_dir)
    return table, info


def tidy_report(raw: pd.DataFrame, ring: pd.DataFrame, case: Case) -> pd.DataFrame:
    """Join the parsed report table to the receptor ring and the case columns."""
    if len(raw) != len(ring) or not (raw["rcp"].to_numpy() == ring["rcp"].to_numpy()).all():
        raise RuntimeError(f"report has {len(raw)} receptors, expected {len(ring)}")
    if not (np.allclose(raw["x"], ring["x"]) and np.allclose(raw["y"], ring["y"])):
        raise RuntimeError("receptor coordinates in the report differ from the receptor file")
    out = ring[["direction_deg", "distance_m", "distance_actual_m"]].reset_index(drop=True).copy()
    for c in OUTPUT_COLUMNS:
        out[c] = raw[c].to_numpy()
    meta = case.meta()
    for k, v in reversed(list(meta.items())):
        out.insert(0, k, v)
    return out


def run_many(cases: Sequence[Case], env: Env, jobs: int = 1,
             progress: bool = True) -> tuple[pd.DataFrame, list[dict]]:
    """Run cases (``jobs`` OPS processes at once); return the concatenated table + infos."""
    tables, infos = [], []
    t0 = time.perf_counter()
    if jobs <= 1:
        it: Iterable = (run_case(c, env) for c in cases)
    else:
        pool = cf.ProcessPoolExecutor(max_workers=jobs)
        it = pool.map(run_case, cases, [env] * len(cases))
    for i, (tab, info) in enumerate(it, 1):
        tables.append(tab)
        infos.append(info)
        if progress:
            print(f"[{i}/{len(cases)}] {info['label']} {info['wall_s']:.1f} s "
                  f"(elapsed {time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return pd.concat(tables, ignore_index=True), infos


def direction_average(df: pd.DataFrame) -> pd.DataFrame:
    """Average the per-receptor table over directions (one row per case x distance)."""
    keys = [c for c in df.columns if c not in OUTPUT_COLUMNS
            and c not in ("direction_deg", "distance_actual_m")]
    g = df.groupby(keys, sort=False, dropna=False)
    prof = g[OUTPUT_COLUMNS].mean().reset_index()
    prof["deposition_min_over_directions"] = g["deposition_mol_n_per_ha_per_yr"].min().to_numpy()
    prof["deposition_max_over_directions"] = g["deposition_mol_n_per_ha_per_yr"].max().to_numpy()
    return prof


# --------------------------------------------------------------------------------------
# executable info
# --------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def exe_info(exe: Path) -> dict:
    """Version string OPS reports (``-r``) and the sha256 of the executable."""
    out = subprocess.run([str(exe), "-r"], capture_output=True, text=True).stdout.strip()
    return {"ops_exe": str(exe), "ops_exe_sha256": sha256(exe), "ops_version_output": out}


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ops-exe", required=True, help="OPS-LT executable built by the user")
    p.add_argument("--ops-src", help="OPS checkout (default source of meteo + gamma-water files)")
    p.add_argument("--meteo", help="OPS meteo statistics file (default: a005105c.005 from "
                                   "--ops-src test resources)")
    p.add_argument("--meteotype", type=int, default=1, choices=(0, 1, 2),
                   help="METEOTYPE: 0 interpolate regions (MTFILE ends in .*), "
                        "1 one region (default), 2 user file")
    p.add_argument("--gammawater", help="gammawater.ops (default: from --ops-src)")
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "ops-runs"),
                   help="scratch directory for OPS runs (outside the repo)")
    p.add_argument("--nice", type=int, default=10, help="nice level for OPS (0 = none)")
    p.add_argument("--omp-threads", type=int, default=1, help="OMP_NUM_THREADS for OPS")
    p.add_argument("--keep", action="store_true", help="keep run directories")


def _case_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--height", type=float, default=5.0, help="source height (m)")
    p.add_argument("--landuse", default="grass", choices=sorted(LANDUSE_CLASSES))
    p.add_argument("--z0", type=float, default=0.1, help="landscape/domain z0 (m)")
    p.add_argument("--receptor-z0", type=float, default=None,
                   help="receptor z0 (m); switches to map mode (ROUGHNESS 0 + uniform maps)")
    p.add_argument("--nh3-bg", type=float, default=8.0)
    p.add_argument("--so2-bg", type=float, default=1.0)
    p.add_argument("--nox-bg", type=float, default=20.0)
    p.add_argument("--directions", type=int, default=36)
    p.add_argument("--distances", default="reference",
                   help="'reference' (104 distances 10 m-100 km), 'spokes' (18 distances "
                        "25 m-25 km of the reference table), or 'log:N' (N log-spaced 10 m-100 km)")
    p.add_argument("--diurnal-code", type=int, default=4)
    p.add_argument("--year", type=int, default=2020)


def parse_distances(spec: str) -> tuple[float, ...]:
    if spec == "reference":
        return REFERENCE_DISTANCES_M
    if spec == "spokes":
        return tuple(float(d) for d in REFERENCE_SPOKE_DISTANCES_M)
    if spec.startswith("log:"):
        return log_distances(n=int(spec[4:]))
    return tuple(float(x) for x in spec.split(","))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p_info = sub.add_parser("info", help="print version and sha256 of an OPS executable")
    p_info.add_argument("--ops-exe", required=True)

    p_run = sub.add_parser("run", help="run one case and write its per-receptor table")
    _common(p_run)
    _case_args(p_run)
    p_run.add_argument("--out", required=True, help="output CSV (per receptor)")

    p_camp = sub.add_parser("campaign", help="run a designed set of cases (see campaign.py)")
    _common(p_camp)
    p_camp.add_argument("--design", default="main", help="design name in campaign.py")
    p_camp.add_argument("--out", required=True, help="output directory (outside the repo)")
    p_camp.add_argument("--jobs", type=int, default=1, help="OPS processes at once")
    p_camp.add_argument("--limit", type=int, default=0, help="run only the first N new cases")

    a = ap.parse_args(argv)
    if a.cmd == "info":
        print(json.dumps(exe_info(Path(a.ops_exe)), indent=2))
        return 0
    env = Env.from_args(a)
    if a.cmd == "run":
        case = Case(source_height_m=a.height, landuse=a.landuse, z0_m=a.z0,
                    receptor_z0_m=a.receptor_z0, nh3_bg_ug_m3=a.nh3_bg, so2_bg_ug_m3=a.so2_bg,
                    nox_bg_ug_m3=a.nox_bg, n_directions=a.directions,
                    distances_m=parse_distances(a.distances), diurnal_code=a.diurnal_code,
                    year=a.year, meteotype=a.meteotype)
        table, info = run_case(case, env)
        table.to_csv(a.out, index=False)
        print(json.dumps(info))
        return 0
    if a.cmd == "campaign":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import campaign  # noqa: PLC0415

        return campaign.run_campaign(a, env)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
