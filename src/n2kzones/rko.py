"""RKO (rekenkundige ondergrens): what a computational deposition threshold adds up to.

A project whose largest deposition on any nitrogen-sensitive receptor stays below a
threshold ``T`` (mol N/ha/yr) would need no permit. Every such contribution is small on its
own, but they all still deposit. This module answers, per threshold and calculation range:

* which sources (farms) stay below ``T`` -- :func:`~n2kzones.deposition.maxima.max_contribution` gives, exactly and fast,
  every source's largest deposition on any receptor;
* what all sub-threshold sources deposit together on each receptor, and how many hectares
  that sum pushes over the KDW -- :func:`rko_sweep`, in one deposition pass per range;
* the same for a layer of proposed new projects -- :func:`projects_rko`.

The stage ``n2kzones rko`` (:mod:`n2kzones.stages.rko`) writes these as tables.

Units: coordinates in m (EPSG:28992), emissions in kg NH3/yr, deposition in mol N/ha/yr,
areas in hectares of sensitive habitat (``habitat_ha`` of the receptors).

Every deposition value here is the one :func:`n2kzones.deposition.deposition_at_points`
gives for the same pair (same lookup table, same near-source disc average, same wind-rose
formula, same cut-off rule), so the RKO numbers and the deposition stage agree exactly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from n2kzones.errors import InputError
from n2kzones.overload import positions_by_code, weighted_quantile

if TYPE_CHECKING:
    from n2kzones.compute import Backend
    from n2kzones.deposition import RadialKernel, WindRose
    from n2kzones.deposition.classes import KernelTable

log = logging.getLogger(__name__)

#: A sub-threshold sum above this (mol N/ha/yr) is reported as ``ha_sum_above_1mol``.
SUM_REPORT_MOL_HA = 1.0
#: Label of "no calculation range" (every pair counts).
NO_RANGE = "none"
#: Area label of sources with no receptor within the calculation range.
NO_AREA = "(none)"


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


def with_bounding_box(keep: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Positions (ascending) of the sources ``keep`` (boolean per source) and of the sources at
    the extremes of all sources' bounding box (smallest and largest ``sx``, ``sy`` in m).

    A deposition pass or maxima search over these sources has the bounding box of the pass over
    all of them, and the engines derive their kernel lookup range and source cell list from
    that box alone; the sources keep their order. So every sum over the kept sources adds the
    same terms in the same order: bitwise what the pass over all sources gives them.
    """
    keep = np.array(keep, dtype=bool)
    if keep.size:
        keep[[np.argmin(sx), np.argmax(sx), np.argmin(sy), np.argmax(sy)]] = True
    return np.flatnonzero(keep)


