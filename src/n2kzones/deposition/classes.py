"""Class-aware deposition: kernels per source height and receptor land use, z0 and NH3 background.

OPS-LT says deposition near a source depends on the source height, the receptor's land use
(DEPAC canopy) and roughness, and the NH3 background (compensation point). The project's own
OPS-LT campaign (``tools/ops/``; tables in ``deposition/data/ops/``, provenance there) ran the
full grid of

- source height 1, 2, 2.5, 3, 4, 5, 6, 7.5, 10, 13, 15 m,
- receptor land use: the nine OPS/DEPAC classes,
- receptor z0 0.03, 0.1, 0.25, 0.5, 1, 2 m,
- NH3 background 2, 4, 8, 15, 25 ug/m3,

at a landscape z0 of 0.1 m, 36 directions x 104 distances (10 m to 100 km). A
:class:`KernelTable` holds one :class:`~n2kzones.deposition.kernel.RadialKernel` per node.

**Interpolation.** A source of height ``h`` between nodes ``h0 < h < h1`` counts as two
sources at the nodes with emission shares ``1 - t`` and ``t``, ``t`` linear in ``ln h``
(deposition is linear in the emission, so this is exact bookkeeping). A receptor between z0
and background nodes takes the bilinear combination (in ``ln z0``, ``ln bg``) of its four
corner kernels: its **blend**, one lookup table per height node whose entries are the
corner tables' entries weighted and summed (corner order fixed), and whose near-source
value is the same combination of the corners' disc averages. Receptors with the same land
use, corners and weights (e.g. all receptors in one cell of a 1 km NH3 grid on one habitat)
share one blend. The engine then evaluates every pair with ONE table lookup, as a radial
kernel does (:func:`~n2kzones.deposition.engine.deposition_by_table`: a table row per
receptor), so the class-aware sum costs per source-height term what the radial sum costs:

    deposition(r) = sum_nodes sum_sources (e * share) * B_node,r(d),
    B_node,r = sum_corners w_corner(r) * K_node,landuse(r),corner   (per table entry).

Values outside the node range are clamped to the nearest node (documented in the outputs'
provenance). ``tools/ops/separability.py`` and ``tests/test_deposition_classes.py`` measure
the interpolation error against OPS runs that were held out of the table.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from n2kzones.deposition.kernel import KernelLookup, LookupStack, RadialKernel
from n2kzones.errors import ConfigError, InputError

_DATA = "n2kzones.deposition"
#: The OPS/DEPAC land-use classes (OPS class number -> name used here and in the tables).
LANDUSES: dict[int, str] = {
    1: "grass", 2: "arable", 3: "permanent_crops", 4: "coniferous_forest", 5: "deciduous_forest",
    6: "water", 7: "urban", 8: "heath_other_nature", 9: "bare_desert",
}


@functools.lru_cache(maxsize=4)
def _ops_table(landscape_z0_m: float) -> KernelTable:
    return KernelTable._read_ops(landscape_z0_m)


def node_weights(values: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bracketing node indices and the upper node's weight, linear in ``ln(value)``.

    Returns ``(i0, i1, t)``: ``value ~ (1 - t) * node[i0] + t * node[i1]`` in log space,
    clamped to the node range (``t`` in ``[0, 1]``; ``i0 == i1`` at and beyond the ends).
    """
    v = np.asarray(values, dtype=np.float64)
    ln_nodes = np.log(np.asarray(nodes, dtype=np.float64))
    lv = np.log(np.clip(v, nodes[0], nodes[-1]))
    i1 = np.clip(np.searchsorted(ln_nodes, lv, side="left"), 0, len(nodes) - 1)
    i0 = np.maximum(i1 - 1, 0)
    exact = ln_nodes[i1] == lv
    i0 = np.where(exact, i1, i0)
    span = ln_nodes[i1] - ln_nodes[i0]
    t = np.divide(lv - ln_nodes[i0], span, out=np.zeros_like(lv), where=span > 0)
    return i0, i1, t


