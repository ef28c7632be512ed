"""Deposition engines: known answers, mass balance, engine agreement, attribution, bad input."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from n2kzones.deposition import (
    HECTARE_DISC_RADIUS_M,
    GridSpec,
    RadialKernel,
    WindRose,
    default_kernel,
    deposition_at_points,
    deposition_on_grid,
    load_wind_rose,
)
from n2kzones.errors import GridTooLargeError, InputError

MOL_PER_KG = 58.7
#: Documented FFT tolerance: p99 relative error over cells with deposition >= 1e-3 of the max.
FFT_P99_TOL = 0.02


@pytest.fixture(scope="module")
def kernel() -> RadialKernel:
    return default_kernel()


@pytest.fixture(scope="module")
def rose() -> WindRose:
    return load_wind_rose()


@pytest.fixture(scope="module")
def farms() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """400 farms with lognormal emissions in a 12 x 10 km box around a 10 x 8 km grid."""
    rng = np.random.default_rng(42)
    n = 400
    x = rng.uniform(149_000.0, 161_000.0, n)
    y = rng.uniform(379_000.0, 389_000.0, n)
    e = rng.lognormal(math.log(600.0), 1.0, n)
    g = rng.integers(0, 3, n)
    return x, y, e, g


@pytest.fixture(scope="module")
def receptors() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.uniform(148_000.0, 162_000.0, 700), rng.uniform(378_000.0, 390_000.0, 700)


GRID = GridSpec(150_000.0, 380_000.0, 100.0, 100, 80)


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    nz = np.abs(b) > 0
    assert np.array_equal(a == 0, b == 0)
    return float(np.max(np.abs(a[nz] - b[nz]) / np.abs(b[nz]))) if nz.any() else 0.0


# -- known answers ------------------------------------------------------------------------------
def test_single_source_on_grid_matches_kernel_by_hand(kernel: RadialKernel) -> None:
    d, v = kernel.distance_m, kernel.deposition_mol_ha_per_kg
    grid = GridSpec(0.0, 0.0, 100.0, 61, 61)  # source at the centre of cell (30, 30)
    dep = deposition_on_grid([3050.0], [3050.0], [1000.0], kernel, grid)
    for row, col in [(30, 33), (20, 30), (30, 60), (0, 0), (26, 27)]:  # east, north, ..
        dx = (col - 30) * 100.0
        dy = (30 - row) * 100.0
        r = math.hypot(dx, dy)
        i = int(np.searchsorted(d, r)) - 1
        t = math.log(r / d[i]) / math.log(d[i + 1] / d[i])
        k = math.exp((1 - t) * math.log(v[i]) + t * math.log(v[i + 1]))
        assert dep[row, col] == pytest.approx(1000.0 * k, rel=1e-4), (row, col)
    # the source's own cell holds the cell average, not the point value
    assert dep[30, 30] == pytest.approx(1000.0 * kernel.cell_average(100.0), rel=1e-4)


def test_point_receptor_near_source_uses_disc_average(kernel: RadialKernel) -> None:
    e = 1000.0
    near = deposition_at_points([0.0], [0.0], [e], [10.0, 40.0, 60.0], [0.0, 0.0, 0.0], kernel)
    k_disc = kernel.disc_average(HECTARE_DISC_RADIUS_M)
    np.testing.assert_allclose(near[:2], e * k_disc, rtol=1e-6)
    assert near[2] == pytest.approx(e * kernel(60.0), rel=1e-4)
    point = deposition_at_points([0.0], [0.0], [e], [40.0], [0.0], kernel, receptor_radius_m=0.0)
    assert point[0] == pytest.approx(e * kernel(40.0), rel=1e-4)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_mass_balance_on_large_grid(kernel: RadialKernel, method: str) -> None:
    cutoff = 5000.0
    grid = GridSpec(0.0, 0.0, 50.0, 203, 203)  # 10.15 km square, source in the centre cell
    e = 1000.0
    dep = deposition_on_grid([5075.0], [5075.0], [e], kernel, grid, cutoff_m=cutoff, method=method)
    deposited_kg = dep.sum() * grid.cell_area_ha / MOL_PER_KG
    assert deposited_kg / e == pytest.approx(kernel.deposited_fraction(cutoff), rel=0.01)


def test_isotropic_symmetry(kernel: RadialKernel) -> None:
    grid = GridSpec(0.0, 0.0, 100.0, 41, 41)
    for method in ("direct", "fft"):
        dep = deposition_on_grid(
            [2050.0], [2050.0], [700.0], kernel, grid, method=method, wind_rose=WindRose.isotropic()
        )
        np.testing.assert_allclose(dep, dep[::-1, :], rtol=1e-12, atol=1e-12 * dep.max())
        np.testing.assert_allclose(dep, dep[:, ::-1], rtol=1e-12, atol=1e-12 * dep.max())
        np.testing.assert_allclose(dep, dep.T, rtol=1e-12, atol=1e-12 * dep.max())
    plain = deposition_on_grid([2050.0], [2050.0], [700.0], kernel, grid)
    np.testing.assert_array_equal(
        plain,
        deposition_on_grid(
            [2050.0], [2050.0], [700.0], kernel, grid, wind_rose=WindRose.isotropic()
        ),
    )


def test_wind_rose_direction_convention(kernel: RadialKernel, rose: WindRose) -> None:
    r = 1000.0
    # receptors N, E, S, W and NNE (30 deg) of a source at the origin
    rx = np.array([0.0, r, 0.0, -r, r * math.sin(math.radians(30))])
    ry = np.array([r, 0.0, -r, 0.0, r * math.cos(math.radians(30))])
    for engine in ("numba", "numpy"):
        dep = deposition_at_points(
            [0.0], [0.0], [1.0], rx, ry, kernel, wind_rose=rose, engine=engine
        )
        expected = kernel(r) * rose.weights[[0, 3, 6, 9, 1]]
        np.testing.assert_allclose(dep, expected, rtol=1e-4)
    # grid / FFT: the anisotropic kernel image is oriented the same way (row 0 = north)
    grid = GridSpec(0.0, 0.0, 100.0, 41, 41)
    for method in ("direct", "fft"):
        dep = deposition_on_grid(
            [2050.0], [2050.0], [1.0], kernel, grid, wind_rose=rose, method=method
        )
        north, east, south = dep[10, 20], dep[20, 30], dep[30, 20]
        assert north / south == pytest.approx(rose.weights[0] / rose.weights[6], rel=1e-3)
        assert east / north == pytest.approx(rose.weights[3] / rose.weights[0], rel=1e-3)


def test_wind_rose_preserves_mass(kernel: RadialKernel, rose: WindRose) -> None:
    grid = GridSpec(0.0, 0.0, 50.0, 161, 161)
    kw = {"cutoff_m": 3000.0}
    iso = deposition_on_grid([4025.0], [4025.0], [1.0], kernel, grid, **kw)
    aniso = deposition_on_grid([4025.0], [4025.0], [1.0], kernel, grid, wind_rose=rose, **kw)
    assert aniso.sum() == pytest.approx(iso.sum(), rel=2e-3)
    assert not np.allclose(aniso, iso)


def test_superposition_and_linearity(kernel: RadialKernel, farms, receptors) -> None:
    x, y, e, _ = farms
    rx, ry = receptors
    half = x.size // 2
    whole = deposition_at_points(x, y, e, rx, ry, kernel)
    a = deposition_at_points(x[:half], y[:half], e[:half], rx, ry, kernel)
    b = deposition_at_points(x[half:], y[half:], e[half:], rx, ry, kernel)
    np.testing.assert_allclose(a + b, whole, rtol=1e-12)
    np.testing.assert_allclose(
        deposition_at_points(x, y, 2.5 * e, rx, ry, kernel), 2.5 * whole, rtol=1e-12
    )
    fa = deposition_on_grid(
        x[:half], y[:half], e[:half], kernel, GRID, method="fft", cutoff_m=4000.0
    )
    fb = deposition_on_grid(
        x[half:], y[half:], e[half:], kernel, GRID, method="fft", cutoff_m=4000.0
    )
    fw = deposition_on_grid(x, y, e, kernel, GRID, method="fft", cutoff_m=4000.0)
    np.testing.assert_allclose(fa + fb, fw, rtol=1e-9, atol=1e-12 * fw.max())


# -- engine agreement ---------------------------------------------------------------------------
CONFIGS = [
    {},
    {"cutoff_m": 3000.0},
    {"wind_rose": "ops"},
    {"groups": True},
    {"groups": True, "wind_rose": "ops", "cutoff_m": 2500.0},
    {"receptor_radius_m": 0.0},
]


def _kw(cfg: dict, rose: WindRose, groups: np.ndarray) -> dict:
    kw = dict(cfg)
    if kw.get("wind_rose") == "ops":
        kw["wind_rose"] = rose
    if kw.pop("groups", False):
        kw["groups"] = groups
    return kw


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(c) or "plain")
def test_numba_matches_numpy_reference(kernel, rose, farms, receptors, cfg) -> None:
    x, y, e, g = farms
    rx, ry = receptors
    kw = _kw(cfg, rose, g)
    fast = deposition_at_points(x, y, e, rx, ry, kernel, **kw)
    ref = deposition_at_points(x, y, e, rx, ry, kernel, engine="numpy", **kw)
    assert fast.shape == ref.shape == ((3, rx.size) if "groups" in kw else (rx.size,))
    assert max_rel(fast, ref) <= 1e-9


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(c) or "plain")
def test_parallel_equals_serial_bitwise(kernel, rose, farms, receptors, cfg) -> None:
    x, y, e, g = farms
    rx, ry = receptors
    kw = _kw(cfg, rose, g)
    par = deposition_at_points(x, y, e, rx, ry, kernel, parallel=True, **kw)
    ser = deposition_at_points(x, y, e, rx, ry, kernel, parallel=False, **kw)
    assert np.array_equal(par, ser)


def test_grid_direct_engines_agree(kernel, farms) -> None:
    x, y, e, _ = farms
    grid = GridSpec(152_000.0, 382_000.0, 250.0, 24, 20)
    fast = deposition_on_grid(x, y, e, kernel, grid, cutoff_m=4000.0)
    ref = deposition_on_grid(x, y, e, kernel, grid, cutoff_m=4000.0, engine="numpy")
    assert max_rel(fast, ref) <= 1e-9
    assert np.array_equal(
        fast, deposition_on_grid(x, y, e, kernel, grid, cutoff_m=4000.0, parallel=False)
    )


def test_cutoff_drops_exactly_the_far_pairs(kernel) -> None:
    # sources at exactly 5 km (3-4-5 triangle: kept) and just beyond (dropped)
    sx = np.array([3000.0, 0.0, 0.0, 100.0, -4000.0])
    sy = np.array([4000.0, 5000.001, -5000.0, 0.0, -3000.0])
    e = np.array([1.0, 10.0, 100.0, 1000.0, 10_000.0])
    keep = np.array([True, False, True, True, True])
    for engine in ("numba", "numpy"):
        cut = deposition_at_points(sx, sy, e, [0.0], [0.0], kernel, cutoff_m=5000.0, engine=engine)
        full = deposition_at_points(
            sx[keep], sy[keep], e[keep], [0.0], [0.0], kernel, engine=engine
        )
        assert cut[0] == pytest.approx(full[0], rel=1e-12)


def test_cutoff_matches_per_receptor_filtering(kernel, farms, receptors) -> None:
    x, y, e, _ = farms
    rx, ry = receptors[0][:40], receptors[1][:40]
    cut = deposition_at_points(x, y, e, rx, ry, kernel, cutoff_m=2000.0)
    for i in range(rx.size):
        near = np.hypot(x - rx[i], y - ry[i]) <= 2000.0
        expected = deposition_at_points(
            x[near], y[near], e[near], rx[i : i + 1], ry[i : i + 1], kernel
        )
        assert cut[i] == pytest.approx(expected[0] if near.any() else 0.0, rel=1e-12, abs=0.0)


# -- FFT ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("use_rose", [False, True])
def test_fft_within_documented_tolerance(kernel, rose, farms, use_rose) -> None:
    x, y, e, _ = farms
    kw = {"cutoff_m": 4000.0, "wind_rose": rose if use_rose else None}
    direct = deposition_on_grid(x, y, e, kernel, GRID, **kw)
    fft = deposition_on_grid(x, y, e, kernel, GRID, method="fft", **kw)
    mask = direct >= 1e-3 * direct.max()
    rel = np.abs(fft[mask] / direct[mask] - 1)
    assert mask.mean() > 0.9
    assert np.percentile(rel, 99) <= FFT_P99_TOL
    assert fft.sum() == pytest.approx(direct.sum(), rel=0.005)
    # pure cloud-in-cell (no near-field correction) is clearly worse: the correction matters
    cic = deposition_on_grid(x, y, e, kernel, GRID, method="fft", fft_near_cells=0, **kw)
    assert np.percentile(np.abs(cic[mask] / direct[mask] - 1), 99) > 2 * np.percentile(rel, 99)


def test_fft_without_cutoff_and_outside_sources(kernel, farms, caplog) -> None:
    x, y, e, _ = farms
    m = 50.0  # without a pad, the FFT path places sources up to half a cell outside the grid
    inside = (
        (x >= GRID.x_min - m)
        & (x <= GRID.x_max + m)
        & (y >= GRID.y_min - m)
        & (y <= GRID.y_max + m)
    )
    direct = deposition_on_grid(x[inside], y[inside], e[inside], kernel, GRID)
    fft = deposition_on_grid(x[inside], y[inside], e[inside], kernel, GRID, method="fft")
    assert np.percentile(np.abs(fft / direct - 1), 99) <= FFT_P99_TOL
    with pytest.raises(
        InputError, match=r"sources \(.* kg NH3/yr\) lie more than 50 m outside the grid"
    ):
        deposition_on_grid(x, y, e, kernel, GRID, method="fft")
    with caplog.at_level(logging.WARNING, logger="n2kzones.deposition.fft"):
        dropped = deposition_on_grid(x, y, e, kernel, GRID, method="fft", outside_sources="drop")
    assert f"dropped {int((~inside).sum())} sources" in caplog.text
    np.testing.assert_allclose(dropped, fft, rtol=1e-9, atol=1e-12 * fft.max())
    padded = deposition_on_grid(x, y, e, kernel, GRID, method="fft", fft_pad_m=2000.0)
    full = deposition_on_grid(x, y, e, kernel, GRID)
    assert np.percentile(np.abs(padded / full - 1), 99) <= FFT_P99_TOL


def test_direct_counts_sources_far_outside_grid(kernel) -> None:
    grid = GridSpec(0.0, 0.0, 100.0, 5, 5)
    far = deposition_on_grid([50_000.0], [0.0], [1000.0], kernel, grid)
    assert far.min() > 0  # no cut-off: still contributes
    assert (
        deposition_on_grid([50_000.0], [0.0], [1000.0], kernel, grid, cutoff_m=25_000.0).max()
        == 0.0
    )
    fft = deposition_on_grid(
        [50_000.0], [0.0], [1000.0], kernel, grid, method="fft", cutoff_m=25_000.0
    )
    assert fft.max() == 0.0  # beyond the cut-off from every cell: skipped exactly


# -- attribution --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_groups_sum_to_total_and_match_separate_runs(kernel, rose, farms, method) -> None:
    x, y, e, g = farms
    kw = {"cutoff_m": 3000.0, "wind_rose": rose, "method": method}
    total = deposition_on_grid(x, y, e, kernel, GRID, **kw)
    split = deposition_on_grid(x, y, e, kernel, GRID, groups=g, n_groups=4, **kw)
    assert split.shape == (4, GRID.n_rows, GRID.n_cols)
    np.testing.assert_allclose(split.sum(axis=0), total, rtol=1e-9, atol=1e-12 * total.max())
    assert split[3].max() == 0.0  # empty group
    for k in range(3):
        m = g == k
        alone = deposition_on_grid(x[m], y[m], e[m], kernel, GRID, **kw)
        np.testing.assert_allclose(split[k], alone, rtol=1e-9, atol=1e-12 * total.max())


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"e": [1.0, np.nan]}, "emission_kg_nh3 has 1 NaN"),
        ({"e": [1.0, -2.0]}, r"emission_kg_nh3 must be finite and >= 0 kg NH3/yr.*index 1: -2"),
        ({"x": [np.nan, 0.0]}, "source_x_m has 1 NaN or infinite.*EPSG:28992"),
        ({"rx": [np.inf]}, "receptor_x_m has 1 NaN"),
        ({"e": [1.0]}, "equal length"),
        ({"engine": "cuda"}, r"engine='cuda' is not allowed; choose one of 'numba', 'numpy'"),
        ({"cutoff_m": -5.0}, "cutoff_m must be None or a finite number > 0 m"),
        ({"groups": [0, 2], "n_groups": 2}, r"groups must lie in 0..1"),
        ({"groups": [0.0, 1.0]}, "groups must be integers"),
        ({"n_groups": 2}, "n_groups was given without groups"),
        ({"kernel": "default"}, "kernel must be a RadialKernel"),
        ({"receptor_radius_m": -1.0}, "receptor_radius_m must be a finite number >= 0 m"),
    ],
)
def test_bad_point_inputs(kernel, change: dict, match: str) -> None:
    args = {
        "x": [0.0, 100.0],
        "y": [0.0, 0.0],
        "e": [1.0, 2.0],
        "rx": [500.0],
        "ry": [0.0],
        "kernel": kernel,
    }
    args.update(change)
    kw = {k: args.pop(k) for k in list(args) if k not in ("x", "y", "e", "rx", "ry", "kernel")}
    with pytest.raises(InputError, match=match):
        deposition_at_points(
            args["x"], args["y"], args["e"], args["rx"], args["ry"], args["kernel"], **kw
        )


def test_bad_grid_inputs(kernel) -> None:
    with pytest.raises(InputError, match=r"method='exact' is not allowed"):
        deposition_on_grid([0.0], [0.0], [1.0], kernel, GRID, method="exact")
    with pytest.raises(InputError, match="grid must be a GridSpec"):
        deposition_on_grid([0.0], [0.0], [1.0], kernel, (0, 0, 100, 5, 5))
    with pytest.raises(InputError, match="outside_sources"):
        deposition_on_grid(
            [0.0], [0.0], [1.0], kernel, GRID, method="fft", outside_sources="ignore"
        )
    with pytest.raises(GridTooLargeError, match=r"GiB.*coarser cell"):
        deposition_on_grid([0.0], [0.0], [1.0], kernel, GRID, memory_budget_gib=1e-4)
    with pytest.raises(GridTooLargeError, match="FFT deposition"):
        deposition_on_grid([0.0], [0.0], [1.0], kernel, GRID, method="fft", memory_budget_gib=1e-3)


def test_empty_inputs(kernel) -> None:
    assert deposition_at_points([], [], [], [0.0, 1.0], [0.0, 1.0], kernel).tolist() == [0.0, 0.0]
    assert deposition_at_points([0.0], [0.0], [1.0], [], [], kernel).shape == (0,)
    for method in ("direct", "fft"):
        assert deposition_on_grid([], [], [], kernel, GRID, method=method).max() == 0.0


@pytest.mark.parametrize("use_rose", [False, True])
def test_numba_pair_value_is_bitwise_the_numpy_twin(kernel, rose, use_rose) -> None:
    """The per-pair value (kernel lookup x direction lookup) is the same float in both."""
    from n2kzones.deposition import _numba
    from n2kzones.deposition.maxima import _PairModel

    rng = np.random.default_rng(11)
    n = 20_000
    r = np.geomspace(1.0, 3.0e4, n)
    t = rng.uniform(0.0, 2 * np.pi, n)
    dx = np.concatenate((r * np.sin(t), [0.0, 10.0, -10.0, 0.0, 0.0]))
    dy = np.concatenate((r * np.cos(t), [10.0, 0.0, 0.0, -10.0, 0.0]))
    wr = rose if use_rose else None
    model = _PairModel.build(kernel, 3.0e4, wr, 2.0e4, 0.0)
    pair = (
        _numba.pack_lookup(model.lookup),
        _numba.pack_near(model.s_near_m2, model.k_near, model.c2_m2),
        _numba.pack_rose(wr),
    )
    fast = np.array([_numba.pair_value(a, b, pair) for a, b in zip(dx, dy, strict=True)])
    assert np.array_equal(fast, model.values_reference(dx, dy))
    assert np.array_equal(model.values(dx, dy), model.values_reference(dx, dy))  # the maxima's path
