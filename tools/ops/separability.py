#!/usr/bin/env python3
"""How well do candidate table layouts reproduce held-out OPS runs?

Reads the packaged direction-averaged profiles (``ops_nh3_profiles.csv.gz``) and measures,
for distances 100 m-20 km, the error of

1. **interpolation along one axis** inside a full table (every other axis at a tabulated
   value): linear interpolation of ln(deposition) in ln(height), ln(landscape z0),
   ln(receptor z0) and ln(NH3 background) between the two tabulated neighbours of a
   held-out value;
2. **product layouts** that factor the table:

   * ``path x receptor(joint)``: D = P(h, z0) * R(lu, rz, bg), P = D(h, z0, grass, rz 0.1,
     bg 8), R = D(5 m, 0.1, lu, rz, bg) / D(5 m, 0.1, grass, 0.1, 8) (one joint receptor
     table measured at the reference path);
   * ``path x lu x rz x bg``: R replaced by the product of one-at-a-time factors at the
     reference path, R_lu * R_rz * R_bg;
   * ``path x lu x rz x bg per height``: the one-at-a-time factors measured at the case's
     own height and landscape z0 (tests only whether the receptor axes separate from each
     other);
   * ``height x receptor(joint), z0 shift``: like the first but with the receptor table
     measured at the case's landscape z0 would need a table per z0; not included.

3. **combined**: product layout with the path term interpolated to held-out heights /
   landscape z0.

Error statistics per row: number of cases, median |ln(pred/true)| over all case x distance
points, and max |pred/true - 1|. Target: median <= 0.03 and max <= 10 %.

    python tools/ops/separability.py [--profiles PATH] [--rmin 100 --rmax 20000]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import campaign as cp  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PROFILES = REPO / "src" / "n2kzones" / "deposition" / "data" / "ops" / \
    "ops_nh3_profiles.csv.gz"
VALUE = "deposition_mol_n_per_ha_per_yr"
KEY = ("source_height_m", "z0_m", "receptor_landuse", "receptor_z0_m", "nh3_bg_ug_per_m3")
TARGET_MED, TARGET_MAX = 0.03, 0.10


class Table:
    """Profiles indexed by (h, z0, lu, rz, bg) -> ln D over the selected distances."""

    def __init__(self, prof: pd.DataFrame, rmin: float, rmax: float):
        sel = prof[(prof.distance_m >= rmin) & (prof.distance_m <= rmax)]
        self.distances = np.sort(sel.distance_m.unique())
        self.lnd: dict[tuple, np.ndarray] = {}
        for key, g in sel.groupby(list(KEY)):
            g = g.sort_values("distance_m")
            if len(g) != len(self.distances):
                continue
            self.lnd[tuple(round(float(k), 6) if not isinstance(k, str) else k
                           for k in key)] = np.log(g[VALUE].to_numpy())

    def get(self, h, z0, lu, rz, bg) -> np.ndarray | None:
        return self.lnd.get((round(h, 6), round(z0, 6), lu, round(rz, 6), round(bg, 6)))

    def keys(self) -> Iterable[tuple]:
        return self.lnd.keys()


class Errors:
    """Accumulates ln errors for one row of the result table."""

    def __init__(self, layout: str, axis: str, note: str = ""):
        self.layout, self.axis, self.note = layout, axis, note
        self.e: list[np.ndarray] = []
        self.keys: list[tuple] = []
        self.distances: np.ndarray | None = None

    def add(self, pred: np.ndarray | None, true: np.ndarray | None, key: tuple = ()) -> None:
        if pred is not None and true is not None:
            self.e.append(pred - true)
            self.keys.append(key)

    def worst(self) -> str:
        """The case and distance of the largest error."""
        if not self.e:
            return ""
        i = int(np.argmax([np.max(np.abs(e)) for e in self.e]))
        j = int(np.argmax(np.abs(self.e[i])))
        d = "" if self.distances is None else f" at {self.distances[j]:g} m"
        h, z0, lu, rz, bg = self.keys[i] if self.keys[i] else ("?",) * 5
        return f"h={h} z0={z0} {lu} z0r={rz} bg={bg}{d}: {np.expm1(self.e[i][j]):+.1%}"

    def by(self, axis: int) -> dict:
        """Max relative error grouped by one key element."""
        out: dict = {}
        for k, e in zip(self.keys, self.e, strict=True):
            out[k[axis]] = max(out.get(k[axis], 0.0), float(np.max(np.abs(np.expm1(e)))))
        return dict(sorted(out.items(), key=lambda kv: str(kv[0])))

    def row(self) -> dict:
        if not self.e:
            return {"layout": self.layout, "axis": self.axis, "cases": 0}
        e = np.concatenate(self.e)
        med = float(np.median(np.abs(e)))
        mx = float(np.max(np.abs(np.expm1(e))))
        return {"layout": self.layout, "axis": self.axis, "cases": len(self.e),
                "median_abs_ln_err": med, "max_rel_err": mx,
                "meets_target": med <= TARGET_MED and mx <= TARGET_MAX, "worst": self.worst()}


def _interp(x: float, x0: float, x1: float, y0: np.ndarray, y1: np.ndarray) -> np.ndarray:
    t = (np.log(x) - np.log(x0)) / (np.log(x1) - np.log(x0))
    return y0 + t * (y1 - y0)


def _neighbours(x: float, grid: Iterable[float]) -> tuple[float, float]:
    g = sorted(grid)
    lo = max(v for v in g if v < x)
    hi = min(v for v in g if v > x)
    return lo, hi


AX = {"h": 0, "z0": 1, "rz": 3, "bg": 4}
GRIDS = {"h": cp.H_TRAIN, "z0": cp.Z0L_TRAIN, "rz": cp.RZ_TRAIN, "bg": cp.BG_TRAIN}
TESTS = {"h": cp.H_TEST, "z0": cp.Z0L_TEST, "rz": cp.RZ_TEST, "bg": cp.BG_TEST}
NAMES = {"h": "source height (log h)", "z0": "landscape z0 (log z0)",
         "rz": "receptor z0 (log z0r)", "bg": "NH3 background (log bg)"}


def axis_interpolation(t: Table, axis: str, *, couple_rz: bool = False) -> Errors:
    """Full-table interpolation along ``axis`` at its held-out values.

    ``couple_rz``: for the landscape-z0 axis, move the receptor z0 with it (rz = z0), i.e.
    interpolate the fixed-mode cases of the path block.
    """
    i = AX[axis]
    name = NAMES[axis] + (" with receptor z0 = z0" if couple_rz else "")
    err = Errors("full table", name)
    other_train = {"h": set(cp.H_TRAIN), "z0": set(cp.Z0L_TRAIN), "rz": set(cp.RZ_TRAIN),
                   "bg": set(cp.BG_TRAIN)}
    for key in list(t.keys()):
        if key[i] not in TESTS[axis]:
            continue
        # the other numeric axes must sit on tabulated (training) values
        ok = all(key[AX[o]] in other_train[o] or (couple_rz and o == "rz")
                 for o in AX if o != axis)
        if not ok:
            continue
        if couple_rz and not (axis == "z0" and abs(key[3] - key[1]) < 1e-9):
            continue
        if not couple_rz and axis == "z0" and abs(key[3] - key[1]) < 1e-9:
            continue  # rz follows z0 here: that is the coupled variant
        lo, hi = _neighbours(key[i], GRIDS[axis])
        k0, k1 = list(key), list(key)
        k0[i], k1[i] = lo, hi
        if couple_rz:
            k0[3], k1[3] = lo, hi
        y0, y1 = t.get(*k0), t.get(*k1)
        if y0 is None or y1 is None:
            continue
        err.add(_interp(key[i], lo, hi, y0, y1), t.lnd[key], key)
    return err


def _path(t: Table, h: float, z0: float) -> np.ndarray | None:
    """Path term: grass receptor with receptor z0 0.1 m, background 8."""
    return t.get(h, z0, cp.REF_LU, cp.REF_Z0L, cp.REF_BG)


def _path_interp(t: Table, h: float, z0: float) -> np.ndarray | None:
    """Path term at any (h, z0): tabulated or log-interpolated from training values."""
    def at_h(z: float) -> np.ndarray | None:
        if h in cp.H_TRAIN:
            return _path(t, h, z)
        lo, hi = _neighbours(h, cp.H_TRAIN)
        a, b = _path(t, lo, z), _path(t, hi, z)
        return None if a is None or b is None else _interp(h, lo, hi, a, b)
    if z0 in cp.Z0L_TRAIN:
        return at_h(z0)
    lo, hi = _neighbours(z0, cp.Z0L_TRAIN)
    a, b = at_h(lo), at_h(hi)
    return None if a is None or b is None else _interp(z0, lo, hi, a, b)


def product_layouts(t: Table) -> list[Errors]:
    ref = _path(t, cp.REF_H, cp.REF_Z0L)
    rows = {
        "joint": Errors("path(h,z0) x receptor(lu,rz,bg) [joint table at ref path]",
                        "all receptor axes, h/z0 away from ref"),
        "sep": Errors("path(h,z0) x R_lu x R_rz x R_bg [OAT factors at ref path]",
                      "all receptor axes, h/z0 away from ref"),
        "sep_ref": Errors("path(h,z0) x R_lu x R_rz x R_bg [OAT factors at ref path]",
                          "receptor axes only, at ref path (h 5, z0 0.1)"),
        "sep_h": Errors("path(h,z0) x R_lu x R_rz x R_bg [OAT factors per h,z0]",
                        "cases with >= 2 receptor axes off base"),
        "comb": Errors("combined: interpolated path x joint receptor table",
                       "held-out h or z0 with receptor variations"),
    }
    per_axis = {ax: Errors("path(h,z0) x receptor(lu,rz,bg) [joint table at ref path]",
                           f"one axis varied: {ax}") for ax in ("lu", "rz", "bg")}

    def r_joint(lu, rz, bg):
        d = t.get(cp.REF_H, cp.REF_Z0L, lu, rz, bg)
        return None if d is None or ref is None else d - ref

    def r_sep(lu, rz, bg, h=cp.REF_H, z0=cp.REF_Z0L):
        base_rz = z0  # lu/bg OAT runs use receptor z0 = landscape z0
        p = _path(t, h, z0)
        g0 = t.get(h, z0, cp.REF_LU, base_rz, cp.REF_BG)
        rl = t.get(h, z0, lu, base_rz, cp.REF_BG)
        rr = t.get(h, z0, cp.REF_LU, rz, cp.REF_BG)
        rb = t.get(h, z0, cp.REF_LU, base_rz, bg)
        if any(v is None for v in (p, g0, rl, rr, rb)):
            return None
        return (rl - g0) + (rr - p) + (rb - g0)

    for key in list(t.keys()):
        h, z0, lu, rz, bg = key
        true = t.lnd[key]
        is_ref_path = (h, z0) == (cp.REF_H, cp.REF_Z0L)
        n_rec = (lu != cp.REF_LU) + (abs(rz - cp.REF_Z0L) > 1e-9) + (bg != cp.REF_BG)
        trainable = h in cp.H_TRAIN + cp.H_TEST and z0 in cp.Z0L_TRAIN + cp.Z0L_TEST
        if not trainable:
            continue
        p = _path(t, h, z0)
        if not is_ref_path and p is not None and n_rec > 0:
            rj = r_joint(lu, rz, bg)
            rows["joint"].add(None if rj is None else p + rj, true, key)
            if n_rec == 1:
                ax = "lu" if lu != cp.REF_LU else ("rz" if abs(rz - cp.REF_Z0L) > 1e-9 else "bg")
                per_axis[ax].add(None if rj is None else p + rj, true, key)
            rs = r_sep(lu, rz, bg)
            rows["sep"].add(None if rs is None else p + rs, true, key)
        # axes off the base of the one-at-a-time factor tables at this (h, z0):
        # land use and background factors were run with receptor z0 = landscape z0
        n_off = (lu != cp.REF_LU) + (abs(rz - z0) > 1e-9) + (bg != cp.REF_BG)
        if is_ref_path and n_off >= 2:
            rs = r_sep(lu, rz, bg)
            rows["sep_ref"].add(None if rs is None else ref + rs, true, key)
        if n_off >= 2 and p is not None:
            rs = r_sep(lu, rz, bg, h, z0)
            rows["sep_h"].add(None if rs is None else p + rs, true, key)
        if (h in cp.H_TEST or z0 in cp.Z0L_TEST) and n_rec > 0:
            pi = _path_interp(t, h, z0)
            rj = r_joint(lu, rz, bg)
            if pi is not None and rj is not None:
                rows["comb"].add(pi + rj, true, key)
    # landscape z0 separable from the receptor given the height? R measured at z0 = 0.1 for
    # the same (h, lu, rz, bg), applied to z0 = 0.25 / 0.15 with that z0's path term
    rows["z0sep"] = Errors("path(h,z0) x receptor(lu,rz,bg | h) [receptor factor at z0 0.1]",
                           "landscape z0 0.25 / 0.15, receptor varied")
    for key in list(t.keys()):
        h, z0, lu, rz, bg = key
        if abs(z0 - cp.REF_Z0L) < 1e-9:
            continue
        n_rec = (lu != cp.REF_LU) + (abs(rz - cp.REF_Z0L) > 1e-9) + (bg != cp.REF_BG)
        if n_rec == 0:
            continue
        p = _path(t, h, z0)
        a, b = t.get(h, cp.REF_Z0L, lu, rz, bg), _path(t, h, cp.REF_Z0L)
        if p is not None and a is not None and b is not None:
            rows["z0sep"].add(p + (a - b), t.lnd[key], key)
    # semi-separable: grass/8 ug table over (h, z0, rz) x land-use/background ratio given rz
    rows["t3"] = Errors("G(h,z0,rz) x R(lu,bg | rz) [R at ref path]",
                        "lu and/or bg varied, h/z0 away from ref")
    rows["t3sep"] = Errors("G(h,z0,rz) x R_lu(lu | rz) x R_bg(bg | rz) [at ref path]",
                           "lu and/or bg varied (all h, z0)")
    for key in list(t.keys()):
        h, z0, lu, rz, bg = key
        if lu == cp.REF_LU and bg == cp.REF_BG:
            continue
        g = t.get(h, z0, cp.REF_LU, rz, cp.REF_BG)
        g5 = t.get(cp.REF_H, cp.REF_Z0L, cp.REF_LU, rz, cp.REF_BG)
        rj = t.get(cp.REF_H, cp.REF_Z0L, lu, rz, bg)
        rl = t.get(cp.REF_H, cp.REF_Z0L, lu, rz, cp.REF_BG)
        rb = t.get(cp.REF_H, cp.REF_Z0L, cp.REF_LU, rz, bg)
        if g is None or g5 is None:
            continue
        if (h, z0) != (cp.REF_H, cp.REF_Z0L) and rj is not None:
            rows["t3"].add(g + rj - g5, t.lnd[key], key)
        if rl is not None and rb is not None and lu != cp.REF_LU and bg != cp.REF_BG:
            rows["t3sep"].add(g + (rl - g5) + (rb - g5), t.lnd[key], key)
    # ... with the land-use/background ratio measured at the case's own height (z0 0.1):
    # tests whether the landscape z0 separates from R(lu, bg | rz, h)
    rows["t3h"] = Errors("G(h,z0,rz) x R(lu,bg | rz, h) [R at z0 0.1]",
                         "lu and/or bg varied, landscape z0 0.25 / 0.15")
    for key in list(t.keys()):
        h, z0, lu, rz, bg = key
        if abs(z0 - cp.REF_Z0L) < 1e-9 or (lu == cp.REF_LU and bg == cp.REF_BG):
            continue
        g = t.get(h, z0, cp.REF_LU, rz, cp.REF_BG)
        gr = t.get(h, cp.REF_Z0L, cp.REF_LU, rz, cp.REF_BG)
        rj = t.get(h, cp.REF_Z0L, lu, rz, bg)
        if g is not None and gr is not None and rj is not None:
            rows["t3h"].add(g + rj - gr, t.lnd[key], key)
    return list(rows.values())[:1] + list(per_axis.values()) + list(rows.values())[1:]


def _brackets(x: float, grid: Iterable[float]) -> list[tuple[float, float]] | None:
    """[(node, weight)] for linear interpolation in ln x; None outside the grid."""
    g = sorted(grid)
    if any(abs(x - v) < 1e-9 for v in g):
        return [(min(g, key=lambda v: abs(v - x)), 1.0)]
    if x < g[0] or x > g[-1]:
        return None
    lo, hi = _neighbours(x, g)
    w = (np.log(x) - np.log(lo)) / (np.log(hi) - np.log(lo))
    return [(lo, 1.0 - w), (hi, w)]


def _multilinear(fn, values: list[float], grids: list[Iterable[float]]) -> np.ndarray | None:
    """Interpolate fn(*nodes) (ln D arrays) multilinearly in the logs of ``values``."""
    br = [_brackets(v, g) for v, g in zip(values, grids, strict=True)]
    if any(b is None for b in br):
        return None
    out = None
    for combo in np.ndindex(*[len(b) for b in br]):
        nodes = [br[i][j][0] for i, j in enumerate(combo)]
        w = float(np.prod([br[i][j][1] for i, j in enumerate(combo)]))
        y = fn(*nodes)
        if y is None:
            return None
        out = w * y if out is None else out + w * y
    return out


def recommended_layout(t: Table) -> list[Errors]:
    """G(h, z0, z0r) [grass, 8 ug/m3] x R(lu, bg | z0r, h) [landscape z0 0.1], every axis
    interpolated multilinearly in logs between training nodes; scored on every case that is
    not itself a node of the two tables (held-out values, landscape z0 != 0.1 with land use
    or background varied)."""
    def g(h, z0, rz):
        return t.get(h, z0, cp.REF_LU, rz, cp.REF_BG)

    def r_for(lu):
        def r(h, rz, bg):
            a, b = t.get(h, cp.REF_Z0L, lu, rz, bg), t.get(h, cp.REF_Z0L, cp.REF_LU, rz, cp.REF_BG)
            return None if a is None or b is None else a - b
        return r

    cats: dict[str, Errors] = {}
    for key in list(t.keys()):
        h, z0, lu, rz, bg = key
        off = [n for n, v, grid in (("h", h, cp.H_TRAIN), ("z0", z0, cp.Z0L_TRAIN),
                                    ("rz", rz, cp.RZ_TRAIN), ("bg", bg, cp.BG_TRAIN))
               if not any(abs(v - x) < 1e-9 for x in grid)]
        g_node = not off and lu == cp.REF_LU and bg == cp.REF_BG
        r_node = not off and abs(z0 - cp.REF_Z0L) < 1e-9
        if g_node or r_node:
            continue
        gi = _multilinear(g, [h, z0, rz], [cp.H_TRAIN, cp.Z0L_TRAIN, cp.RZ_TRAIN])
        ri = _multilinear(r_for(lu), [h, rz, bg], [cp.H_TRAIN, cp.RZ_TRAIN, cp.BG_TRAIN])
        if gi is None or ri is None:
            continue
        name = ("held out: " + "+".join(off)) if off else "on grid, landscape z0 0.25"
        cats.setdefault(name, Errors("G(h,z0,z0r) x R(lu,bg | z0r,h), log-interpolated", name))
        cats[name].add(gi + ri, t.lnd[key], key)
    allc = Errors("G(h,z0,z0r) x R(lu,bg | z0r,h), log-interpolated", "all test cases")
    for e in cats.values():
        allc.e += e.e
        allc.keys += e.keys
    return [allc] + [cats[k] for k in sorted(cats)]


def analyse(prof: pd.DataFrame, rmin: float = 100.0, rmax: float = 20000.0) -> pd.DataFrame:
    t = Table(prof, rmin, rmax)
    errs = [axis_interpolation(t, "h"), axis_interpolation(t, "z0"),
            axis_interpolation(t, "z0", couple_rz=True), axis_interpolation(t, "rz"),
            axis_interpolation(t, "bg")]
    errs += product_layouts(t)
    errs += recommended_layout(t)
    for e in errs:
        e.distances = t.distances
    analyse.last = errs  # type: ignore[attr-defined]
    return pd.DataFrame([e.row() for e in errs])


def by_distance(prof: pd.DataFrame, layout_fn, bands=((100, 500), (500, 2000), (2000, 20000))):
    return {b: layout_fn(analyse(prof, *b)) for b in bands}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", default=str(DEFAULT_PROFILES))
    ap.add_argument("--rmin", type=float, default=100.0)
    ap.add_argument("--rmax", type=float, default=20000.0)
    ap.add_argument("--bands", action="store_true", help="also per distance band")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--detail", action="store_true", help="max error by axis value")
    a = ap.parse_args()
    prof = pd.read_csv(a.profiles, dtype={"case_id": str})
    cases_csv = Path(a.profiles).with_name("ops_nh3_cases.csv.gz")
    if "source_height_m" not in prof.columns and cases_csv.exists():  # the packaged layout
        cases = pd.read_csv(cases_csv, dtype={"case_id": str})
        prof = prof.merge(cases.drop(columns=[c for c in cases.columns if c in prof.columns and c != "case_id"]),
                          on="case_id", how="left")
    res = analyse(prof, a.rmin, a.rmax)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 70)
    fmt = {"median_abs_ln_err": "{:.4f}".format, "max_rel_err": "{:.1%}".format}
    print(f"distances {a.rmin:g}-{a.rmax:g} m; target median |ln err| <= {TARGET_MED}, "
          f"max rel err <= {TARGET_MAX:.0%}")
    if a.markdown:
        r = res.copy()
        r["median_abs_ln_err"] = r["median_abs_ln_err"].map(fmt["median_abs_ln_err"])
        r["max_rel_err"] = r["max_rel_err"].map(fmt["max_rel_err"])
        r = r.drop(columns=["worst"], errors="ignore").astype(str)
        print("| " + " | ".join(r.columns) + " |")
        print("|" + "---|" * len(r.columns))
        for row in r.itertuples(index=False):
            print("| " + " | ".join(row) + " |")
    else:
        drop = [] if a.detail else ["worst"]
        print(res.drop(columns=drop).to_string(index=False, formatters=fmt))
    if a.detail:
        names = {0: "source height", 1: "landscape z0", 2: "land use", 3: "receptor z0",
                 4: "NH3 bg"}
        for e in analyse.last:  # type: ignore[attr-defined]
            if not e.e:
                continue
            print(f"\n{e.layout} | {e.axis}")
            for ax, nm in names.items():
                print(f"  max rel err by {nm}: "
                      + ", ".join(f"{k}: {v:.1%}" for k, v in e.by(ax).items()))
    if a.bands:
        for lo, hi in ((100, 500), (500, 2000), (2000, 20000)):
            r = analyse(prof, lo, hi)
            print(f"\n{lo}-{hi} m")
            drop = [] if a.detail else ["worst"]
            print(r.drop(columns=drop).to_string(index=False, formatters=fmt))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