def read_ops_profiles() -> pd.DataFrame:
    """The packaged OPS-LT campaign profiles, one row per case and distance, with the case's
    settings joined from ``ops_nh3_cases.csv.gz`` (the profiles file holds only ``case_id``,
    ``distance_m`` and the direction-averaged total, dry and wet deposition in mol N/ha/yr
    for 1000 kg NH3/yr; ``docs/ops-harness.md``)."""
    root = resources.files(_DATA) / "data" / "ops"
    with resources.as_file(root / "ops_nh3_profiles.csv.gz") as p:
        prof = pd.read_csv(p, dtype={"case_id": str})
    with resources.as_file(root / "ops_nh3_cases.csv.gz") as p:
        cases = pd.read_csv(p, dtype={"case_id": str})
    case_cols = [c for c in OPS_CASE_COLUMNS if c in cases.columns]
    out = prof.merge(cases[["case_id", *case_cols]], on="case_id", how="left", validate="many_to_one")
    return out[["case_id", *case_cols[:-1], *prof.columns[1:], case_cols[-1]]]


#: The case settings joined onto every profile row (``held_out`` last, as it was written).
OPS_CASE_COLUMNS = (
    "case_tag", "source_height_m", "receptor_landuse", "landuse_class", "z0_m", "receptor_z0_m",
    "z0_mode", "nh3_bg_ug_per_m3", "so2_bg_ug_per_m3", "nox_bg_ug_per_m3", "n_directions",
    "emission_kg_nh3_per_yr", "diurnal_code", "held_out",
)


@dataclass(frozen=True, eq=False)
class KernelTable:
    """Radial kernels on the grid source height x land use x receptor z0 x NH3 background.

    Attributes
    ----------
    heights_m, receptor_z0_m, nh3_bg_ug_m3
        Node values (m, m, ug/m3), increasing.
    landuses
        Land-use class names (see :data:`LANDUSES`).
    kernels
        ``(i_height, i_landuse, i_z0, i_bg) -> RadialKernel`` (mol N/ha/yr per kg NH3/yr).
    provenance
        Where the table comes from (OPS version, settings, campaign).
    """

    heights_m: np.ndarray
    landuses: tuple[str, ...]
    receptor_z0_m: np.ndarray
    nh3_bg_ug_m3: np.ndarray
    kernels: dict[tuple[int, int, int, int], RadialKernel]
    provenance: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_ops(cls, landscape_z0_m: float = 0.1) -> KernelTable:
        """The packaged OPS-LT campaign table (training runs only) at ``landscape_z0_m``
        (read once per process)."""
        return _ops_table(float(landscape_z0_m))

    @classmethod
    def _read_ops(cls, landscape_z0_m: float) -> KernelTable:
        root = resources.files(_DATA) / "data" / "ops"
        prof = read_ops_profiles()
        prov = json.loads((root / "provenance.json").read_text())
        sel = prof[(prof["z0_m"] == landscape_z0_m) & (~prof["held_out"].astype(bool))]
        # a combination run in several campaign blocks: the runs are identical; keep the first
        first = sel.drop_duplicates(["source_height_m", "receptor_landuse", "receptor_z0_m", "nh3_bg_ug_per_m3"])["case_id"]
        sel = sel[sel["case_id"].isin(set(first))]
        if sel.empty:
            raise ConfigError(f"the OPS table has no runs at a landscape z0 of {landscape_z0_m} m (available: 0.1)")
        heights = np.array(sorted(sel["source_height_m"].unique()), float)
        lus = tuple(sorted(sel["receptor_landuse"].unique(), key=lambda n: [k for k, v in LANDUSES.items() if v == n][0]))
        z0s = np.array(sorted(sel["receptor_z0_m"].unique()), float)
        bgs = np.array(sorted(sel["nh3_bg_ug_per_m3"].unique()), float)
        kernels: dict[tuple[int, int, int, int], RadialKernel] = {}
        for (h, lu, z0, bg), g in sel.groupby(["source_height_m", "receptor_landuse", "receptor_z0_m", "nh3_bg_ug_per_m3"]):
            g = g.sort_values("distance_m")
            per_kg = g["deposition_mol_n_per_ha_per_yr"].to_numpy(float) / g["emission_kg_nh3_per_yr"].to_numpy(float)
            key = (int(np.searchsorted(heights, h)), lus.index(lu), int(np.searchsorted(z0s, z0)), int(np.searchsorted(bgs, bg)))
            kernels[key] = RadialKernel(
                g["distance_m"].to_numpy(float), per_kg, monotone_from_m=1e9,
                provenance={"source": "OPS-LT campaign", "source_height_m": h, "receptor_landuse": lu,
                            "receptor_z0_m": z0, "nh3_bg_ug_m3": bg, "landscape_z0_m": landscape_z0_m},
            )
        want = len(heights) * len(lus) * len(z0s) * len(bgs)
        if len(kernels) != want:
            raise InputError(f"the OPS table is incomplete: {len(kernels)} of {want} kernels")
        return cls(heights, lus, z0s, bgs, kernels, {
            "model": prov.get("model_version_reported"), "source_commit": prov.get("source_commit"),
            "meteo_file": prov.get("meteo_file"), "landscape_z0_m": landscape_z0_m,
            "nodes": {"source_height_m": heights.tolist(), "landuse": list(lus),
                      "receptor_z0_m": z0s.tolist(), "nh3_bg_ug_m3": bgs.tolist()},
            "interpolation": "emission split between height nodes, bilinear in ln z0 and ln bg between receptor nodes; clamped at the ends",
        })

    def landuse_index(self, names: np.ndarray) -> np.ndarray:
        """Index of each land-use name; an unknown name is an error naming it."""
        names = np.asarray(names, dtype=object)
        lookup = {n: i for i, n in enumerate(self.landuses)}
        bad = sorted({str(n) for n in names if n not in lookup})
        if bad:
            raise InputError(f"unknown receptor land use {bad}; allowed: {', '.join(self.landuses)}")
        return np.array([lookup[n] for n in names], dtype=np.int64)

    def envelope(self, keys: Any = None) -> RadialKernel:
        """The largest of the kernels ``keys`` (default: all) at every table distance (an
        upper bound for pruning)."""
        ks = list(self.kernels.values()) if keys is None else [self.kernels[k] for k in keys]
        d = ks[0].distance_m
        v = np.max([k(d) for k in ks], axis=0)
        return RadialKernel(d, v, monotone_from_m=1e9, provenance={"envelope of": len(ks)})


