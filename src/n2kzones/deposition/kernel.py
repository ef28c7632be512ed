"""Deposition kernels: a tabulated radial profile, its fast lookup table and a wind rose.

Units throughout: distances in metres (RD New, EPSG:28992), kernel values in
mol N/ha/yr deposited per kg NH3/yr emitted.

:class:`RadialKernel`
    A table ``distance_m -> deposition_mol_ha_per_kg``, interpolated linearly in
    ``(ln r, ln K)`` between rows. Below the first distance the first value is held
    constant; beyond the last distance the log-log slope of the last segment is continued
    (a power law ``K ~ r**b``; for the packaged default ``b`` is about -1.9 at 100 km).
:class:`KernelLookup`
    The dense table the engines evaluate per source-receptor pair (see its docstring for
    the layout and the accuracy against the exact log-log kernel).
:class:`WindRose`
    Direction weights with mean exactly 1, multiplied onto the radial kernel.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from n2kzones.errors import InputError

logger = logging.getLogger(__name__)

#: Largest allowed ratio between consecutive table distances; a larger step is a "gap"
#: that log-log interpolation would bridge too coarsely.
MAX_GAP_RATIO = 4.0
#: Beyond this distance (m) the profile must be non-increasing. Closer in, OPS profiles of
#: elevated sources rise first (the plume has not reached the ground yet).
MONOTONE_FROM_M = 100.0
#: Radius (m) of a disc with the area of one hectare (an AERIUS hexagon): sqrt(10^4 / pi).
HECTARE_DISC_RADIUS_M = math.sqrt(1.0e4 / math.pi)
#: m^2 per hectare.
M2_PER_HA = 1.0e4
#: Column holding the emission in OPS-style result files (values are per that emission).
OPS_EMISSION_COL = "emission_kg_nh3_per_yr"
#: Default value column of OPS-style result files.
OPS_VALUE_COL = "deposition_mol_n_per_ha_per_yr"

_DATA = "n2kzones.deposition"
_GAUSS_NODES = 256  # Gauss-Legendre nodes for the square-cell average (angle integral)


class RadialKernel:
    """Tabulated radial deposition profile with log-log interpolation.

    Parameters
    ----------
    distance_m
        Table distances in metres, strictly increasing and positive.
    deposition_mol_ha_per_kg
        Deposition in mol N/ha/yr per kg NH3/yr emitted at each distance; positive, finite.
    provenance
        Where the table comes from (model and version, source height, land use, z0,
        meteo, fitting script). Stored as given.
    max_gap_ratio
        Largest allowed ratio of consecutive distances (default :data:`MAX_GAP_RATIO`).
    monotone_from_m
        The profile must not increase between rows at or beyond this distance
        (default :data:`MONOTONE_FROM_M`).

    Raises
    ------
    InputError
        If the table is too short, not strictly increasing, has non-positive or non-finite
        values, has a gap, or rises beyond ``monotone_from_m``; the message names the row.
    """

    def __init__(
        self,
        distance_m: np.ndarray | list[float],
        deposition_mol_ha_per_kg: np.ndarray | list[float],
        *,
        provenance: Mapping[str, Any] | None = None,
        max_gap_ratio: float = MAX_GAP_RATIO,
        monotone_from_m: float = MONOTONE_FROM_M,
    ) -> None:
        d = np.array(distance_m, dtype=np.float64).ravel()
        v = np.array(deposition_mol_ha_per_kg, dtype=np.float64).ravel()
        _validate_table(d, v, max_gap_ratio, monotone_from_m)
        d.setflags(write=False)
        v.setflags(write=False)
        self._d = d
        self._v = v
        self._ld = np.log(d)
        self._lv = np.log(v)
        self._slope = np.diff(self._lv) / np.diff(self._ld)  # log-log slope per segment
        self.provenance: dict[str, Any] = dict(provenance or {})
        # ring integral F(r) = int_0^r K(r') r' dr' at every table distance [mol/ha * m^2]
        seg = _power_ring(v[:-1], d[:-1], d[1:], self._slope)
        self._ring_at_nodes = np.concatenate(([v[0] * d[0] ** 2 / 2.0], seg)).cumsum()
        self._cell_avg_cache: dict[float, float] = {}

    # -- basic properties -------------------------------------------------------------
    @property
    def distance_m(self) -> np.ndarray:
        """Table distances in m (read-only)."""
        return self._d

    @property
    def deposition_mol_ha_per_kg(self) -> np.ndarray:
        """Table values in mol N/ha/yr per kg NH3/yr (read-only)."""
        return self._v

    @property
    def tail_log_slope(self) -> float:
        """Log-log slope ``d ln K / d ln r`` used beyond the last table distance."""
        return float(self._slope[-1])

    def __repr__(self) -> str:
        return (
            f"RadialKernel({self._d.size} rows, {self._d[0]:g}..{self._d[-1]:g} m, "
            f"provenance={self.provenance.get('name', '?')!r})"
        )

    # -- evaluation -------------------------------------------------------------------
    def __call__(self, r_m: np.ndarray | float) -> np.ndarray:
        """Exact (log-log interpolated) kernel at distances ``r_m`` in m.

        Returns mol N/ha/yr per kg NH3/yr, same shape as ``r_m``.
        """
        r = np.asarray(r_m, dtype=np.float64)
        if np.isnan(r).any() or (r < 0).any():
            raise InputError("distances must be >= 0 m and not NaN")
        lr = np.log(np.maximum(r, self._d[0]))
        out = np.interp(lr, self._ld, self._lv)
        beyond = lr > self._ld[-1]
        if beyond.any():
            out = np.where(beyond, self._lv[-1] + self._slope[-1] * (lr - self._ld[-1]), out)
        return np.exp(out)

    def ring_integral(self, r_max_m: np.ndarray | float) -> np.ndarray:
        """``F(R) = integral_0^R K(r) r dr`` in (mol N/ha per kg NH3) * m^2, exact.

        Each log-log segment is a power law, integrated analytically.
        """
        r = np.asarray(r_max_m, dtype=np.float64)
        if np.isnan(r).any() or (r < 0).any():
            raise InputError("integration radius must be >= 0 m and not NaN")
        d, v = self._d, self._v
        inner = v[0] * np.minimum(r, d[0]) ** 2 / 2.0
        i = np.clip(np.searchsorted(d, r, side="right") - 1, 0, d.size - 1)
        slope = self._slope[np.minimum(i, self._slope.size - 1)]
        part = _power_ring(v[i], d[i], np.maximum(r, d[i]), slope)
        outer = self._ring_at_nodes[i] + part
        out = np.where(r <= d[0], inner, outer)
        return out if out.ndim else out[()]

    def deposited_fraction(
        self, r_max_m: float | np.ndarray, *, mol_n_per_kg_nh3: float | None = None
    ) -> np.ndarray | float:
        """Fraction of the emission deposited within ``r_max_m`` metres of the source.

        ``fraction = 2*pi * F(r_max) [m^2 mol/ha per kg] / 10,000 [m^2/ha] / mol_n_per_kg_nh3``.

        Parameters
        ----------
        r_max_m
            Radius in m.
        mol_n_per_kg_nh3
            Conversion (default: ``params.conversion.mol_n_per_kg_nh3``, 58.7).
        """
        if mol_n_per_kg_nh3 is None:
            from n2kzones.params import load_parameters

            mol_n_per_kg_nh3 = load_parameters().conversion.mol_n_per_kg_nh3
        frac = 2.0 * math.pi * self.ring_integral(r_max_m) / M2_PER_HA / mol_n_per_kg_nh3
        return float(frac) if np.ndim(frac) == 0 else frac

    def disc_average(self, radius_m: float) -> float:
        """Mean of the kernel over a disc of ``radius_m`` m centred on the source.

        Used for point receptors that represent an area (1 ha hexagon: radius
        :data:`HECTARE_DISC_RADIUS_M`). Returns mol N/ha/yr per kg NH3/yr.
        """
        if not (radius_m >= 0 and math.isfinite(radius_m)):
            raise InputError(f"receptor radius must be a finite number >= 0 m, got {radius_m}")
        if radius_m == 0:
            return float(self._v[0])
        return float(2.0 * self.ring_integral(radius_m) / radius_m**2)

    def cell_average(self, cell_m: float) -> float:
        """Mean of the kernel over a square cell of side ``cell_m`` m centred on the source.

        Computed as ``(8 / cell^2) * integral_0^{pi/4} F(cell / (2 cos t)) dt`` with the exact
        ring integral ``F`` and 256-point Gauss-Legendre quadrature in the angle; cached per
        cell size. Returns mol N/ha/yr per kg NH3/yr.
        """
        if not (cell_m > 0 and math.isfinite(cell_m)):
            raise InputError(f"cell size must be a finite number > 0 m, got {cell_m}")
        key = float(cell_m)
        if key not in self._cell_avg_cache:
            t, w = _gauss_legendre(_GAUSS_NODES)
            theta = (t + 1.0) * (math.pi / 8.0)  # map [-1, 1] -> [0, pi/4]
            f = self.ring_integral(key / (2.0 * np.cos(theta)))
            integral = float(np.dot(w, f)) * (math.pi / 8.0)
            self._cell_avg_cache[key] = 8.0 * integral / key**2
        return self._cell_avg_cache[key]

    def lookup(self, max_distance_m: float, *, mantissa_bits: int = 8) -> KernelLookup:
        """Dense lookup table covering ``0 .. max_distance_m`` m (see :class:`KernelLookup`)."""
        return KernelLookup.from_kernel(self, max_distance_m, mantissa_bits=mantissa_bits)

    # -- I/O --------------------------------------------------------------------------
    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        *,
        distance_col: str = "distance_m",
        value_col: str | None = None,
        where: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> RadialKernel:
        """Read a kernel from a CSV file, e.g. your own OPS/AERIUS run.

        Parameters
        ----------
        path
            CSV file with one row per distance.
        distance_col
            Column with the distance in m.
        value_col
            Column with the deposition. Default: ``deposition_mol_ha_per_kg`` if present,
            else OPS's ``deposition_mol_n_per_ha_per_yr``.
        where
            Keep only rows whose columns equal these values, e.g.
            ``{"source_height_m": 5, "receptor_landuse": "grass", "z0_m": 0.1}`` to pick one
            case from a multi-case OPS file.
        provenance
            Stored on the kernel; the file path and the selection are added.

        Notes
        -----
        If the file has an ``emission_kg_nh3_per_yr`` column (OPS-style results for e.g.
        1000 kg NH3/yr), the values are divided by it to give per-kg deposition.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"kernel table {path} does not exist")
        df = pd.read_csv(path)
        for col, val in (where or {}).items():
            if col not in df.columns:
                raise InputError(
                    f"{path}: no column {col!r} to select on; columns: {list(df.columns)}"
                )
            df = df[df[col] == val]
        if value_col is None:
            value_col = (
                "deposition_mol_ha_per_kg" if "deposition_mol_ha_per_kg" in df else OPS_VALUE_COL
            )
        for col in (distance_col, value_col):
            if col not in df.columns:
                raise InputError(
                    f"{path}: no column {col!r}; pass distance_col=/value_col= "
                    f"(columns: {list(df.columns)})"
                )
        if df.empty:
            raise InputError(f"{path}: no rows left after selecting {dict(where or {})}")
        values = df[value_col].to_numpy(dtype=np.float64)
        if OPS_EMISSION_COL in df.columns:
            emission = df[OPS_EMISSION_COL].to_numpy(dtype=np.float64)
            if not (np.isfinite(emission).all() and (emission > 0).all()):
                raise InputError(f"{path}: {OPS_EMISSION_COL} must be > 0 kg NH3/yr in every row")
            values = values / emission
        prov = dict(provenance or {})
        prov.setdefault("file", str(path))
        if where:
            prov.setdefault("selection", {k: _jsonable(v) for k, v in where.items()})
        return cls(df[distance_col].to_numpy(dtype=np.float64), values, provenance=prov)


