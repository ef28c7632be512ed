"""Helpers shared by the benchmarks: the national-sized sample (generated once, cached) and a
config for it."""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NATIONAL_DIR = REPO / "data" / "raw" / "national"
NATIONAL_SCALE = 32  # 32 tiles of 40 x 40 km: ~120 areas, ~770,000 parcels, ~50,000 farms


def national_sample(
    scale: int = NATIONAL_SCALE, out: Path = NATIONAL_DIR, density: int = 1
) -> Path:
    """Generate the national-sized sample region once (cached under data/raw/national); with
    ``density`` K, K times its parcels and farms (``generate_sample(density=K)``)."""
    from n2kzones.datasets.sample import generate_sample

    if not (out / "manifest.json").exists():
        print(f"generating the sample of scale {scale}, density {density} into {out} ...",
              flush=True)
        t0 = time.perf_counter()
        generate_sample(out, scale=scale, density=density)
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def national_config(out: Path, folder: Path | None = None) -> dict[str, Any]:
    """Config (as a dict, like parsed TOML) for the national-sized sample in ``folder``
    (default: :func:`national_sample`), writing to ``out``.

    Uses the AERIUS 25 km calculation range for the grid and the RKO sweep (the sweep's
    "no range" pass is always computed too) and 250 m grid cells.
    """
    folder = national_sample() if folder is None else folder
    return {
        "project": {"name": "national", "crs": "EPSG:28992", "output_dir": str(out)},
        "inputs": {
            "areas": {"path": str(folder / "natura2000.gpkg"), "layer": "natura2000"},
            "habitats": {"path": str(folder / "habitats.gpkg"), "layer": "habitats"},
            "parcels": {
                "path": str(folder / "brp_gewaspercelen.gpkg"),
                "layer": "brp_gewas",
                "preset": "brp_pdok",
            },
            "farms": {"path": str(folder / "veehouderijen.gpkg"), "layer": "veehouderijen"},
            "background_deposition": {"path": str(folder / "background_deposition.tif")},
        },
        "deposition": {"cutoff_m": 25_000.0, "cell_m": 250.0},
        "rko": {"ranges_m": [25_000.0]},
    }


def with_policy(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` (a config dict) with the letter's 20 pp zone reduction as scenario and a
    ``[policy]`` that takes it as the baseline of two reduction targets (the benchmarks' policy
    settings)."""
    raw["scenarios"] = [{"name": "zones_20pp", "kind": "zone_reduction", "reduction_pct": 20}]
    raw["policy"] = {
        "baseline_scenario": "zones_20pp",
        "targets": [
            {"name": "mean_minus_20", "kind": "mean_reduction_mol_ha", "value": 20},
            {"name": "overloaded_10pct_restored", "kind": "overloaded_share_pct", "value": 10},
        ],
    }
    return raw


def sample_receptors(root: Path, params: Any) -> Any:
    """1 ha hexagon receptors over the sensitive habitat of the sample in ``root``, KDW from
    ``params`` where the habitat layer has none (a GeoDataFrame)."""
    import geopandas as gpd

    from n2kzones.deposition.receptors import hexagon_receptors

    hab = gpd.read_file(root / "habitats.gpkg")
    if "kdw_mol_ha" not in hab:
        table = {c: h.kdw_mol_ha for c, h in params.kdw.habitats.items()}
        hab["kdw_mol_ha"] = hab["habitat_code"].map(table).astype(float)
    return hexagon_receptors(hab, not_sensitive_from_mol_ha=params.kdw.not_sensitive_from_mol_ha)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str | Path):
        return json.dumps(str(v))  # a JSON string is a valid TOML basic string
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {v!r}")


def _is_table_list(v: Any) -> bool:
    return isinstance(v, list | tuple) and bool(v) and all(isinstance(x, dict) for x in v)


def toml_text(data: dict[str, Any], _prefix: str = "") -> str:
    """A config dict (tables of scalars and lists, lists of tables such as ``scenarios``;
    None values left out) as TOML text."""
    lines = [
        f"{k} = {_toml_value(v)}"
        for k, v in data.items()
        if v is not None and not isinstance(v, dict) and not _is_table_list(v)
    ]
    text = "\n".join(lines) + ("\n" if lines else "")
    for k, v in data.items():
        name = f"{_prefix}{k}"
        if isinstance(v, dict):
            body = toml_text(v, f"{name}.")
            if any(not isinstance(x, dict) for x in v.values()):
                body = f"[{name}]\n{body}"
            text += ("\n" if text else "") + body
        elif _is_table_list(v):  # an array of tables: one [[name]] per item
            for item in v:
                text += ("\n" if text else "") + f"[[{name}]]\n" + toml_text(item, f"{name}.")
    return text


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def quiet_logging() -> None:
    logging.basicConfig(level=logging.WARNING)
