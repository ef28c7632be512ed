"""The packaged KDW table of WUR report 3272 (2023): contents, agreement with the PDF and
with the KDW values AERIUS attached to the real farm layer."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from n2kzones.kdw import (
    KDW_COLUMNS,
    KINDS,
    NOT_SENSITIVE_FROM_MOL_HA,
    code_kind,
    extract_kdw_table_from_pdf,
    load_kdw_provenance,
    load_kdw_table,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL = SHARED / "data" / "real"
KDW_PDF_DIR = REAL / "kdw-wur-rapport-3272-2023"
FARMS = REAL / "veehouderijen-igo-n2000-zones" / "data.gpkg"

# The examples in shared/design/NOTES.md ("Domain facts with sources"), mol N/ha/yr.
EXAMPLES = {
    "H3130": 500,
    "H2310": 714, "H2330": 714, "H3160": 714, "H4030": 714, "H7110B": 714,
    "H6410": 786,
    "H2320": 1071, "H4010A": 1071, "H5130": 1071, "H7150": 1071, "H9120": 1071, "H9190": 1071,
    "H91D0": 1786,
    "H91E0C": 1857,
}  # fmt: skip


def _pdf() -> Path:
    pdfs = sorted(KDW_PDF_DIR.glob("*.pdf")) if KDW_PDF_DIR.is_dir() else []
    if not pdfs:
        pytest.skip(f"the WUR 3272 PDF is not available here ({KDW_PDF_DIR} is absent)")
    return pdfs[0]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return load_kdw_table()


# ------------------------------------------------------------------ (1) the table itself


def test_table_loads_with_columns_and_unique_codes(table: pd.DataFrame) -> None:
    assert list(table.columns) == KDW_COLUMNS
    assert len(table) == 98  # Tabel 4 of the report: 98 habitat types and leefgebieden
    assert table["code"].is_unique
    assert table["name"].str.len().gt(0).all()
    assert set(table["kind"]) == set(KINDS)
    assert table["kind"].value_counts().to_dict() == {
        "habitat type": 32,
        "habitat subtype": 37,
        "habitat variant": 15,
        "leefgebied": 14,
    }


def test_values_positive_and_only_lg01_without_value(table: pd.DataFrame) -> None:
    kdw = table.set_index("code")["kdw_mol_ha"]
    assert kdw[kdw.isna()].index.tolist() == ["Lg01"]  # printed "<2400": no value
    assert (kdw.dropna() > 0).all()
    assert kdw.dropna().max() <= 2429  # H91E0A, the only printed value above 2400


@pytest.mark.parametrize(("code", "kdw"), sorted(EXAMPLES.items()))
def test_known_values(table: pd.DataFrame, code: str, kdw: int) -> None:
    assert table.set_index("code").loc[code, "kdw_mol_ha"] == kdw


def test_not_sensitive_entries_stored_as_2400(table: pd.DataFrame) -> None:
    prov = load_kdw_provenance()
    bounds = prov["rules"]["entries_printed_as_bound"]
    kdw = table.set_index("code")["kdw_mol_ha"]
    above = sorted(c for c, printed in bounds.items() if printed == ">2400")
    assert len(above) == 16
    assert (kdw[above] == NOT_SENSITIVE_FROM_MOL_HA).all()
    # No sensitive value sits at 2400 by accident: only the >2400 entries equal it.
    assert sorted(kdw.index[kdw == NOT_SENSITIVE_FROM_MOL_HA]) == above
    for code in ("H1130", "H1310A", "H91E0A"):  # spot checks by hand from page 32 and 38
        assert kdw[code] == {"H1130": 2400, "H1310A": 1643, "H91E0A": 2429}[code]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("H2310", "habitat type"),
        ("H91D0", "habitat type"),
        ("H7110B", "habitat subtype"),
        ("H91E0C", "habitat subtype"),
        ("H3150baz", "habitat variant"),
        ("H2180Abe", "habitat variant"),
        ("Lg01", "leefgebied"),
    ],
)
def test_code_kind(code: str, kind: str) -> None:
    assert code_kind(code) == kind


def test_code_kind_rejects_bad_codes() -> None:
    with pytest.raises(ValueError, match="not a habitat type code"):
        code_kind("ZGH3130")


def test_provenance_names_the_source() -> None:
    prov = load_kdw_provenance()
    assert prov["report_number"] == 3272 and prov["year"] == 2023
    assert re.fullmatch(r"[0-9a-f]{64}", prov["file"]["sha256"])
    assert prov["table"]["pdf_pages"] == list(range(32, 40))
    assert prov["extraction"]["count_total"] == 98


# --------------------------------------------------------- (2) agreement with the PDF


@pytest.mark.real_data
def test_pdf_checksum_matches_provenance() -> None:
    import hashlib

    pdf = _pdf()
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() == load_kdw_provenance()["file"]["sha256"]


@pytest.mark.real_data
def test_csv_equals_fresh_table_extraction(table: pd.DataFrame) -> None:
    pytest.importorskip("pdfplumber")
    fresh, details = extract_kdw_table_from_pdf(_pdf())
    pd.testing.assert_frame_equal(fresh, table, check_exact=True)
    # The printed mol cell of every code, with the stored value it maps to.
    rule = {">2400": NOT_SENSITIVE_FROM_MOL_HA, "<2400": math.nan}
    for code, kdw in table.set_index("code")["kdw_mol_ha"].items():
        printed = details["printed"][code]["kdw_mol_ha_printed"]
        expected = rule[printed] if printed in rule else float(printed)
        assert (math.isnan(expected) and math.isnan(kdw)) or expected == kdw, code


def _codes_and_values_by_position(pdf_path: Path) -> dict[str, str]:
    """Codes and printed mol values read from word positions, not from the ruled table:
    a code is a word left-aligned with the header "Code"; its value is the word on the same
    line right-aligned with the mol column's header ("KDW" above "(mol /ha/j)")."""
    import pdfplumber

    found: dict[str, str] = {}
    with pdfplumber.open(pdf_path) as pdf:
        for page_no in load_kdw_provenance()["table"]["pdf_pages"]:
            words = pdf.pages[page_no - 1].extract_words()
            code_hdr = next(w for w in words if w["text"] == "Code")
            mol_hdr = next(w for w in words if w["text"] == "(mol")
            right = max(
                w["x1"] for w in words if w["text"] == "KDW" and abs(w["top"] - code_hdr["top"]) < 1
            )
            assert abs(mol_hdr["x1"] - right) < 2
            for w in words:
                if abs(w["x0"] - code_hdr["x0"]) > 1 or w["top"] <= code_hdr["top"] + 1:
                    continue
                if not re.fullmatch(r"H\d{2}[0-9A-Z]\d[A-Z]?[a-z]*|Lg\d{2}", w["text"]):
                    continue
                same_line = [
                    v for v in words if abs(v["top"] - w["top"]) < 1 and abs(v["x1"] - right) < 2
                ]
                assert len(same_line) == 1, (page_no, w["text"], same_line)
                assert w["text"] not in found, w["text"]
                found[w["text"]] = same_line[0]["text"]
    return found


