"""Parcel overlay on the national-sized sample: n2kzones vs geopandas.overlay, same data,
same run. Prints wall times and their ratio, and checks both give the same areas.

Usage: .venv/bin/python benchmarks/bench_overlay.py [--scale 32] [--no-baseline]
"""

from __future__ import annotations

import argparse
import os

import geopandas as gpd
import numpy as np
import pandas as pd
from _common import NATIONAL_SCALE, national_sample, peak_rss_gb, quiet_logging, timed

from n2kzones.config import LayerInput
from n2kzones.io.readers import read_layer
from n2kzones.overlay import overlay_parcels
from n2kzones.params import load_parameters
from n2kzones.zones import build_zones, resolve_widths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=int, default=NATIONAL_SCALE)
    ap.add_argument("--no-baseline", action="store_true", help="skip geopandas.overlay")
    args = ap.parse_args()
    quiet_logging()
    folder = national_sample(args.scale)
    params = load_parameters()
    crs = "EPSG:28992"
    areas_in = LayerInput(path=folder / "natura2000.gpkg", layer="natura2000")
    parcels_in = LayerInput(
        path=folder / "brp_gewaspercelen.gpkg", layer="brp_gewas", preset="brp_pdok"
    )
    (areas, _), t_areas = timed(read_layer, "areas", areas_in, crs=crs, params=params)
    (parcels, _), t_read = timed(read_layer, "parcels", parcels_in, crs=crs, params=params)
    widths = resolve_widths(areas, default_width_m=500)
    widths[widths.index[: len(widths) // 8]] = 1000.0  # some 1000 m zones, as in the letter
    zones, t_zones = timed(build_zones, areas, widths)
    national = zones.national
    print(f"areas {len(areas)}, zone faces {len(national)}, parcels {len(parcels):,}; "
          f"read parcels {t_read:.1f} s, zones {t_zones:.1f} s; cores {os.cpu_count()}")

    pieces, t_ours = timed(overlay_parcels, parcels, national)
    rows = [("n2kzones.overlay_parcels", t_ours, len(pieces))]
    ours = pieces.groupby("zone_key")["area_m2"].sum()
    per_parcel_m2 = pieces.groupby("parcel_id")["area_m2"].sum().to_numpy()
    parcel_m2 = parcels.set_index("parcel_id").geometry.area.sort_index().to_numpy()
    conserved = np.abs(per_parcel_m2 - parcel_m2)
    if not args.no_baseline:
        base, t_base = timed(
            gpd.overlay,
            parcels[["parcel_id", "category", "geometry"]],
            national[["zone_key", "geometry"]],
            how="identity",
            keep_geom_type=True,
        )
        rows.append(("geopandas.overlay(how='identity')", t_base, len(base)))
        base = base.assign(area_m2=base.geometry.area, zone_key=base["zone_key"].fillna(""))
        theirs = base.groupby("zone_key")["area_m2"].sum()
        diff = (ours - theirs.reindex(ours.index)).abs().max()
    print()
    print(f"{'method':38s} {'wall s':>8s} {'pieces':>10s}")
    for name, t, n in rows:
        print(f"{name:38s} {t:8.2f} {n:10,d}")
    if not args.no_baseline:
        print(f"\nspeed-up vs geopandas.overlay: {t_base / t_ours:.1f}x (goal >= 3x)")
        print(f"max difference in area per zone key between the two: {diff:.3g} m2")
    print(f"n2kzones national parcels: {t_ours:.1f} s (goal < 20 s on 2 cores)")
    print(f"area conservation: max |sum(pieces) - parcel| = {conserved.max():.3g} m2")
    print(f"peak memory {peak_rss_gb():.1f} GB")
    pd.set_option("display.width", 120)


if __name__ == "__main__":
    main()
