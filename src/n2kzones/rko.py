"""RKO (rekenkundige ondergrens): what a computational deposition threshold adds up to.

A project whose largest deposition on any nitrogen-sensitive receptor stays below a
threshold ``T`` (mol N/ha/yr) would need no permit. Every such contribution is small on its
own, but they all still deposit. This module answers, per threshold and calculation range:

* which sources (farms) stay below ``T`` -- :func:`max_contribution` gives, exactly and fast,
  every source's largest deposition on any receptor;
* what all sub-threshold sources deposit together on each receptor, and how many hectares
  that sum pushes over the KDW -- :func:`rko_sweep`, in one deposition pass per range;
* the same for a layer of proposed new projects -- :func:`projects_rko`;
* the pipeline stage :func:`run_rko` (``n2kzones rko``), writing ``rko_sweep.csv``,
  ``rko_by_area.csv``, ``rko_sources.gpkg`` and (with projects) ``rko_projects.csv``.

Units: coordinates in m (EPSG:28992), emissions in kg NH3/yr, deposition in mol N/ha/yr,
areas in hectares of sensitive habitat (``habitat_ha`` of the receptors).

Every deposition value here is the one :func:`n2kzones.deposition.deposition_at_points`
gives for the same pair (same lookup table, same near-source disc average, same wind-rose
formula, same cut-off rule), so the RKO numbers and the deposition stage agree exactly.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from n2kzones.compute.backend import Backend, LocalBackend
from n2kzones.deposition import RadialKernel, WindRose, deposition_at_points
from n2kzones.deposition.kernel import HECTARE_DISC_RADIUS_M, KernelLookup
from n2kzones.errors import InputError
from n2kzones.overload import weighted_quantile

if TYPE_CHECKING:
    from n2kzones.config import Config

log = logging.getLogger(__name__)

#: Nearest receptors evaluated first per source (their best value is the lower bound).
K_NEAREST = 16
#: Sources per chunk of the ball queries (bounds the candidate-pair arrays in memory).
BALL_CHUNK = 2048
#: Relative safety margin on the per-step upper bound of the lookup table (float rounding).
BOUND_MARGIN = 1e-9
#: A sub-threshold sum above this (mol N/ha/yr) is reported as ``ha_sum_above_1mol``.
SUM_REPORT_MOL_HA = 1.0
#: Label of "no calculation range" (every pair counts).
NO_RANGE = "none"
#: Area label of sources with no receptor within the calculation range.
NO_AREA = "(none)"


# -- per-source maximum ------------------------------------------------------------------------
@dataclass(frozen=True)
class _PairModel:
    """The engines' per-pair kernel value (per kg NH3/yr) and its non-increasing bound."""

    lookup: KernelLookup
    s_near_m2: float
    k_near: float
    c2_m2: float
    rose: WindRose | None
    bound: np.ndarray  # non-increasing upper bound per lookup step (suffix max x max weight)
    step_end_s: np.ndarray  # squared distance (m^2) at the end of each lookup step

    @classmethod
    def build(
        cls,
        kernel: RadialKernel,
        max_distance_m: float,
        wind_rose: WindRose | None,
        cutoff_m: float | None,
        receptor_radius_m: float,
    ) -> _PairModel:
        lu = kernel.lookup(max_distance_m)
        rose = None if wind_rose is None or wind_rose.is_isotropic else wind_rose
        w_max = 1.0 if rose is None else float(rose.weights.max())
        v = lu.value32.astype(np.float64)
        end = v + lu.step32.astype(np.float64)
        ub = np.maximum(v, end) * (1.0 + BOUND_MARGIN) * w_max
        suffix_max = np.maximum.accumulate(ub[::-1])[::-1]
        n = lu.value32.size
        steps = 1 << lu.mantissa_bits
        i = np.arange(1, n + 1)
        step_end = np.ldexp(1.0 + (i % steps) / steps, lu.exp_min + i // steps)
        return cls(
            lookup=lu,
            s_near_m2=receptor_radius_m * receptor_radius_m,
            k_near=kernel.disc_average(receptor_radius_m),
            c2_m2=math.inf if cutoff_m is None else float(cutoff_m) ** 2,
            rose=rose,
            bound=suffix_max,
            step_end_s=step_end,
        )

    def values(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Per-kg pair value exactly as the engines compute it (mol N/ha/yr per kg NH3/yr)."""
        s = dx * dx + dy * dy
        k = self.lookup.evaluate_s(s)
        if self.rose is not None:
            k = k * self.rose.weight_dxdy(dx, dy)
        k = np.where(s < self.s_near_m2, self.k_near, k)
        return np.where(s > self.c2_m2, 0.0, k)

    def radius_for(self, lower_bound: np.ndarray) -> np.ndarray:
        """Distance (m) beyond which no pair can reach ``lower_bound`` (per kg); inf = all."""
        lb = np.asarray(lower_bound, dtype=np.float64)
        # bound is non-increasing: steps 0..i*-1 have bound >= lb
        neg = -self.bound  # non-decreasing
        n_ok = np.searchsorted(neg, -lb, side="right")  # count of steps with bound >= lb
        s_star = np.where(n_ok > 0, self.step_end_s[np.maximum(n_ok - 1, 0)], 0.0)
        s_star = np.where(n_ok >= self.bound.size, np.inf, s_star)
        s_star = np.where(self.k_near >= lb, np.maximum(s_star, self.s_near_m2), s_star)
        s_star = np.minimum(s_star, self.c2_m2)
        return np.sqrt(s_star) * (1.0 + 1e-9) + 1e-6


def _as_1d(name: str, a: object) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
    if arr.ndim != 1 or not np.isfinite(arr).all():
        raise InputError(f"{name} must be a 1-D array of finite numbers")
    return arr


def max_contribution(
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    receptor_x_m: np.ndarray,
    receptor_y_m: np.ndarray,
    kernel: RadialKernel,
    *,
    wind_rose: WindRose | None = None,
    cutoff_m: float | None = None,
    receptor_radius_m: float | None = None,
    workers: int = -1,
    lookup_range_m: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every source's largest deposition on any receptor, exactly, without a full grid.

    Parameters
    ----------
    source_x_m, source_y_m
        Source coordinates in m (EPSG:28992), shape ``(n_sources,)``.
    emission_kg_nh3
        Emission per source in kg NH3/yr, >= 0.
    receptor_x_m, receptor_y_m
        Receptor coordinates in m, shape ``(n_receptors,)``.
    kernel
        Radial kernel (mol N/ha/yr per kg NH3/yr).
    wind_rose
        Direction weights (default isotropic).
    cutoff_m
        Calculation range in m: receptors farther away get nothing; a source with no
        receptor within it has maximum 0 and receptor index -1.
    receptor_radius_m
        Near-source disc radius as in :func:`~n2kzones.deposition.deposition_at_points`
        (default: 1 ha disc, 56.4 m).
    workers
        Threads of the k-d tree queries (-1: all).
    lookup_range_m
        Range (m) of the lookup table, as in
        :func:`~n2kzones.deposition.deposition_at_points`; a run split into chunks of
        sources passes the whole run's value to get bitwise the same maxima.

    Returns
    -------
    (max_mol_ha, receptor_index)
        ``max_mol_ha``: the largest deposition in mol N/ha/yr of each source on any receptor,
        equal to ``deposition_at_points`` of that source alone, maximised over all receptors;
        ``receptor_index``: the receptor where it occurs (ties: the lowest index; -1 when no
        receptor lies within the cut-off).

    Notes
    -----
    **Exactness.** Pair values are computed with the engines' own lookup table
    (:meth:`KernelLookup.evaluate_s`, built over the bounding box of all sources and
    receptors as ``deposition_at_points`` does), near-source disc average, wind-rose weight
    and cut-off. The maximum is taken per kg (``k_max``) and multiplied by the emission;
    since multiplying by ``e >= 0`` is monotone under rounding,
    ``e * max_j k_j == max_j (e * k_j)`` bitwise.

    **Pruning proof.** Let ``B(s)`` be an upper bound on the per-kg value of any pair at
    squared distance ``s``: on lookup step ``i`` the engines return
    ``value32[i] + f * step32[i]`` with ``0 <= f < 1``, i.e. at most
    ``u_i = max(value32[i], value32[i] + step32[i])`` (times ``1 + 1e-9`` for rounding); with a
    wind rose at most ``u_i * w_max`` (the interpolated weight never exceeds the largest
    sector weight); within the disc radius the value is ``k_near`` (no wind weight). Taking
    the suffix maximum ``U_i = max_{j >= i} u_j w_max`` makes
    ``B(s) = max(k_near [s < s_near], U_{step(s)})`` non-increasing in ``s`` even where the
    kernel itself rises (the near field of elevated sources, below ``MONOTONE_FROM_M``):
    receptors in that non-monotone part are never pruned unless the whole rest of the
    table is below the lower bound. Let ``LB`` be the best exact value among the
    ``K_NEAREST`` nearest receptors (within the cut-off). Every receptor with ``B(s) < LB``
    has a value ``< LB <= max``, so it can neither be the maximum nor tie with it. Since
    ``B`` is non-increasing, ``{s : B(s) >= LB}`` is ``s <= S*`` (the end of the last step
    with ``U_i >= LB``, or ``s_near`` if ``k_near >= LB``); only receptors within
    ``sqrt(S*)`` (and within the cut-off) are evaluated. If the ``K``-th nearest receptor
    lies beyond that radius the ``K`` nearest already hold every candidate; otherwise a
    k-d tree ball query returns them. Any receptor attaining the maximum is a candidate,
    so the tie-break (lowest index) matches a brute-force ``argmax`` too.
    """
    xs, ys = _as_1d("source_x_m", source_x_m), _as_1d("source_y_m", source_y_m)
    es = _as_1d("emission_kg_nh3", emission_kg_nh3)
    rx, ry = _as_1d("receptor_x_m", receptor_x_m), _as_1d("receptor_y_m", receptor_y_m)
    if not (xs.size == ys.size == es.size) or rx.size != ry.size:
        raise InputError("source and receptor coordinate/emission arrays must match in length")
    if (es < 0).any():
        raise InputError("emission_kg_nh3 must be >= 0 kg NH3/yr")
    if cutoff_m is not None and not (math.isfinite(cutoff_m) and cutoff_m > 0):
        raise InputError(f"cutoff_m must be None or a finite number > 0 m, got {cutoff_m!r}")
    n = xs.size
    kmax = np.zeros(n)
    best = np.full(n, -1, dtype=np.int64)
    if n == 0 or rx.size == 0:
        return kmax, best
    radius = HECTARE_DISC_RADIUS_M if receptor_radius_m is None else float(receptor_radius_m)
    x_lo, x_hi = min(rx.min(), xs.min()), max(rx.max(), xs.max())
    y_lo, y_hi = min(ry.min(), ys.min()), max(ry.max(), ys.max())
    max_d = float(math.hypot(x_hi - x_lo, y_hi - y_lo)) if lookup_range_m is None else float(lookup_range_m)
    if cutoff_m is not None:
        max_d = min(max_d, float(cutoff_m))
    model = _PairModel.build(kernel, max_d, wind_rose, cutoff_m, radius)
    t0 = time.perf_counter()
    tree = cKDTree(np.column_stack([rx, ry]))
    k = min(K_NEAREST, rx.size)
    dist, idx = tree.query(np.column_stack([xs, ys]), k=k, workers=workers)
    dist = dist.reshape(n, k)
    idx = idx.reshape(n, k)
    vals = model.values(rx[idx] - xs[:, None], ry[idx] - ys[:, None])
    # per-row max with lowest-index tie-break
    kmax = vals.max(axis=1)
    masked = np.where(vals == kmax[:, None], idx, np.iinfo(np.int64).max)
    best = masked.min(axis=1)
    none = kmax <= 0.0  # nothing within the cut-off among the nearest (or a zero weight)
    r_cand = model.radius_for(np.where(none, 0.0, kmax))
    if cutoff_m is not None:
        out_of_range = dist[:, 0] > float(cutoff_m) * (1.0 + 1e-12) + 1e-6
    else:
        out_of_range = np.zeros(n, dtype=bool)
    need = (~out_of_range) & (k < rx.size) & (r_cand >= dist[:, -1] * (1.0 - 1e-12) - 1e-6)
    todo = np.flatnonzero(need)
    n_pairs = 0
    for start in range(0, todo.size, BALL_CHUNK):
        part = todo[start : start + BALL_CHUNK]
        lists = tree.query_ball_point(
            np.column_stack([xs[part], ys[part]]), r=r_cand[part], workers=workers
        )
        counts = np.fromiter((len(c) for c in lists), dtype=np.int64, count=part.size)
        cand = np.fromiter((j for c in lists for j in c), dtype=np.int64, count=int(counts.sum()))
        owner = np.repeat(part, counts)
        n_pairs += cand.size
        v = model.values(rx[cand] - xs[owner], ry[cand] - ys[owner])
        seg = np.repeat(np.arange(part.size), counts)
        m = np.full(part.size, -np.inf)
        np.maximum.at(m, seg, v)
        tie = np.full(part.size, np.iinfo(np.int64).max)
        hit = v == m[seg]
        np.minimum.at(tie, seg[hit], cand[hit])
        has = counts > 0
        kmax[part[has]] = m[has]
        best[part[has]] = tie[has]
    kmax[out_of_range] = 0.0
    if cutoff_m is not None:
        best[kmax <= 0.0] = -1
    log.debug(
        "max contribution: %d sources, %d receptors, %d sources needed a ball query "
        "(%d pairs) in %.2f s",
        n,
        rx.size,
        todo.size,
        n_pairs,
        time.perf_counter() - t0,
    )
    return es * kmax, best


def brute_force_max(
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    receptor_x_m: np.ndarray,
    receptor_y_m: np.ndarray,
    kernel: RadialKernel,
    *,
    wind_rose: WindRose | None = None,
    cutoff_m: float | None = None,
    receptor_radius_m: float | None = None,
    parallel: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Reference for :func:`max_contribution`: ``deposition_at_points`` per source, all receptors.

    Slow (one full pass over the receptors per source; serial by default, as starting the
    thread pool per source costs more than the pass); for tests and benchmarks. Returns
    the same ``(max_mol_ha, receptor_index)`` (index -1 where the maximum is 0 with a cut-off).
    """
    xs = np.asarray(source_x_m, float)
    ys = np.asarray(source_y_m, float)
    es = np.asarray(emission_kg_nh3, float)
    out = np.zeros(xs.size)
    best = np.full(xs.size, -1, dtype=np.int64)
    for i in range(xs.size):
        dep = deposition_at_points(
            xs[i : i + 1],
            ys[i : i + 1],
            es[i : i + 1],
            receptor_x_m,
            receptor_y_m,
            kernel,
            wind_rose=wind_rose,
            cutoff_m=cutoff_m,
            receptor_radius_m=receptor_radius_m,
            parallel=parallel,
        )
        j = int(np.argmax(dep))
        out[i] = dep[j]
        best[i] = -1 if (cutoff_m is not None and dep[j] <= 0) else j
    return out, best


# -- sweep -------------------------------------------------------------------------------------
def range_labels(ranges_m: Sequence[float | None]) -> list[tuple[str, float | None]]:
    """``[("none", None), ("25000", 25000.0), ...]``: always "none", then the distinct ranges
    (calculation ranges in m)."""
    out: list[tuple[str, float | None]] = [(NO_RANGE, None)]
    for r in sorted({float(r) for r in ranges_m if r is not None}):
        out.append((f"{r:g}", r))
    return out


def threshold_buckets(max_mol_ha: np.ndarray, thresholds_mol_ha: np.ndarray) -> np.ndarray:
    """Bucket per source: the number of thresholds ``<= max``; below ``T_j`` iff bucket <= j
    (thresholds and maxima in mol N/ha/yr)."""
    return np.searchsorted(np.asarray(thresholds_mol_ha, float), max_mol_ha, side="right").astype(
        np.int64
    )


def _sorted_thresholds(thresholds_mol_ha: Sequence[float]) -> np.ndarray:
    t = np.asarray(sorted({float(v) for v in thresholds_mol_ha}), dtype=np.float64)
    if t.size == 0 or (t <= 0).any() or not np.isfinite(t).all():
        raise InputError("thresholds must be finite numbers > 0 mol N/ha/yr")
    return t


def _receptor_stats(
    sub: np.ndarray,
    ha: np.ndarray,
    total: np.ndarray | None,
    kdw: np.ndarray | None,
    near_margin: float,
    *,
    adds: bool = False,
) -> dict[str, float]:
    """Summary of a summed deposition ``sub`` (mol N/ha/yr) over receptors with ``ha`` ha.

    ``adds=False``: ``sub`` is already inside ``total`` (existing sources): tipped when
    ``total > KDW >= total - sub``. ``adds=True``: ``sub`` comes on top (new projects):
    tipped when ``total <= KDW < total + sub``.
    """
    if sub.size == 0 or ha.sum() <= 0:
        row = dict.fromkeys(("max_sum_mol_ha", "mean_sum_mol_ha", "p95_sum_mol_ha"), np.nan)
        row.update(ha_sum_above_1mol=0.0, ha_tipped_overload=0.0, ha_tipped_near_overload=0.0)
        return row
    row = {
        "max_sum_mol_ha": float(sub.max()),
        "mean_sum_mol_ha": float(np.average(sub, weights=ha)),
        "p95_sum_mol_ha": weighted_quantile(sub, ha, 0.95),
        "ha_sum_above_1mol": float(ha[sub > SUM_REPORT_MOL_HA].sum()),
    }
    if total is not None and kdw is not None:
        for name, limit in (("overload", kdw), ("near_overload", kdw - near_margin)):
            if adds:
                tipped = (total <= limit) & (total + sub > limit)
            else:
                tipped = (total > limit) & (total - sub <= limit)
            row[f"ha_tipped_{name}"] = float(ha[tipped].sum())
    return row


@dataclass
class SweepResult:
    """Output of :func:`rko_sweep`.

    Attributes
    ----------
    national
        One row per range x threshold.
    by_area
        One row per range x threshold x area (``site_code``; sources without a receptor in
        range under ``"(none)"``).
    sources
        One row per source: ``max_<range>_mol_ha``, ``receptor_<range>``, ``site_code_<range>``.
    sums
        ``{range label: array (n_thresholds, n_receptors)}`` summed sub-threshold deposition
        in mol N/ha/yr, receptors in the order given.
    """

    national: pd.DataFrame
    by_area: pd.DataFrame
    sources: pd.DataFrame
    sums: dict[str, np.ndarray]


def rko_sweep(
    sources: pd.DataFrame,
    receptors: pd.DataFrame,
    kernel: RadialKernel,
    *,
    thresholds_mol_ha: Sequence[float],
    ranges_m: Sequence[float | None] = (None,),
    wind_rose: WindRose | None = None,
    receptor_radius_m: float | None = None,
    near_margin_mol_ha: float = 70.0,
    id_column: str = "farm_id",
    engine: str = "numba",
    adds: bool = False,
    backend: Backend | None = None,
) -> SweepResult:
    """Threshold sweep: sources below each threshold and what they deposit together.

    Parameters
    ----------
    sources
        Point (Geo)DataFrame with ``geometry`` (or ``x``/``y`` columns in m), ``id_column``
        and ``emission_kg_nh3`` (kg NH3/yr). Sorted by ``id_column`` internally, so the
        result does not depend on the row order.
    receptors
        Receptor (Geo)DataFrame with ``receptor_id``, ``site_code``, ``habitat_ha`` and
        optionally ``kdw_mol_ha`` and ``total_mol_ha`` (for the tipped hectares).
    kernel, wind_rose, receptor_radius_m
        As in :func:`~n2kzones.deposition.deposition_at_points`.
    thresholds_mol_ha
        Thresholds in mol N/ha/yr (sorted and de-duplicated here).
    ranges_m
        Calculation ranges in m; "none" (no range) is always included.
    near_margin_mol_ha
        Near overload: total above KDW minus this margin.
    id_column
        Source id column.
    engine
        Deposition engine (``"numba"`` or ``"numpy"``).
    adds
        ``False``: the sources are already in ``total_mol_ha`` (tipped = the sum alone makes
        the difference between overload and none); ``True``: new projects on top of it.
    backend
        Where the maxima and the grouped deposition are computed
        (:mod:`n2kzones.compute`; default this process). The result does not depend on it.

    Returns
    -------
    SweepResult
        Rows in the order of the receptors' and sources' ids.

    Notes
    -----
    A source counts as below ``T`` when its maximum contribution (:func:`max_contribution`,
    with the range as cut-off) is ``< T``. Per range the summed deposition of all
    sub-threshold sources is computed in one pass: each source is put in bucket ``b`` = the
    number of thresholds ``<= max``, ``deposition_at_points`` splits by bucket, and the sum
    below ``T_j`` is the cumulative sum of buckets ``0..j``. A source's area is the
    ``site_code`` of its maximum-contribution receptor.
    """
    t = _sorted_thresholds(thresholds_mol_ha)
    src = _sources_frame(sources, id_column)
    rec = receptors.sort_values("receptor_id", kind="stable").reset_index(drop=True)
    sx, sy, e = src["x"].to_numpy(), src["y"].to_numpy(), src["emission_kg_nh3"].to_numpy(float)
    rx, ry = _xy(rec)
    ha = rec["habitat_ha"].to_numpy(float)
    site = rec["site_code"].astype(str).to_numpy()
    total = rec["total_mol_ha"].to_numpy(float) if "total_mol_ha" in rec else None
    kdw = rec["kdw_mol_ha"].to_numpy(float) if "kdw_mol_ha" in rec else None
    area_codes = np.unique(site)
    area_index = {c: np.flatnonzero(site == c) for c in area_codes}
    nat_rows: list[dict] = []
    area_rows: list[dict] = []
    sums: dict[str, np.ndarray] = {}
    out_src = src[[id_column, "emission_kg_nh3"]].copy()
    e_tot = float(e.sum())
    compute = backend if backend is not None else LocalBackend()
    for label, cutoff in range_labels(ranges_m):
        t0 = time.perf_counter()
        mx, ridx = compute.max_contribution(
            sx,
            sy,
            e,
            rx,
            ry,
            kernel,
            wind_rose=wind_rose,
            cutoff_m=cutoff,
            receptor_radius_m=receptor_radius_m,
        )
        src_area = np.where(ridx >= 0, site[np.maximum(ridx, 0)], NO_AREA)
        out_src[f"max_{label}_mol_ha"] = mx
        out_src[f"receptor_{label}"] = np.where(
            ridx >= 0, rec["receptor_id"].to_numpy()[np.maximum(ridx, 0)], None
        )
        out_src[f"site_code_{label}"] = src_area
        bucket = threshold_buckets(mx, t)
        dep = compute.deposition_at_points(
            sx,
            sy,
            e,
            rx,
            ry,
            kernel,
            wind_rose=wind_rose,
            cutoff_m=cutoff,
            groups=bucket,
            n_groups=t.size + 1,
            receptor_radius_m=receptor_radius_m,
            engine=engine,  # type: ignore[arg-type]
        )
        sub_all = np.cumsum(dep[:-1], axis=0)  # sub_all[j]: sources with max < t[j]
        sums[label] = sub_all
        log.info(
            "RKO range %s: maxima and one grouped pass in %.1f s", label, time.perf_counter() - t0
        )
        for j, thr in enumerate(t):
            below = bucket <= j
            base = {
                "range": label,
                "range_m": np.nan if cutoff is None else cutoff,
                "threshold_mol_ha": float(thr),
            }
            nat_rows.append(
                {
                    **base,
                    **_source_counts(below, e, e.size, e_tot),
                    "sensitive_ha": float(ha.sum()),
                    **_receptor_stats(sub_all[j], ha, total, kdw, near_margin_mol_ha, adds=adds),
                }
            )
            for code in [*area_codes, *([NO_AREA] if (src_area == NO_AREA).any() else [])]:
                in_area = src_area == code
                ri = area_index.get(code, np.zeros(0, dtype=np.int64))
                area_rows.append(
                    {
                        **base,
                        "site_code": code,
                        **_source_counts(
                            below & in_area,
                            e * in_area,
                            int(in_area.sum()),
                            float(e[in_area].sum()),
                        ),
                        "sensitive_ha": float(ha[ri].sum()),
                        **_receptor_stats(
                            sub_all[j][ri],
                            ha[ri],
                            None if total is None else total[ri],
                            None if kdw is None else kdw[ri],
                            near_margin_mol_ha,
                            adds=adds,
                        ),
                    }
                )
    return SweepResult(pd.DataFrame(nat_rows), pd.DataFrame(area_rows), out_src, sums)


def _source_counts(below: np.ndarray, e: np.ndarray, n: int, e_tot: float) -> dict[str, float]:
    nb = int(below.sum())
    eb = float(e[below].sum())
    return {
        "n_sources": n,
        "n_sources_below": nb,
        "share_sources_below": nb / n if n else np.nan,
        "emission_kg_nh3": e_tot,
        "emission_below_kg_nh3": eb,
        "share_emission_below": eb / e_tot if e_tot > 0 else np.nan,
    }


def _xy(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    if "geometry" in df and isinstance(df, gpd.GeoDataFrame):
        return df.geometry.x.to_numpy(float), df.geometry.y.to_numpy(float)
    return df["x"].to_numpy(float), df["y"].to_numpy(float)


def _sources_frame(sources: pd.DataFrame, id_column: str) -> pd.DataFrame:
    if id_column not in sources or "emission_kg_nh3" not in sources:
        raise InputError(f"sources need columns {id_column!r} and 'emission_kg_nh3'")
    ids = sources[id_column].astype(str)
    if ids.duplicated().any():
        raise InputError(
            f"sources: {id_column} must be unique (e.g. {ids[ids.duplicated()].iloc[0]!r})"
        )
    x, y = _xy(sources)
    df = pd.DataFrame(
        {
            id_column: ids.to_numpy(),
            "x": x,
            "y": y,
            "emission_kg_nh3": sources["emission_kg_nh3"].to_numpy(float),
        }
    )
    if "source_height_m" in sources:
        df["source_height_m"] = sources["source_height_m"].to_numpy(float)
    return df.sort_values(id_column, kind="stable").reset_index(drop=True)


# -- new projects ------------------------------------------------------------------------------
def projects_rko(
    projects: pd.DataFrame,
    receptors: pd.DataFrame,
    kernel: RadialKernel,
    *,
    thresholds_mol_ha: Sequence[float],
    ranges_m: Sequence[float | None] = (None,),
    wind_rose: WindRose | None = None,
    receptor_radius_m: float | None = None,
    near_margin_mol_ha: float = 70.0,
    id_column: str = "farm_id",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which proposed projects would be permit-free, and what they add up to together.

    Parameters
    ----------
    projects
        Points with ``id_column`` and ``emission_kg_nh3`` (kg NH3/yr), optionally
        ``source_height_m`` (recorded; the one configured kernel is used for all).
    receptors, kernel, thresholds_mol_ha, ranges_m, wind_rose, receptor_radius_m,
    near_margin_mol_ha
        As in :func:`rko_sweep`.

    Returns
    -------
    (per_project, cumulative)
        ``per_project``: id, emission, ``max_<range>_mol_ha``, receptor and area of the
        maximum, ``permit_free_<range>_<T>`` flags. ``cumulative``: one row per range x
        threshold with the number and emission of permit-free projects and the max, mean,
        P95 of their summed deposition (mol N/ha/yr) and the hectares it tips into
        (near) overload on top of ``total_mol_ha``.
    """
    if "source_height_m" in projects and projects["source_height_m"].nunique() > 1:
        log.warning("projects have differing source heights; one kernel is used for all of them")
    res = rko_sweep(
        projects,
        receptors,
        kernel,
        thresholds_mol_ha=thresholds_mol_ha,
        ranges_m=ranges_m,
        wind_rose=wind_rose,
        receptor_radius_m=receptor_radius_m,
        near_margin_mol_ha=near_margin_mol_ha,
        id_column=id_column,
        adds=True,
    )
    per = res.sources.copy()
    for label, _ in range_labels(ranges_m):
        for thr in _sorted_thresholds(thresholds_mol_ha):
            per[f"permit_free_{label}_{thr:g}"] = per[f"max_{label}_mol_ha"] < thr
    cum = res.national.rename(
        columns={
            "n_sources": "n_projects",
            "n_sources_below": "n_permit_free",
            "share_sources_below": "share_permit_free",
            "emission_below_kg_nh3": "emission_permit_free_kg_nh3",
            "share_emission_below": "share_emission_permit_free",
        }
    )
    return per, cum


# -- stage -------------------------------------------------------------------------------------
def run_rko(cfg: Config, *, backend: Backend | None = None) -> dict[str, pd.DataFrame]:
    """Stage ``rko``: the threshold sweep on the configured farms and receptors (thresholds
    and sums in mol N/ha/yr, emissions in kg NH3/yr, areas in ha), on ``backend`` (default:
    the configured engine).

    See :mod:`n2kzones.rko_stage` for the outputs (``rko_sweep.csv``, ``rko_by_area.csv``,
    ``rko_sources.gpkg``, ``rko_projects.csv``) and the manifest.
    """
    from n2kzones.rko_stage import run_rko as _run

    return _run(cfg, backend=backend)


__all__ = [
    "SweepResult",
    "brute_force_max",
    "max_contribution",
    "projects_rko",
    "range_labels",
    "rko_sweep",
    "run_rko",
    "threshold_buckets",
]
