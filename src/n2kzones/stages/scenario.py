"""Stage ``scenario``: every configured scenario, and the zone effectiveness.

Writes ``scenarios.csv`` (one row per scenario x area plus ``ALL`` rows: changes in
mol N/ha/yr and ha, NH3 reduced in kg/yr), ``stages/scenario_<name>.parquet`` (receptor
deposition per scenario), ``scenario_farms.csv`` (the emission cut of each farm a scenario
cuts, kg NH3/yr) and ``zone_effectiveness.csv`` (the effect of a kg cut inside against
outside the zones).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from n2kzones.config import Config
from n2kzones.effectiveness import zone_effectiveness
from n2kzones.errors import ConfigError
from n2kzones.io.writers import write_parquet
from n2kzones.scenarios import SCENARIO_COLUMNS, apply_cut, scenario_cut, scenario_table
from n2kzones.selection import sort_inputs
from n2kzones.stages.common import model_from_config, with_source_heights
from n2kzones.stages.framework import stage_run

log = logging.getLogger(__name__)


def farm_cuts(name: str, farms: pd.DataFrame, cut_kg: np.ndarray | list) -> pd.DataFrame:
    """The farms a scenario cuts, with their cut: ``scenario, farm_id, emission_kg_nh3,
    nh3_reduced_kg`` (kg NH3/yr), farms with a cut > 0 only."""
    cut = np.asarray(cut_kg, dtype=float)
    keep = cut > 0
    return pd.DataFrame(
        {
            "scenario": name,
            "farm_id": farms["farm_id"].astype(str).to_numpy()[keep],
            "emission_kg_nh3": farms["emission_kg_nh3"].to_numpy(float)[keep],
            "nh3_reduced_kg": cut[keep],
        }
    )


def run_scenarios(cfg: Config) -> pd.DataFrame:
    """Stage ``scenario``; returns the scenario table (see the module docstring)."""
    names_seen = [s.name for s in cfg.scenarios]
    dup = sorted({n for n in names_seen if names_seen.count(n) > 1})
    if dup:
        raise ConfigError(f"scenario names must be unique; repeated: {dup}")
    with stage_run(cfg, "scenario") as run:
        areas, farms, receptors = sort_inputs(
            run.read_upstream("areas"), run.read_upstream("farms"), run.read_upstream("receptors")
        )
        model = model_from_config(cfg, run)
        if model.classes is not None:
            farms = with_source_heights(cfg, farms, run)
        names = dict(zip(areas["site_code"].astype(str), areas["name"].astype(str), strict=True))
        margin = cfg.params.kdw.near_overload_margin_mol_ha
        tables = []
        cuts = []
        for sc in cfg.scenarios:
            polygons = None
            if sc.kind == "polygon_reduction":
                if sc.polygon is None:
                    raise ConfigError(f"scenario {sc.name!r}: polygon_reduction needs a `polygon` layer")
                polygons, _ = run.read_layer("areas", sc.polygon, name=f"scenario:{sc.name}")
            cut = scenario_cut(sc, farms, receptors, model, polygons=polygons)
            result = apply_cut(cut, farms, receptors, model, near_margin_mol_ha=margin)
            write_parquet(run.output("scenario_receptors", name=sc.name), result)
            table = scenario_table(sc.name, sc.kind, result, farms, cut, names)
            nat = table.iloc[-1]
            log.info(
                "scenario %s: %d farms, %.0f kg NH3/yr less; overloaded %.0f -> %.0f ha",
                sc.name, nat["farms_affected"], nat["nh3_reduced_kg"], nat["overloaded_ha_before"], nat["overloaded_ha_after"],
            )
            tables.append(table)
            cuts.append(farm_cuts(sc.name, farms, cut))
        table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=SCENARIO_COLUMNS)
        run.write_table("scenarios", table)
        empty = farm_cuts("", farms.iloc[:0], [])
        run.write_table("scenario_farms", pd.concat([empty, *cuts], ignore_index=True))
        eff = zone_effectiveness(areas, farms, receptors, model, cut_pct=cfg.effectiveness_cut_pct)
        run.write_table("zone_effectiveness", eff)
    return table
