"""Overload flags and per-area statistics on hand-computable receptors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from n2kzones.overload import (
    area_overload_table,
    flag_overload,
    positions_by_code,
    weighted_quantile,
)


def test_flags_at_the_boundaries() -> None:
    total = np.array([1000.0, 714.0, 714.1, 650.0, 644.0, 643.9])
    flags = flag_overload(total, np.full(6, 714.0), near_margin_mol_ha=70.0)
    assert flags["overload"].tolist() == [True, False, True, False, False, False]
    assert flags["near_overload"].tolist() == [True, True, True, True, False, False]
    assert np.allclose(flags["exceedance_mol_ha"], total - 714.0)


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        flag_overload(np.array([np.nan]), np.array([714.0]))


def test_weighted_quantile() -> None:
    assert weighted_quantile(np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4), 0.5) == 2.0
    assert weighted_quantile(np.array([1.0, 100.0]), np.array([0.96, 0.04]), 0.95) == 1.0
    assert weighted_quantile(np.array([1.0, 100.0]), np.array([0.94, 0.06]), 0.95) == 100.0


def test_area_table() -> None:
    rec = pd.DataFrame(
        {
            "site_code": ["A", "A", "A", "B"],
            "habitat_ha": [1.0, 0.5, 0.5, 1.0],
            "total_mol_ha": [800.0, 700.0, 600.0, 2000.0],
            "kdw_mol_ha": [714.0, 714.0, 714.0, 1071.0],
        }
    )
    rec = pd.concat([rec, flag_overload(rec["total_mol_ha"], rec["kdw_mol_ha"])], axis=1)
    t = area_overload_table(rec).set_index("site_code")
    assert t.loc["A", "sensitive_ha"] == 2.0
    assert t.loc["A", "pct_overloaded"] == pytest.approx(50.0)
    assert t.loc["A", "near_overload_ha"] == pytest.approx(1.5)
    assert t.loc["A", "mean_exceedance_mol_ha"] == pytest.approx((86 * 1 + -14 * 0.5 + -114 * 0.5) / 2)
    assert t.loc["ALL", "sensitive_ha"] == 3.0 and t.loc["ALL", "overloaded_ha"] == 2.0


def test_a_wholly_overloaded_area_is_exactly_100_percent() -> None:
    # 100 * 93507.30730635303 / 93507.30730635303 rounds to 100.00000000000001
    ha = 93507.30730635303
    assert 100 * ha / ha > 100
    rec = pd.DataFrame({"site_code": ["A"], "habitat_ha": [ha], "total_mol_ha": [900.0], "kdw_mol_ha": [714.0]})
    rec = pd.concat([rec, flag_overload(rec["total_mol_ha"], rec["kdw_mol_ha"])], axis=1)
    t = area_overload_table(rec).set_index("site_code")
    assert t.loc["A", "pct_overloaded"] == 100.0 and t.loc["A", "pct_near_overload"] == 100.0


def test_positions_by_code_are_the_masks_positions() -> None:
    """One stable sort gives per code exactly ``np.flatnonzero(codes == code)``, codes sorted."""
    codes = np.array(["B", "A", "C", "A", "B", "B", "(none)"], dtype=object)
    got = positions_by_code(codes)
    assert list(got) == ["(none)", "A", "B", "C"]
    assert {k: v.tolist() for k, v in got.items()} == {
        "(none)": [6], "A": [1, 3], "B": [0, 4, 5], "C": [2]
    }
    rng = np.random.default_rng(3)
    many = rng.choice(["NL1", "NL2", "NL10", "x"], size=1000)
    for code, pos in positions_by_code(many).items():
        np.testing.assert_array_equal(pos, np.flatnonzero(many == code))
    assert positions_by_code(np.array([], dtype=str)) == {}
