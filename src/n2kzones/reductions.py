"""Required reduction per area: how much more must an area's zone cut to reach a target.

For each area ``A`` (the ``site_code`` of the receptors) and each :class:`ReductionTarget`,
:func:`required_reduction` finds the smallest extra cut ``p``, in percentage points of the
*current* emission of every farm in ``A``'s zone (``A`` among the farm's ``;``-separated
``area_codes``, as :func:`n2kzones.effectiveness.in_area_zone`, for all areas at once by
:func:`zone_members`), on top of a baseline cut (a ``zone_reduction`` scenario such as the
config's ``zones_20pp``), for which the target holds on ``A``'s receptors. Farms in several
areas' zones are part of each of those zones; every area is solved on its own (its own zone
farms cut, the other zones only the baseline).

Targets are measured from the current state (the receptors' ``total_mol_ha``) and the
baseline's effect counts towards them: ``p = 0`` where the baseline alone reaches the target.
Kinds (``value`` in the unit of the kind's name):

``mean_reduction_mol_ha``  (X, mol N/ha/yr)
    The habitat-weighted mean deposition on the area's receptors (its nitrogen-sensitive
    habitat) down by at least X from the current mean.
``overloaded_share_pct``  (Y, %)
    At least Y % of the hectares that are overloaded now (total > KDW, see
    :mod:`n2kzones.overload`) back to total <= KDW.
``max_exceedance_mol_ha``  (Z, mol N/ha/yr)
    No receptor of the area above KDW + Z (Z may be negative).

Exactness. Deposition is linear in the emissions, so with ``before_r`` the current total on
receptor ``r``, ``base_r`` the deposition of the baseline cut and ``u_r`` that of 1 % of the
zone farms' current emission (one :meth:`~n2kzones.deposition.model.DepositionModel.at_points`
pass per area, zone farms on the area's receptors), the total after an extra cut of ``p`` pp is
``after_r(p) = before_r - base_r - p * u_r`` (``u_r >= 0``), and:

* mean: ``p = (X - mean_w(base)) / mean_w(u)`` (closed form; weights ``habitat_ha``);
* overloaded share: receptor ``r`` (overloaded now) is back at or below its KDW from
  ``p_r = (before_r - base_r - KDW_r) / u_r`` on (0 if the baseline does it, infinite if no
  zone farm reaches it). Sorting the ``p_r`` and summing their hectares in that order gives the
  hectares restored as a step function of ``p``; the answer is the ``p_r`` at which the
  cumulative hectares first reach Y % of the overloaded hectares (a relative slack of
  :data:`SHARE_RTOL` absorbs rounding of the hectare sums). No search tolerance: it is the
  exact smallest ``p`` in the linear model, and the receptor with that ``p_r`` is binding;
* max exceedance: ``p = max_r (before_r - base_r - KDW_r - Z) / u_r`` over the receptors above
  the bound; the argmax is binding.

A target is reachable iff ``p <= max_extra_pct_points``, the largest extra cut every zone farm
can still make: ``100 * min_i (emission_i - baseline_i) / emission_i`` over the area's zone
farms with emission (``100 - baseline_pct`` for a uniform baseline of ``baseline_pct`` %; a
value within :data:`PCT_SNAP` pp of it is taken as exactly that). Otherwise the row reports
``reachable = False``, ``extra_pct_points = NaN`` and, in ``metric_after``, what the zone
achieves at its maximum cut. ``metric_after`` and ``overloaded_ha_after`` are evaluated in the
same linear model (a receptor counts as restored from its ``p_r`` on), so they agree with the
answer exactly; applied as a scenario (:func:`n2kzones.scenarios.apply_cut` with baseline +
``p`` / 100 x the zone farms' emission) they hold to float rounding (tested to 1e-9
relative). Every area gets a row per target; ``status`` says which case
applies (:data:`STATUSES`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from n2kzones.config import Scenario
from n2kzones.deposition.model import DepositionModel
from n2kzones.effectiveness import zone_members
from n2kzones.errors import ConfigError, InputError
from n2kzones.overload import positions_by_code
from n2kzones.scenarios import scenario_cut
from n2kzones.selection import sort_inputs

log = logging.getLogger(__name__)

#: Target kinds and the metric each is measured in (the ``metric`` column; unit in the name):
#: the habitat-weighted mean total deposition (mol N/ha/yr), the share of the currently
#: overloaded hectares at or below the KDW (%), the largest total minus KDW (mol N/ha/yr).
TARGET_KINDS: dict[str, str] = {
    "mean_reduction_mol_ha": "mean_deposition_mol_ha",
    "overloaded_share_pct": "restored_overloaded_pct",
    "max_exceedance_mol_ha": "max_exceedance_mol_ha",
}

#: ``status`` values: what a row's answer means.
STATUSES: dict[str, str] = {
    "met_now": "the target holds in the current state already (extra_pct_points = 0)",
    "baseline_reaches": "the baseline alone reaches the target (extra_pct_points = 0)",
    "extra_needed": "reachable with extra_pct_points > 0",
    "out_of_reach": "not reachable with the zone alone, even at max_extra_pct_points",
    "no_zone_farms": "no farm with emission in the area's zone and the baseline does not reach it",
    "no_overloaded_habitat": "share target, nothing overloaded now (extra_pct_points = 0)",
    "no_habitat": "the area's receptors have no habitat hectares (nothing to measure)",
    "no_receptors": "the area (from ``areas``) has no receptor: no habitat data to measure",
}

#: Relative slack on the hectares a share target needs: ``restored_ha >= Y/100 * overloaded_ha
#: * (1 - SHARE_RTOL)``, so rounding in the hectare sums (about 1e-16 per term) does not ask
#: for one more receptor when Y % is met exactly (e.g. 2 of 4 equal hexagons for 50 %).
SHARE_RTOL = 1e-12

#: A computed largest extra cut within this many percentage points of ``100 - baseline_pct``
#: is that value exactly (``100 * (e - 0.2 e) / e`` is 80 only up to float rounding).
PCT_SNAP = 1e-9

#: Emission share of one percentage point (the unit of ``extra_pct_points``).
PER_PCT_POINT = 0.01

REDUCTION_COLUMNS = [
    "site_code",
    "target",
    "kind",
    "target_value",
    "status",
    "reachable",
    "baseline_pct",
    "extra_pct_points",
    "total_pct_points",
    "max_extra_pct_points",
    "nh3_cut_kg",
    "zone_farms",
    "zone_emission_kg_nh3",
    "receptors",
    "sensitive_ha",
    "overloaded_ha_before",
    "overloaded_ha_after",
    "metric",
    "metric_before",
    "metric_after",
    "binding_receptor_id",
]


@dataclass(frozen=True)
class ReductionTarget:
    """A target for an area, reached by an extra cut in its zone.

    Parameters
    ----------
    name
        Label of the target (the ``target`` column).
    kind
        One of :data:`TARGET_KINDS`: ``"mean_reduction_mol_ha"``, ``"overloaded_share_pct"``
        or ``"max_exceedance_mol_ha"`` (see the module docstring).
    value
        X in mol N/ha/yr (>= 0), Y in % (0-100) or Z in mol N/ha/yr (any finite value).

    Raises
    ------
    ConfigError
        For an unknown kind, an empty name or a value out of range.
    """

    name: str
    kind: str
    value: float

    def __post_init__(self) -> None:
        if not str(self.name).strip():
            raise ConfigError("a reduction target needs a name")
        if self.kind not in TARGET_KINDS:
            raise ConfigError(
                f"reduction target {self.name!r}: kind {self.kind!r} is not allowed; "
                f"choose one of {', '.join(repr(k) for k in TARGET_KINDS)}"
            )
        try:
            value = float(self.value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"reduction target {self.name!r}: value {self.value!r} is not a number"
            ) from None
        if not math.isfinite(value):
            raise ConfigError(
                f"reduction target {self.name!r}: value must be finite, got {self.value!r}"
            )
        if self.kind == "mean_reduction_mol_ha" and value < 0:
            raise ConfigError(
                f"reduction target {self.name!r}: a mean reduction must be >= 0 mol N/ha/yr, "
                f"got {value:g}"
            )
        if self.kind == "overloaded_share_pct" and not 0 <= value <= 100:
            raise ConfigError(
                f"reduction target {self.name!r}: the share must be 0-100 %, got {value:g}"
            )
        object.__setattr__(self, "value", value)

    @property
    def metric(self) -> str:
        """Name (with unit) of the metric this target is measured in."""
        return TARGET_KINDS[self.kind]


@dataclass(frozen=True)
class _Area:
    """One area's receptors in the linear model (mol N/ha/yr; ``u`` per percentage point)."""

    before: np.ndarray
    base: np.ndarray
    u: np.ndarray
    kdw: np.ndarray
    ha: np.ndarray
    ids: np.ndarray

    def after(self, p: float) -> np.ndarray:
        return self.before - self.base - p * self.u

    def restore_at(self) -> np.ndarray:
        """Per currently overloaded receptor: the extra cut (pp) from which it is at or below
        its KDW (0: the baseline does it; inf: no zone farm reaches it)."""
        over = self.before > self.kdw
        gap = (self.before - self.base - self.kdw)[over]
        u = self.u[over]
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(gap <= 0, 0.0, np.where(u > 0, gap / u, np.inf))
        return p

    def overloaded_ha(self, p: float) -> float:
        """Hectares overloaded after an extra cut of ``p`` pp (exact in the linear model:
        receptors not overloaded now cannot become so; the others by :meth:`restore_at`)."""
        over = self.before > self.kdw
        return float(self.ha[over][self.restore_at() > p].sum())

    def worst_at(self, p: float) -> int:
        """Index of the receptor with the largest exceedance after an extra cut of ``p`` pp."""
        return int(np.argmax(self.after(p) - self.kdw))

    def metric_now(self, kind: str) -> float:
        """The metric in the current state (before the baseline)."""
        if kind == "mean_reduction_mol_ha":
            return _mean(self.before, self.ha)
        if kind == "overloaded_share_pct":
            return 0.0 if float(self.ha[self.before > self.kdw].sum()) > 0 else np.nan
        return float(np.max(self.before - self.kdw))

    def metric(self, kind: str, p: float) -> float:
        """The metric after the baseline and an extra cut of ``p`` pp."""
        if kind == "mean_reduction_mol_ha":
            return _mean(self.after(p), self.ha)
        if kind == "overloaded_share_pct":
            h = float(self.ha[self.before > self.kdw].sum())
            return 100.0 * (1.0 - self.overloaded_ha(p) / h) if h > 0 else np.nan
        return float(np.max(self.after(p) - self.kdw))


