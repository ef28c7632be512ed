"""Scale-out on Dask: wall time and peak memory per worker, national sample and a 10x set.

Runs (each in its own process, so every peak is its own):

* ``national local``   - the national-sized sample (scale 32) on the local engine: the baseline;
* ``national dask x1`` - the same on a Dask LocalCluster with 1 worker (1 thread);
* ``national dask x2`` - ... with 2 workers;
* ``synthetic10x dask x2`` - ``n2kzones synthetic`` with 10x the national parcels on 2 workers.

Stages: overlay, deposition (receptors + grid) and RKO for the national runs; overlay and
deposition for the 10x set (its RKO "no range" pass is all farm x receptor pairs, quadratic
in the input, and is left out). Every run uses the AERIUS 25 km range for the grid, so tiles
need halos of 25 km only. Peak memory per worker is the worker process's maximum resident
set (``getrusage``), read from each worker after the run; the driver's is its own.

Usage: .venv/bin/python benchmarks/bench_scale.py [--only national|synthetic] [--factor 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, national_config, national_sample

SYNTH_DIR = REPO / "data" / "raw" / "synthetic"


def national_parcels() -> int:
    """Parcels in the national-sized sample (from its manifest)."""
    manifest = json.loads((national_sample() / "manifest.json").read_text())
    return int(manifest["counts"]["brp_gewas"])


def _synthetic_config(factor: int, out: Path) -> dict:
    import tomllib

    from n2kzones.datasets.synthetic import generate_synthetic

    folder = SYNTH_DIR / f"x{factor}"
    if (folder / "manifest.json").exists():
        n = json.loads((folder / "manifest.json").read_text())["n_parcels"]
        if n != factor * national_parcels():
            raise SystemExit(
                f"{folder} holds {n} parcels, not {factor}x the national sample; remove it"
            )
    else:
        print(f"generating {factor}x the national parcels into {folder} ...", flush=True)
        t0 = time.perf_counter()
        generate_synthetic(folder, n_parcels=factor * national_parcels(), progress=True)
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    data = tomllib.loads((folder / "n2kzones.toml").read_text())
    data["project"]["output_dir"] = str(out)
    return data


def run_one(dataset: str, engine: str, workers: int, factor: int) -> dict:
    """One configuration in this process; returns its figures."""
    import logging

    from n2kzones.compute import open_backend
    from n2kzones.config import config_from_dict
    from n2kzones.stages.deposition import run_deposition
    from n2kzones.stages.overlay import run_overlay
    from n2kzones.stages.rko import run_rko
    from n2kzones.stages.zones import run_zones

    logging.basicConfig(level=logging.WARNING)
    out = REPO / "data" / "processed" / "bench_scale" / f"{dataset}-{engine}-{workers}"
    data = national_config(out) if dataset == "national" else _synthetic_config(factor, out)
    data["compute"] = {
        "backend": engine,
        "n_workers": workers,
        "threads_per_worker": 1,
        "memory_limit": "10GiB",
    }
    cfg = config_from_dict(data, source=f"bench_scale {dataset}")
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    run_zones(cfg)
    times["zones"] = time.perf_counter() - t0
    with open_backend(cfg.compute) as backend:
        for name, fn in (
            ("overlay", run_overlay),
            ("deposition", run_deposition),
            *((("rko", run_rko),) if dataset == "national" else ()),
        ):
            t = time.perf_counter()
            fn(cfg, backend=backend)
            times[name] = time.perf_counter() - t
        workers_peak = []
        if backend.name == "dask":
            peaks = backend.client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            workers_peak = sorted(v / 1024**2 for v in peaks.values())
    manifest = json.loads((cfg.output_dir / "manifest_overlay.json").read_text())
    return {
        "dataset": dataset,
        "engine": engine,
        "workers": workers,
        "parcels": manifest["inputs"]["parcels"]["n_kept"],
        "farms": manifest["inputs"]["farms"]["n_kept"],
        "times_s": times,
        "wall_s": sum(times.values()),
        "worker_peak_gb": workers_peak,
        "driver_peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=["national", "synthetic"])
    ap.add_argument(
        "--factor", type=int, default=10, help="synthetic set: this many times the national parcels"
    )
    ap.add_argument(
        "--one", nargs=3, metavar=("DATASET", "ENGINE", "WORKERS"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.one:
        dataset, engine, workers = args.one
        print(
            "RESULT " + json.dumps(run_one(dataset, engine, int(workers), args.factor)), flush=True
        )
        return
    runs = []
    if args.only in (None, "national"):
        runs += [("national", "local", 1), ("national", "dask", 1), ("national", "dask", 2)]
    if args.only in (None, "synthetic"):
        runs += [("synthetic", "dask", 2)]
    results = []
    for dataset, engine, workers in runs:
        print(f"running {dataset} on {engine} x{workers} ...", flush=True)
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                dataset,
                engine,
                str(workers),
                "--factor",
                str(args.factor),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
            raise SystemExit(f"{dataset} {engine} x{workers} failed (exit {proc.returncode})")
        results.append(json.loads(line[len("RESULT ") :]))
    base = next((r for r in results if r["engine"] == "local"), None)
    print()
    print(
        f"{'run':28s} {'parcels':>11s} {'farms':>8s} {'wall s':>8s} {'vs local':>9s} "
        f"{'stages (s)':40s} {'peak GB/worker':>16s} {'driver GB':>9s}"
    )
    for r in results:
        stages = " ".join(f"{k} {v:.0f}" for k, v in r["times_s"].items())
        ratio = (
            f"{r['wall_s'] / base['wall_s']:.2f}x"
            if base and r["dataset"] == base["dataset"]
            else "-"
        )
        peak = "/".join(f"{p:.2f}" for p in r["worker_peak_gb"]) or "-"
        name = f"{r['dataset']} {r['engine']} x{r['workers']}"
        print(
            f"{name:28s} {r['parcels']:11,d} {r['farms']:8,d} {r['wall_s']:8.1f} {ratio:>9s} "
            f"{stages:40s} {peak:>16s} {r['driver_peak_gb']:9.2f}"
        )
    nat = [r for r in results if r["dataset"] == "national" and r["engine"] == "dask"]
    syn = [r for r in results if r["dataset"] == "synthetic"]
    if nat and syn:
        n_peak, s_peak = max(max(r["worker_peak_gb"]) for r in nat), max(syn[0]["worker_peak_gb"])
        print(
            f"\ninput {syn[0]['parcels'] / nat[0]['parcels']:.1f}x the parcels; "
            f"peak memory per worker "
            f"{s_peak:.2f} GB vs {n_peak:.2f} GB national ({s_peak / n_peak:.2f}x)"
        )


if __name__ == "__main__":
    main()
