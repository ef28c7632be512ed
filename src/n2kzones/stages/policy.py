"""Stage ``policy``: thresholds per area, relative thresholds and named precedents (issue 17).

Reads the farms and receptors of the earlier stages, the deposition model of the config with
the calculation range ``[policy] range_m``, and writes:

``policy_area_thresholds.csv``
    One row per area: the largest area-specific threshold (mol N/ha/yr) for which the summed
    deposition of the sources that are permit-free for that area stays within ``[policy]
    bound_mol_ha`` (``bound_kind``) on every receptor in ``scope``, the binding receptor and
    the sums there, the permit-free sources and their NH3 (kg/yr)
    (:func:`n2kzones.thresholds.area_thresholds`).
``policy_thresholds.csv``
    One row per threshold rule nationally (``site_code = "ALL"``) and per area: the named
    presets of ``data/threshold_presets.csv`` (with their source), the relative thresholds
    ``relative_pct_kdw`` (% of the KDW) and ``absolute_mol_ha``; permit-free sources and NH3,
    and the max / mean / P95 of their summed deposition and the hectares it tips
    (:func:`n2kzones.thresholds.threshold_rules`).
``policy_reductions.csv`` (with ``[[policy.targets]]``)
    Per area and target: the extra reduction in the area's zone, in percentage points of the
    current emission on top of ``baseline_scenario``, that reaches the target, or that the zone
    alone cannot (:func:`n2kzones.reductions.required_reduction`).
``policy_zone_variants.csv`` (with ``zone_variants``, the habitat and parcel inputs)
    The letter's zones against a zone from the habitat edge and a TA Luft distance rule
    (:func:`n2kzones.zone_variants.compare_zone_bases`).

The analyses are a list of :class:`PolicyAnalysis` entries (:data:`ANALYSES`), each writing one
catalogue output (or none, when the config does not ask for it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from n2kzones.compute import Backend, open_backend
from n2kzones.config import Config, PolicySettings
from n2kzones.deposition.model import DepositionModel
from n2kzones.params import load_threshold_presets
from n2kzones.reductions import ReductionTarget, required_reduction, zone_baseline
from n2kzones.stages.common import habitats_of_chosen_areas, model_from_config, with_source_heights
from n2kzones.stages.framework import StageRun, stage_run
from n2kzones.thresholds import ThresholdBound, ThresholdRule, area_thresholds, threshold_rules
from n2kzones.zone_variants import compare_zone_bases

log = logging.getLogger(__name__)

#: ``site_code`` of the national rows of ``policy_thresholds``.
NATIONAL = "ALL"


@dataclass(frozen=True)
class PolicyInputs:
    """What every policy analysis gets: config, run, sources, receptors, model, backend."""

    cfg: Config
    run: StageRun
    areas: pd.DataFrame
    farms: pd.DataFrame
    receptors: pd.DataFrame
    model: DepositionModel
    backend: Backend | None


@dataclass(frozen=True)
class PolicyAnalysis:
    """One analysis of the policy stage: the catalogue output it writes and its function."""

    output: str
    compute: Callable[[PolicyInputs], pd.DataFrame | None]


def policy_rules(policy: PolicySettings) -> list[ThresholdRule]:
    """The threshold rules of ``[policy]``: the chosen presets, then ``relative_pct_kdw`` and
    ``absolute_mol_ha`` (names ``pct_kdw_<p>`` and ``abs_<t>``)."""
    table = load_threshold_presets().set_index("name")
    rules = []
    for name in policy.presets:
        row = table.loc[name]
        absolute = row["kind"] == "absolute_mol_ha"
        rules.append(
            ThresholdRule(
                name,
                row["kind"],
                float(row["value_mol_ha"] if absolute else row["value_pct_kdw"]),
                applies_to=str(row["applies_to"]),
                source=f"{row['source']}; {row['article']}",
            )
        )
    rules += [
        ThresholdRule(f"pct_kdw_{p:g}", "pct_kdw", p, source="[policy] relative_pct_kdw")
        for p in policy.relative_pct_kdw
    ]
    rules += [
        ThresholdRule(f"abs_{t:g}", "absolute_mol_ha", t, source="[policy] absolute_mol_ha")
        for t in policy.absolute_mol_ha
    ]
    return rules


def _area_thresholds(inp: PolicyInputs) -> pd.DataFrame:
    p = inp.cfg.policy
    table = area_thresholds(
        inp.farms,
        inp.receptors,
        inp.model,
        bound=ThresholdBound(p.bound_kind, p.bound_mol_ha),
        scope=p.scope,
        backend=inp.backend,
    )
    inp.run.extra["area_thresholds"] = {
        "areas": len(table),
        "all_sources_fit": int(table["all_sources_fit"].sum()),
        "deposition_passes": int(table["deposition_passes"].sum()),
    }
    return table


def _thresholds(inp: PolicyInputs) -> pd.DataFrame:
    rules = policy_rules(inp.cfg.policy)
    res = threshold_rules(
        inp.farms,
        inp.receptors,
        inp.model,
        rules=rules,
        near_margin_mol_ha=inp.cfg.params.kdw.near_overload_margin_mol_ha,
        backend=inp.backend,
    )
    national = res.national.assign(site_code=NATIONAL)
    table = pd.concat([national, res.by_area], ignore_index=True)
    front = ["rule", "site_code"]
    inp.run.extra["threshold_rules"] = [r.name for r in rules]
    return table[front + [c for c in table.columns if c not in front]]


def _reductions(inp: PolicyInputs) -> pd.DataFrame | None:
    p = inp.cfg.policy
    if not p.targets:
        return None
    targets = [ReductionTarget(t.name, t.kind, t.value) for t in p.targets]
    baseline = next((sc for sc in inp.cfg.scenarios if sc.name == p.baseline_scenario), None)
    model = inp.model.with_cutoff(inp.cfg.deposition.cutoff_m)  # the scenarios' model
    cut_kg, pct = zone_baseline(baseline, inp.farms, inp.receptors, model)
    table = required_reduction(
        inp.farms, inp.receptors, model, targets, baseline_cut_kg=cut_kg, baseline_pct=pct,
        areas=inp.areas,
    )
    inp.run.extra["reductions"] = {
        "targets": [t.name for t in targets],
        "baseline_scenario": p.baseline_scenario,
        "reachable_rows": int(table["reachable"].sum()),
    }
    return table


def _zone_variants(inp: PolicyInputs) -> pd.DataFrame | None:
    cfg = inp.cfg
    variants = cfg.policy.zone_variants
    if not variants or cfg.inputs.habitats is None or cfg.inputs.parcels is None:
        if variants:
            log.info("policy: no zone-basis comparison (it needs [inputs.habitats] and [inputs.parcels])")
        return None
    habitats, _ = inp.run.read_layer("habitats")
    habitats = habitats_of_chosen_areas(cfg, habitats, inp.areas)
    parcels, _ = inp.run.read_layer("parcels")
    table = compare_zone_bases(
        inp.areas, habitats, inp.farms, parcels, inp.receptors,
        inp.model.with_cutoff(cfg.deposition.cutoff_m),
        variants=variants, params=cfg.params, include_inner=cfg.zones.include_inner,
        quad_segs=cfg.quad_segs, cut_pct=cfg.effectiveness_cut_pct,
    )
    inp.run.extra["zone_variants"] = list(variants)
    return table


#: The analyses of the stage, in the order they run.
ANALYSES: tuple[PolicyAnalysis, ...] = (
    PolicyAnalysis("policy_area_thresholds", _area_thresholds),
    PolicyAnalysis("policy_thresholds", _thresholds),
    PolicyAnalysis("policy_reductions", _reductions),
    PolicyAnalysis("policy_zone_variants", _zone_variants),
)


def run_policy(cfg: Config, *, backend: Backend | None = None) -> dict[str, pd.DataFrame]:
    """Stage ``policy`` (thresholds and sums in mol N/ha/yr, emissions in kg NH3/yr, areas in
    ha); returns the written tables by catalogue key."""
    if backend is None:
        with open_backend(cfg.compute) as backend:
            return run_policy(cfg, backend=backend)
    with stage_run(cfg, "policy") as run:
        areas = run.read_upstream("areas")
        farms = run.read_upstream("farms")
        receptors = run.read_upstream("receptors")
        model = model_from_config(cfg, run).with_cutoff(cfg.policy.range_m)
        if model.classes is not None:
            farms = with_source_heights(cfg, farms, run)
        inp = PolicyInputs(cfg, run, areas, farms, receptors, model, backend)
        tables: dict[str, pd.DataFrame] = {}
        for analysis in ANALYSES:
            t0 = time.perf_counter()
            table = analysis.compute(inp)
            if table is None:
                continue
            run.write_table(analysis.output, table)
            tables[analysis.output] = table
            log.info(
                "policy %s: %d rows in %.1f s",
                analysis.output,
                len(table),
                time.perf_counter() - t0,
            )
        run.extra.update(
            kernel=model.kernel.provenance,
            range_m=cfg.policy.range_m,
            bound=f"{cfg.policy.bound_mol_ha:g} {cfg.policy.bound_kind}",
            scope=cfg.policy.scope,
            farms=len(farms),
            receptors=len(receptors),
            engine=backend.name,
        )
    return tables
