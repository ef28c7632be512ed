"""Policy figures with the grass kernel and with the class-aware OPS model, side by side.

    python benchmarks/compare_models.py GRASS_OUT CLASSES_OUT
    python benchmarks/compare_models.py --national [--work DIR] [--sample DIR] [--reuse]

The first form reads two complete output folders of the same inputs (one run with
``[deposition] kernel = "grass"``, one with ``"ops_classes"``) and prints a Markdown table:
mean farm deposition on sensitive habitat, overloaded hectares, permit-free sources per RKO
threshold (no range), proposed 1000 m areas (and how many of them both models propose) and
the zone effectiveness ratio. The first docs/limits.md table is this output for the sample.

``--national`` makes the two folders itself: it generates (or reuses the cached) national-sized
sample (``benchmarks/_common.py::national_sample``, or ``--sample DIR``), writes
``WORK/grass.toml`` and ``WORK/ops_classes.toml`` (the :func:`_common.national_config`
config, identical but for ``[deposition] kernel``), runs ``n2kzones run --until scenario`` on
each (one process per run, log in ``WORK/<kernel>.log``), prints the wall time of each run
with its stages, and the table. ``--reuse`` skips a run whose outputs are complete and up to
date for its config (e.g. after the other run failed). Default WORK:
``data/processed/compare_national``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np

from n2kzones.io.writers import read_table


def figures(out: Path) -> dict[str, str]:
    rec = gpd.read_parquet(out / "stages" / "receptors.parquet")
    w = rec["habitat_ha"].to_numpy(float)
    sweep = read_table(out / "rko_sweep.csv")
    prop = read_table(out / "zone_proposal.csv")
    eff = read_table(out / "zone_effectiveness.csv").set_index("site_code")
    mean_mol_ha = np.average(rec["farms_mol_ha"], weights=w)
    row = {
        "mean farm deposition on sensitive habitat (mol N/ha/yr)": f"{mean_mol_ha:.1f}",
        "overloaded habitat (ha)": f"{w[rec['overload'].to_numpy(bool)].sum():.0f}",
    }
    none = sweep[sweep["range"] == "none"].set_index("threshold_mol_ha")
    for thr in (0.005, 0.05, 1.0):
        if thr in none.index:
            n_below = int(none.loc[thr, "n_sources_below"])
            row[f"permit-free sources at {thr:g} mol (no range)"] = f"{n_below}"
    row["areas proposed for 1000 m"] = f"{int((prop['proposed_width_m'] == 1000).sum())}"
    ratio = eff.loc["ALL", "ratio_inside_outside"]
    row["zone effectiveness ratio (inside / outside, ALL)"] = f"{ratio:.2f}"
    return row


def wide_areas(out: Path) -> set[str]:
    """Site codes of the areas proposed for the 1000 m zone."""
    prop = read_table(out / "zone_proposal.csv", dtype={"site_code": str})
    return set(prop.loc[prop["proposed_width_m"] == 1000, "site_code"])


def print_table(grass: Path, classes: Path) -> None:
    a, b = figures(grass), figures(classes)
    rows = [(k, a[k], b.get(k, "")) for k in a]
    # The number of 1000 m areas is [selection] n_wide by construction; which areas they are
    # is what the model can change.
    both = f"{len(wide_areas(grass) & wide_areas(classes))}"
    at = next(i for i, r in enumerate(rows) if r[0] == "areas proposed for 1000 m") + 1
    rows.insert(at, ("areas proposed for 1000 m by both models", both, both))
    print("| figure | grass kernel | class-aware OPS model |")
    print("|---|---:|---:|")
    for k, va, vb in rows:
        print(f"| {k} | {va} | {vb} |")


KERNELS = ("grass", "ops_classes")
#: zones, overlay, deposition, rko, select, scenario: every file figures() reads
LAST_STAGE = "scenario"
_STAGE_DONE = re.compile(r"stage (\w+): \d+ outputs committed to .* in ([0-9.]+) s")


def _up_to_date(config: Path) -> bool:
    """Whether every stage up to LAST_STAGE has usable outputs for this config."""
    from n2kzones.config import load_config
    from n2kzones.stages.catalogue import STAGES
    from n2kzones.stages.manifest import stage_problems

    cfg = load_config(config)
    return not any(stage_problems(cfg, s) for s in STAGES[: STAGES.index(LAST_STAGE) + 1])


def run_national(work: Path, sample: Path | None, reuse: bool) -> int:
    from _common import national_config, national_sample, toml_text

    folder = national_sample() if sample is None else national_sample(out=sample)
    work.mkdir(parents=True, exist_ok=True)
    outs: dict[str, Path] = {}
    times_json = work / "wall_times.json"
    last = json.loads(times_json.read_text()) if times_json.exists() else {}
    times: dict[str, dict] = {}
    for kernel in KERNELS:
        out = work / kernel
        data = national_config(out, folder)
        data["deposition"]["kernel"] = kernel
        config = work / f"{kernel}.toml"
        config.write_text(
            f"# written by benchmarks/compare_models.py --national: the national-sized sample, "
            f"kernel {kernel}\n\n" + toml_text(data)
        )
        outs[kernel] = out
        if reuse and _up_to_date(config):
            was = f" (it took {last[kernel]['wall_s']:.0f} s)" if kernel in last else ""
            print(f"{kernel}: outputs in {out} are up to date, not rerun{was}", flush=True)
            continue
        cmd = [
            sys.executable,
            "-m",
            "n2kzones.cli",
            "run",
            "--config",
            str(config),
            "--until",
            LAST_STAGE,
        ]
        log = work / f"{kernel}.log"
        print(f"{kernel}: {' '.join(cmd[1:])} (log {log}) ...", flush=True)
        t0 = time.perf_counter()
        with log.open("w") as fh:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False)
        wall_s = time.perf_counter() - t0
        if proc.returncode != 0:
            print(log.read_text()[-3000:], file=sys.stderr)
            print(
                f"{kernel}: failed (exit {proc.returncode}) after {wall_s:.0f} s; log {log}",
                file=sys.stderr,
            )
            return 1
        stages_s = {m[1]: float(m[2]) for m in _STAGE_DONE.finditer(log.read_text())}
        times[kernel] = {"wall_s": round(wall_s, 1), "stages_s": stages_s}
        per_stage = ", ".join(f"{k} {v:.0f}" for k, v in stages_s.items())
        print(f"{kernel}: done in {wall_s:.0f} s ({per_stage})", flush=True)
    if times:
        times_json.write_text(json.dumps({**last, **times}, indent=2) + "\n")
    print()
    print_table(outs["grass"], outs["ops_classes"])
    return 0


def main(argv: list[str]) -> int:
    from _common import REPO

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("folders", nargs="*", type=Path, metavar="OUT", help="GRASS_OUT CLASSES_OUT")
    ap.add_argument(
        "--national", action="store_true", help="run both models on the national-sized sample"
    )
    ap.add_argument(
        "--work",
        type=Path,
        default=REPO / "data" / "processed" / "compare_national",
        help="--national: folder for the configs, logs and outputs",
    )
    ap.add_argument("--sample", type=Path, help="--national: the national-sized sample's folder")
    ap.add_argument(
        "--reuse", action="store_true", help="--national: skip runs that are up to date"
    )
    args = ap.parse_args(argv)
    if args.national:
        if args.folders:
            ap.error("--national makes its own output folders; give no OUT folders")
        return run_national(args.work.resolve(), args.sample, args.reuse)
    if len(args.folders) != 2:
        ap.error("give GRASS_OUT CLASSES_OUT, or --national")
    print_table(*args.folders)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
