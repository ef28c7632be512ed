"""The report, the maps and the CSVs agree on the sample (issue 16, item 1), and the CSVs for
people are rounded, in the configured flavour (item 6)."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from n2kzones.effectiveness import OUTSIDE_NOISE_RTOL, effect_ratio
from n2kzones.io.writers import (
    CSV_FLAVOURS,
    csv_rounding,
    read_csv,
    read_table,
    round_for_people,
    write_csv,
)
from n2kzones.stages.catalogue import OUTPUTS, ZONE_WIDTH, OutputFolder


@pytest.fixture(scope="module")
def complete(sample_config, tmp_path_factory) -> Path:
    """The whole pipeline on the sample, in its own output folder."""
    from n2kzones.stages.run import run_all

    out = tmp_path_factory.mktemp("agree-out")
    cfg = sample_config.model_copy(
        update={"project": sample_config.project.model_copy(update={"output_dir": out})}
    )
    run_all(cfg)
    return out


def _report_tables(out: Path) -> list[pd.DataFrame]:
    """The report's tables, in the report's language (Dutch by default: decimal comma), with
    the headers for people turned back into the column identifiers (the CSVs' header table)."""
    from io import StringIO

    from n2kzones.io.headers import to_machine

    html = (out / OUTPUTS["report"].path / "index.html").read_text("utf-8")
    lang = re.search(r'<html lang="(\w+)">', html).group(1)
    sep = {"thousands": ".", "decimal": ","} if lang == "nl" else {"thousands": ","}
    return [to_machine(t) for t in pd.read_html(StringIO(html), **sep)]


# -- scenario totals ----------------------------------------------------------------------------
def test_report_scenario_totals_are_the_national_rows_of_scenarios_csv(complete: Path) -> None:
    sc = read_table(OutputFolder(complete).scenarios, dtype={"site_code": str})
    nat = sc.loc[sc["site_code"] == "ALL"].set_index("scenario")
    html = (complete / OUTPUTS["report"].path / "index.html").read_text("utf-8")
    from n2kzones.render.i18n import tr

    assert '<html lang="nl">' in html and tr("report.scenario_totals", "nl") in html
    tables = [
        t
        for t in _report_tables(complete)
        if {"scenario", "overloaded_ha_change"} <= set(t.columns)
    ]
    assert len(tables) == 1
    tot = tables[0].set_index("scenario")
    assert set(tot.index) == set(nat.index)
    for name, row in tot.iterrows():
        # the report shows 1 decimal
        assert row["overloaded_ha_change"] == pytest.approx(
            nat.loc[name, "overloaded_ha_change"], abs=0.051
        )
        assert row["nh3_reduced_kg"] == pytest.approx(nat.loc[name, "nh3_reduced_kg"], abs=0.051)
    # before the fix the report added ALL to the areas: about twice the national change
    areas = sc.loc[sc["site_code"] != "ALL"].groupby("scenario")["overloaded_ha_change"].sum()
    changed = nat["overloaded_ha_change"].abs() > 0.5
    assert changed.any()
    for name in nat.index[changed]:
        assert tot.loc[name, "overloaded_ha_change"] != pytest.approx(
            nat.loc[name, "overloaded_ha_change"] + areas[name], abs=0.051
        )


def test_scenario_totals_without_a_national_row_sum_the_areas() -> None:
    from n2kzones.render.report import scenario_totals

    sc = pd.DataFrame(
        {
            "scenario": ["a", "a", "a", "b", "b"],
            "site_code": ["X", "Y", "ALL", "X", "Y"],
            "overloaded_ha_change": [-1.0, -2.0, -2.5, -4.0, -1.0],
            "nh3_reduced_kg": [10.0, 20.0, 35.0, 1.0, 2.0],
        }
    )
    tot = scenario_totals(sc).set_index("scenario")
    assert tot.loc["a", "overloaded_ha_change"] == -2.5 and tot.loc["a", "nh3_reduced_kg"] == 35.0
    assert tot.loc["b", "overloaded_ha_change"] == -5.0 and tot.loc["b", "nh3_reduced_kg"] == 3.0


# -- zone width -----------------------------------------------------------------------------------
def test_zone_width_is_the_same_on_the_maps_in_the_report_and_in_the_zones_output(
    complete: Path,
) -> None:
    from n2kzones.render.maps import _area_zones, area_map_name

    folder = OutputFolder(complete)
    areas = gpd.read_parquet(folder.areas)
    by_area = gpd.read_parquet(folder.zones_by_area)
    proposal = read_table(folder.zone_proposal, dtype={"site_code": str}).set_index("site_code")
    report = [t for t in _report_tables(complete) if {"site_code", ZONE_WIDTH} <= set(t.columns)]
    assert len(report) == 1
    in_report = report[0].astype({"site_code": str}).set_index("site_code")[ZONE_WIDTH]
    data = {"areas": areas, "zones_by_area": by_area}
    differs = 0
    for code, width in zip(
        areas["site_code"].astype(str), areas[ZONE_WIDTH].astype(float), strict=True
    ):
        _, rings, on_map = _area_zones(data, code)
        assert on_map == width, code
        assert in_report[code] == width, code
        assert proposal.loc[code, ZONE_WIDTH] == width, code
        if len(rings):  # the rings drawn are built with that width
            assert set(rings["width_m"].astype(float)) == {width}, code
        page = (folder.maps / area_map_name(code)).read_text("utf-8")
        labels = {float(w) for w in re.findall(r"Zone \((\d+) m\)", page)}
        assert labels <= {width}, code
        differs += int(proposal.loc[code, "final_width_m"] != width)
    # the sample has areas whose proposal differs from the zone in force (the case of the issue)
    assert differs > 0


# -- zone effectiveness ---------------------------------------------------------------------------
def test_effect_ratio_is_nan_when_the_outside_effect_is_float_noise() -> None:
    frame = pd.DataFrame(
        {  # habitat-summed reduction (mol N/yr) and kg NH3/yr cut inside and outside
            "sum_in": [3.0, 3.0, 3.0, 3.0, 0.0, 3.0, 3.0],
            "sum_out": [1.0, 1e-17, 3.0 * OUTSIDE_NOISE_RTOL / 2, 3e-6, 0.0, 1.0, 1.0],
            "kg_in": [10.0, 10.0, 10.0, 10.0, 10.0, 0.0, 10.0],
            "kg_out": [20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 0.0],
            "expected": [6.0, np.nan, np.nan, 2e6, np.nan, np.nan, np.nan],
        }
    )
    got = [effect_ratio(r.sum_in, r.sum_out, r.kg_in, r.kg_out) for r in frame.itertuples()]
    np.testing.assert_allclose(got, frame["expected"], rtol=1e-12)
    assert 1e-12 < OUTSIDE_NOISE_RTOL < 1e-8


def test_effectiveness_csv_has_no_noise_ratio(complete: Path) -> None:
    eff = read_table(OutputFolder(complete).zone_effectiveness, dtype={"site_code": str})
    ratio = eff["ratio_inside_outside"].dropna()
    assert (ratio > 0).all() and (ratio < 1e6).all()


# -- CSVs for people ------------------------------------------------------------------------------
def test_rounding_rules_per_column_kind() -> None:
    assert csv_rounding("sensitive_ha") == ("dp", 2)
    assert csv_rounding("overloaded_ha_change") == ("dp", 2)
    assert csv_rounding("mean_deposition_mol_ha") == ("dpsig", 2)
    assert csv_rounding("pct_overloaded") == ("dp", 1)
    assert csv_rounding("share_from_zone_pct") == ("dp", 1)
    assert csv_rounding("emission_kg_nh3") == ("dp", 1)
    assert csv_rounding("ratio_inside_outside") == ("sig", 3)
    assert csv_rounding("per_kg_inside_sum_mol") == ("sig", 3)
    assert csv_rounding("threshold_mol_ha") == ("sig", 6)
    df = pd.DataFrame(
        {
            "pct_overloaded": [100.00000000000001],
            "ratio_inside_outside": [4.338264],
            "x": [1 / 3],
            "n": [3],
        }
    )
    r = round_for_people(df)
    assert r.loc[0, "pct_overloaded"] == 100.0
    assert r.loc[0, "ratio_inside_outside"] == 4.34
    assert r.loc[0, "x"] == 0.333333
    dep = round_for_people(pd.DataFrame({"mean_sum_mol_ha": [0.004299, 1.560087, 25.821475]}))
    assert list(dep["mean_sum_mol_ha"]) == [0.0043, 1.56, 25.82]
    assert r["n"].dtype == df["n"].dtype


def test_every_csv_of_the_sample_is_rounded(complete: Path) -> None:
    long_float = re.compile(r"\d\.\d{7,}")
    csvs = sorted(complete.glob("*.csv"))
    assert len(csvs) >= 8
    for path in csvs:
        text = path.read_text("utf-8")
        assert not text.startswith("\ufeff"), path.name  # plain: no BOM
        assert not long_float.search(text), (path.name, long_float.search(text))


@pytest.mark.parametrize("flavour", sorted(CSV_FLAVOURS))
def test_csv_flavour_bytes_and_round_trip(flavour: str, tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "site_code": ["NL2000001", "NL2000002"],
            "name": ["Âlde Feanen", "Wieden; Weerribben"],
            "sensitive_ha": [1234.5678, 0.004],
            "pct_overloaded": [99.96, 100.00000000000001],
            "farms": [3, 4],
        }
    )
    path = write_csv(tmp_path / "t.csv", df, flavour=flavour)
    raw = path.read_bytes()
    if flavour == "excel_nl":
        assert raw.startswith(b"\xef\xbb\xbf")
        header = raw[3:].split(b"\r\n" if b"\r\n" in raw else b"\n")[0]
        assert header == b"site_code;name;sensitive_ha;pct_overloaded;farms"
        assert b"1234,57" in raw and b"100,0" in raw
        assert "Âlde Feanen".encode() in raw
    else:
        assert not raw.startswith(b"\xef\xbb\xbf")
        assert raw.split(b"\n")[0] == b"site_code,name,sensitive_ha,pct_overloaded,farms"
        assert b"1234.57" in raw
    back = read_csv(path, flavour)
    assert list(back["name"]) == list(df["name"])
    np.testing.assert_allclose(back["sensitive_ha"], [1234.57, 0.0])
    np.testing.assert_allclose(back["pct_overloaded"], [100.0, 100.0])
    assert list(back["farms"]) == [3, 4]