@dataclass(frozen=True)
class SourceTerms:
    """Each source split over height nodes: ``(node, source index, emission share)``."""

    node: np.ndarray
    source: np.ndarray
    share: np.ndarray

    @classmethod
    def from_heights(cls, table: KernelTable, height_m: np.ndarray) -> SourceTerms:
        h = np.asarray(height_m, dtype=np.float64)
        if not np.isfinite(h).all() or (h <= 0).any():
            raise InputError("source heights must be finite and > 0 m (set source_height_m or the sector default)")
        i0, i1, t = node_weights(h, table.heights_m)
        idx = np.arange(h.size)
        node = np.concatenate([i0, i1])
        share = np.concatenate([1.0 - t, t])
        src = np.concatenate([idx, idx])
        keep = share > 0
        return cls(node[keep], src[keep], share[keep])

    def subset(self, start: int, stop: int) -> SourceTerms:
        """The terms of sources ``start:stop``, renumbered from 0."""
        sel = (self.source >= start) & (self.source < stop)
        return SourceTerms(self.node[sel], self.source[sel] - start, self.share[sel])


@dataclass(frozen=True)
class ReceptorTerms:
    """Each receptor's land use and its four (z0, bg) corner weights."""

    landuse: np.ndarray
    z0_index: np.ndarray  # shape (4, n)
    bg_index: np.ndarray  # shape (4, n)
    weight: np.ndarray  # shape (4, n)

    @classmethod
    def from_values(cls, table: KernelTable, landuse: np.ndarray, z0_m: np.ndarray, nh3_bg_ug_m3: np.ndarray) -> ReceptorTerms:
        lu = table.landuse_index(landuse)
        z0 = np.asarray(z0_m, dtype=np.float64)
        bg = np.asarray(nh3_bg_ug_m3, dtype=np.float64)
        for name, v in (("receptor z0", z0), ("NH3 background", bg)):
            if not np.isfinite(v).all() or (v <= 0).any():
                raise InputError(f"{name} must be finite and > 0 at every receptor")
        z0a, z0b, tz = node_weights(z0, table.receptor_z0_m)
        bga, bgb, tb = node_weights(bg, table.nh3_bg_ug_m3)
        zi = np.stack([z0a, z0a, z0b, z0b])
        bi = np.stack([bga, bgb, bga, bgb])
        w = np.stack([(1 - tz) * (1 - tb), (1 - tz) * tb, tz * (1 - tb), tz * tb])
        return cls(lu, zi, bi, w)

    def __len__(self) -> int:
        return int(self.landuse.size)

    def take(self, idx: np.ndarray) -> ReceptorTerms:
        return ReceptorTerms(self.landuse[idx], self.z0_index[:, idx], self.bg_index[:, idx], self.weight[:, idx])