@pytest.mark.real_data
def test_csv_equals_pdf_read_by_word_position(table: pd.DataFrame) -> None:
    pytest.importorskip("pdfplumber")
    found = _codes_and_values_by_position(_pdf())
    csv = table.set_index("code")["kdw_mol_ha"]
    assert set(found) == set(csv.index), (
        f"in the PDF only: {sorted(set(found) - set(csv.index))}; "
        f"in the CSV only: {sorted(set(csv.index) - set(found))}"
    )
    for code, printed in found.items():
        if printed == ">2400":
            assert csv[code] == NOT_SENSITIVE_FROM_MOL_HA, code
        elif printed == "<2400":
            assert np.isnan(csv[code]), code
        else:
            assert csv[code] == float(printed), (code, printed, csv[code])


# ------------------------------------------------ (3) agreement with the farm layer


def _aerius_code(name: str) -> str:
    """AERIUS's search areas carry ``ZG`` before the code (``ZGH3130``): same KDW."""
    return name[2:] if name.startswith("ZG") else name


@pytest.mark.real_data
def test_farm_layer_habitat_types_in_table(table: pd.DataFrame) -> None:
    if not FARMS.exists():
        pytest.skip(f"real farm layer not available here ({FARMS} is absent)")
    import pyogrio

    farms = pyogrio.read_dataframe(
        FARMS,
        columns=["habitat_type_id", "habitat_type_name", "critical_deposition"],
        read_geometry=False,
    )
    # habitat_type_id is AERIUS's numeric id; the code is in habitat_type_name.
    pairs = farms.drop_duplicates(["habitat_type_id", "habitat_type_name", "critical_deposition"])
    assert pairs["habitat_type_id"].is_unique  # one code and one KDW per AERIUS id
    codes = pairs["habitat_type_name"].map(_aerius_code)
    kdw = table.set_index("code")["kdw_mol_ha"]
    missing = sorted(set(codes) - set(kdw.index))
    assert not missing, f"farm-layer habitat types not in the WUR 3272 table: {missing}"
    disagree = pairs.assign(table_kdw=codes.map(kdw).to_numpy())
    disagree = disagree[disagree["critical_deposition"] != disagree["table_kdw"]]
    assert disagree.empty, "critical_deposition differs from the table:\n" + disagree.to_string()
    assert len(pairs) == 19  # 19 AERIUS habitat types (incl. search area ZGH3130) in 1141 rows