def _mean(x: np.ndarray, w: np.ndarray) -> float:
    sw = float(w.sum())
    return float((x * w).sum() / sw) if sw > 0 else np.nan


def _met(target: ReductionTarget, metric_now: float) -> bool:
    """Does the current state (no cut at all) meet the target?"""
    if target.kind == "mean_reduction_mol_ha":
        return target.value <= 0
    if target.kind == "overloaded_share_pct":
        return target.value <= 0 or not np.isfinite(metric_now)
    return metric_now <= target.value


def _solve(area: _Area, target: ReductionTarget) -> tuple[float, int | None]:
    """Smallest extra cut ``p`` (pp, >= 0; inf if no cut reaches it) and the binding receptor
    (index into the area's receptors; None for the mean and where nothing binds)."""
    kind, value = target.kind, target.value
    if kind == "mean_reduction_mol_ha":
        need = value - _mean(area.base, area.ha)
        if need <= 0:
            return 0.0, None
        per_pp = _mean(area.u, area.ha)
        return (need / per_pp if per_pp > 0 else np.inf), None
    if kind == "overloaded_share_pct":
        over = np.flatnonzero(area.before > area.kdw)
        h = float(area.ha[over].sum())
        if h <= 0 or value <= 0:
            return 0.0, None
        p_r = area.restore_at()
        order = np.argsort(p_r, kind="stable")
        cum = np.cumsum(area.ha[over][order])
        k = int(np.searchsorted(cum, value / 100.0 * h * (1.0 - SHARE_RTOL), side="left"))
        k = min(k, order.size - 1)
        return float(p_r[order[k]]), int(over[order[k]])
    gap = area.before - area.base - area.kdw - value
    with np.errstate(divide="ignore", invalid="ignore"):
        p_r = np.where(gap <= 0, 0.0, np.where(area.u > 0, gap / area.u, np.inf))
    i = int(np.argmax(p_r))
    return float(p_r[i]), (i if p_r[i] > 0 else None)