#: Blends per engine call (bounds the stacked tables: 128 x ~6,000 entries x 8 bytes).
BLENDS_PER_CALL = 128


def receptor_blends(receptors: ReceptorTerms) -> tuple[np.ndarray, np.ndarray]:
    """Group receptors by blend: ``(blend index per receptor, one receptor per blend)``.

    Two receptors share a blend when their land use and their (z0, bg) corners with a weight
    > 0, and those weights, are equal (corners of weight 0 do not count).
    """
    w = receptors.weight
    zi = np.where(w > 0, receptors.z0_index, -1)
    bi = np.where(w > 0, receptors.bg_index, -1)
    key = np.column_stack([receptors.landuse, zi.T, bi.T]).astype(np.float64)
    key = np.ascontiguousarray(np.column_stack([key, w.T]))
    if key.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    void = key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel()
    _, first, inverse = np.unique(void, return_index=True, return_inverse=True)
    return inverse.astype(np.int64).ravel(), first.astype(np.int64)


class Blender:
    """Blends of the class kernels for one run (corner tables read once and cached).

    Parameters
    ----------
    table
        The class kernels.
    max_distance_m
        Distance (m) every lookup table covers (the run's lookup range, at most the cut-off).
    near_value
        ``RadialKernel -> float``: the near-source value of a kernel (its disc average over
        the receptor radius), mol N/ha/yr per kg NH3/yr.
    """

    def __init__(self, table: KernelTable, max_distance_m: float, near_value: Any) -> None:
        self.table, self.max_distance_m, self.near_value = table, float(max_distance_m), near_value
        self._corner: dict[tuple[int, int, int, int], tuple[KernelLookup, float]] = {}

    def corner(self, key: tuple[int, int, int, int]) -> tuple[KernelLookup, float]:
        if key not in self._corner:
            kernel = self.table.kernels[key]
            self._corner[key] = (kernel.lookup(self.max_distance_m), float(self.near_value(kernel)))
        return self._corner[key]

    def blends(self, node: int, receptors: ReceptorTerms, reps: np.ndarray) -> LookupStack:
        """The blends of receptors ``reps`` for height node ``node``, one stack row each.

        Row ``i`` is ``sum_c w_c * table_c`` over the receptor's corners ``c = 0..3`` in that
        order (corners of weight 0 add nothing), the near-source value likewise.
        """
        reps = np.asarray(reps, dtype=np.int64)
        acc = near = layout = None
        for c in range(4):
            w = receptors.weight[c, reps]
            keys = list(zip(
                [int(node)] * reps.size, receptors.landuse[reps].tolist(),
                receptors.z0_index[c, reps].tolist(), receptors.bg_index[c, reps].tolist(), strict=True,
            ))
            for i in np.flatnonzero(w > 0):
                lu, k_near = self.corner(keys[i])
                if acc is None:
                    layout = lu
                    acc = np.zeros((reps.size, lu.table.size))
                    near = np.zeros(reps.size)
                acc[i] = acc[i] + w[i] * lu.table
                near[i] = near[i] + w[i] * k_near
        if acc is None:
            raise InputError("receptors without any class weight > 0")
        return LookupStack(acc, near, layout.exp_min, layout.mantissa_bits)


