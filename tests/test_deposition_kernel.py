"""Kernel, lookup table, wind rose and grid: known answers and input validation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from n2kzones.deposition import (
    HECTARE_DISC_RADIUS_M,
    GridSpec,
    RadialKernel,
    WindRose,
    default_kernel,
    load_wind_rose,
)
from n2kzones.errors import GridTooLargeError, InputError

MOL_PER_KG = 58.7


@pytest.fixture(scope="module")
def kernel() -> RadialKernel:
    return default_kernel()


def power_kernel(b: float = -2.0) -> RadialKernel:
    """K = 100 * r**b (r in m) tabulated from 1 m to 1000 km: log-log interpolation is exact."""
    r = np.geomspace(1.0, 1.0e6, 25)
    return RadialKernel(r, 100.0 * r**b, monotone_from_m=0.0)


# -- RadialKernel ---------------------------------------------------------------------------
def test_loglog_interpolation_by_hand(kernel: RadialKernel) -> None:
    d, v = kernel.distance_m, kernel.deposition_mol_ha_per_kg
    i = int(np.searchsorted(d, 1000.0)) - 1  # row at or below 1000 m
    r = 0.5 * (d[i] + d[i + 1])
    t = math.log(r / d[i]) / math.log(d[i + 1] / d[i])
    by_hand = math.exp((1 - t) * math.log(v[i]) + t * math.log(v[i + 1]))
    assert kernel(r) == pytest.approx(by_hand, rel=1e-12)
    assert kernel(d[5]) == pytest.approx(v[5], rel=1e-12)


def test_hold_below_and_extrapolate_beyond(kernel: RadialKernel) -> None:
    d, v = kernel.distance_m, kernel.deposition_mol_ha_per_kg
    np.testing.assert_allclose(kernel([0.0, 1.0, d[0]]), v[0], rtol=1e-14)
    b = math.log(v[-1] / v[-2]) / math.log(d[-1] / d[-2])
    assert kernel.tail_log_slope == pytest.approx(b)
    assert kernel(2 * d[-1]) == pytest.approx(v[-1] * 2**b, rel=1e-12)


def test_ring_integral_of_power_law_is_analytic() -> None:
    k = power_kernel(-1.5)
    # F(R) = K0 r0^2/2 + int_1^R 100 r^-0.5 dr = 50 + 200 (sqrt(R) - 1)
    for r_max in (0.5, 1.0, 10.0, 12345.0, 2.0e6):
        expected = 100.0 * r_max**2 / 2 if r_max <= 1 else 50.0 + 200.0 * (math.sqrt(r_max) - 1.0)
        assert k.ring_integral(r_max) == pytest.approx(expected, rel=1e-12)


def test_deposited_fraction_matches_numerical_integral(kernel: RadialKernel) -> None:
    r = np.linspace(0.0, 30_000.0, 600_001)
    f = np.trapezoid(kernel(r) * r, r) * 2 * math.pi / 1.0e4 / MOL_PER_KG
    assert kernel.deposited_fraction(30_000.0) == pytest.approx(f, rel=1e-6)
    assert kernel.deposited_fraction(0.0) == 0.0


def test_cell_and_disc_averages(kernel: RadialKernel) -> None:
    for cell in (100.0, 250.0):
        n = 1200
        c = (np.arange(n) + 0.5) / n * cell - cell / 2
        xx, yy = np.meshgrid(c, c)
        brute = kernel(np.hypot(xx, yy)).mean()
        assert kernel.cell_average(cell) == pytest.approx(brute, rel=2e-5)
    # inside the constant region the averages equal the first value
    assert kernel.cell_average(10.0) == pytest.approx(kernel.deposition_mol_ha_per_kg[0], rel=1e-12)
    # disc: 2 F(R) / R^2, i.e. the area mean over the disc
    r = np.linspace(0, HECTARE_DISC_RADIUS_M, 200_001)
    disc = np.trapezoid(kernel(r) * 2 * r, r) / HECTARE_DISC_RADIUS_M**2
    assert kernel.disc_average(HECTARE_DISC_RADIUS_M) == pytest.approx(disc, rel=1e-7)
    assert kernel.disc_average(0.0) == kernel.deposition_mol_ha_per_kg[0]


def test_default_kernel_provenance(kernel: RadialKernel) -> None:
    p = kernel.provenance
    assert "OPS-LT v5.3.1.0" in p["model"]
    assert p["source_height_m"] == 5.0 and p["receptor_landuse"] == "grass" and p["z0_m"] == 0.1
    assert "2005" in p["meteo"] and "region 5" in p["meteo"]
    assert p["fitting_script"] == "tools/fit_kernel.py"
    assert p["fit"]["worst_relative_difference_100m_20km"] < 0.2


@pytest.mark.parametrize(
    ("distance", "value", "match"),
    [
        ([10, 20, 20, 40], [3, 2, 1, 0.5], "does not increase"),
        ([10, 20, 15, 40], [3, 2, 1, 0.5], "does not increase"),
        ([10, 20, 100, 400], [3, 2, 1, 0.5], "gap from 20 m to 100 m"),
        ([10, 20, 40, 80], [3, 2, -1, 0.5], "row 2"),
        ([10, 20, 40, 80], [3, np.nan, 1, 0.5], "finite and > 0"),
        ([0, 20, 40, 80], [3, 2, 1, 0.5], "row 0: distance 0"),
        ([50, 100, 200, 400], [3, 2, 2.5, 1.0], "row 2.*rises from 2 at 100 m"),
        ([10], [1.0], "at least 2 rows"),
    ],
)
def test_bad_tables_raise_naming_the_row(distance: list, value: list, match: str) -> None:
    with pytest.raises(InputError, match=match):
        RadialKernel(distance, value)


def test_rise_below_monotone_distance_is_allowed() -> None:
    k = RadialKernel([10, 25, 50, 100, 200], [1.0, 3.0, 2.0, 1.0, 0.5])
    assert k(25.0) == pytest.approx(3.0)


def test_from_csv_plain_and_ops_style(tmp_path: Path) -> None:
    plain = tmp_path / "k.csv"
    plain.write_text(
        "distance_m,deposition_mol_ha_per_kg\n10,0.2\n30,0.15\n100,0.1\n300,0.01\n1000,0.003\n"
    )
    k = RadialKernel.from_csv(plain, provenance={"name": "mine"})
    assert k(100.0) == pytest.approx(0.1) and k.provenance["name"] == "mine"
    ops = tmp_path / "ops.csv"
    ops.write_text(
        "source_height_m,distance_m,emission_kg_nh3_per_yr,deposition_mol_n_per_ha_per_yr\n"
        "5,30,1000,200\n5,100,1000,100\n5,300,1000,10\n5,1000,1000,3\n8,30,1000,1\n8,100,1000,1\n"
    )
    k = RadialKernel.from_csv(ops, where={"source_height_m": 5})
    assert k(1000.0) == pytest.approx(0.003)  # divided by the 1000 kg emission
    assert k.provenance["selection"] == {"source_height_m": 5}
    with pytest.raises(InputError, match="does not increase"):  # both heights mixed
        RadialKernel.from_csv(ops)
    with pytest.raises(InputError, match="no column 'value'"):
        RadialKernel.from_csv(plain, value_col="value")
    with pytest.raises(InputError, match="does not exist"):
        RadialKernel.from_csv(tmp_path / "missing.csv")


# -- lookup table ---------------------------------------------------------------------------
def test_lookup_error_against_exact_kernel(kernel: RadialKernel) -> None:
    lu = kernel.lookup(300_000.0)
    assert lu.max_distance_m >= 300_000.0
    err = lu.max_relative_error(kernel)
    assert err < 1e-4  # documented: 5.7e-5 for the default kernel with 8 mantissa bits
    r = np.random.default_rng(0).uniform(0, 300_000.0, 100_000)
    assert np.max(np.abs(lu(r) / kernel(r) - 1)) <= err * 1.01
    coarse = kernel.lookup(300_000.0, mantissa_bits=6).max_relative_error(kernel)
    assert coarse > err  # more bits, smaller error: the table resolution matters


def test_lookup_of_power_law_second_order() -> None:
    k = power_kernel(-2.0)  # exactly K = 100/s in s = r^2: linear interpolation error ~ (ds/s)^2/4
    lu = k.lookup(1.0e5)
    r = np.geomspace(1.0, 1.0e5, 50_001)
    err = np.max(np.abs(lu(r) / k(r) - 1))
    assert 1e-7 < err < 2.0**-16 / 4 * 1.1 + 1e-7  # float32 storage adds ~1e-7


def test_lookup_clamps_at_zero_and_table_end(kernel: RadialKernel) -> None:
    lu = kernel.lookup(1000.0)
    assert lu(0.0) == pytest.approx(kernel.deposition_mol_ha_per_kg[0], rel=1e-7)
    assert np.isfinite(lu(1.0e9))


# -- wind rose ------------------------------------------------------------------------------
def test_wind_rose_mean_and_interpolation() -> None:
    rose = WindRose.from_ratios([2.0, 1.0, 1.0, 0.0])  # 4 sectors: N, E, S, W
    np.testing.assert_allclose(rose.weights, [2.0, 1.0, 1.0, 0.0])
    assert rose.weight_at_bearing(0.0) == pytest.approx(2.0)
    assert rose.weight_at_bearing(45.0) == pytest.approx(1.5)  # linear between N and E
    assert rose.weight_at_bearing(315.0) == pytest.approx(1.0)  # between W (0) and N (2)
    assert rose.weight_dxdy(np.array([1.0]), np.array([0.0]))[0] == pytest.approx(1.0)  # due east
    # circular mean of the interpolated weight is exactly the mean of the weights
    b = np.arange(3600) / 10.0
    assert rose.weight_at_bearing(b).mean() == pytest.approx(1.0, abs=1e-12)


def test_wind_rose_validation() -> None:
    with pytest.raises(InputError, match="mean 1"):
        WindRose(np.array([1.0, 2.0]))
    with pytest.raises(InputError, match="finite"):
        WindRose.from_ratios([1.0, -1.0])
    assert WindRose.isotropic(12).is_isotropic


def test_packaged_wind_rose() -> None:
    rose = load_wind_rose("ops_2005_region5")
    assert rose.n_sectors == 12
    assert rose.weights.mean() == pytest.approx(1.0, abs=1e-12)
    assert int(np.argmax(rose.weights)) == 1  # NNE (30 deg): downwind of the prevailing SW wind
    assert "OPS-LT v5.3.1.0" in rose.provenance["model"]
    with pytest.raises(InputError, match="known"):
        load_wind_rose("nowhere")


def test_packaged_data_files_are_consistent() -> None:
    from importlib import resources

    files = resources.files("n2kzones.deposition").joinpath("data")
    prov = json.loads(files.joinpath("default_kernel.json").read_text("utf-8"))
    k = default_kernel()
    frac = prov["fit"]["deposited_fraction"]
    assert k.deposited_fraction(5000.0) == pytest.approx(frac["5000"], rel=1e-6)  # CSV: 8 digits


# -- grid -----------------------------------------------------------------------------------
def test_gridspec_from_bounds_snaps_outward() -> None:
    g = GridSpec.from_bounds((155_030.0, 385_010.0, 155_260.0, 385_200.0), 100.0)
    assert (g.x_min, g.y_min, g.x_max, g.y_max) == (155_000.0, 385_000.0, 155_300.0, 385_200.0)
    assert g.shape == (2, 3)
    x, y = g.cell_centres()
    np.testing.assert_array_equal(x, [155_050.0, 155_150.0, 155_250.0])
    np.testing.assert_array_equal(y, [385_150.0, 385_050.0])  # row 0 = north
    assert g.transform * (0, 0) == (155_000.0, 385_200.0)
    px, py = g.cell_centre_points()
    assert (px[3], py[3]) == (155_050.0, 385_050.0)
    assert GridSpec.from_bounds((0.0, 0.0, 0.0, 0.0), 10.0).shape == (1, 1)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.0, 0.0, 100.0, 0, 5), "n_cols must be an integer >= 1"),
        ((0.0, 0.0, 100.0, 5, 0), "n_rows"),
        ((50.0, 0.0, 100.0, 5, 5), "not a multiple of the cell size"),
        ((0.0, 0.0, -1.0, 5, 5), "cell_m"),
    ],
)
def test_gridspec_validation(args: tuple, match: str) -> None:
    with pytest.raises(InputError, match=match):
        GridSpec(*args)


def test_grid_memory_guard_message() -> None:
    g = GridSpec(0.0, 300_000.0, 1.0, 200_000, 240_000)
    with pytest.raises(GridTooLargeError, match=r"48,000,000,000 cells.*GiB.*coarser cell.*Dask"):
        g.check_memory(24.0, memory_budget_gib=4.0)
    with pytest.raises(MemoryError):
        g.check_memory(24.0)
    GridSpec(0.0, 0.0, 100.0, 10, 10).check_memory(24.0, memory_budget_gib=1e-3)


def test_write_geotiff_atomic_float32(tmp_path: Path) -> None:
    import rasterio

    g = GridSpec(150_000.0, 380_000.0, 100.0, 3, 2)
    arr = np.array([[1.0, 2.0, np.nan], [4.0, 5.0, 6.0]])
    out = g.write_geotiff(tmp_path / "sub" / "dep.tif", arr, nodata=-9999.0)
    assert sorted(p.name for p in out.parent.iterdir()) == ["dep.tif"]  # no temp file left
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 28992
        assert src.dtypes[0] == "float32"
        assert src.transform == g.transform
        data = src.read(1)
    assert data[0, 2] == -9999.0 and data[1, 1] == 5.0
    with pytest.raises(FileExistsError, match="overwrite=True"):
        g.write_geotiff(out, arr)
    g.write_geotiff(out, arr * 2, overwrite=True)
    with pytest.raises(InputError, match="does not match the grid shape"):
        g.write_geotiff(tmp_path / "bad.tif", arr.T)


def test_direction_lookup_within_documented_deviation() -> None:
    from n2kzones.deposition.kernel import (
        DIRECTION_MAX_BEARING_ERROR_RAD,
        DIRECTION_MAX_DEVIATION,
    )

    rng = np.random.default_rng(3)
    b = np.concatenate((np.linspace(0.0, 2 * np.pi, 400_001), np.deg2rad(np.arange(0, 360, 7.5))))
    r = np.geomspace(0.5, 3.0e5, b.size)
    rng.shuffle(r)
    dx, dy = r * np.sin(b), r * np.cos(b)
    rose = load_wind_rose("ops_2005_region5")
    dev = np.abs(rose.weight_dxdy(dx, dy) / rose.exact_weight_dxdy(dx, dy) - 1.0)
    assert dev.max() <= DIRECTION_MAX_DEVIATION
    assert dev.max() > 0.0  # an approximation, not atan2
    for n in (3, 8, 36, 200):  # any rose (200 sectors: 256 steps): bound from the bearing error
        other = WindRose.from_ratios(rng.uniform(0.2, 3.0, n))
        steps = np.abs(np.diff(np.append(other.weights, other.weights[0])))
        bound = DIRECTION_MAX_BEARING_ERROR_RAD * n / (2 * np.pi) * steps.max()
        err = np.abs(other.weight_dxdy(dx, dy) - other.exact_weight_dxdy(dx, dy))
        float32 = 2.0**-23 * (other.weights.max() + steps.max())  # table rounding
        assert err.max() <= bound + float32
    # axes and the zero offset
    four = WindRose.from_ratios([2.0, 1.0, 1.0, 0.0])
    ax, ay = np.array([0.0, 5.0, 0.0, -5.0, 0.0]), np.array([5.0, 0.0, -5.0, 0.0, 0.0])
    got = four.weight_dxdy(ax, ay)
    np.testing.assert_allclose(got, [2.0, 1.0, 1.0, 0.0, 2.0], atol=1e-12)


def test_direction_lookup_exact_at_sector_centres_between_nodes() -> None:
    # 3 sectors: centres at 0, 120 and 240 degrees; 120 and 240 fall inside a step of the
    # table (pseudo-angle 1.366 and 2.634, not on a node), where the weight has its kinks
    three = WindRose.from_ratios([3.0, 0.0, 0.0])
    assert three.direction_steps == 128 and three.direction_packed.shape == (4 * 128 + 1, 2)
    from n2kzones.deposition.kernel import DIRECTION_MAX_BEARING_ERROR_RAD

    b = np.deg2rad([0.0, 120.0, 240.0, 30.0, 60.0, 180.0, 300.0])
    got = three.weight_dxdy(np.sin(b), np.cos(b))
    # exact (to float32) at the centres: 3 at north, 0 at 120 and 240 degrees
    np.testing.assert_allclose(got[:3], [3.0, 0.0, 0.0], atol=1e-6)
    # linear in bearing in between, within the bound (slope 3 per 120 degrees)
    slope_per_rad = 3.0 / np.deg2rad(120.0)
    tol = DIRECTION_MAX_BEARING_ERROR_RAD * slope_per_rad + 1e-6
    np.testing.assert_allclose(got[3:], [2.25, 1.5, 0.0, 1.5], atol=tol)
    # either side of the kink at 120 degrees: slope -3/120 per degree before, 0 after
    eps = np.deg2rad([-0.05, 0.05])
    near = three.weight_dxdy(np.sin(b[1] + eps), np.cos(b[1] + eps))
    np.testing.assert_allclose(near, [0.05 * 3.0 / 120.0, 0.0], atol=tol)
    # more sectors than the minimum steps: at least one step per sector
    assert WindRose.from_ratios(np.ones(200)).direction_steps == 256