def below_top(bucket: np.ndarray, n_thresholds: int, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Sources a grouped pass by :func:`threshold_buckets` needs: those below the largest of
    ``n_thresholds`` thresholds in mol N/ha/yr (bucket < n_thresholds), with the bounding box
    of the source coordinates ``sx``, ``sy`` (m) kept (:func:`with_bounding_box`; the
    extremes' own bucket is not used)."""
    return with_bounding_box(np.asarray(bucket) < n_thresholds, sx, sy)


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
    classes: KernelTable | None = None,
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
    classes
        The class-aware model's kernel table (None: ``kernel`` for every pair); the sources
        then need ``source_height_m`` and the receptors ``landuse``, ``z0_m``, ``nh3_bg_ug_m3``.

    Returns
    -------
    SweepResult
        Rows in the order of the receptors' and sources' ids.

    Notes
    -----
    A source counts as below ``T`` when its maximum contribution (:func:`~n2kzones.deposition.maxima.max_contribution`,
    with the range as cut-off) is ``< T``. Per range the summed deposition of all
    sub-threshold sources is computed in one pass: each source is put in bucket ``b`` = the
    number of thresholds ``<= max``, ``deposition_at_points`` splits by bucket, and the sum
    below ``T_j`` is the cumulative sum of buckets ``0..j``. A source's area is the
    ``site_code`` of its maximum-contribution receptor.
    """
    # the deposition engine (Numba) is imported here, not with the module: the range labels
    # and constants of this module are read by stages that compute no deposition
    from n2kzones.deposition.classes import ReceptorTerms, SourceTerms
    from n2kzones.deposition.distributed import deposition_at_points_on, max_contribution_on

    t = _sorted_thresholds(thresholds_mol_ha)
    src = _sources_frame(sources, id_column)
    rec = receptors.sort_values("receptor_id", kind="stable").reset_index(drop=True)
    sx, sy, e = src["x"].to_numpy(), src["y"].to_numpy(), src["emission_kg_nh3"].to_numpy(float)
    by_class: dict = {}
    if classes is not None:  # class-aware model: the sorted sources' heights, the receptors' classes
        by_class["classes"] = (
            classes,
            SourceTerms.from_heights(classes, src["source_height_m"].to_numpy(float)),
            ReceptorTerms.from_values(classes, rec["landuse"].to_numpy(), rec["z0_m"].to_numpy(float), rec["nh3_bg_ug_m3"].to_numpy(float)),
        )
    rx, ry = _xy(rec)
    ha = rec["habitat_ha"].to_numpy(float)
    site = rec["site_code"].astype(str).to_numpy()
    total = rec["total_mol_ha"].to_numpy(float) if "total_mol_ha" in rec else None
    kdw = rec["kdw_mol_ha"].to_numpy(float) if "kdw_mol_ha" in rec else None
    area_codes = np.unique(site)
    area_index = positions_by_code(site)
    nat_rows: list[dict] = []
    area_rows: list[dict] = []
    sums: dict[str, np.ndarray] = {}
    out_src = src[[id_column, "emission_kg_nh3"]].copy()
    e_tot = float(e.sum())
    for label, cutoff in range_labels(ranges_m):
        t0 = time.perf_counter()
        mx, ridx = max_contribution_on(
            backend,
            sx,
            sy,
            e,
            rx,
            ry,
            kernel,
            wind_rose=wind_rose,
            cutoff_m=cutoff,
            receptor_radius_m=receptor_radius_m,
            **by_class,
        )
        src_area = np.where(ridx >= 0, site[np.maximum(ridx, 0)], NO_AREA)
        out_src[f"max_{label}_mol_ha"] = mx
        out_src[f"receptor_{label}"] = np.where(
            ridx >= 0, rec["receptor_id"].to_numpy()[np.maximum(ridx, 0)], None
        )
        out_src[f"site_code_{label}"] = src_area
        bucket = threshold_buckets(mx, t)
        # sources above every threshold count in no sum: the pass leaves them out (radial model)
        p = np.arange(sx.size) if by_class else below_top(bucket, t.size, sx, sy)
        dep = deposition_at_points_on(
            backend,
            sx[p],
            sy[p],
            e[p],
            rx,
            ry,
            kernel,
            wind_rose=wind_rose,
            cutoff_m=cutoff,
            groups=bucket[p],
            n_groups=t.size + 1,
            receptor_radius_m=receptor_radius_m,
            engine=engine,  # type: ignore[arg-type]
            **by_class,
        )
        sub_all = np.cumsum(dep[:-1], axis=0)  # sub_all[j]: sources with max < t[j]
        sums[label] = sub_all
        log.info(
            "RKO range %s: maxima and one grouped pass in %.1f s", label, time.perf_counter() - t0
        )
        codes = [*area_codes, *([NO_AREA] if (src_area == NO_AREA).any() else [])]
        groups = AreaGroups.of(codes, src_area, area_index, e, ha, total, kdw)
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
            area_rows += groups.rows(base, below, sub_all[j], near_margin_mol_ha, adds=adds)
    return SweepResult(pd.DataFrame(nat_rows), pd.DataFrame(area_rows), out_src, sums)


@dataclass(frozen=True)
class _Area:
    """One area's sources (positions, their emission in kg NH3/yr) and receptors (positions,
    habitat ha, total and KDW in mol N/ha/yr) for the per-area rows."""

    code: str
    sources: np.ndarray
    e: np.ndarray
    e_tot: float
    receptors: np.ndarray
    ha: np.ndarray
    ha_tot: float
    total: np.ndarray | None
    kdw: np.ndarray | None


@dataclass(frozen=True)
class AreaGroups:
    """The sources and receptors of each area, gathered once for the rows of every threshold
    (:func:`rko_sweep`, :func:`n2kzones.thresholds.threshold_rules`).

    Each area keeps its sources' and receptors' positions in ascending order, so every sum and
    statistic of a row runs over the same values in the same order as with a boolean mask over
    all rows (bitwise the same figures), without a pass over all sources per area and threshold.
    """

    areas: tuple[_Area, ...]

    @classmethod
    def of(
        cls,
        codes: Sequence[str],
        src_area: np.ndarray,
        receptors_by_code: dict[str, np.ndarray],
        e: np.ndarray,
        ha: np.ndarray,
        total: np.ndarray | None,
        kdw: np.ndarray | None,
    ) -> AreaGroups:
        """Areas ``codes`` (rows in this order); ``src_area`` the area per source,
        ``receptors_by_code`` the receptor positions per area (missing: none), ``e`` the
        emission per source (kg NH3/yr), ``ha``, ``total``, ``kdw`` per receptor."""
        by_source = positions_by_code(src_area)
        none = np.zeros(0, dtype=np.int64)
        out = []
        for code in codes:
            si = by_source.get(str(code), none)
            ri = receptors_by_code.get(str(code), none)
            out.append(
                _Area(
                    code=code, sources=si, e=e[si], e_tot=float(e[si].sum()), receptors=ri,
                    ha=ha[ri], ha_tot=float(ha[ri].sum()),
                    total=None if total is None else total[ri],
                    kdw=None if kdw is None else kdw[ri],
                )
            )
        return cls(tuple(out))

    def rows(
        self,
        head: dict,
        below: np.ndarray,
        sub: np.ndarray,
        near_margin_mol_ha: float,
        *,
        adds: bool = False,
    ) -> list[dict]:
        """One row per area: ``head``, the area's sources below (``below`` per source) and the
        statistics of the summed deposition ``sub`` (mol N/ha/yr per receptor) on its receptors,
        as :func:`_source_counts` and :func:`_receptor_stats` give them."""
        rows = []
        for a in self.areas:
            b = below[a.sources]
            rows.append(
                {
                    **head,
                    "site_code": a.code,
                    **_counts(int(b.sum()), float(a.e[b].sum()), a.sources.size, a.e_tot),
                    "sensitive_ha": a.ha_tot,
                    **_receptor_stats(
                        sub[a.receptors], a.ha, a.total, a.kdw, near_margin_mol_ha, adds=adds
                    ),
                }
            )
        return rows


def _source_counts(below: np.ndarray, e: np.ndarray, n: int, e_tot: float) -> dict[str, float]:
    return _counts(int(below.sum()), float(e[below].sum()), n, e_tot)


def _counts(nb: int, eb: float, n: int, e_tot: float) -> dict[str, float]:
    """The source columns of a row: ``nb`` of ``n`` sources below, ``eb`` of ``e_tot`` kg
    NH3/yr theirs."""
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
    classes: KernelTable | None = None,
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
    if classes is None and "source_height_m" in projects and projects["source_height_m"].nunique() > 1:
        log.warning("projects have differing source heights; one kernel is used for all of them ([deposition] kernel = 'ops_classes' uses them)")
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
        classes=classes,
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


__all__ = [
    "AreaGroups",
    "SweepResult",
    "below_top",
    "projects_rko",
    "range_labels",
    "rko_sweep",
    "threshold_buckets",
    "with_bounding_box",
]
