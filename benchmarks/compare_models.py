"""Policy figures with the grass kernel and with the class-aware OPS model, side by side.

    python benchmarks/compare_models.py GRASS_OUT CLASSES_OUT

Reads two complete output folders of the same inputs (one run with ``[deposition] kernel =
"grass"``, one with ``"ops_classes"``) and prints a Markdown table: mean farm deposition on
sensitive habitat, overloaded hectares, permit-free sources per RKO threshold (no range),
proposed 1000 m areas and the zone effectiveness ratio. The docs/limits.md table is this
output for the sample.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd


def figures(out: Path) -> dict[str, str]:
    rec = gpd.read_parquet(out / "stages" / "receptors.parquet")
    w = rec["habitat_ha"].to_numpy(float)
    sweep = pd.read_csv(out / "rko_sweep.csv")
    prop = pd.read_csv(out / "zone_proposal.csv")
    eff = pd.read_csv(out / "zone_effectiveness.csv").set_index("site_code")
    row = {
        "mean farm deposition on sensitive habitat (mol N/ha/yr)": f"{np.average(rec['farms_mol_ha'], weights=w):.1f}",
        "overloaded habitat (ha)": f"{w[rec['overload'].to_numpy(bool)].sum():.0f}",
    }
    none = sweep[sweep["range"] == "none"].set_index("threshold_mol_ha")
    for thr in (0.005, 0.05, 1.0):
        if thr in none.index:
            row[f"permit-free sources at {thr:g} mol (no range)"] = f"{int(none.loc[thr, 'n_sources_below'])}"
    row["areas proposed for 1000 m"] = f"{int((prop['proposed_width_m'] == 1000).sum())}"
    row["zone effectiveness ratio (inside / outside, ALL)"] = f"{eff.loc['ALL', 'ratio_inside_outside']:.2f}"
    return row


def main(argv: list[str]) -> int:
    grass, classes = (Path(a) for a in argv[:2])
    a, b = figures(grass), figures(classes)
    print("| figure | grass kernel | class-aware OPS model |")
    print("|---|---:|---:|")
    for k in a:
        print(f"| {k} | {a[k]} | {b.get(k, '')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
