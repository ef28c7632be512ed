#!/usr/bin/env python3
"""Campaign designs for the OPS single-source tables and a resumable runner.

The design is built so that separability can be *measured*, not assumed
(``separability.py`` does the measuring):

``path``      full grid source height x landscape z0 for grass, receptor z0 = landscape z0,
              NH3 background 8 ug/m3 (the "path term").
``lu_oat``    every height x landscape z0, each non-grass land-use class (receptor z0 = z0).
``rz_oat``    every height x landscape z0, each receptor z0 (map mode), grass.
``bg_oat``    every height x landscape z0, each NH3 background, grass.
``receptor``  the full receptor-factor table land use x receptor z0 x background at the
              reference path (h = 5 m, z0 = 0.1 m).
``interact``  sparse interaction cases: land use x receptor z0 x background x height x
              landscape z0 away from the reference, to test a product model.
``rtable``    (design ``rtable`` = ``main`` + this block) land use x receptor z0 x background
              at every training height for landscape z0 0.1 m.
``hnodes``    (design ``nodes`` = ``rtable`` + this block) the same receptor table at the extra
              training heights 2, 3, 4, 6 and 13 m (landscape z0 0.1 m), so that the kernel
              table's height interpolation stays within 10 % (3.5 and 12 m stay held out).

Values marked *held out* (heights 3.5 and 12 m, landscape z0 0.15 m, receptor z0 0.05 and
0.7 m, backgrounds 6 and 12 ug/m3) are run like the others but are meant to be predicted
by interpolation from their neighbours in the analysis.

Every case uses 36 directions x the 104 reference distances (10 m-100 km), so the profiles
line up with ``ops_nh3_single_source_radial_profile.csv``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ops_harness as oh  # noqa: E402

H_TRAIN = (1.0, 2.5, 5.0, 7.5, 10.0, 15.0)
#: extra training heights of the receptor table (design ``nodes``, block ``hnodes``)
H_NODES = (2.0, 3.0, 4.0, 6.0, 13.0)
H_TEST = (3.5, 12.0)
Z0L_TRAIN = (0.1, 0.25)
Z0L_TEST = (0.15,)
RZ_TRAIN = (0.03, 0.1, 0.25, 0.5, 1.0, 2.0)
RZ_TEST = (0.05, 0.7)
BG_TRAIN = (2.0, 4.0, 8.0, 15.0, 25.0)
BG_TEST = (6.0, 12.0)
LANDUSES = tuple(oh.LANDUSE_CLASSES)
REF_H, REF_Z0L, REF_BG, REF_LU = 5.0, 0.1, 8.0, "grass"

HELD_OUT = {
    "source_height_m": H_TEST,
    "z0_m": Z0L_TEST,
    "receptor_z0_m": RZ_TEST,
    "nh3_bg_ug_per_m3": BG_TEST,
}


def _case(block: str, h: float, z0l: float, lu: str = REF_LU, rz: float | None = None,
          bg: float = REF_BG, n_dir: int = 36) -> oh.Case:
    # receptor z0 equal to the landscape z0 is run in fixed mode (identical results, checked)
    if rz is not None and abs(rz - z0l) < 1e-12:
        rz = None
    return oh.Case(source_height_m=h, landuse=lu, z0_m=z0l, receptor_z0_m=rz,
                   nh3_bg_ug_m3=bg, n_directions=n_dir, tag=block)


def design_main() -> Iterator[oh.Case]:
    hs = sorted(H_TRAIN + H_TEST)
    z0ls = sorted(Z0L_TRAIN + Z0L_TEST)
    rzs = sorted(RZ_TRAIN + RZ_TEST)
    bgs = sorted(BG_TRAIN + BG_TEST)
    for h in hs:
        for z in z0ls:
            yield _case("path", h, z)
    for h in hs:
        for z in z0ls:
            for lu in LANDUSES:
                if lu != REF_LU:
                    yield _case("lu_oat", h, z, lu=lu)
            for rz in rzs:
                yield _case("rz_oat", h, z, rz=rz)
            for bg in bgs:
                if bg != REF_BG:
                    yield _case("bg_oat", h, z, bg=bg)
    for lu in LANDUSES:
        for rz in rzs:
            for bg in bgs:
                yield _case("receptor", REF_H, REF_Z0L, lu=lu, rz=rz, bg=bg)
    for h in (1.0, 3.5, 10.0):
        for z in (0.1, 0.25):
            for lu in ("coniferous_forest", "arable", "heath_other_nature", "water"):
                for rz in (0.03, 0.5, 2.0):
                    for bg in (4.0, 15.0):
                        yield _case("interact", h, z, lu=lu, rz=rz, bg=bg)
    # the brief's named example: forest x 10 m x 4 ug/m3 at realistic forest roughness
    for lu in ("coniferous_forest", "deciduous_forest"):
        for rz in (1.0, 2.0):
            for z in (0.1, 0.25, 0.15):
                yield _case("interact", 10.0, z, lu=lu, rz=rz, bg=4.0)
                yield _case("interact", 12.0, z, lu=lu, rz=rz, bg=6.0)


def design_rtable() -> Iterator[oh.Case]:
    """``main`` plus ``rtable``: the receptor table land use x receptor z0 x background at
    every training height (landscape z0 0.1 m). Added after the first analysis showed that
    the land-use/background factor depends on the source height but that the landscape z0
    separates given height and receptor z0 (see separability.py)."""
    yield from design_main()
    for h in H_TRAIN:
        for lu in LANDUSES:
            for rz in RZ_TRAIN:
                for bg in BG_TRAIN:
                    yield _case("rtable", h, REF_Z0L, lu=lu, rz=rz, bg=bg)


def design_nodes() -> Iterator[oh.Case]:
    """``rtable`` plus ``hnodes``: the receptor table at the extra training heights
    ``H_NODES`` (landscape z0 0.1 m), all other settings as in ``rtable``. Added because
    interpolating between the ``rtable`` heights (steps up to a factor 2 in h) gave up to
    12.6 % error near 100 m for the held-out heights; 3.5 and 12 m stay held out."""
    yield from design_rtable()
    for h in H_NODES:
        for lu in LANDUSES:
            for rz in RZ_TRAIN:
                for bg in BG_TRAIN:
                    yield _case("hnodes", h, REF_Z0L, lu=lu, rz=rz, bg=bg)


def design_smoke() -> Iterator[oh.Case]:
    """Three small cases for a quick end-to-end check."""
    yield oh.Case(n_directions=12, distances_m=oh.log_distances(n=20), tag="smoke")
    yield oh.Case(n_directions=12, distances_m=oh.log_distances(n=20), receptor_z0_m=1.0,
                  landuse="coniferous_forest", tag="smoke")
    yield oh.Case(n_directions=12, distances_m=oh.log_distances(n=20), nh3_bg_ug_m3=4.0,
                  source_height_m=10.0, tag="smoke")


DESIGNS = {"main": design_main, "rtable": design_rtable, "nodes": design_nodes,
           "smoke": design_smoke}


def unique_cases(design: str) -> list[oh.Case]:
    """Cases of a design with duplicates (same physical settings) removed; first tag wins."""
    seen: dict[str, oh.Case] = {}
    for c in DESIGNS[design]():
        seen.setdefault(c.key(), c)
    return list(seen.values())


def run_campaign(a: argparse.Namespace, env: oh.Env) -> int:
    """Run (or resume) a design; one csv.gz of per-receptor results per case in OUT/cases."""
    out = Path(a.out)
    (out / "cases").mkdir(parents=True, exist_ok=True)
    cases = [dataclasses.replace(c, meteotype=env.meteotype) for c in unique_cases(a.design)]
    # results depend on the executable and the meteo file, which are not part of a case
    # key: refuse to resume a campaign directory made with other ones
    env_id = {"ops_exe_sha256": oh.sha256(env.ops_exe), "meteo": str(env.meteo),
              "meteotype": env.meteotype, "gammawater_sha256": oh.sha256(env.gammawater)}
    env_file = out / "env.json"
    if env_file.exists() and json.loads(env_file.read_text()) != env_id:
        raise SystemExit(f"{out} was made with another executable/meteo ({env_file}); "
                         "use a new --out")
    env_file.write_text(json.dumps(env_id, indent=1))
    todo = [c for c in cases if not (out / "cases" / f"{c.key()}.csv.gz").exists()]
    if a.limit:
        todo = todo[: a.limit]
    print(f"design {a.design}: {len(cases)} cases, {len(todo)} to run, jobs={a.jobs}",
          file=sys.stderr)
    (out / "design.json").write_text(json.dumps(
        {"design": a.design, "n_cases": len(cases), "argv": sys.argv,
         "cases": [dict(c.meta(), distances_m=list(c.distances_m)) for c in cases]}, indent=1))
    t0 = time.perf_counter()
    infos_path = out / "runs.jsonl"
    # run in chunks so that finished cases are written as we go (resumable)
    chunk = max(1, 8 * max(1, a.jobs))
    for i in range(0, len(todo), chunk):
        part = todo[i:i + chunk]
        table, infos = oh.run_many(part, env, jobs=a.jobs, progress=False)
        for c, info in zip(part, infos, strict=True):
            t = table[table.case_id == c.key()]
            with gzip.open(out / "cases" / f"{c.key()}.csv.gz", "wt") as f:
                t.to_csv(f, index=False, float_format="%.6g")
            with open(infos_path, "a") as f:
                f.write(json.dumps(dict(info, tag=c.tag)) + "\n")
        done = i + len(part)
        el = time.perf_counter() - t0
        print(f"{done}/{len(todo)} cases, {el:.0f} s elapsed, "
              f"~{el / done * (len(todo) - done):.0f} s left", file=sys.stderr, flush=True)
    print(f"campaign done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


def load_campaign(out: Path) -> pd.DataFrame:
    """All per-receptor case tables of a campaign directory, concatenated."""
    files = sorted((out / "cases").glob("*.csv.gz"))
    # case ids are hex strings; some look like numbers ("5e10...") to a CSV reader
    return pd.concat((pd.read_csv(f, dtype={"case_id": str, "case_tag": str}) for f in files),
                     ignore_index=True)


if __name__ == "__main__":
    for name in DESIGNS:
        cs = unique_cases(name)
        print(name, len(cs), pd.Series([c.tag for c in cs]).value_counts().to_dict())