def class_deposition_at_points(
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    receptor_x_m: np.ndarray,
    receptor_y_m: np.ndarray,
    table: KernelTable,
    sources: SourceTerms,
    receptors: ReceptorTerms,
    *,
    groups: np.ndarray | None = None,
    n_groups: int | None = None,
    lookup_range_m: float | None = None,
    wind_rose: Any = None,
    cutoff_m: float | None = None,
    engine: str = "numba",
    receptor_radius_m: float | None = None,
    parallel: bool = True,
    cell_m: float | None = None,
) -> np.ndarray:
    """Class-aware deposition in mol N/ha/yr at receptors (see the module docstring).

    ``cell_m``: the receptors are the centres of grid cells of that side (m); pairs closer
    than half a cell take the blend's cell average (as the radial grid does), not the disc.

    Per height node (ascending) one direct sum over that node's source terms, every receptor
    with its own blend, all tables made for the same lookup range: a receptor's value
    depends only on its own classes, so any split of the receptors gives bitwise the same
    values. Options as in :func:`~n2kzones.deposition.engine.deposition_at_points`.
    """
    from n2kzones.deposition.engine import (
        SortedSources,
        deposition_by_table,
        lookup_distance_m,
        max_pair_distance_m,
    )
    from n2kzones.deposition.kernel import HECTARE_DISC_RADIUS_M

    sx, sy = np.asarray(source_x_m, float), np.asarray(source_y_m, float)
    e = np.asarray(emission_kg_nh3, float)
    rx, ry = np.asarray(receptor_x_m, float), np.asarray(receptor_y_m, float)
    g = None if groups is None else np.asarray(groups)
    ng = None if g is None else int(n_groups if n_groups is not None else (g.max() + 1 if g.size else 1))
    out = np.zeros((ng or 1, rx.size))
    if sx.size == 0 or rx.size == 0:
        return out if ng is not None else out[0]
    if cell_m is not None:
        radius = float(cell_m) / 2.0
        near_value = lambda k: k.cell_average(float(cell_m))  # noqa: E731
    else:
        radius = HECTARE_DISC_RADIUS_M if receptor_radius_m is None else float(receptor_radius_m)
        near_value = lambda k: k.disc_average(radius)  # noqa: E731
    rng = lookup_range_m if lookup_range_m is not None else max_pair_distance_m(sx, sy, rx, ry)
    blender = Blender(table, lookup_distance_m(rx, ry, sx, sy, rng, cutoff_m), near_value)
    blend_of, first = receptor_blends(receptors)
    by_blend = np.argsort(blend_of, kind="stable")
    starts = range(0, first.size, BLENDS_PER_CALL)
    bounds = np.searchsorted(blend_of[by_blend], [*starts, first.size])
    for node in np.unique(sources.node):
        s_sel = sources.node == node
        s_idx = sources.source[s_sel]
        prepared = SortedSources.prepare(
            sx[s_idx], sy[s_idx], e[s_idx] * sources.share[s_sel],
            None if g is None else g[s_idx], ng or 1, cutoff_m,
        )
        for lo, hi, b0 in zip(bounds[:-1], bounds[1:], starts, strict=True):
            r_idx = by_blend[lo:hi]
            stack = blender.blends(int(node), receptors, first[b0 : b0 + BLENDS_PER_CALL])
            out[:, r_idx] += deposition_by_table(
                prepared, rx[r_idx], ry[r_idx], stack, blend_of[r_idx] - b0, wind_rose=wind_rose,
                s_near_m2=radius * radius, engine=engine, parallel=parallel,
            )
    return out if ng is not None else out[0]


def class_deposition_on_grid(
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    table: KernelTable,
    sources: SourceTerms,
    cells: ReceptorTerms,
    grid: Any,
    *,
    method: str = "direct",
    wind_rose: Any = None,
    cutoff_m: float | None = None,
    engine: str = "numba",
    parallel: bool = True,
    fft_pad_m: float | None = None,
    fft_near_cells: int = 3,
    outside_sources: str = "raise",
    memory_budget_gib: float | None = None,
) -> np.ndarray:
    """Class-aware deposition (mol N/ha/yr) at the cell centres of ``grid``, ``(n_rows, n_cols)``.

    Each cell has its own class (``cells``, row-major as :meth:`GridSpec.cell_centre_points`).
    ``method="direct"``: the class-aware sum at the cell centres, pairs closer than half a
    cell taking the blend's cell average; ``"fft"``:
    :func:`~n2kzones.deposition.fft.deposition_fft_classes` (same near field, the p99
    tolerance of the radial FFT path). Other options as in
    :func:`~n2kzones.deposition.engine.deposition_on_grid`.
    """
    from n2kzones.deposition.fft import deposition_fft_classes
    from n2kzones.io.grid import DEFAULT_MEMORY_BUDGET_GIB

    sx, sy = np.asarray(source_x_m, float), np.asarray(source_y_m, float)
    e = np.asarray(emission_kg_nh3, float)
    if len(cells) != grid.n_rows * grid.n_cols:
        raise InputError(f"{len(cells)} cell classes for a grid of {grid.n_rows * grid.n_cols} cells")
    budget = DEFAULT_MEMORY_BUDGET_GIB if memory_budget_gib is None else float(memory_budget_gib)
    if method == "fft":
        pad = float(cutoff_m) if cutoff_m is not None else (0.0 if fft_pad_m is None else float(fft_pad_m))
        out = deposition_fft_classes(
            sx, sy, e, np.zeros(sx.size, dtype=np.int64), 1, (table, sources, cells), grid,
            wind_rose=wind_rose, cutoff_m=cutoff_m, pad_m=pad, outside_sources=outside_sources,
            memory_budget_gib=budget, near_cells=int(fft_near_cells),
        )
        return out[0]
    if method != "direct":
        raise InputError(f"method must be 'direct' or 'fft', got {method!r}")
    grid.check_memory(24.0, memory_budget_gib=budget, what="direct class-aware deposition grid")
    rx, ry = grid.cell_centre_points()
    flat = class_deposition_at_points(
        sx, sy, e, rx, ry, table, sources, cells, wind_rose=wind_rose, cutoff_m=cutoff_m,
        engine=engine, parallel=parallel, cell_m=grid.cell_m,
    )
    return flat.reshape(grid.n_rows, grid.n_cols)