def test_whole_pipeline_in_the_excel_flavour(sample_config, tmp_path_factory) -> None:
    """``csv_flavour = "excel_nl"``: every CSV is ;-separated with decimal commas and a BOM,
    and the maps and the report (which read CSVs) still agree with them."""
    from n2kzones.stages.run import run_all

    out = tmp_path_factory.mktemp("excel-out")
    project = sample_config.project.model_copy(
        update={"output_dir": out, "csv_flavour": "excel_nl"}
    )
    cfg = sample_config.model_copy(update={"project": project})
    run_all(cfg)
    csvs = sorted(out.glob("*.csv"))
    assert len(csvs) >= 8
    for path in csvs:
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), path.name
        assert b";" in raw.split(b"\n", 1)[0] and b"," not in raw.split(b"\n", 1)[0], path.name
    sc = read_csv(OutputFolder(out).scenarios, "excel_nl", dtype={"site_code": str})
    assert sc["overloaded_ha_change"].dtype.kind == "f"  # decimal commas read back as numbers
    nat = sc.loc[sc["site_code"] == "ALL"].set_index("scenario")
    tables = [
        t for t in _report_tables(out) if {"scenario", "overloaded_ha_change"} <= set(t.columns)
    ]
    tot = tables[0].set_index("scenario")
    for name, row in tot.iterrows():
        assert row["overloaded_ha_change"] == pytest.approx(
            nat.loc[name, "overloaded_ha_change"], abs=0.051
        )
    assert (OutputFolder(out).maps / "index.html").exists()


