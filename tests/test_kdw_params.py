"""The parameters' KDW per habitat code: the whole WUR 3272 table, overridable."""

from __future__ import annotations

from pathlib import Path

import pytest

from n2kzones.kdw import load_kdw_table
from n2kzones.params import load_parameters

FARMS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "real"
    / "veehouderijen-igo-n2000-zones"
    / "data.gpkg"
)


def test_every_code_of_the_report_with_a_value_is_a_parameter() -> None:
    table = load_kdw_table().dropna(subset=["kdw_mol_ha"])
    habitats = load_parameters().kdw.habitats
    assert len(table) == 97  # 98 codes, Lg01 has no value ("<2400")
    for code, name, kdw in zip(table["code"], table["name"], table["kdw_mol_ha"], strict=True):
        assert habitats[code].kdw_mol_ha == kdw and habitats[code].name == name
    assert "Lg01" not in habitats


@pytest.mark.parametrize(
    ("code", "kdw", "variants"),
    [("H3150", 2143.0, ["H3150az", "H3150baz"]), ("H2180A", 1071.0, []), ("H7120", 500.0, [])],
)
def test_type_listed_by_its_variants_takes_their_lowest(
    code: str, kdw: float, variants: list[str]
) -> None:
    table = load_kdw_table().set_index("code")["kdw_mol_ha"]
    forms = table[table.index.str.fullmatch(code + "[a-z]+")]
    assert code not in table.index and len(forms) >= 2
    assert forms.min() == kdw
    p = load_parameters().kdw
    assert p.kdw_of(code) == kdw and "lowest KDW of its variants" in p.habitats[code].name
    for v in variants:
        assert v in forms.index


def test_search_area_takes_its_types_kdw_and_overrides_win() -> None:
    p = load_parameters().kdw
    assert p.kdw_of("ZGH3130") == p.kdw_of("H3130") == 500.0
    with pytest.raises(KeyError, match="ZGH0000"):
        p.kdw_of("ZGH0000")
    own = load_parameters(
        {
            "kdw": {
                "habitats": {
                    "H4030": {"name": "Droge heiden", "kdw_mol_ha": 600.0},
                    "H9999": {"name": "Own", "kdw_mol_ha": 1000.0},
                }
            }
        }
    ).kdw
    assert (
        own.kdw_of("H4030") == 600.0
        and own.kdw_of("H9999") == 1000.0
        and own.kdw_of("H4010A") == 1071.0
    )


@pytest.mark.real_data
def test_every_habitat_type_of_the_real_farm_layer_has_its_aerius_kdw() -> None:
    if not FARMS.exists():
        pytest.skip(f"real farm layer not available here ({FARMS} is absent)")
    import pyogrio

    farms = pyogrio.read_dataframe(
        FARMS, columns=["habitat_type_name", "critical_deposition"], read_geometry=False
    )
    pairs = farms.drop_duplicates()
    p = load_parameters().kdw
    assert len(pairs) == 19
    for code, kdw in zip(pairs["habitat_type_name"], pairs["critical_deposition"], strict=True):
        assert p.kdw_of(code) == kdw, code
