"""Config -> domain objects, shared by the stage modules (the only readers of the config).

The deposition model is translated from the config here once, so every stage that computes
deposition uses the same :class:`~n2kzones.deposition.model.DepositionModel`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from n2kzones.config import Config
from n2kzones.deposition import RadialKernel, WindRose, default_kernel, load_wind_rose
from n2kzones.deposition.model import DepositionModel
from n2kzones.deposition.receptors import hexagon_side_m
from n2kzones.stages.framework import StageRun


def kernel_from_config(cfg: Config, run: StageRun | None = None) -> RadialKernel:
    """The configured kernel: a user's CSV profile, or the packaged OPS fit."""
    d = cfg.deposition
    if d.kernel_csv is None:
        return default_kernel()
    path = cfg.resolve(d.kernel_csv)
    if run is not None:
        run.record_input("kernel_csv", path)
    return RadialKernel.from_csv(path, value_col=d.kernel_value_column)


def wind_rose_from_config(cfg: Config, run: StageRun | None = None) -> WindRose | None:
    """The configured wind rose: None (isotropic), a packaged one, or a JSON file."""
    name = cfg.deposition.wind_rose
    if name == "isotropic":
        return None
    path = cfg.resolve(Path(name))
    if path.suffix == ".json" and path.exists():
        if run is not None:
            run.record_input("wind_rose", path)
        return WindRose.from_json(path)
    return load_wind_rose(name)


def receptor_radius_m(cfg: Config) -> float:
    """Radius (m) of the disc with the receptor hexagon's area (near-source averaging)."""
    return float(hexagon_side_m(cfg.deposition.hexagon_ha) * np.sqrt(3 * np.sqrt(3) / (2 * np.pi)))


def model_from_config(cfg: Config, run: StageRun | None = None) -> DepositionModel:
    """The deposition model exactly as every stage uses it (kernel, rose, range, radius)."""
    d = cfg.deposition
    return DepositionModel(
        kernel_from_config(cfg, run), wind_rose_from_config(cfg, run), d.cutoff_m, d.implementation,
        receptor_radius_m(cfg),
    )


def data_date(root: Path) -> str:
    """Date (YYYY-MM-DD) of the newest stage run in output folder ``root``."""
    dates = []
    for p in Path(root).glob("manifest_*.json"):
        try:
            dates.append(str(json.loads(p.read_text()).get("finished", ""))[:10])
        except (OSError, ValueError):
            continue
    return max((d for d in dates if d), default="unknown")


def config_name(cfg: Config) -> str:
    """The config file's name, for footers."""
    return cfg.source_path.name if cfg.source_path else "(no file)"