# -- headers for people --------------------------------------------------------------------------
def test_every_csv_has_dutch_headers_that_read_back(complete: Path) -> None:
    """Every CSV of the run carries Dutch headers by default (farm sheets: test_report_pages), each in the
    header table, and :func:`read_table` turns them back into the identifiers."""
    from n2kzones.io.headers import column_headers, header_for, header_patterns, identifier_of

    csvs = sorted(complete.rglob("*.csv"))
    assert len(csvs) >= 9
    for path in csvs:
        header = list(pd.read_csv(path, nrows=0).columns)
        ids = [identifier_of(h) for h in header]
        unknown = [
            i for i in ids if i not in column_headers() and not any(i.startswith(p) for p in header_patterns())
        ]
        assert not unknown, (path.name, unknown)
        assert header == [header_for(i, "nl") for i in ids], path.name
        assert header != ids, path.name
        assert list(read_table(path).columns) == ids


# -- the same content as recorded (issue 18: optimisations change speed, not outputs) ------------
DIGEST = Path(__file__).parent / "data" / "sample_outputs_digest.json"


def test_outputs_have_the_recorded_content(complete: Path, tmp_path: Path) -> None:
    """Every CSV (byte for byte), GeoTIFF (pixel for pixel) and GeoPackage layer (row for row)
    of a whole sample run has the content recorded in ``tests/data/sample_outputs_digest.json``
    (recorded before the performance work of issue 18, with ``tools/output_digest.py``)."""
    import json

    from n2kzones.io.digest import output_digest

    recorded = json.loads(DIGEST.read_text())
    got = output_digest(complete)
    (tmp_path / "digest.json").write_text(json.dumps(got, indent=1, sort_keys=True))
    assert len(recorded) > 20 and any(k.endswith(".tif") for k in recorded) and any(":" in k for k in recorded)
    missing, extra = sorted(set(recorded) - set(got)), sorted(set(got) - set(recorded))
    changed = sorted(k for k in set(recorded) & set(got) if recorded[k] != got[k])
    assert not (missing or extra or changed), (
        f"outputs differ from the recorded content: changed {changed}, missing {missing}, new {extra}. "
        f"If the change is intended, record it: copy {tmp_path / 'digest.json'} to {DIGEST} and say why in the commit"
    )
