"""Config -> domain objects, shared by the stage modules (the only readers of the config).

The deposition model is translated from the config here once, so every stage that computes
deposition uses the same :class:`~n2kzones.deposition.model.DepositionModel`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from n2kzones.config import Config
from n2kzones.deposition import RadialKernel, WindRose, default_kernel, load_wind_rose
from n2kzones.deposition.classes import KernelTable
from n2kzones.deposition.model import DepositionModel
from n2kzones.deposition.receptors import hexagon_side_m
from n2kzones.errors import ConfigError
from n2kzones.stages.framework import StageRun

log = logging.getLogger(__name__)


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
    """The deposition model exactly as every stage uses it (kernel, classes, rose, range, radius)."""
    d = cfg.deposition
    classes = None
    if d.kernel == "ops_classes":
        if d.kernel_csv is not None:
            raise ConfigError(
                "[deposition] kernel = 'ops_classes' uses the packaged OPS-LT tables; remove kernel_csv "
                "or set kernel = 'grass' to use your own profile"
            )
        classes = KernelTable.from_ops()
    model = DepositionModel(
        kernel_from_config(cfg, run), wind_rose_from_config(cfg, run), d.cutoff_m, d.implementation,
        receptor_radius_m(cfg), classes,
    )
    if run is not None:
        run.extra["deposition_model"] = {
            "kernel": d.kernel, "classes": None if classes is None else classes.provenance,
        }
    return model


def with_source_heights(cfg: Config, farms: pd.DataFrame, run: StageRun | None = None) -> pd.DataFrame:
    """The farms with ``source_height_m`` (m) filled where missing with the sector default
    (``[source_classes] default_height_m``); the count goes to the log and the manifest."""
    default = cfg.params.source_classes.default_height_m
    h = farms["source_height_m"].astype(float) if "source_height_m" in farms else pd.Series(np.nan, index=farms.index)
    missing = int(h.isna().sum())
    if missing:
        log.info("%d of %d sources have no emission height: %g m (AERIUS animal housing) assumed", missing, len(farms), default)
    if run is not None:
        run.extra["sources_with_default_height"] = missing
    return farms.assign(source_height_m=h.fillna(default).to_numpy())


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
