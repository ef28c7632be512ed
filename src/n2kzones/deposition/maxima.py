"""Every source's largest deposition on any receptor, exactly and fast (and its reference).

The RKO analysis asks for each source whether its largest contribution on any
nitrogen-sensitive receptor stays below a threshold. :func:`max_contribution` answers that
without evaluating every pair: a k-nearest lower bound and the kernel table's per-step upper
bound prune the receptors a source cannot beat (see its docstring for the proof).
:func:`brute_force_max` is the reference it is tested against.

Every value is the one :func:`n2kzones.deposition.engine.deposition_at_points` gives for
the same pair (same lookup table, near-source disc average, wind-rose formula and cut-off
rule): the maxima live beside the engines they must agree with.

Units: coordinates in m, emissions in kg NH3/yr, deposition in mol N/ha/yr.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from n2kzones.deposition.engine import deposition_at_points, max_pair_distance_m
from n2kzones.deposition.kernel import HECTARE_DISC_RADIUS_M, KernelLookup, RadialKernel, WindRose
from n2kzones.errors import InputError

log = logging.getLogger(__name__)

#: Nearest receptors evaluated first per source (their best value is the lower bound).
K_NEAREST = 16
#: Sources per chunk of the ball queries (bounds the candidate-pair arrays in memory).
BALL_CHUNK = 2048
#: Pairs per block of sources that take every receptor as candidate (memory: ~100 B per pair).
DENSE_BLOCK_PAIRS = 4_000_000
#: Relative safety margin on the per-step upper bound of the lookup table (float rounding).
BOUND_MARGIN = 1e-9

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
    _pack: tuple | None = field(default=None, repr=False, compare=False)  # Numba arguments, built once

    @classmethod
    def build(
        cls,
        kernel: RadialKernel,
        max_distance_m: float,
        wind_rose: WindRose | None,
        cutoff_m: float | None,
        receptor_radius_m: float,
    ) -> _PairModel:
        return cls.from_lookup(
            kernel.lookup(max_distance_m), kernel.disc_average(receptor_radius_m), wind_rose,
            cutoff_m, receptor_radius_m,
        )

    @classmethod
    def from_lookup(
        cls,
        lu: KernelLookup,
        k_near: float,
        wind_rose: WindRose | None,
        cutoff_m: float | None,
        receptor_radius_m: float,
        *,
        with_bound: bool = True,
    ) -> _PairModel:
        """The pair model of a lookup table and its near-source value (per kg NH3/yr);
        ``with_bound=False``: pair values only (no pruning bound, :meth:`radius_for`)."""
        rose = None if wind_rose is None or wind_rose.is_isotropic else wind_rose
        if not with_bound:
            return cls(
                lookup=lu, s_near_m2=receptor_radius_m * receptor_radius_m, k_near=float(k_near),
                c2_m2=math.inf if cutoff_m is None else float(cutoff_m) ** 2, rose=rose,
                bound=np.zeros(0), step_end_s=np.zeros(0),
            )
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
            k_near=float(k_near),
            c2_m2=math.inf if cutoff_m is None else float(cutoff_m) ** 2,
            rose=rose,
            bound=suffix_max,
            step_end_s=step_end,
        )

    def values(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Per-kg pair value exactly as the engines compute it (mol N/ha/yr per kg NH3/yr):
        the engines' compiled pair rule (:func:`n2kzones.deposition._numba.pair_value`), bitwise
        :meth:`values_reference`."""
        from n2kzones.deposition import _numba

        dx, dy = np.broadcast_arrays(np.asarray(dx, dtype=np.float64), np.asarray(dy, dtype=np.float64))
        out = np.empty(dx.size)
        if dx.size:
            _numba.pair_values(np.ascontiguousarray(dx).ravel(), np.ascontiguousarray(dy).ravel(), self._packed(), out)
        return out.reshape(dx.shape)

    def _packed(self) -> tuple:
        from n2kzones.deposition import _numba

        if self._pack is None:
            near = _numba.pack_near(self.s_near_m2, self.k_near, self.c2_m2)
            object.__setattr__(self, "_pack", (_numba.pack_lookup(self.lookup), near, _numba.pack_rose(self.rose)))
        return self._pack

    def values_reference(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """:meth:`values` in NumPy (the reference the tests compare it with)."""
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
    max_d = max_pair_distance_m(xs, ys, rx, ry) if lookup_range_m is None else float(lookup_range_m)
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
    n_pairs = ball_maxima(
        tree, xs, ys, todo, r_cand, lambda owner, cand: model.values(rx[cand] - xs[owner], ry[cand] - ys[owner]),
        kmax, best, workers=workers,
    )
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


def ball_maxima(
    tree: cKDTree,
    xs: np.ndarray,
    ys: np.ndarray,
    todo: np.ndarray,
    r_cand: np.ndarray,
    values: Callable[[np.ndarray, np.ndarray], np.ndarray],
    kmax: np.ndarray,
    best: np.ndarray,
    *,
    workers: int = -1,
) -> int:
    """Raise ``kmax`` / ``best`` of sources ``todo`` to their maxima over the receptors within
    ``r_cand`` (ties: the lowest receptor index), in chunks of :data:`BALL_CHUNK` sources.

    ``values(owner, cand)`` gives the pair values of sources ``owner`` at receptors ``cand``
    (the same quantity ``kmax`` holds). Returns the number of pairs evaluated.
    """
    n_pairs = 0
    # A source whose ball holds the tree's whole bounding box (far from every receptor, where
    # the bound decays slowly) has every receptor as candidate: taken in dense blocks without
    # the ball query (its lists of millions of indices cost more than the pair values).
    far_x = np.maximum(np.abs(xs[todo] - tree.mins[0]), np.abs(xs[todo] - tree.maxes[0]))
    far_y = np.maximum(np.abs(ys[todo] - tree.mins[1]), np.abs(ys[todo] - tree.maxes[1]))
    dense = r_cand[todo] >= np.hypot(far_x, far_y)
    n_all = tree.n
    per_block = max(1, DENSE_BLOCK_PAIRS // max(n_all, 1))
    blocks = [(todo[dense][i : i + per_block], None) for i in range(0, int(dense.sum()), per_block)]
    blocks += [(todo[~dense][i : i + BALL_CHUNK], True) for i in range(0, int((~dense).sum()), BALL_CHUNK)]
    for part, ball in blocks:
        if ball:
            lists = tree.query_ball_point(np.column_stack([xs[part], ys[part]]), r=r_cand[part], workers=workers)
            counts = np.fromiter((len(c) for c in lists), dtype=np.int64, count=part.size)
            cand = np.fromiter((j for c in lists for j in c), dtype=np.int64, count=int(counts.sum()))
        else:
            counts = np.full(part.size, n_all, dtype=np.int64)
            cand = np.tile(np.arange(n_all, dtype=np.int64), part.size)
        owner = np.repeat(part, counts)
        n_pairs += cand.size
        v = values(owner, cand)
        seg = np.repeat(np.arange(part.size), counts)
        m = np.full(part.size, -np.inf)
        np.maximum.at(m, seg, v)
        tie = np.full(part.size, np.iinfo(np.int64).max)
        hit = v == m[seg]
        np.minimum.at(tie, seg[hit], cand[hit])
        has = counts > 0
        kmax[part[has]] = m[has]
        best[part[has]] = tie[has]
    return n_pairs


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


__all__ = ["brute_force_max", "max_contribution"]
