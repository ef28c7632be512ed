"""CSV headers for people (issue 16, item 3): Dutch by default, English on request, the
identifiers with ``csv_headers = "machine"``, and every CSV read back by identifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from n2kzones.io.headers import (
    HEADER_LANGUAGES,
    check_headers,
    column_headers,
    header_for,
    header_patterns,
    identifier_of,
    to_machine,
    to_people,
)
from n2kzones.io.writers import CSV_FLAVOURS, read_table, write_csv

FRAME = pd.DataFrame(
    {
        "site_code": ["0071", "0072"],  # numeric-looking codes: read as text by identifier
        "name": ["Âlde Feanen", "Wieden; Weerribben"],
        "mean_deposition_mol_ha": [1234.5678, 0.00431],
        "ha_grasland": [12.345, 0.0],
        "animals_rundvee": [10, 0],
        "my_own_column": ["a", "b"],
    }
)


def test_the_header_table_is_a_clean_bijection_in_both_languages() -> None:
    assert check_headers() == []
    for lang in HEADER_LANGUAGES:
        heads = [header_for(c, lang) for c in column_headers()]
        assert len(set(heads)) == len(heads)
        assert all(identifier_of(h) == c for h, c in zip(heads, column_headers(), strict=True))


def test_headers_and_patterns_by_language() -> None:
    assert header_for("mean_deposition_mol_ha", "nl") == "gemiddelde depositie (mol N/ha/jaar)"
    assert header_for("mean_deposition_mol_ha", "en") == "mean deposition (mol N/ha/yr)"
    assert header_for("ha_grasland", "nl") == "grasland (ha)"
    assert header_for("animals_rundvee", "en") == "animals rundvee"
    assert header_for("my_own_column", "nl") == "my_own_column"  # no entry: the identifier
    assert identifier_of("dieren varkens") == "animals_varkens"
    assert identifier_of("mean_deposition_mol_ha") == "mean_deposition_mol_ha"
    assert set(header_patterns()) >= {"ha_", "animals_"}


@pytest.mark.parametrize("flavour", sorted(CSV_FLAVOURS))
@pytest.mark.parametrize("headers", [None, *HEADER_LANGUAGES])
def test_written_headers_and_read_back_by_identifier(flavour: str, headers: str | None, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", FRAME, flavour=flavour, headers=headers)
    raw = pd.read_csv(path, sep=CSV_FLAVOURS[flavour].sep, encoding=CSV_FLAVOURS[flavour].encoding, nrows=0)
    expected = list(FRAME.columns) if headers is None else [header_for(c, headers) for c in FRAME.columns]
    assert list(raw.columns) == expected
    back = read_table(path, dtype={"site_code": str})  # flavour from the file's byte-order mark
    assert list(back.columns) == list(FRAME.columns)
    assert list(back["name"]) == list(FRAME["name"])
    np.testing.assert_allclose(back["mean_deposition_mol_ha"], [1234.57, 0.00431])
    assert list(back["site_code"]) == ["0071", "0072"]


def test_to_people_and_back_is_the_identity_on_every_known_column() -> None:
    df = pd.DataFrame(columns=[*column_headers(), "ha_bouwland", "animals_kippen"])
    for lang in HEADER_LANGUAGES:
        people = to_people(df, lang)
        assert list(to_machine(people).columns) == list(df.columns)