def _jsonable(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _power_ring(v0: np.ndarray, d0: np.ndarray, r: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """``integral_{d0}^{r} v0 (x/d0)**slope * x dx`` for power-law segments (vectorised)."""
    c = slope + 2.0
    lr = np.log(r / d0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(np.abs(c) > 1e-12, np.expm1(c * lr) / c, lr)
    return v0 * d0**2 * ratio


def _validate_table(
    d: np.ndarray, v: np.ndarray, max_gap_ratio: float, monotone_from_m: float
) -> None:
    if d.shape != v.shape:
        raise InputError(f"kernel table: {d.size} distances but {v.size} values")
    if d.size < 2:
        raise InputError("kernel table needs at least 2 rows (distance_m, deposition)")
    bad = ~(np.isfinite(d) & (d > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"kernel table row {i}: distance {d[i]} m must be finite and > 0 m")
    bad = ~(np.isfinite(v) & (v > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"kernel table row {i} (distance {d[i]:g} m): deposition {v[i]} mol N/ha/yr per kg "
            "NH3 must be finite and > 0 (log-log interpolation); drop the row or fix the value"
        )
    step = np.diff(d)
    if (step <= 0).any():
        i = int(np.flatnonzero(step <= 0)[0]) + 1
        raise InputError(
            f"kernel table row {i}: distance {d[i]:g} m does not increase from the previous row "
            f"({d[i - 1]:g} m); sort the table and remove duplicate distances"
        )
    ratio = d[1:] / d[:-1]
    if (ratio > max_gap_ratio).any():
        i = int(np.flatnonzero(ratio > max_gap_ratio)[0]) + 1
        raise InputError(
            f"kernel table row {i}: gap from {d[i - 1]:g} m to {d[i]:g} m "
            f"(ratio {ratio[i - 1]:.2f} > {max_gap_ratio:g}); add rows in between"
        )
    rising = (np.diff(v) > 0) & (d[:-1] >= monotone_from_m)
    if rising.any():
        i = int(np.flatnonzero(rising)[0]) + 1
        raise InputError(
            f"kernel table row {i}: deposition rises from {v[i - 1]:.6g} at {d[i - 1]:g} m to "
            f"{v[i]:.6g} mol N/ha/yr per kg NH3 at {d[i]:g} m; the profile must not increase "
            f"beyond {monotone_from_m:g} m (check the column and units)"
        )


@functools.lru_cache(maxsize=4)
@functools.cache
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1] (computed once per ``n`` and kept read-only:
    an eigenvalue problem, which every blended class kernel's cell average would repeat)."""
    t, w = np.polynomial.legendre.leggauss(n)
    t.setflags(write=False)
    w.setflags(write=False)
    return t, w


@dataclass(frozen=True, eq=False)
class KernelLookup:
    """Dense table of the kernel in squared distance ``s = r**2`` (m^2), for the engines.

    Layout: octaves ``[2**e, 2**(e+1))`` of ``s`` from ``2**exp_min`` upward, each split into
    ``2**mantissa_bits`` equal steps; ``table`` holds the exact kernel at the step ends. The
    engines use per step the start value and the increment as float32 (``value32``,
    ``step32``; packed into one uint64 per step, ``packed``, so the Numba engine needs one
    memory gather per pair), evaluated in float64 as ``value + frac * step``. The index of
    ``s`` is read straight from the bits of the float64 (exponent and top mantissa bits), the
    interpolation weight from the remaining mantissa bits, so a lookup costs no ``sqrt``,
    ``log`` or ``exp``; the value is linear in ``s`` within a step. ``s`` is first clamped to
    ``[s_lo, s_hi]``: below ``s_lo = 2**exp_min`` this gives the first entry (the kernel is
    constant there: ``exp_min`` is chosen so that ``s_lo <= distance_m[0]**2``); at the top,
    the last entry (tables are built to cover the largest distance needed).

    Accuracy: the relative step in ``s`` is at most ``2**-mantissa_bits``. For a smooth power
    law ``K ~ r**b`` linear interpolation errs by about ``(b/2)(b/2 - 1)/8 * 2**(-2m)``
    (4e-6 for ``b = -2``, ``m = 8``); at the kinks of the log-log table the error is first
    order in the step instead. For the packaged default kernel (81 rows) the maximum relative
    error against the exact log-log kernel is 5.7e-5 with ``m = 8`` (1e-4 with ``m = 7``,
    2.8e-5 with ``m = 9``), far below the kernel's own uncertainty; tested (< 1e-4) with
    :meth:`max_relative_error`.
    """

    table: np.ndarray = field(repr=False)
    exp_min: int
    mantissa_bits: int
    value32: np.ndarray = field(init=False, repr=False)
    step32: np.ndarray = field(init=False, repr=False)
    packed: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        value32, step32, packed = pack_table_rows(self.table)
        for name, arr in (("value32", value32), ("step32", step32), ("packed", packed)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @classmethod
    def from_kernel(
        cls, kernel: RadialKernel, max_distance_m: float, *, mantissa_bits: int = 8
    ) -> KernelLookup:
        """Tabulate ``kernel`` for distances up to ``max_distance_m`` m."""
        if not (1 <= mantissa_bits <= 16):
            raise InputError(f"mantissa_bits must be in 1..16, got {mantissa_bits}")
        if not (max_distance_m >= 0 and math.isfinite(max_distance_m)):
            raise InputError(f"max distance must be finite and >= 0 m, got {max_distance_m}")
        exp_min = math.floor(math.log2(kernel.distance_m[0] ** 2))
        s_max = max(max_distance_m, kernel.distance_m[0]) ** 2
        exp_max = max(math.ceil(math.log2(s_max)), exp_min + 1)
        n_steps = 1 << mantissa_bits
        octave = np.arange(exp_min, exp_max, dtype=np.float64)[:, None]
        s = np.ldexp(1.0 + np.arange(n_steps)[None, :] / n_steps, octave.astype(np.int64)).ravel()
        s = np.append(s, 2.0**exp_max)
        table = kernel(np.sqrt(s))
        table.setflags(write=False)
        return cls(table=table, exp_min=exp_min, mantissa_bits=mantissa_bits)

    @property
    def shift(self) -> int:
        """Right shift that leaves exponent and top mantissa bits of a float64."""
        return 52 - self.mantissa_bits

    @property
    def base(self) -> int:
        """Integer subtracted from the shifted bits to give the table index."""
        return (1023 + self.exp_min) << self.mantissa_bits

    @property
    def s_lo(self) -> float:
        """Lower clamp of the squared distance, ``2**exp_min`` m^2."""
        return math.ldexp(1.0, self.exp_min)

    @property
    def s_hi(self) -> float:
        """Upper clamp of the squared distance: the float just below the table end, m^2."""
        return float(
            np.nextafter(
                math.ldexp(1.0, self.exp_min + ((self.table.size - 1) >> self.mantissa_bits)), 0.0
            )
        )

    @property
    def max_distance_m(self) -> float:
        """Largest distance covered by the table, in m."""
        return math.sqrt(
            math.ldexp(1.0, self.exp_min + ((self.table.size - 1) >> self.mantissa_bits))
        )

    def evaluate_s(self, s_m2: np.ndarray) -> np.ndarray:
        """Kernel at squared distances ``s_m2`` (m^2); the NumPy twin of the Numba lookup."""
        s = np.minimum(np.maximum(np.asarray(s_m2, dtype=np.float64), self.s_lo), self.s_hi)
        bits = np.ascontiguousarray(s).view(np.int64)
        idx = (bits >> self.shift) - self.base
        frac = (bits & ((1 << self.shift) - 1)).astype(np.float64) * (2.0**-self.shift)
        return self.value32[idx].astype(np.float64) + frac * self.step32[idx].astype(np.float64)

    def __call__(self, r_m: np.ndarray | float) -> np.ndarray:
        """Kernel at distances ``r_m`` (m) through the table."""
        r = np.asarray(r_m, dtype=np.float64)
        return self.evaluate_s(r * r)

    def max_relative_error(self, kernel: RadialKernel, n: int = 200_000) -> float:
        """Largest ``|lookup / exact - 1|`` over ``n`` log-spaced distances up to the table end."""
        r = np.geomspace(kernel.distance_m[0] / 2.0, self.max_distance_m, n)
        r = np.concatenate((r, kernel.distance_m[kernel.distance_m <= self.max_distance_m]))
        return float(np.max(np.abs(self(r) / kernel(r) - 1.0)))


def pack_table_rows(tables: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 start values, float32 steps and their uint64 packing, per row of ``tables``
    (exact kernel values at the step ends); the layout of :class:`KernelLookup`."""
    t = np.asarray(tables, dtype=np.float64)
    value32 = t[..., :-1].astype(np.float32)
    step32 = np.diff(t, axis=-1).astype(np.float32)
    packed = value32.view(np.uint32).astype(np.uint64) | (
        step32.view(np.uint32).astype(np.uint64) << np.uint64(32)
    )
    return value32, step32, packed


@dataclass(frozen=True, eq=False)
class LookupStack:
    """Lookup tables of one layout, one row per kernel, with each kernel's near-source value.

    The engines take a stack and a row per receptor (:func:`~n2kzones.deposition.engine.
    deposition_by_table`): a radial kernel is a stack of one; the class-aware model stacks one
    blend of class kernels per receptor group.

    Attributes
    ----------
    tables
        Exact values at the step ends, shape ``(n_kernels, n_steps + 1)`` (mol N/ha/yr per kg
        NH3/yr), layout of :class:`KernelLookup` with ``exp_min`` and ``mantissa_bits``.
    k_near
        Near-source value per kernel (mol N/ha/yr per kg NH3/yr).
    """

    tables: np.ndarray = field(repr=False)
    k_near: np.ndarray
    exp_min: int
    mantissa_bits: int
    packed: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        t = np.atleast_2d(np.asarray(self.tables, dtype=np.float64))
        k = np.asarray(self.k_near, dtype=np.float64).ravel()
        if k.size != t.shape[0]:
            raise InputError(f"{t.shape[0]} tables but {k.size} near-source values")
        object.__setattr__(self, "tables", t)
        object.__setattr__(self, "k_near", k)
        object.__setattr__(self, "packed", pack_table_rows(t)[2])

    @classmethod
    def of(cls, lookup: KernelLookup, k_near: float) -> LookupStack:
        """A stack of one table."""
        return cls(lookup.table[None, :], np.array([k_near]), lookup.exp_min, lookup.mantissa_bits)

    def __len__(self) -> int:
        return int(self.k_near.size)

    def lookup(self, i: int) -> KernelLookup:
        """Row ``i`` as a :class:`KernelLookup` (bitwise the same packed entries)."""
        return KernelLookup(table=self.tables[i], exp_min=self.exp_min, mantissa_bits=self.mantissa_bits)


#: Steps of the direction lookup per quadrant of the pseudo-angle (see :class:`WindRose`): the
#: minimum; a rose with more sectors gets the next power of two >= its sector count, so a step
#: (at most ``2/M`` rad of bearing) never holds more than one sector centre.
DIRECTION_STEPS = 128
#: Floor of ``|dx| + |dy|`` in the direction lookup (a zero offset then points north).
_TINY = 1e-300
#: Documented bound on the relative deviation of :meth:`WindRose.weight_dxdy` (the engines'
#: direction lookup) from the exact bearing interpolation, for the packaged wind rose.
DIRECTION_MAX_DEVIATION = 2e-4
#: Bound on the bearing error (rad) of the direction lookup, any number of sectors: the lookup
#: is exact at the nodes and at the sector centres and linear in the pseudo-angle between them,
#: where the bearing curves by at most ``|d2 bearing / dP2| = 3 sqrt(3) / 2``; linear
#: interpolation over a step ``1/M`` errs by at most ``1/(8 M^2)`` times that (1.98e-5 rad).
DIRECTION_MAX_BEARING_ERROR_RAD = 3.0 * math.sqrt(3.0) / (16.0 * DIRECTION_STEPS**2)


def direction_steps_for(n_sectors: int) -> int:
    """Steps per quadrant of the direction lookup for a rose of ``n_sectors`` sectors."""
    return max(DIRECTION_STEPS, 1 << max(int(n_sectors) - 1, 0).bit_length())


def _pack32(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Two float32 arrays packed into one uint64 each (``lo`` in the low 32 bits)."""
    high = hi.view(np.uint32).astype(np.uint64) << np.uint64(32)
    return lo.view(np.uint32).astype(np.uint64) | high


@dataclass(frozen=True, eq=False)
class WindRose:
    """Direction weights on the radial kernel, mean exactly 1 so mass is preserved.

    Sector ``k`` (of ``n``) is centred on the bearing ``k * 360/n`` degrees, bearing measured
    from the source to the receptor, 0 = north (+y), 90 = east (+x), clockwise. Between sector
    centres the weight is **interpolated linearly** in bearing (periodic), so maps have no
    steps at sector edges; the average of that piecewise-linear function over the full circle
    equals the mean of the weights, i.e. exactly 1 (:meth:`weight_at_bearing` evaluates it
    exactly, with the bearing from ``atan2``). The weights do not vary with distance
    (a simplification: in OPS the anisotropy is somewhat stronger near the source).

    **Direction lookup.** The engines (and :meth:`weight_dxdy`, their NumPy twin) do not call
    ``atan2`` per pair. With ``u = dx / max(|dx| + |dy|, 1e-300)`` the pseudo-angle

    ``P = u`` (``dy >= 0``, ``u >= 0``); ``P = 4 + u`` (``dy >= 0``, ``u < 0``);
    ``P = 2 - u`` (``dy < 0``)

    runs from 0 to 4 once round the circle, clockwise from north, monotone in the bearing
    ``90 deg * floor(P) + atan2(f, 1 - f)`` (``f`` the fractional part of ``P``). One table of
    ``4 M + 1`` nodes ``P = k / M`` (``M`` = :attr:`direction_steps`: :data:`DIRECTION_STEPS`
    = 128 steps per quadrant, more for a rose of more than 128 sectors) holds per step two
    uint64, each two float32: the exact weight at the node and the step to the next node, and
    the position ``t`` (fraction of the step) of the sector centre inside the step with the
    change of slope ``d`` there (``t = 1``, ``d = 0`` in a step without one). With
    ``x = M P``, ``i = int(x)``, ``g = x - i`` the weight is
    ``(value[i] + g * step[i]) + max(g - t[i], 0) * d[i]``: exact at every node and at every
    sector centre (the kinks of the bearing interpolation), linear in ``P`` in between, where
    the exact weight is linear in the bearing and the bearing curves only gently in ``P``. So
    it errs by at most :data:`DIRECTION_MAX_BEARING_ERROR_RAD` (1.98e-5 rad, 0.0011 degrees)
    times the largest slope ``n/(2 pi) * max_k |w[k+1] - w[k]|``, plus float32 rounding; for
    the packaged rose ``ops_2005_region5`` 2.1e-5 relative (:data:`DIRECTION_MAX_DEVIATION`
    = 2e-4 is the documented, tested bound), far below the rose's own uncertainty (12
    sectors, one meteo period). The table is 8 KB (12 sectors), so it stays in the level-1
    cache beside the kernel table: a pair costs one cached gather for its direction. A zero
    offset points north.

    Parameters
    ----------
    weights
        One positive, finite weight per sector; their mean must be 1 (within 1e-9). Use
        :meth:`from_ratios` to normalise raw ratios.
    provenance
        Where the weights come from.
    """

    weights: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)
    direction_value32: np.ndarray = field(init=False, repr=False)
    direction_step32: np.ndarray = field(init=False, repr=False)
    direction_kink32: np.ndarray = field(init=False, repr=False)
    direction_bend32: np.ndarray = field(init=False, repr=False)
    direction_packed: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        w = np.array(self.weights, dtype=np.float64).ravel()
        if w.size < 1:
            raise InputError("a wind rose needs at least one sector")
        if not (np.isfinite(w).all() and (w >= 0).all()):
            raise InputError("wind-rose weights must be finite and >= 0")
        if abs(w.mean() - 1.0) > 1e-9:
            raise InputError(
                f"wind-rose weights must have mean 1 (got {w.mean():.6g}) so that no mass is "
                "created or lost; use WindRose.from_ratios() to normalise"
            )
        w.setflags(write=False)
        object.__setattr__(self, "weights", w)
        value, step, kink, bend = self._direction_table(direction_steps_for(w.size))
        packed = np.stack((_pack32(value, step), _pack32(kink, bend)), axis=1)
        for name, arr in (
            ("direction_value32", value.astype(np.float64)),
            ("direction_step32", step.astype(np.float64)),
            ("direction_kink32", kink.astype(np.float64)),
            ("direction_bend32", bend.astype(np.float64)),
            ("direction_packed", packed),
        ):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def _direction_table(self, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """float32 value, step, sector-centre position and slope change per node of the
        direction lookup with ``m`` steps per quadrant (see the class docstring)."""
        n = self.n_sectors
        k = np.arange(4 * m + 1)
        quadrant, f = np.divmod(k, m)
        bearing = 90.0 * quadrant + np.rad2deg(np.arctan2(f / m, 1.0 - f / m))
        wk = self.weight_at_bearing(bearing)  # exact weight at the nodes P = k / M
        step = np.append(np.diff(wk), 0.0)  # P == 4 (north again): no step
        kink = np.ones(wk.size)
        bend = np.zeros(wk.size)
        # sector centre c (bearing c * 360/n, weight w[c]) at P = q + sin(a) / (sin(a) + cos(a))
        c = np.arange(n)
        q = (4 * c) // n
        a = np.deg2rad(c * (360.0 / n) - 90.0 * q)
        x = (q + np.sin(a) / (np.sin(a) + np.cos(a))) * m
        i = np.floor(x).astype(np.int64)
        t = x - i
        inside = (t > 1e-9) & (t < 1.0 - 1e-9)  # else on a node: exact already
        i, t = i[inside], t[inside]
        s = (self.weights[c[inside]] - wk[i]) / t  # slope from the node to the centre
        bend[i] = (wk[i + 1] - wk[i] - s) / (1.0 - t)  # slope change at the centre
        step[i] = s
        kink[i] = t
        f32 = np.float32
        return wk.astype(f32), step.astype(f32), kink.astype(f32), bend.astype(f32)

    @property
    def n_sectors(self) -> int:
        """Number of sectors."""
        return int(self.weights.size)

    @property
    def is_isotropic(self) -> bool:
        """True if all weights are 1."""
        return bool(np.all(self.weights == 1.0))

    @property
    def scale(self) -> float:
        """Sectors per radian, ``n / (2 pi)``."""
        return self.n_sectors / (2.0 * math.pi)

    @property
    def direction_steps(self) -> int:
        """Steps of the direction lookup per unit of the pseudo-angle (per quadrant)."""
        return direction_steps_for(self.n_sectors)

    @classmethod
    def isotropic(cls, n_sectors: int = 12) -> WindRose:
        """All weights 1."""
        return cls(np.ones(int(n_sectors)), {"name": "isotropic"})

    @classmethod
    def from_ratios(
        cls, ratios: np.ndarray | list[float], provenance: Mapping[str, Any] | None = None
    ) -> WindRose:
        """Weights ``ratios / mean(ratios)``, one per sector (sector 0 centred on north)."""
        r = np.asarray(ratios, dtype=np.float64)
        if r.size < 1 or not (np.isfinite(r).all() and (r >= 0).all()) or r.sum() <= 0:
            raise InputError("wind-rose ratios must be finite, >= 0 and not all 0")
        return cls(r / r.mean(), dict(provenance or {}))

    @classmethod
    def from_json(cls, path: str | Path) -> WindRose:
        """Read ``{"weights": [...], "provenance": {...}}`` from a JSON file."""
        obj = json.loads(Path(path).read_text("utf-8"))
        return cls.from_ratios(obj["weights"], obj.get("provenance"))

    def weight_at_bearing(self, bearing_deg: np.ndarray | float) -> np.ndarray:
        """Exact interpolated weight at bearings in degrees (0 = north, clockwise)."""
        b = np.mod(np.asarray(bearing_deg, dtype=np.float64), 360.0)
        p = b * (self.n_sectors / 360.0)
        i0f = np.floor(p)
        f = p - i0f
        i0 = i0f.astype(np.int64) % self.n_sectors
        w0 = self.weights[i0]
        return w0 + f * (self.weights[(i0 + 1) % self.n_sectors] - w0)

    def exact_weight_dxdy(self, dx_m: np.ndarray, dy_m: np.ndarray) -> np.ndarray:
        """:meth:`weight_at_bearing` of the bearing ``atan2(dx, dy)`` (the definition)."""
        return self.weight_at_bearing(np.rad2deg(np.arctan2(dx_m, dy_m)))

    def weight_dxdy(self, dx_m: np.ndarray, dy_m: np.ndarray) -> np.ndarray:
        """Weight for the direction from source to receptor, ``dx_m`` east and ``dy_m`` north.

        The engines' direction lookup (see the class docstring), operation by operation the
        NumPy twin of the Numba formula (bitwise equal values); within
        :data:`DIRECTION_MAX_DEVIATION` (2e-4) relative of :meth:`exact_weight_dxdy` for the
        packaged rose.
        """
        dx = np.asarray(dx_m, dtype=np.float64)
        dy = np.asarray(dy_m, dtype=np.float64)
        u = dx / np.maximum(np.abs(dx) + np.abs(dy), _TINY)
        p = np.where(dy < 0.0, 2.0 - u, np.where(u < 0.0, 4.0 + u, u))
        x = p * float(self.direction_steps)
        i = x.astype(np.int64)
        g = x - i.astype(np.float64)
        linear = self.direction_value32[i] + g * self.direction_step32[i]
        return linear + np.maximum(g - self.direction_kink32[i], 0.0) * self.direction_bend32[i]


def default_kernel() -> RadialKernel:
    """The packaged default kernel (OPS-LT v5.3.1.0 fit, 5 m source, grass, z0 = 0.1 m).

    Table ``data/default_kernel.csv``, provenance ``data/default_kernel.json`` (written by
    ``tools/fit_kernel.py``).
    """
    files = resources.files(_DATA).joinpath("data")
    prov = json.loads(files.joinpath("default_kernel.json").read_text("utf-8"))
    with resources.as_file(files.joinpath("default_kernel.csv")) as p:
        k = RadialKernel.from_csv(p, value_col="deposition_mol_ha_per_kg", provenance=prov)
    k.provenance["file"] = "n2kzones/deposition/data/default_kernel.csv"
    return k


def load_wind_rose(name: str = "ops_2005_region5") -> WindRose:
    """A packaged wind rose by name (``data/wind_rose_<name>.json``).

    ``ops_2005_region5``: 12 sectors, direction ratios of the OPS-LT v5.3.1.0 reference runs
    (meteo 2005, region 5), normalised to mean 1.
    """
    files = resources.files(_DATA).joinpath("data")
    res = files.joinpath(f"wind_rose_{name}.json")
    if not res.is_file():
        known = sorted(
            p.name[len("wind_rose_") : -len(".json")]
            for p in files.iterdir()
            if p.name.startswith("wind_rose_") and p.name.endswith(".json")
        )
        raise InputError(f"no packaged wind rose {name!r}; known: {known}")
    obj = json.loads(res.read_text("utf-8"))
    return WindRose.from_ratios(obj["weights"], obj.get("provenance"))
