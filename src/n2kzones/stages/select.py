"""Stage ``select``: propose zone widths from the deposition the zones would carry.

Writes ``zone_proposal.csv`` (see :func:`n2kzones.selection.propose_widths`): the deposition
in mol N/ha/yr on each area's overloaded habitat from farms within 500 m and 500-1000 m of
its edge, the ranking, the proposed width, the official width that wins, and ``zone_width_m``:
the width in force from the zones stage (the zone the maps draw). It reads the
habitat map for which areas have habitat data at all: one without is "unknown (no habitat
data)", not "no overloaded habitat".
"""

from __future__ import annotations

import logging

import pandas as pd

from n2kzones.config import Config
from n2kzones.render.i18n import zone_reason
from n2kzones.selection import propose_widths, zone_contributions
from n2kzones.stages.catalogue import ZONE_WIDTH
from n2kzones.stages.common import model_from_config, with_source_heights
from n2kzones.stages.framework import stage_run
from n2kzones.stages.zones import official_widths

log = logging.getLogger(__name__)


def run_select(cfg: Config) -> pd.DataFrame:
    """Stage ``select``; returns the proposal table (widths in m, deposition in mol N/ha/yr)."""
    with stage_run(cfg, "select") as run:
        areas = run.read_upstream("areas")
        farms = run.read_upstream("farms")
        receptors = run.read_upstream("receptors")
        model = model_from_config(cfg, run)
        if model.classes is not None:
            farms = with_source_heights(cfg, farms, run)
        habitat_sites = None
        if cfg.inputs.habitats is not None:  # areas with habitat, sensitive or not
            habitats, _ = run.read_layer("habitats")
            habitat_sites = set(habitats["site_code"].dropna().astype(str))
        contrib = zone_contributions(areas, farms, receptors, model, habitat_sites=habitat_sites)
        table = propose_widths(
            contrib,
            n_wide=cfg.selection.n_wide,
            wide_width_m=cfg.params.zones.wide_width_m,
            default_width_m=cfg.default_width_m,
            min_contribution_mol_ha=cfg.selection.min_contribution_mol_ha,
            official=official_widths(cfg, run),
        )
        # the width in force, from the zones stage's table (drawn on the maps, shown in the report)
        codes = areas["site_code"].astype(str)
        in_force = dict(zip(codes, areas[ZONE_WIDTH].astype(float), strict=True))
        table[ZONE_WIDTH] = table["site_code"].astype(str).map(in_force).astype(float)
        table["reason"] = [
            zone_reason(
                r.reason_code, cfg.project.language, rank=r.rank, n_wide=cfg.selection.n_wide,
                dep_within_1000m_mol_ha=r.dep_within_1000m_mol_ha,
                min_contribution_mol_ha=cfg.selection.min_contribution_mol_ha,
                official_width_m=r.official_width_m,
            )
            for r in table.itertuples(index=False)
        ]
        run.write_table("zone_proposal", table)
        log.info(
            "stage select: %d areas, proposed %s",
            len(table),
            ", ".join(f"{w:g} m: {n}" for w, n in table["proposed_width_m"].value_counts().sort_index().items()),
        )
    return table
