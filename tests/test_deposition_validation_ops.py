"""The default kernel and wind rose against the OPS-LT v5.3.1.0 reference runs.

Reads ``<repo>/../shared/data/reference``; every test skips where that folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from n2kzones.deposition import RadialKernel, default_kernel, deposition_at_points, load_wind_rose

REF = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "reference"
PROFILE = REF / "ops_nh3_single_source_radial_profile.csv"
DIRECTIONS = REF / "ops_nh3_single_source.csv"
CASE = {"source_height_m": 5, "receptor_landuse": "grass", "z0_m": 0.1}

pytestmark = pytest.mark.skipif(
    not (PROFILE.is_file() and DIRECTIONS.is_file()),
    reason=f"OPS reference data not found in {REF} (../shared absent)",
)


def _select(df: pd.DataFrame) -> pd.DataFrame:
    m = np.ones(len(df), dtype=bool)
    for k, v in CASE.items():
        m &= (df[k] == v).to_numpy()
    return df[m]


@pytest.fixture(scope="module")
def profile() -> pd.DataFrame:
    return _select(pd.read_csv(PROFILE)).sort_values("distance_m")


@pytest.fixture(scope="module")
def directions() -> pd.DataFrame:
    return _select(pd.read_csv(DIRECTIONS))


def test_default_kernel_within_20_percent_of_radial_profile(profile: pd.DataFrame) -> None:
    k = default_kernel()
    p = profile[(profile["distance_m"] >= 100) & (profile["distance_m"] <= 20_000)]
    ops = p["deposition_mol_n_per_ha_per_yr"].to_numpy() / p["emission_kg_nh3_per_yr"].to_numpy()
    ratio = k(p["distance_m"].to_numpy()) / ops
    assert len(p) == 60
    assert np.all(np.abs(ratio - 1) <= 0.20), dict(
        zip(p["distance_m"], ratio.round(3), strict=True)
    )
    assert np.median(np.abs(np.log(ratio))) < 0.02  # the fit is much better than the criterion


def test_default_kernel_within_20_percent_of_12_direction_mean(directions: pd.DataFrame) -> None:
    k = default_kernel()
    mean = directions.groupby("distance_m")["deposition_mol_n_per_ha_per_yr"].mean() / 1000.0
    mean = mean[(mean.index >= 100) & (mean.index <= 20_000)]
    ratio = k(mean.index.to_numpy(float)) / mean.to_numpy()
    assert len(mean) == 15
    assert np.all(np.abs(ratio - 1) <= 0.20)


def test_engine_reproduces_ops_for_a_1000_kg_source(directions: pd.DataFrame) -> None:
    """A 1000 kg NH3/yr source through the engine, at OPS's receptor positions (point values)."""
    d = directions.groupby("distance_m")["deposition_mol_n_per_ha_per_yr"].mean()
    d = d[(d.index >= 100) & (d.index <= 20_000)]
    r = d.index.to_numpy(float)
    dep = deposition_at_points(
        [155_000.0],
        [385_000.0],
        [1000.0],
        155_000.0 + r,
        np.full(r.size, 385_000.0),
        default_kernel(),
        receptor_radius_m=0.0,
    )
    assert np.all(np.abs(dep / d.to_numpy() - 1) <= 0.20)


def test_deposited_fractions_close_to_ops(profile: pd.DataFrame) -> None:
    k = default_kernel()
    cum = profile.set_index("distance_m")[
        "cumulative_fraction_of_emission_deposited_10m_to_distance"
    ]
    for r, documented in [(500.0, 0.044), (1000.0, 0.065), (5000.0, 0.134), (25_000.0, 0.253)]:
        assert cum.loc[r] == pytest.approx(documented, abs=0.0006)
        assert k.deposited_fraction(r) == pytest.approx(cum.loc[r], abs=0.002)


def test_ops_file_loads_as_kernel_with_per_kg_values(profile: pd.DataFrame) -> None:
    k = RadialKernel.from_csv(PROFILE, where=CASE)
    assert k.distance_m.size == 104
    row = profile[profile["distance_m"] == 1000.0]
    assert k(1000.0) == pytest.approx(
        float(row["deposition_mol_n_per_ha_per_yr"].iloc[0]) / 1000.0, rel=1e-9
    )
    assert k.provenance["selection"] == CASE


def test_wind_rose_reproduces_direction_ratios(directions: pd.DataFrame) -> None:
    rose = load_wind_rose("ops_2005_region5")
    sub = directions[(directions["distance_m"] >= 100) & (directions["distance_m"] <= 20_000)]
    piv = sub.pivot_table(
        index="distance_m", columns="direction_deg", values="deposition_mol_n_per_ha_per_yr"
    )
    ratios = piv.div(piv.mean(axis=1), axis=0).to_numpy()
    assert list(piv.columns) == [30 * i for i in range(12)]
    err = np.abs(np.log(ratios / rose.weights[None, :]))
    assert np.median(err) < 0.1
    # an isotropic rose would be far worse: the packaged one carries real information
    assert np.median(np.abs(np.log(ratios))) > 2 * np.median(err)
