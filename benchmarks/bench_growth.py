"""How each stage's cost grows with the input: 1x, 2x and 4x the national-sized sample.

The synthetic sample grows by tiles of 40 x 40 km, each with its own areas, habitats, parcels
and farms, so ``--scales 32 64 128`` (the default) is 1x, 2x and 4x the national-sized sample
in every layer. For each scale every stage runs in its own process (``n2kzones <stage>``, as
``make`` runs it; the same runner as ``bench_pipeline.py``), with the same config
(``bench_pipeline.pipeline_config``, receptors on a local hexagon grid: from 64 tiles the
sample reaches beyond the AERIUS grid of the Netherlands), recording its wall time and peak memory (maximum
resident set). It prints per stage the seconds and GB at each scale and the growth exponent
``b`` of a least-squares fit ``cost ~ size^b`` on the log-log points (1 = linear; a spatial
join may reach n log n, about 1.1 over this range; 2 = quadratic), and flags a stage whose
time grows with ``b > 1.25``. Samples of other scales are generated once into
``data/raw/bench-scale-N`` (``--data-root DIR`` takes ``DIR/scale-N`` instead, or the
national-sized ``data/raw/national`` for scale 32).

Usage: .venv/bin/python benchmarks/bench_growth.py [--scales 32 64 128] [--data-root DIR]
    [--out DIR]
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
    """``bench_pipeline``'s config with receptors on a local hexagon grid: from 64 tiles on the
    sample reaches beyond the AERIUS receptor grid of the Netherlands, and every scale uses
    the same grid so that the points are comparable."""
    raw = pipeline_config(out, folder)
    raw.setdefault("deposition", {})["receptor_grid"] = "local"
    return raw


def sample_for(scale: int, data_root: Path | None) -> Path:
    """The generated sample of ``scale`` tiles (generated once if missing)."""
    if data_root is not None:
        folder = data_root / f"scale-{scale}"
    elif scale == NATIONAL_SCALE:
        folder = REPO / "data" / "raw" / "national"
    else:
        folder = REPO / "data" / "raw" / f"bench-scale-{scale}"
    return national_sample(scale, folder)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=int, nargs="+", default=[32, 64, 128], help="sample tiles per run")
    ap.add_argument("--data-root", type=Path, default=None, help="folder holding scale-N samples")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "processed" / "bench_growth")
    args = ap.parse_args()
    from n2kzones.stages.catalogue import STAGES

    t_start = time.perf_counter()
    runs: dict[int, dict[str, StageFigures]] = {}
    sizes: dict[int, dict[str, int]] = {}
    for scale in args.scales:
        folder = sample_for(scale, args.data_root)
        counts = json.loads((folder / "manifest.json").read_text("utf-8"))["counts"]
        sizes[scale] = counts
        print(f"\nscale {scale}: {counts['natura2000']} areas, {counts['brp_gewas']:,} parcels, "
              f"{counts['veehouderijen']:,} farms (load {os.getloadavg()[0]:.1f})", flush=True)
        figures = {s: StageFigures() for s in STAGES}
        run_separate(write_config(args.out, f"scale-{scale}", folder, growth_config), figures, STAGES)
        runs[scale] = figures

    base = args.scales[0]
    rel = [sizes[s]["brp_gewas"] / sizes[base]["brp_gewas"] for s in args.scales]
    head = " ".join(f"{f'{r:.1f}x s':>8}" for r in rel) + " " + " ".join(f"{f'{r:.1f}x GB':>8}" for r in rel)
    print(f"\n{'stage':<11}{head}   b time  b mem")
    print("-" * (11 + len(head) + 16))
    table: dict[str, dict[str, object]] = {}
    flagged = []
    for stage in [*STAGES, "total"]:
        if stage == "total":
            secs = [sum(runs[s][st].separate_s or 0.0 for st in STAGES) for s in args.scales]
            peaks = [max(runs[s][st].separate_peak_gb or 0.0 for st in STAGES) for s in args.scales]
        else:
            secs = [runs[s][stage].separate_s or 0.0 for s in args.scales]
            peaks = [runs[s][stage].separate_peak_gb or 0.0 for s in args.scales]
        b_t, b_m = growth_exponent(rel, secs), growth_exponent(rel, peaks)
        if stage != "total" and b_t is not None and b_t > FLAG_EXPONENT:
            flagged.append((stage, b_t))
        table[stage] = {"seconds": secs, "peak_gb": peaks, "exponent_time": b_t, "exponent_memory": b_m}
        cells = " ".join(f"{v:8.1f}" for v in secs) + " " + " ".join(f"{v:8.2f}" for v in peaks)
        fmt = lambda b: "   n/a" if b is None else f"{b:6.2f}"  # noqa: E731
        print(f"{stage:<11}{cells}  {fmt(b_t)} {fmt(b_m)}")
    print("\nb: exponent of cost ~ size^b fitted over the scales (1 linear, ~1.1 n log n, 2 quadratic)")
    for stage, b in flagged:
        print(f"  FASTER THAN n log n: {stage} (b = {b:.2f}); see docs/scale-out.md")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"scales": args.scales, "counts": sizes, "stages": table}, indent=2), "utf-8")
    print(f"\nbenchmark took {time.perf_counter() - t_start:.0f} s; figures in {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
