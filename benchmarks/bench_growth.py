"""How each stage's cost grows with the input: 1x, 2x, 4x the national sample's parcels, farms.

The sample grows in density, not in extent: ``n2kzones sample --scale 32 --density K`` keeps
the 32 tiles of 40 x 40 km of the national-sized sample, with the same Natura 2000 areas,
habitats and background grid, and makes about K times its parcels and K times its farms
(``generate_sample(density=K)``). (Growing by tiles instead puts 128 tiles beyond the RD New
bounds of the Netherlands, which the zones stage refuses.) ``--densities 1 2 4``
(the default) at ``--scale 32`` (the default) is 1x, 2x and 4x the national sample's parcels
and farms. For each density every stage runs in its own process (``n2kzones <stage>``, as
``make`` runs it; the same runner as ``bench_pipeline.py``), with the same config
(``bench_pipeline.pipeline_config``, receptors on a local hexagon grid, the same at every
density), recording its wall time and peak memory (maximum resident set). It prints per stage
the seconds and GB at each density (columns labelled by density, with the parcel and farm
counts above) and the growth exponent ``b`` of a least-squares fit ``cost ~ parcels^b`` on the
log-log points (1 = linear; a spatial join may reach n log n, about 1.1 over this range;
2 = quadratic), and flags a stage whose time grows with ``b > 1.25``. The samples are generated
once into ``data/raw/bench-density-K`` (``data/raw/bench-scale-S-density-K`` at another
``--scale``; ``--data-root DIR`` takes ``DIR/density-K`` instead); density 1 at scale 32 is the
national-sized ``data/raw/national``. A folder holding a sample of another scale or density is
refused.

Usage: .venv/bin/python benchmarks/bench_growth.py [--densities 1 2 4] [--scale 32]
    [--data-root DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import NATIONAL_SCALE, REPO, national_sample  # noqa: E402
from bench_pipeline import StageFigures, pipeline_config, run_separate, write_config  # noqa: E402

#: A stage whose time grows faster than this exponent is flagged (n log n over a 4x range is ~1.1).
FLAG_EXPONENT = 1.25


def growth_exponent(sizes: list[float], costs: list[float]) -> float | None:
    """Least-squares slope of log(cost) on log(size); None with fewer than two positive points."""
    pts = [(math.log(s), math.log(c)) for s, c in zip(sizes, costs, strict=True) if s > 0 and c and c > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None


def growth_config(out: Path, folder: Path) -> dict:
    """``bench_pipeline``'s config with receptors on a local hexagon grid, so that every size
    uses the same grid and the points are comparable (and a sample beyond the AERIUS receptor
    grid of the Netherlands, e.g. of 64 tiles or more, still runs)."""
    raw = pipeline_config(out, folder)
    raw.setdefault("deposition", {})["receptor_grid"] = "local"
    return raw


def sample_for(scale: int, density: int, data_root: Path | None) -> Path:
    """The generated sample of ``scale`` tiles at ``density`` (generated once if missing)."""
    if data_root is not None:
        folder = data_root / f"density-{density}"
    elif scale == NATIONAL_SCALE and density == 1:
        folder = REPO / "data" / "raw" / "national"
    elif scale == NATIONAL_SCALE:
        folder = REPO / "data" / "raw" / f"bench-density-{density}"
    else:
        folder = REPO / "data" / "raw" / f"bench-scale-{scale}-density-{density}"
    national_sample(scale, folder, density=density)
    made = json.loads((folder / "manifest.json").read_text("utf-8"))
    got = (made.get("scale"), made.get("density", 1))  # no density key: density 1
    if got != (scale, density):
        raise SystemExit(
            f"{folder} holds a sample of scale {got[0]}, density {got[1]}, not scale {scale}, "
            f"density {density}; remove it"
        )
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--densities", type=int, nargs="+", default=[1, 2, 4],
                    help="parcel and farm multipliers, one run each")
    ap.add_argument("--scale", type=int, default=NATIONAL_SCALE,
                    help="sample tiles (the same at every density)")
    ap.add_argument("--data-root", type=Path, default=None, help="folder holding density-K samples")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "processed" / "bench_growth")
    args = ap.parse_args()
    if len(set(args.densities)) != len(args.densities) or min(args.densities) < 1:
        ap.error("--densities must be distinct integers >= 1")
    from n2kzones.stages.catalogue import STAGES

    t_start = time.perf_counter()
    runs: dict[int, dict[str, StageFigures]] = {}
    sizes: dict[int, dict[str, int]] = {}
    for density in args.densities:
        folder = sample_for(args.scale, density, args.data_root)
        counts = json.loads((folder / "manifest.json").read_text("utf-8"))["counts"]
        sizes[density] = counts
        print(f"\ndensity {density} (scale {args.scale}): {counts['natura2000']} areas, "
              f"{counts['brp_gewas']:,} parcels, {counts['veehouderijen']:,} farms "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
        figures = {s: StageFigures() for s in STAGES}
        config = write_config(args.out, f"density-{density}", folder, growth_config)
        run_separate(config, figures, STAGES)
        runs[density] = figures

    ds = args.densities
    rel = [sizes[d]["brp_gewas"] / sizes[ds[0]]["brp_gewas"] for d in ds]
    head = " ".join(f"{f'd{d} s':>9}" for d in ds) + " " + " ".join(f"{f'd{d} GB':>9}" for d in ds)
    print(f"\n{'stage':<11}{head}   b time  b mem")
    for label, key in (("parcels", "brp_gewas"), ("farms", "veehouderijen")):
        cells = " ".join(f"{sizes[d][key]:>9,}" for d in ds)
        print(f"{label:<11}{cells}")
    print(f"{'x parcels':<11}" + " ".join(f"{f'{r:.2f}x':>9}" for r in rel))
    print("-" * (11 + len(head) + 16))
    table: dict[str, dict[str, object]] = {}
    flagged = []
    for stage in [*STAGES, "total"]:
        if stage == "total":
            secs = [sum(runs[d][st].separate_s or 0.0 for st in STAGES) for d in ds]
            peaks = [max(runs[d][st].separate_peak_gb or 0.0 for st in STAGES) for d in ds]
        else:
            secs = [runs[d][stage].separate_s or 0.0 for d in ds]
            peaks = [runs[d][stage].separate_peak_gb or 0.0 for d in ds]
        b_t, b_m = growth_exponent(rel, secs), growth_exponent(rel, peaks)
        if stage != "total" and b_t is not None and b_t > FLAG_EXPONENT:
            flagged.append((stage, b_t))
        table[stage] = {"seconds": secs, "peak_gb": peaks, "exponent_time": b_t, "exponent_memory": b_m}
        cells = " ".join(f"{v:9.1f}" for v in secs) + " " + " ".join(f"{v:9.2f}" for v in peaks)
        fmt = lambda b: "   n/a" if b is None else f"{b:6.2f}"  # noqa: E731
        print(f"{stage:<11}{cells}  {fmt(b_t)} {fmt(b_m)}")
    print("\nb: exponent of cost ~ parcels^b fitted over the densities "
          "(1 linear, ~1.1 n log n, 2 quadratic)")
    for stage, b in flagged:
        print(f"  FASTER THAN n log n: {stage} (b = {b:.2f}); see docs/scale-out.md")
    args.out.mkdir(parents=True, exist_ok=True)
    counts = {str(d): sizes[d] for d in ds}
    result = {"scale": args.scale, "densities": ds, "counts": counts, "stages": table}
    (args.out / "results.json").write_text(json.dumps(result, indent=2), "utf-8")
    print(f"\nbenchmark took {time.perf_counter() - t_start:.0f} s; "
          f"figures in {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
