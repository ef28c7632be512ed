"""Helpers shared by the benchmarks: the national-sized sample (generated once, cached)."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NATIONAL_DIR = REPO / "data" / "raw" / "national"
NATIONAL_SCALE = 32  # 32 tiles of 40 x 40 km: ~120 areas, ~770,000 parcels, ~50,000 farms


def national_sample(scale: int = NATIONAL_SCALE, out: Path = NATIONAL_DIR) -> Path:
    """Generate the national-sized sample region once (cached under data/raw/national)."""
    from n2kzones.datasets.sample import generate_sample

    if not (out / "manifest.json").exists():
        print(f"generating the national-sized sample (scale {scale}) into {out} ...", flush=True)
        t0 = time.perf_counter()
        generate_sample(out, scale=scale)
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def quiet_logging() -> None:
    logging.basicConfig(level=logging.WARNING)