def class_max_contribution(
    source_x_m: np.ndarray,
    source_y_m: np.ndarray,
    emission_kg_nh3: np.ndarray,
    receptor_x_m: np.ndarray,
    receptor_y_m: np.ndarray,
    table: KernelTable,
    sources: SourceTerms,
    receptors: ReceptorTerms,
    *,
    wind_rose: Any = None,
    cutoff_m: float | None = None,
    receptor_radius_m: float | None = None,
    lookup_range_m: float | None = None,
    workers: int = -1,
) -> tuple[np.ndarray, np.ndarray]:
    """Every source's largest class-aware deposition (mol N/ha/yr) on any receptor, exactly.

    A pair's value is the sum over the source's height nodes (ascending) of
    ``(e * share) * k`` with ``k`` the receptor's blend for that node, evaluated as the
    engine does (same table, near-source value, wind rose and cut-off): what
    :func:`class_deposition_at_points` gives for the source alone, bitwise. Pruning as in
    :func:`~n2kzones.deposition.maxima.max_contribution`, with per source height node the
    envelope of its kernels on the receptors' classes as the bound: a blend's entries are
    convex combinations of those kernels' entries (corner weights add up to 1) and the
    height shares add up to 1, so no pair exceeds the largest bound of its source's nodes.
    Returns ``(max_mol_ha, receptor_index)`` (index -1 where nothing lies within the cut-off).
    """

    from scipy.spatial import cKDTree

    from n2kzones.deposition.engine import lookup_distance_m
    from n2kzones.deposition.kernel import HECTARE_DISC_RADIUS_M
    from n2kzones.deposition.maxima import K_NEAREST, _PairModel, ball_maxima

    xs, ys = np.asarray(source_x_m, float), np.asarray(source_y_m, float)
    es = np.asarray(emission_kg_nh3, float)
    rx, ry = np.asarray(receptor_x_m, float), np.asarray(receptor_y_m, float)
    n = xs.size
    best_v = np.zeros(n)
    best_i = np.full(n, -1, dtype=np.int64)
    if n == 0 or rx.size == 0:
        return best_v, best_i
    radius = HECTARE_DISC_RADIUS_M if receptor_radius_m is None else float(receptor_radius_m)
    max_d = lookup_distance_m(rx, ry, xs, ys, lookup_range_m, cutoff_m)
    blender = Blender(table, max_d, lambda k: k.disc_average(radius))
    blend_of, first = receptor_blends(receptors)
    models: dict[tuple[int, int], _PairModel] = {}

    def model(node: int, blend: int) -> _PairModel:
        if (node, blend) not in models:
            stack = blender.blends(node, receptors, first[blend : blend + 1])
            models[(node, blend)] = _PairModel.from_lookup(
                stack.lookup(0), float(stack.k_near[0]), wind_rose, cutoff_m, radius, with_bound=False
            )
        return models[(node, blend)]

    # each source's height terms, nodes ascending: at most two per source
    order = np.lexsort((sources.node, sources.source))
    t_src, t_node, t_share = sources.source[order], sources.node[order], sources.share[order]
    t_start = np.searchsorted(t_src, np.arange(n))
    t_count = np.bincount(t_src, minlength=n)

    def values(pi: np.ndarray, pj: np.ndarray) -> np.ndarray:
        out = np.zeros(pi.size)
        dx, dy = rx[pj] - xs[pi], ry[pj] - ys[pi]
        bl = blend_of[pj]
        for rank in range(int(t_count.max()) if t_count.size else 0):  # terms in node order
            has = np.flatnonzero(t_count[pi] > rank)
            row = t_start[pi[has]] + rank
            node, share = t_node[row], t_share[row]
            k = np.empty(has.size)
            key = node * (first.size + 1) + bl[has]
            order = np.argsort(key, kind="stable")  # one run of pairs per (node, blend)
            cuts = np.flatnonzero(np.diff(key[order])) + 1
            hdx, hdy = dx[has], dy[has]
            for run in np.split(order, cuts):
                kk = int(key[run[0]])
                k[run] = model(kk // (first.size + 1), kk % (first.size + 1)).values(hdx[run], hdy[run])
            out[has] += (es[pi[has]] * share) * k
        return out

    # Search per receptor class cell (land use and the (z0, NH3) corners it blends), each with
    # its own tree and, per source height node, the envelope of that node's kernels on those
    # corners as the bound: a blend is a convex combination of its cell's corners, so the
    # bound is tight (forest kernels are up to 5x those of grass near a source, and far from
    # every receptor, where kernels decay slowly, a loose bound would take every receptor
    # as a candidate). A pair's value per kg is at most the largest bound of its source's nodes.
    big = np.iinfo(np.int64).max
    kmax_g, best_g, dist0 = [], [], np.full(n, np.inf)
    cell_key = np.vstack([receptors.landuse[None, :], receptors.z0_index, receptors.bg_index])
    _, cell_of = np.unique(cell_key, axis=1, return_inverse=True)
    for cell in np.unique(cell_of):
        members = np.flatnonzero(cell_of == cell)
        lu = receptors.landuse[members[0]]
        w_pos = receptors.weight[:, members] > 0
        corners = {
            (int(lu), int(iz), int(ib))
            for q in range(4)
            for iz, ib in zip(receptors.z0_index[q, members[w_pos[q]]], receptors.bg_index[q, members[w_pos[q]]], strict=True)
        }
        bounds = {
            int(a): _PairModel.build(table.envelope([(int(a), *c) for c in sorted(corners)]), max_d, wind_rose, cutoff_m, radius)
            for a in np.unique(sources.node)
        }
        tree = cKDTree(np.column_stack([rx[members], ry[members]]))
        k = min(K_NEAREST, members.size)
        dist, near = tree.query(np.column_stack([xs, ys]), k=k, workers=workers)
        dist, idx = dist.reshape(n, k), members[near.reshape(n, k)]
        dist0 = np.minimum(dist0, dist[:, 0])
        vals = values(np.repeat(np.arange(n), k), idx.ravel()).reshape(n, k)
        kmax = vals.max(axis=1)
        best_g.append(np.where(vals == kmax[:, None], idx, big).min(axis=1))
        kmax_g.append((kmax, (bounds, tree, members, dist[:, -1], k < members.size)))
    kmax = np.max([km for km, _ in kmax_g], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lb_per_kg = np.where(es > 0, kmax / es, 0.0) * (1.0 - 1e-9)
    out_of_range = (dist0 > float(cutoff_m) * (1.0 + 1e-12) + 1e-6) if cutoff_m is not None else np.zeros(n, bool)
    for (km, (bounds, tree, members, dist_k, more)), bi in zip(kmax_g, best_g, strict=True):
        r_cand = np.zeros(n)
        for a, bound in bounds.items():
            on = np.zeros(n, bool)
            on[sources.source[sources.node == a]] = True
            r_cand[on] = np.maximum(r_cand[on], bound.radius_for(lb_per_kg[on]))
        todo = np.flatnonzero((~out_of_range) & more & (r_cand >= dist_k * (1.0 - 1e-12) - 1e-6))

        def values_in(pi: np.ndarray, pj: np.ndarray, members: np.ndarray = members) -> np.ndarray:
            return values(pi, members[pj])

        local_best = np.searchsorted(members, bi)  # ball_maxima works in the group's indices
        ball_maxima(tree, xs, ys, todo, r_cand, values_in, km, local_best, workers=workers)
        bi[:] = members[local_best]
    # the largest over the land uses; ties: the lowest receptor index
    kmax = np.max([km for km, _ in kmax_g], axis=0)
    best = np.full(n, big)
    for (km, _), bi in zip(kmax_g, best_g, strict=True):
        best = np.where(km == kmax, np.minimum(best, bi), best)
    kmax[out_of_range] = 0.0
    best_v[:] = kmax
    best_i[:] = best
    if cutoff_m is not None:
        best_i[kmax <= 0.0] = -1
    return best_v, best_i
