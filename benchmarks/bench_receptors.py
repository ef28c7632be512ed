"""Hexagon receptors tiled vs untiled: one large many-vertex polygon plus many small ones,
both ways in the same run; then, if present, all real Natura 2000 areas tiled.

The synthetic habitat is a noisy circle of ``--vertices`` vertices and ``--area-ha`` hectares
(default 50,000 vertices, ~10,000 ha, like an area-sized habitat polygon) and ``--small``
circles of ~2 ha. Prints wall times and the untiled / tiled ratio, and checks both give the
same receptors. The real data (``../shared/data/real/natura2000-nl-pdok-rce``, see its
``PROVENANCE.md``) are area outlines, not a habitat-type map: each area is timed as one
sensitive habitat polygon (the Veluwe: one polygon of ~86,000 vertices). Skipped cleanly
when the folder is absent; the untiled run on them (> 12 minutes) only with
``--untiled-real``.

Usage: .venv/bin/python benchmarks/bench_receptors.py [--vertices 50000] [--tile-m 1000]
       [--no-untiled] [--untiled-real]
"""

from __future__ import annotations

import argparse
import math

import geopandas as gpd
import numpy as np
import shapely
from _common import REPO, peak_rss_gb, quiet_logging, timed

from n2kzones.deposition.receptors import RECEPTOR_TILE_M, hexagon_receptors

REAL_AREAS = REPO.parent / "shared" / "data" / "real" / "natura2000-nl-pdok-rce"
RD = "EPSG:28992"


def synthetic_habitats(n_vertices: int, area_ha: float, n_small: int, seed: int = 0) -> gpd.GeoDataFrame:
    """A noisy circle of ``n_vertices`` and about ``area_ha`` ha centred at RD (150 km, 450 km),
    and ``n_small`` circles of ~2 ha in a band south of it."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 2 * math.pi, n_vertices, endpoint=False)
    r0_m = math.sqrt(area_ha * 1e4 / math.pi)
    wobble = sum(rng.uniform(0.01, 0.04) * np.sin(k * t + rng.uniform(0, 2 * math.pi)) for k in (3, 7, 19, 61))
    r_m = r0_m * (1 + wobble + 0.002 * rng.standard_normal(n_vertices))
    big = shapely.make_valid(shapely.Polygon(np.column_stack([150_000 + r_m * np.cos(t), 450_000 + r_m * np.sin(t)])))
    big = max(shapely.get_parts(big), key=lambda g: g.area)
    cx = 150_000 + rng.uniform(-3 * r0_m, 3 * r0_m, n_small)
    cy = 450_000 - 1.5 * r0_m - rng.uniform(0, 2000, n_small)
    small = shapely.buffer(shapely.points(cx, cy), 80.0)
    small = small[~shapely.intersects(small, big)]
    small = shapely.get_parts(shapely.union_all(small))  # habitat polygons must not overlap
    n = 1 + len(small)
    return gpd.GeoDataFrame(
        {"habitat_code": ["H4030"] + ["H7110A"] * (n - 1), "kdw_mol_ha": [1071.0] + [500.0] * (n - 1),
         "site_code": ["big"] + ["small"] * (n - 1)},
        geometry=[big, *small], crs=RD,
    )


def same(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> bool:
    return (
        len(a) == len(b)
        and all((a[c].to_numpy() == b[c].to_numpy()).all() for c in ("receptor_id", "site_code", "kdw_mol_ha", "habitat_code"))
        and bool(np.allclose(a["habitat_ha"], b["habitat_ha"], rtol=1e-9, atol=1e-9))
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vertices", type=int, default=50_000)
    ap.add_argument("--area-ha", type=float, default=10_000.0)
    ap.add_argument("--small", type=int, default=2000, help="small habitat circles")
    ap.add_argument("--tile-m", type=float, default=RECEPTOR_TILE_M)
    ap.add_argument("--no-untiled", action="store_true", help="skip the untiled reference")
    ap.add_argument("--untiled-real", action="store_true", help="also time the real areas untiled (> 12 min)")
    args = ap.parse_args()
    quiet_logging()

    hab = synthetic_habitats(args.vertices, args.area_ha, args.small)
    big = hab.geometry.iloc[0]
    print(f"synthetic: 1 polygon of {shapely.get_num_coordinates(big):,} vertices and {big.area / 1e4:,.0f} ha, "
          f"{len(hab) - 1:,} small polygons ({hab.geometry.iloc[1:].area.sum() / 1e4:,.0f} ha)")
    tiled, t_tiled = timed(hexagon_receptors, hab, tile_m=args.tile_m)
    print(f"  tiled ({args.tile_m:g} m): {len(tiled):,} receptors in {t_tiled:.1f} s")
    if not args.no_untiled:
        untiled, t_untiled = timed(hexagon_receptors, hab, tile_m=None)
        print(f"  untiled:        {len(untiled):,} receptors in {t_untiled:.1f} s")
        print(f"  untiled / tiled: {t_untiled / t_tiled:.1f}x; same receptors: {same(tiled, untiled)}")

    if not REAL_AREAS.is_dir():
        print(f"real areas: {REAL_AREAS} absent, skipped")
    else:
        from n2kzones.io.natura2000_json import read_natura2000_json

        areas = read_natura2000_json(REAL_AREAS).to_crs(28992)
        real = gpd.GeoDataFrame(
            {"habitat_code": "H4030", "kdw_mol_ha": 1071.0, "site_code": areas["site_code"]},
            geometry=areas.geometry.to_numpy(), crs=RD,
        )
        n_vert = int(shapely.get_num_coordinates(real.geometry.to_numpy()).sum())
        print(f"real: {len(real)} Natura 2000 areas ({n_vert:,} vertices, {real.area.sum() / 1e4:,.0f} ha) as habitat")
        rec, t = timed(hexagon_receptors, real, tile_m=args.tile_m)
        print(f"  tiled ({args.tile_m:g} m): {len(rec):,} receptors in {t:.1f} s")
        if args.untiled_real:
            rec_u, t_u = timed(hexagon_receptors, real, tile_m=None)
            print(f"  untiled: {len(rec_u):,} receptors in {t_u:.1f} s; ratio {t_u / t:.1f}x; same: {same(rec, rec_u)}")
    print(f"peak RSS {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
