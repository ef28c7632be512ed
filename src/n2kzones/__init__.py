"""n2kzones: zones around Natura 2000 areas, overlay, NH3 deposition and RKO analysis.

The stable public API is re-exported here and imported lazily (PEP 562), so
``import n2kzones`` stays fast; the heavy geo stack loads on first use of a name::

    import n2kzones as nz

    cfg = nz.load_config("config/sample.toml")
    nz.run_all(cfg)                 # every stage, zones to report
    nz.run_stage("rko", cfg)        # one stage (its upstream must be current)
    nz.run_stale(cfg, ["rko"])      # rko and its upstream, reusing what is current
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from n2kzones._version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

# public name -> module that defines it
_API: dict[str, str] = {
    # configuration and parameters
    "load_config": "n2kzones.config",
    "config_from_dict": "n2kzones.config",
    "load_parameters": "n2kzones.params",
    # inputs
    "read_layer": "n2kzones.io.readers",
    "read_inputs": "n2kzones.io.readers",
    "read_table": "n2kzones.io.writers",
    "generate_sample": "n2kzones.datasets.sample",
    # zones and overlay
    "resolve_widths": "n2kzones.zones",
    "build_zones": "n2kzones.zones",
    "overlay_parcels": "n2kzones.overlay",
    "overlay_farms": "n2kzones.overlay",
    # deposition engine
    "default_kernel": "n2kzones.deposition.kernel",
    "deposition_at_points": "n2kzones.deposition.engine",
    "deposition_on_grid": "n2kzones.deposition.engine",
    "GridSpec": "n2kzones.io.grid",
    # pipeline stages (each reads a Config and writes into its output_dir)
    "run_zones": "n2kzones.stages.zones",
    "run_overlay": "n2kzones.stages.overlay",
    "run_deposition": "n2kzones.stages.deposition",
    "run_rko": "n2kzones.stages.rko",
    "run_select": "n2kzones.stages.select",
    "run_scenarios": "n2kzones.stages.scenario",
    "run_maps": "n2kzones.stages.maps",
    "run_report": "n2kzones.stages.report",
    "run_all": "n2kzones.stages.run",
    "run_stage": "n2kzones.stages.run",
    "run_stale": "n2kzones.stages.run",
    "DepositionModel": "n2kzones.deposition.model",
    # analysis
    "compare_zone_bases": "n2kzones.zone_variants",
}

__all__ = [
    "__version__",
    "load_config",
    "config_from_dict",
    "load_parameters",
    "read_layer",
    "read_inputs",
    "read_table",
    "generate_sample",
    "resolve_widths",
    "build_zones",
    "overlay_parcels",
    "overlay_farms",
    "default_kernel",
    "deposition_at_points",
    "deposition_on_grid",
    "GridSpec",
    "run_zones",
    "run_overlay",
    "run_deposition",
    "run_rko",
    "run_select",
    "run_scenarios",
    "run_maps",
    "run_report",
    "run_all",
    "run_stage",
    "run_stale",
    "DepositionModel",
    "compare_zone_bases",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from n2kzones.config import config_from_dict, load_config
    from n2kzones.datasets.sample import generate_sample
    from n2kzones.deposition.engine import deposition_at_points, deposition_on_grid
    from n2kzones.deposition.kernel import default_kernel
    from n2kzones.deposition.model import DepositionModel
    from n2kzones.io.grid import GridSpec
    from n2kzones.io.readers import read_inputs, read_layer
    from n2kzones.io.writers import read_table
    from n2kzones.overlay import overlay_farms, overlay_parcels
    from n2kzones.params import load_parameters
    from n2kzones.stages.deposition import run_deposition
    from n2kzones.stages.maps import run_maps
    from n2kzones.stages.overlay import run_overlay
    from n2kzones.stages.report import run_report
    from n2kzones.stages.rko import run_rko
    from n2kzones.stages.run import run_all, run_stage, run_stale
    from n2kzones.stages.scenario import run_scenarios
    from n2kzones.stages.select import run_select
    from n2kzones.stages.zones import run_zones
    from n2kzones.zone_variants import compare_zone_bases
    from n2kzones.zones import build_zones, resolve_widths


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