def _no_receptor_row(
    code: str, target: ReductionTarget, baseline_pct: float, farms: pd.DataFrame, mine: np.ndarray
) -> dict:
    em = farms["emission_kg_nh3"].to_numpy(float)
    return {
        **dict.fromkeys(REDUCTION_COLUMNS, np.nan),
        "site_code": code,
        "target": target.name,
        "kind": target.kind,
        "target_value": target.value,
        "status": "no_receptors",
        "reachable": False,
        "baseline_pct": float(baseline_pct),
        "zone_farms": int(mine.sum()),
        "zone_emission_kg_nh3": float(em[mine & (em > 0)].sum()),
        "receptors": 0,
        "sensitive_ha": 0.0,
        "metric": target.metric,
        "binding_receptor_id": None,
    }


def _baseline(
    farms: pd.DataFrame, baseline_cut_kg: np.ndarray | None, baseline_pct: float
) -> np.ndarray:
    em = farms["emission_kg_nh3"].to_numpy(float)
    if baseline_cut_kg is None:
        inzone = farms["zone_key"].fillna("").astype(str).to_numpy() != ""
        return np.where(inzone, em * (baseline_pct / 100.0), 0.0)
    cut = np.asarray(baseline_cut_kg, dtype=float)
    if cut.shape != em.shape:
        raise InputError(f"baseline_cut_kg has {cut.size} values for {em.size} farms")
    if not np.isfinite(cut).all() or (cut < 0).any():
        raise InputError("baseline_cut_kg must be finite and >= 0 kg NH3/yr per farm")
    over = cut > em * (1 + 1e-12)
    if over.any():
        ids = farms["farm_id"].astype(str).to_numpy()[over][:5].tolist()
        raise InputError(f"baseline_cut_kg exceeds the farm's emission for farms {ids}")
    return np.minimum(cut, em)


