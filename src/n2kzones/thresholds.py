"""Thresholds per area, relative thresholds and named precedents: the inverse RKO questions.

The RKO sweep (:mod:`n2kzones.rko`) answers "what do all permit-free sources deposit
together at this threshold". This module answers the inverse questions of issue 17:

* :func:`area_thresholds` -- per Natura 2000 area the largest **area-specific threshold**
  ("gebiedsspecifieke drempelwaarde") ``T*`` for which the summed deposition of every source
  that would be permit-free for that area stays within a bound on every receptor in scope,
  found exactly by a bucketed search over the sorted per-source maxima (no sweep over ``T``);
* :func:`relative_maxima` -- every source's largest deposition as a fraction of the receptor's
  KDW (the UK and German screening rules are shares of the critical load), exactly;
* :func:`threshold_rules` -- for a list of threshold rules (absolute mol N/ha/yr, a per cent
  of the KDW, the named precedents of ``data/threshold_presets.csv``) the permit-free sources
  and NH3 and what they deposit together, nationally and per area, as the sweep's rows.

Every deposition figure comes from the one :class:`~n2kzones.deposition.model.DepositionModel`
(its kernel, wind rose, calculation range, receptor disc and implementation), so the numbers
agree with the deposition stage and the RKO sweep.

Units: coordinates in m (EPSG:28992), emissions in kg NH3/yr, deposition, thresholds and
bounds in mol N/ha/yr, KDW in mol N/ha/yr, areas in ha of sensitive habitat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from n2kzones.errors import InputError
from n2kzones.overload import positions_by_code
from n2kzones.rko import (
    NO_AREA,
    AreaGroups,
    _receptor_stats,
    _source_counts,
    _sources_frame,
    _xy,
    below_top,
    threshold_buckets,
    with_bounding_box,
)

if TYPE_CHECKING:
    from n2kzones.compute import Backend
    from n2kzones.deposition.model import DepositionModel

log = logging.getLogger(__name__)

#: Buckets per grouped deposition pass of the threshold search (the search needs about
#: ``log(n_sources) / log(SEARCH_BUCKETS)`` passes per area, the first over all its sources,
#: the later ones over one bucket's sources only).
SEARCH_BUCKETS = 64
#: Scopes of :func:`area_thresholds`: the receptors on which the bound must hold.
SCOPES = ("overloaded", "sensitive")
#: Kinds of :class:`ThresholdRule`.
RULE_KINDS = ("absolute_mol_ha", "pct_kdw")


# -- value objects -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdBound:
    """The bound on the summed permit-free deposition per receptor.

    Parameters
    ----------
    kind
        ``"mol_ha"``: ``bound_r = value`` mol N/ha/yr on every receptor; ``"kdw_share"``:
        ``bound_r = value x KDW_r`` (a share of the receptor's KDW, e.g. 0.03 for 3 %).
    value
        The number, >= 0 (mol N/ha/yr or a fraction).
    """

    kind: Literal["mol_ha", "kdw_share"]
    value: float

    def __post_init__(self) -> None:
        if self.kind not in ("mol_ha", "kdw_share"):
            raise InputError(
                f"threshold bound kind must be 'mol_ha' or 'kdw_share', not {self.kind!r}"
            )
        if not np.isfinite(self.value) or self.value < 0:
            raise InputError(f"threshold bound must be a finite number >= 0, not {self.value!r}")

    def per_receptor(self, kdw_mol_ha: np.ndarray | None, n: int) -> np.ndarray:
        """``bound_r`` in mol N/ha/yr for ``n`` receptors with KDW ``kdw_mol_ha``."""
        if self.kind == "mol_ha":
            return np.full(n, float(self.value))
        if kdw_mol_ha is None:
            raise InputError("a bound of kind 'kdw_share' needs the receptors' kdw_mol_ha")
        return float(self.value) * np.asarray(kdw_mol_ha, dtype=np.float64)

    @property
    def label(self) -> str:
        """``"1 mol_ha"`` or ``"0.03 kdw_share"``."""
        return f"{self.value:g} {self.kind}"


@dataclass(frozen=True)
class ThresholdRule:
    """A threshold rule: a source is permit-free when its largest contribution stays below it.

    Parameters
    ----------
    name
        Row label (a preset name, ``abs_1`` or ``pct_kdw_3``).
    kind
        ``"absolute_mol_ha"``: permit-free when ``max_r d_ir < value`` (mol N/ha/yr);
        ``"pct_kdw"``: permit-free when ``max_r d_ir / KDW_r < value / 100``.
    value
        The threshold in mol N/ha/yr or per cent of the KDW, > 0.
    applies_to
        ``"project"`` or ``"cumulative"`` as the source text means it (recorded; the rule is
        applied per source either way).
    source
        Where the number comes from (short citation), for the tables.
    """

    name: str
    kind: Literal["absolute_mol_ha", "pct_kdw"]
    value: float
    applies_to: str = "project"
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise InputError(
                f"threshold rule {self.name!r}: kind must be one of {RULE_KINDS}, not {self.kind!r}"
            )
        if not np.isfinite(self.value) or self.value <= 0:
            raise InputError(f"threshold rule {self.name!r}: value must be a finite number > 0")


# -- helpers -----------------------------------------------------------------------------------
def _subset_classes(
    kw: dict[str, Any], src_idx: np.ndarray | None, rec_idx: np.ndarray | None
) -> dict[str, Any]:
    """The class-aware model's keyword arguments for a subset of sources and receptors."""
    out: dict[str, Any] = {}
    if "source_height_m" in kw:
        h = kw["source_height_m"]
        out["source_height_m"] = h if src_idx is None else h[src_idx]
    if "receptor_classes" in kw:
        rc = kw["receptor_classes"]
        out["receptor_classes"] = rc if rec_idx is None else rc.take(rec_idx)
    return out


def _prepared(
    sources: pd.DataFrame, receptors: pd.DataFrame, model: DepositionModel, id_column: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Sources sorted by id, receptors sorted by ``receptor_id``, the model's class arguments."""
    for col in ("receptor_id", "site_code", "habitat_ha"):
        if col not in receptors:
            raise InputError(f"receptors need the column {col!r}")
    src = _sources_frame(sources, id_column)
    rec = receptors.sort_values("receptor_id", kind="stable").reset_index(drop=True)
    return src, rec, model.classes_for(src, rec)


def range_candidates(
    sx: np.ndarray, sy: np.ndarray, rx: np.ndarray, ry: np.ndarray, cutoff_m: float | None
) -> np.ndarray:
    """Positions (ascending) of the sources that can reach a receptor ``(rx, ry)`` within the
    calculation range ``cutoff_m`` (m; None: every source), plus the sources at the extremes of
    the sources' bounding box.

    A source left out is farther than the range (with a margin of 1 m) from the receptors'
    bounding box, so its largest contribution on them is 0. The extremes keep the bounding box
    of sources and receptors, and with it the kernel lookup range of
    :meth:`~n2kzones.deposition.model.DepositionModel.max_contribution`, as with all sources:
    the maxima of the sources kept are bitwise those of a call with every source.
    """
    if cutoff_m is None or sx.size == 0 or rx.size == 0:
        return np.arange(sx.size)
    reach = float(cutoff_m) * (1.0 + 1e-9) + 1.0
    gap_x = np.maximum(np.maximum(rx.min() - sx, sx - rx.max()), 0.0)
    gap_y = np.maximum(np.maximum(ry.min() - sy, sy - ry.max()), 0.0)
    return with_bounding_box(gap_x * gap_x + gap_y * gap_y <= reach * reach, sx, sy)


def scope_mask(receptors: pd.DataFrame, scope: str) -> np.ndarray:
    """Receptors on which the bound must hold: ``"overloaded"`` (``total_mol_ha >
    kdw_mol_ha``) or ``"sensitive"`` (every receptor)."""
    if scope not in SCOPES:
        raise InputError(f"scope must be one of {SCOPES}, not {scope!r}")
    if scope == "sensitive":
        return np.ones(len(receptors), dtype=bool)
    missing = [c for c in ("total_mol_ha", "kdw_mol_ha") if c not in receptors]
    if missing:
        raise InputError(f"scope 'overloaded' needs the receptors' columns {missing}")
    return receptors["total_mol_ha"].to_numpy(float) > receptors["kdw_mol_ha"].to_numpy(float)


# -- threshold per area ------------------------------------------------------------------------
AREA_THRESHOLD_COLUMNS = (
    "site_code",
    "area_threshold_mol_ha",
    "all_sources_fit",
    "binding_receptor_id",
    "binding_sum_mol_ha",
    "binding_sum_next_mol_ha",
    "bound_mol_ha",
    "bound_kind",
    "bound_value",
    "scope",
    "permit_free_sources",
    "permit_free_nh3_kg",
    "sources_considered",
    "sources_nh3_kg",
    "receptors_in_scope",
    "deposition_passes",
)


def area_thresholds(
    sources: pd.DataFrame,
    receptors: pd.DataFrame,
    model: DepositionModel,
    *,
    bound: ThresholdBound,
    scope: str = "overloaded",
    id_column: str = "farm_id",
    backend: Backend | None = None,
    buckets: int = SEARCH_BUCKETS,
) -> pd.DataFrame:
    """The largest area-specific threshold per area for which the permit-free sources' summed
    deposition stays within ``bound`` on every receptor in scope.

    Parameters
    ----------
    sources
        Points with ``geometry`` (or ``x``/``y`` in m), ``id_column`` and ``emission_kg_nh3``
        (kg NH3/yr); ``source_height_m`` for a class-aware model.
    receptors
        Receptors with ``receptor_id``, ``site_code``, ``habitat_ha``, ``kdw_mol_ha`` and
        ``total_mol_ha`` (mol N/ha/yr; the last two for scope ``"overloaded"`` and bound
        ``"kdw_share"``), the class columns for a class-aware model.
    model
        The deposition model (its calculation range applies to the maxima and the sums).
    bound
        The bound per receptor (:class:`ThresholdBound`).
    scope
        ``"overloaded"``: the bound must hold on the area's receptors with
        ``total_mol_ha > kdw_mol_ha``; ``"sensitive"``: on all of the area's receptors.
        Receptors with a non-finite bound (no KDW) are left out of the scope.
    id_column
        Source id column.
    backend
        Where the deposition is computed (:mod:`n2kzones.compute`); results do not depend on it.
    buckets
        Buckets per grouped pass of the search (>= 2; the result does not depend on it).

    Returns
    -------
    DataFrame
        One row per area (``site_code`` sorted), columns :data:`AREA_THRESHOLD_COLUMNS`:
        ``area_threshold_mol_ha`` (``T*``; ``inf`` when every source fits, then ``all_sources_fit``
        is True), ``binding_receptor_id`` (where the bound breaks when the next sources enter;
        when all fit, the receptor with the least headroom), ``binding_sum_mol_ha`` (the summed
        permit-free deposition there at ``T*``), ``binding_sum_next_mol_ha`` (the sum there once
        the sources with maximum ``T*`` enter too: it exceeds ``bound_mol_ha``; NaN when all
        fit), ``bound_mol_ha`` (the bound at that receptor), ``permit_free_sources`` and
        ``permit_free_nh3_kg`` (the sources with ``0 < m_iA < T*`` and their kg NH3/yr),
        ``sources_considered`` / ``sources_nh3_kg`` (the sources that reach the area,
        ``m_iA > 0``), ``receptors_in_scope`` and ``deposition_passes`` (grouped passes used).
        An area with no receptor in scope has ``threshold_mol_ha = inf``,
        ``all_sources_fit = True``, no binding receptor and ``receptors_in_scope = 0``.

    Notes
    -----
    **Semantics.** With an area-specific threshold ``T`` a source ``i`` is permit-free *for area
    A* when its largest deposition on A's receptors, ``m_iA = max_{r in A} d_ir``, is ``< T``
    (``m_iA`` from ``model.max_contribution`` on A's receptors alone, every receptor of A, not
    only those in scope). The permit-free sources together deposit
    ``S_r(T) = sum_{i: m_iA < T} d_ir`` on receptor ``r`` of A. ``T`` is admissible when
    ``S_r(T) <= bound_r`` for every ``r`` in scope.

    **Exactness.** ``d_ir >= 0``, and the set ``{i : m_iA < T}`` only grows with ``T``, so
    every ``S_r`` is non-decreasing in ``T`` and the admissible set is an interval ``(0, T*]``
    (or all ``T > 0``). ``S_r`` is a step function that changes only where ``T`` passes a value
    of ``m_iA``: with the distinct maxima ``u_1 < u_2 < ... < u_K`` and ``P_k`` the sum of the
    sources with ``m_iA <= u_k`` (``P_0 = 0``), ``S(T) = P_k`` for ``u_k < T <= u_{k+1}``. Let
    ``k*`` be the largest ``k`` with ``P_k <= bound`` everywhere in scope (monotone in ``k``).
    If ``k* = K`` every source fits (``T* = inf``); otherwise ``T* = u_{k*+1}``: at ``T*`` the
    sources with maxima ``< u_{k*+1}`` are in (``P_{k*}`` fits), and any larger ``T`` lets the
    sources with maximum ``u_{k*+1}`` in (``P_{k*+1}`` breaks the bound). Sources with equal
    maxima enter together (the rule is ``< T``). So ``T*`` is always one of the ``m_iA``, and
    locating ``k*`` is a search over the sorted maxima, not a sweep over ``T``.

    **Search.** The sources reaching A, sorted by ``m_iA``, are split into at most ``buckets``
    buckets of whole tie groups; one grouped pass (``model.at_points(..., groups=bucket)``) on
    the receptors in scope gives every bucket's sum, their running sum the ``P`` at each bucket
    end, and the first bucket end that breaks the bound holds ``k* + 1``. The search repeats
    inside that bucket only (its sources alone, on top of the sum before it) until the bucket
    is one tie group. Each step is exact (only sums of the same ``d_ir``), so the result is the
    brute-force answer (up to float rounding of the sums); the passes are one over A's reaching
    sources and a few over ``<= n / buckets`` sources.
    """
    if buckets < 2:
        raise InputError("buckets must be >= 2")
    src, rec, kw = _prepared(sources, receptors, model, id_column)
    sx, sy, e = src["x"].to_numpy(), src["y"].to_numpy(), src["emission_kg_nh3"].to_numpy(float)
    rx, ry = _xy(rec)
    site = rec["site_code"].astype(str).to_numpy()
    rid = rec["receptor_id"].to_numpy()
    kdw = rec["kdw_mol_ha"].to_numpy(float) if "kdw_mol_ha" in rec else None
    bound_r = bound.per_receptor(kdw, len(rec))
    in_scope = scope_mask(rec, scope) & np.isfinite(bound_r)
    rows = []
    t0 = time.perf_counter()
    for code, ra in positions_by_code(site).items():
        cand = range_candidates(sx, sy, rx[ra], ry[ra], model.cutoff_m)
        m = np.zeros(sx.size)
        m[cand], _ = model.max_contribution(
            sx[cand], sy[cand], e[cand], rx[ra], ry[ra], backend=backend,
            **_subset_classes(kw, cand, ra),
        )
        reach = np.flatnonzero(m > 0)
        rs = ra[in_scope[ra]]
        base_row = {
            "site_code": code,
            "bound_kind": bound.kind,
            "bound_value": float(bound.value),
            "scope": scope,
            "sources_considered": int(reach.size),
            "sources_nh3_kg": float(e[reach].sum()),
            "receptors_in_scope": int(rs.size),
        }
        if rs.size == 0 or reach.size == 0:
            rows.append(
                {
                    **base_row,
                    "area_threshold_mol_ha": np.inf,
                    "all_sources_fit": True,
                    "binding_receptor_id": None if rs.size == 0 else rid[rs[0]],
                    "binding_sum_mol_ha": 0.0 if rs.size else np.nan,
                    "binding_sum_next_mol_ha": np.nan,
                    "bound_mol_ha": float(bound_r[rs[0]]) if rs.size else np.nan,
                    "permit_free_sources": int(reach.size),
                    "permit_free_nh3_kg": float(e[reach].sum()),
                    "deposition_passes": 0,
                }
            )
            continue
        res = _search(model, sx, sy, e, rx, ry, kw, m, reach, rs, bound_r[rs], buckets, backend)
        order, k_next, p_fit, p_next, passes = res
        ms = m[order]
        if k_next is None:  # every source fits: the binding receptor has the least headroom
            j = int(np.argmin(bound_r[rs] - p_fit))
            thr, n_free, nxt = np.inf, order.size, np.nan
        else:
            over = p_next - bound_r[rs]
            j = int(np.argmax(over))
            thr = float(ms[k_next])
            n_free = int(k_next)
            nxt = float(p_next[j])
        free = order[:n_free]
        rows.append(
            {
                **base_row,
                "area_threshold_mol_ha": thr,
                "all_sources_fit": k_next is None,
                "binding_receptor_id": rid[rs[j]],
                "binding_sum_mol_ha": float(p_fit[j]),
                "binding_sum_next_mol_ha": nxt,
                "bound_mol_ha": float(bound_r[rs[j]]),
                "permit_free_sources": n_free,
                "permit_free_nh3_kg": float(e[free].sum()),
                "deposition_passes": passes,
            }
        )
    log.info(
        "area thresholds: %d areas, bound %s on %s receptors, in %.1f s",
        len(rows),
        bound.label,
        scope,
        time.perf_counter() - t0,
    )
    return pd.DataFrame(rows, columns=list(AREA_THRESHOLD_COLUMNS))


def _search(
    model: DepositionModel,
    sx: np.ndarray,
    sy: np.ndarray,
    e: np.ndarray,
    rx: np.ndarray,
    ry: np.ndarray,
    kw: dict[str, Any],
    m: np.ndarray,
    reach: np.ndarray,
    rs: np.ndarray,
    bound: np.ndarray,
    buckets: int,
    backend: Backend | None,
) -> tuple[np.ndarray, int | None, np.ndarray, np.ndarray | None, int]:
    """The bucketed search of :func:`area_thresholds` for one area.

    Returns ``(order, k_next, p_fit, p_next, passes)``: the reaching sources sorted by
    maximum; the sorted position where the breaking tie group starts (None: all fit); the sum
    at ``T*`` and the sum with the breaking group added on the scope receptors; the number of
    grouped passes.
    """
    order = reach[np.argsort(m[reach], kind="stable")]
    ms = m[order]
    n = order.size
    # tie groups: [starts[g], starts[g + 1]) in sorted positions
    starts = np.flatnonzero(np.r_[True, ms[1:] != ms[:-1]])
    starts = np.r_[starts, n]
    rxs, rys = rx[rs], ry[rs]
    lo, hi = 0, starts.size - 1  # tie groups still in question: [lo, hi)
    base = np.zeros(rs.size)
    passes = 0
    while True:
        p0, p1 = starts[lo], starts[hi]
        nb = min(buckets, hi - lo)
        # buckets of whole tie groups with about equal numbers of sources
        gbucket = ((starts[lo:hi] - p0) * nb) // (p1 - p0)
        sel = order[p0:p1]
        src_bucket = np.repeat(gbucket, np.diff(starts[lo : hi + 1]))
        dep = model.at_points(
            sx[sel],
            sy[sel],
            e[sel],
            rxs,
            rys,
            groups=src_bucket,
            n_groups=nb,
            backend=backend,
            **_subset_classes(kw, sel, rs),
        )
        passes += 1
        cum = base + np.cumsum(dep, axis=0)
        over = (cum > bound).any(axis=1)
        if not over.any() and lo == 0 and hi == starts.size - 1:
            return order, None, cum[-1], None, passes
        # a refined bucket broke the bound as a whole; summed again in parts it can only fit by
        # float rounding, and then its last part is the one that breaks
        b = int(np.argmax(over)) if over.any() else int(gbucket[-1])
        before = base if b == 0 else cum[b - 1]
        in_b = np.flatnonzero(gbucket == b)
        glo, ghi = lo + int(in_b[0]), lo + int(in_b[-1]) + 1
        if ghi - glo == 1:
            return order, int(starts[glo]), before, cum[b], passes
        base = before
        lo, hi = glo, ghi


# -- relative maxima ---------------------------------------------------------------------------
def _relative_max_arrays(
    model: DepositionModel,
    sx: np.ndarray,
    sy: np.ndarray,
    e: np.ndarray,
    rx: np.ndarray,
    ry: np.ndarray,
    kdw: np.ndarray,
    kw: dict[str, Any],
    backend: Backend | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(max_r d_ir / KDW_r, argmax receptor index or -1)`` per source."""
    best = np.zeros(sx.size)
    idx = np.full(sx.size, -1, dtype=np.int64)
    ok = np.isfinite(kdw) & (kdw > 0)
    for value in np.unique(kdw[ok]):
        group = np.flatnonzero(kdw == value)
        mx, gi = model.max_contribution(
            sx, sy, e, rx[group], ry[group], backend=backend, **_subset_classes(kw, None, group)
        )
        ratio = mx / value
        better = ratio > best
        best[better] = ratio[better]
        idx[better] = group[gi[better]]
    return best, idx


def relative_maxima(
    sources: pd.DataFrame,
    receptors: pd.DataFrame,
    model: DepositionModel,
    *,
    id_column: str = "farm_id",
    backend: Backend | None = None,
) -> pd.DataFrame:
    """Every source's largest deposition as a fraction of the receptor's KDW.

    Parameters
    ----------
    sources, receptors, model, id_column, backend
        As in :func:`area_thresholds`; the receptors need ``kdw_mol_ha`` (receptors without a
        positive finite KDW are left out).

    Returns
    -------
    DataFrame
        One row per source (sorted by id): ``id_column``, ``emission_kg_nh3``,
        ``max_kdw_ratio`` (``max_r d_ir / KDW_r``, a fraction: 0.01 is 1 % of the KDW),
        ``receptor_kdw_ratio`` (the receptor id where it is reached; None for a source reaching
        no receptor) and ``site_code_kdw_ratio``.

    Notes
    -----
    Exact, without evaluating every pair: the receptors are grouped by their distinct KDW
    value ``k_g``; within a group ``max_r d_ir / k_g = (max_r d_ir) / k_g``, and
    :meth:`~n2kzones.deposition.model.DepositionModel.max_contribution` gives the group's
    exact maximum. The overall maximum is the largest of the groups' (there are a few dozen
    distinct KDW values, one pruned maximum search each).
    """
    if "kdw_mol_ha" not in receptors:
        raise InputError("relative maxima need the receptors' kdw_mol_ha")
    src, rec, kw = _prepared(sources, receptors, model, id_column)
    rx, ry = _xy(rec)
    ratio, idx = _relative_max_arrays(
        model,
        src["x"].to_numpy(),
        src["y"].to_numpy(),
        src["emission_kg_nh3"].to_numpy(float),
        rx,
        ry,
        rec["kdw_mol_ha"].to_numpy(float),
        kw,
        backend,
    )
    ok = idx >= 0
    safe = np.maximum(idx, 0)
    return pd.DataFrame(
        {
            id_column: src[id_column].to_numpy(),
            "emission_kg_nh3": src["emission_kg_nh3"].to_numpy(float),
            "max_kdw_ratio": ratio,
            "receptor_kdw_ratio": np.where(ok, rec["receptor_id"].to_numpy()[safe], None),
            "site_code_kdw_ratio": np.where(
                ok, rec["site_code"].astype(str).to_numpy()[safe], None
            ),
        }
    )


# -- threshold rules ---------------------------------------------------------------------------
@dataclass
class RuleResult:
    """Output of :func:`threshold_rules`.

    Attributes
    ----------
    national
        One row per rule.
    by_area
        One row per rule x area (a source belongs to the area of its largest contribution;
        sources reaching no receptor under ``"(none)"``).
    sums
        ``{rule name: summed permit-free deposition per receptor}`` (mol N/ha/yr, receptors
        sorted by ``receptor_id``).
    """

    national: pd.DataFrame
    by_area: pd.DataFrame
    sums: dict[str, np.ndarray]


def threshold_rules(
    sources: pd.DataFrame,
    receptors: pd.DataFrame,
    model: DepositionModel,
    *,
    rules: Sequence[ThresholdRule],
    near_margin_mol_ha: float = 70.0,
    id_column: str = "farm_id",
    backend: Backend | None = None,
) -> RuleResult:
    """Permit-free sources under each rule and what they deposit together.

    Parameters
    ----------
    sources, receptors, model, id_column, backend
        As in :func:`area_thresholds` (``kdw_mol_ha`` needed for ``pct_kdw`` rules;
        ``total_mol_ha`` and ``kdw_mol_ha`` for the tipped hectares).
    rules
        The rules (names unique).
    near_margin_mol_ha
        Near overload: total above KDW minus this margin (mol N/ha/yr).

    Returns
    -------
    RuleResult
        Rows with ``rule``, ``kind``, ``applies_to``, ``value``, ``threshold_mol_ha`` (absolute
        rules), ``pct_kdw`` (relative rules), ``source`` and the sweep's columns
        (``n_sources_below``, ``emission_below_kg_nh3``, shares, ``max_sum_mol_ha``,
        ``mean_sum_mol_ha``, ``p95_sum_mol_ha``, ``ha_sum_above_1mol``, ``ha_tipped_overload``,
        ``ha_tipped_near_overload``; see :func:`n2kzones.rko.rko_sweep`).

    Notes
    -----
    Absolute rules compare a source's largest contribution on any receptor with the threshold,
    relative rules its largest contribution as a fraction of the receptor's KDW
    (:func:`relative_maxima`) with ``pct / 100``. Each family is one grouped pass, as in the
    sweep: the rules of a family nest (a larger threshold frees a superset), so bucket ``b`` =
    the number of the family's thresholds ``<= max`` and the sum under threshold ``j`` is the
    running sum of buckets ``0..j``. A rule marked ``cumulative`` in its source is still applied
    per source here; :func:`area_thresholds` with a ``kdw_share`` bound is the cumulative
    reading.
    """
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise InputError(f"threshold rule names must be unique: {names}")
    src, rec, kw = _prepared(sources, receptors, model, id_column)
    sx, sy, e = src["x"].to_numpy(), src["y"].to_numpy(), src["emission_kg_nh3"].to_numpy(float)
    rx, ry = _xy(rec)
    ha = rec["habitat_ha"].to_numpy(float)
    site = rec["site_code"].astype(str).to_numpy()
    total = rec["total_mol_ha"].to_numpy(float) if "total_mol_ha" in rec else None
    kdw = rec["kdw_mol_ha"].to_numpy(float) if "kdw_mol_ha" in rec else None
    t0 = time.perf_counter()
    mx, ridx = model.max_contribution(sx, sy, e, rx, ry, backend=backend, **kw)
    src_area = np.where(ridx >= 0, site[np.maximum(ridx, 0)], NO_AREA)
    family_max: dict[str, np.ndarray] = {"absolute_mol_ha": mx}
    if any(r.kind == "pct_kdw" for r in rules):
        if kdw is None:
            raise InputError("pct_kdw rules need the receptors' kdw_mol_ha")
        family_max["pct_kdw"] = _relative_max_arrays(model, sx, sy, e, rx, ry, kdw, kw, backend)[0]
    below: dict[str, np.ndarray] = {}
    sums: dict[str, np.ndarray] = {}
    for kind, maxima in family_max.items():
        fam = [r for r in rules if r.kind == kind]
        if not fam:
            continue
        scale = 1.0 if kind == "absolute_mol_ha" else 0.01
        t = np.asarray(sorted({r.value * scale for r in fam}), dtype=np.float64)
        bucket = threshold_buckets(maxima, t)
        # sources above the family's every threshold count in no sum (left out, radial model)
        p = np.arange(sx.size) if kw else below_top(bucket, t.size, sx, sy)
        dep = model.at_points(
            sx[p], sy[p], e[p], rx, ry, groups=bucket[p], n_groups=t.size + 1, backend=backend,
            **_subset_classes(kw, p, None),
        )
        sub = np.cumsum(dep[:-1], axis=0)
        for r in fam:
            j = int(np.searchsorted(t, r.value * scale))
            below[r.name] = bucket <= j
            sums[r.name] = sub[j]
    log.info(
        "threshold rules: %d rules in %d grouped passes, %.1f s",
        len(rules),
        len(family_max),
        time.perf_counter() - t0,
    )
    e_tot = float(e.sum())
    codes = [*np.unique(site), *([NO_AREA] if (src_area == NO_AREA).any() else [])]
    groups = AreaGroups.of(codes, src_area, positions_by_code(site), e, ha, total, kdw)
    nat_rows, area_rows = [], []
    for r in rules:
        head = {
            "rule": r.name,
            "kind": r.kind,
            "applies_to": r.applies_to,
            "value": float(r.value),
            "threshold_mol_ha": float(r.value) if r.kind == "absolute_mol_ha" else np.nan,
            "pct_kdw": float(r.value) if r.kind == "pct_kdw" else np.nan,
            "source": r.source,
        }
        b, s = below[r.name], sums[r.name]
        nat_rows.append(
            {
                **head,
                **_source_counts(b, e, e.size, e_tot),
                "sensitive_ha": float(ha.sum()),
                **_receptor_stats(s, ha, total, kdw, near_margin_mol_ha),
            }
        )
        area_rows += groups.rows(head, b, s, near_margin_mol_ha)
    return RuleResult(pd.DataFrame(nat_rows), pd.DataFrame(area_rows), sums)


__all__ = [
    "AREA_THRESHOLD_COLUMNS",
    "SCOPES",
    "SEARCH_BUCKETS",
    "RuleResult",
    "ThresholdBound",
    "ThresholdRule",
    "area_thresholds",
    "range_candidates",
    "relative_maxima",
    "scope_mask",
    "threshold_rules",
]
