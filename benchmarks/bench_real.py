"""The whole real pipeline (``config/real.toml``, all 160 areas) on this machine: stage times,
output sizes and the largest map, against the goal of 10 minutes on 2 cores.

Lays out the real data from ``../shared/data/real`` into a temporary folder (as ``make real``
does), runs every stage in one process through :func:`n2kzones.stages.run.run_all` into a
fresh output folder, and prints per stage its wall time, then the outputs' sizes, the number
of area maps and the largest one (goal: under 5 MB each). Skipped cleanly when the real data
are absent.

Usage: .venv/bin/python benchmarks/bench_real.py [--province NAME] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, peak_rss_gb, quiet_logging

REAL = REPO.parent / "shared" / "data" / "real"
GOAL_S = 600.0
MAP_GOAL_MB = 5.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--province", default=None, help="run one province only")
    parser.add_argument(
        "--keep", type=Path, default=None, help="folder for data and outputs (kept)"
    )
    args = parser.parse_args()
    if not REAL.is_dir():
        print(f"skipped: the real data are not available here ({REAL} is absent)")
        return 0
    quiet_logging()
    from n2kzones.config import load_config
    from n2kzones.datasets.real_local import prepare_real
    from n2kzones.stages.run import run_all

    root = args.keep or Path(tempfile.mkdtemp(prefix="n2k-real-"))
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    prepare_real(REAL, root / "raw")
    t_prepare = time.perf_counter() - t0
    text = (REPO / "config" / "real.toml").read_text("utf-8")
    text = text.replace("data/raw/real/", f"{root}/raw/").replace(
        'output_dir = "data/processed/real"', f'output_dir = "{root}/out"'
    )
    if args.province:
        text = text.replace('# province = "Fryslân"', f'province = "{args.province}"')
    config = root / "real.toml"
    config.write_text(text, "utf-8")
    cfg = load_config(config)
    t1 = time.perf_counter()
    run_all(cfg)
    total = time.perf_counter() - t1
    out = cfg.output_dir

    print(
        f"real pipeline on {'all areas' if not args.province else args.province} "
        f"(data laid out in {t_prepare:.1f} s)"
    )
    print(f"{'stage':12s} {'seconds':>8s}")
    for stage in ("zones", "overlay", "deposition", "rko", "select", "scenario", "maps", "report"):
        m = json.loads((out / f"manifest_{stage}.json").read_text("utf-8"))
        secs = _ts(m["finished"]) - _ts(m["started"])
        print(f"{stage:12s} {secs:8.1f}")
    print(
        f"{'all':12s} {total:8.1f}   goal < {GOAL_S:.0f} s: {'met' if total < GOAL_S else 'MISSED'}"
    )
    files = [p for p in out.rglob("*") if p.is_file()]
    print(f"outputs: {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.0f} MB")
    for p in sorted(files, key=lambda p: -p.stat().st_size)[:6]:
        print(f"  {p.relative_to(out)}  {p.stat().st_size / 1e6:.1f} MB")
    maps = [p for p in (out / "maps").glob("area_*.html")]
    big = max(maps, key=lambda p: p.stat().st_size)
    over = [p.name for p in maps if p.stat().st_size > MAP_GOAL_MB * 1e6]
    print(
        f"area maps: {len(maps)}, largest {big.name} {big.stat().st_size / 1e6:.1f} MB; "
        f"over {MAP_GOAL_MB:g} MB: {len(over)} {over[:5]}"
    )
    print(f"peak memory {peak_rss_gb():.1f} GB; outputs in {out}")
    return 0 if total < GOAL_S and not over else 1


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


if __name__ == "__main__":
    sys.exit(main())