def zone_baseline(
    scenario: Scenario | None,
    farms: gpd.GeoDataFrame,
    receptors: gpd.GeoDataFrame,
    model: DepositionModel,
) -> tuple[np.ndarray, float]:
    """The baseline of :func:`required_reduction` from a ``zone_reduction`` scenario.

    Returns
    -------
    tuple
        The scenario's cut per farm (kg NH3/yr, in the order of ``farms``;
        :func:`n2kzones.scenarios.scenario_cut`) and its ``reduction_pct`` (pp); zeros and
        0.0 for None (no baseline).

    Raises
    ------
    ConfigError
        For a scenario of another kind (its cut is not a share of the zone farms' emission).
    """
    if scenario is None:
        return np.zeros(len(farms)), 0.0
    if scenario.kind != "zone_reduction":
        raise ConfigError(
            f"the baseline of a required reduction must be a zone_reduction scenario; "
            f"{scenario.name!r} is a {scenario.kind}"
        )
    return scenario_cut(scenario, farms, receptors, model), float(scenario.reduction_pct)


def required_reduction(
    farms: gpd.GeoDataFrame,
    receptors: gpd.GeoDataFrame,
    model: DepositionModel,
    targets: Iterable[ReductionTarget],
    *,
    baseline_cut_kg: np.ndarray | None = None,
    baseline_pct: float = 0.0,
    areas: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per area and target: the extra zone cut (pp of current emission) that reaches the target.

    Parameters
    ----------
    farms
        Farms with ``farm_id``, ``emission_kg_nh3`` (kg NH3/yr), ``area_codes``
        (``;``-separated areas whose zone the farm is in), ``zone_key`` (``''`` outside every
        zone; used only when ``baseline_cut_kg`` is None) and point geometry; with a
        class-aware model also ``source_height_m``.
    receptors
        Receptors with ``receptor_id``, ``site_code``, ``habitat_ha``, ``kdw_mol_ha`` and
        ``total_mol_ha`` (current total deposition, mol N/ha/yr); with a class-aware model
        also its class columns.
    model
        The deposition model (from the config, as every stage builds it).
    targets
        The targets (:class:`ReductionTarget`); names must be unique.
    baseline_cut_kg
        The baseline's cut per farm (kg NH3/yr, in the order of ``farms``, 0 <= cut <=
        emission), e.g. :func:`n2kzones.scenarios.scenario_cut` of a ``zone_reduction``
        scenario. None: ``baseline_pct`` % of every farm in a zone (``zone_key != ''``), the
        cut of a ``zone_reduction`` scenario without ``max_width_m``.
    baseline_pct
        The baseline's cut in percentage points of current emission (0-100; a
        ``zone_reduction`` scenario's ``reduction_pct``); ``total_pct_points`` is it plus the
        extra cut.
    areas
        Optional areas with ``site_code``: those without receptors get rows too (status
        ``no_receptors``); None: the areas are the receptors' ``site_code`` values.

    Returns
    -------
    DataFrame
        Columns :data:`REDUCTION_COLUMNS`, one row per area (sorted ``site_code``) and target
        (in the given order): ``extra_pct_points`` (pp of the zone farms' current emission;
        NaN if out of reach), ``total_pct_points`` (``baseline_pct`` + extra),
        ``max_extra_pct_points``, ``nh3_cut_kg`` (the extra cut, kg NH3/yr),
        ``zone_farms`` and ``zone_emission_kg_nh3`` (current), ``receptors``,
        ``sensitive_ha``, ``overloaded_ha_before``/``_after`` (ha), ``metric`` (name and unit
        of the kind's metric), ``metric_before`` (now) and ``metric_after`` (after baseline
        and extra cut; at the maximum cut if out of reach), ``binding_receptor_id`` (the
        receptor that decides ``p`` for the share and max kinds; out of reach, for the max
        kind the receptor with the largest exceedance at the maximum cut; None otherwise) and
        ``status`` (:data:`STATUSES`).

    Raises
    ------
    InputError
        For a baseline cut that does not fit the farms, or repeated ids.
    ConfigError
        For repeated target names or ``baseline_pct`` outside 0-100.
    """
    targets = list(targets)
    names = [t.name for t in targets]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"reduction target names must be unique; repeated: {dup}")
    if not 0 <= baseline_pct <= 100:
        raise ConfigError(f"baseline_pct must be 0-100 %, got {baseline_pct:g}")
    base_kg = _baseline(farms, baseline_cut_kg, baseline_pct)
    _, farms, receptors = sort_inputs(None, farms.assign(_baseline_cut_kg=base_kg), receptors)
    base_kg = farms["_baseline_cut_kg"].to_numpy(float)
    em = farms["emission_kg_nh3"].to_numpy(float)
    sx, sy = farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy()
    rx, ry = receptors.geometry.x.to_numpy(), receptors.geometry.y.to_numpy()
    cutting = np.flatnonzero(base_kg > 0)
    base_dep = (
        model.at_points(
            sx[cutting],
            sy[cutting],
            base_kg[cutting],
            rx,
            ry,
            **model.classes_for(farms.iloc[cutting], receptors),
        )
        if cutting.size
        else np.zeros(len(receptors))
    )
    before = receptors["total_mol_ha"].to_numpy(float)
    kdw = receptors["kdw_mol_ha"].to_numpy(float)
    ha = receptors["habitat_ha"].to_numpy(float)
    rid = receptors["receptor_id"].to_numpy()
    site = receptors["site_code"].astype(str).to_numpy()
    uniform_max = 100.0 - baseline_pct
    codes = set(site) | (set() if areas is None else set(areas["site_code"].astype(str)))
    members = zone_members(farms["area_codes"])
    by_code = positions_by_code(site)
    no_receptor = np.zeros(0, dtype=np.int64)
    rows = []
    for code in sorted(codes):
        sel = by_code.get(code, no_receptor)
        mine = np.zeros(len(farms), bool)
        mine[members.get(code, [])] = True
        if sel.size == 0:
            rows += [_no_receptor_row(code, t, baseline_pct, farms, mine) for t in targets]
            continue
        zone = np.flatnonzero(mine & (em > 0))
        u = (
            model.at_points(
                sx[zone],
                sy[zone],
                em[zone] * PER_PCT_POINT,
                rx[sel],
                ry[sel],
                **(
                    {}
                    if model.classes is None
                    else model.classes_for(farms.iloc[zone], receptors.iloc[sel])
                ),
            )
            if zone.size
            else np.zeros(sel.size)
        )
        area = _Area(before[sel], base_dep[sel], u, kdw[sel], ha[sel], rid[sel])
        p_max = (
            float(100.0 * np.min((em[zone] - base_kg[zone]) / em[zone]))
            if zone.size
            else uniform_max
        )
        if abs(p_max - uniform_max) <= PCT_SNAP:
            p_max = uniform_max
        zone_em = float(em[zone].sum())
        over_before = float(ha[sel][before[sel] > kdw[sel]].sum())
        for t in targets:
            p, binding = _solve(area, t)
            if p <= 0:
                binding = None
            if float(ha[sel].sum()) <= 0:
                status = "no_habitat"
            elif t.kind == "overloaded_share_pct" and over_before <= 0:
                status = "no_overloaded_habitat"
            elif p <= 0:
                status = "met_now" if _met(t, area.metric_now(t.kind)) else "baseline_reaches"
            elif p <= p_max:
                status = "extra_needed"
            else:
                status = "no_zone_farms" if zone.size == 0 else "out_of_reach"
            reachable = status in (
                "met_now",
                "baseline_reaches",
                "extra_needed",
                "no_overloaded_habitat",
            )
            p_eval = p if reachable else p_max
            if not reachable:
                binding = area.worst_at(p_max) if t.kind == "max_exceedance_mol_ha" else None
            extra = p if reachable else np.nan
            rows.append(
                {
                    "site_code": code,
                    "target": t.name,
                    "kind": t.kind,
                    "target_value": t.value,
                    "status": status,
                    "reachable": reachable,
                    "baseline_pct": float(baseline_pct),
                    "extra_pct_points": extra,
                    "total_pct_points": baseline_pct + extra,
                    "max_extra_pct_points": p_max,
                    "nh3_cut_kg": extra * PER_PCT_POINT * zone_em,
                    "zone_farms": int(mine.sum()),
                    "zone_emission_kg_nh3": zone_em,
                    "receptors": int(sel.size),
                    "sensitive_ha": float(ha[sel].sum()),
                    "overloaded_ha_before": over_before,
                    "overloaded_ha_after": area.overloaded_ha(p_eval),
                    "metric": t.metric,
                    "metric_before": area.metric_now(t.kind),
                    "metric_after": area.metric(t.kind, p_eval),
                    "binding_receptor_id": None if binding is None else area.ids[binding],
                }
            )
    out = pd.DataFrame(rows, columns=REDUCTION_COLUMNS)
    out["binding_receptor_id"] = pd.Series(
        [r["binding_receptor_id"] for r in rows], index=out.index, dtype=object
    )
    for t in targets:
        rows_t = out.loc[out["target"] == t.name]
        log.info(
            "required reduction %s (%s %g): %d of %d areas reachable with the zone alone",
            t.name,
            t.kind,
            t.value,
            int(rows_t["reachable"].sum()),
            len(rows_t),
        )
    return out
